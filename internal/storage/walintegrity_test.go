package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/wal"
)

// logBuffer collects an engine's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// dumpAll reads every series of a database: series key -> field -> values.
func dumpAll(t *testing.T, e *Engine, db string) map[string]map[string][]value {
	t.Helper()
	ix, err := e.Index(db)
	must(t, err)
	out := map[string]map[string][]value{}
	for _, m := range ix.Measurements() {
		it := ix.MeasurementSeries(m).Iterator()
		for it.HasNext() {
			key, ok := ix.SeriesKey(uint64(it.Next()))
			if !ok {
				continue
			}
			if got := readAll(t, e, db, "", key); len(got) > 0 {
				out[key] = got
			}
		}
	}
	return out
}

// writeModel is what a test's writers were told: acknowledged points by
// series key and field, in time order (tests write each series in
// increasing time, one value per timestamp).
type writeModel struct {
	mu   sync.Mutex
	want map[string]map[string][]value
}

func (m *writeModel) acked(pts []models.Point) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.want == nil {
		m.want = map[string]map[string][]value{}
	}
	for _, p := range pts {
		key := string(models.AppendSeriesKey(nil, p.Measurement, p.Tags))
		if m.want[key] == nil {
			m.want[key] = map[string][]value{}
		}
		for _, f := range p.Fields {
			m.want[key][f.Key] = append(m.want[key][f.Key], value{p.Time, f.Float()})
		}
	}
}

func (m *writeModel) check(t *testing.T, stage string, e *Engine) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	got := dumpAll(t, e, "db")
	for key, fields := range m.want {
		for f, want := range fields {
			sortValues(want)
			if g := got[key][f]; fmt.Sprint(g) != fmt.Sprint(want) {
				t.Fatalf("%s: %s %s:\n got  %v\n want %v", stage, key, f, g, want)
			}
		}
	}
	for key, fields := range got {
		for f, g := range fields {
			if len(m.want[key][f]) != len(g) {
				t.Fatalf("%s: %s %s holds %d values nobody was told were written (%d acknowledged): %v",
					stage, key, f, len(g), len(m.want[key][f]), g)
			}
		}
	}
}

func sortValues(v []value) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j].t < v[j-1].t; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// failingAppends makes the WAL appends named by fail return ENOSPC without
// writing anything, as the WAL does when a write hits a full disk (it cuts
// the failed record off the file).
func failingAppends(fail func(n int) bool) func(w *wal.WAL, rec []byte) error {
	var n atomic.Int64
	return func(w *wal.WAL, rec []byte) error {
		if fail(int(n.Add(1))) {
			return fmt.Errorf("wal: append: %w", syscall.ENOSPC)
		}
		return w.Append(rec)
	}
}

// cpuBatch is a batch of points of many series (a few new ones each time)
// with values that compress against earlier batches.
func cpuBatch(i int) []models.Point {
	var pts []models.Point
	for h := 0; h < 20; h++ {
		tags := models.Tags{{Key: "host", Value: fmt.Sprintf("h%d", h)}}
		pts = append(pts, pt("cpu", tags, int64(i)*10e9, models.FloatField("idle", float64(i*20+h)/4), models.FloatField("user", float64(h))))
	}
	pts = append(pts, pt("only", models.Tags{{Key: "batch", Value: fmt.Sprint(i)}}, int64(i), models.FloatField("v", float64(i))))
	return pts
}

// TestFailedAppendLeavesNoTrace: a write whose WAL append fails (a full
// disk) is answered with the error and leaves nothing behind: not in
// queries, not in the index, not after a flush, not after a crash and a
// replay; the writes acknowledged after it (which must not refer to the
// failed record's compression history) come back exact after a crash.
func TestFailedAppendLeavesNoTrace(t *testing.T) {
	for _, flushAfterFailure := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush=%v", flushAfterFailure), func(t *testing.T) {
			dir := t.TempDir()
			const failAt = 6 // the 6th append (the CreateDatabase writes none)
			opts := func(o *Options) { o.walAppend = failingAppends(func(n int) bool { return n == failAt }) }
			e := openTest(t, dir, opts)
			must(t, e.CreateDatabase("db"))
			var model writeModel
			failed := -1
			for i := 0; i < 20; i++ {
				pts := cpuBatch(i)
				err := e.WriteBatch(&models.Batch{Database: "db", Points: pts})
				switch {
				case err == nil:
					model.acked(pts)
				case errors.Is(err, syscall.ENOSPC):
					failed = i
				default:
					t.Fatal(err)
				}
			}
			if failed != failAt-1 {
				t.Fatalf("batch %d failed, want batch %d", failed, failAt-1)
			}
			if n := e.Statistics()["walWriteFailures"]; n != 1 {
				t.Fatalf("walWriteFailures %d, want 1", n)
			}
			model.check(t, "live", e)
			ix, _ := e.Index("db")
			if _, ok := ix.Lookup([]byte(fmt.Sprintf("only,batch=%d", failed))); ok {
				t.Fatal("the failed write created its series")
			}
			if flushAfterFailure {
				must(t, e.Flush())
				model.check(t, "flushed", e)
				for i := 20; i < 25; i++ {
					pts := cpuBatch(i)
					must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
					model.acked(pts)
				}
			}
			e.abandon()
			var log logBuffer
			e = openTest(t, dir, func(o *Options) { o.Logger = log.logger() })
			defer e.Close()
			model.check(t, "replayed", e)
			if strings.Contains(log.String(), "level=ERROR") || e.Statistics()["walRecordsSkipped"] != 0 {
				t.Fatalf("replay reported errors:\n%s", log.String())
			}
		})
	}
}

// TestReplaySkipsUndecodableRecords: a record that cannot be decoded
// from what is on disk (one before it in its stream is missing, or its
// bytes decode to something else) is detected, logged and skipped with
// the rest of its stream, never applied as garbage; the other streams
// are replayed exact.
func TestReplaySkipsUndecodableRecords(t *testing.T) {
	garble := func(w *wal.WAL, rec []byte) error {
		bad := bytes.Clone(rec)
		bad[len(bad)-3] ^= 0x5a // inside the compressed data: passes the WAL's own checksum
		return w.Append(bad)
	}
	lose := func(w *wal.WAL, rec []byte) error { return nil }
	for _, tc := range []struct {
		name   string
		damage func(w *wal.WAL, rec []byte) error
	}{{"record lost", lose}, {"record garbled", garble}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			const damaged = 10
			var n atomic.Int64
			appendFn := func(w *wal.WAL, rec []byte) error {
				if n.Add(1) == damaged {
					return tc.damage(w, rec)
				}
				return w.Append(rec)
			}
			// Small streams: a few batches each.
			e := openTest(t, dir, func(o *Options) { o.walAppend = appendFn; o.streamRestartBytes = 4 << 10 })
			must(t, e.CreateDatabase("db"))
			batches := map[int][]models.Point{}
			for i := 0; i < 40; i++ {
				batches[i] = cpuBatch(i)
				must(t, e.WriteBatch(&models.Batch{Database: "db", Points: batches[i]}))
			}
			e.abandon()
			var log logBuffer
			e = openTest(t, dir, func(o *Options) { o.Logger = log.logger() })
			defer e.Close()
			if !strings.Contains(log.String(), "wal record skipped") {
				t.Fatalf("no damage reported:\n%s", log.String())
			}
			// The operator is told where the record is, to find its bytes.
			if !regexp.MustCompile(`wal record skipped.* record="segment \d+ offset \d+ \(\d+ bytes\)"`).MatchString(log.String()) {
				t.Fatalf("skipped record not located by segment and offset:\n%s", log.String())
			}
			// Every batch is there exact or absent whole (it was in the
			// damaged stream), the batches before the damage are there, and
			// some after it (in later streams) are too.
			got := dumpAll(t, e, "db")
			present := func(i int) bool {
				var one writeModel
				one.acked(batches[i])
				for key, fields := range one.want {
					for f, want := range fields {
						var have []value
						for _, v := range got[key][f] {
							if v.t == want[0].t {
								have = append(have, v)
							}
						}
						if len(have) == 0 {
							return false
						}
						if fmt.Sprint(have) != fmt.Sprint(want) {
							t.Fatalf("batch %d, %s %s: %v, want %v", i, key, f, have, want)
						}
					}
				}
				return true
			}
			var lost []int
			for i := 0; i < 40; i++ {
				if !present(i) {
					lost = append(lost, i)
				}
			}
			if len(lost) == 0 || lost[0] != damaged-1 || len(lost) > 12 {
				t.Fatalf("lost batches %v, want the damaged one (%d) and at most the rest of its stream", lost, damaged-1)
			}
			skippedRecords := len(lost) // one record per batch: they were written one at a time
			if tc.name == "record lost" {
				skippedRecords-- // the lost one is not on disk
			}
			if n := e.Statistics()["walRecordsSkipped"]; n != int64(skippedRecords) {
				t.Fatalf("walRecordsSkipped %d, want %d", n, skippedRecords)
			}
			for i := 1; i < len(lost); i++ {
				if lost[i] != lost[i-1]+1 {
					t.Fatalf("lost batches %v are not one stretch", lost)
				}
			}
			total := 0
			for _, fields := range got {
				for _, vs := range fields {
					total += len(vs)
				}
			}
			if want := (40 - len(lost)) * 41; total != want {
				t.Fatalf("%d values read, want %d: something nobody wrote was replayed", total, want)
			}
		})
	}
}

// TestRandomFailuresMatchTheAcknowledgedModel: concurrent writers, random
// failed appends (some while later records are already compressed), a
// flush now and then; after a crash every series holds exactly what was
// acknowledged.
func TestRandomFailuresMatchTheAcknowledgedModel(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			failEvery := 3 + r.IntN(8)
			var mu sync.Mutex
			fail := func(int) bool {
				mu.Lock()
				defer mu.Unlock()
				return r.IntN(failEvery) == 0
			}
			dir := t.TempDir()
			e := openTest(t, dir, func(o *Options) {
				o.walAppend = failingAppends(fail)
				o.streamRestartBytes = 1 << (10 + seed%8)
			})
			must(t, e.CreateDatabase("db"))
			var model writeModel
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Go(func() {
					for i := 0; i < 40; i++ {
						var pts []models.Point
						for k := 0; k < 1+i%7; k++ {
							tags := models.Tags{{Key: "w", Value: fmt.Sprint(w)}, {Key: "s", Value: fmt.Sprint((i + k) % 9)}}
							pts = append(pts, pt("m", tags, int64(i*10+k), models.FloatField("v", float64(w*1000+i*10+k)/8)))
						}
						err := e.WriteBatch(&models.Batch{Database: "db", Points: pts})
						if err == nil {
							model.acked(pts)
						} else if !errors.Is(err, syscall.ENOSPC) {
							t.Error(err)
							return
						}
						if w == 0 && i%13 == 12 {
							if err := e.Flush(); err != nil && !errors.Is(err, syscall.ENOSPC) {
								t.Error(err)
							}
						}
					}
				})
			}
			wg.Wait()
			model.check(t, "live", e)
			e.abandon()
			var log logBuffer
			e = openTest(t, dir, func(o *Options) { o.Logger = log.logger() })
			defer e.Close()
			model.check(t, "replayed", e)
			if strings.Contains(log.String(), "level=ERROR") {
				t.Fatalf("replay reported errors:\n%s", log.String())
			}
		})
	}
}

// streamRecords compresses groups into records, restarting the stream
// before the groups whose index is in restarts.
func streamRecords(t *testing.T, enc *walEncoder, groups []string, restarts ...int) [][]byte {
	t.Helper()
	var recs [][]byte
	for i, g := range groups {
		for _, r := range restarts {
			if r == i {
				enc.restart()
			}
		}
		rec, err := enc.record([]byte(g))
		must(t, err)
		recs = append(recs, rec)
	}
	return recs
}

// v1Records makes records as herd wrote them before records carried a
// check: one stream, kind 1 then 2, no seq and no checksum.
func v1Records(t *testing.T, groups []string) [][]byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(walWindow))
	must(t, err)
	var recs [][]byte
	for i, g := range groups {
		buf.Reset()
		kind := byte(walStreamNextV1)
		if i == 0 {
			kind = walStreamStartV1
		}
		buf.WriteByte(kind)
		enc.Write(append(binary.AppendUvarint(nil, uint64(len(g))), g...))
		must(t, enc.Flush())
		recs = append(recs, bytes.Clone(buf.Bytes()))
	}
	return recs
}

func TestWALStreamReaderChecksEveryRecord(t *testing.T) {
	// Every group of a stream repeats the same noise, so later records
	// refer back to the first one instead of holding it.
	groups := func(prefix string, n int) []string {
		r := rand.New(rand.NewPCG(uint64(prefix[0]), 1))
		noise := make([]byte, 300)
		for i := range noise {
			noise[i] = 'a' + byte(r.IntN(26))
		}
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s group %d: %s", prefix, i, noise))
		}
		return out
	}
	a := streamRecords(t, newWALEncoder(0), groups("a", 6), 4) // streams a0-a3, a4-a5
	other := streamRecords(t, newWALEncoder(0), groups("b", 3))
	for _, tc := range []struct {
		name    string
		recs    [][]byte
		want    string // groups applied, by first letter and number
		reports int
	}{
		{"intact", a, "a0 a1 a2 a3 a4 a5", 0},
		{"a record missing: the rest of its stream is skipped", [][]byte{a[0], a[1], a[3], a[4], a[5]}, "a0 a1 a4 a5", 1},
		{"decoded against another stream's history", [][]byte{a[0], other[1], a[4], a[5]}, "a0 a4 a5", 1},
		{"a stream without its start", [][]byte{a[2], a[3], a[4], a[5]}, "a4 a5", 1},
		{"truncated record", [][]byte{a[0], a[1][:len(a[1])-2], a[4]}, "a0 a4", 1},
		{"empty record", [][]byte{a[0], {}, a[1]}, "a0 a1", 1},
		{"unknown kind", [][]byte{{9, 1, 2}, a[0]}, "a0", 1},
		{"version 1 records", v1Records(t, groups("v", 3)), "v0 v1 v2", 0},
		{"version 1 then version 2", append(v1Records(t, groups("v", 2)), a[4], a[5]), "v0 v1 a4 a5", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var reports []string
			var mu sync.Mutex
			r := newWALStreamReader(func(g []byte) error {
				var prefix, n string
				fmt.Sscanf(string(g), "%s group %1s", &prefix, &n)
				got = append(got, prefix+n)
				return nil
			}, func(where string, err error) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, where+": "+err.Error())
			})
			for i, rec := range tc.recs {
				r.push(rec, fmt.Sprint("record ", i))
			}
			if err := r.finish(); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("groups %q, want %q", s, tc.want)
			}
			if len(reports) != tc.reports {
				t.Errorf("reports %q, want %d", reports, tc.reports)
			}
		})
	}
}

// FuzzWALStreamReader: whatever records replay meets, the reader never
// panics or hangs, and every group it hands on is one a record's
// checksum vouches for (or comes from a version 1 stream).
func FuzzWALStreamReader(f *testing.F) {
	enc := newWALEncoder(0)
	var seed []byte
	for i := 0; i < 4; i++ {
		rec, err := enc.record([]byte(fmt.Sprintf("group %d %s", i, strings.Repeat("xyz", 20))))
		if err != nil {
			f.Fatal(err)
		}
		seed = binary.AppendUvarint(seed, uint64(len(rec)))
		seed = append(seed, rec...)
	}
	f.Add(seed)
	f.Add([]byte{3, walStreamStart, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		checked := map[uint32]bool{}
		var recs [][]byte
		for len(b) > 0 {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				break
			}
			rec := b[k : k+int(n)]
			recs = append(recs, rec)
			if len(rec) > 0 && (rec[0] == walStreamStart || rec[0] == walStreamNext) {
				if _, m := binary.Uvarint(rec[1:]); m > 0 && len(rec) >= 1+m+4 {
					checked[binary.LittleEndian.Uint32(rec[1+m:])] = true
				}
			}
			b = b[k+int(n):]
		}
		v1 := false
		for _, rec := range recs {
			if len(rec) > 0 && rec[0] <= walStreamNextV1 {
				v1 = true
			}
		}
		r := newWALStreamReader(func(g []byte) error {
			if !v1 && !checked[crc32.Checksum(g, castagnoli)] {
				t.Errorf("group %q passed without a matching checksum", g)
			}
			return nil
		}, func(string, error) {})
		for i, rec := range recs {
			r.push(rec, fmt.Sprint(i))
		}
		r.finish()
	})
}

// TestReplayUsesTheRetentionCutoffOfTheWrite: a batch entry carries the
// time it was accepted at, so replay keeps a point that was within the
// retention window then (and acknowledged) even if it is beyond it at
// replay time, and drops one that was beyond it then, as the write did.
func TestReplayUsesTheRetentionCutoffOfTheWrite(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.CreateRetentionPolicy("db", models.RetentionPolicy{Name: "hour", Duration: time.Hour, Replication: 1}, false))
	must(t, e.Close())

	accepted := time.Now().Add(-2 * time.Hour).UnixNano()
	kept := pt("m", hostA, accepted-int64(30*time.Minute), models.FloatField("v", 1))    // 30 min old when written
	dropped := pt("m", hostA, accepted-int64(90*time.Minute), models.FloatField("v", 2)) // 90 min old when written
	group := []byte{walRecordVersion}
	group = appendWALBatchHeader(group, "db", "hour", accepted, 2)
	for _, p := range []models.Point{dropped, kept} {
		group = appendWALPoint(group, models.AppendSeriesKey(nil, p.Measurement, p.Tags), &p)
	}
	rec, err := newWALEncoder(0).record(group)
	must(t, err)
	w, err := wal.Open(wal.Options{Dir: filepath.Join(dir, "wal")})
	must(t, err)
	must(t, w.Replay(func([]byte) error { return nil }))
	must(t, w.Append(rec))
	must(t, w.Close())

	e = openTest(t, dir, nil)
	defer e.Close()
	got := readAll(t, e, "db", "hour", "m,host=a")["v"]
	if len(got) != 1 || got[0].t != kept.Time {
		t.Fatalf("replayed %v, want only the point at %d (within the window when it was written)", got, kept.Time)
	}
}

// TestReplayReproducesTheLiveState: writers race series deletions, a
// dropped measurement and a dropped database; since every entry is
// applied once durable, in WAL order, with the function replay uses,
// replaying the log after a crash gives exactly the state queries saw.
func TestReplayReproducesTheLiveState(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.CreateDatabase("db2"))
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Go(func() {
			for i := 0; i < 60; i++ {
				var pts []models.Point
				for k := 0; k < 5; k++ {
					tags := models.Tags{{Key: "s", Value: fmt.Sprint((i + k + w) % 6)}}
					pts = append(pts, pt([]string{"a", "b"}[k%2], tags, int64(w*1e6+i*10+k), models.FloatField("v", float64(i))))
				}
				for _, db := range []string{"db", "db2"} {
					err := e.WriteBatch(&models.Batch{Database: db, Points: pts})
					var nf *models.DatabaseNotFoundError
					if err != nil && !errors.As(err, &nf) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		ix, _ := e.Index("db")
		for i := 0; i < 20; i++ {
			if id, ok := ix.Lookup([]byte(fmt.Sprintf("a,s=%d", i%6))); ok {
				if err := e.DeleteSeries("db", []uint64{id}); err != nil {
					t.Error(err)
				}
			}
			switch i {
			case 7:
				if err := e.DropMeasurement("db", "b"); err != nil {
					t.Error(err)
				}
			case 12:
				if err := e.DropDatabase("db2"); err != nil {
					t.Error(err)
				}
			}
		}
	})
	wg.Wait()
	live := dumpAll(t, e, "db")
	e.abandon()
	e = openTest(t, dir, nil)
	defer e.Close()
	replayed := dumpAll(t, e, "db")
	for key := range live {
		if fmt.Sprint(replayed[key]) != fmt.Sprint(live[key]) {
			t.Errorf("%s after replay:\n got  %v\n want %v", key, replayed[key], live[key])
		}
	}
	for key := range replayed {
		if live[key] == nil {
			t.Errorf("%s is back after replay: %v", key, replayed[key])
		}
	}
	if got := e.Databases(); fmt.Sprint(got) != "[db]" {
		t.Fatalf("databases after replay: %v", got)
	}
}

// TestShardCreationFailureLeavesNoTrace: a batch whose new shard cannot
// be created (a full disk; here a file in the way) fails whole, before
// its WAL record: none of its points lands, not even those in shards that
// exist, and replay brings none back.
func TestShardCreationFailureLeavesNoTrace(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 500, models.FloatField("v", 1))}}))
	week := int64(models.DefaultShardDuration(0))
	later := 4*week + 5
	blocker := filepath.Join(e.dbDir("db"), "autogen", shardDirName(4*week, 5*week))
	must(t, os.WriteFile(blocker, nil, 0o644))
	err := e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", hostA, 1000, models.FloatField("v", 2)), pt("m", hostA, later, models.FloatField("v", 3))}})
	if err == nil {
		t.Fatal("the write whose shard cannot be created succeeded")
	}
	want := "[{500 1}]"
	if got := readAll(t, e, "db", "", "m,host=a")["v"]; fmt.Sprint(got) != want {
		t.Fatalf("after the failed write: %v, want %s", got, want)
	}
	e.abandon()
	must(t, os.Remove(blocker))
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := readAll(t, e, "db", "", "m,host=a")["v"]; fmt.Sprint(got) != want {
		t.Fatalf("after replay: %v, want %s", got, want)
	}
}
