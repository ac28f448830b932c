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
func transform(c *influxql.Call, seq []seqPoint, defaultUnit int64) []seqPoint {
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

// singleTransform returns the transformation call when the select list
// is exactly one transformation (possibly aliased), which is the form
// herd supports.
func singleTransform(exprs []influxql.Expr) (*influxql.Call, bool) {
	if len(exprs) != 1 {
		return nil, false
	}
	c, ok := exprs[0].(*influxql.Call)
	if !ok || !transforms[c.Name] || len(c.Args) == 0 {
		return nil, false
	}
	return c, true
}

// transformRaw runs a transformation over a group's raw values.
func (p *plan) transformRaw(rows []*srow, exprs []influxql.Expr) ([][]any, error) {
	c, ok := singleTransform(exprs)
	if !ok {
		return nil, &UnsupportedError{What: "transformations combined with other fields"}
	}
	ref, ok := c.Args[0].(*influxql.VarRef)
	if !ok {
		return nil, &UnsupportedError{What: c.Name + "() of an expression"}
	}
	seq := make([]seqPoint, 0, len(rows))
	for _, r := range rows {
		if v, ok := r.fields[ref.Val]; ok {
			seq = append(seq, seqPoint{r.t, v})
		}
	}
	var out [][]any
	for _, sp := range transform(c, seq, int64(time.Second)) {
		out = append(out, []any{time.Unix(0, sp.t).UTC(), sp.v})
	}
	return out, nil
}

// transformAggregated runs a transformation over aggregated buckets
// (rows hold int64 times in column 0 at this point).
//
// Without an explicit unit, derivatives of GROUP BY time buckets are per
// interval, as in InfluxDB.
func transformAggregated(rows [][]any, exprs []influxql.Expr, interval int64) ([][]any, error) {
	c, ok := singleTransform(exprs)
	if !ok {
		return nil, &UnsupportedError{What: "transformations combined with other fields"}
	}
	seq := make([]seqPoint, 0, len(rows))
	for _, r := range rows {
		seq = append(seq, seqPoint{r[0].(int64), r[1]})
	}
	var out [][]any
	unit := interval
	if unit <= 0 {
		unit = int64(time.Second)
	}
	for _, sp := range transform(c, seq, unit) {
		out = append(out, []any{sp.t, sp.v})
	}
	return out, nil
}
