package httpapi

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
)

func limitedHandler(s Store, mod func(*Options)) *Handler {
	opts := Options{Store: s, MaxBodySize: DefaultMaxBodySize, BindAddr: ":8086", Now: func() time.Time { return fixedNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mod(&opts)
	return New(opts)
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// slowPost opens a connection, sends a write's headers declaring length
// bytes and then the first part of the body, and leaves it open.
func slowPost(t *testing.T, addr string, length int, part string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", length, part)
	return c
}

func wideLine(n int) string {
	var b strings.Builder
	b.WriteString("wide ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "f%d=%d", i, i)
	}
	return b.String()
}

func TestMaxFieldsPerPoint(t *testing.T) {
	store := newFakeStore("db")
	h := limitedHandler(store, func(o *Options) { o.MaxFieldsPerPoint = 10 })
	w := do(h, req{method: "POST", url: "/write?db=db", body: []byte("cpu a=1\n" + wideLine(11) + "\ncpu a=2 5\n")})
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "partial write: unable to parse 'wide f0=0") ||
		!strings.Contains(w.Body.String(), "too many fields: more than 10 in one point; raise max-fields-per-point") {
		t.Fatalf("unclear error: %s", w.Body)
	}
	if got := store.written(); len(got) != 2 {
		t.Fatalf("the other points were not written: %v", got)
	}
}

// Declared lengths cost nothing: 20 connections that each declare 25 MB
// and send 12 bytes held 500 MB before the buffer grew with what arrives.
func TestDeclaredLengthIsNotAllocated(t *testing.T) {
	h := limitedHandler(newFakeStore("db"), func(o *Options) {
		o.MaxWriteMemory = DefaultMaxWriteMemory
		o.EnqueuedWriteTimeout = time.Second
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the slow connections close (cleanups run last first)
	addr := strings.TrimPrefix(srv.URL, "http://")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 20
	for i := 0; i < n; i++ {
		slowPost(t, addr, 25_000_000, "cpu value=1 ")
	}
	eventually(t, "every slow write is being read", func() bool { return h.stats.writeActive.Load() == n })
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.TotalAlloc - before.TotalAlloc); grown > 8<<20 {
		t.Fatalf("%d writes that sent 12 bytes each allocated %d MB", n, grown>>20)
	}
	if held := h.writeMem.inUse(); held > n*minBodyExtent {
		t.Fatalf("%d writes that sent 12 bytes each hold %d bytes of write memory", n, held)
	}
}

func TestBodyReadTimeout(t *testing.T) {
	store := newFakeStore("db")
	h := limitedHandler(store, func(o *Options) { o.BodyReadTimeout = 200 * time.Millisecond })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the slow connections close (cleanups run last first)
	c := slowPost(t, strings.TrimPrefix(srv.URL, "http://"), 1000, "cpu value=1")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body) // ends: the server closes the connection
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close ||
		!strings.Contains(string(body), "timeout reading the request body: the body did not arrive within body-read-timeout (200ms)") {
		t.Fatalf("status %d, close %v: %s", resp.StatusCode, resp.Close, body)
	}
	if n := h.stats.writeBodyTimeouts.Load(); n != 1 {
		t.Fatalf("writeBodyTimeouts = %d", n)
	}
	// A body that arrives in time is unaffected, on the same server.
	r, err := http.Post(srv.URL+"/write?db=db", "", strings.NewReader("cpu value=2"))
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("a prompt write after a stalled one: %v %v", err, r)
	}
	r.Body.Close()
}

func TestWriteMemoryBudget(t *testing.T) {
	store := newFakeStore("db")
	const budget = 256 << 10
	h := limitedHandler(store, func(o *Options) {
		o.MaxWriteMemory = budget
		o.EnqueuedWriteTimeout = 100 * time.Millisecond
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the slow connections close (cleanups run last first)
	addr := strings.TrimPrefix(srv.URL, "http://")

	// A slow client holds most of the budget with what it has sent.
	part := strings.Repeat("cpu value=1\n", 100<<10/12)
	slow := slowPost(t, addr, 10<<20, part)
	eventually(t, "the slow body holds memory", func() bool { return h.writeMem.inUse() >= 100<<10 })

	post := func(body string) (*http.Response, string) {
		t.Helper()
		r, err := http.Post(srv.URL+"/write?db=db", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r, string(b)
	}
	big := string(telegrafBody(150)) // 32 KB, about 200 KB once parsed
	r, text := post(big)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" ||
		!strings.Contains(text, "write memory exhausted: the writes in progress hold the max-write-memory budget of 262144 bytes") {
		t.Fatalf("status %d, Retry-After %q: %s", r.StatusCode, r.Header.Get("Retry-After"), text)
	}
	if n := h.stats.writeMemoryRejected.Load(); n != 1 {
		t.Fatalf("writeMemoryRejected = %d", n)
	}
	// Small writes still fit beside the slow one.
	if r, text := post("cpu value=3"); r.StatusCode != http.StatusNoContent {
		t.Fatalf("small write: %d %s", r.StatusCode, text)
	}
	// When the slow client goes, its memory comes back, and a write
	// larger than the whole budget goes through on its own.
	slow.Close()
	eventually(t, "the slow write releases its memory", func() bool { return h.writeMem.inUse() == 0 })
	if r, text := post(big); r.StatusCode != http.StatusNoContent {
		t.Fatalf("big write after release: %d %s", r.StatusCode, text)
	}
	if r, text := post(string(telegrafBody(400))); r.StatusCode != http.StatusNoContent {
		t.Fatalf("write larger than the budget on an idle server: %d %s", r.StatusCode, text)
	}
	// Even alone, a body whose parsed points would take more than
	// maxAloneFactor budgets is refused.
	r, text = post(strings.Repeat("m f=1\n", 1<<20/6))
	if r.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(text, "write too large for max-write-memory: parsing this body would take about") {
		t.Fatalf("status %d: %s", r.StatusCode, text)
	}
	if held := h.writeMem.inUse(); held != 0 {
		t.Fatalf("%d bytes still held after every write ended", held)
	}
}

// blockingStore holds every WriteBatch until release is closed.
type blockingStore struct {
	*fakeStore
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) WriteBatch(b *models.Batch) error {
	s.entered <- struct{}{}
	<-s.release
	return s.fakeStore.WriteBatch(b)
}

func TestWriteGate(t *testing.T) {
	for _, c := range []struct {
		name    string
		queued  int
		timeout time.Duration
		want    string
	}{
		{"queue full", 1, 10 * time.Second, "request throttled, queue full"},
		{"timeout", 0, 50 * time.Millisecond, "request throttled, exceeds timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := &blockingStore{fakeStore: newFakeStore("db"), entered: make(chan struct{}, 8), release: make(chan struct{})}
			h := limitedHandler(store, func(o *Options) {
				o.MaxConcurrentWrites, o.MaxEnqueuedWrites, o.EnqueuedWriteTimeout = 1, c.queued, c.timeout
			})
			var wg sync.WaitGroup
			codes := make(chan int, 2)
			write := func() {
				defer wg.Done()
				codes <- do(h, req{method: "POST", url: "/write?db=db", body: []byte("cpu value=1")}).Code
			}
			wg.Add(1)
			go write()
			<-store.entered // the first write holds the only slot
			if c.queued > 0 {
				wg.Add(1)
				go write()
				eventually(t, "a write waits for the slot", func() bool { return h.writeGate.queued.Load() == 1 })
			}
			w := do(h, req{method: "POST", url: "/write?db=db", body: []byte("cpu value=2")})
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), c.want) {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			close(store.release)
			wg.Wait()
			close(codes)
			for code := range codes {
				if code != http.StatusNoContent {
					t.Fatalf("an admitted write got %d", code)
				}
			}
			if n := h.stats.writeThrottled.Load(); n != 1 {
				t.Fatalf("writeThrottled = %d", n)
			}
		})
	}
}

// A tiny write must cost memory in proportion to itself: 2,000
// concurrent one-line writes held 273 MB (230 KB each) of preallocated
// parser arrays.
func TestTinyWriteAllocatesLittle(t *testing.T) {
	body := []byte("cpu,host=a value=1\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 20
	for i := 0; i < n; i++ {
		st := new(writeState) // a cold state, as each of many concurrent writes gets
		r := httptest.NewRequest("POST", "/write?db=db", bytes.NewReader(body))
		b, err := st.readBody(r, DefaultMaxBodySize, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.parser.Parse(nil, b, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 16<<10 {
		t.Fatalf("a %d-byte write allocated %d bytes", len(body), per)
	}
}

func TestMemBudget(t *testing.T) {
	b := newMemBudget(100)
	soon := func() time.Time { return time.Now().Add(20 * time.Millisecond) }
	ctx := t.Context()
	if err := b.acquire(ctx, 60, 0, soon()); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 50, 0, soon()); err != errMemoryTimeout {
		t.Fatalf("over budget: %v", err)
	}
	// The holder of everything in use may grow past the budget.
	if err := b.acquire(ctx, 100, 60, soon()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.acquire(ctx, 50, 0, time.Now().Add(10*time.Second)) }()
	b.release(160)
	if err := <-done; err != nil {
		t.Fatalf("a waiter was not woken by a release: %v", err)
	}
	if b.inUse() != 50 {
		t.Fatalf("in use %d", b.inUse())
	}
}
