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
// 0.75 s, many regex sources). The bound asserted is 5 s, for loaded
// machines: a shape that turns quadratic takes minutes.
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
		start := time.Now()
		_, err := scanQuery(tc.q, QueryLimits{})
		scan := time.Since(start)
		if err != nil {
			t.Fatalf("%s: refused at the default limits: %v", tc.name, err)
		}
		start = time.Now()
		_, perr := influxql.NewParser(strings.NewReader(tc.q)).ParseQuery()
		parse := time.Since(start)
		t.Logf("%-24s %8d B  scan %6v  parse %6v  %v", tc.name, len(tc.q), scan.Round(time.Millisecond), parse.Round(time.Millisecond), perr)
		if scan+parse > 5*time.Second {
			t.Errorf("%s: scan %v, parse %v", tc.name, scan, parse)
		}
	}
}
