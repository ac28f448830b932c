package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/influxdata/influxql"
)

// errKilled stands in for the engine's KILL QUERY cause.
var errKilled = errors.New("query interrupted")

// endAfter is a statement's context that is ended (errKilled, as KILL
// QUERY does) by the n-th look at its Err: an encoding that looks at it
// periodically stops part way through, deterministically.
type endAfter struct {
	context.Context
	cancel   context.CancelCauseFunc
	calls, n int
}

func newEndAfter(parent context.Context, n int) *endAfter {
	ctx, cancel := context.WithCancelCause(parent)
	return &endAfter{Context: ctx, cancel: cancel, n: n}
}

func (c *endAfter) Err() error {
	c.calls++
	if c.calls == c.n {
		c.cancel(errKilled)
	}
	return c.Context.Err()
}

// registeringExecutor stands in for the engine: each statement sends
// rows rows in pieces of 1,000 under a context of its own (the
// statement's, as if registered), made by stmtCtx, and ends with Finish
// under it.
type registeringExecutor struct {
	rows    int
	value   string
	stmtCtx func(parent context.Context) context.Context
	// running counts statements between Begin and the end of Finish.
	running *atomic.Int32
}

func (e registeringExecutor) ExecuteStatement(ectx *ExecutionContext, _ influxql.Statement) error {
	ctx := e.stmtCtx(ectx.Context)
	e.running.Add(1)
	defer e.running.Add(-1)
	ectx.Begin(ctx)
	var err error
	for from := 0; from < e.rows && err == nil; from += 1000 {
		n := min(1000, e.rows-from)
		vals := make([][]any, n)
		for i := range vals {
			vals[i] = []any{int64(from + i), e.value}
		}
		more := from+n < e.rows
		err = ectx.Send(&Result{Series: []*Row{{Name: "cpu", Columns: []string{"time", "v"}, Values: vals, Partial: more}}, Partial: more})
	}
	return ectx.Finish(ctx, err)
}

func interruptHandler(e registeringExecutor) *Handler {
	return limitedHandler(newFakeStore("db"), func(o *Options) { o.Executor = e })
}

// TestEncodeInterrupted: a statement whose context ends while its
// non-chunked answer is encoded answers InfluxDB's error instead of the
// rows, whatever the format, and the statements after it are not run.
func TestEncodeInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    string
		accept  string
		want    string
		lookups int // looks at the context before it reports the end
	}{
		{"json at once", "db=db", "", `{"results":[{"statement_id":0,"error":"query interrupted"},{"statement_id":1,"error":"not executed"}]}` + "\n", 1},
		{"json part way", "db=db", "", `{"results":[{"statement_id":0,"error":"query interrupted"},{"statement_id":1,"error":"not executed"}]}` + "\n", 20},
		{"pretty part way", "db=db&pretty=true", "", "{\n    \"results\": [\n        {\n            \"statement_id\": 0,\n            \"error\": \"query interrupted\"\n        },\n        {\n            \"statement_id\": 1,\n            \"error\": \"not executed\"\n        }\n    ]\n}\n", 20},
		{"csv part way", "db=db", "application/csv", "", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ended *endAfter
			e := registeringExecutor{rows: 50_000, value: "x", running: new(atomic.Int32), stmtCtx: func(parent context.Context) context.Context {
				// Err is asked once per 256 rows: 20 looks end the
				// encoding within 5,120 of the 50,000 rows.
				ended = newEndAfter(parent, tc.lookups)
				t.Cleanup(func() { ended.cancel(nil) })
				return ended
			}}
			h := interruptHandler(e)
			w := do(h, req{method: "GET", url: "/query?q=" + url.QueryEscape("SELECT * FROM cpu; SELECT * FROM cpu") + "&" + tc.args,
				header: map[string]string{"Accept": tc.accept}})
			if tc.accept != "" {
				// CSV answers carry no errors (InfluxDB's format): no
				// row of the interrupted statement is written.
				if strings.Contains(w.Body.String(), "cpu,") {
					t.Fatalf("rows of an interrupted statement: %.200q", w.Body.String())
				}
			} else if got := w.Body.String(); got != tc.want {
				t.Fatalf("got %.300q\nwant %q", got, tc.want)
			}
			if ended.calls < tc.lookups {
				t.Fatalf("the encoding looked at its context %d times, wants %d to end", ended.calls, tc.lookups)
			}
		})
	}
}

// TestStalledClientEndsWithStatement: a client that stops reading holds
// a statement only until the statement's context ends: then the write
// blocked on it fails within writeGrace, the handler returns and the
// connection is closed without a complete answer (whole or chunked).
func TestStalledClientEndsWithStatement(t *testing.T) {
	for _, args := range []string{"db=db", "db=db&chunked=true&chunk_size=1000"} {
		t.Run(args, func(t *testing.T) {
			stmtCtx := make(chan context.CancelCauseFunc, 1)
			running := new(atomic.Int32)
			// 32,000 rows of 1 KB: 32 MB, far more than the sockets
			// buffer, so the server's write blocks.
			e := registeringExecutor{rows: 32_000, value: strings.Repeat("v", 1000), running: running,
				stmtCtx: func(parent context.Context) context.Context {
					ctx, cancel := context.WithCancelCause(parent)
					stmtCtx <- cancel
					return ctx
				}}
			h := interruptHandler(e)
			returned := make(chan struct{})
			var sw *stallWatch
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(returned)
				h.ServeHTTP(sw.wrap(w), r)
			}))
			sw = &stallWatch{}
			t.Cleanup(srv.Close)
			c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			fmt.Fprintf(c, "GET /query?q=%s&%s HTTP/1.1\r\nHost: x\r\n\r\n", url.QueryEscape("SELECT * FROM cpu"), args)
			cancel := <-stmtCtx
			// The client reads the status line and stops: the server
			// writes until the sockets are full, then blocks.
			br := bufio.NewReaderSize(c, 64)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			eventually(t, "a write blocks on the client", sw.stalled)
			select {
			case <-returned:
				t.Fatal("the handler returned though the client reads nothing")
			default:
			}
			if running.Load() != 1 {
				t.Fatalf("statement not running while its answer is written")
			}
			killed := time.Now()
			cancel(errKilled)
			select {
			case <-returned:
			case <-time.After(writeGrace + 5*time.Second):
				t.Fatal("a stalled client holds the statement after its context ended")
			}
			if took := time.Since(killed); took > writeGrace+2*time.Second {
				t.Errorf("the handler returned %v after the statement's context ended", took)
			}
			if h.stats.queryAborted.Load() != 1 {
				t.Errorf("queryAborted = %d", h.stats.queryAborted.Load())
			}
			// What the client gets ends before the answer does.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(br)
			if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading the cut answer: %v", err)
			}
			if strings.HasSuffix(string(rest), "\r\n0\r\n\r\n") {
				t.Fatal("the cut answer ends like a complete one")
			}
		})
	}
}

// TestQueryFormReadTimeout: a POST /query whose form trickles in is
// answered 408 within body-read-timeout, and the deadline does not cut a
// query whose form arrived.
func TestQueryFormReadTimeout(t *testing.T) {
	h := limitedHandler(newFakeStore("db"), func(o *Options) { o.BodyReadTimeout = 200 * time.Millisecond })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the slow connection closes (cleanups run last first)
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nq=SHOW+DATA")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close ||
		!strings.Contains(string(body), "the query form did not arrive within body-read-timeout (200ms)") {
		t.Fatalf("status %d, close %v: %s", resp.StatusCode, resp.Close, body)
	}
	if n := h.stats.queryBodyTimeouts.Load(); n != 1 {
		t.Fatalf("queryBodyTimeouts = %d", n)
	}
	// A form that arrives at once runs, on a kept-alive connection,
	// after the read deadline would have passed.
	form := url.Values{"q": {"SHOW DATABASES"}}.Encode()
	c2, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	br := bufio.NewReader(c2)
	for i := 0; i < 2; i++ {
		fmt.Fprintf(c2, "POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(form), form)
		c2.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name":"databases"`) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		// Idle past the form's deadline: the next request must still be read.
		// (Time itself is what this waits for.)
		<-time.After(300 * time.Millisecond)
	}
}

// stallWatch tells when writes to a client block: a Write has been in
// progress, with no other returning, for 100 ms.
type stallWatch struct {
	inWrite  atomic.Bool
	lastDone atomic.Int64 // UnixNano of the last Write's return
}

type watchedWriter struct {
	http.ResponseWriter
	sw *stallWatch
}

func (sw *stallWatch) wrap(w http.ResponseWriter) http.ResponseWriter {
	sw.lastDone.Store(time.Now().UnixNano())
	return &watchedWriter{ResponseWriter: w, sw: sw}
}

func (sw *stallWatch) stalled() bool {
	return sw.inWrite.Load() && time.Since(time.Unix(0, sw.lastDone.Load())) > 100*time.Millisecond
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.sw.inWrite.Store(true)
	defer func() {
		w.sw.lastDone.Store(time.Now().UnixNano())
		w.sw.inWrite.Store(false)
	}()
	return w.ResponseWriter.Write(p)
}

func (w *watchedWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
