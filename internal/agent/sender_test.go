package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// writeServer records the decoded bodies it accepts; status decides the
// answer to each request.
type writeServer struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	reqs   []*http.Request
	status func(n int) int
}

func newWriteServer(t *testing.T, status func(n int) int) *writeServer {
	ws := &writeServer{status: status}
	ws.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws.mu.Lock()
		n := len(ws.reqs)
		ws.reqs = append(ws.reqs, r)
		ws.mu.Unlock()
		st := ws.status(n)
		if st != http.StatusNoContent {
			w.WriteHeader(st)
			w.Write([]byte(`{"error":"nope"}`))
			return
		}
		if r.Header.Get("Content-Encoding") != "gzip" {
			http.Error(w, "want gzip", http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(zr)
		ws.mu.Lock()
		ws.bodies = append(ws.bodies, string(body))
		ws.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ws.Close)
	return ws
}

func (ws *writeServer) got() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]string(nil), ws.bodies...)
}

func testConfig(urls ...string) *Config {
	c := DefaultConfig()
	c.URLs = urls
	c.Timeout = Duration{2 * time.Second}
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSenderV1(t *testing.T) {
	ws := newWriteServer(t, func(int) int { return 204 })
	s, err := NewSender(testConfig(ws.URL), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), gz("m f=1 1\n")); err != nil {
		t.Fatal(err)
	}
	r := ws.reqs[0]
	if r.URL.Path != "/write" || r.URL.Query().Get("db") != "telegraf" || r.Method != "POST" {
		t.Errorf("request %s %s", r.Method, r.URL)
	}
	if got := ws.got(); len(got) != 1 || got[0] != "m f=1 1\n" {
		t.Errorf("body %q", got)
	}
}

func TestSenderV2Token(t *testing.T) {
	ws := newWriteServer(t, func(int) int { return 204 })
	c := testConfig(ws.URL)
	c.Token, c.Organization = "secret", "home"
	s, _ := NewSender(c, quietLog())
	if err := s.Send(context.Background(), gz("m f=1 1\n")); err != nil {
		t.Fatal(err)
	}
	r := ws.reqs[0]
	q := r.URL.Query()
	if r.URL.Path != "/api/v2/write" || q.Get("bucket") != "telegraf" || q.Get("org") != "home" || q.Get("precision") != "ns" {
		t.Errorf("request %s", r.URL)
	}
	if r.Header.Get("Authorization") != "Token secret" {
		t.Errorf("Authorization %q", r.Header.Get("Authorization"))
	}
}

func TestSender400IsRejected(t *testing.T) {
	ws := newWriteServer(t, func(int) int { return 400 })
	s, _ := NewSender(testConfig(ws.URL), quietLog())
	var rej *RejectedError
	if err := s.Send(context.Background(), gz("bad\n")); !errors.As(err, &rej) || rej.Status != 400 {
		t.Fatalf("got %v, want a RejectedError", err)
	}
}

func TestSender500IsRetryable(t *testing.T) {
	ws := newWriteServer(t, func(int) int { return 500 })
	s, _ := NewSender(testConfig(ws.URL), quietLog())
	if err := s.Send(context.Background(), gz("m f=1 1\n")); !errors.Is(err, ErrNoServer) {
		t.Fatalf("got %v, want ErrNoServer", err)
	}
}

func TestSenderFailover(t *testing.T) {
	down := newWriteServer(t, func(int) int { return 503 })
	up := newWriteServer(t, func(int) int { return 204 })
	s, _ := NewSender(testConfig(down.URL, up.URL), quietLog())
	for i := 0; i < 3; i++ {
		if err := s.Send(context.Background(), gz("m f=1 1\n")); err != nil {
			t.Fatal(err)
		}
	}
	if len(up.got()) != 3 {
		t.Fatalf("second url got %d batches, want 3", len(up.got()))
	}
	// The failed first url cools down: it saw one request, not three.
	if n := len(down.reqs); n != 1 {
		t.Fatalf("first url tried %d times, want 1 (then skipped while cooling down)", n)
	}
}

func TestSenderCreatesDatabase(t *testing.T) {
	var mu sync.Mutex
	created := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/query":
			r.ParseForm()
			if r.Form.Get("q") == `CREATE DATABASE "telegraf"` {
				created = true
			}
			w.Write([]byte(`{"results":[{"statement_id":0}]}`))
		case "/write":
			if !created {
				w.WriteHeader(404)
				w.Write([]byte(`{"error":"database not found: \"telegraf\""}`))
				return
			}
			w.WriteHeader(204)
		}
	}))
	defer srv.Close()
	s, _ := NewSender(testConfig(srv.URL), quietLog())
	if err := s.Send(context.Background(), gz("m f=1 1\n")); err != nil || !created {
		t.Fatalf("send: %v, created %v", err, created)
	}
}

func TestConfigURLForms(t *testing.T) {
	f := func(raw, token, want string) {
		t.Helper()
		c := testConfig(raw)
		c.Token = token
		ep, err := newEndpoint(raw, c)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ep.write, want) {
			t.Errorf("%s: write url %s, want prefix %s", raw, ep.write, want)
		}
	}
	f("http://h:8086", "", "http://h:8086/write?db=telegraf")
	f("http://h:8086/", "t", "http://h:8086/api/v2/write?bucket=telegraf")
	f("https://h/influx/write", "", "https://h/influx/write?db=telegraf")
	f("http://h:8086/api/v2/write", "", "http://h:8086/api/v2/write?bucket=telegraf")
}
