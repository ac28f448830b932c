package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// queryReply is /query's answer: a request error or statement results.
type queryReply struct {
	Error   string `json:"error"`
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Values [][]any `json:"values"`
		} `json:"series"`
	} `json:"results"`
}

// postQuery sends q by POST and returns the status, the decoded reply
// and how long the answer took.
func postQuery(t *testing.T, base, db, q string, timeout time.Duration) (int, queryReply, time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: timeout}
	start := time.Now()
	resp, err := c.PostForm(base+"/query?db="+db, url.Values{"q": {q}})
	if err != nil {
		t.Fatalf("%.60s...: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	var r queryReply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%.60s...: %d %.300s: %v", q, resp.StatusCode, body, err)
	}
	return resp.StatusCode, r, elapsed
}

// statementError is the first statement's error, or the request's.
func (r queryReply) statementError() string {
	if r.Error != "" {
		return r.Error
	}
	if len(r.Results) > 0 {
		return r.Results[0].Error
	}
	return ""
}

func nested(depth int, inner string) string {
	return strings.Repeat("SELECT v FROM (", depth) + inner + strings.Repeat(")", depth)
}

// orChain is "SELECT v FROM m WHERE " followed by n terms joined by OR,
// term i written by format with i (plus offset).
func orChain(m, format string, offset, n int) string {
	var b strings.Builder
	b.WriteString("SELECT v FROM " + m + " WHERE ")
	for i := range n {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, format, offset+i)
	}
	return b.String()
}

// victim is another client's small query, run in a loop while hostile
// ones run: it must keep answering promptly.
type victim struct {
	mu      sync.Mutex
	worst   time.Duration
	answers int
	failure string
	stop    chan struct{}
	done    chan struct{}
}

func startVictim(base string) *victim {
	v := &victim{stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(v.done)
		for i := 0; ; i++ {
			select {
			case <-v.stop:
				return
			default:
			}
			q := "SELECT count(v) FROM small"
			if i%2 == 1 {
				q = "SHOW QUERIES"
			}
			start := time.Now()
			resp, err := c.Get(base + "/query?db=hostile&q=" + url.QueryEscape(q))
			var body []byte
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			d := time.Since(start)
			v.mu.Lock()
			v.worst = max(v.worst, d)
			v.answers++
			switch {
			case err != nil:
				v.failure = err.Error()
			case resp.StatusCode != 200 || bytes.Contains(body, []byte(`"error"`)):
				v.failure = fmt.Sprintf("%s: %d %.200s", q, resp.StatusCode, body)
			}
			v.mu.Unlock()
		}
	}()
	return v
}

func (v *victim) check(t *testing.T, bound time.Duration) {
	t.Helper()
	close(v.stop)
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	t.Logf("victim: %d answers, the slowest in %v", v.answers, v.worst)
	if v.failure != "" {
		t.Errorf("victim query failed: %s", v.failure)
	}
	if v.answers == 0 || v.worst > bound {
		t.Errorf("victim: %d answers, the slowest in %v, want every one within %v", v.answers, v.worst, bound)
	}
}

func writeLines(t *testing.T, base string, lines []string) {
	t.Helper()
	resp, err := http.Post(base+"/write?db=hostile", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s", resp.Status)
	}
}

func createDB(t *testing.T, base string) {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"q": {"CREATE DATABASE hostile"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("small,host=h%d v=%di %d", i%4, i, int64(i)*1e9))
	}
	writeLines(t, base, lines)
}

// TestHostileQueriesRefused: at the default limits, the cheap-to-send,
// expensive-to-run queries of issue 10 are refused before parsing, at
// once, while another client's queries keep answering.
func TestHostileQueriesRefused(t *testing.T) {
	s := startServer(t, t.TempDir(), freePort(t), "--query-timeout", "2s")
	defer s.stop(t)
	createDB(t, s.url)
	v := startVictim(s.url)
	for _, tc := range []struct {
		name, q string
		code    int
		err     string
	}{
		{"600 nested subqueries", nested(600, "SELECT v FROM small"), 400, "nested deeper than 100 levels (max-query-depth)"},
		{"10,000 nested subqueries", nested(10_000, "SELECT v FROM small"), 400, "nested deeper than 100 levels (max-query-depth)"},
		{"20,000-term OR", orChain("small", "host = 'h%d'", 0, 20_000), 400, "more than 10000 terms (max-query-terms)"},
		{"a megabyte of parentheses", "SELECT v FROM small WHERE " + strings.Repeat("(", 1<<20-100), 400, "(max-query-depth)"},
		{"2 MB of query", "SELECT v FROM small WHERE host = '" + strings.Repeat("x", 2<<20) + "'", 413, "longer than 1048576 bytes (max-query-size)"},
	} {
		code, r, d := postQuery(t, s.url, "hostile", tc.q, 30*time.Second)
		t.Logf("%s (%d bytes): %d in %v", tc.name, len(tc.q), code, d)
		if code != tc.code || !strings.Contains(r.statementError(), tc.err) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, r.statementError(), tc.code, tc.err)
		}
		if d > time.Second {
			t.Errorf("%s: refused after %v", tc.name, d)
		}
	}
	v.check(t, 2*time.Second)
}

// TestHostileQueriesBounded: with the limits raised, the same queries
// run, and end within a second of --query-timeout, or when killed;
// SHOW QUERIES answers meanwhile, with the long text cut, and another
// client's queries keep answering.
func TestHostileQueriesBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 300,000 points")
	}
	s := startServer(t, t.TempDir(), freePort(t), "--query-timeout", "2s",
		"--max-query-terms", "100000", "--max-query-depth", "20000")
	defer s.stop(t)
	createDB(t, s.url)
	for b := 0; b < 3; b++ {
		lines := make([]string, 0, 100_000)
		for i := b * 100_000; i < (b+1)*100_000; i++ {
			lines = append(lines, fmt.Sprintf("big v=%di %d", i%1000, int64(i)*1e9))
		}
		writeLines(t, s.url, lines)
	}
	const timeout = 2 * time.Second
	slow := orChain("big", "v = %d", 1_000_000, 20_000) // 20,000 comparisons on each of 300,000 rows
	v := startVictim(s.url)

	// Ended by the timeout, in every phase it reaches.
	_, r, d := postQuery(t, s.url, "hostile", slow, 30*time.Second)
	t.Logf("20,000-term OR (%d bytes): %q in %v", len(slow), r.statementError(), d)
	if r.statementError() != "query-timeout limit exceeded" || d > timeout+time.Second {
		t.Errorf("20,000-term OR: %q after %v, want the timeout within %v", r.statementError(), d, timeout+time.Second)
	}
	// Nesting runs in linear time now: an answer, the timeout or the
	// query memory budget (each level's rows count until the end), in
	// time.
	for _, depth := range []int{600, 10_000} {
		_, r, d := postQuery(t, s.url, "hostile", nested(depth, "SELECT v FROM small"), 30*time.Second)
		t.Logf("%d nested subqueries: %q in %v", depth, r.statementError(), d)
		ok := r.statementError() == "query-timeout limit exceeded" ||
			strings.HasPrefix(r.statementError(), "max-query-memory limit exceeded") ||
			r.statementError() == "" && len(r.Results) == 1 && len(r.Results[0].Series) == 1 && len(r.Results[0].Series[0].Values) == 100
		if !ok || d > timeout+time.Second {
			t.Errorf("%d nested subqueries: %q after %v", depth, r.statementError(), d)
		}
	}

	// Ended by KILL QUERY, found through SHOW QUERIES.
	type answer struct {
		r queryReply
		d time.Duration
	}
	killed := make(chan answer, 1)
	go func() {
		_, r, d := postQuery(t, s.url, "hostile", slow, 30*time.Second)
		killed <- answer{r, d}
	}()
	var qid float64
	waitFor(t, timeout, func() error {
		_, r, d := postQuery(t, s.url, "hostile", "SHOW QUERIES", 5*time.Second)
		if d > time.Second {
			t.Errorf("SHOW QUERIES took %v", d)
		}
		if len(r.Results) == 0 || len(r.Results[0].Series) == 0 {
			return fmt.Errorf("SHOW QUERIES: %+v", r)
		}
		for _, row := range r.Results[0].Series[0].Values {
			text, _ := row[1].(string)
			if strings.HasPrefix(text, "SELECT v FROM big WHERE v = 1000000 OR ") {
				if len(text) > 4096 || !strings.HasSuffix(text, "...") {
					t.Errorf("SHOW QUERIES shows %d bytes of the statement", len(text))
				}
				qid, _ = row[0].(float64)
				return nil
			}
		}
		return fmt.Errorf("the slow query is not listed yet")
	}, s)
	killedAt := time.Now()
	if _, r, _ := postQuery(t, s.url, "hostile", fmt.Sprintf("KILL QUERY %d", int64(qid)), 5*time.Second); r.statementError() != "" {
		t.Fatalf("KILL QUERY: %q", r.statementError())
	}
	select {
	case a := <-killed:
		if a.r.statementError() != "query interrupted" {
			t.Errorf("killed query: %q", a.r.statementError())
		}
		t.Logf("killed query: %q, %v after KILL QUERY", a.r.statementError(), time.Since(killedAt))
		if d := time.Since(killedAt); d > time.Second {
			t.Errorf("killed query answered %v after KILL QUERY", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("killed query still running after 10s")
	}
	v.check(t, 2*time.Second)
}
