package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dfrFill writes a file of zeros until the file system is full.
func dfrFill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Sync()
	return n
}

func dfrDirSize(t *testing.T, dir string) (int64, []string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	var names []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		total += fi.Size()
		names = append(names, e.Name())
	}
	return total, names
}

// dfrVars returns the storage section of /debug/vars.
func dfrVars(t *testing.T, base string) map[string]int64 {
	t.Helper()
	resp, err := http.Get(base + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Storage struct {
			Values map[string]int64 `json:"values"`
		} `json:"storage"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.Storage.Values
}

// dfrHealth returns /health's status code and body.
func dfrHealth(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// dfrWriter sends batches of points with distinct times and random
// values (they compress poorly, so they take real room) and remembers
// the acknowledged ones.
type dfrWriter struct {
	base   string
	next   int64 // next timestamp, seconds
	rng    *rand.Rand
	points int
	sum    float64
}

func (w *dfrWriter) batch(t *testing.T, lines int) (int, string) {
	t.Helper()
	var b strings.Builder
	var sum float64
	for i := 0; i < lines; i++ {
		v := w.rng.Float64()
		sum += v
		fmt.Fprintf(&b, "m,host=h%d v=%v %d\n", i%100, v, w.next+int64(i/100))
	}
	w.next += int64(lines/100 + 1)
	resp, err := http.Post(w.base+"/write?db=x&precision=s", "text/plain", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNoContent {
		w.points += lines
		w.sum += sum
	}
	return resp.StatusCode, string(body)
}

// check asserts that the server holds exactly the acknowledged points.
func (w *dfrWriter) check(t *testing.T, stage string) {
	t.Helper()
	resp, err := http.PostForm(w.base+"/query", url.Values{"db": {"x"}, "epoch": {"s"}, "q": {"SELECT count(v), sum(v) FROM m"}})
	if err != nil {
		t.Fatalf("%s: query: %v", stage, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out := string(b)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: query: %s %s", stage, resp.Status, out)
	}
	var res struct {
		Results []struct {
			Series []struct {
				Values [][]float64 `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Results) != 1 || len(res.Results[0].Series) != 1 {
		t.Fatalf("%s: query answer %s (%v)", stage, out, err)
	}
	row := res.Results[0].Series[0].Values[0]
	if int(row[1]) != w.points || math.Abs(row[2]-w.sum) > 1e-6*math.Max(1, w.sum) {
		t.Fatalf("%s: server holds %v points summing to %v; acknowledged %d summing to %v", stage, row[1], row[2], w.points, w.sum)
	}
}

// TestDiskFullRecoversWithoutRestart runs the real binary with its data
// directory on a 32 MiB ext4 and default settings: once the disk is
// full, writes fail with a 5xx, /health fails and queries still answer;
// once space is freed, the server recovers by itself (no restart):
// writes get 204 again, /health passes, the WAL segments the recovery
// flush covered are deleted, and exactly the acknowledged points are
// there, also after a restart.
func TestDiskFullRecoversWithoutRestart(t *testing.T) {
	mnt := mountSmallExt4(t, 32<<20)
	dataDir := filepath.Join(mnt, "data")
	s := startServer(t, dataDir, freePort(t))
	query(t, s.url, "CREATE DATABASE x")
	waitFor(t, 10*time.Second, func() error {
		if n := dfrVars(t, s.url)["diskReserveBytes"]; n == 0 {
			return errors.New("no emergency reserve written")
		}
		return nil
	}, s)

	w := &dfrWriter{base: s.url, next: 1_700_000_000, rng: rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 40; i++ {
		if code, body := w.batch(t, 5000); code != http.StatusNoContent {
			t.Fatalf("write %d before the disk filled: %d %s", i, code, body)
		}
	}
	w.check(t, "before the disk filled")

	filler := filepath.Join(mnt, "filler")
	dfrFill(t, filler)
	var lastErr string
	for i := 0; ; i++ {
		code, body := w.batch(t, 5000)
		if code >= 500 {
			lastErr = body
			break
		}
		if i == 100 {
			t.Fatalf("writes still accepted on a full disk: %d %s", code, body)
		}
	}
	if !strings.Contains(lastErr, "no space left on device") && !strings.Contains(lastErr, "disk nearly full") {
		t.Fatalf("write on a full disk: %s", lastErr)
	}
	waitFor(t, 10*time.Second, func() error {
		code, body := dfrHealth(t, s.url)
		if code != http.StatusServiceUnavailable || body["status"] != "fail" || !strings.Contains(fmt.Sprint(body["message"]), "disk full") {
			return fmt.Errorf("/health on a full disk: %d %v", code, body)
		}
		return nil
	}, s)
	for i := 0; i < 3; i++ {
		if code, body := w.batch(t, 100); code < 500 || !strings.Contains(body, `"error"`) {
			t.Fatalf("write while the disk is full: %d %s", code, body)
		}
	}
	if resp, err := http.Get(s.url + "/ping"); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("ping on a full disk: %v %v", err, resp)
	}
	w.check(t, "while the disk is full")
	if n := dfrVars(t, s.url)["diskReserveBytes"]; n != 0 {
		t.Fatalf("the emergency reserve (%d bytes) was not released on the full disk", n)
	}
	walDir := filepath.Join(dataDir, "wal")
	walFull, segsFull := dfrDirSize(t, walDir)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 20*time.Second, func() error {
		if code, body := w.batch(t, 100); code != http.StatusNoContent {
			return fmt.Errorf("write after space was freed: %d %s", code, body)
		}
		return nil
	}, s)
	t.Logf("writes accepted again %v after space was freed", time.Since(start).Round(time.Millisecond))
	if code, body := dfrHealth(t, s.url); code != http.StatusOK || body["status"] != "pass" {
		t.Fatalf("/health after recovery: %d %v", code, body)
	}
	walAfter, segsAfter := dfrDirSize(t, walDir)
	for _, name := range segsFull {
		for _, still := range segsAfter {
			if name == still && name != segsFull[len(segsFull)-1] {
				t.Fatalf("WAL segment %s, covered by the recovery flush, is still there (%v, was %v)", name, segsAfter, segsFull)
			}
		}
	}
	if walAfter >= walFull {
		t.Fatalf("WAL holds %d bytes after recovery, %d while full", walAfter, walFull)
	}
	t.Logf("WAL: %d bytes in %v while full, %d bytes in %v after recovery", walFull, segsFull, walAfter, segsAfter)
	w.check(t, "after recovery")
	vars := dfrVars(t, s.url)
	if vars["diskFull"] != 0 || vars["diskFullEntered"] < 1 || vars["diskFullRecovered"] < 1 || vars["diskReserveBytes"] == 0 {
		t.Fatalf("disk statistics after recovery: %v", vars)
	}
	log := s.logText()
	if !strings.Contains(log, `level=ERROR msg="disk full:`) || !strings.Contains(log, `level=INFO msg="disk space recovered`) {
		t.Fatalf("log lacks the disk-full error or the recovery:\n%s", log)
	}

	if testing.Verbose() {
		t.Logf("server log:\n%s", log)
	}
	s.stop(t)
	s = startServer(t, dataDir, freePort(t))
	defer s.stop(t)
	w.base = s.url
	w.check(t, "after a restart")
}
