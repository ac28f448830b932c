package httpapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"mime/multipart"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"
)

func postQuery(h *Handler, q string, extra string) (int, string) {
	form := url.Values{"q": {q}}
	w := do(h, req{method: "POST", url: "/query?" + extra, body: []byte(form.Encode()),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	return w.Code, w.Body.String()
}

func getQuery(h *Handler, q string, extra string) (int, string) {
	w := do(h, req{method: "GET", url: "/query?q=" + url.QueryEscape(q) + "&" + extra})
	return w.Code, w.Body.String()
}

// TestQueryMeta runs statement sequences against one handler and checks
// each reply byte for byte.
func TestQueryMeta(t *testing.T) {
	type step struct {
		get  bool
		q    string
		args string
		code int
		want string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"telegraf bootstrap", []step{
			{q: `CREATE DATABASE "telegraf"`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `CREATE DATABASE "telegraf"`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["telegraf"]]}]}]}`},
			{q: `SHOW RETENTION POLICIES ON telegraf`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true]]}]}]}`},
			{q: `SHOW RETENTION POLICIES`, args: "db=telegraf", code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true]]}]}]}`},
		}},
		{"empty server", []step{
			{q: `SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"]}]}]}`},
			{q: `SHOW RETENTION POLICIES`, code: 200, want: `{"results":[{"statement_id":0,"error":"database name required"}]}`},
			{q: `SHOW RETENTION POLICIES ON nope`, code: 200, want: `{"results":[{"statement_id":0,"error":"database not found: nope"}]}`},
			{q: `CREATE DATABASE "a/b"`, code: 200, want: `{"results":[{"statement_id":0,"error":"invalid name"}]}`},
		}},
		{"GET write statement warns", []step{
			{get: true, q: `CREATE DATABASE tsbs WITH REPLICATION 1`, code: 200, want: `{"results":[{"statement_id":0,"messages":[{"level":"warning","text":"deprecated use of 'CREATE DATABASE tsbs WITH REPLICATION 1' in a read only context, please use a POST request instead"}]}]}`},
			{get: true, q: `SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["tsbs"]]}]}]}`},
		}},
		{"retention policies", []step{
			{q: `CREATE DATABASE db`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `CREATE RETENTION POLICY short ON db DURATION 30m REPLICATION 1`, code: 200, want: `{"results":[{"statement_id":0,"error":"retention policy duration must be at least 1h0m0s"}]}`},
			{q: `CREATE RETENTION POLICY one_day ON db DURATION 1d REPLICATION 1`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `CREATE RETENTION POLICY year ON db DURATION 52w REPLICATION 1 SHARD DURATION 30d DEFAULT`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `CREATE RETENTION POLICY one_day ON nope DURATION 1d REPLICATION 1`, code: 200, want: `{"results":[{"statement_id":0,"error":"database not found: nope"}]}`},
			{q: `SHOW RETENTION POLICIES ON db`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,false],["one_day","24h0m0s","1h0m0s",1,false],["year","8736h0m0s","720h0m0s",1,true]]}]}]}`},
			{q: `ALTER RETENTION POLICY one_day ON db DURATION 3d SHARD DURATION 0s DEFAULT`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `ALTER RETENTION POLICY year ON db SHARD DURATION 1m`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `ALTER RETENTION POLICY nope ON db DURATION 3d`, code: 200, want: `{"results":[{"statement_id":0,"error":"retention policy not found: nope"}]}`},
			{q: `DROP RETENTION POLICY autogen ON db`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `SHOW RETENTION POLICIES ON db`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["one_day","72h0m0s","24h0m0s",1,true],["year","8736h0m0s","1h0m0s",1,false]]}]}]}`},
			{q: `DROP DATABASE db; SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"databases","columns":["name"]}]}]}`},
		}},
		{"create database with policy", []step{
			{q: `CREATE DATABASE x WITH DURATION 3d NAME short`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `SHOW RETENTION POLICIES ON x`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["short","72h0m0s","24h0m0s",1,true]]}]}]}`},
			{q: `CREATE DATABASE x WITH DURATION 3d NAME short`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `CREATE DATABASE x WITH DURATION 4d NAME short`, code: 200, want: `{"results":[{"statement_id":0,"error":"retention policy conflicts with an existing policy"}]}`},
			{q: `CREATE DATABASE y WITH DURATION 200d REPLICATION 1 SHARD DURATION 2h`, code: 200, want: `{"results":[{"statement_id":0}]}`},
			{q: `SHOW RETENTION POLICIES ON y`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","4800h0m0s","2h0m0s",1,true]]}]}]}`},
			{q: `CREATE DATABASE z WITH DURATION 10m`, code: 200, want: `{"results":[{"statement_id":0,"error":"retention policy duration must be at least 1h0m0s"}]}`},
			{q: `SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["x"],["y"]]}]}]}`},
		}},
		{"errors", []step{
			{q: `SELECT mean(v) FROM cpu`, code: 200, want: `{"results":[{"statement_id":0,"error":"statement not supported yet: SELECT"}]}`},
			{q: `SHOW TAG VALUES WITH KEY = "host"`, code: 200, want: `{"results":[{"statement_id":0,"error":"statement not supported yet: SHOW TAG VALUES"}]}`},
			{q: `SHOW DATABASES; SELECT v FROM cpu; SHOW DATABASES`, code: 200, want: `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"]}]},{"statement_id":1,"error":"statement not supported yet: SELECT"},{"statement_id":2,"error":"not executed"}]}`},
			{q: `SELEKT 1`, code: 400, want: `{"error":"error parsing query: found SELEKT, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"}`},
			{q: `CREATE DATABASE`, code: 400, want: `{"error":"error parsing query: found EOF, expected identifier at line 1, char 17"}`},
			{q: ``, code: 400, want: `{"error":"missing required parameter \"q\""}`},
			{q: `SELECT * FROM cpu WHERE host = $host`, args: `params=` + url.QueryEscape(`{"host":`), code: 400, want: `{"error":"error parsing query parameters: unexpected EOF"}`},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(newFakeStore(), 0)
			for _, s := range tc.steps {
				var code int
				var body string
				if s.get {
					code, body = getQuery(h, s.q, s.args)
				} else {
					code, body = postQuery(h, s.q, s.args)
				}
				if code != s.code || body != s.want+"\n" {
					t.Fatalf("%s\n got %d %s\nwant %d %s", s.q, code, body, s.code, s.want)
				}
			}
		})
	}
}

func TestQueryHeadersAndErrors(t *testing.T) {
	h := newTestHandler(newFakeStore(), 0)
	w := do(h, req{method: "POST", url: "/query"})
	if w.Code != 400 {
		t.Fatalf("status %d", w.Code)
	}
	checkCommon(t, w, `missing required parameter "q"`)

	w = do(h, req{method: "GET", url: "/query?q=SHOW+DATABASES"})
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	checkCommon(t, w, "")
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestQueryMultipartAndURLParams(t *testing.T) {
	h := newTestHandler(newFakeStore("a"), 0)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("q", "query.iql")
	fw.Write([]byte("SHOW DATABASES"))
	mw.Close()
	w := do(h, req{method: "POST", url: "/query", body: b.Bytes(), header: map[string]string{"Content-Type": mw.FormDataContentType()}})
	if want := `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["a"]]}]}]}` + "\n"; w.Code != 200 || w.Body.String() != want {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	// The influx shell puts q, db and epoch in the URL of a POST without a body.
	w = do(h, req{method: "POST", url: "/query?q=SHOW+RETENTION+POLICIES&db=a&epoch=ns"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"autogen"`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func TestQueryPrettyAndChunked(t *testing.T) {
	h := newTestHandler(newFakeStore("a"), 0)
	_, body := getQuery(h, "SHOW DATABASES", "pretty=true")
	want := `{
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "databases",
                    "columns": [
                        "name"
                    ],
                    "values": [
                        [
                            "a"
                        ]
                    ]
                }
            ]
        }
    ]
}
`
	if body != want {
		t.Fatalf("pretty:\n%s", body)
	}
	_, body = getQuery(h, "SHOW DATABASES; SHOW RETENTION POLICIES ON a", "chunked=true&chunk_size=1")
	want = `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["a"]]}]}]}` + "\n" +
		`{"results":[{"statement_id":1,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["autogen","0s","168h0m0s",1,true]]}]}]}` + "\n"
	if body != want {
		t.Fatalf("chunked:\n%s", body)
	}
}

// timeExecutor stands in for the InfluxQL engine: it streams two chunks
// of one series with time values, to test epoch conversion and merging.
type timeExecutor struct{}

func (timeExecutor) ExecuteStatement(ectx *ExecutionContext, stmt influxql.Statement) error {
	t0 := time.Date(2023, 7, 22, 4, 26, 40, 500_000_000, time.UTC)
	row := func(ts time.Time, v float64, partial bool) *Row {
		return &Row{Name: "cpu", Tags: map[string]string{"host": "a"}, Columns: []string{"time", "mean"}, Values: [][]any{{ts, v}}, Partial: partial}
	}
	if err := ectx.Send(&Result{Series: []*Row{row(t0, 12.5, true)}, Partial: true}); err != nil {
		return err
	}
	return ectx.Send(&Result{Series: []*Row{row(t0.Add(time.Second), 13, false)}})
}

func TestQueryEpochAndMerge(t *testing.T) {
	h := New(Options{Store: newFakeStore(), Executor: &MetaExecutor{Store: newFakeStore(), Next: timeExecutor{}}})
	cases := []struct{ args, want string }{
		{"", `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[["2023-07-22T04:26:40.5Z",12.5],["2023-07-22T04:26:41.5Z",13]]}]}]}`},
		{"epoch=ms", `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1690000000500,12.5],[1690000001500,13]]}]}]}`},
		{"epoch=s", `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1690000000,12.5],[1690000001,13]]}]}]}`},
		{"epoch=ns&chunked=true", `{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1690000000500000000,12.5]],"partial":true}],"partial":true}]}` + "\n" +
			`{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1690000001500000000,13]]}]}]}`},
	}
	for _, tc := range cases {
		_, body := getQuery(h, "SELECT mean(v) FROM cpu", tc.args)
		if body != tc.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tc.args, body, tc.want)
		}
	}
}

func TestStatementName(t *testing.T) {
	cases := map[string]string{
		"SELECT * FROM cpu":               "SELECT",
		"SHOW MEASUREMENTS":               "SHOW MEASUREMENTS",
		"SHOW FIELD KEYS":                 "SHOW FIELD KEYS",
		"SHOW TAG KEYS FROM cpu":          "SHOW TAG KEYS",
		"DELETE FROM cpu":                 "DELETE SERIES",
		"DROP MEASUREMENT cpu":            "DROP MEASUREMENT",
		"CREATE USER u WITH PASSWORD 'p'": "CREATE USER",
		"SHOW SERIES CARDINALITY ON db":   "SHOW SERIES CARDINALITY",
		"KILL QUERY 1":                    "KILL QUERY",
		"SHOW CONTINUOUS QUERIES":         "SHOW CONTINUOUS QUERIES",
	}
	for q, want := range cases {
		stmt, err := influxql.ParseStatement(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := StatementName(stmt); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
}

func TestQueryCSV(t *testing.T) {
	h := New(Options{Store: newFakeStore("a", "b"), Executor: &MetaExecutor{Store: newFakeStore("a", "b"), Next: timeExecutor{}}, Logger: discardLogger()})
	cases := []struct {
		name, url, accept, ctype string
		code                     int
		want                     string
	}{
		{"show databases", "/query?q=SHOW+DATABASES", "application/csv", "application/csv", 200,
			"name,tags,name\ndatabases,,a\ndatabases,,b\n"},
		{"text/csv and two statements", "/query?q=SHOW+DATABASES%3BSHOW+RETENTION+POLICIES+ON+a", "text/csv", "text/csv", 200,
			"name,tags,name\ndatabases,,a\ndatabases,,b\n\nname,tags,name,duration,shardGroupDuration,replicaN,default\n,,autogen,0s,168h0m0s,1,true\n"},
		{"times and tags", "/query?q=SELECT+v+FROM+cpu", "application/csv", "application/csv", 200,
			"name,tags,time,mean\ncpu,host=a,1690000000500000000,12.5\ncpu,host=a,1690000001500000000,13\n"},
		{"epoch", "/query?q=SELECT+v+FROM+cpu&epoch=s&chunked=true", "application/csv", "application/csv", 200,
			"name,tags,time,mean\ncpu,host=a,1690000000,12.5\ncpu,host=a,1690000001,13\n"},
		{"error", "/query", "application/csv", "application/csv", 400,
			"error\n\"missing required parameter \"\"q\"\"\"\n"},
		{"prefers json by q", "/query?q=SHOW+DATABASES", "text/csv;q=0.5, application/json", "application/json", 200,
			`{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["a"],["b"]]}]}]}` + "\n"},
		{"msgpack falls back to json", "/query?q=SHOW+DATABASES", "application/x-msgpack", "application/json", 200,
			`{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["a"],["b"]]}]}]}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, req{method: "GET", url: tc.url, header: map[string]string{"Accept": tc.accept}})
			if w.Code != tc.code || w.Body.String() != tc.want || w.Header().Get("Content-Type") != tc.ctype {
				t.Fatalf("got %d %q %q\nwant %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body, tc.code, tc.ctype, tc.want)
			}
		})
	}
}

func TestCSVTagsEscaped(t *testing.T) {
	if got := csvTags(map[string]string{"z": "1", "a b": "x,y=z"}); got != `a\ b=x\,y\=z,z=1` {
		t.Fatalf("got %q", got)
	}
}

func TestQueryGzipResponse(t *testing.T) {
	h := newTestHandler(newFakeStore("a"), 0)
	for _, args := range []string{"", "&chunked=true"} {
		w := do(h, req{method: "GET", url: "/query?q=SHOW+DATABASES" + args, header: map[string]string{"Accept-Encoding": "gzip"}})
		if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("got %d %v", w.Code, w.Header())
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if want := `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["a"]]}]}]}` + "\n"; err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", args, b, err)
		}
	}
	// Errors are compressed too, as InfluxDB's filter wraps the whole route.
	w := do(h, req{method: "GET", url: "/query", header: map[string]string{"Accept-Encoding": "gzip"}})
	zr, _ := gzip.NewReader(w.Body)
	b, _ := io.ReadAll(zr)
	if w.Code != 400 || string(b) != `{"error":"missing required parameter \"q\""}`+"\n" {
		t.Fatalf("got %d %q", w.Code, b)
	}
}

// TestQueryNoStatements: text that parses to no statement gets "{}" as
// InfluxDB's empty Response (results is omitempty), and nothing when
// chunked.
func TestQueryNoStatements(t *testing.T) {
	h := newTestHandler(newFakeStore(), 0)
	if code, body := getQuery(h, "\x00", ""); code != 200 || body != "{}\n" {
		t.Fatalf("got %d %q", code, body)
	}
	if code, body := getQuery(h, "\x00", "chunked=true"); code != 200 || body != "" {
		t.Fatalf("chunked: got %d %q", code, body)
	}
}
