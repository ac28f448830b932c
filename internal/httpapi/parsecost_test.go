package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"
)

// fill repeats unit until the text is about size bytes (prefix and
// suffix around it).
func fill(prefix, unit, sep, suffix string, size int) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; b.Len()+len(unit)+len(sep)+len(suffix) < size; i++ {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(unit)
	}
	b.WriteString(suffix)
	return b.String()
}

// TestParseCostAtDefaultLimits: the parse phase is not interruptible
// (the statements are not registered yet, so no timeout or KILL QUERY
// can reach them), so the text limits must bound it: every adversarial
// shape that the default limits let through (many statements, long
// strings, regexes and names, many fields and terms, deep nesting) is
// scanned and parsed in well under a second on amd64 (measured: at most
// 0.75 s, many regex sources). The bound asserted is relative, so that
// the race detector, a loaded machine or an emulator cannot fail it: no
// shape may cost more than 40 times a 1 MiB string literal, the
// simplest linear case, measured in the same run (measured: at most 4.5
// times, under -race on a loaded 2-core machine); a shape that turns
// quadratic at 1 MiB costs thousands of times more.
func TestParseCostAtDefaultLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("parses 14 MB of adversarial queries")
	}
	const size = DefaultMaxQuerySize
	terms := func(n int, unit, sep string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(unit, i)
		}
		return strings.Join(parts, sep)
	}
	var manyOr strings.Builder
	for manyOr.Len() < size-200_000 {
		manyOr.WriteString("SELECT v FROM m WHERE " + terms(4_999, "h = 'x%d'", " OR ") + ";")
	}
	var manyFields strings.Builder
	for manyFields.Len() < size-100_000 {
		manyFields.WriteString("SELECT " + terms(9_999, "f%d", ",") + " FROM m;")
	}
	var deep strings.Builder
	for deep.Len() < size-1000 {
		deep.WriteString("SELECT v FROM m WHERE " + strings.Repeat("(", 99) + "a = 1" + strings.Repeat(")", 99) + ";")
	}
	var deepSub strings.Builder
	for deepSub.Len() < size-3000 {
		deepSub.WriteString(strings.Repeat("SELECT v FROM (", 49) + "SELECT v FROM m" + strings.Repeat(")", 49) + ";")
	}
	cost := func(q string) (scan, parse time.Duration, scanErr, parseErr error) {
		start := time.Now()
		_, scanErr = scanQuery(q, QueryLimits{})
		scan = time.Since(start)
		start = time.Now()
		_, parseErr = influxql.NewParser(strings.NewReader(q)).ParseQuery()
		return scan, time.Since(start), scanErr, parseErr
	}
	bs, bp, _, _ := cost("SELECT v FROM m WHERE h = '" + strings.Repeat("x", size-40) + "'")
	baseline := bs + bp
	t.Logf("baseline (1 MiB string literal): %v", baseline.Round(time.Millisecond))
	for _, tc := range []struct{ name, q string }{
		{"many statements", fill("", "SELECT v FROM m", ";", "", size)},
		{"many tiny statements", fill("", "SHOW DATABASES", ";", "", size)},
		{"long string", "SELECT v FROM m WHERE h = '" + strings.Repeat("x", size-40) + "'"},
		{"long regex literal", "SELECT v FROM m WHERE h =~ /" + strings.Repeat("x", size-40) + "/"},
		{"long regex alternation", "SELECT v FROM m WHERE h =~ /" + fill("", "ab", "|", "", size-40) + "/"},
		{"regex classes", "SELECT v FROM m WHERE h =~ /" + fill("", "[a-z0-9]x", "", "", size-40) + "/"},
		{"regex repeats", "SELECT v FROM m WHERE h =~ /" + fill("", "(x{1,1000}y{2,1000})", "", "", size-40) + "/"},
		{"long identifier", `SELECT "` + strings.Repeat("x", size-40) + `" FROM m`},
		{"many regex sources", fill("SELECT v FROM ", "/x+y*z?/", ",", "", size)},
		{"10k-term ORs", manyOr.String()},
		{"10k fields", manyFields.String()},
		{"depth 99 conditions", deep.String()},
		{"subqueries 49 deep", deepSub.String()},
		{"10k durations", "SELECT v FROM m WHERE time > now() - " + terms(9_998, "%dns", " - ")},
	} {
		if len(tc.q) > size {
			t.Fatalf("%s: %d bytes", tc.name, len(tc.q))
		}
		scan, parse, err, perr := cost(tc.q)
		if err != nil {
			t.Fatalf("%s: refused at the default limits: %v", tc.name, err)
		}
		perrText := ""
		if perr != nil {
			perrText = perr.Error()
			if len(perrText) > 80 {
				perrText = perrText[:80] + "..."
			}
		}
		t.Logf("%-24s %8d B  scan %6v  parse %6v  %s", tc.name, len(tc.q), scan.Round(time.Millisecond), parse.Round(time.Millisecond), perrText)
		if scan+parse > 40*baseline {
			t.Errorf("%s: scan %v, parse %v: more than 40 times the baseline %v", tc.name, scan, parse, baseline)
		}
	}
}
