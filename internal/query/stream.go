package query

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/storage/block"
)

// The streaming path computes the common aggregates while storage
// decodes, straight from its columns into per-bucket accumulators:
// no rows, no boxed values. It serves a select list of count, sum,
// mean, min, max, first, last and spread over plain fields, with a
// condition on tags only (the index already answered it exactly).
// Everything else takes the row path.

var streamFuncs = map[string]bool{"count": true, "sum": true, "mean": true, "min": true, "max": true,
	"first": true, "last": true, "spread": true}

// streamable reports whether p over src can take the streaming path.
func (p *plan) streamable(src *source) bool {
	if !p.aggregate {
		return false
	}
	for _, e := range p.exprs {
		if rawRefs(e) {
			return false
		}
	}
	if p.cond != nil {
		field := false
		influxql.WalkFunc(p.cond, func(n influxql.Node) {
			if v, ok := n.(*influxql.VarRef); ok && v.Type != influxql.Tag {
				if _, ok := src.types[v.Val]; ok {
					field = true
				}
			}
		})
		if field {
			return false
		}
	}
	for _, c := range topCalls(p.exprs) {
		if !streamFuncs[c.Name] || len(c.Args) != 1 {
			return false
		}
		ref, ok := c.Args[0].(*influxql.VarRef)
		if !ok {
			return false
		}
		t, ok := src.types[ref.Val]
		if !ok || ref.Type != influxql.Unknown && ref.Type != dataType(t) {
			return false
		}
		if t == models.String && c.Name != "count" && c.Name != "first" && c.Name != "last" {
			return false
		}
	}
	return true
}

// denseBuckets is the most buckets streamGroup allocates up front (an
// acc is ~200 bytes per call); beyond, buckets are made as data comes.
const denseBuckets = 4096

// acc accumulates one call over one bucket.
type acc struct {
	n    int64
	typ  models.FieldType
	sumF float64
	sumI int64
	sumU uint64
	a, b point // min/first/the pick, and max for spread
}

// streamGroup reads a group's series and returns its data buckets with
// their results, in time order.
func (x *Executor) streamGroup(ctx context.Context, p *plan, src *source, g *group, calls []*influxql.Call) ([]bucket, error) {
	byField := map[string][]int{}
	var fields []string
	for i, c := range calls {
		f := c.Args[0].(*influxql.VarRef).Val
		if byField[f] == nil {
			fields = append(fields, f)
		}
		byField[f] = append(byField[f], i)
	}
	sort.Strings(fields)
	ser := make(map[uint64]int32, len(g.series))
	for i, id := range g.series {
		ser[id] = int32(i)
	}
	var starts []int64
	index := map[int64]int{}
	accs := make([][]acc, len(calls))
	iv := p.interval
	// Over a bounded range of few uniform buckets, bucket i is at
	// base+i*interval: no map, no growing.
	dense := false
	var base int64
	if iv > 0 && p.loc == nil && p.minT != influxql.MinTime {
		base, _ = p.window(p.minT)
		if base <= p.maxT && (uint64(p.maxT)-uint64(base))/uint64(iv) < denseBuckets {
			dense = true
			n := int((p.maxT-base)/iv) + 1
			starts = make([]int64, n)
			for i := range starts {
				starts[i] = base + int64(i)*iv
			}
			for ci := range accs {
				accs[ci] = make([]acc, n)
			}
		}
	}
	used := make([]bool, len(starts))
	// slot returns the bucket of t, creating it.
	slot := func(t int64) (int, int64, int64) {
		start, end := p.lowerBound(), int64(influxql.MaxTime)
		if iv > 0 && p.loc != nil {
			start, end = p.window(t)
		} else if iv > 0 {
			m := (t - p.offset) % iv
			if m < 0 {
				m += iv
			}
			start = t - m
			end = start + iv
		}
		if dense {
			if bi := int((start - base) / iv); start >= base && bi < len(starts) {
				used[bi] = true
				return bi, start, end
			}
		}
		bi, ok := index[start]
		if !ok {
			bi = len(starts)
			index[start] = bi
			starts = append(starts, start)
			used = append(used, true)
			for ci := range accs {
				accs[ci] = append(accs[ci], acc{})
			}
		}
		if iv == 0 {
			start = influxql.MinTime
		}
		return bi, start, end
	}
	// A chunk inside one bucket is folded in from its summary, unread,
	// when every call on its field can use one.
	summary := func(id uint64, field string, m *block.ChunkMeta) (bool, error) {
		for _, ci := range byField[field] {
			if calls[ci].Name == "mean" && !m.Summary.SumExact {
				return false, nil
			}
		}
		bi, _, end := slot(m.MinTime)
		if m.MaxTime >= end {
			return false, nil // the chunk spans buckets: decode it
		}
		for _, ci := range byField[field] {
			accumulateSummary(calls[ci].Name, &accs[ci][bi], m, ser[id])
		}
		return true, ctx.Err()
	}
	err := x.Store.Read(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, Warn: src.warn, SeriesIDs: g.series,
		Fields: fields, MinTime: p.minT, MaxTime: p.maxT, Summary: summary}, func(id uint64, field string, col *block.Column) error {
		if err := p.budget.take(col.Len()); err != nil {
			return err
		}
		s := ser[id]
		for _, ci := range byField[field] {
			accumulate(calls[ci].Name, &accs[ci], col, s, slot)
		}
		return ctx.Err()
	})
	if err != nil {
		if _, ok := err.(*models.RetentionPolicyNotFoundError); ok {
			return nil, fmt.Errorf("retention policy not found: %s", src.rp)
		}
		return nil, err
	}
	order := make([]int, 0, len(starts))
	for i := range starts {
		if used[i] {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool { return starts[order[a]] < starts[order[b]] })
	out := make([]bucket, len(order))
	results := make([]aggResult, len(order)*len(calls))
	tk := ticker{ctx: ctx}
	for k, bi := range order {
		if err := tk.tick(); err != nil {
			return nil, err
		}
		res := results[k*len(calls) : (k+1)*len(calls) : (k+1)*len(calls)]
		for ci, c := range calls {
			res[ci] = accs[ci][bi].result(c.Name)
		}
		out[k] = bucket{start: starts[bi], res: res}
	}
	return out, nil
}

// accumulate folds a column into a call's buckets. Series arrive one
// after the other in group order, each in time order, so ties go the way
// the row path breaks them: first and min/max keep the earlier (time,
// series), last takes the later. The column is cut into runs of points
// of one bucket, each folded by a loop specialised for its type and
// call (the common floats and integers), with sums added in time order
// exactly as point by point.
func accumulate(name string, accs *[]acc, col *block.Column, ser int32, slot func(int64) (int, int64, int64)) {
	times := col.Times
	for i := 0; i < len(times); {
		bi, _, end := slot(times[i])
		j := i + 1
		for j < len(times) && times[j] < end {
			j++
		}
		a := &(*accs)[bi] // slot may have grown the slice
		if a.n == 0 {
			a.typ = col.Type
		}
		switch {
		case name == "count":
			a.n += int64(j - i)
		case name == "first":
			if a.n == 0 || times[i] < a.a.t {
				a.a = pointAt(col, i, ser)
			}
			a.n += int64(j - i)
		case name == "last":
			if a.n == 0 || times[j-1] >= a.a.t {
				a.a = pointAt(col, j-1, ser)
			}
			a.n += int64(j - i)
		case col.Type == models.Float:
			accumulateFloats(name, a, col, i, j, ser)
		case col.Type == models.Integer:
			accumulateIntegers(name, a, col, i, j, ser)
		default:
			for k := i; k < j; k++ {
				accumulatePoint(name, a, col, k, ser)
			}
		}
		i = j
	}
}

// accumulateFloats folds points [i, j) of a float column, all in a's
// bucket.
func accumulateFloats(name string, a *acc, col *block.Column, i, j int, ser int32) {
	v := col.Floats[i:j]
	if name == "sum" || name == "mean" {
		sum := a.sumF
		for _, x := range v {
			sum += x
		}
		a.sumF = sum
	} else {
		foldExtremes(name, a, v, col.Times[i:j], ser)
	}
	a.n += int64(j - i)
}

// accumulateIntegers folds points [i, j) of an integer column, all in
// a's bucket.
func accumulateIntegers(name string, a *acc, col *block.Column, i, j int, ser int32) {
	v := col.Integers[i:j]
	if name == "sum" || name == "mean" {
		si, sf := a.sumI, a.sumF
		for _, x := range v {
			si += x
			sf += float64(x)
		}
		a.sumI, a.sumF = si, sf
	} else {
		foldExtremes(name, a, v, col.Times[i:j], ser)
	}
	a.n += int64(j - i)
}

// foldExtremes folds a run's min, max or spread into a (before a.n
// counts the run): the run's extreme is found first, earliest among
// equals, then compared once with the bucket's.
func foldExtremes[T int64 | float64](name string, a *acc, v []T, times []int64, ser int32) {
	if name != "min" && name != "max" && name != "spread" {
		return
	}
	lo, hi := block.Extremes(v)
	pick := lo
	if name == "max" {
		pick = hi
	}
	cur := numberOf[T](&a.a)
	if x, t := v[pick], times[pick]; a.n == 0 || (name != "max") && (x < cur || x == cur && t < a.a.t) ||
		name == "max" && (x > cur || x == cur && t < a.a.t) {
		a.a = numberPoint(t, x, ser)
	}
	if x := v[hi]; name == "spread" && (a.n == 0 || x > numberOf[T](&a.b)) {
		a.b = numberPoint(times[hi], x, ser)
	}
}

// numberOf returns p's value as T (a float or integer point).
func numberOf[T int64 | float64](p *point) T {
	var zero T
	if _, isFloat := any(zero).(float64); isFloat {
		return T(p.f)
	}
	return T(p.i)
}

// numberPoint returns a float or integer point.
func numberPoint[T int64 | float64](t int64, x T, ser int32) point {
	switch v := any(x).(type) {
	case float64:
		return point{t: t, typ: models.Float, f: v, ser: ser}
	case int64:
		return point{t: t, typ: models.Integer, i: v, ser: ser}
	}
	return point{}
}

// pointAt returns point i of col.
func pointAt(col *block.Column, i int, ser int32) point {
	p := point{t: col.Times[i], typ: col.Type, ser: ser}
	switch col.Type {
	case models.Float:
		p.f = col.Floats[i]
	case models.Integer:
		p.i = col.Integers[i]
	case models.Unsigned:
		p.u = col.Unsigneds[i]
	case models.String:
		p.s = col.Strings[i]
	case models.Boolean:
		p.b = col.Booleans[i]
	}
	return p
}

// accumulatePoint folds point i of col (unsigned, string or boolean)
// into a.
func accumulatePoint(name string, a *acc, col *block.Column, i int, ser int32) {
	p := pointAt(col, i, ser)
	t := p.t
	switch name {
	case "sum", "mean":
		a.sumU += p.u
		f, _ := p.number()
		a.sumF += f
	case "min", "max", "spread":
		if a.n == 0 || (name != "max") && (less(&p, &a.a) || equalVal(&p, &a.a) && t < a.a.t) ||
			name == "max" && (less(&a.a, &p) || equalVal(&p, &a.a) && t < a.a.t) {
			a.a = p
		}
		if name == "spread" && (a.n == 0 || less(&a.b, &p)) {
			a.b = p
		}
	}
	a.n++
}

// accumulateSummary folds a whole chunk into a call's bucket from its
// summary, with the ties accumulate would give its points: min, max and
// first keep the earliest, last the latest.
func accumulateSummary(name string, a *acc, m *block.ChunkMeta, ser int32) {
	sm := &m.Summary
	typ := m.Type()
	if a.n == 0 {
		a.typ = typ
	}
	val := func(bits uint64, t int64) point {
		p := point{t: t, typ: typ, ser: ser}
		switch typ {
		case models.Float:
			p.f = math.Float64frombits(bits)
		case models.Integer:
			p.i = int64(bits)
		case models.Unsigned:
			p.u = bits
		}
		return p
	}
	switch name {
	case "sum", "mean":
		switch typ {
		case models.Float:
			a.sumF += math.Float64frombits(sm.Sum)
		case models.Integer:
			a.sumI += int64(sm.Sum)
			a.sumF += float64(int64(sm.Sum))
		case models.Unsigned:
			a.sumU += sm.Sum
			a.sumF += float64(sm.Sum)
		}
	case "first":
		if p := val(sm.First, m.MinTime); a.n == 0 || p.t < a.a.t {
			a.a = p
		}
	case "last":
		if p := val(sm.Last, m.MaxTime); a.n == 0 || p.t >= a.a.t {
			a.a = p
		}
	case "min", "spread":
		if p := val(sm.Min, sm.MinAt); a.n == 0 || less(&p, &a.a) || equalVal(&p, &a.a) && p.t < a.a.t {
			a.a = p
		}
		if p := val(sm.Max, sm.MaxAt); name == "spread" && (a.n == 0 || less(&a.b, &p)) {
			a.b = p
		}
	case "max":
		if p := val(sm.Max, sm.MaxAt); a.n == 0 || less(&a.a, &p) || equalVal(&p, &a.a) && p.t < a.a.t {
			a.a = p
		}
	}
	a.n += int64(m.Count)
}

// result is the call's value over the bucket, as aggregate() gives it.
func (a *acc) result(name string) aggResult {
	if a.n == 0 {
		if name == "count" {
			return aggResult{v: int64(0)}
		}
		return aggResult{}
	}
	switch name {
	case "count":
		return aggResult{v: a.n}
	case "sum":
		switch a.typ {
		case models.Integer:
			return aggResult{v: a.sumI}
		case models.Unsigned:
			return aggResult{v: a.sumU}
		}
		return aggResult{v: a.sumF}
	case "mean":
		return aggResult{v: a.sumF / float64(a.n)}
	case "spread":
		switch a.a.typ {
		case models.Integer:
			return aggResult{v: a.b.i - a.a.i}
		case models.Unsigned:
			return aggResult{v: a.b.u - a.a.u}
		}
		fa, _ := a.a.number()
		fb, _ := a.b.number()
		return aggResult{v: fb - fa}
	}
	return aggResult{v: a.a.value(), t: a.a.t, hasTime: true}
}
