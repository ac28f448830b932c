package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/testutil"
)

// nestedSubqueries returns SELECT idle FROM (SELECT idle FROM (... cpu)),
// depth subqueries deep.
func nestedSubqueries(depth int) string {
	var b strings.Builder
	for range depth {
		b.WriteString("SELECT idle FROM (")
	}
	b.WriteString("SELECT idle FROM cpu WHERE time < '2026-01-01T00:01:00Z'")
	b.WriteString(strings.Repeat(")", depth))
	return b.String()
}

// orChain returns a condition of n terms: `term(0) OR term(1) ...`.
func orChain(n int, term func(i int) string) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(term(i))
	}
	return b.String()
}

// within runs fn and fails the test if it has not returned by the
// deadline (the work goes on in the background: this is a test that
// fails, not one that hangs, when a cost is back to quadratic).
func within[T any](t *testing.T, d time.Duration, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	d = testutil.Patience(d)
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
	panic("unreachable")
}

type result struct {
	rows []*Row
	err  error
}

// TestNestedSubqueriesLinear: 600 nested subqueries took 50 s (each
// level cloned and rewrote the whole statement below it, again at every
// level); they are now a few milliseconds per level, and answer as one.
func TestNestedSubqueriesLinear(t *testing.T) {
	x := testEngine(t)
	want, err := run(x, nestedSubqueries(1), Options{})
	if err != nil || len(want) != 1 || len(want[0].Values) != 12 {
		t.Fatalf("one level: %v %s", err, rowsString(want))
	}
	for _, depth := range []int{100, 600} {
		got := within(t, 20*time.Second, func() result {
			rows, err := run(x, nestedSubqueries(depth), Options{MaxQueryDepth: 1000})
			return result{rows, err}
		})
		if got.err != nil || rowsString(got.rows) != rowsString(want) {
			t.Errorf("%d levels: %v\n %s\nwant %s", depth, got.err, rowsString(got.rows), rowsString(want))
		}
	}
	// Wildcards expand at every level, over the level below.
	rows, err := run(x, `SELECT * FROM (SELECT * FROM (SELECT idle, n, host FROM cpu WHERE time < '2026-01-01T00:00:20Z')) WHERE host = 'h0'`, Options{})
	if want := "cpu map[] [time host idle n] [[2026-01-01 00:00:00 +0000 UTC h0 0 0] [2026-01-01 00:00:10 +0000 UTC h0 1 1]]\n"; err != nil || rowsString(rows) != want {
		t.Errorf("nested wildcards: %v\n %q\nwant %q", err, rowsString(rows), want)
	}
}

func TestSubqueryDepthLimit(t *testing.T) {
	x := testEngine(t)
	if _, err := run(x, nestedSubqueries(DefaultMaxQueryDepth), Options{}); err != nil {
		t.Errorf("%d levels: %v", DefaultMaxQueryDepth, err)
	}
	_, err := run(x, nestedSubqueries(DefaultMaxQueryDepth+1), Options{})
	var le *LimitError
	if !errors.As(err, &le) || err.Error() != "max-query-depth limit exceeded: subqueries nested deeper than 100 levels" {
		t.Errorf("%d levels: %v", DefaultMaxQueryDepth+1, err)
	}
	if _, err := run(x, nestedSubqueries(3), Options{MaxQueryDepth: 2}); !errors.As(err, &le) {
		t.Errorf("3 levels, limit 2: %v", err)
	}
}

// TestLongConditionsLinear: a 20,000-term OR took 35 s (influxql's
// ConditionExpr reduced every AND/OR subtree again at each level, and
// compilePredicate walked each subtree again at each node of every
// series); it is now linear.
func TestLongConditionsLinear(t *testing.T) {
	x := testEngine(t)
	for _, tc := range []struct {
		name, cond string
		rows       int
	}{
		{"tags", orChain(20_000, func(i int) string { return fmt.Sprintf("host = 'x%d'", i) }) + " OR host = 'h1'", 60},
		{"fields", orChain(20_000, func(i int) string { return fmt.Sprintf("n = %d", 1000+i) }) + " OR n = 3", 2},
		{"fields and tags", orChain(20_000, func(i int) string { return fmt.Sprintf("(host = 'h0' AND n = %d)", 1000+i) }) + " OR (host = 'h1' AND n < 2)", 2},
	} {
		got := within(t, 20*time.Second, func() result {
			rows, err := run(x, "SELECT n FROM cpu WHERE "+tc.cond, Options{})
			return result{rows, err}
		})
		n := 0
		for _, r := range got.rows {
			n += len(r.Values)
		}
		if got.err != nil || n != tc.rows {
			t.Errorf("%s: %v, %d rows, want %d", tc.name, got.err, n, tc.rows)
		}
	}
}

// TestTimeoutDuringPlanning: the deadline ends a statement in its
// planning too (a condition of 100,000 terms), within a small bound.
func TestTimeoutDuringPlanning(t *testing.T) {
	x := testEngine(t)
	var cond influxql.Expr = &influxql.BinaryExpr{Op: influxql.EQ, LHS: &influxql.VarRef{Val: "n"}, RHS: &influxql.IntegerLiteral{Val: -1}}
	for i := range 100_000 {
		cond = &influxql.BinaryExpr{Op: influxql.OR, LHS: cond,
			RHS: &influxql.BinaryExpr{Op: influxql.EQ, LHS: &influxql.VarRef{Val: "n"}, RHS: &influxql.IntegerLiteral{Val: int64(1000 + i)}}}
	}
	stmt := &influxql.SelectStatement{Fields: influxql.Fields{{Expr: &influxql.VarRef{Val: "n"}}},
		Sources: influxql.Sources{&influxql.Measurement{Name: "cpu"}}, Condition: cond}
	const timeout = 20 * time.Millisecond
	start := time.Now()
	got := within(t, 20*time.Second, func() result {
		rows, err := x.Execute(context.Background(), stmt, Options{Database: "db", Now: testStart.Add(time.Hour), Timeout: timeout})
		return result{rows, err}
	})
	if !errors.Is(got.err, ErrQueryTimeout) {
		t.Errorf("got %v, %d series; want %v", got.err, len(got.rows), ErrQueryTimeout)
	}
	if d := time.Since(start); d > timeout+testutil.Patience(time.Second) {
		t.Errorf("timeout reported after %v", d)
	}
}

func TestConditionExprCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cond, err := influxql.ParseExpr(orChain(5000, func(i int) string { return fmt.Sprintf("a = %d", i) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conditionExpr(ctx, cond, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %v", err, context.Canceled)
	}
}

// conditionCases are conditions whose reduction conditionExpr must give
// exactly as influxql.ConditionExpr does.
var conditionCases = []string{
	`host = 'a'`,
	`host = 'a' OR host = 'b' OR host = 'c'`,
	`(host = 'a' OR host = 'b') AND time > '2026-01-01T00:00:00Z' AND time < now()`,
	`time > now() - 1h AND (a > 1 OR b < 2)`,
	`true AND host = 'a'`,
	`host = 'a' AND false`,
	`host = 'a' OR true`,
	`false OR host = 'a'`,
	`host = 'a' AND true`,
	`false AND host = 'a'`,
	`true OR host = 'a'`,
	`host = 'a' OR false`,
	`1 = 1`,
	`1 = 2 OR host = 'a'`,
	`(1 = 1) AND (host = 'a')`,
	`((host = 'a'))`,
	`(((time > 10)))`,
	`a + 1 * 2 > 3 AND b = 'x' + 'y'`,
	`'a' AND 'b'`,
	`1 AND host`,
	`a AND 3`,
	`host =~ /x/ OR host !~ /y/`,
	`time > 10 OR time < 5`,
	`(time > 10 AND a = 1) OR (time < 5 AND b = 2)`,
	`TIME > 10 AND Time < 20`,
	`10 < time AND host = 'a'`,
	`time = 'nonsense'`,
	`now() > time`,
	`a = now()`,
	`a`,
	`1`,
	`(a) OR (b)`,
}

func TestConditionExprMatchesInfluxQL(t *testing.T) {
	for _, c := range conditionCases {
		checkConditionExpr(t, c)
	}
}

// FuzzConditionExpr compares conditionExpr with influxql.ConditionExpr
// on every condition that parses.
func FuzzConditionExpr(f *testing.F) {
	for _, c := range conditionCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if len(c) > 500 {
			return // influxql's own reduction is quadratic
		}
		checkConditionExpr(t, c)
	})
}

func checkConditionExpr(t *testing.T, c string) {
	t.Helper()
	expr, err := influxql.ParseExpr(c)
	if err != nil {
		return
	}
	valuer := &influxql.NowValuer{Now: testStart}
	wantExpr, wantTR, wantErr := influxql.ConditionExpr(expr, valuer)
	gotExpr, gotTR, gotErr := conditionExpr(context.Background(), expr, valuer)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%s: error %v, want %v", c, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if fmt.Sprint(gotExpr) != fmt.Sprint(wantExpr) || !gotTR.Min.Equal(wantTR.Min) || !gotTR.Max.Equal(wantTR.Max) {
		t.Fatalf("%s:\n got %v %v\nwant %v %v", c, gotExpr, gotTR, wantExpr, wantTR)
	}
}

func TestStatementText(t *testing.T) {
	for _, q := range []string{
		`SELECT mean(idle) FROM cpu WHERE (host = 'a' OR host = 'b') AND time > now() - 1h GROUP BY time(1m), host fill(none) LIMIT 3`,
		`SELECT * FROM (SELECT idle FROM cpu WHERE n > 1 + 2) WHERE "x" = 'y' AND z =~ /a/`,
		`SHOW TAG VALUES WITH KEY = "host" WHERE a = 'b'`,
		`SELECT idle FROM cpu`,
	} {
		stmt, err := influxql.ParseStatement(q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := statementText(stmt), stmt.String(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	if got := truncateText(strings.Repeat("é", 3000), maxShownQuery); len(got) > maxShownQuery || !strings.HasSuffix(got, "é...") {
		t.Errorf("truncated to %d bytes, ending %q", len(got), got[len(got)-8:])
	}
}

// gatedStore holds every Read of the field "idle" until release is
// closed; other reads pass.
type gatedStore struct {
	Store
	release chan struct{}
}

func (g *gatedStore) Read(req storage.ReadRequest, fn storage.ReadFunc) error {
	if slices.Contains(req.Fields, "idle") {
		<-g.release
	}
	return g.Store.Read(req, fn)
}

// TestShowQueriesWithHugeQuery: SHOW QUERIES rendered every statement
// while holding the list's lock, and one 20,000-term statement takes 18 s
// to render: SHOW QUERIES and every statement's start waited for it. The
// lock is now held only to copy the list, the text is rendered in linear
// time (or taken as sent) and cut to maxShownQuery bytes.
func TestShowQueriesWithHugeQuery(t *testing.T) {
	base := testEngine(t)
	gs := &gatedStore{Store: base.Store, release: make(chan struct{})}
	x := &Executor{Store: gs}
	huge := "SELECT idle FROM cpu WHERE " + orChain(20_000, func(i int) string { return fmt.Sprintf("host = 'h%d'", i) })
	errc := make(chan error, 2)
	for _, text := range []string{"", huge} {
		go func() {
			_, err := run(x, huge, Options{Text: text})
			errc <- err
		}()
	}
	defer func() {
		close(gs.release)
		for range 2 {
			if err := <-errc; err != nil {
				t.Errorf("huge query: %v", err)
			}
		}
	}()
	deadline := time.Now().Add(testutil.Patience(10 * time.Second))
	for {
		start := time.Now()
		rows := within(t, 3*time.Second, func() []*Row {
			rows, err := run(x, `SHOW QUERIES`, Options{})
			if err != nil {
				t.Error(err)
			}
			return rows
		})
		if d := time.Since(start); d > testutil.Patience(2*time.Second) {
			t.Fatalf("SHOW QUERIES took %v", d)
		}
		shown := 0
		for _, v := range rows[0].Values {
			text := v[1].(string)
			if strings.HasPrefix(text, "SELECT idle FROM cpu WHERE host = 'h0' OR host = 'h1' OR ") {
				if len(text) > maxShownQuery || !strings.HasSuffix(text, "...") {
					t.Fatalf("shown as %d bytes: ...%s", len(text), text[len(text)-20:])
				}
				shown++
			}
		}
		if shown == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the huge queries never showed: %.300s", rowsString(rows))
		}
	}
	// Other statements start and end meanwhile.
	rows := within(t, 3*time.Second, func() []*Row {
		rows, err := run(x, `SELECT state FROM mem WHERE host = 'h0' LIMIT 1`, Options{})
		if err != nil {
			t.Error(err)
		}
		return rows
	})
	if len(rows) != 1 {
		t.Errorf("small SELECT: %s", rowsString(rows))
	}
}

// TestLongTagConditionManySeries: a condition on tags only is answered
// exactly by the index, so the series it returns are not evaluated
// again, term by term (5,000 series × 10,000 terms took seconds).
func TestLongTagConditionManySeries(t *testing.T) {
	e := emptyEngine(t)
	var pts []models.Point
	for h := range 5000 {
		pts = append(pts, models.Point{Measurement: "cpu", Tags: models.Tags{{Key: "host", Value: fmt.Sprintf("h%d", h)}},
			Time: testStart.UnixNano(), Fields: []models.Field{models.IntegerField("n", int64(h))}})
	}
	if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
		t.Fatal(err)
	}
	x := &Executor{Store: e}
	cond := orChain(10_000, func(i int) string { return fmt.Sprintf("host = 'h%d'", i) })
	got := within(t, 10*time.Second, func() result {
		rows, err := run(x, "SELECT n FROM cpu WHERE "+cond+" GROUP BY host", Options{})
		return result{rows, err}
	})
	if got.err != nil || len(got.rows) != 5000 {
		t.Errorf("%v, %d series, want 5000", got.err, len(got.rows))
	}
}

func TestIndexExact(t *testing.T) {
	isField := func(n string) bool { return n == "f" }
	for _, tc := range []struct {
		cond  string
		exact bool
	}{
		{`host = 'a' OR (region =~ /x/ AND host != 'b')`, true},
		{`'a' = host AND true`, true},
		{`host > 'a' OR host = 1`, true},
		{`host != 1`, false},
		{`host = 'a' AND f > 1`, false},
		{`host + 'x' = 'ax'`, false},
		{`time > 0`, false},
	} {
		e, err := influxql.ParseExpr(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		if got := indexExact(e, isField); got != tc.exact {
			t.Errorf("%s: exact %v, want %v", tc.cond, got, tc.exact)
		}
	}
}
