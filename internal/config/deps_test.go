package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps config a leaf (design.md): it imports no other herd
// package, so every command can load its settings without pulling in
// servers or storage.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/herdmon/herd/") && dep != "github.com/herdmon/herd/internal/config" {
			t.Errorf("config imports %s", dep)
		}
	}
}
