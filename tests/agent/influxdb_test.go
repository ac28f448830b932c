// Package agent_test runs the real `herd agent` binary against real
// peers: its writes must land in a real InfluxDB 1.x exactly as in herd,
// because users point the agent at whatever InfluxDB they already run.
package agent_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

var (
	buildOnce sync.Once
	herdBin   string
	buildErr  error
)

// herd builds ./cmd/herd once per test binary, on first use, so a test
// that skips costs no build.
func herd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herd-agent-test")
		if err != nil {
			buildErr = err
			return
		}
		herdBin = filepath.Join(dir, "herd")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", herdBin, "./cmd/herd")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = testutil.BuildEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build herd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return herdBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if herdBin != "" {
		os.RemoveAll(filepath.Dir(herdBin))
	}
	os.Exit(code)
}

// eventually polls f until it returns nil or the deadline passes; diag
// adds context (a log) to the failure.
func eventually(t *testing.T, d time.Duration, f func() error, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v\n%s", d, err, diag())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// queryResult is InfluxDB 1.x's /query answer, one statement.
type queryResult struct {
	Results []struct {
		Series []struct {
			Name    string   `json:"name"`
			Columns []string `json:"columns"`
			Values  [][]any  `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// query runs q and returns the rows of its first statement's first series.
func query(u, db, q string) ([][]any, error) {
	resp, err := http.PostForm(u+"/query", url.Values{"q": {q}, "db": {db}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r queryResult
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: status %d: %s", q, resp.StatusCode, body)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("%s: %s", q, r.Error)
	}
	if len(r.Results) == 0 || r.Results[0].Error != "" {
		return nil, fmt.Errorf("%s: %s", q, body)
	}
	if len(r.Results[0].Series) == 0 {
		return nil, nil
	}
	return r.Results[0].Series[0].Values, nil
}

// TestAgentWritesToInfluxDB: `herd agent --url` at a fresh InfluxDB 1.x
// creates database telegraf itself (as Telegraf does, on the server's
// "database not found") and its cpu, mem and system points are queryable
// there with Telegraf's names, tagged with the host; no batch is rejected.
func TestAgentWritesToInfluxDB(t *testing.T) {
	u := testutil.StartInfluxDB(t)
	rows, err := query(u, "", "SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r[0] == "telegraf" {
			t.Fatal("database telegraf exists before the agent ran")
		}
	}

	dir := t.TempDir()
	logPath := filepath.Join(dir, "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	agent := testutil.Command(herd(t), "agent", "--url", u, "--interval", "1s",
		"--hostname", "agent-test-host", "--buffer-dir", filepath.Join(dir, "buffer"),
		"--inputs", "cpu,mem,system,disk,net,kernel,processes,swap,diskio,temp,rpi")
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	agentLog := func() string { b, _ := os.ReadFile(logPath); return "agent log:\n" + string(b) }

	checks := []struct {
		name, q string
		ok      func(rows [][]any) error
	}{
		{"database created", "SHOW DATABASES", func(rows [][]any) error {
			for _, r := range rows {
				if r[0] == "telegraf" {
					return nil
				}
			}
			return fmt.Errorf("no database telegraf in %v", rows)
		}},
		{"cpu-total", `SELECT usage_idle, usage_user, usage_system FROM cpu WHERE cpu = 'cpu-total' AND host = 'agent-test-host'`, func(rows [][]any) error {
			if len(rows) == 0 {
				return fmt.Errorf("no cpu-total points")
			}
			for _, r := range rows {
				idle, ok := r[1].(float64)
				if !ok || idle < 0 || idle > 100 {
					return fmt.Errorf("usage_idle %v is not a percentage", r[1])
				}
			}
			return nil
		}},
		{"cpu per core", `SELECT count(usage_idle) FROM cpu WHERE cpu = 'cpu0'`, nonEmpty},
		{"mem", `SELECT total, available, used_percent FROM mem WHERE host = 'agent-test-host'`, func(rows [][]any) error {
			if len(rows) == 0 {
				return fmt.Errorf("no mem points")
			}
			if total, _ := rows[0][1].(float64); total <= 0 {
				return fmt.Errorf("mem total %v", rows[0][1])
			}
			return nil
		}},
		{"system", `SELECT load1, n_cpus, uptime, uptime_format FROM system WHERE host = 'agent-test-host'`, func(rows [][]any) error {
			if len(rows) == 0 {
				return fmt.Errorf("no system points")
			}
			if n, _ := rows[0][2].(float64); n != float64(runtime.NumCPU()) {
				return fmt.Errorf("n_cpus %v, want %d", rows[0][2], runtime.NumCPU())
			}
			if s, _ := rows[0][4].(string); !strings.Contains(s, ":") {
				return fmt.Errorf("uptime_format %q", rows[0][4])
			}
			return nil
		}},
		// Every measurement of every batch went in: a field type InfluxDB
		// refuses would make it reject the whole batch (counted here).
		{"agent health", `SELECT last(sent), last(rejected), last(send_errors) FROM herd_agent`, func(rows [][]any) error {
			if len(rows) == 0 {
				return fmt.Errorf("no herd_agent points")
			}
			if sent, _ := rows[0][1].(float64); sent <= 0 {
				return fmt.Errorf("sent = %v", rows[0][1])
			}
			if rej, _ := rows[0][2].(float64); rej != 0 {
				return fmt.Errorf("rejected = %v", rows[0][2])
			}
			return nil
		}},
	}
	for _, c := range checks {
		eventually(t, 30*time.Second, func() error {
			if agent.ProcessState != nil {
				return fmt.Errorf("agent exited: %v", agent.ProcessState)
			}
			db := "telegraf"
			if c.name == "database created" {
				db = ""
			}
			rows, err := query(u, db, c.q)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if err := c.ok(rows); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		}, agentLog)
	}
	// The agent never had to buffer: every batch was accepted directly.
	if _, err := os.Stat(filepath.Join(dir, "buffer")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(dir, "buffer"))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() > 0 {
				t.Errorf("agent buffered on disk (%s, %d bytes):\n%s", e.Name(), info.Size(), agentLog())
			}
		}
	}
}

func nonEmpty(rows [][]any) error {
	if len(rows) == 0 {
		return fmt.Errorf("no rows")
	}
	return nil
}
