package ui

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

// TestBrowser runs web/test/unit.test.mjs (the dashboard's pure helpers)
// and web/test/ui.test.mjs: headless Chromium against a real herd server
// built from ./cmd/herd with this dashboard embedded, its local agent
// reporting this machine. Screenshots land in test-artifacts/ui.
//
// It needs Node, npm's playwright-core (web/node_modules, from `make ui`),
// Debian's chromium and a built dashboard. Without them it skips, except
// under CI, where a missing tool is a failure: `make test` installs them.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests take ~40 s")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Debian package nodejs)")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (Debian package chromium)")
	}
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "web/node_modules/playwright-core (make ui runs npm ci)")
	}
	if !Built() {
		missing = append(missing, "the built dashboard in internal/ui/dist (make ui)")
	}
	if len(missing) > 0 {
		msg := "browser tests need " + strings.Join(missing, ", ") + "; `make test` installs and builds them"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "herd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/herd")
	build.Dir = root
	build.Env = testutil.BuildEnv()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herd: %v\n%s", err, out)
	}

	srv := testutil.Command(bin, "server", "--data-dir", filepath.Join(tmp, "data"), "--http-addr", "127.0.0.1:0")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			srv.Process.Kill()
			<-done
		}
	}()
	addr, err := listenAddr(stderr, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	artifacts := filepath.Join(root, "test-artifacts", "ui")
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "test/unit.test.mjs", "test/ui.test.mjs")
	cmd.Dir = filepath.Join(root, "web")
	cmd.Env = append(os.Environ(),
		"HERD_URL=http://"+addr,
		"HERD_LOCAL_HOST="+hostname,
		"HERD_ARTIFACTS="+artifacts,
		"CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test web/test/{unit,ui}.test.mjs against http://%s:\n%s", addr, out)
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
	t.Logf("screenshots in %s", artifacts)
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// listenAddr reads the server's log until it names the address it
// listens on, then keeps draining the log so the server never blocks.
func listenAddr(r io.Reader, timeout time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		sent := false
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case a, ok := <-found:
		if !ok {
			return "", fmt.Errorf("herd server exited before listening")
		}
		return a, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("herd server did not log its address within %v", timeout)
	}
}
