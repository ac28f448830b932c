package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileQueriesStayWithinMemory runs, at reduced scale, the three
// queries that exhausted the server's memory (issue 10, item 8): SELECT *
// over 500 k rows (whole and chunked), 2,000 dashboard statements in one
// request, and SELECT * FROM /.*/ GROUP BY * LIMIT 1000000000 over
// 100 k series. For each, the server's peak RSS (VmHWM, reset before the
// case) must stay under a bound, the answer must be complete or a
// statement error naming the memory limit, and another client's small
// query must keep answering.
func TestHostileQueriesStayWithinMemory(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	s := startServer(t, dir, addr)
	query(t, s.url, "CREATE DATABASE h")
	const hosts, steps, series = 5, 100_000, 100_000
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	var body bytes.Buffer
	flush := func() {
		resp, err := http.Post(s.url+"/write?db=h&precision=s", "text/plain", bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write: %s", resp.Status)
		}
		body.Reset()
	}
	for i := 0; i < steps; i++ {
		for h := 0; h < hosts; h++ {
			fmt.Fprintf(&body, "big,host=h%d v=%d.5,w=%di,s=\"x%d\" %d\n", h, i, i, i%10, start+int64(i))
		}
		if body.Len() > 1<<20 {
			flush()
		}
	}
	for i := 0; i < series; i++ {
		fmt.Fprintf(&body, "many,id=%d,rack=r%d v=%d %d\n", i, i%50, i, start)
		if body.Len() > 1<<20 {
			flush()
		}
	}
	fmt.Fprintf(&body, "small v=1 %d\n", start)
	flush()

	t.Logf("after loading %d rows and %d series: VmHWM %d MiB", hosts*steps, series, vmHWM(t, s.cmd.Process.Pid)>>20)

	var dashboard []string
	for i := 0; i < 2000; i++ {
		from := time.Unix(start+int64(i%50)*600, 0).UTC().Format(time.RFC3339)
		to := time.Unix(start+int64(i%50)*600+3600, 0).UTC().Format(time.RFC3339)
		dashboard = append(dashboard, fmt.Sprintf("SELECT mean(v), max(w) FROM big WHERE time >= '%s' AND time < '%s' GROUP BY time(10s), host", from, to))
	}
	cases := []struct {
		name, q string
		chunked bool
		rows    int // the complete answer's rows, when it is complete
	}{
		{"SELECT * over 500k rows, chunked", "SELECT * FROM big", true, hosts * steps},
		{"SELECT * over 500k rows", "SELECT * FROM big", false, hosts * steps},
		{"2,000 dashboard statements", strings.Join(dashboard, ";"), false, -1},
		{"GROUP BY * over 100k series, LIMIT 1e9", "SELECT * FROM /.*/ GROUP BY * LIMIT 1000000000", false, hosts*steps + series + 1},
		{"GROUP BY * over 100k series, LIMIT 1e9, chunked", "SELECT * FROM /.*/ GROUP BY * LIMIT 1000000000", true, hosts*steps + series + 1},
	}
	// The peak over a server just started on the data: the default
	// budgets (64 MiB per query) and the runtime's slack around them.
	const bound = 160 << 20
	rejected := int64(0)
	for _, tc := range cases {
		// A fresh server for each case: the Go runtime keeps the memory
		// of the case before, so each peak is measured from a restart.
		rejected += debugVar(t, s.url, "queryMemoryRejected")
		s.stop(t)
		s = startServer(t, dir, addr)
		pid := s.cmd.Process.Pid
		resetPeak(t, pid)
		base := vmHWM(t, pid)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var slowest time.Duration
		var smallErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				got, err := smallQuery(s.url)
				if d := time.Since(t0); d > slowest {
					slowest = d
				}
				if err == nil && !strings.Contains(got, `"values":[[`) {
					err = fmt.Errorf("small query answered %s", got)
				}
				if err != nil {
					smallErr = err
					return
				}
			}
		}()
		t0 := time.Now()
		rows, errs, err := bigQuery(s.url, tc.q, tc.chunked)
		elapsed := time.Since(t0)
		close(stop)
		wg.Wait()
		peak := vmHWM(t, pid)
		summary := map[string]int{}
		for _, e := range errs {
			summary[e]++
		}
		t.Logf("%s: %v, %d rows, errors %v; VmHWM %d MiB (from %d MiB); small query at most %v",
			tc.name, elapsed.Round(time.Millisecond), rows, summary, peak>>20, base>>20, slowest.Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if smallErr != nil {
			t.Errorf("%s: another client's small query: %v", tc.name, smallErr)
		}
		if slowest > 5*time.Second {
			t.Errorf("%s: another client's small query took %v", tc.name, slowest)
		}
		if peak-base > bound {
			t.Errorf("%s: peak RSS grew by %d MiB, more than %d MiB", tc.name, (peak-base)>>20, bound>>20)
		}
		for _, e := range errs {
			if !strings.HasPrefix(e, "max-query-memory limit exceeded") && e != "not executed" {
				t.Errorf("%s: statement error %q", tc.name, e)
			}
		}
		switch {
		case tc.chunked && len(errs) > 0:
			t.Errorf("%s: a chunked answer needs no budget for its rows", tc.name)
		case len(errs) == 0 && tc.rows >= 0 && rows != tc.rows:
			t.Errorf("%s: %d rows, want %d", tc.name, rows, tc.rows)
		}
	}
	if rejected += debugVar(t, s.url, "queryMemoryRejected"); rejected == 0 {
		t.Errorf("no rejection counted in /debug/vars")
	}
	s.stop(t)
}

// smallQuery is another client's quick question.
func smallQuery(base string) (string, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(base + "/query?" + url.Values{"db": {"h"}, "q": {"SELECT last(v) FROM small"}}.Encode())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// bigQuery runs q and counts the rows of its answer without keeping it,
// returning the statement errors.
func bigQuery(base, q string, chunked bool) (rows int, errs []string, err error) {
	form := url.Values{"db": {"h"}, "q": {q}, "epoch": {"s"}}
	if chunked {
		form.Set("chunked", "true")
	}
	resp, err := http.PostForm(base+"/query", form)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	// Rows are the "[<epoch>," openings of value arrays; errors are
	// "error":"..." fields. Scanned as a stream: an answer may be large.
	r := bufio.NewReaderSize(resp.Body, 1<<16)
	var window []byte
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			return rows, errs, nil
		}
		if err != nil {
			return rows, errs, err
		}
		window = append(window, b)
		if len(window) > 4096 {
			window = window[len(window)-64:]
		}
		switch {
		case b == '[' && len(window) >= 2 && (window[len(window)-2] == '[' || window[len(window)-2] == ','):
			if p, _ := r.Peek(1); len(p) == 1 && p[0] >= '0' && p[0] <= '9' && (len(window) < 3 || window[len(window)-2] == '[' || window[len(window)-3] == ']') {
				rows++
			}
		case bytes.HasSuffix(window, []byte(`"error":"`)):
			msg, _ := r.ReadString('"')
			errs = append(errs, strings.TrimSuffix(msg, `"`))
			window = window[:0]
		}
	}
}

// vmHWM returns the process's peak resident set size, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	return rssKB(t, pid, "VmHWM") << 10
}

// debugVar reads one httpd counter from /debug/vars.
func debugVar(t *testing.T, base, name string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	key := `"` + name + `":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		t.Fatalf("/debug/vars has no %s", name)
	}
	rest := b[i+len(key):]
	j := bytes.IndexAny(rest, ",}")
	v, _ := strconv.ParseInt(string(bytes.TrimSpace(rest[:j])), 10, 64)
	return v
}
