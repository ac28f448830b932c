package storage

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// readWarnings reads series key over [minT, maxT] and returns the values
// read and the warnings the read gave.
func readWarnings(t *testing.T, e *Engine, key string, minT, maxT int64) (int, []string) {
	t.Helper()
	ix, err := e.Index("db")
	if err != nil {
		t.Fatal(err)
	}
	id, ok := ix.Lookup([]byte(key))
	if !ok {
		t.Fatalf("series %s not in the index", key)
	}
	var n int
	var warnings []string
	err = e.Read(ReadRequest{Database: "db", SeriesIDs: []uint64{id}, MinTime: minT, MaxTime: maxT,
		Warn: func(text string) {
			if !slices.Contains(warnings, text) {
				warnings = append(warnings, text)
			}
		}},
		func(_ uint64, _ string, col *block.Column) error { n += col.Len(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n, warnings
}

// blockFiles lists the block files under dir.
func blockFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".blk") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// flipIndexByte flips the first byte of a block file's series entries
// (the footer's indexOffset says where they start).
func flipIndexByte(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var footer [8]byte
	if _, err := f.ReadAt(footer[:], fi.Size()-72); err != nil {
		t.Fatal(err)
	}
	off := int64(binary.LittleEndian.Uint64(footer[:]))
	var b [1]byte
	f.ReadAt(b[:], off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestQuarantinedBlockIsReported: a flipped byte in a block's index makes
// the whole block unreadable (it is quarantined as .bad). A read of its
// shard must say that its answer lacks the block, naming the file and the
// shard's range, also after another restart, and a read of another shard
// must not.
func TestQuarantinedBlockIsReported(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	const week = int64(7 * 24 * 3600 * 1e9)
	damagedT, intactT := 10*week+5, 20*week+5
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", hostA, damagedT, models.FloatField("f", 1)),
		pt("m", hostA, intactT, models.FloatField("f", 2)),
	}}))
	must(t, e.Close())
	blocks := blockFiles(t, dir)
	if len(blocks) != 2 {
		t.Fatalf("want one block per shard, got %v", blocks)
	}
	var damaged string
	for _, b := range blocks {
		if strings.Contains(b, "/6048000000000000_") { // the shard of damagedT
			damaged = b
		}
	}
	if damaged == "" {
		t.Fatalf("no block in the shard of %d: %v", damagedT, blocks)
	}
	flipIndexByte(t, damaged)

	for restart := range 2 {
		e = openTest(t, dir, nil)
		if _, err := os.Stat(damaged + ".bad"); err != nil {
			t.Fatalf("restart %d: corrupt block not quarantined: %v", restart, err)
		}
		n, warnings := readWarnings(t, e, "m,host=a", math.MinInt64, math.MaxInt64)
		if n != 1 {
			t.Fatalf("restart %d: read %d values, want the intact shard's 1", restart, n)
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], damaged+".bad") ||
			!strings.Contains(warnings[0], "1970-03-12T00:00:00Z to 1970-03-19T00:00:00Z") || !strings.Contains(warnings[0], "incomplete result") {
			t.Fatalf("restart %d: warnings %q, want one naming %s.bad and the shard's range", restart, warnings, damaged)
		}
		if n, warnings := readWarnings(t, e, "m,host=a", intactT, intactT); n != 1 || len(warnings) != 0 {
			t.Fatalf("restart %d: read of the intact shard: %d values, warnings %q", restart, n, warnings)
		}
		st := e.Statistics()
		if st["blocksQuarantined"] != 1 {
			t.Fatalf("restart %d: blocksQuarantined = %d, want 1", restart, st["blocksQuarantined"])
		}
		must(t, e.Close())
	}
}

// TestBlockDamagedAfterOpenIsReported: an index entry damaged while the
// block is open (read lazily, checked by its own CRC) must not read as
// "no data": the read warns.
func TestBlockDamagedAfterOpenIsReported(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, models.FloatField("f", 1))}}))
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	blocks := blockFiles(t, dir)
	if len(blocks) != 1 {
		t.Fatalf("blocks %v", blocks)
	}
	flipIndexByte(t, blocks[0])
	n, warnings := readWarnings(t, e, "m,host=a", math.MinInt64, math.MaxInt64)
	if n != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], blocks[0]) {
		t.Fatalf("read %d values, warnings %q; want none and one warning naming %s", n, warnings, blocks[0])
	}
}
