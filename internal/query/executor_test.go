package query

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
)

var testStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// emptyEngine opens an engine in a temp dir, closed when the test ends,
// with the empty database "db" the tests query.
func emptyEngine(t testing.TB) *storage.Engine {
	t.Helper()
	e, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.CreateDatabase("db"); err != nil {
		t.Fatal(err)
	}
	return e
}

// testEngine holds two hosts' cpu and mem for 10 minutes at 10 s.
func testEngine(t testing.TB) *Executor { return testEngineFlushed(t, false) }

// testEngineFlushed is testEngine, with its data flushed to block files
// when flush is set.
func testEngineFlushed(t testing.TB, flush bool) *Executor {
	t.Helper()
	e := emptyEngine(t)
	var pts []models.Point
	for s := 0; s < 60; s++ {
		ts := testStart.Add(time.Duration(s) * 10 * time.Second).UnixNano()
		for h := 0; h < 2; h++ {
			tags := models.Tags{{Key: "host", Value: fmt.Sprintf("h%d", h)}}
			pts = append(pts,
				models.Point{Measurement: "cpu", Tags: tags, Time: ts, Fields: []models.Field{
					models.FloatField("idle", float64(s%7)+float64(h)), models.IntegerField("n", int64(s))}},
				models.Point{Measurement: "mem", Tags: tags, Time: ts, Fields: []models.Field{
					models.StringField("state", "ok"), models.BooleanField("up", s%2 == 0)}})
		}
	}
	if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
		t.Fatal(err)
	}
	if flush {
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return &Executor{Store: e}
}

func run(x *Executor, q string, opt Options) ([]*Row, error) {
	stmt, err := influxql.ParseStatement(q)
	if err != nil {
		return nil, err
	}
	if opt.Database == "" {
		opt.Database = "db"
	}
	if opt.Now.IsZero() {
		opt.Now = testStart.Add(time.Hour)
	}
	return x.Execute(context.Background(), stmt, opt)
}

func TestErrors(t *testing.T) {
	x := testEngine(t)
	f := func(q, want string) {
		t.Helper()
		_, err := run(x, q, Options{MaxSelectBuckets: 1000})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", q, err, want)
		}
	}
	f(`SELECT mean(idle) FROM cpu WHERE time > '2025-01-01T00:00:00Z' GROUP BY time(1s)`, "max-select-buckets limit exceeded")
	f(`SELECT mean(idle) FROM cpu WHERE time > '2025-01-01T00:00:00Z' GROUP BY time(1ns) fill(none)`, "max-select-buckets limit exceeded")
	f(`SELECT holt_winters(mean(idle), 1, 1) FROM cpu WHERE time > '2026-01-01T00:00:00Z' GROUP BY time(1m)`, "not supported yet: holt_winters()")
	f(`SELECT mean(idle) INTO nodb..other FROM cpu`, "database not found: nodb")
	f(`SELECT mean(state) FROM mem`, "unsupported mean iterator type")
	f(`SELECT nosuch(idle) FROM cpu`, "undefined function nosuch()")
	f(`SELECT idle FROM nodb..cpu`, "database not found: nodb")
	f(`SELECT top(idle, 0) FROM cpu`, "limit (0) in top function must be at least 1")
}

// TestDeletionsThroughStorage runs DROP SERIES, DROP MEASUREMENT and
// DELETE against the real engine.
func TestDeletionsThroughStorage(t *testing.T) {
	x := testEngine(t)
	count := func(q string) int {
		t.Helper()
		rows, err := run(x, q, Options{})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		n := 0
		for _, r := range rows {
			n += len(r.Values)
		}
		return n
	}
	before := count(`SHOW SERIES FROM cpu`)
	if before < 2 {
		t.Fatalf("test data has %d cpu series", before)
	}
	rows, err := run(x, `SHOW TAG VALUES FROM cpu WITH KEY = "host"`, Options{})
	if err != nil || len(rows) == 0 {
		t.Fatalf("tag values: %v", err)
	}
	host := rows[0].Values[0][1].(string)
	if _, err := run(x, `DROP SERIES FROM cpu WHERE host = '`+host+`'`, Options{}); err != nil {
		t.Fatal(err)
	}
	if after := count(`SHOW SERIES FROM cpu`); after >= before {
		t.Fatalf("DROP SERIES left %d of %d series", after, before)
	}
	pointsBefore := count(`SELECT * FROM cpu`)
	if _, err := run(x, `DELETE FROM cpu WHERE time < '`+testStart.Add(5*time.Minute).Format(time.RFC3339)+`'`, Options{}); err != nil {
		t.Fatalf("DELETE with a time range: %v", err)
	}
	if n := count(`SELECT * FROM cpu WHERE time < '` + testStart.Add(5*time.Minute).Format(time.RFC3339) + `'`); n != 0 {
		t.Fatalf("DELETE left %d points in its range", n)
	}
	if n := count(`SELECT * FROM cpu`); n == 0 || n >= pointsBefore {
		t.Fatalf("DELETE with a time range kept %d of %d points", n, pointsBefore)
	}
	if _, err := run(x, `DROP MEASUREMENT cpu`, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := count(`SHOW SERIES FROM cpu`); n != 0 {
		t.Fatalf("DROP MEASUREMENT left %d series", n)
	}
}

// The bounds keep a query from reading without limit.
func TestMaxPointsRead(t *testing.T) {
	x := testEngine(t)
	if _, err := run(x, `SELECT idle FROM cpu`, Options{MaxPointsRead: 50}); err == nil || !strings.Contains(err.Error(), "max-select-point limit exceeded") {
		t.Errorf("raw: %v", err)
	}
	if _, err := run(x, `SELECT mean(idle) FROM cpu GROUP BY host`, Options{MaxPointsRead: 50}); err == nil {
		t.Error("streaming aggregate: no error")
	}
	if rows, err := run(x, `SELECT mean(idle) FROM cpu`, Options{MaxPointsRead: 1000}); err != nil || len(rows) != 1 {
		t.Errorf("under the bound: %v %v", rows, err)
	}
}

func TestWindowTimeZones(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	p := &plan{interval: int64(24 * time.Hour), loc: berlin}
	// The day of the spring change has 23 hours in Berlin.
	day := time.Date(2026, 3, 29, 12, 0, 0, 0, berlin)
	start, end := p.window(day.UnixNano())
	if got, want := time.Unix(0, start).In(berlin), time.Date(2026, 3, 29, 0, 0, 0, 0, berlin); !got.Equal(want) {
		t.Errorf("start %v, want %v", got, want)
	}
	if got := time.Duration(end - start); got != 23*time.Hour {
		t.Errorf("length %v, want 23h", got)
	}
	p = &plan{interval: int64(time.Minute), offset: int64(15 * time.Second)}
	start, end = p.window(testStart.Add(10 * time.Second).UnixNano())
	if start != testStart.Add(-45*time.Second).UnixNano() || end != testStart.Add(15*time.Second).UnixNano() {
		t.Errorf("offset window [%d, %d)", start, end)
	}
}

// The streaming path and the row path agree.
func TestStreamingMatchesRows(t *testing.T) {
	x := testEngine(t)
	for _, q := range []string{
		`SELECT count(idle), sum(idle), mean(idle), min(idle), max(idle), first(idle), last(idle), spread(idle) FROM cpu GROUP BY time(1m), host`,
		`SELECT sum(n), min(n), max(n), spread(n), first(n), last(n) FROM cpu GROUP BY time(70s)`,
		`SELECT max(idle) FROM cpu`,
		`SELECT first(state), last(up), count(up) FROM mem GROUP BY time(2m)`,
		`SELECT mean(idle), count(n) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' GROUP BY time(1h) tz('Asia/Kolkata')`,
	} {
		stream, err := run(x, q, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// A field condition that is always true forces the row path.
		cond := "n >= 0"
		if strings.Contains(q, "FROM mem") {
			cond = "state = 'ok'"
		}
		var forced string
		if strings.Contains(q, " WHERE ") {
			forced = strings.Replace(q, " WHERE ", " WHERE "+cond+" AND ", 1)
		} else {
			forced = strings.Replace(q, " GROUP BY", " WHERE "+cond+" GROUP BY", 1)
			if !strings.Contains(q, " GROUP BY") {
				forced = q + " WHERE " + cond
			}
		}
		rows, err := run(x, forced, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := fmt.Sprint(rowsString(stream)), fmt.Sprint(rowsString(rows)); a != b {
			t.Errorf("%s\nstream: %s\n  rows: %s", q, a, b)
		}
	}
}

func rowsString(rows []*Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s %v %v %v\n", r.Name, r.Tags, r.Columns, r.Values)
	}
	return b.String()
}

// FuzzExecute runs any parsable statement against a small data set: it
// must answer or fail, never panic or hang.
func FuzzExecute(f *testing.F) {
	for _, q := range []string{
		`SELECT * FROM cpu`,
		`SELECT mean(idle) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' GROUP BY time(1m), * fill(linear)`,
		`SELECT derivative(mean(n), 1s) * 2 FROM cpu WHERE time >= '2026-01-01T00:00:00Z' GROUP BY time(30s) ORDER BY time DESC`,
		`SELECT top(idle, host, 2), n FROM cpu`,
		`SELECT percentile(idle, 50), integral(n) FROM cpu GROUP BY time(1m)`,
		`SELECT state, up FROM mem WHERE up = true AND host =~ /h1/ ORDER BY time DESC LIMIT 3`,
		`SHOW TAG VALUES WITH KEY =~ /.*/ WHERE host <> 'x'`,
		`SHOW SERIES CARDINALITY`,
		`SELECT count(distinct(n)) FROM cpu GROUP BY time(1m) tz('Europe/Berlin')`,
		`SELECT mode(idle), median(idle), stddev(idle), sample(idle, 3) FROM cpu`,
		`SELECT mean(idle) FROM cpu GROUP BY time(1ns)`,
		`SELECT mean(idle) FROM cpu WHERE time > '1677-09-22T00:00:00Z' GROUP BY time(1ns) fill(none)`,
		`SELECT moving_average(mean(idle), 9223372036854775807) FROM cpu WHERE time > now() - 1h GROUP BY time(1h)`,
		`SELECT moving_average(mean(idle), 1000000) FROM cpu WHERE time > now() - 1h GROUP BY time(1h) ORDER BY time DESC`,
		`SELECT top(idle, 9223372036854775807), bottom(n, 1) FROM cpu`,
		`SELECT idle FROM cpu ORDER BY time DESC LIMIT 9223372036854775807 OFFSET 9223372036854775807`,
	} {
		f.Add(q)
	}
	head, blocks := testEngine(f), testEngineFlushed(f, true)
	f.Fuzz(func(t *testing.T, q string) {
		stmt, err := influxql.ParseStatement(q)
		if err != nil {
			return
		}
		if _, ok := stmt.(*influxql.SelectStatement); !ok {
			// Other statements change or list state; one engine is enough.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = head.Execute(ctx, stmt, Options{Database: "db", Now: testStart.Add(time.Hour),
				MaxSelectBuckets: 10_000, MaxPointsRead: 100_000})
			return
		}
		// The same data in the head and in block files (read through
		// chunks, summaries and instant reads) gives the same answer.
		var rows [2][]*Row
		var errs [2]error
		for i, x := range []*Executor{head, blocks} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			rows[i], errs[i] = x.Execute(ctx, stmt, Options{Database: "db", Now: testStart.Add(time.Hour),
				MaxSelectBuckets: 10_000, MaxPointsRead: 100_000})
			cancel()
		}
		if errs[0] != nil || errs[1] != nil {
			return // timeouts and limits may hit one engine and not the other
		}
		if !sameRows(rows[1], rows[0]) {
			t.Fatalf("%s:\n blocks %s\n   head %s", q, dump(rows[1]), dump(rows[0]))
		}
	})
}

// rawTail (ORDER BY time DESC LIMIT) returns what the whole read returns.
func TestRawTailMatchesFullRead(t *testing.T) {
	x := testEngine(t)
	for _, tc := range []struct {
		q            string
		limit, offst int
		now          time.Time
	}{
		{`SELECT * FROM cpu GROUP BY host ORDER BY time DESC`, 1, 0, testStart.Add(10 * time.Minute)},
		{`SELECT idle FROM cpu WHERE idle > 3 ORDER BY time DESC`, 7, 2, testStart.AddDate(5, 0, 0)},
		{`SELECT n, host FROM cpu WHERE time < '2026-01-01T00:04:00Z' ORDER BY time DESC`, 30, 25, testStart.Add(time.Hour)},
		{`SELECT * FROM mem WHERE up = true GROUP BY * ORDER BY time DESC`, 100, 0, testStart},
	} {
		full, err := run(x, tc.q, Options{Now: tc.now})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range full {
			r.Values = limitOffset(r.Values, tc.limit, tc.offst)
		}
		q := fmt.Sprintf("%s LIMIT %d OFFSET %d", tc.q, tc.limit, tc.offst)
		tail, err := run(x, q, Options{Now: tc.now})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := rowsString(tail), rowsString(full); a != b {
			t.Errorf("%s\n tail: %s\n full: %s", q, a, b)
		}
	}
}

// blockingStore holds every Read until release is closed.
type blockingStore struct {
	Store
	release chan struct{}
}

func (b *blockingStore) Read(req storage.ReadRequest, fn storage.ReadFunc) error {
	<-b.release
	return b.Store.Read(req, fn)
}

func TestTimeout(t *testing.T) {
	x := testEngine(t)
	// A nanosecond has passed before storage is read.
	if _, err := run(x, `SELECT mean(idle) FROM cpu`, Options{Timeout: time.Nanosecond}); !errors.Is(err, ErrQueryTimeout) {
		t.Errorf("slow SELECT: %v, want %v", err, ErrQueryTimeout)
	}
	if _, err := run(x, `SELECT mean(idle) FROM cpu`, Options{Timeout: time.Minute}); err != nil {
		t.Errorf("fast SELECT: %v", err)
	}
}

func TestShowAndKillQueries(t *testing.T) {
	base := testEngine(t)
	bs := &blockingStore{Store: base.Store, release: make(chan struct{})}
	x := &Executor{Store: bs}
	errc := make(chan error, 1)
	go func() {
		_, err := run(x, `SELECT mean(idle) FROM cpu`, Options{})
		errc <- err
	}()
	var qid int64
	deadline := time.Now().Add(5 * time.Second)
	for qid == 0 {
		rows, err := run(x, `SHOW QUERIES`, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range rows[0].Values {
			if v[1] == `SELECT mean(idle) FROM cpu` && v[2] == "db" && v[4] == "running" {
				qid = v[0].(int64)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running SELECT never showed: %v", rowsString(rows))
		}
	}
	if _, err := run(x, fmt.Sprintf("KILL QUERY %d", qid), Options{}); err != nil {
		t.Fatal(err)
	}
	close(bs.release)
	if err := <-errc; !errors.Is(err, ErrQueryInterrupted) {
		t.Errorf("killed SELECT: %v, want %v", err, ErrQueryInterrupted)
	}
	if _, err := run(x, "KILL QUERY 999", Options{}); err == nil || err.Error() != "no such query id: 999" {
		t.Errorf("KILL QUERY 999: %v", err)
	}
}

// recordingDeleter records what deletions ask of storage.
type recordingDeleter struct {
	Store
	calls []string
}

func (r *recordingDeleter) DropMeasurement(db, m string) error {
	r.calls = append(r.calls, fmt.Sprintf("drop %s %s", db, m))
	return nil
}

func (r *recordingDeleter) DeleteSeries(db string, ids []uint64) error {
	r.calls = append(r.calls, fmt.Sprintf("series %s %d", db, len(ids)))
	return nil
}

func (r *recordingDeleter) DeleteRange(db string, ids []uint64, minT, maxT int64) error {
	r.calls = append(r.calls, fmt.Sprintf("range %s %d %d %d", db, len(ids), minT, maxT))
	return nil
}

func TestDeletions(t *testing.T) {
	base := testEngine(t)
	rd := &recordingDeleter{Store: base.Store}
	x := &Executor{Store: rd}
	cut := testStart.Add(5 * time.Minute).UnixNano()
	for _, tc := range []struct{ q, call, err string }{
		{q: `DROP MEASUREMENT cpu`, call: "drop db cpu"},
		{q: `DROP MEASUREMENT nosuch`},
		{q: `DROP SERIES FROM cpu WHERE host = 'h1'`, call: "series db 1"},
		{q: `DROP SERIES WHERE host = 'h1'`, call: "series db 2"},
		{q: `DROP SERIES FROM cpu WHERE time > 5`, err: "DROP SERIES doesn't support time in WHERE clause"},
		{q: `DELETE FROM cpu WHERE idle > 1`, err: "fields not supported in WHERE clause during deletion"},
		{q: `DELETE FROM cpu WHERE host = 'h0' AND time < '2026-01-01T00:05:00Z'`, call: fmt.Sprintf("range db 1 %d %d", int64(influxql.MinTime), cut-1)},
		{q: `DELETE FROM nosuch WHERE time < now()`},
	} {
		rd.calls = nil
		_, err := run(x, tc.q, Options{})
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.q, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.q, err)
			continue
		}
		if got := strings.Join(rd.calls, ";"); got != tc.call {
			t.Errorf("%s: storage calls %q, want %q", tc.q, got, tc.call)
		}
	}
}
