package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/testutil"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildHerd builds the real herd binary once per test run.
func buildHerd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "herd-agent-e2e")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "herd")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/herdmon/herd/cmd/herd")
		cmd.Env = testutil.BuildEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// checkLines parses out with the server's line-protocol parser, checks
// every point has a host tag, and returns the measurements seen.
func checkLines(t *testing.T, out string) map[string]bool {
	t.Helper()
	var p lineproto.Parser
	points, err := p.Parse(nil, []byte(out), 0, 1)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	if n := strings.Count(out, "\n"); len(points) != n {
		t.Fatalf("%d lines but %d points", n, len(points))
	}
	seen := map[string]bool{}
	for _, pt := range points {
		if pt.Tags.Get("host") == "" {
			t.Fatalf("point without a host tag: %s", pt.Measurement)
		}
		seen[pt.Measurement] = true
	}
	return seen
}

func TestBinaryOnce(t *testing.T) {
	bin := buildHerd(t)
	cmd := testutil.Command(bin, "agent", "--once", "--hostname", "e2e")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("herd agent --once: %v\n%s", err, stderr.String())
	}
	seen := checkLines(t, string(out))
	for _, m := range []string{"cpu", "mem", "system", "kernel", "processes"} {
		if !seen[m] {
			t.Errorf("no %s in --once output:\n%s", m, out)
		}
	}
	if !strings.Contains(string(out), "cpu=cpu-total") || !strings.Contains(string(out), "host=e2e") {
		t.Errorf("want cpu-total and host=e2e:\n%s", out)
	}
}

func TestBinaryBadUsage(t *testing.T) {
	bin := buildHerd(t)
	f := func(want string, args ...string) {
		t.Helper()
		cmd := testutil.Command(bin, append([]string{"agent"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%v: exit %v, stderr %q; want 2 and %q", args, err, stderr.String(), want)
		}
	}
	f("unknown key", "--config", "testdata/unknown-key.bad.toml")
	f("interval", "--interval", "soon")
	f("urls", "--url", "nothttp")
	f("flag provided but not defined", "--bogus")
}

func TestBinaryShipsToServer(t *testing.T) {
	bin := buildHerd(t)
	ws := newWriteServer(t, func(int) int { return 204 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := testutil.CommandContext(ctx, bin, "agent", "--url", ws.URL, "--interval", "200ms", "--buffer-dir", t.TempDir(), "--hostname", "e2e")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "points at the server", func() bool {
		for _, b := range ws.got() {
			if strings.Contains(b, "cpu,cpu=cpu-total,host=e2e ") && strings.Contains(b, "herd_agent,") {
				return true
			}
		}
		return false
	})
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, stderr.String())
	}
	r := ws.reqs[0]
	if r.URL.Query().Get("db") != "telegraf" || r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("request %s, encoding %q", r.URL, r.Header.Get("Content-Encoding"))
	}
	checkLines(t, ws.got()[0])
}

// TestBinaryKill9WhileBuffering: the agent buffers while the server is
// down, is killed with SIGKILL, and a new agent delivers every batch the
// first one had buffered.
func TestBinaryKill9WhileBuffering(t *testing.T) {
	bin := buildHerd(t)
	dir := t.TempDir()
	down := newWriteServer(t, func(int) int { return 503 })
	start := func(url string) *exec.Cmd {
		cmd := testutil.Command(bin, "agent", "--url", url, "--interval", "200ms", "--buffer-dir", dir, "--hostname", "k9", "--inputs", "kernel")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start(down.URL)
	var buffered int
	// Probe read-only: opening a Buffer would repair files under the
	// running agent's feet.
	eventually(t, 10*time.Second, "batches in the buffer", func() bool {
		buffered = 0
		files, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			recs, _ := decodeRecords(data)
			buffered += len(recs)
		}
		return buffered >= 5
	})
	cmd.Process.Kill()
	cmd.Wait()
	b, err := OpenBuffer(dir, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := b.Peek(64 << 20)
	b.Close()
	want := map[string]bool{}
	for _, r := range recs {
		for _, ts := range timestamps([]string{gunzip(t, r.Payload)}) {
			want[ts] = true
		}
	}
	up := newWriteServer(t, func(int) int { return 204 })
	cmd = start(up.URL)
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	eventually(t, 10*time.Second, "every buffered batch at the server", func() bool {
		got := map[string]bool{}
		for _, ts := range timestamps(up.got()) {
			got[ts] = true
		}
		for ts := range want {
			if !got[ts] {
				return false
			}
		}
		return true
	})
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestBinaryWithHerdServerOutage runs the real herd server and agent: the
// server is stopped while the agent keeps collecting, then restarted;
// every cycle's point arrives (count(cycles) = max(cycles)).
func TestBinaryWithHerdServerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("slow extra: starts the real server twice")
	}
	bin := buildHerd(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir, bufDir := t.TempDir(), t.TempDir()
	startServer := func() *exec.Cmd {
		cmd := testutil.Command(bin, "server", "--data-dir", dataDir, "--http-addr", addr, "--no-local-agent")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "server up", func() bool {
			resp, err := http.Get("http://" + addr + "/ping")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusNoContent
		})
		return cmd
	}
	stopServer := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	// count and max of the cycles field, or -1 while unknown.
	cycles := func() (count, max int64) {
		resp, err := http.PostForm("http://"+addr+"/query?db=telegraf",
			url.Values{"q": {"SELECT count(cycles), max(cycles) FROM herd_agent"}})
		if err != nil {
			return -1, -1
		}
		defer resp.Body.Close()
		var r struct {
			Results []struct {
				Series []struct{ Values [][]any }
			}
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Results) == 0 || len(r.Results[0].Series) == 0 ||
			len(r.Results[0].Series[0].Values) == 0 || len(r.Results[0].Series[0].Values[0]) < 3 {
			return -1, -1
		}
		v := r.Results[0].Series[0].Values[0]
		c, _ := v[1].(float64)
		m, _ := v[2].(float64)
		return int64(c), int64(m)
	}

	srv := startServer()
	defer func() { stopServer(srv) }()
	agent := testutil.Command(bin, "agent", "--url", "http://"+addr, "--interval", "200ms", "--buffer-dir", bufDir,
		"--hostname", "e2e", "--inputs", "kernel,mem")
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Process.Kill(); agent.Wait() }()
	eventually(t, 10*time.Second, "first points at the server", func() bool { _, m := cycles(); return m >= 3 })

	stopServer(srv)
	eventually(t, 10*time.Second, "batches buffered while the server is down", func() bool {
		n := 0
		files, _ := filepath.Glob(filepath.Join(bufDir, "*"+segmentSuffix))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			recs, _ := decodeRecords(data)
			n += len(recs)
		}
		return n >= 5
	})
	srv = startServer()
	var c, m int64
	eventually(t, 20*time.Second, "every cycle at the server", func() bool {
		c, m = cycles()
		return m >= 10 && c == m
	})
	t.Logf("%d cycles, all stored", m)
}
