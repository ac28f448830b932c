package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestPingHealthAndRouting(t *testing.T) {
	cases := []struct {
		name     string
		rq       req
		code     int
		body     string
		allow    string
		jsonType bool
	}{
		{"ping", req{method: "GET", url: "/ping"}, 204, "", "", true},
		{"ping head", req{method: "HEAD", url: "/ping"}, 204, "", "", true},
		{"ping verbose", req{method: "GET", url: "/ping?verbose=true"}, 200, `{"version":"1.8.10"}`, "", true},
		{"ping verbose false", req{method: "GET", url: "/ping?verbose=false"}, 204, "", "", true},
		{"health", req{method: "GET", url: "/health"}, 200, `{"checks":[],"message":"ready for queries and writes","name":"influxdb","status":"pass","version":"1.8.10"}`, "", true},
		{"options write", req{method: "OPTIONS", url: "/write"}, 204, "", "", true},
		{"options query", req{method: "OPTIONS", url: "/query"}, 204, "", "", true},
		{"get write", req{method: "GET", url: "/write?db=db"}, 405, "Method Not Allowed\n", "POST, OPTIONS", false},
		{"post ping", req{method: "POST", url: "/ping"}, 405, "Method Not Allowed\n", "GET, HEAD", false},
		{"delete query", req{method: "DELETE", url: "/query"}, 405, "Method Not Allowed\n", "GET, POST, OPTIONS", false},
		{"unknown", req{method: "GET", url: "/nope"}, 404, "404 page not found\n", "", false},
	}
	h := newTestHandler(newFakeStore("db"), 0)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, tc.rq)
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Fatalf("got %d %q, want %d %q", w.Code, w.Body, tc.code, tc.body)
			}
			checkCommon(t, w, "")
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if ct := w.Header().Get("Content-Type"); tc.jsonType && ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	h := newTestHandler(newFakeStore(), 0)
	w := do(h, req{method: "GET", url: "/ping", header: map[string]string{"X-Request-Id": "abc"}})
	if w.Header().Get("Request-Id") != "abc" || w.Header().Get("X-Request-Id") != "abc" {
		t.Fatalf("headers %v", w.Header())
	}
	w = do(h, req{method: "GET", url: "/ping", header: map[string]string{"Request-Id": "def"}})
	if w.Header().Get("X-Request-Id") != "def" {
		t.Fatalf("headers %v", w.Header())
	}
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if seen[id] || !uuidRE.MatchString(id) {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestCORS(t *testing.T) {
	h := newTestHandler(newFakeStore(), 0)
	w := do(h, req{method: "OPTIONS", url: "/query", header: map[string]string{"Origin": "http://grafana:3000"}})
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "http://grafana:3000" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
}

func TestErrorHeaderIsTruncatedAndSafe(t *testing.T) {
	h := newTestHandler(newFakeStore("db"), 0)
	long := strings.Repeat("x", 2000)
	w := do(h, req{method: "POST", url: "/write?db=db", body: []byte(long + "\x01")})
	if w.Code != 400 {
		t.Fatalf("status %d", w.Code)
	}
	if e := w.Header().Get("X-InfluxDB-Error"); len(e) != 1024 || !strings.HasPrefix(e, "unable to parse 'xxx") {
		t.Fatalf("header %d bytes: %.40q", len(e), e)
	}
	var resp struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || !strings.Contains(resp.Error, long) {
		t.Fatalf("body %.80s (%v)", w.Body, err)
	}
}

func TestDebugVarsAndMetrics(t *testing.T) {
	h := newTestHandler(newFakeStore("db"), 0)
	do(h, req{method: "POST", url: "/write?db=db", body: []byte("cpu a=1,b=2 1\ncpu a=1 2\n")})
	do(h, req{method: "POST", url: "/write?db=db", body: []byte("bad")})
	do(h, req{method: "GET", url: "/query?q=SHOW+DATABASES"})

	w := do(h, req{method: "GET", url: "/debug/vars"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &vars); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	for _, k := range []string{"system", "cmdline", "memstats", "httpd::8086"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	var httpd struct {
		Name   string
		Tags   map[string]string
		Values map[string]int64
	}
	if err := json.Unmarshal(vars["httpd::8086"], &httpd); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"writeReq": 2, "pointsWrittenOK": 2, "valuesWrittenOK": 3, "queryReq": 1, "clientError": 1, "writeReqBytes": 27}
	for k, v := range want {
		if httpd.Values[k] != v {
			t.Errorf("%s = %d, want %d", k, httpd.Values[k], v)
		}
	}
	if httpd.Name != "httpd" || httpd.Tags["bind"] != ":8086" {
		t.Errorf("httpd %+v", httpd)
	}

	w = do(h, req{method: "GET", url: "/metrics"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "herd_points_written_total 2\n") {
		t.Fatalf("metrics %d %s", w.Code, w.Body)
	}
}

// FuzzWriteHandler feeds arbitrary bodies, plain and gzipped, with
// arbitrary precision and bucket parameters to the write endpoints: bad
// input must get a 2xx/4xx answer, never a 5xx or a panic.
func FuzzWriteHandler(f *testing.F) {
	seeds := []string{
		"cpu,host=a usage_idle=99.5,usage_user=0.5 1690000000000000000\n",
		"cpu v=1\ncpu\nmem free=1i 1",
		`weather,location=us\ midwest temperature=82,desc="sunny \"day\"" 1465839830100400200`,
		"m,t=1 f=1u,g=t,h=\"x\ny\" -1\r\n# comment\n",
		"m f=1e400", "m f=NaN", "\x00\xff", "",
		"m,a=1,a=2 f=1", "m f=1 99999999999999999999",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false, "", "db")
		f.Add([]byte(s), true, "s", "db/autogen")
	}
	h := New(Options{Store: nopStore{}, MaxBodySize: 1 << 16, Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, body []byte, gzipped bool, precision, bucket string) {
		for _, v2 := range []bool{false, true} {
			rq := req{method: "POST", body: body}
			if v2 {
				rq.url = "/api/v2/write?bucket=" + urlEscape(bucket) + "&precision=" + urlEscape(precision)
			} else {
				rq.url = "/write?db=" + urlEscape(bucket) + "&precision=" + urlEscape(precision)
			}
			if gzipped {
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				zw.Write(body)
				zw.Close()
				rq.body = b.Bytes()
				rq.header = map[string]string{"Content-Encoding": "gzip"}
			}
			w := do(h, rq)
			if w.Code >= 500 || w.Code < 200 {
				t.Fatalf("%s: status %d: %s", rq.url, w.Code, w.Body)
			}
			if w.Code != http.StatusNoContent && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("status %d with invalid JSON %q", w.Code, w.Body)
			}
		}
	})
}

// FuzzQueryHandler sends arbitrary query text and parameters: the
// answer is always well-formed JSON with a 200 or 400 status.
func FuzzQueryHandler(f *testing.F) {
	for _, q := range []string{
		"SHOW DATABASES", `CREATE DATABASE "x" WITH DURATION 1h`, "SELECT * FROM cpu",
		"SHOW RETENTION POLICIES ON x; DROP DATABASE x", "ALTER RETENTION POLICY a ON b SHARD DURATION 0s",
		"CREATE RETENTION POLICY r ON db DURATION INF REPLICATION 1 DEFAULT", "", ";;", "SELECT $x",
	} {
		f.Add(q, `{"x":1}`, "ms", false)
	}
	h := New(Options{Store: newFakeStore("db"), Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, q, params, epoch string, chunked bool) {
		u := "/query?q=" + urlEscape(q) + "&params=" + urlEscape(params) + "&epoch=" + urlEscape(epoch) + "&db=db&chunked=" + strconv.FormatBool(chunked)
		w := do(h, req{method: "POST", url: u})
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		// A query of no statements streams nothing when chunked, as in
		// InfluxDB; every line there is must be JSON.
		for _, line := range bytes.Split(bytes.TrimSpace(w.Body.Bytes()), []byte("\n")) {
			if len(line) > 0 && !json.Valid(line) {
				t.Fatalf("invalid JSON %q", w.Body)
			}
		}
	})
}
