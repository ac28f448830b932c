package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

// Hostile writers against the real binary (issue 10, items 6 and 7):
// each case asserts that another client's small write and query still
// answer within a deadline, and that the server's peak RSS stays under a
// bound. Peak RSS is logged for each case (go test -v -run Hostile).

// rssKB reads VmRSS or VmHWM (the peak) of a process, in KiB.
func rssKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// resetPeak starts a new VmHWM measurement (Linux: clear_refs 5).
func resetPeak(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
}

func checkPeak(t *testing.T, s *server, what string, maxMB int64) {
	t.Helper()
	peak := rssKB(t, s.cmd.Process.Pid, "VmHWM") >> 10
	t.Logf("%s: peak RSS %d MB", what, peak)
	if peak > maxMB {
		t.Errorf("%s: peak RSS %d MB, bound %d MB", what, peak, maxMB)
	}
}

// post writes body and returns the status and reply, failing past within.
func post(t *testing.T, s *server, body string, within time.Duration) (int, string) {
	t.Helper()
	c := http.Client{Timeout: within}
	resp, err := c.Post(s.url+"/write?db=db", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatalf("write of %d bytes: %v", len(body), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// bystander checks that a small write and a query answer within 3 s
// (scaled under the ARM pass's emulator, testutil.Patience).
func bystander(t *testing.T, s *server, n int) {
	t.Helper()
	start := time.Now()
	within := testutil.Patience(3 * time.Second)
	if code, text := post(t, s, fmt.Sprintf("bystander value=%d", n), within); code != http.StatusNoContent {
		t.Errorf("bystander write: %d %s", code, text)
	}
	c := http.Client{Timeout: within}
	resp, err := c.Get(s.url + "/query?db=db&q=" + url.QueryEscape("SELECT count(value) FROM bystander"))
	if err != nil {
		t.Fatalf("bystander query: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("bystander query: %s", resp.Status)
	}
	if d := time.Since(start); d > within {
		t.Errorf("bystander write and query took %v", d)
	}
}

func widePoint(tag string, n int) string {
	var b strings.Builder
	b.Grow(n * 12)
	b.WriteString("wide,src=" + tag + " ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("f")
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=1i")
	}
	return b.String()
}

func hostileServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := startServer(t, t.TempDir(), freePort(t), extra...)
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(s.url+"/query", "application/x-www-form-urlencoded", strings.NewReader("q=CREATE+DATABASE+db"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return s
}

func TestHostileWidePoints(t *testing.T) {
	s := hostileServer(t)
	resetPeak(t, s.cmd.Process.Pid)
	// 100,000 fields (1.2 MB) took 70 s under the write lock, 1,000,000
	// did not finish in 11 minutes; both are refused at the limit now,
	// while a bystander keeps writing and querying.
	for i, n := range []int{100_000, 1_000_000} {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, text := post(t, s, widePoint("a", n)+"\nwide,src=ok f0=1i\n", 20*time.Second)
			if code != http.StatusBadRequest || !strings.Contains(text, "more than 10000 in one point; raise max-fields-per-point") {
				t.Errorf("%d fields: %d %.300s", n, code, text)
			}
			t.Logf("%d-field point refused in %v", n, time.Since(start))
		}()
		bystander(t, s, i)
		wg.Wait()
	}
	// A point at the limit is written.
	if code, text := post(t, s, widePoint("b", 10_000), 20*time.Second); code != http.StatusNoContent {
		t.Fatalf("10,000-field point: %d %s", code, text)
	}
	checkPeak(t, s, "1M-field point refused", 200)
	s.stop(t)

	// Without the limits, the field lookup itself must be linear: a
	// 100,000-field point is written in seconds, not a minute, and does
	// not block the bystander for long.
	s = hostileServer(t, "--max-fields-per-point", "0", "--max-fields-per-measurement", "0")
	resetPeak(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		if code, text := post(t, s, widePoint("c", 100_000), 20*time.Second); code != http.StatusNoContent {
			t.Errorf("100,000-field point without limits: %d %.300s", code, text)
		}
		t.Logf("100,000-field point written in %v", time.Since(start))
	}()
	bystander(t, s, 10)
	wg.Wait()
	bystander(t, s, 11)
	checkPeak(t, s, "100k-field point written", 300)
	s.stop(t)
}

// slowBody opens a connection that declares a 25 MB write and sends 12
// bytes of it.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /write?db=db HTTP/1.1\r\nHost: x\r\nContent-Length: 25000000\r\n\r\ncpu value=1 ")
	return c
}

// writesActive reads the server's count of writes in progress.
func writesActive(s *server) (int, error) {
	resp, err := http.Get(s.url + "/debug/vars")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`"writeReqActive":(\d+)`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no writeReqActive in /debug/vars")
	}
	return strconv.Atoi(string(m[1]))
}

func TestHostileSlowBodies(t *testing.T) {
	s := hostileServer(t, "--body-read-timeout", "4s")
	resetPeak(t, s.cmd.Process.Pid)
	// 1,000 such connections pushed the server past 8 GB (2.2 GB here
	// after three waves: the buffers sized from Content-Length cost RSS
	// once the runtime reuses, and so zeroes, their memory).
	const n = 1000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for wave := 0; wave < 3; wave++ {
		for _, c := range conns {
			c.Close()
		}
		conns = conns[:0]
		waitFor(t, 10*time.Second, func() error {
			if a, err := writesActive(s); err != nil || a != 0 {
				return fmt.Errorf("%d writes still active (%v)", a, err)
			}
			return nil
		}, s)
		for i := 0; i < n; i++ {
			conns = append(conns, slowBody(t, s.addr))
		}
		waitFor(t, 10*time.Second, func() error {
			if a, err := writesActive(s); err != nil || a != n {
				return fmt.Errorf("%d of %d slow writes active (%v)", a, n, err)
			}
			return nil
		}, s)
	}
	bystander(t, s, 0)
	checkPeak(t, s, fmt.Sprintf("%d slow 25 MB bodies", n), 150)
	// Each stalled body is answered 408 and its connection closed.
	for _, c := range conns[:10] {
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("stalled body not answered: %v", err)
		}
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
			t.Fatalf("stalled body: %s, close %v", resp.Status, resp.Close)
		}
		resp.Body.Close()
	}
	bystander(t, s, 1)
	s.stop(t)
}

func TestHostileTinyConcurrentWrites(t *testing.T) {
	s := hostileServer(t)
	resetPeak(t, s.cmd.Process.Pid)
	// 2,000 concurrent one-line writes held 273 MB.
	const n = 2000
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	c := http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	start := make(chan struct{})
	failed := make(chan string, n)
	var throttled atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.Post(s.url+"/write?db=db", "text/plain", strings.NewReader(fmt.Sprintf("tiny,w=%d value=1", i)))
			if err != nil {
				failed <- err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			// A throttled write is a correct answer under this load.
			switch resp.StatusCode {
			case http.StatusNoContent:
			case http.StatusServiceUnavailable:
				throttled.Add(1)
			default:
				failed <- resp.Status
			}
		}()
	}
	close(start)
	bystander(t, s, 0)
	wg.Wait()
	close(failed)
	for f := range failed {
		t.Fatalf("tiny write: %s", f)
	}
	t.Logf("%d of %d tiny writes throttled", throttled.Load(), n)
	checkPeak(t, s, fmt.Sprintf("%d concurrent tiny writes", n), 150)
	s.stop(t)
}

// A 24 MB body of minimal lines parses to 23 times its size: one such
// write took the server to 1.3 GB. It is refused; a bystander is not.
func TestHostileMinimalLinesBody(t *testing.T) {
	s := hostileServer(t)
	resetPeak(t, s.cmd.Process.Pid)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		code, text := post(t, s, strings.Repeat("m f=1\n", 4_000_000), 20*time.Second)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(text, "write too large for max-write-memory") {
			t.Errorf("24 MB of minimal lines: %d %.300s", code, text)
		}
	}()
	bystander(t, s, 0)
	wg.Wait()
	checkPeak(t, s, "24 MB of minimal lines", 200)
	s.stop(t)
}
