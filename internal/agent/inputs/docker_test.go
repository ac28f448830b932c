package inputs

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeDocker serves the Engine API endpoints the docker input uses from
// testdata/docker on a unix socket. Each stats call advances the cpu
// counters, so the second collection has a usage_percent.
func fakeDocker(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	mux := http.NewServeMux()
	file := func(w http.ResponseWriter, name string, repl ...string) {
		data, err := os.ReadFile(filepath.Join("testdata", "docker", name))
		if err != nil {
			http.NotFound(w, nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(strings.NewReplacer(repl...).Replace(string(data))))
	}
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { file(w, "info.json") })
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) { file(w, "list.json") })
	mux.HandleFunc("GET /containers/{id}/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("stream") != "false" {
			http.Error(w, "want stream=false", http.StatusBadRequest)
			return
		}
		n := calls.Add(1)
		// cpu: 5e8 ns per call against 4e9 ns of system time: 12.5% of
		// one cpu's share, times 4 (or 2) online cpus.
		file(w, "stats_"+r.PathValue("id")+".json",
			"%CPU%", strconv.FormatInt(n*500000000, 10), "%SYS%", strconv.FormatInt(n*4000000000, 10))
	})
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		file(w, "inspect_"+r.PathValue("id")+".json")
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestDockerFakeEngine(t *testing.T) {
	sock := fakeDocker(t)
	d := NewDocker(&Env{}, "unix://"+sock, 0)
	if err := d.Gather(context.Background(), &Accumulator{Time: t0}); err != nil {
		t.Fatalf("first gather: %v", err)
	}
	acc := &Accumulator{Time: t1}
	if err := d.Gather(context.Background(), acc); err != nil {
		t.Fatalf("second gather: %v", err)
	}
	checkGolden(t, filepath.Join("testdata", "docker", "expected.out"), encode(acc.Points))
}

func TestDockerNoSocketIsQuiet(t *testing.T) {
	d := NewDocker(&Env{Run: t.TempDir()}, "", 0)
	acc := &Accumulator{Time: t1}
	if err := d.Gather(context.Background(), acc); err != nil || len(acc.Points) != 0 {
		t.Fatalf("got %v and %d points; want silence", err, len(acc.Points))
	}
}

func TestDockerRefusedIsAnError(t *testing.T) {
	// A socket path nobody listens on: connect fails with ECONNREFUSED.
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	d := NewDocker(&Env{}, sock, 0)
	err = d.Gather(context.Background(), &Accumulator{Time: t1})
	if err == nil || !strings.Contains(err.Error(), "docker socket") {
		t.Fatalf("got %v; want a docker socket error", err)
	}
}
