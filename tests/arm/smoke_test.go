// Package arm smoke-tests the released ARM binaries (armv6 for a Pi
// Zero/1, armv7 for a Pi 2/3 on a 32-bit OS, arm64 for a Pi 3/4/5 on a
// 64-bit OS), built as `make dist` builds them, under qemu-user: the
// server stores, answers and keeps points across a clean restart and a
// kill -9, and the agent collects on that platform and ships to it.
// exec.sh beside it runs the other packages' tests on ARM (make test-arm).
package arm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// target is one release platform and the emulator that runs it.
type target struct {
	name     string
	env      []string // GOARCH, GOARM
	platform string   // what `herd version` must name
	emulator []string // the Pi's CPU: see exec.sh
}

var targets = []target{
	{"armv6", []string{"GOARCH=arm", "GOARM=6"}, "linux/arm GOARM=6", []string{"qemu-arm-static", "-cpu", "arm1176"}},
	{"armv7", []string{"GOARCH=arm", "GOARM=7"}, "linux/arm GOARM=7", []string{"qemu-arm-static", "-cpu", "cortex-a7"}},
	{"arm64", []string{"GOARCH=arm64"}, "linux/arm64", []string{"qemu-aarch64-static", "-cpu", "cortex-a53"}},
}

// patience bounds each wait: emulation is 10-20 times slower than the
// machine, and three targets share its cores.
const patience = 2 * time.Minute

func TestSmoke(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(tg.emulator[0]); err != nil {
				msg := fmt.Sprintf("%s not installed (Debian package qemu-user-static; make test-deps installs it)", tg.emulator[0])
				if os.Getenv("CI") != "" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			smoke(t, tg)
		})
	}
}

func smoke(t *testing.T, tg target) {
	dir := t.TempDir()
	bin := build(t, tg, dir)

	out, err := tg.command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), tg.platform) {
		t.Fatalf("herd version: %v, %q; want it to name %q", err, out, tg.platform)
	}

	// Points a 32-bit build must keep exactly: int64 extremes (an int
	// or a float64 on the way would change them), a timestamp past
	// 2038 (a 32-bit time_t), one before 1970, and series spread over
	// hosts with int, float, string and boolean fields.
	var body strings.Builder
	const n = 600
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Unix()
	var wantSum int64
	var wantFloat float64
	for i := range n {
		fmt.Fprintf(&body, "m,host=h%d v=%di,f=%g,s=\"p%d\",b=%t %d\n", i%6, i*1_000_003, float64(i)/2, i, i%2 == 0, base+int64(i))
		wantSum += int64(i) * 1_000_003
		wantFloat += float64(i) / 2
	}
	body.WriteString("edge,host=e v=9223372036854775807i 4102444800\n")  // 2100-01-01
	body.WriteString("edge,host=e v=-9223372036854775808i -315619200\n") // 1960-01-01
	wantSummary := fmt.Sprintf(`[["1970-01-01T00:00:00Z",%d,%d,%g,%d]]`, n, wantSum, wantFloat, (n-1)*1_000_003)
	const wantEdge = `[["1960-01-01T00:00:00Z",-9223372036854775808],["2100-01-01T00:00:00Z",9223372036854775807]]`
	check := func(s *server, when string) {
		t.Helper()
		if got := s.values(t, `SELECT count(v), sum(v), sum(f), max(v) FROM m`); got != wantSummary {
			t.Errorf("%s: summary %s, want %s", when, got, wantSummary)
		}
		if got := s.values(t, `SELECT v FROM edge`); got != wantEdge {
			t.Errorf("%s: extremes %s, want %s", when, got, wantEdge)
		}
		const h3 = `SELECT v, f, s, b FROM m WHERE host = 'h3' AND time = 1793491701s`
		if got, want := s.values(t, h3), `[["2026-11-01T00:08:21Z",501001503,250.5,"p501",false]]`; got != want {
			t.Errorf("%s: %s: %s, want %s", when, h3, got, want)
		}
	}

	data := filepath.Join(dir, "data")
	s := start(t, tg, bin, data)
	s.query(t, `CREATE DATABASE smoke`)
	s.write(t, body.String())
	check(s, "after the write")
	s.stop(t)

	s = start(t, tg, bin, data)
	check(s, "after a restart")
	// Acknowledged, then killed: the restart replays the WAL.
	s.write(t, "late,host=k v=1i 1793491200\n")
	s.kill()
	s = start(t, tg, bin, data)
	check(s, "after kill -9")
	if got, want := s.values(t, `SELECT v FROM late`), `[["2026-11-01T00:00:00Z",1]]`; got != want {
		t.Errorf("after kill -9: the acknowledged point: %s, want %s", got, want)
	}

	// The agent: one collection of this platform's host metrics, in line
	// protocol the server takes, then a running agent shipping to it.
	once := tg.command(bin, "agent", "--once", "--hostname", "smoke-once")
	var stderr bytes.Buffer
	once.Stderr = &stderr
	lines, err := once.Output()
	if err != nil {
		t.Fatalf("agent --once: %v\n%s", err, stderr.String())
	}
	s.query(t, `CREATE DATABASE telegraf`)
	s.writeTo(t, "telegraf", "ns", string(lines))
	for _, m := range []string{"cpu", "mem", "system"} {
		q := fmt.Sprintf(`SELECT count(*) FROM telegraf.autogen.%s WHERE host = 'smoke-once'`, m)
		if got := s.values(t, q); got == "" || got == "null" {
			t.Errorf("agent --once: nothing in %s:\n%s", m, lines)
		}
	}
	agent := tg.command(bin, "agent", "--url", s.url, "--interval", "200ms", "--hostname", "smoke-ship",
		"--buffer-dir", filepath.Join(dir, "buffer"), "--inputs", "cpu,mem")
	agent.Stdout, agent.Stderr = &stderr, &stderr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		agent.Process.Kill()
		agent.Wait()
	}()
	deadline := time.Now().Add(patience)
	for {
		if got := s.values(t, `SELECT count(used) FROM telegraf.autogen.mem WHERE host = 'smoke-ship'`); got != "" && got != "null" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent shipped nothing within %v:\n%s", patience, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop(t)
}

// build compiles herd for the target as `make dist` does.
func build(t *testing.T, tg target, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "herd-"+tg.name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/herd")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux"), tg.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s: %v\n%s", tg.name, err, out)
	}
	return bin
}

func (tg target) command(bin string, args ...string) *exec.Cmd {
	return exec.Command(tg.emulator[0], append(append(tg.emulator[1:len(tg.emulator):len(tg.emulator)], bin), args...)...)
}

// server is a running `herd server` under the emulator.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	mu   sync.Mutex
	logs bytes.Buffer
}

var listeningRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// start runs the server on a free loopback port (port 0, read from its
// "listening" log line) and waits until /ping answers.
func start(t *testing.T, tg target, bin, data string) *server {
	t.Helper()
	s := &server{cmd: tg.command(bin, "server", "--data-dir", data, "--http-addr", "127.0.0.1:0", "--no-local-agent"),
		done: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.kill)
	select {
	case addr := <-addrc:
		s.url = "http://" + addr
	case <-s.done:
		t.Fatalf("server exited before listening:\n%s", s.log())
	case <-time.After(patience):
		t.Fatalf("server did not listen within %v:\n%s", patience, s.log())
	}
	deadline := time.Now().Add(patience)
	for {
		resp, err := http.Get(s.url + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /ping answer within %v: %v\n%s", patience, err, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// stop ends the server with SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if !s.cmd.ProcessState.Success() {
			t.Fatalf("server exit: %v\n%s", s.cmd.ProcessState, s.log())
		}
	case <-time.After(patience):
		t.Fatalf("server did not stop within %v\n%s", patience, s.log())
	}
}

// kill ends the server with SIGKILL (the emulator runs it in its own
// process, so this is kill -9 of the server).
func (s *server) kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) write(t *testing.T, lines string) { t.Helper(); s.writeTo(t, "smoke", "s", lines) }

func (s *server) writeTo(t *testing.T, db, precision, lines string) {
	t.Helper()
	resp, err := http.Post(s.url+"/write?precision="+precision+"&db="+db, "text/plain", strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("write to %s: %s %s\n%s", db, resp.Status, b, s.log())
	}
}

func (s *server) query(t *testing.T, q string) []byte {
	t.Helper()
	resp, err := http.PostForm(s.url+"/query", url.Values{"q": {q}, "db": {"smoke"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s %s", q, resp.Status, b)
	}
	return b
}

// values returns the first series' values of a one-statement query as
// compact JSON, exact numbers kept, or "" without a series.
func (s *server) values(t *testing.T, q string) string {
	t.Helper()
	var answer struct {
		Results []struct {
			Error  string
			Series []struct{ Values json.RawMessage }
		}
	}
	b := s.query(t, q)
	if err := json.Unmarshal(b, &answer); err != nil || len(answer.Results) != 1 {
		t.Fatalf("%s: %v: %s", q, err, b)
	}
	r := answer.Results[0]
	if r.Error != "" {
		t.Fatalf("%s: %s", q, r.Error)
	}
	if len(r.Series) == 0 {
		return ""
	}
	return string(r.Series[0].Values)
}
