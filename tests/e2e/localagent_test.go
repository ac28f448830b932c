package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestServerMonitorsItsOwnHost checks that a plain `herd server` runs
// the local agent: this host's cpu, mem and system points arrive in the
// telegraf database without any other process.
func TestServerMonitorsItsOwnHost(t *testing.T) {
	s := startServerArgs(t, t.TempDir(), freePort(t))
	defer s.stop(t)
	waitFor(t, 40*time.Second, func() error {
		out := query(t, s.url, `SHOW MEASUREMENTS ON telegraf`)
		for _, m := range []string{`["cpu"]`, `["mem"]`, `["system"]`, `["herd_agent"]`} {
			if !strings.Contains(out, m) {
				return fmt.Errorf("no %s yet: %s", m, out)
			}
		}
		return nil
	}, s)
	out := query(t, s.url, `SELECT last(n_cpus) FROM telegraf.autogen.system`)
	if !strings.Contains(out, `"last"`) {
		t.Fatalf("no system.n_cpus: %s", out)
	}
}
