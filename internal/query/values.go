package query

import (
	"math"
	"sort"

	"github.com/herdmon/herd/internal/models"
)

// point is one value of one field of one series at one time. The value
// lives in the field matching typ.
type point struct {
	t   int64
	typ models.FieldType
	f   float64
	i   int64
	u   uint64
	s   string
	b   bool
	ser int32 // series order within its group: the tie-breaker InfluxDB uses
	row *srow // the row the value comes from, for selectors' other columns
}

func (p *point) value() any {
	switch p.typ {
	case models.Float:
		return p.f
	case models.Integer:
		return p.i
	case models.Unsigned:
		return p.u
	case models.String:
		return p.s
	case models.Boolean:
		return p.b
	}
	return nil
}

func (p *point) number() (float64, bool) {
	switch p.typ {
	case models.Float:
		return p.f, true
	case models.Integer:
		return float64(p.i), true
	case models.Unsigned:
		return float64(p.u), true
	}
	return 0, false
}

// aggResult is the output of an aggregate over one bucket: a value (nil
// for none) and, for selectors, the time of the selected point.
type aggResult struct {
	v       any
	t       int64
	hasTime bool
	row     *srow
}

// aggregate computes an InfluxQL aggregate or selector over points
// sorted by (time, series). arg is the call's extra numeric argument
// (percentile's N, integral's unit).
func aggregate(name string, ps []point, arg float64) aggResult {
	if len(ps) == 0 {
		if name == "count" {
			return aggResult{v: int64(0)}
		}
		return aggResult{}
	}
	switch name {
	case "count":
		return aggResult{v: int64(len(ps))}
	case "first":
		return aggResult{v: ps[0].value(), t: ps[0].t, hasTime: true, row: ps[0].row}
	case "last":
		// The last time; among equal times the last series, as InfluxDB.
		j := len(ps) - 1
		return aggResult{v: ps[j].value(), t: ps[j].t, hasTime: true, row: ps[j].row}
	case "min", "max":
		best := -1
		for i := range ps {
			if _, ok := ps[i].number(); !ok {
				if ps[i].typ == models.Boolean {
					// InfluxDB: max(true) > false.
				} else {
					continue
				}
			}
			if best < 0 || less(&ps[i], &ps[best]) == (name == "min") && !equalVal(&ps[i], &ps[best]) {
				best = i
			}
		}
		if best < 0 {
			return aggResult{}
		}
		return aggResult{v: ps[best].value(), t: ps[best].t, hasTime: true, row: ps[best].row}
	case "sum":
		if ps[0].typ == models.Integer {
			var s int64
			for i := range ps {
				s += ps[i].i
			}
			return aggResult{v: s}
		}
		if ps[0].typ == models.Unsigned {
			var s uint64
			for i := range ps {
				s += ps[i].u
			}
			return aggResult{v: s}
		}
		var s float64
		for i := range ps {
			f, _ := ps[i].number()
			s += f
		}
		return aggResult{v: s}
	case "mean":
		var s float64
		n := 0
		for i := range ps {
			if f, ok := ps[i].number(); ok {
				s += f
				n++
			}
		}
		if n == 0 {
			return aggResult{}
		}
		return aggResult{v: s / float64(n)}
	case "median":
		fs := numbers(ps)
		if len(fs) == 0 {
			return aggResult{}
		}
		sort.Float64s(fs)
		n := len(fs)
		if n%2 == 1 {
			if ps[0].typ == models.Integer {
				return aggResult{v: fs[n/2]}
			}
			return aggResult{v: fs[n/2]}
		}
		return aggResult{v: fs[n/2-1] + (fs[n/2]-fs[n/2-1])/2}
	case "spread":
		if ps[0].typ == models.Integer {
			mn, mx := ps[0].i, ps[0].i
			for i := range ps {
				mn, mx = min(mn, ps[i].i), max(mx, ps[i].i)
			}
			return aggResult{v: mx - mn}
		}
		fs := numbers(ps)
		if len(fs) == 0 {
			return aggResult{}
		}
		mn, mx := fs[0], fs[0]
		for _, f := range fs {
			mn, mx = math.Min(mn, f), math.Max(mx, f)
		}
		return aggResult{v: mx - mn}
	case "stddev":
		fs := numbers(ps)
		if len(fs) < 2 {
			return aggResult{}
		}
		var mean float64
		for _, f := range fs {
			mean += f
		}
		mean /= float64(len(fs))
		var v float64
		for _, f := range fs {
			v += (f - mean) * (f - mean)
		}
		return aggResult{v: math.Sqrt(v / float64(len(fs)-1))}
	case "percentile":
		idx := make([]int, 0, len(ps))
		for i := range ps {
			if _, ok := ps[i].number(); ok {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool { return less(&ps[idx[a]], &ps[idx[b]]) })
		i := int(math.Floor(float64(len(idx))*arg/100+0.5)) - 1
		if i < 0 || i >= len(idx) {
			return aggResult{}
		}
		p := &ps[idx[i]]
		return aggResult{v: p.value(), t: p.t, hasTime: true, row: p.row}
	case "mode":
		return aggResult{v: mode(ps)}
	case "integral":
		unit := arg
		if unit == 0 {
			unit = 1e9
		}
		var area float64
		for i := 1; i < len(ps); i++ {
			a, _ := ps[i-1].number()
			b, _ := ps[i].number()
			area += (a + b) / 2 * float64(ps[i].t-ps[i-1].t) / unit
		}
		return aggResult{v: area}
	}
	return aggResult{}
}

// mode returns the most frequent value the way InfluxDB's mode reducers
// compute it: over the values sorted (stably: equal values keep their
// time order), a run replaces the best one when it is longer, or as long
// and started no later than the time of the best run's last point. A
// boolean mode is true only when true is strictly more frequent.
func mode(ps []point) any {
	if ps[0].typ == models.Boolean {
		n := 0
		for i := range ps {
			if ps[i].b {
				n++
			} else {
				n--
			}
		}
		return n > 0
	}
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := &ps[idx[a]], &ps[idx[b]]
		if pa.typ == models.String {
			return pa.s < pb.s
		}
		return less(pa, pb)
	})
	first := &ps[idx[0]]
	mostFreq, currFreq := 0, 0
	mostMode, mostTime := first.value(), first.t
	currMode, currTime := first.value(), first.t
	for _, k := range idx {
		p := &ps[k]
		v := p.value()
		if v != currMode {
			currFreq, currMode, currTime = 1, v, p.t
			continue
		}
		currFreq++
		if mostFreq > currFreq || mostFreq == currFreq && currTime > mostTime {
			continue
		}
		mostFreq, mostMode, mostTime = currFreq, v, p.t
	}
	return mostMode
}

func numbers(ps []point) []float64 {
	fs := make([]float64, 0, len(ps))
	for i := range ps {
		if f, ok := ps[i].number(); ok {
			fs = append(fs, f)
		}
	}
	return fs
}

func less(a, b *point) bool {
	if a.typ == models.Boolean {
		return !a.b && b.b
	}
	if a.typ == models.Integer && b.typ == models.Integer {
		return a.i < b.i
	}
	if a.typ == models.Unsigned && b.typ == models.Unsigned {
		return a.u < b.u
	}
	af, _ := a.number()
	bf, _ := b.number()
	return af < bf
}

func equalVal(a, b *point) bool { return !less(a, b) && !less(b, a) }

func lessAny(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, _ := b.(float64)
		return x < y
	case int64:
		y, _ := b.(int64)
		return x < y
	case uint64:
		y, _ := b.(uint64)
		return x < y
	case string:
		y, _ := b.(string)
		return x < y
	case bool:
		y, _ := b.(bool)
		return !x && y
	}
	return false
}
