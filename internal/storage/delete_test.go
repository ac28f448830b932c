package storage

import (
	"fmt"
	"os"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

func TestDropMeasurementAndSeries(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	hostB := models.Tags{{Key: "host", Value: "b"}}
	var pts []models.Point
	for i := 0; i < 300; i++ {
		pts = append(pts, pt("cpu", hostA, int64(i), models.FloatField("v", 1)), pt("cpu", hostB, int64(i), models.FloatField("v", 2)),
			pt("mem", hostA, int64(i), models.IntegerField("used", 3)))
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts[:450]}))
	must(t, e.Flush()) // part in blocks, part in the head
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts[450:]}))

	must(t, e.DropMeasurement("db", "mem"))
	ix, _ := e.Index("db")
	id, _ := ix.Lookup([]byte("cpu,host=b"))
	must(t, e.DeleteSeries("db", []uint64{id}))

	wantMem := "map[]"
	check := func(stage string) {
		t.Helper()
		if got := readAll(t, e, "db", "", "mem,host=a"); fmt.Sprint(got) != wantMem {
			t.Fatalf("%s: measurement mem: %v, want %s", stage, got, wantMem)
		}
		if got := readAll(t, e, "db", "", "cpu,host=b"); len(got) != 0 {
			t.Fatalf("%s: dropped series still read", stage)
		}
		if got := readAll(t, e, "db", "", "cpu,host=a"); len(got["v"]) != 300 {
			t.Fatalf("%s: kept series has %d values", stage, len(got["v"]))
		}
	}
	check("after drop")
	// A dropped measurement may come back with other field types.
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("mem", hostA, 1000, models.StringField("used", "x"))}}))
	wantMem = fmt.Sprint(map[string][]value{"used": {{1000, "x"}}})
	check("rewritten")
	e.abandon() // replay must not resurrect what was dropped
	e = openTest(t, dir, nil)
	check("after replay")
	// A full merge drops the deleted series' values from the files.
	must(t, e.Flush())
	for _, list := range e.dbs["db"].shards {
		for _, s := range list {
			e.compactShard(s, true)
			for _, b := range s.blocks {
				if len(b.r.SeriesIDs()) > 2 {
					t.Fatalf("block still holds %d series: %v", len(b.r.SeriesIDs()), b.r.SeriesIDs())
				}
			}
		}
	}
	check("after compaction")
	must(t, e.Close())
}

func TestDeleteRange(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	hostB := models.Tags{{Key: "host", Value: "b"}}
	var pts []models.Point
	for i := 0; i < 200; i++ {
		pts = append(pts, pt("cpu", hostA, int64(i), models.FloatField("v", float64(i))), pt("cpu", hostB, int64(i), models.FloatField("v", 1)))
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts[:200]}))
	must(t, e.Flush())
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts[200:]})) // still in the head
	ix, _ := e.Index("db")
	a, _ := ix.Lookup([]byte("cpu,host=a"))
	b, _ := ix.Lookup([]byte("cpu,host=b"))
	// Delete [50, 149] of a, and all of b: b leaves the index.
	must(t, e.DeleteRange("db", []uint64{a}, 50, 149))
	must(t, e.DeleteRange("db", []uint64{b}, -1000, 1000))
	check := func(stage string) {
		t.Helper()
		got := readAll(t, e, "db", "", "cpu,host=a")["v"]
		if len(got) != 100 || got[49].t != 49 || got[50].t != 150 {
			t.Fatalf("%s: %d values left, around the hole: %v", stage, len(got), got[48:52])
		}
		if _, ok := ix.Lookup([]byte("cpu,host=b")); ok {
			t.Fatalf("%s: an emptied series is still in the index", stage)
		}
	}
	check("after delete")
	// Writes after the DELETE are kept.
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("cpu", hostA, 100, models.FloatField("v", -1))}}))
	if got := readAll(t, e, "db", "", "cpu,host=a")["v"]; len(got) != 101 {
		t.Fatalf("write after delete: %d values", len(got))
	}
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	ix, _ = e.Index("db")
	if got := readAll(t, e, "db", "", "cpu,host=a")["v"]; len(got) != 101 {
		t.Fatalf("after restart: %d values", len(got))
	}
}

// TestRewrittenBlockSupersedesItsInput simulates a crash between writing
// a DELETE's rewritten block and removing the original: on open, the
// original is recognised as covered and removed.
func TestRewrittenBlockSupersedesItsInput(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, models.FloatField("v", 1)), pt("m", hostA, 2, models.FloatField("v", 2))}}))
	must(t, e.Flush())
	var orig string
	for _, list := range e.dbs["db"].shards {
		for _, s := range list {
			orig = s.blocks[0].r.Path()
		}
	}
	saved, err := os.ReadFile(orig)
	must(t, err)
	ix, _ := e.Index("db")
	id, _ := ix.Lookup([]byte("m,host=a"))
	must(t, e.DeleteRange("db", []uint64{id}, 2, 2))
	must(t, e.Close())
	must(t, os.WriteFile(orig, saved, 0o644)) // the original comes back
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := readAll(t, e, "db", "", "m,host=a")["v"]; len(got) != 1 || got[0].t != 1 {
		t.Fatalf("deleted value resurrected: %v", got)
	}
	if _, err := os.Stat(orig); err == nil {
		t.Fatal("superseded block not removed on open")
	}
}
