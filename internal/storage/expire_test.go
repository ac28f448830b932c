package storage

import (
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// TestExpiredSeriesLeaveTheIndex: when retention drops shards, series
// whose only data was in them leave the index (as in InfluxDB), durably;
// series with newer data stay; a series written again later comes back.
func TestExpiredSeriesLeaveTheIndex(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.CreateRetentionPolicy("db", models.RetentionPolicy{Name: "h", Duration: 2 * time.Hour, ShardDuration: time.Hour}, true))
	now := time.Now()
	hour := now.Truncate(time.Hour)
	older := hour.Add(-30 * time.Minute).UnixNano() // the previous hour's shard
	tag := func(h string) models.Tags { return models.Tags{{Key: "host", Value: h}} }
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", tag("gone"), older, models.FloatField("f", 1)),
		pt("m", tag("both"), older, models.FloatField("f", 2)),
		pt("m", tag("both"), now.UnixNano(), models.FloatField("f", 3)),
		pt("m", tag("new"), now.UnixNano(), models.FloatField("f", 4)),
	}}))
	must(t, e.Flush())
	// Only the older shard (ending at hour) is past the 2 h retention.
	e.EnforceRetention(hour.Add(2*time.Hour + 30*time.Minute))
	check := func(e *Engine, when string) {
		t.Helper()
		ix, err := e.Index("db")
		must(t, err)
		for key, want := range map[string]bool{"m,host=gone": false, "m,host=both": true, "m,host=new": true} {
			if _, ok := ix.Lookup([]byte(key)); ok != want {
				t.Fatalf("%s: %s in the index: %v, want %v", when, key, ok, want)
			}
		}
		if got := readAll(t, e, "db", "h", "m,host=both")["f"]; len(got) != 1 {
			t.Fatalf("%s: both: %v", when, got)
		}
	}
	check(e, "after expiry")
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	check(e, "after restart")
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", tag("gone"), now.UnixNano(), models.FloatField("f", 5))}}))
	if got := readAll(t, e, "db", "h", "m,host=gone")["f"]; len(got) != 1 {
		t.Fatalf("a series written again after it expired: %v", got)
	}
}

// TestWriteRacingASeriesDeletion: a write that resolved its series id
// before the series was deleted (DROP SERIES, or expiry) and applies
// after must land on the series as it is then, not on the deleted id
// (where no query would ever find it).
func TestWriteRacingASeriesDeletion(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1000, models.FloatField("f", 1))}}))
	ix, err := e.Index("db")
	must(t, err)
	id, _ := ix.Lookup([]byte("m,host=a"))
	deleted := false
	testHookAfterPrepare = func() {
		if !deleted {
			deleted = true
			must(t, e.DeleteSeries("db", []uint64{id}))
		}
	}
	defer func() { testHookAfterPrepare = nil }()
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 2000, models.FloatField("f", 2))}}))
	if !deleted {
		t.Fatal("the hook did not run")
	}
	got := readAll(t, e, "db", "", "m,host=a")["f"]
	if len(got) != 1 || got[0].t != 2000 {
		t.Fatalf("after the racing write: %v, want only the point at 2000", got)
	}
	if newID, ok := ix.Lookup([]byte("m,host=a")); !ok || newID == id {
		t.Fatalf("series id %d (ok %v), want a new one after %d", newID, ok, id)
	}
}
