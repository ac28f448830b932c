package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerImports keeps the agent a plain HTTP client: it must never
// link the server's storage, HTTP API, query engine or cluster code.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/herdmon/herd/internal/agent/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/storage", "/internal/httpapi", "/internal/query", "/internal/cluster", "hashicorp/raft"} {
			if strings.Contains(pkg, banned) {
				t.Errorf("agent depends on %s", pkg)
			}
		}
	}
}
