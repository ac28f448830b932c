package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		segSize   int64
		delay     time.Duration
		n         int
		sizes     []int
		rollEvery int  // explicit Roll after every so many records; 0: never
		realSync  bool // fsync for real (the others test the format, not the disk)
	}{
		{name: "empty log", segSize: 1 << 20, n: 0, sizes: []int{1}},
		{name: "one record", segSize: 1 << 20, n: 1, sizes: []int{10}},
		{name: "empty records", segSize: 1 << 20, n: 5, sizes: []int{0}},
		{name: "many small, one segment", segSize: 1 << 20, n: 200, sizes: []int{1, 17, 100}, realSync: true},
		{name: "size rolls", segSize: 256, n: 120, sizes: []int{0, 5, 60, 200}},
		{name: "record larger than a segment", segSize: 64, n: 10, sizes: []int{1000, 3}},
		{name: "explicit rolls", segSize: 1 << 20, n: 100, sizes: []int{33}, rollEvery: 7},
		{name: "large records", segSize: 1 << 20, n: 4, sizes: []int{300 << 10, 1 << 20}},
		{name: "fsync delay", segSize: 512, delay: 5 * time.Millisecond, n: 200, sizes: []int{40}, realSync: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentSize: tc.segSize, FsyncDelay: tc.delay}
			recs := makeRecords(tc.n, tc.sizes...)
			h := noSyncHooks
			if tc.realSync {
				h = osHooks
			}
			w := openTest(t, opts, h)
			if got := replayAll(t, w); len(got) != 0 {
				t.Fatalf("fresh log replayed %d records", len(got))
			}
			for i, r := range recs {
				if err := w.Append(r); err != nil {
					t.Fatal(err)
				}
				if tc.rollEvery > 0 && (i+1)%tc.rollEvery == 0 {
					before := w.Segments()
					next, err := w.Roll()
					if err != nil {
						t.Fatal(err)
					}
					if next != before[len(before)-1]+1 {
						t.Fatalf("roll returned %d after segments %v", next, before)
					}
				}
			}
			st := w.Stats()
			if st.Records != uint64(tc.n) {
				t.Fatalf("stats records %d, want %d", st.Records, tc.n)
			}
			mustClose(t, w)

			for reopen := range 2 {
				w = openTest(t, opts, h)
				equalRecords(t, replayAll(t, w), recs)
				if st := w.Stats(); st.Repairs != 0 {
					t.Fatalf("reopen %d: %d repairs on a clean log", reopen, st.Repairs)
				}
				mustClose(t, w)
			}
			l := readLayout(t, dir)
			for i, size := range l.sizes {
				// Records never span segments, so only a segment whose
				// first batch was bigger than SegmentSize may exceed it.
				if size > tc.segSize && (i >= len(l.records) || size > int64(segmentHeaderSize+recordHeaderSize+slices.Max(tc.sizes))) {
					t.Fatalf("segment %d is %d bytes, SegmentSize %d", l.segs[i], size, tc.segSize)
				}
			}
		})
	}
}

func TestAppendAfterReplayContinues(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 300}
	var want [][]byte
	for round := range 4 {
		w := openTest(t, opts, noSyncHooks)
		equalRecords(t, replayAll(t, w), want)
		recs := makeRecords(20+round, 3, 50, 120)
		appendAll(t, w, recs)
		want = append(want, recs...)
		mustClose(t, w)
	}
}

// TestTruncateEveryOffset cuts the log (its segments seen as one byte
// string) at every offset, as a torn write at the end of the log would:
// the replay must be exactly the records that end at or before the cut,
// and the repaired log must keep accepting appends.
func TestTruncateEveryOffset(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	opts := Options{Dir: src, SegmentSize: 120}
	recs := makeRecords(11, 0, 1, 9, 30, 60)
	w := openTest(t, opts, noSyncHooks)
	appendAll(t, w, recs)
	mustClose(t, w)
	layout := readLayout(t, src)
	t.Logf("cutting a log of %d bytes in %d segments", layout.total, len(layout.segs))
	if len(layout.segs) < 3 {
		t.Fatalf("want a log of several segments, got %v", layout.segs)
	}
	more := makeRecords(2, 11)

	dir := filepath.Join(t.TempDir(), "cut")
	for cut := int64(0); cut <= layout.total; cut++ {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		i := 0 // the segment holding the cut
		for i+1 < len(layout.segs) && cut >= layout.starts[i+1] {
			i++
		}
		local := cut - layout.starts[i]
		for j := 0; j <= i; j++ {
			data, err := os.ReadFile(filepath.Join(src, segmentName(layout.segs[j])))
			if err != nil {
				t.Fatal(err)
			}
			if j == i {
				data = data[:local]
			}
			if err := os.WriteFile(filepath.Join(dir, segmentName(layout.segs[j])), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var want [][]byte
		clean := local == 0 || local == segmentHeaderSize
		for k, p := range layout.records {
			if p.gEnd <= cut {
				want = append(want, recs[k])
			}
			if p.seg == layout.segs[i] && p.end == local {
				clean = true
			}
		}

		w := openTest(t, Options{Dir: dir, SegmentSize: opts.SegmentSize}, noSyncHooks)
		got := replayAll(t, w)
		if len(got) != len(want) {
			t.Fatalf("cut at %d (segment %d offset %d): replayed %d records, want %d", cut, layout.segs[i], local, len(got), len(want))
		}
		equalRecords(t, got, want)
		if wantRepairs := map[bool]uint64{true: 0, false: 1}[clean]; w.Stats().Repairs != wantRepairs {
			t.Fatalf("cut at %d: %d repairs, want %d", cut, w.Stats().Repairs, wantRepairs)
		}
		appendAll(t, w, more)
		mustClose(t, w)

		w = openTest(t, Options{Dir: dir, SegmentSize: opts.SegmentSize}, noSyncHooks)
		equalRecords(t, replayAll(t, w), append(slices.Clone(want), more...))
		if r := w.Stats().Repairs; r != 0 {
			t.Fatalf("cut at %d: second open repaired %d times", cut, r)
		}
		mustClose(t, w)
	}
}

// TestCorruptByte flips one byte of one record's length, checksum or
// payload, or of a segment's magic, in the last segment and in a middle
// one (Prometheus's TestWALRepair_ReadingError), and checks that exactly
// the damaged record is lost: every record after it, in its segment and
// in later ones, is replayed, the hole is reported before the first of
// them, and the original segment is kept as *.corrupt.
func TestCorruptByte(t *testing.T) {
	t.Parallel()
	const perSeg = 4
	type field int
	const (
		lengthLow field = iota
		lengthHigh
		checksum
		payload
		magic
	)
	cases := []struct {
		name  string
		seg   int // index into the log's segments; -1: last with records
		rec   int // record index within that segment
		field field
	}{
		{name: "last segment first record length", seg: -1, rec: 0, field: lengthLow},
		{name: "last segment record length high byte", seg: -1, rec: 2, field: lengthHigh},
		{name: "last segment checksum", seg: -1, rec: 1, field: checksum},
		{name: "last segment last record payload", seg: -1, rec: 3, field: payload},
		{name: "last segment magic", seg: -1, field: magic},
		{name: "middle segment length", seg: 1, rec: 2, field: lengthLow},
		{name: "middle segment length high byte", seg: 1, rec: 0, field: lengthHigh},
		{name: "middle segment checksum", seg: 1, rec: 3, field: checksum},
		{name: "middle segment payload", seg: 1, rec: 1, field: payload},
		{name: "first segment magic", seg: 0, field: magic},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentSize: 1 << 20}
			w := openTest(t, opts, noSyncHooks)
			recs := makeRecords(4*perSeg, 25)
			for i, r := range recs {
				if i > 0 && i%perSeg == 0 {
					if _, err := w.Roll(); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			mustClose(t, w)
			layout := readLayout(t, dir)
			segIdx := tc.seg
			if segIdx < 0 {
				segIdx = len(recs)/perSeg - 1
			}
			lost := segIdx*perSeg + tc.rec
			target := layout.records[lost]
			off := target.start
			switch tc.field {
			case lengthHigh:
				off += 3
			case checksum:
				off += 5
			case payload:
				off += recordHeaderSize + 10
			case magic:
				off = 2
			}
			path := filepath.Join(dir, segmentName(layout.segs[segIdx]))
			original, _ := os.ReadFile(path)
			data := bytes.Clone(original)
			data[off] ^= 0xff
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}

			want := slices.Concat(recs[:lost], recs[lost+1:])
			if tc.field == magic {
				want = recs // the header is rewritten; every record verifies
			}
			w = openTest(t, opts, noSyncHooks)
			var got [][]byte
			var gaps []Gap
			gapBefore := -1
			err := w.ReplayWithGaps(func(rec []byte) error {
				got = append(got, bytes.Clone(rec))
				return nil
			}, func(g Gap) error {
				gaps = append(gaps, g)
				gapBefore = len(got)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			equalRecords(t, got, want)
			st := w.Stats()
			if st.Repairs != 1 || st.Corruptions != 1 {
				t.Fatalf("stats %+v, want 1 repair and 1 corruption", st)
			}
			if tc.field != magic {
				if want := uint64(perSeg - tc.rec - 1); st.RecordsRecovered != want {
					t.Fatalf("%d records recovered after the damage, want %d", st.RecordsRecovered, want)
				}
				if st.BytesQuarantined != uint64(target.end-target.start) {
					t.Fatalf("%d bytes quarantined, want the damaged record's %d", st.BytesQuarantined, target.end-target.start)
				}
				if lost+1 < len(recs) {
					if len(gaps) != 1 || gapBefore != lost || gaps[0].Segment != layout.segs[segIdx] || gaps[0].Offset != target.start {
						t.Fatalf("gaps %v before record %d, want one at segment %d offset %d before record %d",
							gaps, gapBefore, layout.segs[segIdx], target.start, lost)
					}
				} else if len(gaps) != 0 {
					t.Fatalf("gaps %v after the last record", gaps)
				}
			}
			aside, _ := filepath.Glob(filepath.Join(dir, "*"+corruptSuffix))
			if len(aside) != 1 {
				t.Fatalf("kept aside %v, want only the damaged segment", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
				t.Fatalf("%s does not hold the damaged segment's bytes", aside[0])
			}
			more := makeRecords(3, 8)
			appendAll(t, w, more)
			mustClose(t, w)
			w = openTest(t, opts, noSyncHooks)
			equalRecords(t, replayAll(t, w), append(slices.Clone(want), more...))
			if r := w.Stats().Repairs; r != 0 {
				t.Fatalf("second open: %d repairs", r)
			}
			mustClose(t, w)
			// Damage the repaired segment again: the first copy is never overwritten.
			rewritten, _ := os.ReadFile(path)
			rewritten[len(rewritten)-1] ^= 1
			os.WriteFile(path, rewritten, 0o644)
			w = openTest(t, opts, noSyncHooks)
			mustClose(t, w)
			if kept, _ := os.ReadFile(aside[0]); !bytes.Equal(kept, data) {
				t.Fatalf("a second repair overwrote %s", aside[0])
			}
			if again, _ := filepath.Glob(filepath.Join(dir, "*"+corruptSuffix+"*")); len(again) != 2 {
				t.Fatalf("after a second repair: %v, want two kept copies", again)
			}
		})
	}
}

// TestZeroedTail covers filesystems that extend a file with zeros or
// expose preallocated blocks after a crash.
func TestZeroedTail(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(data []byte) []byte
		lost    int // records lost at the end
		repairs uint64
	}{
		{name: "zeros appended", damage: func(d []byte) []byte { return append(d, make([]byte, 4096)...) }, repairs: 1},
		{name: "a few zeros appended", damage: func(d []byte) []byte { return append(d, make([]byte, 3)...) }, repairs: 1},
		{name: "last record zeroed", damage: func(d []byte) []byte { clear(d[len(d)-40:]); return d }, lost: 1, repairs: 1},
		{name: "last record header zeroed", damage: func(d []byte) []byte { clear(d[len(d)-40 : len(d)-32]); return d }, lost: 1, repairs: 1},
		{name: "whole segment zeroed", damage: func(d []byte) []byte { clear(d); return d }, lost: 5, repairs: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir}
			recs := makeRecords(5, 32)
			w := openTest(t, opts, noSyncHooks)
			appendAll(t, w, recs)
			mustClose(t, w)
			path := filepath.Join(dir, segmentName(1))
			data, _ := os.ReadFile(path)
			if err := os.WriteFile(path, tc.damage(data), 0o644); err != nil {
				t.Fatal(err)
			}
			w = openTest(t, opts, noSyncHooks)
			equalRecords(t, replayAll(t, w), recs[:len(recs)-tc.lost])
			if r := w.Stats().Repairs; r != tc.repairs {
				t.Fatalf("%d repairs, want %d", r, tc.repairs)
			}
			mustClose(t, w)
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		delay time.Duration
	}{
		{name: "fsync each batch"},
		{name: "fsync delay", delay: 2 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const writers, each = 8, 150
			dir := t.TempDir()
			opts := Options{Dir: dir, SegmentSize: 8 << 10, FsyncDelay: tc.delay}
			w := openTest(t, opts, osHooks)
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for i := range each {
						rec := fmt.Appendf(nil, "%d %d %s", g, i, bytes.Repeat([]byte{'x'}, i%97))
						if err := w.Append(rec); err != nil {
							t.Errorf("writer %d record %d: %v", g, i, err)
							return
						}
					}
				})
			}
			// Rolls race with the appends too.
			wg.Go(func() {
				for range 10 {
					if _, err := w.Roll(); err != nil {
						t.Errorf("roll: %v", err)
					}
				}
			})
			wg.Wait()
			st := w.Stats()
			mustClose(t, w)
			if st.Records != writers*each {
				t.Fatalf("stats records %d", st.Records)
			}
			t.Logf("%d records, %d fsyncs", st.Records, st.Fsyncs)

			w = openTest(t, opts, osHooks)
			next := make([]int, writers)
			for _, rec := range replayAll(t, w) {
				var g, i int
				if _, err := fmt.Sscanf(string(rec), "%d %d", &g, &i); err != nil {
					t.Fatalf("garbage record %q", rec)
				}
				if i != next[g] {
					t.Fatalf("writer %d: record %d replayed where %d was expected", g, i, next[g])
				}
				next[g]++
			}
			for g, n := range next {
				if n != each {
					t.Fatalf("writer %d: %d of %d records replayed", g, n, each)
				}
			}
			mustClose(t, w)
		})
	}
}

func TestFsyncDelayBatchesFsyncs(t *testing.T) {
	dir := t.TempDir()
	const delay = 200 * time.Millisecond
	w := openTest(t, Options{Dir: dir, FsyncDelay: delay}, osHooks)
	base := w.Stats().Fsyncs
	start := time.Now()
	recs := makeRecords(300, 64)
	appendAll(t, w, recs)
	// The records are in the OS already (a kill -9 loses nothing): a
	// second reader sees them before any fsync.
	layout := readLayout(t, dir)
	if len(layout.records) != len(recs) {
		t.Fatalf("%d records visible in the files before fsync, want %d", len(layout.records), len(recs))
	}
	eventually(t, 5*time.Second, func() bool { return w.Stats().Fsyncs > base })
	elapsed := time.Since(start)
	if got, limit := w.Stats().Fsyncs-base, uint64(elapsed/delay)+1; got > limit {
		t.Fatalf("%d fsyncs in %v with FsyncDelay %v", got, elapsed, delay)
	}
	mustClose(t, w)
	w = openTest(t, Options{Dir: dir}, osHooks)
	equalRecords(t, replayAll(t, w), recs)
	mustClose(t, w)
}

func TestFsyncErrorIsFatal(t *testing.T) {
	cases := []struct {
		name  string
		delay time.Duration
	}{
		{name: "fsync each batch"},
		{name: "fsync delay", delay: time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var mu sync.Mutex
			fail := false
			h := hooks{writeAt: osHooks.writeAt, sync: func(f *os.File) error {
				mu.Lock()
				defer mu.Unlock()
				if fail {
					return syscall.EIO
				}
				return f.Sync()
			}}
			w := openTest(t, Options{Dir: dir, FsyncDelay: tc.delay}, h)
			good := makeRecords(3, 10)
			appendAll(t, w, good)
			mu.Lock()
			fail = true
			mu.Unlock()
			var err error
			eventually(t, 5*time.Second, func() bool {
				err = w.Append([]byte("after failure"))
				return err != nil
			})
			if !errors.Is(err, ErrFatal) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("append after failed fsync: %v, want ErrFatal wrapping EIO", err)
			}
			mu.Lock()
			fail = false // even if the disk "recovers", the WAL must not
			mu.Unlock()
			if err := w.Append([]byte("x")); !errors.Is(err, ErrFatal) {
				t.Fatalf("later append: %v, want ErrFatal", err)
			}
			if _, err := w.Roll(); !errors.Is(err, ErrFatal) {
				t.Fatalf("roll: %v, want ErrFatal", err)
			}
			if err := w.Close(); !errors.Is(err, ErrFatal) {
				t.Fatalf("close: %v, want ErrFatal", err)
			}
			w = openTest(t, Options{Dir: dir}, osHooks)
			got := replayAll(t, w)
			if len(got) < len(good) {
				t.Fatalf("acknowledged records lost: %d < %d", len(got), len(good))
			}
			equalRecords(t, got[:len(good)], good)
			mustClose(t, w)
		})
	}
}

// TestWriteErrorIsUndone: a write that fails half-way (a full disk) fails
// only its own records and leaves no torn bytes behind, so appends resume
// once there is space again.
func TestWriteErrorIsUndone(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	full := false
	h := hooks{sync: osHooks.sync, writeAt: func(f *os.File, p []byte, off int64) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if full {
			n, _ := f.WriteAt(p[:len(p)/2], off)
			return n, syscall.ENOSPC
		}
		return f.WriteAt(p, off)
	}}
	w := openTest(t, Options{Dir: dir}, h)
	a := makeRecords(3, 100)
	appendAll(t, w, a)
	mu.Lock()
	full = true
	mu.Unlock()
	if err := w.Append(bytes.Repeat([]byte("lost"), 50)); !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFatal) {
		t.Fatalf("append on a full disk: %v, want ENOSPC and not fatal", err)
	}
	mu.Lock()
	full = false
	mu.Unlock()
	b := makeRecords(2, 7)
	appendAll(t, w, b)
	mustClose(t, w)
	w = openTest(t, Options{Dir: dir}, osHooks)
	equalRecords(t, replayAll(t, w), append(slices.Clone(a), b...))
	if r := w.Stats().Repairs; r != 0 {
		t.Fatalf("%d repairs: the failed write left bytes behind", r)
	}
	mustClose(t, w)
}

func TestRollAndRemoveBefore(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir}
	w := openTest(t, opts, noSyncHooks)
	appendAll(t, w, makeRecords(3, 10))
	next, err := w.Roll()
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Segments(); !slices.Equal(got, []uint64{1, 2}) || next != 2 {
		t.Fatalf("after roll: segments %v, next %d", got, next)
	}
	later := makeRecords(2, 20)
	appendAll(t, w, later)
	if err := w.RemoveBefore(next + 1); err == nil {
		t.Fatal("removing the current segment succeeded")
	}
	if err := w.RemoveBefore(next); err != nil {
		t.Fatal(err)
	}
	if got := w.Segments(); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("after remove: %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(1))); !os.IsNotExist(err) {
		t.Fatalf("segment 1 still on disk: %v", err)
	}
	if err := w.RemoveBefore(next); err != nil {
		t.Fatalf("removing nothing: %v", err)
	}
	mustClose(t, w)
	w = openTest(t, opts, noSyncHooks)
	equalRecords(t, replayAll(t, w), later)
	if got := w.Segments(); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("after reopen: %v", got)
	}
	mustClose(t, w)
}

func TestReplaySkipsRemovedSegments(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir}, noSyncHooks)
	appendAll(t, w, makeRecords(2, 5))
	mustClose(t, w)
	w = openTest(t, Options{Dir: dir}, noSyncHooks)
	if err := w.RemoveBefore(2); err != nil {
		t.Fatal(err)
	}
	if got := replayAll(t, w); len(got) != 0 {
		t.Fatalf("replayed %d records of a removed segment", len(got))
	}
	mustClose(t, w)
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir}, noSyncHooks)
	if err := w.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized record: %v", err)
	}
	stop := errors.New("stop")
	appendAll(t, w, makeRecords(2, 3))
	mustClose(t, w)
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := w.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := w.Roll(); !errors.Is(err, ErrClosed) {
		t.Fatalf("roll after close: %v", err)
	}

	w = openTest(t, Options{Dir: dir}, noSyncHooks)
	if err := w.Replay(func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("replay callback error: %v", err)
	}
	mustClose(t, w)

	// A segment from a newer format is refused, not "repaired" away.
	data, _ := os.ReadFile(filepath.Join(dir, segmentName(1)))
	data[7] = formatVersion + 1
	os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644)
	if _, err := open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("newer version: %v", err)
	}
	if _, err := Open(Options{}); err == nil {
		t.Fatal("open without a directory succeeded")
	}
}

func TestReplayDetectsLaterDamage(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir}, noSyncHooks)
	appendAll(t, w, makeRecords(3, 30))
	mustClose(t, w)
	w = openTest(t, Options{Dir: dir}, noSyncHooks)
	path := filepath.Join(dir, segmentName(1))
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	var ce *CorruptionError
	if err := w.Replay(func([]byte) error { return nil }); !errors.As(err, &ce) || ce.Segment != 1 {
		t.Fatalf("replay of a segment damaged after open: %v", err)
	}
	mustClose(t, w)
}

func TestOpenIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"00000007.corrupt", "README", "tmp.1", "0x12"} {
		os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "00000009"), 0o755)
	w := openTest(t, Options{Dir: dir}, noSyncHooks)
	if got := w.Segments(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("segments %v", got)
	}
	mustClose(t, w)
}

// failingReader returns EIO once it has handed out limit bytes, like a
// dead SD-card sector.
type failingReader struct {
	f     *os.File
	pos   int64
	limit int64
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.pos >= r.limit {
		return 0, syscall.EIO
	}
	p = p[:min(int64(len(p)), r.limit-r.pos)]
	n, err := r.f.Read(p)
	r.pos += int64(n)
	return n, err
}

// TestUnreadableSegment: an I/O error is not proof of bad bytes, so the
// segment is not truncated: its readable prefix is copied into a fresh
// segment, the original is kept as *.corrupt, later segments are still
// replayed, and the server starts.
func TestUnreadableSegment(t *testing.T) {
	cases := []struct {
		name      string
		seg       uint64 // segment whose reads fail
		recordIdx int    // reads fail inside this record of that segment
		segments  int
	}{
		{name: "middle segment", seg: 2, recordIdx: 1, segments: 3},
		{name: "last segment", seg: 3, recordIdx: 2, segments: 3},
		{name: "header", seg: 2, recordIdx: -1, segments: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			const perSeg = 3
			recs := makeRecords(tc.segments*perSeg, 20)
			w := openTest(t, Options{Dir: dir}, noSyncHooks)
			for i, r := range recs {
				if i > 0 && i%perSeg == 0 {
					if _, err := w.Roll(); err != nil {
						t.Fatal(err)
					}
				}
				appendAll(t, w, [][]byte{r})
			}
			mustClose(t, w)
			layout := readLayout(t, dir)
			original, _ := os.ReadFile(filepath.Join(dir, segmentName(tc.seg)))
			limit := int64(3) // inside the segment header
			keepRecs := int(tc.seg-1) * perSeg
			if tc.recordIdx >= 0 {
				limit = layout.records[keepRecs+tc.recordIdx].start + 5
				keepRecs += tc.recordIdx
			}
			h := noSyncHooks
			h.reader = func(f *os.File) io.Reader {
				if filepath.Base(f.Name()) == segmentName(tc.seg) {
					return &failingReader{f: f, limit: limit}
				}
				return f
			}
			w = openTest(t, Options{Dir: dir}, h)
			want := slices.Concat(recs[:keepRecs], recs[int(tc.seg)*perSeg:]) // later segments are still replayed
			equalRecords(t, replayAll(t, w), want)
			if r := w.Stats().Repairs; r != 1 {
				t.Fatalf("%d repairs, want 1", r)
			}
			kept, _ := os.ReadFile(filepath.Join(dir, segmentName(tc.seg)+corruptSuffix))
			if !bytes.Equal(kept, original) {
				t.Fatalf("the unreadable segment was not kept intact as %s", segmentName(tc.seg)+corruptSuffix)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, "*"+corruptSuffix))
			if len(aside) != 1 {
				t.Fatalf("moved aside %v, want only the unreadable segment", aside)
			}
			more := makeRecords(2, 9)
			appendAll(t, w, more)
			mustClose(t, w)
			w = openTest(t, Options{Dir: dir}, noSyncHooks)
			equalRecords(t, replayAll(t, w), append(want, more...))
			if r := w.Stats().Repairs; r != 0 {
				t.Fatalf("second open: %d repairs", r)
			}
			mustClose(t, w)
		})
	}
}

// TestCloseWhileAppending: appends racing with Close either succeed, and
// are then replayed, or fail with ErrClosed.
func TestCloseWhileAppending(t *testing.T) {
	for _, delay := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprintf("fsyncdelay=%v", delay), func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, Options{Dir: dir, SegmentSize: 4 << 10, FsyncDelay: delay}, osHooks)
			const writers = 6
			acked := make([]int, writers)
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for i := 0; ; i++ {
						err := w.Append(fmt.Appendf(nil, "%d %d", g, i))
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil {
							t.Errorf("append: %v", err)
							return
						}
						acked[g] = i + 1
					}
				})
			}
			eventually(t, 5*time.Second, func() bool { return w.Stats().Records >= 200 })
			mustClose(t, w)
			wg.Wait()
			w = openTest(t, Options{Dir: dir}, osHooks)
			got := make([]int, writers)
			for _, rec := range replayAll(t, w) {
				var g, i int
				fmt.Sscanf(string(rec), "%d %d", &g, &i)
				if i != got[g] {
					t.Fatalf("writer %d: record %d after %d", g, i, got[g])
				}
				got[g]++
			}
			for g := range writers {
				if got[g] < acked[g] {
					t.Fatalf("writer %d: %d replayed, %d acknowledged", g, got[g], acked[g])
				}
			}
			mustClose(t, w)
		})
	}
}

// TestRepairFailureLeavesSegmentWhole: if rewriting a damaged segment
// fails (a full disk), Open fails, the segment is left exactly as it was,
// no temp file stays behind, and the next Open repairs it.
func TestRepairFailureLeavesSegmentWhole(t *testing.T) {
	dir := t.TempDir()
	recs := makeRecords(6, 40)
	w := openTest(t, Options{Dir: dir}, noSyncHooks)
	appendAll(t, w, recs)
	mustClose(t, w)
	layout := readLayout(t, dir)
	path := filepath.Join(dir, segmentName(1))
	data, _ := os.ReadFile(path)
	data[layout.records[2].start+recordHeaderSize+3] ^= 0x80
	os.WriteFile(path, data, 0o644)

	h := noSyncHooks
	h.writeAt = func(f *os.File, p []byte, off int64) (int, error) {
		if strings.HasSuffix(f.Name(), tmpSuffix) {
			return 0, syscall.ENOSPC
		}
		return f.WriteAt(p, off)
	}
	if _, err := open(Options{Dir: dir, Logger: quietLogger}, h); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open with a failing rewrite: %v, want ENOSPC", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
		t.Fatal("a failed repair changed the segment")
	}
	if _, err := os.Stat(path + tmpSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temp file left behind: %v", err)
	}
	w = openTest(t, Options{Dir: dir}, noSyncHooks)
	equalRecords(t, replayAll(t, w), slices.Concat(recs[:2], recs[3:]))
	mustClose(t, w)
}
