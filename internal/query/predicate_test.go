package query

import (
	"math/rand"
	"testing"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// TestCompiledPredicateMatchesEval: wherever compilePredicate compiles a
// condition, it must accept exactly the rows eval accepts, including rows
// without the field, integers against float literals, mirrored
// comparisons and tag terms.
func TestCompiledPredicateMatchesEval(t *testing.T) {
	types := map[string]models.FieldType{"f": models.Float, "i": models.Integer, "u": models.Unsigned, "s": models.String, "b": models.Boolean}
	fields := []string{"f", "i", "u", "s", "b"}
	fidx := map[string]int{}
	for k, f := range fields {
		fidx[f] = k
	}
	tags := models.Tags{{Key: "host", Value: "pi1"}}
	conds := []struct {
		cond     string
		compiles bool
	}{
		{"f > 5", true}, {"f >= 5.5", true}, {"5 < f", true}, {"f = 3", true}, {"f != 3", true}, {"f <= -1", true},
		{"i > 4.5", true}, {"i = 7", true}, {"4 >= i", true}, {"u < 3", true}, {"u <> 2", true},
		{"f > 5 AND host = 'pi1'", true}, {"f > 5 OR host = 'pi2'", true}, {"(f > 5 OR i < 2) AND host =~ /pi/", true},
		{"host = 'pi1'", true}, {"host = 'pi2' AND f > 1", true}, {"nosuch = ''", true},
		{"f::integer > 5", false}, {"i::float > 5", false}, {"f + 1 > 5", false}, {"s = 'a'", false}, {"b = true", false},
		{"f > i", false}, {"f > 5 AND s = 'a'", false},
	}
	r := rand.New(rand.NewSource(3))
	const n = 200
	c := &seriesCols{cols: make([]block.Column, len(fields))}
	for k, f := range fields {
		c.cols[k].Type = types[f]
		for i := 0; i < n; i++ {
			c.cols[k].Times = append(c.cols[k].Times, int64(i))
			switch types[f] {
			case models.Float:
				c.cols[k].Floats = append(c.cols[k].Floats, float64(r.Intn(20))/2-2)
			case models.Integer:
				c.cols[k].Integers = append(c.cols[k].Integers, int64(r.Intn(10))-1)
			case models.Unsigned:
				c.cols[k].Unsigneds = append(c.cols[k].Unsigneds, uint64(r.Intn(5)))
			case models.String:
				c.cols[k].Strings = append(c.cols[k].Strings, string(rune('a'+r.Intn(3))))
			case models.Boolean:
				c.cols[k].Booleans = append(c.cols[k].Booleans, r.Intn(2) == 0)
			}
		}
	}
	for _, tc := range conds {
		expr, err := influxql.ParseExpr(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		// The planner types field references as InfluxDB's rewrite
		// does; explicit casts keep their type.
		influxql.WalkFunc(expr, func(n influxql.Node) {
			if v, ok := n.(*influxql.VarRef); ok && v.Type == influxql.Unknown {
				if ft, ok := types[v.Val]; ok && r.Intn(2) == 0 {
					v.Type = dataType(ft)
				}
			}
		})
		pred, ok := compilePredicate(expr, c, fidx, tags, types)
		if ok != tc.compiles {
			t.Errorf("%s: compiled %v, want %v", tc.cond, ok, tc.compiles)
		}
		if !ok {
			continue
		}
		at := make([]int, len(fields))
		vals := make([]any, len(fields))
		for i := 0; i < n; i++ {
			for k := range fields {
				at[k] = i
				if r.Intn(5) == 0 {
					at[k] = -1 // the row lacks this field
				}
				vals[k] = nil
				if at[k] >= 0 {
					vals[k] = c.value(k, i)
				}
			}
			row := &srow{t: int64(i), tags: tags, vals: vals, fidx: fidx}
			want := evalBool(expr, &rowValuer{tags: tags, row: row, types: types, cond: true})
			if got := pred(at); got != want {
				t.Fatalf("%s on %v: compiled %v, eval %v", tc.cond, vals, got, want)
			}
		}
	}
}
