package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

// TestPlatform: herd version names the OS, the architecture, its level
// (GOARM for a Pi: a GOARM=7 binary does not run on a Pi Zero) and Go.
func TestPlatform(t *testing.T) {
	got := Platform()
	want := []string{runtime.GOOS + "/" + runtime.GOARCH + " ", runtime.Version()}
	if level := ArchLevel(); level != "" {
		want = append(want, " GO"+strings.ToUpper(runtime.GOARCH)+"="+level+" ")
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("Platform() = %q, want it to contain %q", got, w)
		}
	}
	// Test binaries carry build information, so the level is known on
	// every architecture that has one.
	switch runtime.GOARCH {
	case "arm", "arm64", "amd64":
		if ArchLevel() == "" {
			t.Errorf("ArchLevel() is empty on %s", runtime.GOARCH)
		}
	}
	if AddressBits != 32 && AddressBits != 64 {
		t.Errorf("AddressBits = %d", AddressBits)
	}
}
