package query

import (
	"time"

	"github.com/influxdata/influxql"
)

// seqPoint is one (time, value) of a sequence a transformation runs over.
type seqPoint struct {
	t int64
	v any
}

// transform applies derivative, difference, moving_average,
// cumulative_sum or elapsed to a time-ordered sequence, as InfluxDB does:
// null values are skipped and the output time is that of the later point.
//
// In descending order (ORDER BY time DESC) the sequence runs backwards:
// differences are later minus earlier in that order, and derivatives
// divide by the absolute time step, as InfluxDB's reducers do.
func transform(c *influxql.Call, seq []seqPoint, defaultUnit int64, desc bool) []seqPoint {
	unit := defaultUnit
	if c.Name == "elapsed" {
		unit = 1
	}
	n := 0
	if len(c.Args) > 1 {
		switch a := c.Args[1].(type) {
		case *influxql.DurationLiteral:
			unit = int64(a.Val)
		case *influxql.IntegerLiteral:
			n = int(a.Val)
		case *influxql.NumberLiteral:
			n = int(a.Val)
		}
	}
	vals := seq[:0:0]
	for _, p := range seq {
		if p.v != nil {
			vals = append(vals, p)
		}
	}
	var out []seqPoint
	switch c.Name {
	case "derivative", "non_negative_derivative":
		for i := 1; i < len(vals); i++ {
			dt := vals[i].t - vals[i-1].t
			if desc {
				dt = -dt
			}
			if dt == 0 {
				continue
			}
			a, _ := asFloat(vals[i-1].v)
			b, _ := asFloat(vals[i].v)
			d := (b - a) / (float64(dt) / float64(unit))
			if c.Name == "non_negative_derivative" && d < 0 {
				continue
			}
			out = append(out, seqPoint{vals[i].t, d})
		}
	case "difference", "non_negative_difference":
		for i := 1; i < len(vals); i++ {
			d := binary(influxql.SUB, vals[i].v, vals[i-1].v)
			if f, ok := asFloat(d); ok && c.Name == "non_negative_difference" && f < 0 {
				continue
			}
			out = append(out, seqPoint{vals[i].t, d})
		}
	case "moving_average":
		if n < 1 {
			return nil
		}
		var sum float64
		for i := range vals {
			f, _ := asFloat(vals[i].v)
			sum += f
			if i >= n {
				g, _ := asFloat(vals[i-n].v)
				sum -= g
			}
			if i >= n-1 {
				out = append(out, seqPoint{vals[i].t, sum / float64(n)})
			}
		}
	case "cumulative_sum":
		var acc any
		for i := range vals {
			if acc == nil {
				acc = vals[i].v
			} else {
				acc = binary(influxql.ADD, acc, vals[i].v)
			}
			out = append(out, seqPoint{vals[i].t, acc})
		}
	case "elapsed":
		for i := 1; i < len(vals); i++ {
			out = append(out, seqPoint{vals[i].t, (vals[i].t - vals[i-1].t) / unit})
		}
	}
	return out
}

// transformRaw runs the select list's transformation over a group's
// raw values (rows are in output order).
func (p *plan) transformRaw(rows []*srow, c *influxql.Call, src *source) ([][]any, error) {
	ref, ok := c.Args[0].(*influxql.VarRef)
	if !ok {
		return nil, &UnsupportedError{What: c.Name + "() of an expression"}
	}
	seq := make([]seqPoint, 0, len(rows))
	for _, r := range rows {
		if v, ok := r.get(ref.Val); ok {
			seq = append(seq, seqPoint{r.t, cast(v, ref.Type)})
		}
	}
	var out [][]any
	for _, sp := range transform(c, seq, int64(time.Second), p.desc) {
		out = append(out, []any{sp.t, applyOuter(p.exprs[0], c, sp.v)})
	}
	return out, nil
}

// transformBuckets runs the transformation over aggregated buckets
// (column 1 holds its argument), then evaluates the math around it.
//
// Without an explicit unit, derivatives of GROUP BY time buckets are per
// interval, as in InfluxDB.
func (p *plan) transformBuckets(rows [][]any, c *influxql.Call) [][]any {
	seq := make([]seqPoint, 0, len(rows))
	for _, r := range rows {
		seq = append(seq, seqPoint{r[0].(int64), r[1]})
	}
	unit := p.interval
	if unit <= 0 {
		unit = int64(time.Second)
	}
	var out [][]any
	for _, sp := range transform(c, seq, unit, p.desc) {
		if sp.t < p.startT || sp.t > p.endT {
			continue // a bucket read only to seed the transformation
		}
		out = append(out, []any{sp.t, applyOuter(p.exprs[0], c, sp.v)})
	}
	return out
}

// applyOuter evaluates a select expression with its transformation call
// replaced by v.
func applyOuter(e influxql.Expr, c *influxql.Call, v any) any {
	return evalAgg(e, callResults{calls: []*influxql.Call{c}, vals: []aggResult{{v: v}}}, nil)
}
