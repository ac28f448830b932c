package query

import (
	"fmt"
	"math"
	"sort"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
)

// bucket holds the rows of one GROUP BY time bucket (or of the whole
// range without GROUP BY time).
type bucket struct {
	start int64
	rows  []*srow
	// res holds the bucket's results, one per call of the select list,
	// when they were computed while decoding (the streaming path), which
	// then keeps no rows.
	res []aggResult
}

// callResults pairs a select list's aggregate calls with their results
// over one bucket. A linear search beats a map for the few calls of a
// select list, and costs no allocation per bucket.
type callResults struct {
	calls []*influxql.Call
	vals  []aggResult
}

func (r callResults) lookup(c *influxql.Call) (aggResult, bool) {
	for i, x := range r.calls {
		if x == c {
			return r.vals[i], true
		}
	}
	return aggResult{}, false
}

// dataBuckets cuts a group's time-ordered rows into the buckets holding
// data.
func (p *plan) dataBuckets(rows []*srow) []bucket {
	if p.interval <= 0 {
		return []bucket{{start: p.lowerBound(), rows: rows}}
	}
	var out []bucket
	var end int64
	from := 0
	for i, r := range rows {
		if i == 0 || r.t >= end {
			if i > 0 {
				out[len(out)-1].rows = rows[from:i]
			}
			var start int64
			start, end = p.window(r.t)
			out = append(out, bucket{start: start})
			from = i
		}
	}
	out[len(out)-1].rows = rows[from:]
	return out
}

// allBuckets adds the empty buckets of the range around the data
// buckets, for fill(): from the statement's lower bound (or the first
// data bucket without one) to the bucket holding the upper bound.
func (p *plan) allBuckets(data []bucket) ([]bucket, error) {
	var first int64
	if p.minT != influxql.MinTime {
		first, _ = p.window(p.minT)
	} else if len(data) > 0 {
		first = data[0].start
	} else {
		return nil, nil
	}
	if err := p.checkBuckets(first, 0); err != nil {
		return nil, err
	}
	out := make([]bucket, 0, len(data))
	di := 0
	for t := first; t <= p.maxT; {
		if err := p.tk.tick(); err != nil {
			return nil, err
		}
		start, end := p.window(t)
		for di < len(data) && data[di].start < start {
			di++ // before the range (cannot happen with a bounded read)
		}
		if di < len(data) && data[di].start == start {
			out = append(out, data[di])
			di++
		} else {
			out = append(out, bucket{start: start})
		}
		if end <= t {
			break
		}
		t = end
	}
	return out, nil
}

// aggregateRows computes the select list per bucket, then applies fill,
// ORDER BY and transformations. Times in the result are int64.
func (p *plan) aggregateRows(rows []*srow, src *source) ([][]any, error) {
	calls := topCalls(p.exprs)
	buckets := p.dataBuckets(rows)
	if len(calls) == 1 && calls[0].Name == "distinct" {
		out, err := p.distinctRows(buckets, calls[0], src)
		if err != nil {
			return nil, err
		}
		if p.desc {
			reverse(out)
		}
		return out, nil
	}
	if len(calls) == 1 && multiSelectors[calls[0].Name] {
		out, err := p.multiSelect(buckets, calls[0], src)
		if err != nil {
			return nil, err
		}
		if p.desc {
			reverse(out)
		}
		return out, nil
	}
	integrals := map[*influxql.Call]map[int64]float64{}
	for _, c := range calls {
		if c.Name == "integral" {
			integrals[c] = p.integral(callPoints(c, rows, src), callArg(c))
		}
	}
	return p.finishAggregate(buckets, calls, integrals, src)
}

// finishAggregate evaluates the select list over each bucket's results,
// then applies fill, ORDER BY and transformations.
func (p *plan) finishAggregate(buckets []bucket, calls []*influxql.Call, integrals map[*influxql.Call]map[int64]float64, src *source) ([][]any, error) {
	tc, hasT := transformCall(p.exprs)
	exprs := p.exprs
	if hasT {
		exprs = []influxql.Expr{tc.Args[0]}
	}
	single := len(calls) == 1 && selectors[calls[0].Name]
	scratch := make([]aggResult, len(calls))
	var backing []any // the buckets' rows, allocated together
	compute := func(b bucket) ([]any, bool) {
		results := callResults{calls: calls, vals: b.res}
		if results.vals == nil {
			results.vals = scratch
		}
		emitted := b.res != nil
		for ci, c := range calls {
			if b.res != nil {
				break
			}
			var r aggResult
			switch {
			case !fieldExists(c, src):
				// A field the measurement lacks aggregates to null.
			case c.Name == "integral":
				if v, ok := integrals[c][b.start]; ok {
					r = aggResult{v: v}
				}
			default:
				if inner, ok := nestedDistinct(c); ok {
					r = aggResult{v: int64(len(distinctValues(callPoints(inner, b.rows, src))))}
					if len(b.rows) == 0 {
						r.v = int64(0)
					}
				} else {
					r = aggregate(c.Name, callPoints(c, b.rows, src), callArg(c))
				}
			}
			if r.v != nil && !(c.Name == "count" && r.v == int64(0)) {
				emitted = true
			}
			results.vals[ci] = r
		}
		t := b.start
		var aux *rowValuer
		if single {
			if r := results.vals[0]; r.hasTime {
				if p.interval == 0 {
					t = r.t
				}
				if r.row != nil {
					aux = &rowValuer{tags: r.row.tags, row: r.row, types: src.types}
				}
			}
		}
		if len(backing) < len(exprs)+1 {
			backing = make([]any, (len(exprs)+1)*min(len(buckets), 1024))
		}
		vals := backing[: 0 : len(exprs)+1]
		backing = backing[len(exprs)+1:]
		vals = append(vals, t)
		for _, e := range exprs {
			vals = append(vals, evalAgg(e, results, aux))
		}
		return vals, emitted
	}
	// InfluxDB never fills integral(): its buckets are those with data.
	if p.interval > 0 && p.stmt.Fill != influxql.NoFill && !hasCall(calls, "integral") {
		var err error
		if buckets, err = p.allBuckets(buckets); err != nil {
			return nil, err
		}
	}
	out := make([][]any, 0, len(buckets))
	empty := make([]bool, 0, len(buckets))
	for _, b := range buckets {
		if err := p.tk.tick(); err != nil {
			return nil, err
		}
		vals, emitted := compute(b)
		if p.interval == 0 && !emitted {
			return nil, nil
		}
		out = append(out, vals)
		empty = append(empty, !emitted)
	}
	if !hasCall(calls, "integral") {
		out = p.fill(out, empty, exprs, src)
	}
	if p.desc {
		reverse(out)
	}
	if hasT {
		out = p.transformBuckets(out, tc)
	}
	return out, nil
}

func hasCall(calls []*influxql.Call, name string) bool {
	for _, c := range calls {
		if c.Name == name {
			return true
		}
	}
	return false
}

// fieldExists reports whether a call's field is one of the source's.
func fieldExists(c *influxql.Call, src *source) bool {
	if inner, ok := nestedDistinct(c); ok {
		c = inner
	}
	if len(c.Args) == 0 {
		return false
	}
	ref, ok := c.Args[0].(*influxql.VarRef)
	if !ok {
		return true
	}
	_, ok = src.types[ref.Val]
	return ok
}

// callPoints collects the values a call aggregates from rows, in (time,
// series) order.
func callPoints(c *influxql.Call, rows []*srow, src *source) []point {
	if len(c.Args) == 0 {
		return nil
	}
	ref, ok := c.Args[0].(*influxql.VarRef)
	if !ok {
		return nil
	}
	ps := make([]point, 0, len(rows))
	for _, r := range rows {
		v, ok := r.get(ref.Val)
		if !ok {
			continue
		}
		if v = cast(v, ref.Type); v == nil {
			continue // field::type of another type
		}
		p := point{t: r.t, ser: r.ser, row: r}
		switch x := v.(type) {
		case float64:
			p.typ, p.f = models.Float, x
		case int64:
			p.typ, p.i = models.Integer, x
		case uint64:
			p.typ, p.u = models.Unsigned, x
		case string:
			p.typ, p.s = models.String, x
		case bool:
			p.typ, p.b = models.Boolean, x
		}
		ps = append(ps, p)
	}
	return ps
}

func callArg(c *influxql.Call) float64 {
	if len(c.Args) < 2 {
		return 0
	}
	switch a := c.Args[len(c.Args)-1].(type) {
	case *influxql.NumberLiteral:
		return a.Val
	case *influxql.IntegerLiteral:
		return float64(a.Val)
	case *influxql.DurationLiteral:
		return float64(a.Val)
	}
	return 0
}

// evalAgg evaluates a select expression with aggregate calls replaced by
// their results; other names resolve in aux, the row a lone selector
// picked.
func evalAgg(e influxql.Expr, results callResults, aux *rowValuer) any {
	switch n := e.(type) {
	case *influxql.Call:
		if r, ok := results.lookup(n); ok {
			return r.v
		}
		args := make([]any, len(n.Args))
		for i, a := range n.Args {
			args[i] = evalAgg(a, results, aux)
		}
		return mathCall(n.Name, args)
	case *influxql.BinaryExpr:
		return binary(n.Op, evalAgg(n.LHS, results, aux), evalAgg(n.RHS, results, aux))
	case *influxql.ParenExpr:
		return evalAgg(n.Expr, results, aux)
	case *influxql.VarRef:
		if aux != nil {
			return aux.value(n)
		}
		return nil
	case *influxql.NumberLiteral:
		return n.Val
	case *influxql.IntegerLiteral:
		return n.Val
	case *influxql.StringLiteral:
		return n.Val
	}
	return nil
}

// integerResult reports whether a call yields integers over the source
// (count, and the selectors and sums of integer fields), which decides
// how a fill value is typed.
func integerResult(e influxql.Expr, src *source) bool {
	c, ok := e.(*influxql.Call)
	if !ok {
		return false
	}
	switch c.Name {
	case "count":
		return true
	case "sum", "min", "max", "first", "last", "mode", "spread", "percentile":
		if ref, ok := c.Args[0].(*influxql.VarRef); ok {
			return src.types[ref.Val] == models.Integer
		}
	}
	return false
}

// fill applies the statement's fill option to empty GROUP BY time
// buckets.
func (p *plan) fill(rows [][]any, empty []bool, exprs []influxql.Expr, src *source) [][]any {
	if p.interval == 0 {
		return rows
	}
	switch p.stmt.Fill {
	case influxql.NoFill:
		out := rows[:0]
		for i, r := range rows {
			if !empty[i] {
				out = append(out, r)
			}
		}
		return out
	case influxql.NumberFill:
		for i, r := range rows {
			for c := 1; c < len(r); c++ {
				if r[c] == nil || empty[i] && isZeroCount(exprs[c-1]) {
					r[c] = p.stmt.FillValue
					if integerResult(exprs[c-1], src) {
						if f, ok := asFloat(r[c]); ok {
							r[c] = int64(f)
						}
					}
				}
			}
		}
	case influxql.PreviousFill:
		for i := 1; i < len(rows); i++ {
			for c := 1; c < len(rows[i]); c++ {
				if rows[i][c] == nil {
					rows[i][c] = rows[i-1][c]
				}
			}
		}
	case influxql.LinearFill:
		for c := 1; len(rows) > 0 && c < len(rows[0]); c++ {
			linearFill(rows, c)
		}
	}
	return rows
}

func isZeroCount(e influxql.Expr) bool {
	c, ok := e.(*influxql.Call)
	return ok && c.Name == "count"
}

func linearFill(rows [][]any, c int) {
	prev := -1
	for i := range rows {
		if rows[i][c] == nil {
			continue
		}
		if prev >= 0 && i-prev > 1 {
			a, aok := asFloat(rows[prev][c])
			b, bok := asFloat(rows[i][c])
			_, isInt := rows[prev][c].(int64)
			if aok && bok {
				for k := prev + 1; k < i; k++ {
					v := a + (b-a)*float64(k-prev)/float64(i-prev)
					if isInt {
						rows[k][c] = int64(v)
					} else {
						rows[k][c] = v
					}
				}
			}
		}
		prev = i
	}
}

// nestedDistinct recognises count(distinct(x)).
func nestedDistinct(c *influxql.Call) (*influxql.Call, bool) {
	if c.Name != "count" || len(c.Args) != 1 {
		return nil, false
	}
	inner, ok := c.Args[0].(*influxql.Call)
	return inner, ok && inner.Name == "distinct"
}

// distinctValues returns the distinct values of points, sorted.
func distinctValues(ps []point) []any {
	seen := map[any]bool{}
	var vals []any
	for _, pt := range ps {
		v := pt.value()
		if !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	sort.SliceStable(vals, func(i, j int) bool { return lessAny(vals[i], vals[j]) })
	return vals
}

func (p *plan) distinctRows(buckets []bucket, c *influxql.Call, src *source) ([][]any, error) {
	var out [][]any
	for _, b := range buckets {
		if err := p.tk.tick(); err != nil {
			return nil, err
		}
		for _, v := range distinctValues(callPoints(c, b.rows, src)) {
			out = append(out, []any{b.start, v})
		}
	}
	return out, nil
}

// multiSelect runs top(), bottom() or sample() per bucket: one output
// row per picked point, at the point's time, with the tags named in the
// call and the other fields of the select list read from the point's row.
func (p *plan) multiSelect(buckets []bucket, c *influxql.Call, src *source) ([][]any, error) {
	n := int(c.Args[len(c.Args)-1].(*influxql.IntegerLiteral).Val)
	var tagArgs []string
	for _, a := range c.Args[1 : len(c.Args)-1] {
		if ref, ok := a.(*influxql.VarRef); ok {
			tagArgs = append(tagArgs, ref.Val)
		}
	}
	var out [][]any
	for _, b := range buckets {
		if err := p.tk.tick(); err != nil {
			return nil, err
		}
		ps := callPoints(c, b.rows, src)
		var picked []point
		if c.Name == "sample" {
			picked = samplePoints(ps, n)
		} else {
			picked = topBottom(c.Name == "top", ps, n, tagArgs)
		}
		for i := range picked {
			pt := &picked[i]
			rv := &rowValuer{tags: pt.row.tags, row: pt.row, types: src.types}
			vals := []any{pt.t}
			for _, e := range p.exprs {
				if e == influxql.Expr(c) {
					vals = append(vals, pt.value())
					for _, k := range tagArgs {
						vals = append(vals, pt.row.tags.Get(k))
					}
					continue
				}
				vals = append(vals, eval(e, rv))
			}
			out = append(out, vals)
		}
	}
	return out, nil
}

// topBottom picks the n largest (top) or smallest values; equal values
// go to the earlier point. With tag names, only the best point of each
// combination of their values competes, as InfluxDB rewrites
// top(x, tag, n) to a top over max(x) GROUP BY tag. The result is in
// time order.
func topBottom(top bool, ps []point, n int, tags []string) []point {
	better := func(a, b *point) bool {
		if !equalVal(a, b) {
			return less(b, a) == top
		}
		if a.t != b.t {
			return a.t < b.t
		}
		return a.ser < b.ser
	}
	if len(tags) > 0 {
		best := map[string]int{}
		var order []string
		for i := range ps {
			k := ""
			for _, t := range tags {
				k += ps[i].row.tags.Get(t) + "\x00"
			}
			j, ok := best[k]
			if !ok {
				order = append(order, k)
				best[k] = i
			} else if better(&ps[i], &ps[j]) {
				best[k] = i
			}
		}
		sel := make([]point, 0, len(order))
		for _, k := range order {
			sel = append(sel, ps[best[k]])
		}
		ps = sel
	} else {
		ps = append([]point(nil), ps...)
	}
	sort.SliceStable(ps, func(i, j int) bool { return better(&ps[i], &ps[j]) })
	if len(ps) > n {
		ps = ps[:n]
	}
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].t != ps[j].t {
			return ps[i].t < ps[j].t
		}
		return ps[i].ser < ps[j].ser
	})
	return ps
}

// samplePoints returns n points spread evenly over ps (all of them when
// there are no more than n), in time order. InfluxDB samples at random;
// herd's choice is deterministic so that answers repeat.
func samplePoints(ps []point, n int) []point {
	if len(ps) <= n {
		return ps
	}
	out := make([]point, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, ps[i*len(ps)/n])
	}
	return out
}

// integral computes integral() per bucket as InfluxDB's integral reducer
// streams it: trapezoids between consecutive points, with the value at a
// bucket boundary interpolated so that each bucket gets the area inside
// it. Points at a repeated time replace the previous one.
func (p *plan) integral(ps []point, unit float64) map[int64]float64 {
	if unit == 0 {
		unit = 1e9
	}
	out := map[int64]float64{}
	if len(ps) == 0 {
		return out
	}
	ws, we := p.lowerBound(), int64(math.MaxInt64)
	if p.interval > 0 {
		ws, we = p.window(ps[0].t)
	}
	prevT := ps[0].t
	prevV, _ := ps[0].number()
	sum := 0.0
	for i := 1; i < len(ps); i++ {
		v, _ := ps[i].number()
		t := ps[i].t
		if t == prevT {
			prevV = v
			continue
		}
		if p.interval > 0 && t >= we {
			if prevT != we {
				value := prevV + (v-prevV)/float64(t-prevT)*float64(we-prevT)
				sum += 0.5 * (value + prevV) * float64(we-prevT) / unit
				prevV, prevT = value, we
			}
			out[ws] = sum
			ws, we = p.window(t)
			sum = 0
		}
		sum += 0.5 * (v + prevV) * float64(t-prevT) / unit
		prevT, prevV = t, v
	}
	out[ws] = sum
	return out
}

var _ = fmt.Sprintf
