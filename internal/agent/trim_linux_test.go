//go:build linux

package agent

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseStartupMemory: the read-only mappings of the running binary
// are advised away and the process keeps running (the code it executes
// next is faulted back in); the writable data is untouched.
func TestReleaseStartupMemory(t *testing.T) {
	marker := []byte("written before the release")
	n, err := ReleaseStartupMemory()
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Fatalf("released %d bytes of binary mappings, want > 0", n)
	}
	if string(marker) != "written before the release" || strings.Repeat("x", 3) != "xxx" {
		t.Fatal("memory changed")
	}
	// Still runs library code and reads read-only data afterwards.
	if _, err := strconv.Atoi("42"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile("/proc/self/status"); err != nil {
		t.Fatal(err)
	}
}
