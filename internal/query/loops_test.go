package query

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
)

// manySeries returns an executor over n series of measurement "wide"
// (tag host, field v), one point each at testStart.
func manySeries(t testing.TB, n int) *Executor {
	t.Helper()
	e := emptyEngine(t)
	pts := make([]models.Point, 0, 10_000)
	for h := range n {
		pts = append(pts, models.Point{Measurement: "wide", Tags: models.Tags{{Key: "host", Value: fmt.Sprintf("h%07d", h)}},
			Time: testStart.UnixNano(), Fields: []models.Field{models.IntegerField("v", int64(h))}})
		if len(pts) == cap(pts) || h == n-1 {
			if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
				t.Fatal(err)
			}
			pts = pts[:0]
		}
	}
	return &Executor{Store: e}
}

// TestTimeoutEndsLongLoops: a statement's loops over series, groups,
// buckets and tag values look at its context (every rowsPerCtxCheck
// units), so a short query-timeout ends the statement early; before,
// the grouping loop, the aggregate and fill loops over buckets, and the
// SHOW loops over series and tag values ran to their end whatever the
// timeout. Each statement is timed whole first: with a timeout of a
// twentieth of that, it must end with the timeout error in under half.
func TestTimeoutEndsLongLoops(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 series")
	}
	wide, small := manySeries(t, 100_000), testEngine(t)
	opt := Options{MaxSelectBuckets: 10_000_000}
	for _, tc := range []struct {
		class, q string
		x        *Executor
	}{
		// Grouping 100,000 series, of which one group is read.
		{"groups", "SELECT v FROM wide GROUP BY * SLIMIT 1", wide},
		// 864,000 buckets of one series, nearly all filled.
		{"aggregate buckets", "SELECT count(idle) FROM cpu WHERE host = 'h0' AND time >= '2026-01-01T00:00:00Z' AND time < '2026-01-11T00:00:00Z' GROUP BY time(1s) fill(0)", small},
		{"show tag values", "SHOW TAG VALUES WITH KEY = host WHERE host = 'h0000001'", wide},
		{"tag values cardinality", "SHOW TAG VALUES CARDINALITY WITH KEY = host", wide},
	} {
		t.Run(tc.class, func(t *testing.T) {
			start := time.Now()
			if _, err := run(tc.x, tc.q, opt); err != nil {
				t.Fatal(err)
			}
			whole := time.Since(start)
			if whole < 50*time.Millisecond {
				t.Fatalf("the statement takes %v: too short to tell a timeout", whole)
			}
			timed := opt
			timed.Timeout = whole / 20
			start = time.Now()
			_, err := run(tc.x, tc.q, timed)
			took := time.Since(start)
			if !errors.Is(err, ErrQueryTimeout) {
				t.Fatalf("with a %v timeout: %v", timed.Timeout, err)
			}
			if took > whole/2 {
				t.Fatalf("a %v timeout ended a statement of %v after %v", timed.Timeout, whole, took)
			}
		})
	}
}

// TestRegisteredUntilFinished: the caller's finish (where the HTTP layer
// encodes and writes the answer) runs while the statement is still in
// the running list: SHOW QUERIES lists it, and KILL QUERY ends its
// context with InfluxDB's error. Once finished it is gone from the list.
func TestRegisteredUntilFinished(t *testing.T) {
	x := testEngine(t)
	parse := func(q string) influxql.Statement {
		stmt, err := influxql.ParseStatement(q)
		if err != nil {
			t.Fatal(err)
		}
		return stmt
	}
	const text = "SELECT idle FROM cpu"
	var shown [][]any
	var cause error
	opt := Options{Database: "db", Text: text, Registered: func(ctx context.Context) func(error) error {
		return func(err error) error {
			rows, serr := x.Execute(context.Background(), parse("SHOW QUERIES"), Options{})
			if serr != nil {
				t.Fatal(serr)
			}
			for _, v := range rows[0].Values {
				if v[1] == text {
					shown = append(shown, v)
				}
			}
			if len(shown) == 1 {
				if _, err := x.Execute(context.Background(), parse(fmt.Sprintf("KILL QUERY %d", shown[0][0])), Options{}); err != nil {
					t.Fatal(err)
				}
			}
			cause = context.Cause(ctx)
			if ctx.Err() != nil {
				return cause // as the HTTP layer does: the answer carries the error
			}
			return err
		}
	}}
	err := x.ExecuteStream(context.Background(), parse(text), opt, func(*Row) error { return nil })
	if len(shown) != 1 {
		t.Fatalf("listed %d times while finishing: %v", len(shown), shown)
	}
	if !errors.Is(cause, ErrQueryInterrupted) || !errors.Is(err, ErrQueryInterrupted) {
		t.Fatalf("KILL QUERY while finishing: cause %v, statement %v", cause, err)
	}
	rows, _ := x.Execute(context.Background(), parse("SHOW QUERIES"), Options{})
	if len(rows[0].Values) != 1 {
		t.Fatalf("still listed after it finished: %v", rows[0].Values)
	}
}
