package main

import (
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write posts line protocol to /write?db=db and returns the status and body.
func (p *serverProc) write(t *testing.T, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(p.base+"/write?db=db", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// queryDB runs q against database db with integer nanosecond times.
func (p *serverProc) queryDB(t *testing.T, q string) string {
	t.Helper()
	return p.postQuery(t, url.Values{"q": {q}, "db": {"db"}, "epoch": {"ns"}})
}

// TestServerExtremeTimestampsAndQuarantine runs the real binary: points
// at both ends of InfluxDB's time range are accepted and survive a clean
// restart, one past either end is refused with a 400 naming the range;
// then a block file whose index is damaged is quarantined, and a query
// over its data answers with a warning in "messages" that names the
// file, not with a silently smaller result.
func TestServerExtremeTimestampsAndQuarantine(t *testing.T) {
	bin := buildHerd(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, bin, dataDir)
	srv.query(t, `CREATE DATABASE "db"`)
	const (
		minLine = "m v=1i -9223372036854775806"
		maxLine = "m v=2i 9223372036854775806"
	)
	for _, line := range []string{minLine, maxLine} {
		if code, body := srv.write(t, line); code != http.StatusNoContent {
			t.Fatalf("write %q: %d %s", line, code, body)
		}
	}
	for _, tc := range []struct{ line, err string }{
		{"m v=3i -9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806"},
		{"m v=3i 9223372036854775807", "time outside range -9223372036854775806 - 9223372036854775806"},
	} {
		code, body := srv.write(t, tc.line)
		if code != http.StatusBadRequest || !strings.Contains(body, "unable to parse '"+tc.line+"'") || !strings.Contains(body, tc.err) {
			t.Fatalf("write %q: %d %s, want 400 naming the range", tc.line, code, body)
		}
	}
	const all = `SELECT v FROM m WHERE time >= -9223372036854775806 AND time <= 9223372036854775806`
	const want = `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[-9223372036854775806,1],[9223372036854775806,2]]}]}]}`
	const early = `SELECT v FROM m WHERE time <= 0`
	const wantEarly = `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[-9223372036854775806,1]]}]}]}`
	for _, when := range []string{"before restart", "after restart"} {
		if when == "after restart" {
			srv.stop(t)
			srv = startServer(t, bin, dataDir)
		}
		if got := srv.queryDB(t, all); got != want {
			t.Fatalf("%s: %s\nwant %s", when, got, want)
		}
		if got := srv.queryDB(t, early); got != wantEarly {
			t.Fatalf("%s: %s: %s\nwant %s", when, early, got, wantEarly)
		}
	}
	srv.stop(t)

	// Damage the index of the block holding the MaxNanoTime point.
	var damaged string
	filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".blk") && strings.Contains(p, "_9223372036854775807") {
			damaged = p
		}
		return nil
	})
	if damaged == "" {
		t.Fatal("no block file for the last shard of time")
	}
	flipBlockIndexByte(t, damaged)
	srv = startServer(t, bin, dataDir)
	got := srv.queryDB(t, all)
	if !strings.Contains(got, `"values":[[-9223372036854775806,1]]`) || !strings.Contains(got, `"messages":[{"level":"warning","text":"incomplete result`) ||
		!strings.Contains(got, filepath.Base(damaged)+".bad") {
		t.Fatalf("query over a quarantined block: %s\nwant the intact point and a warning naming %s.bad", got, filepath.Base(damaged))
	}
	// The answer for the intact shard alone carries no warning.
	if got := srv.queryDB(t, early); got != wantEarly {
		t.Fatalf("query of the intact shard: %s", got)
	}
	srv.stop(t)
}

// flipBlockIndexByte flips the first byte of a block file's series
// entries, whose start the footer (the last 72 bytes) names first.
func flipBlockIndexByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[binary.LittleEndian.Uint64(b[len(b)-72:])] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
