// Package testutil holds helpers shared by tests that run real processes:
// free loopback addresses and a real InfluxDB 1.x to compare against.
package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// FreeAddr returns a loopback address with a port free at the time of
// the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartInfluxDB runs the Debian package's influxd on free loopback ports
// with everything under a temp dir, stops it when the test ends, and
// returns its URL once /ping answers. Without influxd the test is skipped,
// except under CI, where it fails: the suite must not pass by skipping
// what it claims to check (make test installs the package).
func StartInfluxDB(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("influxd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("influxd not installed: make test installs the Debian package influxdb")
		}
		t.Skip("influxd not installed (make test installs the Debian package influxdb)")
	}
	dir := t.TempDir()
	httpAddr, rpcAddr := FreeAddr(t), FreeAddr(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = %q
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcAddr, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr)
	cfg := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "influxd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	u := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u + "/ping")
		if err == nil {
			resp.Body.Close()
			return u
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("influxd did not answer /ping within 30s: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
