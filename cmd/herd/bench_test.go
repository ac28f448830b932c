package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// lastJSON decodes the machine-readable last line of herd bench's output.
func lastJSON(t *testing.T, out string) summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out)
	}
	return s
}

func TestBenchWriteOutThenSend(t *testing.T) {
	var writes, points atomic.Int64
	var created atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/query":
			created.Store(strings.Contains(r.FormValue("q"), `CREATE DATABASE "bench"`))
			_, _ = io.WriteString(w, `{"results":[{"statement_id":0}]}`)
		case "/write":
			b, _ := io.ReadAll(r.Body)
			writes.Add(1)
			points.Add(int64(bytes.Count(b, []byte("\n"))))
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	file := filepath.Join(t.TempDir(), "data.lp")
	var out, errb bytes.Buffer
	if code := benchMain([]string{"write", "--hosts", "3", "--duration", "10m", "--out", file}, &out, &errb); code != 0 {
		t.Fatalf("write --out exit %d: %s", code, errb.String())
	}
	gen := lastJSON(t, out.String())
	if gen.Points == 0 || gen.Values <= gen.Points || gen.End-gen.Start != 600e9 || gen.PerMeasurement["cpu"] == 0 {
		t.Fatalf("generate summary %+v", gen)
	}

	out.Reset()
	code := benchMain([]string{"send", "--file", file, "--url", srv.URL, "--db", "bench", "--batch", "100", "--quiet"}, &out, &errb)
	if code != 0 {
		t.Fatalf("send exit %d: %s", code, errb.String())
	}
	sent := lastJSON(t, out.String())
	if sent.Points != gen.Points || sent.Values != gen.Values || points.Load() != gen.Points || !created.Load() {
		t.Fatalf("sent %+v, server saw %d points, created=%v; generated %+v", sent, points.Load(), created.Load(), gen)
	}
	if want := (gen.Points + 99) / 100; writes.Load() != want {
		t.Fatalf("%d writes, want %d", writes.Load(), want)
	}

	// Generating and sending directly gives the same totals.
	out.Reset()
	points.Store(0)
	if code := benchMain([]string{"write", "--hosts", "3", "--duration", "10m", "--url", srv.URL, "--quiet"}, &out, &errb); code != 0 {
		t.Fatalf("write exit %d: %s", code, errb.String())
	}
	if direct := lastJSON(t, out.String()); direct.Values != gen.Values || points.Load() != gen.Points {
		t.Fatalf("direct write %+v, want %d values", direct, gen.Values)
	}
}

func TestBenchFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/write" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"database not found: \"bench\""}`)
			return
		}
		_, _ = io.WriteString(w, `{"results":[{"statement_id":0}]}`)
	}))
	defer srv.Close()
	f := func(want int, wantErr string, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := benchMain(args, &out, &errb); code != want || !strings.Contains(errb.String(), wantErr) {
			t.Errorf("herd bench %q: exit %d, stderr %q; want %d and %q", args, code, errb.String(), want, wantErr)
		}
	}
	f(1, "status 404", "write", "--hosts", "1", "--duration", "1m", "--url", srv.URL, "--quiet")
	f(2, "", "nope")
	f(2, "", "write", "--workers", "0")
	f(2, "--file is required", "send")
	f(1, "no such file", "send", "--file", filepath.Join(t.TempDir(), "missing"))
	f(2, "", "write", "--start", "yesterday")
}
