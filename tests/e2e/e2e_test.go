// Package e2e runs the real herd binary as users do: built from
// cmd/herd, started as a process, spoken to over HTTP.
package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

var herdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herd-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	herdBin = filepath.Join(dir, "herd")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	build := exec.Command("go", "build", "-o", herdBin, "./cmd/herd")
	build.Dir = root
	build.Env = testutil.BuildEnv()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build herd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a running `herd server` process.
type server struct {
	cmd  *exec.Cmd
	addr string
	url  string
	log  *os.File
}

func startServer(t *testing.T, dataDir, addr string, extra ...string) *server {
	t.Helper()
	return startServerArgs(t, dataDir, addr, append([]string{"--no-local-agent"}, extra...)...)
}

// startServerArgs starts `herd server` with exactly these extra flags.
func startServerArgs(t *testing.T, dataDir, addr string, extra ...string) *server {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"server", "--data-dir", dataDir, "--http-addr", addr}, extra...)
	cmd := testutil.Command(herdBin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A test that fails midway must not leave its server running.
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	s := &server{cmd: cmd, addr: addr, url: "http://" + addr, log: logf}
	waitFor(t, 20*time.Second, func() error {
		resp, err := http.Get(s.url + "/ping")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("ping: %s", resp.Status)
		}
		return nil
	}, s)
	return s
}

func (s *server) logText() string {
	b, _ := os.ReadFile(s.log.Name())
	return string(b)
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v\n%s", err, s.logText())
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("server did not stop within 30s\n%s", s.logText())
	}
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() error, s *server) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		if s != nil && s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := ""
	if s != nil {
		log = s.logText()
	}
	t.Fatalf("condition not met within %v: %v\n%s", within, err, log)
}
