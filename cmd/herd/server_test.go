package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

// buildHerd compiles the real binary once per test run.
func buildHerd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = testutil.BuildEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serverProc is a running `herd server`.
type serverProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	done chan error
	logs *syncBuffer
}

// syncBuffer collects the server's log lines; the reader goroutine
// writes while a failing test may read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer starts herd on a free loopback port (port 0; the address
// is read from the "listening" log line) with the extra flags and waits
// until /ping answers.
func startServer(t *testing.T, bin, dataDir string, extra ...string) *serverProc {
	t.Helper()
	return startServerEnv(t, bin, dataDir, nil, extra...)
}

// startServerEnv is startServer with extra environment and arguments.
func startServerEnv(t *testing.T, bin, dataDir string, env []string, args ...string) *serverProc {
	t.Helper()
	cmd := testutil.Command(bin, append([]string{"server", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--no-local-agent"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, done: make(chan error, 1), logs: new(syncBuffer)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteString(line + "\n")
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				addrc <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})

	deadline := time.After(30 * time.Second)
	select {
	case addr := <-addrc:
		p.base = "http://" + addr
	case err := <-p.done:
		skipIfEngineStub(t, p.logs.String())
		t.Fatalf("server exited before listening: %v\n%s", err, p.logs)
	case <-deadline:
		t.Fatalf("server did not log its address\n%s", p.logs)
	}
	// Poll /ping until it answers or the deadline passes.
	for {
		resp, err := http.Get(p.base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return p
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no /ping answer: %v\n%s", err, p.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("server exit: %v\n%s", err, p.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop\n%s", p.logs)
	}
}

// query runs q with no database and InfluxDB's default time format.
func (p *serverProc) query(t *testing.T, q string) string {
	t.Helper()
	return p.postQuery(t, url.Values{"q": {q}})
}

// postQuery posts form to /query, fails the test unless the answer is a
// 200, and returns the body without its trailing newline.
func (p *serverProc) postQuery(t *testing.T, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(p.base+"/query", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", form.Get("q"), resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// skipIfEngineStub skips when the storage engine is still the stub
// ("not built yet"): the HTTP layer cannot be tested end to end without it.
func skipIfEngineStub(t *testing.T, logs string) {
	if strings.Contains(logs, "not built yet") {
		t.Skip("storage engine not built yet: " + logs)
	}
}

func TestServerEndToEnd(t *testing.T) {
	bin := buildHerd(t)
	dataDir := filepath.Join(t.TempDir(), "data")

	cmd := testutil.Command(bin, "server", "--data-dir", dataDir, "--http-addr", "nonsense")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "http-addr") {
		t.Fatalf("bad config: exit %d, %s", code, out)
	}
	srv := startServer(t, bin, dataDir)
	if got, want := srv.query(t, `CREATE DATABASE "telegraf"`), `{"results":[{"statement_id":0}]}`; got != want {
		t.Fatalf("CREATE DATABASE: %s", got)
	}

	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	now := time.Now().UnixNano()
	for i := range 100 {
		fmt.Fprintf(zw, "cpu,host=pi-%d usage_idle=%d.5,usage_user=1i %d\n", i%10, i, now+int64(i))
	}
	zw.Close()
	rq, _ := http.NewRequest("POST", srv.base+"/write?db=telegraf", &body)
	rq.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, b)
	}
	if v := resp.Header.Get("X-Influxdb-Version"); v == "" {
		t.Fatal("no X-Influxdb-Version")
	}

	const listed = `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["telegraf"]]}]}]}`
	if got := srv.query(t, "SHOW DATABASES"); got != listed {
		t.Fatalf("SHOW DATABASES: %s", got)
	}
	srv.stop(t)

	srv = startServer(t, bin, dataDir)
	if got := srv.query(t, "SHOW DATABASES"); got != listed {
		t.Fatalf("after restart: %s", got)
	}
	resp, err = http.Post(srv.base+"/write?db=telegraf", "text/plain", strings.NewReader("mem free=1i\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write after restart: %d", resp.StatusCode)
	}
	srv.stop(t)
}
