package query

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
)

// bigEngine holds hosts series of cpu, each with a point every second
// for points seconds: values v (every point), w (every third point) and
// a tag-like string s (every fifth), the first half flushed to blocks
// and the second half in the head, with some late points overlapping
// the flushed ones.
func bigEngine(t testing.TB, hosts, points int) *storage.Engine {
	t.Helper()
	e := emptyEngine(t)
	write := func(from, to int) {
		var pts []models.Point
		for s := from; s < to; s++ {
			ts := testStart.Add(time.Duration(s) * time.Second).UnixNano()
			for h := 0; h < hosts; h++ {
				fields := []models.Field{models.FloatField("v", float64(s*hosts+h))}
				if s%3 == 0 {
					fields = append(fields, models.IntegerField("w", int64(s)))
				}
				if s%5 == 0 {
					fields = append(fields, models.StringField("s", fmt.Sprintf("x%d", s%7)))
				}
				pts = append(pts, models.Point{Measurement: "cpu", Tags: models.Tags{{Key: "host", Value: fmt.Sprintf("h%02d", h)}},
					Time: ts, Fields: fields})
			}
			if len(pts) >= 50_000 {
				if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
					t.Fatal(err)
				}
				pts = pts[:0]
			}
		}
		if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
			t.Fatal(err)
		}
	}
	write(0, points/2)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	write(points/2, points)
	write(points/4, points/4+100) // overlaps flushed data: storage merges it
	return e
}

// execute runs q on x with opt, returning the rows Execute gives, the
// pieces ExecuteStream emitted, and the error.
func execute(t *testing.T, x *Executor, q string, opt Options) ([]*Row, int, error) {
	t.Helper()
	stmt, err := influxql.ParseStatement(q)
	if err != nil {
		t.Fatal(err)
	}
	opt.Database = "db"
	opt.Now = testStart.Add(24 * time.Hour)
	var rows []*Row
	pieces := 0
	err = x.ExecuteStream(context.Background(), stmt, opt, func(r *Row) error {
		pieces++
		if len(r.Values) == 0 {
			t.Errorf("%s: empty piece", q)
		}
		rows = appendPiece(rows, r)
		return nil
	})
	for _, r := range rows {
		if r.Partial {
			t.Errorf("%s: series %s%v ends Partial", q, r.Name, r.Tags)
		}
	}
	return rows, pieces, err
}

var memoryQueries = []string{
	`SELECT * FROM cpu`,
	`SELECT * FROM cpu GROUP BY *`,
	`SELECT v, w FROM cpu WHERE host = 'h01' OR host = 'h03'`,
	`SELECT * FROM cpu ORDER BY time DESC`,
	`SELECT * FROM cpu GROUP BY host ORDER BY time DESC`,
	`SELECT w FROM cpu WHERE w > 100 AND time >= '2026-01-01T00:10:00Z' AND time < '2026-01-01T01:00:00Z'`,
	`SELECT v FROM cpu LIMIT 3000 OFFSET 2500`,
	`SELECT v FROM cpu GROUP BY host LIMIT 1500 OFFSET 10`,
	`SELECT s FROM cpu GROUP BY host SLIMIT 2 SOFFSET 1`,
	`SELECT s, v * 2 FROM cpu GROUP BY host ORDER BY time DESC SLIMIT 2 SOFFSET 1`,
	`SELECT v FROM cpu WHERE v < 1000 OR v > 40000`,
	`SELECT mean(v), max(w), count(s) FROM cpu GROUP BY time(10m), host`,
	`SELECT median(v), first(s) FROM cpu GROUP BY time(1h)`,
	`SELECT derivative(mean(v), 1m) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T02:00:00Z' GROUP BY time(5m)`,
	`SELECT difference(v) FROM cpu WHERE host = 'h00'`,
	`SELECT last(v), s FROM cpu GROUP BY host`,
	`SELECT v FROM cpu ORDER BY time DESC LIMIT 5`,
	`SELECT max(v), count(w) FROM (SELECT v, w FROM cpu GROUP BY host) GROUP BY host`,
}

// TestWindowedAnswersAreIdentical reads long raw series in windows
// (tiny ones here, so that every query crosses many) and checks every
// answer against the whole read's, and that the budget is all given
// back.
func TestWindowedAnswersAreIdentical(t *testing.T) {
	e := bigEngine(t, 4, 12_000)
	whole := &Executor{Store: e, windowBytes: 1 << 40}
	windowed := &Executor{Store: e, windowBytes: 64 << 10}
	for _, q := range memoryQueries {
		want, _, err := execute(t, whole, q, Options{})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		pool := membudget.NewPool(0, 0)
		acct := pool.Account()
		got, pieces, err := execute(t, windowed, q, Options{Memory: acct})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: windowed answer differs: %d series, want %d", q, len(got), len(want))
		}
		if acct.Held() != 0 {
			t.Errorf("%s: %d bytes still accounted after the statement", q, acct.Held())
		}
		if pool.Stats().Peak == 0 {
			t.Errorf("%s: nothing accounted", q)
		}
		t.Logf("%s: %d series in %d pieces, peak %d bytes", q, len(got), pieces, pool.Stats().Peak)
	}
}

// TestMemoryBudget runs each query within a generous budget (the same
// answer as without one) and within a tiny one (InfluxDB-style error
// naming the limit), and checks that the per-query and the total limit
// are both enforced and counted.
func TestMemoryBudget(t *testing.T) {
	e := bigEngine(t, 4, 12_000)
	x := &Executor{Store: e}
	for _, q := range memoryQueries {
		want, _, err := execute(t, x, q, Options{})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		pool := membudget.NewPool(256<<20, 1<<30)
		acct := pool.Account()
		got, _, err := execute(t, x, q, Options{Memory: acct})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s within budget: %v, answer equal: %v", q, err, reflect.DeepEqual(got, want))
		}
		acct.Close()
		if pool.Stats().Used != 0 || pool.Stats().Rejected != 0 {
			t.Errorf("%s: pool %+v after the query", q, pool.Stats())
		}
	}
	cases := []struct {
		q               string
		perQuery, total int64
		setting         string
	}{
		{`SELECT * FROM cpu`, 1 << 20, 0, membudget.QuerySetting},
		{`SELECT * FROM cpu GROUP BY *`, 1 << 20, 0, membudget.QuerySetting},
		{`SELECT median(v) FROM cpu`, 1 << 20, 0, membudget.QuerySetting},
		{`SELECT mean(v) FROM cpu GROUP BY time(1s)`, 1 << 20, 0, membudget.QuerySetting},
		{`SELECT max(v) FROM (SELECT v FROM cpu)`, 4 << 20, 0, membudget.QuerySetting},
		{`SELECT * FROM cpu`, 0, 1 << 20, membudget.TotalSetting},
		{`SELECT v FROM cpu ORDER BY time DESC`, 0, 1 << 20, membudget.TotalSetting},
	}
	for _, tc := range cases {
		pool := membudget.NewPool(tc.perQuery, tc.total)
		acct := pool.Account()
		_, _, err := execute(t, x, tc.q, Options{Memory: acct})
		var over *membudget.ExceededError
		if !errors.As(err, &over) || over.Setting != tc.setting {
			t.Errorf("%s: error %v, want %s exceeded", tc.q, err, tc.setting)
			continue
		}
		if msg := err.Error(); msg[:len(tc.setting)] != tc.setting {
			t.Errorf("%s: error %q does not start with the setting", tc.q, msg)
		}
		acct.Close()
		if st := pool.Stats(); st.Rejected != 1 || st.Used != 0 {
			t.Errorf("%s: pool %+v, want one rejection and nothing held", tc.q, st)
		}
	}
}

// TestMemoryBudgetTotalIsShared fills the total with one account and
// checks that a second query is refused.
func TestMemoryBudgetTotalIsShared(t *testing.T) {
	e := bigEngine(t, 2, 2_000)
	x := &Executor{Store: e}
	pool := membudget.NewPool(0, 4<<20)
	hog := pool.Account()
	if err := hog.Grow(4<<20 - 1000); err != nil {
		t.Fatal(err)
	}
	_, _, err := execute(t, x, `SELECT * FROM cpu`, Options{Memory: pool.Account()})
	var over *membudget.ExceededError
	if !errors.As(err, &over) || over.Setting != membudget.TotalSetting {
		t.Fatalf("error %v, want %s exceeded", err, membudget.TotalSetting)
	}
	hog.Close()
	if _, _, err := execute(t, x, `SELECT * FROM cpu`, Options{Memory: pool.Account()}); err != nil {
		t.Fatalf("after the other query ended: %v", err)
	}
}

// TestStreamingHoldsAWindow streams a raw answer far larger than the
// budget (about 200 MB were it materialized) through a 16 MiB budget:
// it must succeed, the account must stay under it, and the heap must not
// grow with the answer.
func TestStreamingHoldsAWindow(t *testing.T) {
	e := bigEngine(t, 2, 300_000)
	x := &Executor{Store: e}
	pool := membudget.NewPool(16<<20, 0)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	rows, pieces := 0, 0
	stmt, _ := influxql.ParseStatement(`SELECT * FROM cpu`)
	err := x.ExecuteStream(context.Background(), stmt, Options{Database: "db", Memory: pool.Account()}, func(r *Row) error {
		rows += len(r.Values)
		if pieces++; pieces%8 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 600_000 {
		t.Fatalf("%d rows, want 600000", rows)
	}
	if p := pool.Stats().Peak; p > 16<<20 {
		t.Errorf("accounted peak %d bytes", p)
	}
	if grown := int64(peak) - int64(base); grown > 64<<20 {
		t.Errorf("heap grew by %d MB while streaming %d rows", grown>>20, rows)
	}
	t.Logf("%d rows in %d pieces: accounted peak %d KiB, heap +%d MiB", rows, pieces, pool.Stats().Peak>>10, (int64(peak)-int64(base))>>20)
}

// TestDescendingIsAscendingReversed: ORDER BY time DESC lists the series
// of the ascending answer in reverse, each reversed, also across
// measurements and when series are read in windows.
func TestDescendingIsAscendingReversed(t *testing.T) {
	x := testEngine(t)
	windowed := &Executor{Store: bigEngine(t, 3, 6000), windowBytes: 64 << 10}
	for _, tc := range []struct {
		x *Executor
		q string
	}{
		{x, `SELECT * FROM cpu, mem`},
		{x, `SELECT * FROM /.*/ GROUP BY host`},
		{windowed, `SELECT * FROM cpu GROUP BY host`},
		{windowed, `SELECT v, s FROM cpu WHERE v > 100`},
	} {
		asc, _, err := execute(t, tc.x, tc.q, Options{})
		if err != nil {
			t.Fatal(err)
		}
		desc, _, err := execute(t, tc.x, tc.q+` ORDER BY time DESC`, Options{})
		if err != nil {
			t.Fatal(err)
		}
		reverse(asc)
		for _, r := range asc {
			reverse(r.Values)
		}
		if len(asc) < 2 && tc.x == x || !reflect.DeepEqual(desc, asc) {
			t.Errorf("%s: DESC is not ASC reversed (%d and %d series)", tc.q, len(desc), len(asc))
		}
	}
}
