package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// damageRecords are the records of the segment FuzzDamagedSegment damages:
// distinct contents (so a replayed record names its original), sizes from
// empty to a few hundred bytes.
func damageRecords() [][]byte {
	recs := make([][]byte, 14)
	for i := range recs {
		r := make([]byte, []int{0, 1, 7, 40, 300, 12, 90}[i%7]+8)
		binary.LittleEndian.PutUint64(r, uint64(i)+1)
		for j := 8; j < len(r); j++ {
			r[j] = byte(i*13 + j)
		}
		recs[i] = r
	}
	return recs
}

// FuzzDamagedSegment damages a valid multi-record segment with the
// operations the input encodes (4 bytes each: kind, offset, parameter):
// byte flips, truncations and inserted garbage. Open and Replay must not
// panic, must allocate memory bounded by the segment's size, must replay
// every record the damage did not touch, exactly, and must never replay a
// record twice, out of order, or one that was not written. A hole before
// a replayed record must be reported as a Gap, and the repaired log must
// reopen without another repair.
func FuzzDamagedSegment(f *testing.F) {
	f.Add([]byte{})                           // intact
	f.Add([]byte{0, 40, 0, 0xff})             // flip a byte in the first records
	f.Add([]byte{0, 2, 0, 1})                 // flip the magic
	f.Add([]byte{0, 7, 0, 1})                 // flip the version byte: refused, never repaired
	f.Add([]byte{1, 0x80, 0x01, 0})           // truncate mid-segment
	f.Add([]byte{2, 60, 0, 33})               // insert garbage mid-record
	f.Add([]byte{2, 8, 0, 200, 0, 100, 1, 3}) // garbage after the header, then a flip
	f.Add([]byte{0, 10, 0, 4, 0, 0, 2, 9, 2, 0, 3, 255, 1, 0xf0, 0x02, 0})
	recs := damageRecords()
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		index[string(r)] = i
	}
	orig := validSegment(recs...)
	var spans []span
	for off := int64(segmentHeaderSize); off < int64(len(orig)); {
		end, ok, _ := recordAt(orig, off)
		if !ok {
			f.Fatalf("the seed segment is invalid at %d", off)
		}
		spans = append(spans, span{off, end})
		off = end
	}

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4*64 {
			ops = ops[:4*64]
		}
		data := bytes.Clone(orig)
		origin := make([]int, len(data)) // original offset of each byte, -1: inserted
		for i := range origin {
			origin[i] = i
		}
		flipped := make(map[int]bool) // original offsets whose byte changed
		for ; len(ops) >= 4; ops = ops[4:] {
			pos := int(binary.LittleEndian.Uint16(ops[1:3]))
			switch ops[0] % 3 {
			case 0:
				if len(data) == 0 {
					continue
				}
				pos %= len(data)
				data[pos] ^= ops[3] | 1
				if origin[pos] >= 0 {
					flipped[origin[pos]] = true
				}
			case 1:
				pos %= len(data) + 1
				data, origin = data[:pos], origin[:pos]
			case 2:
				pos %= len(data) + 1
				rng := rand.New(rand.NewPCG(uint64(pos), uint64(ops[3])))
				garbage := make([]byte, int(ops[3])+1)
				for i := range garbage {
					garbage[i] = byte(rng.Uint32())
				}
				data = slices.Insert(data, pos, garbage...)
				origin = slices.Insert(origin, pos, slices.Repeat([]int{-1}, len(garbage))...)
			}
		}
		// A record is untouched if all its bytes are still there, in one
		// piece and unchanged.
		at := make(map[int]int, len(origin))
		for i, o := range origin {
			if o >= 0 {
				at[o] = i
			}
		}
		untouched := make([]bool, len(recs))
		for k, s := range spans {
			i, ok := at[int(s.start)]
			untouched[k] = ok
			for o := int(s.start); ok && o < int(s.end); o++ {
				if j := i + o - int(s.start); j >= len(data) || origin[j] != o || flipped[o] {
					untouched[k] = false
					break
				}
			}
		}

		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w, err := open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks)
		if err != nil {
			if errors.Is(err, ErrUnsupportedVersion) && bytes.Equal(data[:7], segmentMagic[:]) {
				return // a damaged version byte is refused, never repaired away
			}
			t.Fatalf("open: %v", err)
		}
		defer w.Close()
		var got []int
		gapSince := false
		err = w.ReplayWithGaps(func(rec []byte) error {
			k, ok := index[string(rec)]
			if !ok {
				t.Fatalf("replayed a record that was never written: %d bytes %q", len(rec), head(rec))
			}
			if len(got) > 0 && k <= got[len(got)-1] {
				t.Fatalf("record %d replayed after record %d", k, got[len(got)-1])
			}
			prev := -1
			if len(got) > 0 {
				prev = got[len(got)-1]
			}
			if k > prev+1 && !gapSince {
				t.Fatalf("records %d to %d lost before record %d, but no gap was reported", prev+1, k-1, k)
			}
			got = append(got, k)
			gapSince = false
			return nil
		}, func(Gap) error { gapSince = true; return nil })
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(8*len(data))+4<<20 {
			t.Fatalf("open and replay of %d bytes allocated %d bytes", len(data), alloc)
		}
		for k, ok := range untouched {
			if ok && !slices.Contains(got, k) {
				t.Fatalf("record %d was not touched by the damage but is not replayed (replayed %v)", k, got)
			}
		}
		if err := w.Append([]byte("after")); err != nil {
			t.Fatalf("append: %v", err)
		}
		mustClose(t, w)
		w = openTest(t, Options{Dir: dir}, noSyncHooks)
		if r := w.Stats().Repairs; r != 0 {
			t.Fatalf("reopen repaired %d times", r)
		}
		replayed := replayAll(t, w)
		if len(replayed) != len(got)+1 {
			t.Fatalf("reopen replayed %d records, want %d", len(replayed), len(got)+1)
		}
		mustClose(t, w)
	})
}
