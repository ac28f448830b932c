package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/index"
)

func hostPoints(hosts ...string) []models.Point {
	var pts []models.Point
	for i, h := range hosts {
		pts = append(pts, pt("cpu", models.Tags{{Key: "host", Value: h}}, int64(i+1)*1e9, models.FloatField("v", float64(i))))
	}
	return pts
}

// TestSeriesLimits: the per-database limit answers with InfluxDB's text,
// the total limit bounds series across databases any client may create,
// both are counted in Statistics, and both still hold after a restart.
func TestSeriesLimits(t *testing.T) {
	dir := t.TempDir()
	limits := func(o *Options) { o.MaxSeriesPerDatabase = 2; o.MaxSeriesTotal = 3 }
	e := openTest(t, dir, limits)
	for _, db := range []string{"a", "b", "c"} {
		must(t, e.CreateDatabase(db))
	}
	err := e.WriteBatch(&models.Batch{Database: "a", Points: hostPoints("h1", "h2", "h3")})
	var pw *models.PartialWriteError
	if !errors.As(err, &pw) || err.Error() != "partial write: max-series-per-database limit exceeded: (2) dropped=1" {
		t.Fatalf("3rd series in a: %v", err)
	}
	must(t, e.WriteBatch(&models.Batch{Database: "b", Points: hostPoints("h1")}))
	err = e.WriteBatch(&models.Batch{Database: "c", Points: hostPoints("h1")})
	if !errors.As(err, &pw) || err.Error() != "partial write: "+(&index.MaxSeriesTotalError{Limit: 3}).Error()+" dropped=1" {
		t.Fatalf("4th series across databases: %v", err)
	}
	// Points of existing series still land at the limits.
	must(t, e.WriteBatch(&models.Batch{Database: "a", Points: hostPoints("h1", "h2")}))
	st := e.Statistics()
	for k, want := range map[string]int64{"series": 3, "maxSeriesPerDatabase": 2, "maxSeriesTotal": 3,
		"seriesRefusedPerDatabase": 1, "seriesRefusedTotal": 1} {
		if st[k] != want {
			t.Errorf("Statistics()[%q] = %d, want %d", k, st[k], want)
		}
	}
	must(t, e.Close())

	e = openTest(t, dir, limits)
	if got := e.Statistics()["series"]; got != 3 {
		t.Fatalf("series after restart = %d, want 3", got)
	}
	if err := e.WriteBatch(&models.Batch{Database: "c", Points: hostPoints("h9")}); !errors.As(err, &pw) {
		t.Fatalf("after restart: %v, want the total limit's partial write", err)
	}
	// Dropping a database gives its series back.
	must(t, e.DropDatabase("a"))
	must(t, e.WriteBatch(&models.Batch{Database: "c", Points: hostPoints("h1", "h2")}))
	if got := e.Statistics()["series"]; got != 3 {
		t.Fatalf("series after DROP DATABASE and 2 new = %d, want 3", got)
	}
	must(t, e.Close())
}

// TestReplayIgnoresLoweredSeriesLimits: series the WAL holds were
// accepted when written; replaying them after the limits were lowered
// must not drop acknowledged points.
func TestReplayIgnoresLoweredSeriesLimits(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	hosts := []string{"h1", "h2", "h3", "h4"}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: hostPoints(hosts...)}))
	e.abandon()
	// A crash loses the index's buffered records: the WAL alone knows
	// these series and replay must create them again.
	if err := os.RemoveAll(filepath.Join(dir, "data", "db", "index")); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, func(o *Options) { o.MaxSeriesPerDatabase = 1; o.MaxSeriesTotal = 2 })
	defer e.Close()
	for _, h := range hosts {
		if got := readAll(t, e, "db", "", "cpu,host="+h); len(got["v"]) != 1 {
			t.Errorf("series %s after replay with lowered limits: %v", h, got)
		}
	}
	if err := e.WriteBatch(&models.Batch{Database: "db", Points: hostPoints("h5")}); err == nil ||
		err.Error() != "partial write: max-series-per-database limit exceeded: (1) dropped=1" {
		t.Fatalf("a new series after replay: %v, want the per-database limit", err)
	}
	if got := e.Statistics()["series"]; got != int64(len(hosts)) {
		t.Fatalf("series = %d, want %d", got, len(hosts))
	}
}

// TestUnlimitedSeries: a negative per-database limit and no total let
// series grow past the default-sized tests' numbers.
func TestUnlimitedSeries(t *testing.T) {
	e := openTest(t, t.TempDir(), func(o *Options) { o.MaxSeriesPerDatabase = -1 })
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	var hosts []string
	for i := range 50 {
		hosts = append(hosts, fmt.Sprint("h", i))
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: hostPoints(hosts...)}))
	st := e.Statistics()
	if st["series"] != 50 || st["maxSeriesPerDatabase"] != 0 || st["maxSeriesTotal"] != 0 {
		t.Fatalf("Statistics: series %d, per database %d, total %d", st["series"], st["maxSeriesPerDatabase"], st["maxSeriesTotal"])
	}
}
