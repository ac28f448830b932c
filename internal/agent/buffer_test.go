package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// openTest opens a buffer without fsync: these tests check what is in
// the files, and thousands of fsyncs would make them slow.
func openTest(dir string, max int64) (*Buffer, error) {
	b, err := OpenBuffer(dir, max)
	if b != nil {
		b.noSync = true
	}
	return b, err
}

func payload(i int) []byte {
	return []byte(fmt.Sprintf("batch-%04d-%s", i, bytes.Repeat([]byte{'x'}, 100)))
}

// drain reads every record, acking as it goes, and returns the payloads.
func drain(t *testing.T, b *Buffer) []string {
	t.Helper()
	var out []string
	for {
		recs, err := b.Peek(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			out = append(out, string(r.Payload))
			b.Ack(r.Seq)
		}
	}
}

func TestBufferSurvivesRestartInOrder(t *testing.T) {
	dir := t.TempDir()
	b, err := openTest(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := b.Append(3, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Send the first 10 before "crashing": a reopened buffer may resend
	// them (batches overwrite themselves) but must keep every later one.
	recs, _ := b.Peek(10 * 120)
	b.Ack(recs[len(recs)-1].Seq)
	b.Close()

	b, err = openTest(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, pts, _, _ := b.Stats()
	got := drain(t, b)
	if len(got) < 40 || pts != 3*len(got) {
		t.Fatalf("after restart: %d records, %d points", len(got), pts)
	}
	first := 50 - len(got)
	for i, p := range got {
		if p != string(payload(first+i)) {
			t.Fatalf("record %d = %.12q, want batch %d", i, p, first+i)
		}
	}
	// Everything acked: no segment left behind.
	if n := b.Len(); n != 0 {
		t.Fatalf("%d records left after draining", n)
	}
}

// TestBufferTornTail cuts the only segment at every offset, as a power
// cut during a write would, and checks that reopening keeps exactly the
// records written completely before the cut and that appends continue.
func TestBufferTornTail(t *testing.T) {
	src := t.TempDir()
	b, err := openTest(src, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int // file offset after each record
	for i := 0; i < 5; i++ {
		b.Append(1, payload(i))
		_, _, n, _ := b.Stats()
		ends = append(ends, int(n))
	}
	b.Close()
	seg := filepath.Join(src, fmt.Sprintf("%020d%s", 1, segmentSuffix))
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut <= len(full); cut++ {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := openTest(dir, 1<<20)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		want := 0
		for want < len(ends) && ends[want] <= cut {
			want++
		}
		if _, err := b.Append(1, []byte("after")); err != nil {
			t.Fatalf("cut %d: append: %v", cut, err)
		}
		got := drain(t, b)
		if len(got) != want+1 || got[len(got)-1] != "after" {
			t.Fatalf("cut %d: got %d records (last %.10q), want %d then \"after\"", cut, len(got), got[len(got)-1], want)
		}
		for i := 0; i < want; i++ {
			if got[i] != string(payload(i)) {
				t.Fatalf("cut %d: record %d wrong", cut, i)
			}
		}
		b.Close()
	}
}

func TestBufferCorruptByteKeepsPrefix(t *testing.T) {
	dir := t.TempDir()
	b, _ := openTest(dir, 1<<20)
	for i := 0; i < 3; i++ {
		b.Append(1, payload(i))
	}
	b.Close()
	seg := filepath.Join(dir, fmt.Sprintf("%020d%s", 1, segmentSuffix))
	data, _ := os.ReadFile(seg)
	rec := recordHeaderSize + len(payload(0))
	data[rec+recordHeaderSize+5] ^= 0xff // flip a byte in the second payload
	os.WriteFile(seg, data, 0o600)
	b, err := openTest(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, b); len(got) != 1 || got[0] != string(payload(0)) {
		t.Fatalf("got %d records; want only the first", len(got))
	}
}

func TestBufferFullDropsOldestAndCounts(t *testing.T) {
	dir := t.TempDir()
	const max = 64 << 10 // segments of 4 KiB
	b, err := openTest(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 600; i++ {
		if _, err := b.Append(2, payload(i)); err != nil {
			t.Fatal(err)
		}
		total += 2
		_, _, bytes, _ := b.Stats()
		if bytes > max {
			t.Fatalf("buffer holds %d bytes, over its %d limit", bytes, max)
		}
	}
	_, pts, _, dropped := b.Stats()
	if dropped == 0 || int64(pts)+dropped != int64(total) {
		t.Fatalf("kept %d + dropped %d points, want %d in all with some dropped", pts, dropped, total)
	}
	got := drain(t, b)
	// What is kept is the newest, in order, ending with the last batch.
	if got[len(got)-1] != string(payload(599)) {
		t.Fatalf("newest batch missing")
	}
	first := 600 - len(got)
	for i, p := range got {
		if p != string(payload(first+i)) {
			t.Fatalf("kept records are not the newest in order at %d", i)
		}
	}
}

func TestBufferRejectsHugeBatch(t *testing.T) {
	b, _ := openTest(t.TempDir(), 64<<10)
	if _, err := b.Append(1, make([]byte, 40<<10)); err != ErrRecordTooLarge {
		t.Fatalf("got %v, want ErrRecordTooLarge", err)
	}
}

// FuzzDecodeRecords: a segment decoder fed arbitrary bytes never panics,
// returns records inside the data, and its valid prefix re-decodes the
// same.
func FuzzDecodeRecords(f *testing.F) {
	var seed []byte
	for i := 0; i < 3; i++ {
		seed = appendRecord(seed, i, payload(i))
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, valid := decodeRecords(data)
		if valid > len(data) {
			t.Fatalf("valid %d > len %d", valid, len(data))
		}
		for _, r := range recs {
			if r.off < 0 || r.off+int64(r.size) > int64(valid) {
				t.Fatalf("record outside the valid prefix")
			}
		}
		again, v2 := decodeRecords(data[:valid])
		if v2 != valid || len(again) != len(recs) {
			t.Fatalf("prefix decodes differently")
		}
	})
}

func TestBufferSkipHead(t *testing.T) {
	b, _ := openTest(t.TempDir(), 64<<10)
	for i := 0; i < 100; i++ {
		b.Append(1, payload(i))
	}
	n := b.SkipHead()
	_, pts, _, dropped := b.Stats()
	if n == 0 || int64(n) != dropped || pts+n != 100 {
		t.Fatalf("skipped %d, kept %d, dropped %d", n, pts, dropped)
	}
	if got := drain(t, b); got[len(got)-1] != string(payload(99)) {
		t.Fatal("newest record lost")
	}
}
