package main

import (
	"encoding/json"
	"github.com/herdmon/herd/internal/testutil"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// storageVars reads the "storage" statistics from /debug/vars.
func storageVars(t *testing.T, p *serverProc) map[string]int64 {
	t.Helper()
	resp, err := http.Get(p.base + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var vars struct {
		Storage struct {
			Values map[string]int64 `json:"values"`
		} `json:"storage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	return vars.Storage.Values
}

// TestMemoryLimitEndToEnd: --memory-limit becomes the Go runtime's soft
// limit and sizes what is not set explicitly; an explicit GOMEMLIMIT is
// honoured and is the default limit; a limit too small is refused.
func TestMemoryLimitEndToEnd(t *testing.T) {
	bin := buildHerd(t)
	const mib = 1 << 20
	cases := []struct {
		name                 string
		env, args            []string
		limit, goLimit, head int64
		seriesTotal          int64
	}{
		{"flag", nil, []string{"--memory-limit", "200MiB"}, 200 * mib, 200 * mib, 200 * mib / 12, 200 * mib / 5 / 1024},
		{"env and explicit head", []string{"HERD_MEMORY_LIMIT=300MiB"}, []string{"--head-max-bytes", "8MiB", "--max-series-total", "777"},
			300 * mib, 300 * mib, 8 * mib, 777},
		{"GOMEMLIMIT", []string{"GOMEMLIMIT=320MiB"}, nil, 320 * mib, 320 * mib, 320 * mib / 12, 320 * mib / 5 / 1024},
		{"GOMEMLIMIT beside memory-limit", []string{"GOMEMLIMIT=400MiB"}, []string{"--memory-limit", "128MiB"}, 128 * mib, 400 * mib, 128 * mib / 12, 128 * mib / 5 / 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startServerEnv(t, bin, filepath.Join(t.TempDir(), "data"), tc.env, tc.args...)
			v := storageVars(t, p)
			if v["memoryLimit"] != tc.limit || v["goMemoryLimit"] != tc.goLimit || v["headMaxBytes"] != tc.head ||
				v["maxSeriesTotal"] != tc.seriesTotal || v["queryMemoryTotalBudget"] != tc.limit/5 || v["writeMemoryBudget"] != tc.limit/10 {
				t.Fatalf("/debug/vars storage: %v\nwant memoryLimit %d, goMemoryLimit %d, headMaxBytes %d, maxSeriesTotal %d",
					v, tc.limit, tc.goLimit, tc.head, tc.seriesTotal)
			}
			if !strings.Contains(p.logs.String(), "msg=\"memory limit\"") {
				t.Fatalf("no start-up log line of the memory limit:\n%s", p.logs)
			}
			p.stop(t)
		})
	}
	for _, args := range [][]string{{"--memory-limit", "32MiB"}, {"--memory-limit", "64MiB", "--head-max-bytes", "48MiB"}} {
		cmd := testutil.Command(bin, append([]string{"server", "--data-dir", t.TempDir(), "--no-local-agent"}, args...)...)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "memory-limit") {
			t.Fatalf("%v: exit %d, %s", args, code, out)
		}
	}
}

// TestSeriesLimitsOverHTTP: both series limits answer a write with
// InfluxDB's partial-write 400 naming the limit, and are counted.
func TestSeriesLimitsOverHTTP(t *testing.T) {
	bin := buildHerd(t)
	p := startServerEnv(t, bin, filepath.Join(t.TempDir(), "data"), nil, "--max-series-per-database", "2", "--max-series-total", "3")
	write := func(db, body string) (int, string) {
		p.query(t, `CREATE DATABASE "`+db+`"`)
		resp, err := http.Post(p.base+"/write?db="+db, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	if code, msg := write("a", "cpu,host=1 v=1\ncpu,host=2 v=1\ncpu,host=3 v=1\n"); code != 400 ||
		msg != "partial write: max-series-per-database limit exceeded: (2) dropped=1" {
		t.Fatalf("per database: %d %q", code, msg)
	}
	if code, msg := write("b", "cpu,host=1 v=1\ncpu,host=2 v=1\n"); code != 400 ||
		!strings.HasPrefix(msg, "partial write: max-series-total limit exceeded: (3) series across all databases") {
		t.Fatalf("total: %d %q", code, msg)
	}
	v := storageVars(t, p)
	if v["series"] != 3 || v["seriesRefusedPerDatabase"] != 1 || v["seriesRefusedTotal"] != 1 {
		t.Fatalf("/debug/vars storage: %v", v)
	}
	p.stop(t)
}
