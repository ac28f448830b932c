package httpapi

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"
)

func TestScanQuery(t *testing.T) {
	small := QueryLimits{MaxDepth: 3, MaxTerms: 5}
	for _, tc := range []struct {
		name  string
		q     string
		lim   QueryLimits
		stmts []string
		err   string
	}{
		{name: "one statement", q: `SELECT mean(idle) FROM cpu WHERE host = 'a' GROUP BY time(1m)`,
			stmts: []string{`SELECT mean(idle) FROM cpu WHERE host = 'a' GROUP BY time(1m)`}},
		{name: "statements split at semicolons, empty ones dropped", q: " SELECT a FROM b ;; SHOW DATABASES;\n-- done\n",
			stmts: []string{"SELECT a FROM b", "SHOW DATABASES"}},
		{name: "semicolons inside strings, identifiers, regexes and comments", q: `SELECT "a;b" FROM /x;y/ WHERE c = ';' /* ; */; SHOW DATABASES`,
			stmts: []string{`SELECT "a;b" FROM /x;y/ WHERE c = ';' /* ; */`, "SHOW DATABASES"}},
		{name: "depth at the limit", q: `SELECT a FROM (SELECT b FROM (SELECT mean(c) FROM d))`, lim: small,
			stmts: []string{`SELECT a FROM (SELECT b FROM (SELECT mean(c) FROM d))`}},
		{name: "depth past the limit", q: `SELECT a FROM (SELECT b FROM (SELECT c FROM (SELECT d FROM (SELECT e FROM f))))`, lim: small,
			err: "parentheses or subqueries nested deeper than 3 levels (max-query-depth) at line 1, char 60"},
		{name: "parentheses in strings, identifiers and regexes count nothing",
			q: `SELECT "((((" FROM cpu WHERE a = '((((' AND b =~ /((((/ AND c = '\'(((('`, lim: QueryLimits{MaxDepth: 1, MaxTerms: 6},
			stmts: []string{`SELECT "((((" FROM cpu WHERE a = '((((' AND b =~ /((((/ AND c = '\'(((('`}},
		{name: "closing parentheses hidden in a regex do not lower the depth",
			q: `SELECT a FROM (SELECT b FROM (SELECT c FROM /)))/ WHERE ((d = 1)))`, lim: small,
			err: "nested deeper than 3 levels (max-query-depth) at line 1, char 58"},
		{name: "a division is not a regex", q: `SELECT a / 2 / (b / (c / (d / (e)))) FROM f`, lim: QueryLimits{MaxDepth: 3, MaxTerms: 100},
			err: "nested deeper than 3 levels (max-query-depth) at line 1, char 31"},
		{name: "wildcard then division", q: `SELECT * / 2 / (((((a))))) FROM e`, lim: small,
			err: "nested deeper than 3 levels"},
		{name: "cast then division", q: `SELECT a::field / 2 / ((((b)))) FROM e`, lim: small,
			err: "nested deeper than 3 levels"},
		{name: "comment-like regex start is a comment", q: `SELECT a FROM b WHERE /* x/ ))) */ ((((c = 1))))`, lim: small,
			err: "nested deeper than 3 levels"},
		{name: "position on a later line", q: "SELECT a\nFROM b WHERE ((((c = 1))))", lim: small,
			err: "at line 2, char 17"},
		// Terms are operands: c = 1 OR d = 2 has four.
		{name: "terms at the limit", q: `SELECT a FROM b WHERE c = 1 OR d = 2 AND e`, lim: small,
			stmts: []string{`SELECT a FROM b WHERE c = 1 OR d = 2 AND e`}},
		{name: "terms past the limit", q: `SELECT a FROM b WHERE c = 1 OR d = 2 OR e = 3`, lim: small,
			err: "statement has more than 5 terms (max-query-terms) at line 1, char 43"},
		{name: "terms count per statement", q: `SELECT a FROM b WHERE c = 1 OR d; SELECT a FROM b WHERE c = 1 OR d`, lim: small,
			stmts: []string{`SELECT a FROM b WHERE c = 1 OR d`, `SELECT a FROM b WHERE c = 1 OR d`}},
		{name: "arithmetic terms", q: `SELECT a + b - c * d / e % f FROM g`, lim: small,
			err: "more than 5 terms"},
		{name: "unterminated string ends at the line", q: "SELECT a FROM b WHERE c = 'x\n((((", lim: small,
			err: "nested deeper than 3 levels (max-query-depth) at line 2, char 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := scanQuery(tc.q, tc.lim)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(stmts, "\x00") != strings.Join(tc.stmts, "\x00") {
				t.Errorf("statements %q, want %q", stmts, tc.stmts)
			}
		})
	}
}

// astNesting returns the deepest nesting of parenthesized nodes (calls,
// parentheses, subqueries) and the number of binary operators of a
// statement: what the text must show at least.
func astNesting(stmt influxql.Statement) (depth, ops int) {
	v := &nestVisitor{max: &depth, ops: &ops}
	influxql.Walk(v, stmt)
	return depth, ops
}

type nestVisitor struct {
	depth    int
	max, ops *int
}

func (v *nestVisitor) Visit(n influxql.Node) influxql.Visitor {
	switch n.(type) {
	case *influxql.Call, *influxql.ParenExpr, *influxql.SubQuery:
		w := &nestVisitor{depth: v.depth + 1, max: v.max, ops: v.ops}
		*v.max = max(*v.max, w.depth)
		return w
	case *influxql.BinaryExpr:
		*v.ops++
	}
	return v
}

// FuzzScanQuery checks scanQuery against influxql's parser: for any
// query that parses, it finds the same statements, and at least the
// nesting and the terms the parsed statements have, so that no query
// the parser would recurse deeper on gets past the bound.
func FuzzScanQuery(f *testing.F) {
	for _, q := range []string{
		`SELECT mean(idle) FROM cpu WHERE host = 'a' AND time > now() - 1h GROUP BY time(1m), host fill(none)`,
		`SELECT a FROM (SELECT b FROM (SELECT max(c) FROM d GROUP BY e)) WHERE f =~ /(x|y)/`,
		`SELECT * / 2 FROM cpu; SELECT a::field / (2) FROM "x"."y"./re(/`,
		`SELECT "a(" FROM cpu WHERE b = '(\'' /* ) */ -- )` + "\n" + `AND ((c > 1))`,
		`SHOW TAG VALUES FROM /c(pu/ WITH KEY =~ /h(ost/ WHERE ((a = 'b'))`,
		`SELECT top(a, /x(/, 3) FROM cpu WHERE $p = 1`,
		`SELECT a FROM b WHERE (c = 1 OR (d = 2 AND (e = 3))) AND f != 4 AND g <> 5`,
		`SELECT 1.5 / (2) FROM b WHERE time > 10s / (2)`,
		"SELECT a FROM b WHERE c = '\n(((('",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		huge := QueryLimits{MaxDepth: 1 << 30, MaxTerms: 1 << 30}
		stmts, err := scanQuery(q, huge)
		if err != nil && strings.Contains(err.Error(), "NUL") && strings.Contains(q, "\x00") {
			return
		}
		if err != nil {
			t.Fatalf("no limit reached, yet %v", err)
		}
		parsed, err := influxql.ParseQuery(q)
		if err != nil {
			return
		}
		if len(stmts) != len(parsed.Statements) {
			t.Fatalf("%d statements, the parser found %d: %q", len(stmts), len(parsed.Statements), stmts)
		}
		for i, stmt := range parsed.Statements {
			alone, err := influxql.ParseStatement(stmts[i])
			if err != nil || alone.String() != stmt.String() {
				t.Fatalf("statement %d %q parses to %v (%v), want %v", i, stmts[i], alone, err, stmt)
			}
			depth, ops := astNesting(stmt)
			if depth > 0 {
				if _, err := scanQuery(stmts[i], QueryLimits{MaxDepth: depth - 1, MaxTerms: 1 << 30}); depth > 1 && err == nil {
					t.Fatalf("%q nests %d deep, the scan saw less", stmts[i], depth)
				}
			}
			if ops > 0 {
				if _, err := scanQuery(stmts[i], QueryLimits{MaxDepth: 1 << 30, MaxTerms: ops}); err == nil {
					t.Fatalf("%q has %d operators, the scan saw fewer", stmts[i], ops)
				}
			}
		}
	})
}

func TestQueryLimitsHTTP(t *testing.T) {
	h := New(Options{Store: newFakeStore("db"), QueryLimits: QueryLimits{MaxSize: 100, MaxDepth: 2, MaxTerms: 3}})
	for _, tc := range []struct {
		name, q string
		code    int
		want    string
	}{
		{"within every limit", `SHOW DATABASES`, 200, `{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["db"]]}]}]}`},
		{"too large", "SHOW DATABASES" + strings.Repeat(" ", 100), 413,
			`{"error":"query too large: q is longer than 100 bytes (max-query-size)"}`},
		{"too deep", `SELECT a FROM (SELECT b FROM (SELECT c FROM (SELECT d FROM e)))`, 400,
			`{"error":"error parsing query: parentheses or subqueries nested deeper than 2 levels (max-query-depth) at line 1, char 45"}`},
		{"too many terms", `SELECT a FROM b WHERE c = 1 OR c = 2`, 400,
			`{"error":"error parsing query: statement has more than 3 terms (max-query-terms) at line 1, char 34"}`},
	} {
		for _, get := range []bool{false, true} {
			query := postQuery
			if get {
				query = getQuery
			}
			code, body := query(h, tc.q, "")
			if code != tc.code || strings.TrimSpace(body) != tc.want {
				t.Errorf("%s (GET %v): %d %s, want %d %s", tc.name, get, code, body, tc.code, tc.want)
			}
		}
	}
	vars := do(h, req{method: "GET", url: "/debug/vars"}).Body.String()
	for _, c := range []string{`"queryReqTooLarge":2`, `"queryReqTooDeep":2`, `"queryReqTooManyTerms":2`} {
		if !strings.Contains(vars, c) {
			t.Errorf("/debug/vars lacks %s: %s", c, vars)
		}
	}
}

// TestHugeQueryRefusedFast: a megabyte of parentheses, which influxql's
// parser would recurse into a megabyte deep (hundreds of MB of stack),
// is refused before parsing, in far less than the parse would take.
func TestHugeQueryRefusedFast(t *testing.T) {
	h := New(Options{Store: newFakeStore("db"), QueryLimits: QueryLimits{MaxSize: 4 << 20}})
	for _, q := range []string{
		"SELECT a FROM b WHERE " + strings.Repeat("(", 1<<20) + "c = 1" + strings.Repeat(")", 1<<20),
		strings.Repeat("SELECT a FROM (", 200_000),
		"SELECT a FROM b WHERE " + strings.Repeat("c = 1 OR ", 200_000) + "c = 1",
	} {
		start := time.Now()
		form := url.Values{"q": {q}}
		w := do(h, req{method: "POST", url: "/query", body: []byte(form.Encode()),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
		if w.Code != 400 || !strings.Contains(w.Body.String(), "error parsing query") {
			t.Errorf("%.40s...: %d %.200s", q, w.Code, w.Body.String())
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%.40s...: refused after %v", q, d)
		}
	}
}
