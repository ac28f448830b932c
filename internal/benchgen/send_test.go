package benchgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// fakeServer records /write bodies and answers 204, or status for the
// request numbered failAt.
type fakeServer struct {
	mu       sync.Mutex
	bodies   [][]byte
	dbs      map[string]bool
	queries  []string
	inflight atomic.Int32
	maxIn    atomic.Int32
	failAt   int32
	requests atomic.Int32
	// barrier holds the first requests until that many are in flight, so
	// the test sees concurrency without sleeping.
	barrier chan struct{}
	waiting atomic.Int32
	need    int32
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/query":
		_ = r.ParseForm()
		f.mu.Lock()
		f.queries = append(f.queries, r.Form.Get("q"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"results":[{"statement_id":0}]}`)
		return
	case "/write":
	default:
		http.NotFound(w, r)
		return
	}
	n := f.requests.Add(1)
	in := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if in <= m || f.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	if f.barrier != nil && f.waiting.Add(1) <= f.need {
		if f.waiting.Load() == f.need {
			close(f.barrier)
		}
		select {
		case <-f.barrier:
		case <-time.After(5 * time.Second): // a deadline, not a delay: fails the concurrency check below
		}
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, b)
	if f.dbs == nil {
		f.dbs = map[string]bool{}
	}
	f.dbs[r.URL.Query().Get("db")] = true
	f.mu.Unlock()
	if n == f.failAt {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"partial write: bad line dropped=1"}`)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func sortedLines(b []byte) []string {
	l := strings.SplitAfter(string(b), "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	slices.Sort(l)
	return l
}

func TestSend(t *testing.T) {
	cfg := Config{Hosts: 5, Start: testStart, Steps: 30, Seed: 3}
	want := generate(t, cfg, 1000)
	for _, gz := range []bool{false, true} {
		f := &fakeServer{barrier: make(chan struct{}), need: 3}
		srv := httptest.NewServer(f)
		g, err := NewGenerator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var progress atomic.Int32
		res, err := Send(context.Background(), SendConfig{
			URL: srv.URL, DB: "bench mark", Workers: 3, Gzip: gz,
			Progress:      func(p, v int64, d time.Duration) { progress.Add(1) },
			ProgressEvery: time.Millisecond,
		}, &GenSource{Gen: g, BatchSize: 100})
		srv.Close()
		if err != nil {
			t.Fatalf("gzip=%v: %v", gz, err)
		}
		c := g.Counts()
		if res.Points != c.Points || res.Values != c.Values {
			t.Fatalf("result %d points %d values, generated %d, %d", res.Points, res.Values, c.Points, c.Values)
		}
		if wantBatches := (c.Points + 99) / 100; res.Batches != wantBatches || int64(len(f.bodies)) != wantBatches {
			t.Fatalf("%d batches sent, %d received, want %d", res.Batches, len(f.bodies), wantBatches)
		}
		var all []byte
		for _, b := range f.bodies {
			if n := bytes.Count(b, []byte("\n")); n > 100 {
				t.Fatalf("batch of %d lines, limit 100", n)
			}
			all = append(all, b...)
		}
		if !slices.Equal(sortedLines(all), sortedLines(want)) {
			t.Fatal("the server did not receive exactly the generated lines")
		}
		if !f.dbs["bench mark"] || len(f.dbs) != 1 {
			t.Fatalf("db parameters %v", f.dbs)
		}
		if f.maxIn.Load() < 3 {
			t.Fatalf("at most %d requests in flight, want 3 workers", f.maxIn.Load())
		}
		if res.PerMeasurement["cpu"] == 0 || res.PointsPerSec() <= 0 || res.ValuesPerSec() <= 0 {
			t.Fatalf("result %+v", res)
		}
		if gz && res.Bytes >= int64(len(want)) {
			t.Fatalf("gzip sent %d bytes for %d bytes of data", res.Bytes, len(want))
		}
	}
}

func TestSendFailsOnNon204(t *testing.T) {
	f := &fakeServer{failAt: 3}
	srv := httptest.NewServer(f)
	defer srv.Close()
	g, err := NewGenerator(Config{Hosts: 5, Start: testStart, Steps: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Send(context.Background(), SendConfig{URL: srv.URL, DB: "db", Workers: 2},
		&GenSource{Gen: g, BatchSize: 50})
	var we *WriteError
	if !errors.As(err, &we) || we.Status != http.StatusBadRequest || !strings.Contains(we.Body, "partial write") {
		t.Fatalf("err = %v, want a WriteError with status 400", err)
	}
	if res.Batches >= int64(f.requests.Load()) {
		t.Fatalf("%d batches counted as written of %d requests, one failed", res.Batches, f.requests.Load())
	}
	if !g.Done() && f.requests.Load() > 20 {
		t.Fatalf("sending went on after the failure: %d requests", f.requests.Load())
	}
}

func TestSendTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there now
	g, _ := NewGenerator(Config{Hosts: 1, Start: testStart, Steps: 10, Seed: 1})
	if _, err := Send(context.Background(), SendConfig{URL: u, DB: "db", Workers: 2, Timeout: 5 * time.Second},
		&GenSource{Gen: g, BatchSize: 10}); err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if _, err := Send(context.Background(), SendConfig{URL: u, Workers: 0}, &GenSource{Gen: g, BatchSize: 10}); err == nil {
		t.Fatal("Send with 0 workers succeeded")
	}
}

func TestCreateDatabase(t *testing.T) {
	f := &fakeServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	if err := CreateDatabase(context.Background(), nil, srv.URL+"/", `my"db`); err != nil {
		t.Fatal(err)
	}
	if want := `CREATE DATABASE "my\"db"`; len(f.queries) != 1 || f.queries[0] != want {
		t.Fatalf("queries %q, want %q", f.queries, want)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"results":[{"statement_id":0,"error":"boom"}]}`)
	}))
	defer bad.Close()
	if err := CreateDatabase(context.Background(), nil, bad.URL, "db"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the server's error", err)
	}
}

func TestFileSource(t *testing.T) {
	cfg := Config{Hosts: 3, Start: testStart, Steps: 10, Seed: 5}
	g, _ := NewGenerator(cfg)
	var data []byte
	for !g.Done() {
		data, _, _ = g.Append(data, 1000)
	}
	// Comments and blank lines are skipped; a last line without newline
	// still counts.
	input := "# a comment\n\n" + string(data) + "cpu,host=x usage_idle=1 1"
	src := NewFileSource(strings.NewReader(input), 7)
	var got []byte
	var b Batch
	var batches int
	for {
		err := src.Next(&b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.Points > 7 || b.Points != bytes.Count(b.Body, []byte("\n")) {
			t.Fatalf("batch of %d points, %d lines", b.Points, bytes.Count(b.Body, []byte("\n")))
		}
		batches++
		got = append(got, b.Body...)
	}
	if want := string(data) + "cpu,host=x usage_idle=1 1\n"; string(got) != want {
		t.Fatal("file source changed the data")
	}
	c, gc := src.Counts(), g.Counts()
	if c.Points != gc.Points+1 || c.Values != gc.Values+1 || c.PerMeasurement["cpu"] != gc.PerMeasurement["cpu"]+1 {
		t.Fatalf("file counts %+v, generator %+v", c, gc)
	}
	if want := int((c.Points + 6) / 7); batches != want {
		t.Fatalf("%d batches, want %d", batches, want)
	}
	long := NewFileSource(strings.NewReader(strings.Repeat("x", 2*maxLine)), 10)
	if err := long.Next(&b); err == nil || err == io.EOF {
		t.Fatalf("a line over %d bytes gave %v", maxLine, err)
	}
}

func TestLineStats(t *testing.T) {
	f := func(line, wantM string, wantN int) {
		t.Helper()
		m, n := LineStats([]byte(line))
		if m != wantM || n != wantN {
			t.Errorf("LineStats(%q) = %q, %d; want %q, %d", line, m, n, wantM, wantN)
		}
	}
	f("cpu,host=a usage_idle=1,usage_user=2 123\n", "cpu", 2)
	f("cpu usage_idle=1\n", "cpu", 1)
	f(`my\ m\,x,t\ a=b\,c f\,1=1,f\ 2=2i 1`, `my\ m\,x`, 2)
	f(`s,t=a msg="a, b c\" d",x=1 1`, "s", 2)
	f("  # comment\n", "", 0)
	f("\n", "", 0)
	f("", "", 0)
	f("cpu,host=a\n", "cpu", 0)
	f(`x\`, `x\`, 0)
}

func FuzzLineStats(f *testing.F) {
	f.Add([]byte("cpu,host=a usage_idle=1,usage_user=2 123\n"))
	f.Add([]byte(`s,t=a msg="a, b c\" d",x=1 1`))
	f.Add([]byte(`my\ m\,x,t\ a=b\,c f\,1=1,f\ 2=2i 1`))
	f.Add([]byte(`x\`))
	f.Add([]byte("\"\\"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, n := LineStats(line)
		if n < 0 || n > len(line) || len(m) > len(line) {
			t.Fatalf("LineStats(%q) = %q, %d", line, m, n)
		}
	})
}

func TestSendCancel(t *testing.T) {
	f := &fakeServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	g, _ := NewGenerator(Config{Hosts: 10, Start: testStart, Steps: 1 << 20, Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	_, err := Send(ctx, SendConfig{URL: srv.URL, DB: "db", Workers: 2, ProgressEvery: time.Millisecond,
		Progress: func(int64, int64, time.Duration) {
			if calls.Add(1) == 2 {
				cancel()
			}
		}}, &GenSource{Gen: g, BatchSize: 100})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
