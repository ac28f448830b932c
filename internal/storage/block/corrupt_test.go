package block

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// smallData is a file of a few KiB with every type, several series and a
// cut chunk, small enough to damage at every offset.
func smallData() []testSeries {
	data := genData(4, 4)
	long := Column{Type: models.Integer}
	for i := 0; i < ChunkPoints+5; i++ {
		long.Times = append(long.Times, int64(i)*10e9)
		long.Integers = append(long.Integers, int64(i*i))
	}
	return append(data, testSeries{id: data[len(data)-1].id + 1, fields: []testField{{"n", long}}})
}

func smallFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "small.blk")
	writeFile(t, path, smallData())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openBytes opens b as a block file; it returns the reader or the error.
func openBytes(t testing.TB, dir string, b []byte) (*Reader, error) {
	t.Helper()
	path := filepath.Join(dir, "x.blk")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return Open(path)
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
	dir := t.TempDir()
	for n := 0; n < len(orig); n++ {
		r, err := openBytes(t, dir, orig[:n])
		if err == nil {
			r.Close()
			t.Fatalf("file truncated to %d of %d bytes opened", n, len(orig))
		}
		wantCorrupt(t, "truncated", err)
	}
}

// TestFlippedBytes damages every byte of a small file in turn. Each damage
// must be reported as a *CorruptError by Open, SeriesFields or ReadChunk
// (every byte is under some checksum or check), and whatever is read
// before the damage is found must equal what was written.
func TestFlippedBytes(t *testing.T) {
	orig := smallFile(t)
	want := normalize(smallData())
	dir := t.TempDir()
	b := make([]byte, len(orig))
	for off := 0; off < len(orig); off++ {
		copy(b, orig)
		b[off] ^= 1 << (off % 8)
		r, err := openBytes(t, dir, b)
		if err != nil {
			wantCorrupt(t, "open", err)
			continue
		}
		got, err := readAll(r)
		if err == nil {
			err = r.Verify()
		}
		r.Close()
		if err == nil {
			t.Fatalf("flipped byte at %d of %d went unnoticed", off, len(orig))
		}
		wantCorrupt(t, "read", err)
		_ = got
		checkPrefix(t, r, b, want)
	}
}

// checkPrefix reads every chunk it can from the damaged file and checks
// that every chunk that decodes holds exactly the written data.
func checkPrefix(t *testing.T, _ *Reader, b []byte, want []testSeries) {
	t.Helper()
	r, err := openBytes(t, t.TempDir(), b)
	if err != nil {
		return
	}
	defer r.Close()
	for _, s := range want {
		fs, err := r.SeriesFields(s.id)
		if err != nil {
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
				if err := r.ReadChunk(m, &c); err != nil {
					if c.Len() != 0 {
						t.Fatal("ReadChunk left data in dst after an error")
					}
					at += m.Count
					continue
				}
				for k := range c.Times {
					if c.Times[k] != wf.col.Times[at+k] {
						t.Fatalf("damaged file served a wrong time")
					}
				}
				at += m.Count
			}
		}
	}
}

func TestCorruptErrorText(t *testing.T) {
	err := error(&CorruptError{Path: "/d/b.blk", Offset: 42, Reason: "chunk: checksum mismatch"})
	if got, want := err.Error(), "corrupt block file /d/b.blk at offset 42: chunk: checksum mismatch"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
