package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/buildinfo"
	"github.com/herdmon/herd/internal/models"
)

// fixedNow is the server clock in tests.
var fixedNow = time.Date(2026, 11, 27, 7, 0, 0, 123456789, time.UTC)

func newTestHandler(s Store, maxBody int64) *Handler {
	return New(Options{Store: s, MaxBodySize: maxBody, BindAddr: ":8086", Now: func() time.Time { return fixedNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func truncate(b []byte, n int) []byte { return b[:len(b)-n] }

type req struct {
	method, url string
	body        []byte
	header      map[string]string
	noLength    bool // send without Content-Length (chunked transfer)
}

func do(h http.Handler, rq req) *httptest.ResponseRecorder {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
		if rq.noLength {
			body = io.MultiReader(body) // hides the length from NewRequest
		}
	}
	r := httptest.NewRequest(rq.method, rq.url, body)
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// checkCommon asserts the headers InfluxDB puts on every response, and
// the error header and body of an error.
func checkCommon(t *testing.T, w *httptest.ResponseRecorder, wantErr string) {
	t.Helper()
	hdr := w.Header()
	if got := hdr.Get("X-Influxdb-Version"); got != buildinfo.InfluxDBVersion {
		t.Errorf("X-Influxdb-Version = %q", got)
	}
	if got := hdr.Get("X-Influxdb-Build"); got != "OSS" {
		t.Errorf("X-Influxdb-Build = %q", got)
	}
	if rid := hdr.Get("Request-Id"); !uuidRE.MatchString(rid) || hdr.Get("X-Request-Id") != rid {
		t.Errorf("Request-Id %q, X-Request-Id %q", rid, hdr.Get("X-Request-Id"))
	}
	if wantErr == "" {
		if e := hdr.Get("X-InfluxDB-Error"); e != "" {
			t.Errorf("unexpected X-InfluxDB-Error %q", e)
		}
		return
	}
	if got := hdr.Get("X-InfluxDB-Error"); got != headerSafe(wantErr) {
		t.Errorf("X-InfluxDB-Error = %q, want %q", got, wantErr)
	}
	if got := hdr.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	want := mustJSON(Response{Err: errors.New(wantErr)}) + "\n"
	if got := w.Body.String(); got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func mustJSON(v any) string {
	var b bytes.Buffer
	appendResponse(&b, v.(Response), false)
	return strings.TrimSuffix(b.String(), "\n")
}

func TestWriteStatusCodes(t *testing.T) {
	partialStore := newFakeStore("db")
	partialStore.writeErr = &models.PartialWriteError{
		Reason:  models.FieldTypeConflictReason("f", "m", models.Integer, models.Float),
		Dropped: 1,
	}
	brokenStore := newFakeStore("db")
	brokenStore.writeErr = errors.New("disk full")

	cases := []struct {
		name    string
		store   *fakeStore
		rq      req
		code    int
		err     string
		written int
	}{
		{"ok", nil, req{method: "POST", url: "/write?db=db", body: []byte("cpu,host=a v=1 1\ncpu,host=b v=2 2\n")}, 204, "", 2},
		{"ok consistency", nil, req{method: "POST", url: "/write?db=db&consistency=ALL", body: []byte("cpu v=1 1")}, 204, "", 1},
		{"no db", nil, req{method: "POST", url: "/write", body: []byte("cpu v=1")}, 400, "database is required", 0},
		{"bad precision", nil, req{method: "POST", url: "/write?db=db&precision=x", body: []byte("cpu v=1")}, 400, `invalid precision "x" (use n, u, ms, s, m or h)`, 0},
		{"missing db", nil, req{method: "POST", url: "/write?db=nope", body: []byte("cpu v=1")}, 404, `database not found: "nope"`, 0},
		{"missing db empty body", nil, req{method: "POST", url: "/write?db=nope"}, 404, `database not found: "nope"`, 0},
		{"missing db bad body", nil, req{method: "POST", url: "/write?db=nope", body: []byte("cpu")}, 404, `database not found: "nope"`, 0},
		{"empty body", nil, req{method: "POST", url: "/write?db=db"}, 204, "", 0},
		{"only comments", nil, req{method: "POST", url: "/write?db=db", body: []byte("# nothing\n\n")}, 204, "", 0},
		{"all bad", nil, req{method: "POST", url: "/write?db=db", body: []byte("cpu\n")}, 400, "unable to parse 'cpu': missing fields", 0},
		{"partial parse", nil, req{method: "POST", url: "/write?db=db", body: []byte("cpu v=1 1\ncpu\nmem v=2 2\n")}, 400, "partial write: unable to parse 'cpu': missing fields dropped=0", 2},
		{"bad consistency", nil, req{method: "POST", url: "/write?db=db&consistency=most", body: []byte("cpu v=1")}, 400, "invalid consistency level", 0},
		{"store partial", partialStore, req{method: "POST", url: "/write?db=db", body: []byte("m f=1i 1\nm g=1 1")}, 400, `partial write: field type conflict: input field "f" on measurement "m" is type integer, already exists as type float dropped=1`, 2},
		{"store failure", brokenStore, req{method: "POST", url: "/write?db=db", body: []byte("cpu v=1")}, 500, "disk full", 1},
		{"unknown rp", nil, req{method: "POST", url: "/write?db=db&rp=nope", body: []byte("cpu v=1")}, 500, "retention policy not found: nope", 0},
		{"gzip", nil, req{method: "POST", url: "/write?db=db", body: gz(t, "cpu v=1 1\n"), header: map[string]string{"Content-Encoding": "gzip"}}, 204, "", 1},
		{"gzip bad", nil, req{method: "POST", url: "/write?db=db", body: []byte("not gzip at all"), header: map[string]string{"Content-Encoding": "gzip"}}, 400, "gzip: invalid header", 0},
		{"gzip truncated", nil, req{method: "POST", url: "/write?db=db", body: truncate(gz(t, "cpu v=1 1\ncpu v=2 2\n"), 6), header: map[string]string{"Content-Encoding": "gzip"}}, 400, "unexpected EOF", 0},
		{"too large by length", nil, req{method: "POST", url: "/write?db=db", body: bytes.Repeat([]byte("cpu v=1 1\n"), 20)}, 413, "Request Entity Too Large", 0},
		{"too large streamed", nil, req{method: "POST", url: "/write?db=db", body: bytes.Repeat([]byte("cpu v=1 1\n"), 20), noLength: true}, 413, "Request Entity Too Large", 0},
		{"too large missing db", nil, req{method: "POST", url: "/write?db=nope", body: bytes.Repeat([]byte("cpu v=1 1\n"), 20)}, 404, `database not found: "nope"`, 0},
		{"exactly the limit", nil, req{method: "POST", url: "/write?db=db", body: bytes.Repeat([]byte("cpu v=1 1\n"), 10), noLength: true}, 204, "", 10},
		{"gzip too large after inflate", nil, req{method: "POST", url: "/write?db=db", body: gz(t, strings.Repeat("cpu v=1 1\n", 11)), header: map[string]string{"Content-Encoding": "gzip"}}, 413, "Request Entity Too Large", 0},
		{"v2 ok", nil, req{method: "POST", url: "/api/v2/write?bucket=db/autogen&org=x&precision=s", body: []byte("cpu v=1 1")}, 204, "", 1},
		{"v2 db only", nil, req{method: "POST", url: "/api/v2/write?bucket=db", body: []byte("cpu v=1 1")}, 204, "", 1},
		{"v2 no bucket", nil, req{method: "POST", url: "/api/v2/write", body: []byte("cpu v=1")}, 404, `bucket name "" is missing a slash; not in "database/retention-policy" format`, 0},
		{"v2 empty db", nil, req{method: "POST", url: "/api/v2/write?bucket=/rp", body: []byte("cpu v=1")}, 404, `bucket name "/rp" is in db/rp form but has an empty database`, 0},
		{"v2 v1 precision", nil, req{method: "POST", url: "/api/v2/write?bucket=db&precision=n", body: []byte("cpu v=1")}, 400, `invalid precision "n" (use ns, us, ms or s)`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store
			if s == nil {
				s = newFakeStore("db")
			}
			h := newTestHandler(s, 100) // 100 bytes: ten "cpu v=1 1\n" lines
			w := do(h, tc.rq)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.code, w.Body)
			}
			checkCommon(t, w, tc.err)
			if tc.err == "" && w.Body.Len() != 0 {
				t.Errorf("body %q, want none", w.Body)
			}
			if got := len(s.written()); got != tc.written {
				t.Errorf("%d points written, want %d", got, tc.written)
			}
		})
	}
}

func TestWriteServerTimestampsAndPrecision(t *testing.T) {
	cases := []struct {
		url  string
		body string
		want int64
	}{
		{"/write?db=db", "cpu v=1", fixedNow.UnixNano()},
		{"/write?db=db&precision=s", "cpu v=1", fixedNow.Truncate(time.Second).UnixNano()},
		{"/write?db=db&precision=ms", "cpu v=1 1700000000000", 1700000000000 * 1e6},
		{"/write?db=db&precision=u", "cpu v=1 5", 5000},
		{"/write?db=db&precision=h", "cpu v=1 1", int64(time.Hour)},
		{"/api/v2/write?bucket=db&precision=us", "cpu v=1 5", 5000},
		{"/api/v2/write?bucket=db&precision=ns", "cpu v=1 5", 5},
	}
	for _, tc := range cases {
		s := newFakeStore("db")
		w := do(newTestHandler(s, 0), req{method: "POST", url: tc.url, body: []byte(tc.body)})
		if w.Code != 204 {
			t.Fatalf("%s: status %d: %s", tc.url, w.Code, w.Body)
		}
		if p := s.written(); len(p) != 1 || p[0].Time != tc.want {
			t.Fatalf("%s: points %+v, want time %d", tc.url, p, tc.want)
		}
	}
}

func TestWriteKeepsGoodLinesAndRetentionPolicy(t *testing.T) {
	s := newFakeStore("db")
	body := "cpu,host=a usage=1.5,n=3i 10\nbroken line\nmem,host=a free=7i 20\n"
	w := do(newTestHandler(s, 0), req{method: "POST", url: "/write?db=db&rp=autogen", body: []byte(body)})
	if w.Code != 400 || !strings.Contains(w.Body.String(), "partial write: unable to parse 'broken line'") || !strings.Contains(w.Body.String(), "dropped=0") {
		t.Fatalf("status %d body %s", w.Code, w.Body)
	}
	got := s.written()
	if len(got) != 2 || got[0].Measurement != "cpu" || got[1].Measurement != "mem" || got[0].Tags.Get("host") != "a" || len(got[0].Fields) != 2 {
		t.Fatalf("written %+v", got)
	}
	if s.batches[0].RetentionPolicy != "autogen" {
		t.Fatalf("batch %+v", s.batches[0])
	}
}

// TestWriteGzipBomb sends a small gzip body that inflates to 64 MiB: it
// must be refused with 413 after reading about the limit, not the whole.
func TestWriteGzipBomb(t *testing.T) {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'a'
	}
	for range 64 {
		zw.Write(chunk)
	}
	zw.Close()
	if b.Len() > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed", b.Len())
	}
	h := newTestHandler(newFakeStore("db"), 1<<20)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	w := do(h, req{method: "POST", url: "/write?db=db", body: b.Bytes(), header: map[string]string{"Content-Encoding": "gzip"}})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if w.Code != 413 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	checkCommon(t, w, "Request Entity Too Large")
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("allocated %d bytes for a 1 MiB limit", alloc)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

func TestWriteReusesBuffersSafely(t *testing.T) {
	// Consecutive requests through pooled state must not see each
	// other's points.
	s := newFakeStore("db")
	h := newTestHandler(s, 0)
	for i, body := range []string{"a,t=1 v=1 1\nb v=2 2\nc v=3 3", "d v=4 4", "e,x=y w=5 5\n"} {
		if w := do(h, req{method: "POST", url: "/write?db=db", body: []byte(body)}); w.Code != 204 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	var names []string
	for _, p := range s.written() {
		names = append(names, p.Measurement)
	}
	if got := strings.Join(names, ","); got != "a,b,c,d,e" {
		t.Fatalf("measurements %s", got)
	}
}
