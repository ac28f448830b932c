package wal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// quietLogger keeps expected repair warnings out of test output.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// noSyncHooks skip fsync: the corruption tests open and append thousands
// of times and test decoding, not durability.
var noSyncHooks = hooks{writeAt: osHooks.writeAt, sync: func(*os.File) error { return nil }}

func openTest(t testing.TB, opts Options, h hooks) *WAL {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	w, err := open(opts, h)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return w
}

func replayAll(t testing.TB, w *WAL) [][]byte {
	t.Helper()
	var got [][]byte
	if err := w.Replay(func(rec []byte) error {
		got = append(got, bytes.Clone(rec))
		return nil
	}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got
}

func appendAll(t testing.TB, w *WAL, recs [][]byte) {
	t.Helper()
	for i, r := range recs {
		if err := w.Append(r); err != nil {
			t.Fatalf("append record %d: %v", i, err)
		}
	}
}

func mustClose(t testing.TB, w *WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// makeRecords returns n records with recognisable contents and sizes
// cycling through sizes (0 included: an empty record must survive too).
func makeRecords(n int, sizes ...int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		size := sizes[i%len(sizes)]
		r := make([]byte, size)
		for j := range r {
			r[j] = byte(i*31 + j*7)
		}
		if size >= 4 {
			copy(r, fmt.Sprintf("%04d", i%10000))
		}
		recs[i] = r
	}
	return recs
}

func equalRecords(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: got %d bytes %q..., want %d bytes", i, len(got[i]), head(got[i]), len(want[i]))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// recordPos locates one record in the log seen as the concatenation of
// its segment files.
type recordPos struct {
	seg        uint64
	start, end int64 // offsets within the segment file
	gStart     int64 // offsets within the concatenation
	gEnd       int64
}

// logLayout describes an intact, closed log.
type logLayout struct {
	segs    []uint64
	sizes   []int64
	starts  []int64 // global offset of each segment's first byte
	records []recordPos
	total   int64
}

func readLayout(t testing.TB, dir string) logLayout {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var l logLayout
	l.segs = segs
	for _, n := range segs {
		path := filepath.Join(dir, segmentName(n))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		l.sizes = append(l.sizes, int64(len(data)))
		l.starts = append(l.starts, l.total)
		r := newSegmentReader(bytes.NewReader(data), n, int64(len(data)), nil)
		if err := r.header(); err != nil {
			t.Fatalf("segment %d: %v", n, err)
		}
		for {
			start := r.off
			if _, err := r.next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("segment %d: %v", n, err)
			}
			l.records = append(l.records, recordPos{seg: n, start: start, end: r.off, gStart: l.total + start, gEnd: l.total + r.off})
		}
		l.total += int64(len(data))
	}
	return l
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(time.Millisecond)
	}
}
