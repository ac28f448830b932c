package wal

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// validSegment encodes recs the way the WAL writes them.
func validSegment(recs ...[]byte) []byte {
	b := segmentHeader()
	for _, r := range recs {
		var h [recordHeaderSize]byte
		putRecordHeader(&h, r)
		b = append(append(b, h[:]...), r...)
	}
	return b
}

// FuzzReplay feeds arbitrary bytes as the only segment of a log. Open and
// Replay must not panic, must allocate no more than the input can hold,
// must return only records whose checksums verify (so a reopened log
// replays the same records without further repair) and must leave a log
// that accepts appends.
func FuzzReplay(f *testing.F) {
	good := validSegment([]byte("cpu,host=a usage=1"), nil, bytes.Repeat([]byte{7}, 300))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:segmentHeaderSize+3])
	f.Add(append(bytes.Clone(good), make([]byte, 64)...))
	f.Add([]byte{})
	f.Add(segmentHeader())
	f.Add(make([]byte, 100))
	f.Add([]byte("herdwal\x02"))
	huge := validSegment([]byte("x"))
	binary.LittleEndian.PutUint32(huge[segmentHeaderSize:], MaxRecordSize+1)
	f.Add(huge)
	big := validSegment([]byte("y"))
	binary.LittleEndian.PutUint32(big[segmentHeaderSize:], MaxRecordSize)
	f.Add(big)

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks)
		if err != nil {
			if len(data) >= segmentHeaderSize && bytes.Equal(data[:7], segmentMagic[:]) && data[7] != formatVersion {
				return // a newer format is refused, never repaired away
			}
			t.Fatalf("open: %v", err)
		}
		var total int
		var first [][]byte
		if err := w.Replay(func(rec []byte) error {
			total += recordHeaderSize + len(rec)
			first = append(first, bytes.Clone(rec))
			return nil
		}); err != nil {
			t.Fatalf("replay: %v", err)
		}
		if total > len(data) {
			t.Fatalf("replayed %d bytes of records from %d bytes of input", total, len(data))
		}
		if err := w.Append([]byte("after")); err != nil {
			t.Fatalf("append: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}

		w, err = open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if r := w.Stats().Repairs; r != 0 {
			t.Fatalf("reopen repaired %d times", r)
		}
		want := append(first, []byte("after"))
		equalRecords(t, replayAll(t, w), want)
		w.Close()
	})
}

// FuzzSegmentReader runs the decoder alone, fast enough for long fuzzing
// sessions: it must stop at a CorruptionError or io.EOF without panicking
// or reading past the input.
func FuzzSegmentReader(f *testing.F) {
	f.Add(validSegment([]byte("a"), []byte("bc")))
	f.Add(validSegment(nil)[:10])
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newSegmentReader(bytes.NewReader(data), 1, int64(len(data)), nil)
		if err := r.header(); err != nil {
			return
		}
		for {
			rec, err := r.next()
			if err != nil {
				break
			}
			if len(rec) > len(data) || r.off > int64(len(data)) {
				t.Fatalf("record of %d bytes at offset %d from %d bytes", len(rec), r.off, len(data))
			}
		}
		if cap(r.buf) > len(data) {
			t.Fatalf("allocated %d bytes for %d bytes of input", cap(r.buf), len(data))
		}
	})
}
