package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerImports keeps deploy a plain client: it speaks SSH to the
// hosts and HTTP to the server, and must never link the server's
// storage, HTTP API, query engine or cluster code.
func TestNoServerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/herdmon/herd/internal/deploy/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/storage", "/internal/httpapi", "/internal/query", "/internal/cluster", "/internal/agent", "hashicorp/raft"} {
			if strings.Contains(pkg, banned) {
				t.Errorf("deploy depends on %s", pkg)
			}
		}
	}
}
