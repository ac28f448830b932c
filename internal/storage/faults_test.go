package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/fsys"
	"github.com/herdmon/herd/internal/testutil"
)

// The fault-injection suite: a child process writes numbered points
// through a fsys.Faulty that fails one chosen disk operation with ENOSPC
// or EIO, it is killed with SIGKILL, and the data directory is reopened
// on the real file system and checked: every acknowledged point is there
// with its exact value, no point of a batch that failed is, nor any
// other. The operations are found by running the same workload once
// with a recording FS, so every kind of write and fsync of every
// component (WAL, flush, compaction, index, catalog) is covered.

// faultComponents name the files each part of the engine changes. The
// data directory is always called "herd", so the patterns hold in every
// run's temporary directory.
var faultComponents = []struct {
	name string
	path *regexp.Regexp
}{
	{"wal", regexp.MustCompile(`/wal/\d+$`)},
	{"wal dir", regexp.MustCompile(`/wal$`)},
	{"flush block", regexp.MustCompile(`/L0-[^/]*\.blk(\.tmp)?$`)},
	{"compaction block", regexp.MustCompile(`/L[1-9][^/]*\.blk(\.tmp)?$`)},
	{"shard dir", regexp.MustCompile(`/-?\d+_-?\d+$`)},
	{"fields.json", regexp.MustCompile(`/fields\.json(\.tmp)?$`)},
	{"index", regexp.MustCompile(`/index/series\.log(\.tmp)?$`)},
	{"index dir", regexp.MustCompile(`/index$`)},
	{"meta.json", regexp.MustCompile(`/meta\.json(\.tmp)?$`)},
	{"data dir", regexp.MustCompile(`/herd$`)},
}

const (
	faultWriters       = 2 // goroutines writing batches
	faultBatchesPerRnd = 3 // batches per writer per round
	faultPoints        = 10
	faultMaxRounds     = 40 // a chosen operation not reached by then fails the case
	// faultBaseRounds is the recorded workload: 9 flushes, 3 forced
	// compactions, 2 of the index log, and 2 databases created after the
	// first.
	faultBaseRounds = 9
)

// faultT0 puts every point in one shard, long past: cold, so the child
// can force full compactions.
var faultT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// faultBatch builds batch id: writer w's batch in its series for round
// r. Its values are a function of id, so the check can recompute them.
func faultBatch(id, round, w int) *models.Batch {
	pts := make([]models.Point, faultPoints)
	for i := range pts {
		pts[i] = models.Point{Measurement: "m",
			Tags: models.Tags{{Key: "r", Value: strconv.Itoa(round)}, {Key: "w", Value: strconv.Itoa(w)}},
			Time: faultT0 + int64(id*faultPoints+i),
			Fields: []models.Field{models.FloatField("f", faultFloat(id, i)), models.IntegerField("i", faultInt(id, i)),
				models.StringField("s", faultString(id, i))}}
	}
	return &models.Batch{Database: "db", Points: pts}
}

func faultFloat(id, i int) float64     { return float64(id) + float64(i)/16 + 1e-9*float64(i) }
func faultInt(id, i int) int64         { return int64(id)*1_000_003 - int64(i)*7 }
func faultString(id, i int) string     { return fmt.Sprintf("b%d.%d", id, i) }
func faultBatchID(round, w, k int) int { return round*100 + w*10 + k }

// faultChild is the writer process. HERD_FAULT_RULE is
// "op<TAB>path regexp<TAB>nth<TAB>times<TAB>ENOSPC|EIO" (see fsys.Rule);
// "record" instead lists every disk operation of a run of
// faultBaseRounds rounds. It reports one line per event on stdout.
func faultChild(dir string) {
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		line := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " | ") // errors.Join has newlines
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Println(line)
	}
	spec := os.Getenv("HERD_FAULT_RULE")
	record := spec == "record"
	var rules []fsys.Rule
	if !record {
		r, err := parseFaultRule(spec)
		if err != nil {
			say("badrule %v", err)
			os.Exit(2)
		}
		rules = append(rules, r)
	}
	ffs := fsys.NewFaulty(noFsync{}, record, rules...)
	var fired atomic.Bool
	ffs.OnFault = func(ev fsys.Event, err error) {
		fired.Store(true)
		say("fault %s %s: %v", ev.Op, ev.Path, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// No emergency reserve: it is written when a background tick finds
	// room, which would make the recorded operations vary between runs.
	e, err := Open(Options{Dir: dir, FS: ffs, HeadMaxBytes: 256 << 10, Logger: logger, DiskReserve: -1})
	if err != nil {
		say("openfail %v", err)
		say("done")
		select {}
	}
	// The database must exist for the writes; a catalog fault makes the
	// first try fail.
	for try := 0; ; try++ {
		if err := e.CreateDatabase("db"); err != nil {
			say("ddl fail db %v", err)
			if try == 3 {
				say("done")
				select {}
			}
			continue
		}
		say("ddl ok db")
		break
	}
	base := faultBaseRounds
	firedRound := -1
	for round := 0; round < faultMaxRounds; round++ {
		if round >= base && (record || firedRound >= 0 && round > firedRound+2) {
			break
		}
		var wg sync.WaitGroup
		var failedMu sync.Mutex
		var failed []int
		for w := 0; w < faultWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < faultBatchesPerRnd; k++ {
					id := faultBatchID(round, w, k)
					if err := e.WriteBatch(faultBatch(id, round, w)); err != nil {
						say("fail %d %v", id, err)
						failedMu.Lock()
						failed = append(failed, id)
						failedMu.Unlock()
					} else {
						say("ack %d", id)
					}
				}
			}()
		}
		wg.Wait()
		// A refused write must not be visible either, before or after the
		// flush that follows it.
		for _, id := range failed {
			if n := faultPointsOf(e, id); n > 0 {
				say("visible %d %d points before the flush", id, n)
			}
		}
		if err := e.Flush(); err != nil {
			say("flush fail %v", err)
		}
		if round%3 == 2 {
			e.compactColdShards(time.Now())
		}
		if round%4 == 3 {
			// Deletes compact the index log once it is mostly garbage;
			// force one, to reach its temp file, fsync and rename.
			if ix, err := e.Index("db"); err == nil {
				if err := ix.Compact(); err != nil {
					say("flush fail index compaction: %v", err)
				}
			}
		}
		if round%4 == 1 {
			name := fmt.Sprintf("c%d", round)
			if err := e.CreateDatabase(name); err != nil {
				say("ddl fail %s %v", name, err)
			} else {
				say("ddl ok %s", name)
			}
		}
		for _, id := range failed {
			if n := faultPointsOf(e, id); n > 0 {
				say("visible %d %d points after the flush", id, n)
			}
		}
		if firedRound < 0 && fired.Load() {
			firedRound = round
		}
		say("round %d", round)
	}
	for _, ev := range ffs.Events() {
		say("event %s %s", ev.Op, ev.Path)
	}
	say("done")
	select {} // wait for the kill
}

// faultPointsOf counts the values of batch id the engine serves.
func faultPointsOf(e *Engine, id int) int {
	ix, err := e.Index("db")
	if err != nil {
		return 0
	}
	var series []uint64
	for _, s := range ix.MeasurementSeries("m").ToArray() {
		series = append(series, uint64(s))
	}
	n := 0
	start := faultT0 + int64(id*faultPoints)
	e.Read(ReadRequest{Database: "db", SeriesIDs: series, MinTime: start, MaxTime: start + faultPoints - 1},
		func(_ uint64, _ string, col *block.Column) error {
			n += col.Len()
			return nil
		})
	return n
}

// noFsync is the OS without fsync. A kill -9 keeps the page cache, so
// the check needs no data on the platter, and a run of the suite needs
// thousands of fsyncs less. Faulty still sees, counts and fails them.
type noFsync struct{ fsys.OS }

func (noFsync) Sync(*os.File) error { return nil }

func parseFaultRule(spec string) (fsys.Rule, error) {
	parts := strings.Split(spec, "\t")
	if len(parts) != 5 {
		return fsys.Rule{}, fmt.Errorf("rule %q: want op, path, nth, times, errno separated by tabs", spec)
	}
	op, err := fsys.ParseOp(parts[0])
	if err != nil {
		return fsys.Rule{}, err
	}
	re, err := regexp.Compile(parts[1])
	if err != nil {
		return fsys.Rule{}, err
	}
	nth, err := strconv.Atoi(parts[2])
	if err != nil || nth < 1 {
		return fsys.Rule{}, fmt.Errorf("rule %q: bad occurrence %q", spec, parts[2])
	}
	times, err := strconv.Atoi(parts[3])
	if err != nil {
		return fsys.Rule{}, fmt.Errorf("rule %q: bad count %q", spec, parts[3])
	}
	errno := map[string]syscall.Errno{"ENOSPC": syscall.ENOSPC, "EIO": syscall.EIO}[parts[4]]
	if errno == 0 {
		return fsys.Rule{}, fmt.Errorf("rule %q: errno must be ENOSPC or EIO", spec)
	}
	return fsys.Rule{Op: op, Path: re, Nth: nth, Times: times, Err: errno}, nil
}

// faultRun is what a child reported before it was killed.
type faultRun struct {
	acked, failed  map[int]bool
	ddlOK, ddlFail map[string]bool
	faults         []string
	events         []fsys.Event
	lastRound      int // the last round the child finished
	faultRound     int // the round during which the first fault fired
	openFail       string
	stderr         *bytes.Buffer
}

// runFaultChild starts a writer child on dir with rule, reads its report
// until it says done, then kills it with SIGKILL.
func runFaultChild(t *testing.T, dir, rule string) *faultRun {
	t.Helper()
	cmd := testutil.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HERD_FAULT_CHILD_DIR="+dir, "HERD_FAULT_RULE="+rule)
	run := &faultRun{acked: map[int]bool{}, failed: map[int]bool{}, ddlOK: map[string]bool{}, ddlFail: map[string]bool{},
		lastRound: -1, stderr: &bytes.Buffer{}}
	cmd.Stderr = run.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child's output is read to its "done"; a child that dies first
	// closes the pipe, and a hung one is killed at the deadline.
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	done := false
	for !done && sc.Scan() {
		line := sc.Text()
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "ack", "fail":
			idText, _, _ := strings.Cut(rest, " ")
			id, err := strconv.Atoi(idText)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			if word == "ack" {
				run.acked[id] = true
			} else {
				run.failed[id] = true
			}
		case "ddl":
			verdict, rest, _ := strings.Cut(rest, " ")
			name, _, _ := strings.Cut(rest, " ")
			if verdict == "ok" {
				run.ddlOK[name] = true
			} else {
				run.ddlFail[name] = true
			}
		case "fault":
			if len(run.faults) == 0 {
				run.faultRound = run.lastRound + 1
			}
			run.faults = append(run.faults, rest)
		case "round":
			run.lastRound, _ = strconv.Atoi(rest)
		case "event":
			op, path, _ := strings.Cut(rest, " ")
			o, err := fsys.ParseOp(op)
			if err != nil {
				t.Fatal(err)
			}
			run.events = append(run.events, fsys.Event{Op: o, Path: path})
		case "openfail":
			run.openFail = rest
		case "done":
			done = true
		case "visible":
			t.Errorf("a refused write is served by the running engine: batch %s", rest)
		case "flush":
		default:
			t.Fatalf("child said %q", line)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if !done {
		t.Fatalf("child ended before reporting done; its stderr:\n%s", run.stderr)
	}
	return run
}

// checkFaultDir reopens dir on the real file system and checks it
// against what the child reported.
func checkFaultDir(t *testing.T, dir string, run *faultRun) {
	t.Helper()
	e, err := Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatalf("restart after the fault: %v", err)
	}
	defer e.Close()
	dbs := e.Databases()
	for name := range run.ddlOK {
		if !slices.Contains(dbs, name) {
			t.Errorf("database %s was created (acknowledged) but is gone after the restart", name)
		}
	}
	for name := range run.ddlFail {
		if slices.Contains(dbs, name) && !run.ddlOK[name] {
			t.Errorf("database %s failed to be created but exists after the restart", name)
		}
	}
	if !slices.Contains(dbs, "db") {
		if len(run.acked) > 0 {
			t.Fatalf("database db with %d acknowledged batches is gone", len(run.acked))
		}
		return
	}
	ix, err := e.Index("db")
	if err != nil {
		t.Fatal(err)
	}
	ids := ix.MeasurementSeries("m").ToArray()
	var series []uint64
	for _, id := range ids {
		series = append(series, uint64(id))
	}
	type key struct {
		id    int
		field string
	}
	counts := map[key]int{}
	wrong, extra := 0, map[int]bool{}
	err = e.Read(ReadRequest{Database: "db", SeriesIDs: series, MinTime: math.MinInt64, MaxTime: math.MaxInt64},
		func(_ uint64, field string, col *block.Column) error {
			for j, ts := range col.Times {
				n := int(ts - faultT0)
				id, i := n/faultPoints, n%faultPoints
				counts[key{id, field}]++
				if !run.acked[id] {
					extra[id] = true
					continue
				}
				ok := false
				switch field {
				case "f":
					ok = col.Floats[j] == faultFloat(id, i)
				case "i":
					ok = col.Integers[j] == faultInt(id, i)
				case "s":
					ok = col.Strings[j] == faultString(id, i)
				}
				if !ok {
					wrong++
					if wrong <= 3 {
						t.Errorf("batch %d point %d field %s has a value nobody wrote", id, i, field)
					}
				}
			}
			return nil
		})
	if err != nil {
		t.Fatalf("read after restart: %v", err)
	}
	missing := 0
	for id := range run.acked {
		for _, f := range []string{"f", "i", "s"} {
			if c := counts[key{id, f}]; c != faultPoints {
				missing++
				if missing <= 3 {
					t.Errorf("acknowledged batch %d: field %s has %d of %d points after the restart", id, f, c, faultPoints)
				}
			}
		}
	}
	var failedPresent, unknownPresent []int
	for id := range extra {
		if run.failed[id] {
			failedPresent = append(failedPresent, id)
		} else {
			unknownPresent = append(unknownPresent, id)
		}
	}
	slices.Sort(failedPresent)
	slices.Sort(unknownPresent)
	if len(failedPresent) > 0 {
		t.Errorf("%d batches answered with an error are present after the restart: %v", len(failedPresent), failedPresent)
	}
	if len(unknownPresent) > 0 {
		t.Errorf("%d batches nobody wrote are present: %v", len(unknownPresent), unknownPresent)
	}
	if missing > 0 || wrong > 0 {
		t.Errorf("%d acknowledged batch fields incomplete, %d wrong values (of %d acknowledged batches)", missing, wrong, len(run.acked))
	}
	// The restarted engine takes writes again.
	if err := e.WriteBatch(faultBatch(faultBatchID(faultMaxRounds+1, 0, 0), faultMaxRounds+1, 0)); err != nil {
		t.Errorf("write after the restart: %v", err)
	}
}

// faultCase is one operation to fail.
type faultCase struct {
	component string
	path      *regexp.Regexp
	op        fsys.Op
	nth       int
	times     int // consecutive matching operations that fail; 0: one
	errno     string
}

func (c faultCase) String() string {
	s := fmt.Sprintf("%s/%s#%d", strings.ReplaceAll(c.component, " ", "_"), c.op, c.nth)
	if c.times > 1 {
		s += fmt.Sprintf("x%d", c.times)
	}
	return s + "/" + c.errno
}

// faultCases lists, for every component and kind of operation the
// recorded run did, its first, middle and last occurrence (short: first
// and last), failing with ENOSPC and, for writes and fsyncs, with EIO.
func faultCases(events []fsys.Event, short bool) []faultCase {
	var cases []faultCase
	for _, comp := range faultComponents {
		counts := map[fsys.Op]int{}
		for _, ev := range events {
			if comp.path.MatchString(ev.Path) {
				counts[ev.Op]++
			}
		}
		for op := fsys.OpOpen; op <= fsys.OpMkdir; op++ {
			n := counts[op]
			if n == 0 {
				continue
			}
			nths := []int{1, (n + 1) / 2, n}
			if short {
				nths = []int{1, n}
			}
			errnos := []string{"ENOSPC"}
			if op == fsys.OpWrite || op == fsys.OpSync || op == fsys.OpSyncDir {
				errnos = append(errnos, "EIO")
			}
			seen := map[int]bool{}
			for k, nth := range nths {
				if seen[nth] {
					continue
				}
				seen[nth] = true
				// Alternate the errnos over the occurrences, so each
				// occurrence runs once and each errno is seen.
				cases = append(cases, faultCase{comp.name, comp.path, op, nth, 0, errnos[k%len(errnos)]})
			}
		}
	}
	// A disk that stays full for a while: every write of every component
	// fails, from a quarter, half and three quarters into the run, until
	// a flush worth of space is freed.
	writes := 0
	for _, ev := range events {
		if ev.Op == fsys.OpWrite {
			writes++
		}
	}
	for _, frac := range []int{1, 2, 3} {
		if short && frac != 2 {
			continue
		}
		cases = append(cases, faultCase{"full disk", regexp.MustCompile(`.`), fsys.OpWrite, max(1, writes*frac/4), 12, "ENOSPC"})
	}
	return cases
}

// TestFaultInjection fails every kind of disk change of every component
// once, kills the writer, restarts and checks the data.
func TestFaultInjection(t *testing.T) {
	start := time.Now()
	recDir := filepath.Join(t.TempDir(), "herd")
	rec := runFaultChild(t, recDir, "record")
	if len(rec.faults) > 0 || len(rec.failed) > 0 {
		t.Fatalf("the recording run failed: faults %v, %d failed batches; stderr:\n%s", rec.faults, len(rec.failed), rec.stderr)
	}
	checkFaultDir(t, recDir, rec)
	cases := faultCases(rec.events, testing.Short())
	// Every component must have been reached, or the workload is too small
	// to test it.
	reached := map[string]bool{}
	for _, c := range cases {
		reached[c.component] = true
	}
	for _, comp := range faultComponents {
		if !reached[comp.name] {
			t.Errorf("the workload never changed %s files", comp.name)
		}
	}
	t.Logf("%d disk operations recorded, %d fault cases", len(rec.events), len(cases))
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "herd")
			rule := strings.Join([]string{c.op.String(), c.path.String(), strconv.Itoa(c.nth), strconv.Itoa(c.times), c.errno}, "\t")
			run := runFaultChild(t, dir, rule)
			if len(run.faults) == 0 {
				t.Fatalf("operation %d of %s on %s files was not reached in %d rounds", c.nth, c.op, c.component, faultMaxRounds)
			}
			if c.component == "wal" && c.op == fsys.OpSync {
				// A failed WAL fsync leaves unknown bytes on disk: every
				// later write must fail until a restart.
				for id := range run.acked {
					if id/100 > run.faultRound {
						t.Errorf("batch %d was acknowledged after the WAL's fsync failed", id)
					}
				}
			}
			checkFaultDir(t, dir, run)
			if t.Failed() {
				t.Logf("faults (%d, first: %v); %d acked, %d failed; child stderr:\n%s", len(run.faults), run.faults[:min(len(run.faults), 2)], len(run.acked), len(run.failed), run.stderr)
			}
		})
	}
	t.Logf("fault suite took %v", time.Since(start).Round(time.Millisecond))
}
