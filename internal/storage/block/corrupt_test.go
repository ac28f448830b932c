package block

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// smallData is a file of a few KiB with every type, several series, a
// cut chunk and a zstd chunk, small enough to damage at every offset.
func smallData() []testSeries {
	col := func(typ models.FieldType, n int, val func(i int, c *Column)) Column {
		c := Column{Type: typ}
		for i := 0; i < n; i++ {
			c.Times = append(c.Times, 1_700_000_000e9+int64(i)*10e9)
			val(i, &c)
		}
		return c
	}
	return []testSeries{
		{id: 10, fields: []testField{
			{"a", col(models.Float, 20, func(i int, c *Column) { c.Floats = append(c.Floats, float64(i)/3) })},
			{"b", col(models.String, 5, func(i int, c *Column) { c.Strings = append(c.Strings, strings.Repeat("ab", i)) })},
			{"c", col(models.Boolean, 10, func(i int, c *Column) { c.Booleans = append(c.Booleans, i%3 == 0) })},
		}},
		{id: 20, fields: []testField{
			{"i", col(models.Integer, 12, func(i int, c *Column) { c.Integers = append(c.Integers, int64(-i*1000)) })},
			{"u", col(models.Unsigned, 7, func(i int, c *Column) { c.Unsigneds = append(c.Unsigneds, uint64(i)<<40) })},
		}},
		{id: 30, fields: []testField{
			{"n", col(models.Integer, ChunkPoints+5, func(i int, c *Column) { c.Integers = append(c.Integers, int64(i*i)) })},
			{"z", col(models.Float, 150, func(i int, c *Column) { c.Floats = append(c.Floats, []float64{0.1234567, 98.7654321, 3.3}[i%3]) })},
		}},
	}
}

func smallFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "small.blk")
	writeFile(t, path, smallData())
	return readFileBytes(t, path)
}

func readFileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSmallFileHasZstdChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small.blk")
	writeFile(t, path, smallData())
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	encs := map[byte]int{}
	for _, id := range r.SeriesIDs() {
		for _, f := range r.Fields(id) {
			for _, m := range f.Chunks {
				var e [1]byte
				r.f.ReadAt(e[:], m.offset)
				encs[e[0]]++
			}
		}
	}
	t.Logf("file of %d bytes, chunk encodings %v", r.Size(), encs)
	if encs[chunkZstd] == 0 || encs[chunkRaw] == 0 {
		t.Fatalf("small file should have raw and zstd chunks, has %v", encs)
	}
}

// openBytes opens b as a block file, from memory: the damage tests open
// thousands of variants. TestOpenFileBytes checks that Open of a real file
// behaves the same.
func openBytes(b []byte) (*Reader, error) {
	return open("mem.blk", bytes.NewReader(b), int64(len(b)))
}

func TestOpenFileBytes(t *testing.T) {
	orig := smallFile(t)
	path := filepath.Join(t.TempDir(), "x.blk")
	if err := os.WriteFile(path, orig[:len(orig)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	wantCorrupt(t, "truncated file", err)
	if ce := err.(*CorruptError); ce.Path != path {
		t.Fatalf("CorruptError.Path = %q, want %q", ce.Path, path)
	}
}

func wantCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T), want *CorruptError", what, err, err)
	}
	if ce.Path == "" || ce.Reason == "" || ce.Offset < 0 {
		t.Fatalf("%s: incomplete CorruptError %+v", what, ce)
	}
}

func TestOpenTruncated(t *testing.T) {
	orig := smallFile(t)
	for n := 0; n < len(orig); n++ {
		r, err := openBytes(orig[:n])
		if err == nil {
			r.Close()
			t.Fatalf("file truncated to %d of %d bytes opened", n, len(orig))
		}
		wantCorrupt(t, "truncated", err)
	}
}

// TestFlippedBytes damages every byte of a small file in turn. Each damage
// must be reported as a *CorruptError by Open, SeriesFields, ReadChunk or
// Verify (every byte is under some checksum or check), and every chunk
// that does decode must hold exactly the written data.
func TestFlippedBytes(t *testing.T) {
	orig := smallFile(t)
	want := normalize(smallData())
	b := make([]byte, len(orig))
	for off := 0; off < len(orig); off++ {
		copy(b, orig)
		b[off] ^= 1 << (off % 8)
		r, err := openBytes(b)
		if err != nil {
			wantCorrupt(t, "open", err)
			continue
		}
		if r.Err() != nil {
			t.Fatalf("Err() = %v before any read", r.Err())
		}
		err = readChecked(t, r, want)
		if err == nil {
			err = r.Verify()
		}
		r.Close()
		if err == nil {
			t.Fatalf("flipped byte at %d of %d went unnoticed", off, len(orig))
		}
		wantCorrupt(t, "read", err)
		if r.Err() != err {
			t.Fatalf("Err() = %v, want the first damage %v", r.Err(), err)
		}
	}
}

// readChecked reads every chunk it can and fails the test if one that
// decodes differs from the written data. It returns the first error seen.
func readChecked(t *testing.T, r *Reader, want []testSeries) error {
	t.Helper()
	var first error
	note := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, s := range want {
		fs, err := r.SeriesFields(s.id)
		if err != nil {
			note(err)
			continue
		}
		if len(fs) != len(s.fields) {
			t.Fatalf("series %d: %d fields from a damaged file, want %d", s.id, len(fs), len(s.fields))
		}
		for i, f := range fs {
			wf := s.fields[i]
			if f.Name != wf.name || f.Type != wf.col.Type {
				t.Fatalf("damaged file gave field %s %s, want %s %s", f.Name, f.Type, wf.name, wf.col.Type)
			}
			at := 0
			var c Column
			for _, m := range f.Chunks {
				err := r.ReadChunk(m, &c)
				if err != nil {
					note(err)
					if c.Len() != 0 {
						t.Fatal("ReadChunk left data in dst after an error")
					}
				} else if !equalColumn(c, sliceColumn(wf.col, at, at+m.Count)) {
					t.Fatalf("damaged file served wrong data for series %d field %s", s.id, f.Name)
				}
				at += m.Count
			}
		}
	}
	return first
}

func sliceColumn(c Column, i, j int) Column {
	s := Column{Type: c.Type, Times: c.Times[i:j]}
	switch c.Type {
	case models.Float:
		s.Floats = c.Floats[i:j]
	case models.Integer:
		s.Integers = c.Integers[i:j]
	case models.Unsigned:
		s.Unsigneds = c.Unsigneds[i:j]
	case models.String:
		s.Strings = c.Strings[i:j]
	case models.Boolean:
		s.Booleans = c.Booleans[i:j]
	}
	return s
}

func equalColumn(a, b Column) bool {
	nilEmpty(&a)
	nilEmpty(&b)
	return equalData([]testSeries{{fields: []testField{{"", a}}}}, []testSeries{{fields: []testField{{"", b}}}})
}

func TestCorruptErrorText(t *testing.T) {
	err := error(&CorruptError{Path: "/d/b.blk", Offset: 42, Reason: "chunk: checksum mismatch"})
	if got, want := err.Error(), "corrupt block file /d/b.blk at offset 42: chunk: checksum mismatch"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
