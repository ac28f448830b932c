package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stalledQuery sends q by GET over a connection with a tiny receive
// buffer, reads the status line (for a non-chunked answer, sent when
// the answer begins to be written) and then nothing: the server's write
// blocks. It returns the connection's reader.
func stalledQuery(t *testing.T, base, q, args string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /query?db=hostile&q=%s%s HTTP/1.1\r\nHost: x\r\n\r\n", url.QueryEscape(q), args)
	br := bufio.NewReaderSize(c, 64)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("status line: %q %v", status, err)
	}
	return c, br
}

// listedQuery returns the qid of the running statement whose text is
// text, or -1.
func listedQuery(t *testing.T, base, text string) int64 {
	t.Helper()
	_, r, _ := postQuery(t, base, "hostile", "SHOW QUERIES", 5*time.Second)
	if len(r.Results) == 0 || len(r.Results[0].Series) == 0 {
		return -1
	}
	for _, row := range r.Results[0].Series[0].Values {
		if s, _ := row[1].(string); s == text {
			qid, _ := row[0].(float64)
			return int64(qid)
		}
	}
	return -1
}

// drainCut reads the rest of a stalled answer and fails unless it ends
// within bound: cut (the server closes the connection), or, when
// errorEnd, completed with the statement's "query interrupted" as its
// last chunk (a chunked answer killed between two chunks still carries
// its error).
func drainCut(t *testing.T, c net.Conn, br *bufio.Reader, bound time.Duration, errorEnd bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(bound))
	var tail []byte
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := br.Read(buf)
		n += k
		tail = append(tail, buf[:k]...)
		if len(tail) > 512 {
			tail = tail[len(tail)-512:]
		}
		if strings.HasSuffix(string(tail), "\r\n0\r\n\r\n") {
			if !errorEnd || !strings.Contains(string(tail), `"error":"query interrupted"`) {
				t.Fatalf("the answer was completed (%d bytes, ends %q)", n, tail)
			}
			return
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the answer still flows %v later (%d bytes)", bound, n)
			}
			return // EOF or reset: the server closed the connection
		}
	}
}

// TestQueryAnswerBoundWhileWritten: a non-chunked answer stays in SHOW
// QUERIES while it is written to a client that stopped reading, KILL
// QUERY and --query-timeout end it there (the connection is closed: the
// answer's first bytes are out, so its error cannot follow), and it
// leaves the list. Before, the statement left the list once executed,
// and a stalled client held its answer and connection forever.
func TestQueryAnswerBoundWhileWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 points of 100 bytes")
	}
	const timeout = 4 * time.Second
	s := startServer(t, t.TempDir(), freePort(t), "--query-timeout", timeout.String())
	defer s.stop(t)
	createDB(t, s.url)
	pad := strings.Repeat("p", 100)
	for b := 0; b < 2; b++ {
		lines := make([]string, 0, 50_000)
		for i := b * 50_000; i < (b+1)*50_000; i++ {
			lines = append(lines, fmt.Sprintf(`wide s="%s%d" %d`, pad, i, int64(i)*1e9))
		}
		writeLines(t, s.url, lines)
	}
	// About 12 MB of answer: far more than the sockets buffer.
	const q = "SELECT s FROM wide"
	v := startVictim(s.url)

	for _, tc := range []struct{ name, args string }{{"kill", ""}, {"kill chunked", "&chunked=true"}} {
		t.Run(tc.name, func(t *testing.T) {
			c, br := stalledQuery(t, s.url, q, tc.args)
			qid := listedQuery(t, s.url, q)
			if qid < 0 {
				t.Fatal("a statement whose answer is being written is not in SHOW QUERIES")
			}
			killedAt := time.Now()
			if _, r, _ := postQuery(t, s.url, "hostile", fmt.Sprintf("KILL QUERY %d", qid), 5*time.Second); r.statementError() != "" {
				t.Fatalf("KILL QUERY: %q", r.statementError())
			}
			// The client still reads nothing: the blocked write must end.
			waitFor(t, 3*time.Second, func() error {
				if listedQuery(t, s.url, q) >= 0 {
					return fmt.Errorf("still listed %v after KILL QUERY", time.Since(killedAt))
				}
				return nil
			}, s)
			drainCut(t, c, br, 5*time.Second, tc.args != "")
		})
	}

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		c, br := stalledQuery(t, s.url, q, "")
		if listedQuery(t, s.url, q) < 0 {
			t.Fatal("a statement whose answer is being written is not in SHOW QUERIES")
		}
		waitFor(t, timeout+3*time.Second, func() error {
			if listedQuery(t, s.url, q) >= 0 {
				return fmt.Errorf("still listed %v after it started", time.Since(start))
			}
			return nil
		}, s)
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Errorf("left the list %v after it started, want within a %v timeout and the 1 s write grace", d, timeout)
		}
		drainCut(t, c, br, 5*time.Second, false)
	})
	v.check(t, 2*time.Second)
}
