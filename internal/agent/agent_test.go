package agent

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/agent/inputs"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fixtureEnv() *inputs.Env {
	root := filepath.Join("inputs", "testdata", "x86")
	return &inputs.Env{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Run: filepath.Join(root, "run"), PageSize: 4096}
}

// timestamps returns the distinct timestamps of herd_agent lines in the
// bodies a server received: one per collection cycle.
func timestamps(bodies []string) []string {
	var out []string
	for _, b := range bodies {
		for _, line := range strings.Split(strings.TrimSpace(b), "\n") {
			if strings.HasPrefix(line, "herd_agent,") {
				out = append(out, line[strings.LastIndexByte(line, ' ')+1:])
			}
		}
	}
	return out
}

func runAgent(t *testing.T, cfg *Config) (stop func()) {
	_, stop = startAgent(t, cfg)
	return stop
}

func startAgent(t *testing.T, cfg *Config) (*Agent, func()) {
	t.Helper()
	a, err := New(cfg, fixtureEnv(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return a, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
}

// TestRunOutageReplaysInOrder: the server fails (500) for a while, then
// recovers; every collection arrives, in order, none lost.
func TestRunOutageReplaysInOrder(t *testing.T) {
	var mu sync.Mutex
	failing := true
	ws := newWriteServer(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return 500
		}
		return 204
	})
	cfg := testConfig(ws.URL)
	cfg.Interval = Duration{100 * time.Millisecond}
	cfg.BufferDir = t.TempDir()
	cfg.Inputs = []string{"mem", "system", "kernel"}
	a, stop := startAgent(t, cfg)
	// Wait until several batches are on disk.
	eventually(t, 5*time.Second, "batches in the disk buffer", func() bool {
		entries, _ := os.ReadDir(cfg.BufferDir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() > 3000 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	failing = false
	mu.Unlock()
	eventually(t, 10*time.Second, "replay and new batches", func() bool { return len(timestamps(ws.got())) >= 8 })
	stop()
	ts := timestamps(ws.got())
	if !inOrderButOne(ts) {
		t.Fatalf("batches out of order: %v", ts)
	}
	// Every cycle is at the server exactly once, or still on disk (saved
	// at stop); a loaded machine may skip a tick, so count cycles rather
	// than look for gaps. Times are aligned to the interval.
	b, err := OpenBuffer(cfg.BufferDir, int64(cfg.BufferSize))
	if err != nil {
		t.Fatal(err)
	}
	left := b.Len()
	b.Close()
	uniq := map[string]bool{}
	for _, s := range ts {
		var ns int64
		fmt.Sscan(s, &ns)
		if ns%int64(100*time.Millisecond) != 0 {
			t.Fatalf("time %s not aligned to the interval", s)
		}
		uniq[s] = true
	}
	if len(uniq) != len(ts) || int64(len(ts)+left) < a.Stats.Cycles.Load() {
		t.Fatalf("%d cycles, %d received (%d unique), %d still buffered", a.Stats.Cycles.Load(), len(ts), len(uniq), left)
	}
}

// inOrderButOne reports whether ts is sorted once at most one element is
// taken out. The disk buffer keeps collection order, but the one batch
// in flight when the server stopped answering goes to disk after the
// queue that the collector moved there meanwhile (agent.enqueue says
// why that is harmless: points carry their timestamps). A slow machine
// (the ARM pass under qemu) hits that window.
func inOrderButOne(ts []string) bool {
	if sort.StringsAreSorted(ts) {
		return true
	}
	for i := range ts {
		rest := append(append([]string(nil), ts[:i]...), ts[i+1:]...)
		if sort.StringsAreSorted(rest) {
			return true
		}
	}
	return false
}

func TestInOrderButOne(t *testing.T) {
	for _, tc := range []struct {
		ts   []string
		want bool
	}{
		{nil, true},
		{[]string{"1", "2", "3"}, true},
		{[]string{"1", "3", "4", "2"}, true}, // the batch in flight, delivered last
		{[]string{"2", "1", "3"}, true},
		{[]string{"3", "2", "1"}, false},
		{[]string{"2", "1", "4", "3"}, false},
	} {
		if got := inOrderButOne(tc.ts); got != tc.want {
			t.Errorf("inOrderButOne(%v) = %v, want %v", tc.ts, got, tc.want)
		}
	}
}

// TestRunSlowServerNeverBlocksCollection: a server that never answers
// holds the sender, while collection goes on at every interval and the
// batches pile up on disk.
func TestRunSlowServerNeverBlocksCollection(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := testConfig(srv.URL)
	cfg.Timeout = Duration{time.Minute}
	cfg.Interval = Duration{100 * time.Millisecond}
	cfg.BufferDir = t.TempDir()
	cfg.Inputs = []string{"kernel"}
	a, stop := startAgent(t, cfg)
	// 16 batches fit in the queue; more cycles than that mean collection
	// went on past a full queue, to disk.
	eventually(t, 10*time.Second, "collection past a full queue", func() bool { return a.Stats.Cycles.Load() >= queueLen+5 })
	if a.Stats.Sent.Load() != 0 {
		t.Fatalf("sent %d points to a server that never answered", a.Stats.Sent.Load())
	}
	stop()
	b, _ := OpenBuffer(cfg.BufferDir, int64(cfg.BufferSize))
	defer b.Close()
	if n := b.Len(); int64(n) < a.Stats.Cycles.Load()-1 {
		t.Fatalf("%d cycles but %d batches saved on disk", a.Stats.Cycles.Load(), n)
	}
}

// TestRunDropsRejectedBatches: a 400 is logged and the batch dropped, not
// retried forever, and collection goes on.
func TestRunDropsRejectedBatches(t *testing.T) {
	ws := newWriteServer(t, func(n int) int {
		if n%2 == 0 {
			return 400
		}
		return 204
	})
	cfg := testConfig(ws.URL)
	cfg.Interval = Duration{100 * time.Millisecond}
	cfg.BufferDir = t.TempDir()
	cfg.Inputs = []string{"kernel"}
	stop := runAgent(t, cfg)
	eventually(t, 5*time.Second, "accepted batches", func() bool { return len(ws.got()) >= 3 })
	stop()
	ws.mu.Lock()
	n := len(ws.reqs)
	ws.mu.Unlock()
	if got := len(ws.got()); got < n/2-1 || got > n/2+1 {
		t.Fatalf("%d requests, %d accepted: rejected batches were retried", n, got)
	}
}

// TestRunRestartReplaysBuffer: batches buffered by one agent run are sent
// by the next one.
func TestRunRestartReplaysBuffer(t *testing.T) {
	down := newWriteServer(t, func(int) int { return 503 })
	cfg := testConfig(down.URL)
	cfg.Interval = Duration{100 * time.Millisecond}
	cfg.BufferDir = t.TempDir()
	cfg.Inputs = []string{"kernel"}
	stop := runAgent(t, cfg)
	var b *Buffer
	eventually(t, 5*time.Second, "buffered batches", func() bool {
		entries, _ := os.ReadDir(cfg.BufferDir)
		return len(entries) > 0 && func() bool {
			info, _ := entries[0].Info()
			return info.Size() > 1000
		}()
	})
	stop()
	b, _ = OpenBuffer(cfg.BufferDir, int64(cfg.BufferSize))
	buffered := b.Len()
	b.Close()
	up := newWriteServer(t, func(int) int { return 204 })
	cfg.URLs = []string{up.URL}
	stop = runAgent(t, cfg)
	eventually(t, 5*time.Second, "replayed batches", func() bool { return len(timestamps(up.got())) >= buffered+1 })
	stop()
}

// BenchmarkGather is one collection cycle of the default inputs on this
// machine (docker off unless a socket exists).
func BenchmarkGather(b *testing.B) {
	cfg := DefaultConfig()
	env := inputs.EnvFromOS()
	env.Log = quietLog()
	a, err := New(cfg, &env, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	a.Prime(context.Background())
	b.ReportAllocs()
	var points int
	var buf bytes.Buffer
	for b.Loop() {
		p := a.Gather(context.Background(), time.Now())
		points = len(p)
		buf.Reset()
		buf.Write(a.encode(p))
	}
	b.ReportMetric(float64(points), "points/op")
	b.ReportMetric(float64(buf.Len()), "gzip-bytes/op")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}

// unused guard: http is used by the fake servers in sender_test.go.
var _ = http.StatusOK
