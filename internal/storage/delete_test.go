package storage

import (
	"fmt"
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
	if err := e.DeleteRange("db", []uint64{id}, 0, 100); err != ErrDeleteRangeUnsupported {
		t.Fatalf("partial DeleteRange: %v", err)
	}

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
