package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/wal"
)

// fakeDisk stands in for statfs: the free and total bytes tests set.
type fakeDisk struct{ free, total atomic.Int64 }

func newFakeDisk(free int64) *fakeDisk {
	d := &fakeDisk{}
	d.free.Store(free)
	d.total.Store(64 << 30)
	return d
}

func (d *fakeDisk) statfs(string) (int64, int64, error) { return d.free.Load(), d.total.Load(), nil }

var errNoSpace = fmt.Errorf("write block file: %w", syscall.ENOSPC)

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flushFailsWhile is a flushShard seam that fails with ENOSPC while full
// is set and lets the real flush run otherwise.
func flushFailsWhile(full *atomic.Bool) func(*shard, *head) error {
	return func(*shard, *head) error {
		if full.Load() {
			return errNoSpace
		}
		return nil
	}
}

// flushedAndHealthy: every head is flushed, the WAL is down to its
// current segment and the engine has left the disk-full state.
func flushedAndHealthy(e *Engine) bool {
	return len(e.wal.Segments()) == 1 && e.headBytes.Load() == 0 && e.Health() == nil
}

// checkReplayedAfterCrash abandons e as a crash would and checks that an
// engine reopened on dir replays every acknowledged write.
func (m *writeModel) checkReplayedAfterCrash(t *testing.T, e *Engine, dir string) {
	t.Helper()
	e.abandon()
	e = openTest(t, dir, nil)
	defer e.Close()
	m.check(t, "replayed", e)
}

func writeCPU(e *Engine, m *writeModel, i int) error {
	pts := cpuBatch(i)
	err := e.WriteBatch(&models.Batch{Database: "db", Points: pts})
	if err == nil {
		m.acked(pts)
	}
	return err
}

// TestDiskFullIsReportedAndLeftWithoutRestart: a WAL append that hits a
// full disk puts the engine in the disk-full state (one ERROR naming what
// failed and the data directory, /health fails, counted), writes below
// the floor are refused with "disk nearly full", queries answer
// throughout, and once space is back the engine leaves the state by
// itself (one INFO) and takes writes again.
func TestDiskFullIsReportedAndLeftWithoutRestart(t *testing.T) {
	disk := newFakeDisk(1 << 30)
	var full atomic.Bool
	var log logBuffer
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) {
		o.statfs = disk.statfs
		o.Logger = log.logger()
		o.walAppend = func(w *wal.WAL, rec []byte) error {
			if full.Load() {
				return fmt.Errorf("wal: write segment 1: %w", syscall.ENOSPC)
			}
			return w.Append(rec)
		}
	})
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	var model writeModel
	must(t, writeCPU(e, &model, 0))
	if err := e.Health(); err != nil {
		t.Fatalf("healthy engine reports %v", err)
	}

	full.Store(true)
	disk.free.Store(0)
	if err := writeCPU(e, &model, 1); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", err)
	}
	if err := e.Health(); err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("health on a full disk: %v", err)
	}
	st := e.Statistics()
	if st["diskFull"] != 1 || st["diskFullEntered"] != 1 {
		t.Fatalf("statistics on a full disk: %v", st)
	}
	err := writeCPU(e, &model, 2)
	var dfe *DiskFullError
	if !errors.As(err, &dfe) || !strings.HasPrefix(err.Error(), "disk nearly full: 0 bytes free") {
		t.Fatalf("write below the floor: %v", err)
	}
	model.check(t, "while full", e)

	full.Store(false)
	disk.free.Store(1 << 30)
	waitUntil(t, 10*time.Second, "leave the disk-full state", func() bool { return e.Health() == nil })
	must(t, writeCPU(e, &model, 3))
	model.check(t, "after recovery", e)
	st = e.Statistics()
	if st["diskFull"] != 0 || st["diskFullEntered"] != 1 || st["diskFullRecovered"] != 1 || st["writesRefusedDiskFull"] != 1 {
		t.Fatalf("statistics after recovery: %v", st)
	}
	text := log.String()
	if n := strings.Count(text, `level=ERROR msg="disk full:`); n != 1 {
		t.Fatalf("%d disk-full errors logged, want 1:\n%s", n, text)
	}
	for _, want := range []string{"failed=\"wal append\"", "data_dir=" + dir, "free_bytes=0", `level=INFO msg="disk space recovered`} {
		if !strings.Contains(text, want) {
			t.Fatalf("log lacks %q:\n%s", want, text)
		}
	}
}

// TestFlushIsRetriedUntilTheWALShrinks: a flush that fails on a full
// disk is retried in the background without anyone writing or calling
// Flush, and once it succeeds the WAL segments it covers are deleted;
// the writes acknowledged meanwhile survive a crash.
func TestFlushIsRetriedUntilTheWALShrinks(t *testing.T) {
	var full atomic.Bool
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) {
		o.statfs = newFakeDisk(1 << 30).statfs
		o.flushShard = flushFailsWhile(&full)
	})
	must(t, e.CreateDatabase("db"))
	var model writeModel
	for i := 0; i < 10; i++ {
		must(t, writeCPU(e, &model, i))
	}
	full.Store(true)
	if err := e.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk: %v", err)
	}
	if e.Health() == nil {
		t.Fatal("a flush failed on a full disk and the engine reports healthy")
	}
	for i := 10; i < 15; i++ {
		must(t, writeCPU(e, &model, i)) // the floor is not reached: writes go on
	}
	if n := len(e.wal.Segments()); n < 2 {
		t.Fatalf("%d segments", n)
	}
	model.check(t, "while full", e)
	full.Store(false)
	waitUntil(t, 15*time.Second, "the WAL trimmed to one segment with nothing left in memory", func() bool { return flushedAndHealthy(e) })
	model.checkReplayedAfterCrash(t, e, dir)
}

// TestFlushProgressesWhenTheRollFails: with no room for a new WAL
// segment the flush still writes the heads to blocks and deletes the
// segments before the current one (it used to return at the roll and
// keep everything); what it wrote and what is replayed agree after a
// crash (records of the current segment are replayed over their blocks).
func TestFlushProgressesWhenTheRollFails(t *testing.T) {
	var flushFull, rollFull atomic.Bool
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) {
		o.statfs = newFakeDisk(1 << 30).statfs
		o.flushShard = flushFailsWhile(&flushFull)
		o.walRoll = func(w *wal.WAL) (uint64, error) {
			if rollFull.Load() {
				return 0, fmt.Errorf("wal: roll: create segment: %w", syscall.ENOSPC)
			}
			return w.Roll()
		}
	})
	must(t, e.CreateDatabase("db"))
	var model writeModel
	for i := 0; i < 5; i++ {
		must(t, writeCPU(e, &model, i))
	}
	flushFull.Store(true)
	if err := e.Flush(); err == nil {
		t.Fatal("flush succeeded")
	}
	rollFull.Store(true)
	// The recovery loop retries the flush meanwhile: once a flush in
	// progress is done (flushMu), no roll succeeds any more.
	e.flushMu.Lock()
	segs := e.wal.Segments()
	e.flushMu.Unlock()
	if len(segs) < 2 {
		t.Fatalf("segments %v", segs)
	}
	current := segs[len(segs)-1]
	flushFull.Store(false)
	for round := 0; round < 2; round++ {
		err := e.Flush()
		if err == nil || !strings.Contains(err.Error(), "could not start a new segment") {
			t.Fatalf("round %d: flush with a failing roll: %v", round, err)
		}
		if got := e.wal.Segments(); !slices.Equal(got, []uint64{current}) {
			t.Fatalf("round %d: segments %v, want [%d]", round, got, current)
		}
		if n := e.headBytes.Load(); n != 0 {
			t.Fatalf("round %d: %d head bytes left after the flush", round, n)
		}
		model.check(t, "flushed", e)
		for i := 5 + 5*round; i < 10+5*round; i++ {
			must(t, writeCPU(e, &model, i))
		}
	}
	rollFull.Store(false)
	waitUntil(t, 15*time.Second, "leave the disk-full state", func() bool { return e.Health() == nil })
	model.checkReplayedAfterCrash(t, e, dir)
}

// TestPartialFlushDeletesTheSegmentsNoHeadNeeds: when one shard's head
// fails to flush, the segments older than every head still waiting are
// deleted anyway (they used to be kept until every shard succeeded).
func TestPartialFlushDeletesTheSegmentsNoHeadNeeds(t *testing.T) {
	var mode atomic.Int32 // 0: flushes succeed; 1: all fail; 2: the second shard's newer heads fail
	const hour = int64(time.Hour)
	second := int64(30 * 24 * hour) // a later 7-day shard
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) {
		o.statfs = newFakeDisk(1 << 30).statfs
		o.flushShard = func(s *shard, h *head) error {
			switch mode.Load() {
			case 1:
				return errNoSpace
			case 2:
				if s.start <= second && second < s.end && h.walStart != 0 {
					return errNoSpace
				}
			}
			return nil
		}
	})
	must(t, e.CreateDatabase("db"))
	var model writeModel
	write := func(ts int64, v float64) {
		pts := []models.Point{pt("m", hostA, ts, models.FloatField("v", v))}
		must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
		model.acked(pts)
	}
	write(hour, 1)
	write(second, 2)
	mode.Store(1)
	if err := e.Flush(); err == nil {
		t.Fatal("flush succeeded")
	}
	write(2*hour, 3)
	write(second+hour, 4)
	mode.Store(2)
	if err := e.Flush(); err == nil {
		t.Fatal("flush succeeded although the second shard's newer head failed")
	}
	if segs := e.wal.Segments(); segs[0] == 1 {
		t.Fatalf("segments %v: segment 1, held only by flushed heads, is still there", segs)
	}
	model.check(t, "partly flushed", e)
	mode.Store(0)
	waitUntil(t, 15*time.Second, "everything flushed", func() bool { return flushedAndHealthy(e) })
	model.checkReplayedAfterCrash(t, e, dir)
}

// TestFreeSpaceFloor: below min-free-disk-space writes are refused up
// front (a clear error, counted), queries answer, and writes resume once
// free space is back above the floor plus the reserve; a head whose
// blocks would not fit above the floor is flushed early.
func TestFreeSpaceFloor(t *testing.T) {
	const floor = 4 << 20
	disk := newFakeDisk(1 << 30)
	e := openTest(t, t.TempDir(), func(o *Options) { o.statfs = disk.statfs; o.MinFreeDiskSpace = floor })
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	var model writeModel
	must(t, writeCPU(e, &model, 0))

	// Early flush: free space would not hold the head's blocks twice over.
	flushes := e.Statistics()["flushes"]
	disk.free.Store(floor + e.headBytes.Load())
	e.checkDisk(true)
	waitUntil(t, 10*time.Second, "an early flush", func() bool { return e.Statistics()["flushes"] > flushes })
	if e.Health() != nil {
		t.Fatal("an early flush above the floor entered the disk-full state")
	}

	disk.free.Store(floor - 1)
	e.checkDisk(true)
	err := writeCPU(e, &model, 1)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("disk nearly full: %d bytes free", floor-1)) ||
		!strings.Contains(err.Error(), fmt.Sprintf("below min-free-disk-space %d", floor)) {
		t.Fatalf("write below the floor: %v", err)
	}
	if h := e.Health(); h == nil || !strings.Contains(h.Error(), "below min-free-disk-space") {
		t.Fatalf("health below the floor: %v", h)
	}
	model.check(t, "below the floor", e)
	disk.free.Store(1 << 30)
	waitUntil(t, 10*time.Second, "writes resume", func() bool { return e.Health() == nil })
	must(t, writeCPU(e, &model, 2))
	model.check(t, "resumed", e)
}

// TestReserveFile: the emergency reserve is written once there is room,
// deleted the moment the disk fills (so a flush can complete), written
// again after recovery, and released at Open when the disk is already
// full (so the WAL's new segment and the first flush have room).
func TestReserveFile(t *testing.T) {
	const reserve = 1 << 20
	disk := newFakeDisk(1 << 30)
	disk.total.Store(64 << 20) // caps the reserve at 4 MiB
	var full atomic.Bool
	var log logBuffer
	dir := t.TempDir()
	path := filepath.Join(dir, reserveFileName)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	opts := func(o *Options) {
		o.statfs = disk.statfs
		o.Logger = log.logger()
		o.DiskReserve = reserve
		o.MinFreeDiskSpace = 2 << 20
		o.walAppend = func(w *wal.WAL, rec []byte) error {
			if full.Load() {
				return fmt.Errorf("wal: %w", syscall.ENOSPC)
			}
			return w.Append(rec)
		}
	}
	e := openTest(t, dir, opts)
	must(t, e.CreateDatabase("db"))
	waitUntil(t, 10*time.Second, "the reserve written", func() bool {
		return size() == reserve && e.Statistics()["diskReserveBytes"] == reserve
	})
	var model writeModel
	full.Store(true)
	disk.free.Store(0)
	if err := writeCPU(e, &model, 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %v", err)
	}
	if size() != -1 || e.Statistics()["diskReserveBytes"] != 0 || !strings.Contains(log.String(), fmt.Sprintf("reserve_released_bytes=%d", reserve)) {
		t.Fatalf("reserve not released on a full disk (size %d):\n%s", size(), log.String())
	}
	full.Store(false)
	disk.free.Store(1 << 30)
	waitUntil(t, 10*time.Second, "recovery with the reserve written again", func() bool {
		return e.Health() == nil && size() == reserve
	})
	must(t, writeCPU(e, &model, 1))
	must(t, e.Close())

	disk.free.Store(0)
	e = openTest(t, dir, opts)
	defer e.Close()
	if size() != -1 || !strings.Contains(log.String(), "released the emergency reserve") {
		t.Fatalf("reserve kept at an Open on a full disk (size %d):\n%s", size(), log.String())
	}
	if e.Health() == nil {
		t.Fatal("opened on a full disk and reports healthy")
	}
	model.check(t, "reopened on a full disk", e)
}

// TestReserveSize: the reserve is the configured size, at most 1/16 of
// the file system, in whole 64 KiB units.
func TestReserveSize(t *testing.T) {
	for _, tc := range []struct {
		configured, total, want int64
	}{
		{16 << 20, 64 << 30, 16 << 20},
		{16 << 20, 32 << 20, 2 << 20},
		{16 << 20, 1<<20 + 5, 64 << 10},
		{16 << 20, 100 << 10, 0},
		{-1, 64 << 30, 0},
		{16 << 20, -1, 16 << 20}, // size of the file system unknown
	} {
		e := &Engine{opts: Options{DiskReserve: tc.configured}}
		e.disk.total.Store(tc.total)
		if got := e.reserveSize(); got != tc.want {
			t.Errorf("reserve %d on %d bytes: %d, want %d", tc.configured, tc.total, got, tc.want)
		}
	}
}

// TestColdShardsNearTheEndOfTime: a shard is fully compacted once it is
// an hour past its end; the last shard of time (ending at the largest
// timestamp) is not, although end + 1h overflows.
func TestColdShardsNearTheEndOfTime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		times  []int64
		blocks int // after compactColdShards
	}{
		{"cold", []int64{1e9, 2e9}, 1},
		{"last shard of time", []int64{lineproto.MaxNanoTime - 1, lineproto.MaxNanoTime}, 2},
		{"current", []int64{time.Now().UnixNano(), time.Now().UnixNano() + 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := openTest(t, t.TempDir(), nil)
			defer e.Close()
			must(t, e.CreateDatabase("db"))
			for i, ts := range tc.times {
				must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, ts, models.FloatField("v", float64(i)))}}))
				must(t, e.Flush())
			}
			e.compactColdShards(time.Now())
			e.mu.RLock()
			shards := e.dbs["db"].shards["autogen"]
			e.mu.RUnlock()
			if len(shards) != 1 {
				t.Fatalf("%d shards", len(shards))
			}
			shards[0].mu.RLock()
			n := len(shards[0].blocks)
			shards[0].mu.RUnlock()
			if n != tc.blocks {
				t.Fatalf("%d blocks after compacting cold shards, want %d", n, tc.blocks)
			}
		})
	}
}
