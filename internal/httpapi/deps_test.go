package httpapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the layering of design.md: the HTTP layer declares
// the interfaces it needs and never reaches into storage (or the
// cluster), so any engine that satisfies Store can sit behind it.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/storage", "/internal/cluster", "/internal/agent"} {
			if strings.Contains(dep, "github.com/herdmon/herd"+banned) {
				t.Errorf("httpapi imports %s", dep)
			}
		}
	}
}
