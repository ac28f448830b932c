package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/buildinfo"
	"github.com/herdmon/herd/internal/testutil"
)

// TestVersionAndPlatformWarnings: `herd version` names the platform the
// binary was built for (the test builds herd for its own, so under the
// ARM pass that is linux/arm GOARM=6 or 7, or arm64), and a server on a
// 32-bit platform warns at start about a setting the address space
// cannot hold, while a 64-bit one says nothing.
func TestVersionAndPlatformWarnings(t *testing.T) {
	bin := buildHerd(t)
	out, err := testutil.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("herd version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), buildinfo.Platform()) {
		t.Errorf("herd version says %q, want it to name the platform %q", out, buildinfo.Platform())
	}

	srv := startServer(t, bin, filepath.Join(t.TempDir(), "data"), "--max-write-memory", "0")
	srv.stop(t)
	logs := srv.logs.String()
	warned := strings.Contains(logs, "level=WARN") && strings.Contains(logs, "cannot hold on this 32-bit platform") &&
		strings.Contains(logs, "max-write-memory: 0 means no limit")
	if want := buildinfo.AddressBits == 32; warned != want {
		t.Errorf("%d-bit server: warned about max-write-memory=0: %v, want %v; logs:\n%s", buildinfo.AddressBits, warned, want, logs)
	}
	if !strings.Contains(logs, "platform=\""+buildinfo.Platform()+"\"") {
		t.Errorf("the start-up log does not name the platform %q:\n%s", buildinfo.Platform(), logs)
	}
}
