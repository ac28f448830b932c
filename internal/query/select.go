package query

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/index"
)

// defaultMaxSelectBuckets bounds GROUP BY time buckets per series.
// InfluxDB leaves it unlimited by default; herd runs on 1 GB boards, so a
// GROUP BY time(1s) over a year must fail fast instead of exhausting memory.
const defaultMaxSelectBuckets = 100_000

// source is one measurement a SELECT reads.
type source struct {
	db, rp, name string
	ix           *index.Index
	types        map[string]models.FieldType
	tagKeys      map[string]bool
	warn         func(string) // Options.Warn, passed to every storage read
}

// mapper expands wildcards and types variable references for
// SelectStatement.RewriteFields, over every source of a statement.
type mapper struct{ sources []*source }

func (m *mapper) FieldDimensions(meas *influxql.Measurement) (map[string]influxql.DataType, map[string]struct{}, error) {
	fields := map[string]influxql.DataType{}
	dims := map[string]struct{}{}
	for _, s := range m.sources {
		if meas.Regex != nil && !meas.Regex.Val.MatchString(s.name) || meas.Regex == nil && meas.Name != s.name {
			continue
		}
		for f, t := range s.types {
			fields[f] = dataType(t)
		}
		for k := range s.tagKeys {
			dims[k] = struct{}{}
		}
	}
	return fields, dims, nil
}

func (m *mapper) MapType(meas *influxql.Measurement, field string) influxql.DataType {
	for _, s := range m.sources {
		if meas.Regex != nil && !meas.Regex.Val.MatchString(s.name) || meas.Regex == nil && meas.Name != s.name {
			continue
		}
		if t, ok := s.types[field]; ok {
			return dataType(t)
		}
		if s.tagKeys[field] {
			return influxql.Tag
		}
	}
	return influxql.Unknown
}

func dataType(t models.FieldType) influxql.DataType {
	switch t {
	case models.Float:
		return influxql.Float
	case models.Integer:
		return influxql.Integer
	case models.Unsigned:
		return influxql.Unsigned
	case models.String:
		return influxql.String
	case models.Boolean:
		return influxql.Boolean
	}
	return influxql.Unknown
}

var aggregates = map[string]bool{
	"count": true, "sum": true, "mean": true, "median": true, "mode": true, "spread": true, "stddev": true,
	"integral": true, "first": true, "last": true, "min": true, "max": true, "percentile": true, "distinct": true,
	"top": true, "bottom": true, "sample": true,
}

// selectors pick points: their value keeps its own time and, alone in a
// select list, may carry other fields and tags of the picked point.
var selectors = map[string]bool{"first": true, "last": true, "min": true, "max": true, "percentile": true,
	"top": true, "bottom": true, "sample": true}

// multiSelectors return several points per bucket.
var multiSelectors = map[string]bool{"top": true, "bottom": true, "sample": true}

var transforms = map[string]bool{
	"derivative": true, "non_negative_derivative": true, "difference": true, "non_negative_difference": true,
	"moving_average": true, "cumulative_sum": true, "elapsed": true,
}

// mathFuncs are InfluxQL's row-wise math functions.
var mathFuncs = map[string]bool{"abs": true, "sin": true, "cos": true, "tan": true, "asin": true, "acos": true,
	"atan": true, "atan2": true, "exp": true, "log": true, "ln": true, "log2": true, "log10": true, "sqrt": true,
	"pow": true, "floor": true, "ceil": true, "round": true}

var unsupportedCalls = map[string]bool{"holt_winters": true,
	"holt_winters_with_fit": true, "chande_momentum_oscillator": true, "exponential_moving_average": true,
	"double_exponential_moving_average": true, "triple_exponential_moving_average": true,
	"relative_strength_index": true, "triple_exponential_derivative": true, "kaufmans_efficiency_ratio": true,
	"kaufmans_adaptive_moving_average": true}

// numericOnly lists the functions InfluxDB runs only over numbers, and
// minMax those that also take booleans; a string or boolean field gets
// InfluxDB's iterator error.
var numericOnly = map[string]bool{"sum": true, "mean": true, "median": true, "stddev": true, "spread": true,
	"percentile": true, "integral": true, "top": true, "bottom": true, "derivative": true,
	"non_negative_derivative": true, "difference": true, "non_negative_difference": true,
	"moving_average": true, "cumulative_sum": true}

// checkCalls validates every call of the select list: known names,
// argument counts, and argument types against the sources' fields.
func checkCalls(fields influxql.Fields, sources []*source) error {
	var bad error
	for _, f := range fields {
		influxql.WalkFunc(f.Expr, func(n influxql.Node) {
			c, ok := n.(*influxql.Call)
			if !ok || bad != nil {
				return
			}
			switch {
			case unsupportedCalls[c.Name]:
				bad = &UnsupportedError{What: c.Name + "()"}
				return
			case !aggregates[c.Name] && !transforms[c.Name] && !mathFuncs[c.Name]:
				bad = fmt.Errorf("undefined function %s()", c.Name)
				return
			}
			switch c.Name {
			case "percentile":
				if len(c.Args) != 2 {
					bad = fmt.Errorf("invalid number of arguments for percentile, expected 2, got %d", len(c.Args))
					return
				}
			case "top", "bottom", "sample":
				if c.Name == "sample" && len(c.Args) != 2 {
					bad = fmt.Errorf("invalid number of arguments for sample, expected 2, got %d", len(c.Args))
					return
				}
				if len(c.Args) < 2 {
					bad = fmt.Errorf("invalid number of arguments for %s, expected at least 2, got %d", c.Name, len(c.Args))
					return
				}
				lim, ok := c.Args[len(c.Args)-1].(*influxql.IntegerLiteral)
				if !ok {
					bad = fmt.Errorf("expected integer as last argument in %s(), found %s", c.Name, c.Args[len(c.Args)-1])
					return
				}
				if lim.Val <= 0 {
					if c.Name == "sample" {
						bad = fmt.Errorf("sample window must be greater than 1, got %d", lim.Val)
					} else {
						bad = fmt.Errorf("limit (%d) in %s function must be at least 1", lim.Val, c.Name)
					}
					return
				}
			}
			if len(c.Args) == 0 {
				return
			}
			ref, ok := c.Args[0].(*influxql.VarRef)
			if !ok || !(numericOnly[c.Name] || c.Name == "min" || c.Name == "max") {
				return
			}
			for _, src := range sources {
				t, ok := src.types[ref.Val]
				if !ok {
					continue
				}
				if t == models.String || t == models.Boolean && c.Name != "min" && c.Name != "max" {
					bad = fmt.Errorf("unsupported %s iterator type: *query.%sInterruptIterator", c.Name, strings.ToLower(t.String()))
					return
				}
			}
		})
	}
	return bad
}

// checkTypes rejects arithmetic between a field and a literal of
// incompatible types, with InfluxDB's message. (Two fields of
// incompatible types give null values instead, as in InfluxDB.)
func checkTypes(fields influxql.Fields) error {
	var bad error
	for _, f := range fields {
		influxql.WalkFunc(f.Expr, func(n influxql.Node) {
			b, ok := n.(*influxql.BinaryExpr)
			if !ok || bad != nil || !(b.Op >= influxql.ADD && b.Op <= influxql.BITWISE_XOR) {
				return
			}
			lt, llit := exprType(b.LHS)
			rt, rlit := exprType(b.RHS)
			if !llit && !rlit || lt == influxql.Unknown || rt == influxql.Unknown {
				return
			}
			numeric := func(t influxql.DataType) bool {
				return t == influxql.Float || t == influxql.Integer || t == influxql.Unsigned
			}
			if !numeric(lt) || !numeric(rt) {
				bad = fmt.Errorf("type error: %s: incompatible types: %s and %s", b, lt, rt)
			}
		})
	}
	return bad
}

func exprType(e influxql.Expr) (influxql.DataType, bool) {
	switch n := e.(type) {
	case *influxql.VarRef:
		if n.Type == influxql.Tag {
			return influxql.Unknown, false
		}
		return n.Type, false
	case *influxql.StringLiteral:
		return influxql.String, true
	case *influxql.BooleanLiteral:
		return influxql.Boolean, true
	case *influxql.NumberLiteral:
		return influxql.Float, true
	case *influxql.IntegerLiteral:
		return influxql.Integer, true
	}
	return influxql.Unknown, false
}

// executeSelect runs a SELECT and returns its series whole (for
// subqueries and SELECT ... INTO, which need all of them).
//
// The rows stay accounted against the memory budget until the statement
// ends (Options.heldUntilEnd).
func (x *Executor) executeSelect(ctx context.Context, s *influxql.SelectStatement, opt Options) ([]*Row, error) {
	var rows []*Row
	err := x.streamSelect(ctx, s, opt, func(r *Row) error {
		if opt.heldUntilEnd != nil {
			n := membudget.RowsSize(r.Values)
			if err := opt.Memory.Grow(n); err != nil {
				return err
			}
			*opt.heldUntilEnd += n
		}
		rows = appendPiece(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// appendPiece adds a piece of a series to rows: it continues the last
// row when that one is Partial.
func appendPiece(rows []*Row, r *Row) []*Row {
	if n := len(rows); n > 0 && rows[n-1].Partial {
		last := rows[n-1]
		last.Values = append(last.Values, r.Values...)
		last.Partial = r.Partial
		return rows
	}
	return append(rows, r)
}

// streamSelect runs a SELECT and hands its series to emit as they are
// computed, a long raw series in pieces (see Row.Partial), so that a
// chunked answer never holds the whole result.
func (x *Executor) streamSelect(ctx context.Context, s *influxql.SelectStatement, opt Options, emit func(*Row) error) error {
	if s.Target != nil {
		rows, err := x.selectInto(ctx, s, opt)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
	var sources, typing []*source
	var subs []*influxql.SubQuery
	for _, src := range s.Sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			ss, err := x.resolve(src, opt)
			if err != nil {
				return err
			}
			sources = append(sources, ss...)
			typing = append(typing, ss...)
		case *influxql.SubQuery:
			if src.Statement.Target != nil {
				return &UnsupportedError{What: "SELECT ... INTO in a subquery"}
			}
			ss, err := x.innerSources(src.Statement, opt)
			if err != nil {
				return err
			}
			typing = append(typing, ss...)
			subs = append(subs, src)
		}
	}
	if len(subs) > 0 && len(subs) < len(s.Sources) {
		return &UnsupportedError{What: "a subquery beside other sources"}
	}
	stmt, err := x.rewriteFields(ctx, s, typing, opt)
	if err != nil {
		return err
	}
	// "time" in the select list names the time column; it is not a
	// field (InfluxDB drops it the same way).
	kept := stmt.Fields[:0:0]
	for _, f := range stmt.Fields {
		if v, ok := f.Expr.(*influxql.VarRef); ok && strings.EqualFold(v.Val, "time") {
			continue
		}
		kept = append(kept, f)
	}
	stmt.Fields = kept
	if err := checkCalls(stmt.Fields, typing); err != nil {
		return err
	}
	if err := checkTypes(stmt.Fields); err != nil {
		return err
	}
	valuer := &influxql.NowValuer{Now: opt.Now, Location: stmt.Location}
	cond, tr, err := conditionExpr(ctx, stmt.Condition, valuer)
	if err != nil {
		return err
	}
	interval, err := stmt.GroupByInterval()
	if err != nil {
		return err
	}
	offset, err := stmt.GroupByOffset()
	if err != nil {
		return err
	}
	p := &plan{stmt: stmt, cond: cond, interval: int64(interval), offset: int64(offset), opt: opt, budget: &budget{max: opt.MaxPointsRead},
		loc: stmt.Location, desc: len(stmt.SortFields) > 0 && !stmt.TimeAscending(), tk: ticker{ctx: ctx}}
	p.minT, p.maxT = influxql.MinTime, influxql.MaxTime
	if !tr.Min.IsZero() {
		p.minT = tr.Min.UnixNano()
	}
	if !tr.Max.IsZero() {
		p.maxT = tr.Max.UnixNano()
	}
	p.startT = p.minT
	p.aggregate = hasAggregate(stmt)
	for _, f := range stmt.Fields {
		p.exprs = append(p.exprs, f.Expr)
	}
	if err := p.validate(); err != nil {
		return err
	}
	if p.aggregate && p.interval > 0 && tr.Max.IsZero() {
		p.maxT = opt.Now.UnixNano()
	}
	// A transformation of GROUP BY time buckets also reads the buckets
	// before the range, so that its first bucket has a predecessor (as
	// InfluxDB does).
	// ORDER BY time DESC runs it backwards, from the bucket after the
	// range.
	p.endT = p.maxT
	if t, ok := transformCall(p.exprs); ok && p.aggregate && p.interval > 0 {
		extra := int64(1)
		switch t.Name {
		case "moving_average":
			extra = int64(callArg(t)) - 1
		case "cumulative_sum":
			extra = 0
		}
		switch {
		case extra < 0:
		case p.desc && uint64(extra) > (uint64(maxTime)-uint64(p.maxT))/uint64(p.interval):
			p.maxT = influxql.MaxTime
		case p.desc:
			p.maxT += extra * p.interval
		case p.minT == influxql.MinTime:
		case uint64(extra) > (uint64(p.minT)-uint64(minTime))/uint64(p.interval):
			p.minT = influxql.MinTime
		default:
			p.minT -= extra * p.interval
		}
	}
	p.columns = stmt.ColumnNames()
	// As InfluxDB, a bounded range is checked whatever the fill: even
	// fill(none) keeps a bucket per point for GROUP BY time(1ns).
	if p.aggregate && p.interval > 0 && p.minT != influxql.MinTime {
		if err := p.checkBuckets(p.window(p.minT)); err != nil {
			return err
		}
	}

	if len(subs) > 0 {
		rows, err := x.selectSubquery(ctx, p, subs, tr, opt)
		if err != nil {
			return err
		}
		// SLIMIT counts series in ascending order; ORDER BY time DESC
		// then lists the kept series in reverse, as InfluxDB does.
		rows = limitOffset(rows, stmt.SLimit, stmt.SOffset)
		if p.desc {
			reverse(rows)
		}
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
	if p.desc && (stmt.SLimit > 0 || stmt.SOffset > 0) {
		// Which series SLIMIT keeps is known only once all are counted
		// in ascending order: collect them (within the memory budget),
		// then list them in reverse.
		var rows []*Row
		asc := *p
		asc.reverseSeries = false
		sink := &seriesSink{emit: func(r *Row) error { rows = appendPiece(rows, r); return nil }, mem: opt.Memory}
		if err := x.selectSources(ctx, &asc, sources, sink); err != nil {
			return err
		}
		rows = limitOffset(rows, stmt.SLimit, stmt.SOffset)
		reverse(rows)
		for _, r := range rows {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
	p.reverseSeries = p.desc
	sink := &seriesSink{emit: emit, mem: opt.Memory, slimit: stmt.SLimit, soffset: stmt.SOffset}
	return x.selectSources(ctx, p, sources, sink)
}

// selectSources streams the series of every source into sink, in
// ascending order of (source, group), or in reverse for ORDER BY time
// DESC.
func (x *Executor) selectSources(ctx context.Context, p *plan, sources []*source, sink *seriesSink) error {
	order := sources
	if p.reverseSeries {
		order = slices.Clone(sources)
		reverse(order)
	}
	for _, src := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := x.selectSource(ctx, p, src, sink)
		if err == errSeriesLimit {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// resolve returns the measurements a FROM entry names.
func (x *Executor) resolve(m *influxql.Measurement, opt Options) ([]*source, error) {
	db := m.Database
	if db == "" {
		db = opt.Database
	}
	if db == "" {
		return nil, errDatabaseRequired
	}
	rp := m.RetentionPolicy
	if rp == "" {
		rp = opt.RetentionPolicy
	}
	ix, err := x.Store.Index(db)
	if err != nil {
		return nil, fmt.Errorf("database not found: %s", db)
	}
	var out []*source
	for _, name := range measurementsOf(ix, influxql.Sources{m}) {
		types, err := x.Store.FieldTypes(db, name)
		if err != nil {
			return nil, err
		}
		tk := map[string]bool{}
		for _, k := range ix.TagKeys(name) {
			tk[k] = true
		}
		out = append(out, &source{db: db, rp: rp, name: name, ix: ix, types: types, tagKeys: tk, warn: opt.Warn})
	}
	return out, nil
}

// minTime and maxTime are InfluxQL's time bounds as variables, so that
// they convert to uint64 for overflow-free spans.
var minTime, maxTime int64 = influxql.MinTime, influxql.MaxTime

// checkBuckets bounds the GROUP BY time buckets from start to the end of
// the range.
func (p *plan) checkBuckets(start, _ int64) error {
	limit := p.opt.MaxSelectBuckets
	if limit <= 0 {
		limit = defaultMaxSelectBuckets
	}
	if start > p.maxT {
		return nil
	}
	// Unsigned: the span of the whole time range overflows int64.
	if n := (uint64(p.maxT)-uint64(start))/uint64(p.interval) + 1; n > uint64(limit) {
		return fmt.Errorf("max-select-buckets limit exceeded: (%d/%d)", n, limit)
	}
	return nil
}

func hasAggregate(s *influxql.SelectStatement) bool {
	found := false
	for _, f := range s.Fields {
		influxql.WalkFunc(f.Expr, func(n influxql.Node) {
			if c, ok := n.(*influxql.Call); ok && aggregates[c.Name] {
				found = true
			}
		})
	}
	return found
}

// plan is a SELECT resolved for execution.
type plan struct {
	stmt             *influxql.SelectStatement
	exprs            []influxql.Expr
	cond             influxql.Expr
	minT, maxT       int64 // the range read
	startT, endT     int64 // the statement's own bounds
	interval, offset int64
	loc              *time.Location
	desc             bool
	aggregate        bool
	columns          []string
	opt              Options
	budget           *budget
	// reverseSeries lists the series in reverse (ORDER BY time DESC).
	reverseSeries bool
	// conds: see plan.condInfo.
	conds map[*source]*condInfo
	// tk looks at the statement's context in loops over groups, series
	// and buckets.
	tk ticker
}

// budget counts the values a statement reads against MaxPointsRead.
type budget struct{ n, max int64 }

func (b *budget) take(n int) error {
	b.n += int64(n)
	if b.max > 0 && b.n > b.max {
		return fmt.Errorf("max-select-point limit exceeded: (%d/%d)", b.n, b.max)
	}
	return nil
}

// topCalls lists the aggregate calls of a select list, outermost first;
// the distinct inside count(distinct(x)) is part of its count.
func topCalls(exprs []influxql.Expr) []*influxql.Call {
	var calls []*influxql.Call
	var walk func(e influxql.Expr)
	walk = func(e influxql.Expr) {
		switch n := e.(type) {
		case *influxql.Call:
			if aggregates[n.Name] {
				calls = append(calls, n)
				return
			}
			for _, a := range n.Args {
				walk(a)
			}
		case *influxql.BinaryExpr:
			walk(n.LHS)
			walk(n.RHS)
		case *influxql.ParenExpr:
			walk(n.Expr)
		}
	}
	for _, e := range exprs {
		walk(e)
	}
	return calls
}

// rawRefs reports whether an expression reads a field or tag outside
// any aggregate or transformation.
func rawRefs(e influxql.Expr) bool {
	switch n := e.(type) {
	case *influxql.Call:
		if aggregates[n.Name] || transforms[n.Name] {
			return false
		}
		for _, a := range n.Args {
			if rawRefs(a) {
				return true
			}
		}
	case *influxql.BinaryExpr:
		return rawRefs(n.LHS) || rawRefs(n.RHS)
	case *influxql.ParenExpr:
		return rawRefs(n.Expr)
	case *influxql.VarRef:
		return true
	}
	return false
}

func (p *plan) validate() error {
	if !p.aggregate {
		if p.interval > 0 {
			return fmt.Errorf("GROUP BY requires at least one aggregate function")
		}
		if _, ok := transformCall(p.exprs); ok || hasTransform(p.exprs) {
			for _, e := range p.exprs {
				if rawRefs(e) {
					return fmt.Errorf("mixing aggregate and non-aggregate queries is not supported")
				}
			}
			if _, ok := transformCall(p.exprs); !ok {
				return &UnsupportedError{What: "several transformations in one select list"}
			}
		}
		return nil
	}
	calls := topCalls(p.exprs)
	raw := false
	for _, e := range p.exprs {
		if rawRefs(e) {
			raw = true
		}
	}
	nsel := 0
	for _, c := range calls {
		if selectors[c.Name] {
			nsel++
		}
	}
	for _, c := range calls {
		if (c.Name == "top" || c.Name == "bottom") && len(calls) > 1 {
			return fmt.Errorf("selector function %s() cannot be combined with other functions", c.Name)
		}
		if c.Name == "distinct" && (len(calls) > 1 || raw) {
			return fmt.Errorf("aggregate function distinct() cannot be combined with other functions or fields")
		}
	}
	if raw {
		switch {
		case len(calls) == 1 && selectors[calls[0].Name]:
		case nsel == len(calls):
			return fmt.Errorf("mixing multiple selector functions with tags or fields is not supported")
		default:
			return fmt.Errorf("mixing aggregate and non-aggregate queries is not supported")
		}
	}
	if hasTransform(p.exprs) {
		if _, ok := transformCall(p.exprs); !ok {
			return &UnsupportedError{What: "several transformations in one select list"}
		}
	}
	return nil
}

// lowerBound is the time of a whole-range aggregate: the statement's
// lower bound, or 0 without one.
func (p *plan) lowerBound() int64 {
	if p.startT == influxql.MinTime {
		return 0
	}
	return p.startT
}

// window returns the GROUP BY time bucket holding t, as InfluxDB's
// IteratorOptions.Window computes it: buckets align to the interval in
// the statement's time zone (tz()), moved by the offset.
func (p *plan) window(t int64) (start, end int64) {
	iv := p.interval
	t -= p.offset
	var zone int64
	if p.loc != nil {
		zone = zoneOffset(p.loc, t)
	}
	dt := (t + zone) % iv
	if dt < 0 {
		dt += iv
	}
	start = t - dt
	if p.loc != nil {
		if o := zone - zoneOffset(p.loc, start); o != 0 && abs64(o) < iv {
			start += o
		}
	}
	start += p.offset
	end = t + (iv - dt) + p.offset
	if p.loc != nil {
		if eo := zoneOffset(p.loc, end); zone != eo {
			off := zone - eo
			switch {
			case off > 0:
				if end-off <= t {
					end += off
				}
			case off < 0:
				end += off
			}
		}
	}
	return start, end
}

func zoneOffset(loc *time.Location, t int64) int64 {
	_, off := time.Unix(0, t).In(loc).Zone()
	return int64(off) * int64(time.Second)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// group is one output series: the series of a measurement sharing the
// values of the GROUP BY tags.
type group struct {
	tags   map[string]string
	key    string
	series []uint64
}

// groupTags returns the tag keys the GROUP BY names (tags, *, /regex/;
// time(...) is the plan's), sorted and distinct.
func (p *plan) groupTags(src *source) []string {
	var dims []string
	for _, d := range p.stmt.Dimensions {
		switch e := d.Expr.(type) {
		case *influxql.VarRef:
			dims = append(dims, e.Val)
		case *influxql.Wildcard:
			for k := range src.tagKeys {
				dims = append(dims, k)
			}
		case *influxql.RegexLiteral:
			for k := range src.tagKeys {
				if e.Val.MatchString(k) {
					dims = append(dims, k)
				}
			}
		}
	}
	sort.Strings(dims)
	return slices.Compact(dims)
}

// groups returns the statement's output series over src, in key order,
// and the bytes they were accounted for (held until the caller is done
// with them, also on error): GROUP BY * over a million series is a
// million groups.
func (x *Executor) groups(ctx context.Context, p *plan, src *source) ([]*group, int64, error) {
	tk := ticker{ctx: ctx}
	set, err := seriesMatching(src.ix, src.name, p.cond, func(n string) bool { _, ok := src.types[n]; return ok })
	if err != nil {
		return nil, 0, err
	}
	var held int64
	grow := func(n int64) error {
		if err := p.opt.Memory.Grow(n); err != nil {
			return err
		}
		held += n
		return nil
	}
	dims := p.groupTags(src)
	byKey := map[string]*group{}
	it := set.Iterator()
	var kb strings.Builder
	for it.HasNext() {
		if err := tk.tick(); err != nil {
			return nil, held, err
		}
		id := uint64(it.Next())
		_, tags, ok := src.ix.Series(id)
		if !ok {
			continue
		}
		kb.Reset()
		for _, d := range dims {
			kb.WriteString(d)
			kb.WriteByte(0)
			kb.WriteString(tags.Get(d))
			kb.WriteByte(0)
		}
		k := kb.String()
		g := byKey[k]
		if g == nil {
			g = &group{key: k}
			if len(dims) > 0 {
				g.tags = make(map[string]string, len(dims))
				for _, d := range dims {
					g.tags[d] = tags.Get(d)
				}
			}
			byKey[k] = g
			// The group, its key (twice: in the map too), its tags.
			size := groupBytes + 2*int64(len(k))
			for _, d := range dims {
				size += tagBytes + int64(len(d)+len(g.tags[d]))
			}
			if err := grow(size); err != nil {
				return nil, held, err
			}
		}
		g.series = append(g.series, id)
		if err := grow(seriesBytes); err != nil {
			return nil, held, err
		}
	}
	out := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		keys := make([]string, len(g.series))
		for i, id := range g.series {
			if err := tk.tick(); err != nil {
				return nil, held, err
			}
			keys[i] = seriesKey(src.ix, id)
		}
		sort.Sort(byKeys{g.series, keys})
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, held, nil
}

// Estimated sizes of a group's parts, for the memory budget: the group
// and its map entry, a tag of its tag map, a series of it (its id, and
// its key while the series are sorted).
const (
	groupBytes  = 400 // the group (48), its small tag map (~310), its entries in byKey and out
	tagBytes    = 32
	seriesBytes = 8 + 16
)

// byKeys sorts series ids by their series keys.
type byKeys struct {
	ids  []uint64
	keys []string
}

func (b byKeys) Len() int           { return len(b.ids) }
func (b byKeys) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKeys) Swap(i, j int) {
	b.ids[i], b.ids[j] = b.ids[j], b.ids[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

func seriesKey(ix *index.Index, id uint64) string {
	k, _ := ix.SeriesKey(id)
	return k
}

// fieldRefs lists the field names an expression reads.
func fieldRefs(exprs []influxql.Expr, src *source) []string {
	set := map[string]bool{}
	for _, e := range exprs {
		influxql.WalkFunc(e, func(n influxql.Node) {
			if v, ok := n.(*influxql.VarRef); ok && v.Type != influxql.Tag && v.Val != "time" {
				if _, isField := src.types[v.Val]; isField {
					set[v.Val] = true
				}
			}
		})
	}
	return slices.Sorted(maps.Keys(set))
}

// srow is one (series, time) of a group with the values of the fields
// read (vals, indexed through fidx; nil where the field has no value).
type srow struct {
	t    int64
	ser  int32
	tags models.Tags
	vals []any
	fidx map[string]int
}

// get returns the row's value of a field.
func (r *srow) get(name string) (any, bool) {
	i, ok := r.fidx[name]
	if !ok {
		return nil, false
	}
	v := r.vals[i]
	return v, v != nil
}

// seriesCols collects one series' columns, one per field read, typed:
// values are boxed only for rows that are kept.
type seriesCols struct {
	cols []block.Column
}

func (c *seriesCols) reset() {
	for i := range c.cols {
		c.cols[i].Reset(c.cols[i].Type)
	}
}

func (c *seriesCols) add(f int, col *block.Column) {
	d := &c.cols[f]
	d.Type = col.Type
	d.Times = append(d.Times, col.Times...)
	switch col.Type {
	case models.Float:
		d.Floats = append(d.Floats, col.Floats...)
	case models.Integer:
		d.Integers = append(d.Integers, col.Integers...)
	case models.Unsigned:
		d.Unsigneds = append(d.Unsigneds, col.Unsigneds...)
	case models.String:
		d.Strings = append(d.Strings, col.Strings...)
	case models.Boolean:
		d.Booleans = append(d.Booleans, col.Booleans...)
	}
}

// value boxes field f's i-th value.
func (c *seriesCols) value(f, i int) any { return c.cols[f].Value(i) }

// readRows reads a group's series and joins each series' fields by time
// into rows: one row per (series, time) with a value of at least one
// field, kept if it satisfies the condition, in (time, series) order.
// It returns the bytes it accounted for the rows, which the caller gives
// back when done with them (also on error). With window > 0 it stops
// with errWindowFull once the rows would hold more than window bytes.
func (x *Executor) readRows(ctx context.Context, p *plan, src *source, g *group, fields []string, window int64) ([]*srow, int64, error) {
	if len(fields) == 0 {
		return nil, 0, nil
	}
	var held int64
	grow := func(n int64) error {
		if window > 0 && held+n > window {
			return errWindowFull
		}
		if err := p.opt.Memory.Grow(n); err != nil {
			return err
		}
		held += n
		return nil
	}
	fidx := make(map[string]int, len(fields))
	for i, f := range fields {
		fidx[f] = i
	}
	ser := make(map[uint64]int32, len(g.series))
	for i, id := range g.series {
		ser[id] = int32(i)
	}
	j := &joiner{ctx: ctx, cols: &seriesCols{cols: make([]block.Column, len(fields))}, fidx: fidx, cond: p.cond, types: src.types, grow: grow}
	if p.cond != nil {
		ci := p.condInfo(src)
		j.exact = ci.exact
		for _, name := range ci.names {
			if f, ok := fidx[name]; ok {
				j.condFields = append(j.condFields, f)
			}
		}
	}
	var cur uint64
	started := false
	var colValues, colHeld int64 // values in the series' columns; those accounted (the columns keep their capacity)
	flush := func() error {
		_, tags, _ := src.ix.Series(cur)
		err := j.appendSeries(ser[cur], tags)
		j.cols.reset()
		colValues = 0
		return err
	}
	err := x.Store.Read(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, Warn: src.warn, SeriesIDs: g.series,
		Fields: fields, MinTime: p.minT, MaxTime: p.maxT}, func(id uint64, field string, col *block.Column) error {
		if started && id != cur {
			if err := flush(); err != nil {
				return err
			}
		}
		cur, started = id, true
		if err := p.budget.take(col.Len()); err != nil {
			return err
		}
		if colValues += int64(col.Len()); colValues > colHeld {
			if err := grow((colValues - colHeld) * columnValueBytes); err != nil {
				return err
			}
			colHeld = colValues
		}
		j.cols.add(fidx[field], col)
		return ctx.Err()
	})
	if err == nil && started {
		err = flush()
	}
	if err != nil {
		if _, ok := err.(*models.RetentionPolicyNotFoundError); ok {
			return nil, held, fmt.Errorf("retention policy not found: %s", src.rp)
		}
		return nil, held, err
	}
	if err := ctx.Err(); err != nil {
		return nil, held, err // appendSeries may have stopped early
	}
	rows := j.rows
	if len(g.series) > 1 {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].t != rows[j].t {
				return rows[i].t < rows[j].t
			}
			return rows[i].ser < rows[j].ser
		})
	}
	return rows, held, nil
}

// columnValueBytes estimates a decoded value in a series' columns: its
// time and its value (a string's header; its bytes are shared with the
// block).
const columnValueBytes = 8 + 16

// errWindowFull ends a read that would hold more than its window.
var errWindowFull = errors.New("read window full")

// joiner turns series' columns into the rows that pass the condition.
type joiner struct {
	ctx        context.Context
	cols       *seriesCols
	fidx       map[string]int
	cond       influxql.Expr
	condFields []int
	exact      bool // the index answered cond exactly (see indexExact)
	types      map[string]models.FieldType
	rows       []*srow
	slab       []srow // rows are carved from slabs, not allocated one by one
	vals       []any
	scratch    []any
	// grow accounts each slab against the memory budget.
	grow func(int64) error
	err  error
}

// rowsPerCtxCheck is how many rows appendSeries joins between checks of
// the statement's context.
const rowsPerCtxCheck = 256

// rowSlab is how many rows one slab allocation holds.
const rowSlab = 256

// appendSeries joins one series' field columns by time (each is in
// time order) and appends the rows passing the condition. at[f] is the
// index of field f's value at the row's time, or -1.
func (j *joiner) appendSeries(ser int32, tags models.Tags) error {
	c := j.cols
	nf := len(c.cols)
	at := make([]int, nf)
	if j.scratch == nil {
		j.scratch = make([]any, nf)
	}
	var pred predicate
	switch {
	case j.exact:
		pred = func([]int) bool { return true }
	case j.cond != nil:
		pred, _ = compilePredicate(j.cond, c, j.fidx, tags, j.types)
	}
	emit := func(t int64) {
		if pred != nil {
			if !pred(at) {
				return
			}
		} else if j.cond != nil {
			for _, f := range j.condFields {
				j.scratch[f] = nil
				if at[f] >= 0 {
					j.scratch[f] = c.value(f, at[f])
				}
			}
			tmp := srow{t: t, ser: ser, tags: tags, vals: j.scratch, fidx: j.fidx}
			if !evalBool(j.cond, &rowValuer{tags: tags, row: &tmp, types: j.types, cond: true}) {
				return
			}
		}
		if len(j.slab) == cap(j.slab) {
			if j.err != nil {
				return
			}
			// A row: its srow, its pointer in rows, its values boxed.
			if j.err = j.grow(rowSlab * (int64(unsafe.Sizeof(srow{})) + 8 + int64(nf)*membudget.ValueSize(0.0))); j.err != nil {
				return
			}
			j.slab = make([]srow, 0, rowSlab)
			j.vals = make([]any, rowSlab*nf)
		}
		vals := j.vals[:nf:nf]
		j.vals = j.vals[nf:]
		for f := 0; f < nf; f++ {
			if at[f] >= 0 {
				vals[f] = c.value(f, at[f])
			}
		}
		j.slab = append(j.slab, srow{t: t, ser: ser, tags: tags, vals: vals, fidx: j.fidx})
		j.rows = append(j.rows, &j.slab[len(j.slab)-1])
	}
	// The common case: every field has a value at the same times.
	same := true
	for f := 1; f < nf && same; f++ {
		same = slices.Equal(c.cols[f].Times, c.cols[0].Times)
	}
	if same {
		for i, t := range c.cols[0].Times {
			if i%rowsPerCtxCheck == 0 && j.ctx.Err() != nil {
				return j.ctx.Err() // a long condition over a long series: stop when told
			}
			for f := range at {
				at[f] = i
			}
			emit(t)
			if j.err != nil {
				return j.err
			}
		}
		return nil
	}
	pos := make([]int, nf)
	for n := 0; ; n++ {
		if n%rowsPerCtxCheck == 0 && j.ctx.Err() != nil {
			return j.ctx.Err()
		}
		t, any := int64(0), false
		for f := 0; f < nf; f++ {
			if pos[f] < len(c.cols[f].Times) && (!any || c.cols[f].Times[pos[f]] < t) {
				t, any = c.cols[f].Times[pos[f]], true
			}
		}
		if !any {
			return nil
		}
		for f := 0; f < nf; f++ {
			at[f] = -1
			if pos[f] < len(c.cols[f].Times) && c.cols[f].Times[pos[f]] == t {
				at[f] = pos[f]
				pos[f]++
			}
		}
		emit(t)
		if j.err != nil {
			return j.err
		}
	}
}

func (x *Executor) selectSource(ctx context.Context, p *plan, src *source, sink *seriesSink) error {
	groups, held, err := x.groups(ctx, p, src)
	defer p.opt.Memory.Shrink(held)
	if err != nil {
		return err
	}
	if p.reverseSeries {
		reverse(groups)
	}
	condExprs := p.exprs
	if p.cond != nil {
		condExprs = append(append([]influxql.Expr(nil), p.exprs...), p.cond)
	}
	fields := fieldRefs(condExprs, src)
	stream := p.streamable(src)
	calls := topCalls(p.exprs)
	for _, g := range groups {
		// Groups without data in the range read nothing, so no read
		// looks at the context for them.
		if err := p.tk.tick(); err != nil {
			return err
		}
		if err := sink.begin(src.name, g.tags, p.columns); err != nil {
			return err
		}
		err := x.groupRows(ctx, p, src, g, stream, calls, fields, sink)
		if err == errSeriesSkipped {
			continue
		}
		if err != nil {
			return err
		}
		if err := sink.end(); err != nil {
			return err
		}
	}
	return nil
}

// groupRows computes one group's rows and hands them to sink: streamed
// aggregates, the latest raw rows, raw rows read in time windows, or
// rows read whole.
func (x *Executor) groupRows(ctx context.Context, p *plan, src *source, g *group, stream bool, calls []*influxql.Call, fields []string, sink *seriesSink) error {
	var values [][]any
	switch {
	case stream:
		buckets, bp, err := x.streamLatest(ctx, p, src, g, calls)
		if err != nil || len(buckets) == 0 && bp == p {
			return err // (a latest-buckets window without data is still filled)
		}
		if values, err = bp.finishAggregate(buckets, calls, nil, src); err != nil {
			return err
		}
	case p.tailOnly():
		var err error
		if values, err = x.rawTail(ctx, p, src, g, fields); err != nil {
			return err
		}
	case p.windowable():
		return x.rawWindows(ctx, p, src, g, fields, sink)
	default:
		rows, held, err := x.readRows(ctx, p, src, g, fields, 0)
		if err != nil || len(rows) == 0 {
			p.opt.Memory.Shrink(held)
			return err
		}
		values, err = p.groupValues(rows, src)
		p.opt.Memory.Shrink(held)
		if err != nil {
			return err
		}
		return sink.piece(values)
	}
	values = limitOffset(values, p.stmt.Limit, p.stmt.Offset)
	for _, v := range values {
		v[0] = time.Unix(0, v[0].(int64)).UTC()
	}
	return sink.piece(values)
}

// latestBucketsOnly reports whether a streamed aggregate wants only its
// latest buckets (GROUP BY time ... ORDER BY time DESC LIMIT n) with a
// fill that needs no values before them; in UTC, where buckets are of
// equal length.
func (p *plan) latestBucketsOnly() bool {
	switch p.stmt.Fill {
	case influxql.NullFill, influxql.NoFill, influxql.NumberFill:
	default:
		return false
	}
	return p.desc && p.stmt.Limit > 0 && p.interval > 0 && p.loc == nil && !hasTransform(p.exprs)
}

// streamLatest computes a group's streamed buckets, and the plan to
// finish them with. For latestBucketsOnly statements it reads only the
// last LIMIT+OFFSET buckets of the range (more, growing fourfold, while
// fill(none) leaves too few), where the whole range would be read
// otherwise (TSBS's groupby-orderby-limit reads minutes, not hours).
// With fill(null) or fill(n) those buckets are filled from the window's
// start when the group has data before it, as InfluxDB fills from the
// first point or the lower bound.
func (x *Executor) streamLatest(ctx context.Context, p *plan, src *source, g *group, calls []*influxql.Call) ([]bucket, *plan, error) {
	if !p.latestBucketsOnly() {
		b, err := x.streamGroup(ctx, p, src, g, calls)
		return b, p, err
	}
	need := uint64(p.stmt.Limit + p.stmt.Offset)
	last, _ := p.window(p.maxT)
	for span := need; ; span *= 4 {
		// (uint64: last - minT overflows int64 without a lower bound.)
		if last <= p.minT || span > (uint64(last)-uint64(p.minT))/uint64(p.interval) {
			b, err := x.streamGroup(ctx, p, src, g, calls) // the window reaches the range's start
			return b, p, err
		}
		sub := *p
		sub.minT = last - int64(span-1)*p.interval
		buckets, err := x.streamGroup(ctx, &sub, src, g, calls)
		if err != nil {
			return nil, nil, err
		}
		if p.stmt.Fill == influxql.NoFill {
			if uint64(len(buckets)) >= need {
				return buckets, &sub, nil
			}
			continue
		}
		fields := make([]string, 0, len(calls))
		for _, c := range calls {
			fields = append(fields, c.Args[0].(*influxql.VarRef).Val)
		}
		_, earlier, err := x.Store.LatestTime(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, Warn: src.warn,
			SeriesIDs: g.series, Fields: fields, MinTime: p.minT, MaxTime: sub.minT - 1})
		if err != nil {
			return nil, nil, err
		}
		if !earlier {
			return buckets, p, nil // the window holds all the data
		}
		return buckets, &sub, nil
	}
}

// tailOnly reports whether the statement wants only the latest rows of
// each series (raw, ORDER BY time DESC, LIMIT), like TSBS's lastpoint.
func (p *plan) tailOnly() bool {
	return !p.aggregate && p.desc && p.stmt.Limit > 0 && !hasTransform(p.exprs)
}

// firstTailWindow is the span rawTail reads before the latest time when
// rows may be rejected by a condition on fields; each further read
// reaches four times further back.
const firstTailWindow = int64(time.Minute)

// rawTail answers a tailOnly statement for a group by reading backwards
// from the end of the range instead of reading the whole range. Storage
// names the group's latest time T from metadata; the first read covers
// just T when one row is wanted and nothing can reject it (the latest
// values come undecoded, see storage.LatestTime), else a minute before
// T. Further reads start at the next latest time before the last read,
// skipping gaps, and reach four times further back each round until
// LIMIT+OFFSET rows are found.
func (x *Executor) rawTail(ctx context.Context, p *plan, src *source, g *group, fields []string) ([][]any, error) {
	need := p.stmt.Limit + p.stmt.Offset
	step := firstTailWindow
	if need == 1 && (p.cond == nil || !refersToFields(p.cond, src.types)) {
		step = 1
	}
	var out [][]any
	hi := p.maxT
	for {
		last, ok, err := x.Store.LatestTime(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, Warn: src.warn, SeriesIDs: g.series,
			Fields: fields, MinTime: p.minT, MaxTime: hi})
		if err != nil {
			if _, ok := err.(*models.RetentionPolicyNotFoundError); ok {
				return nil, fmt.Errorf("retention policy not found: %s", src.rp)
			}
			return nil, err
		}
		if !ok {
			return out, nil
		}
		lo := p.minT
		if uint64(last)-uint64(p.minT) >= uint64(step) { // (last-step could overflow)
			lo = last - step + 1
		}
		sub := *p
		sub.minT, sub.maxT = lo, last
		rows, held, err := x.readRows(ctx, &sub, src, g, fields, 0)
		if err != nil {
			p.opt.Memory.Shrink(held)
			return nil, err
		}
		vals, err := sub.rawRows(rows, src)
		p.opt.Memory.Shrink(held)
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
		if len(out) >= need || lo <= p.minT {
			return out, nil
		}
		hi = lo - 1
		if step < math.MaxInt64/8 {
			step *= 4
		}
	}
}

// errStop ends a Read early.
var errStop = errors.New("stop")

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// rawRows evaluates the select list for each row (times stay int64); a
// row whose field columns are all null is left out, as InfluxDB does.
func (p *plan) rawRows(rows []*srow, src *source) ([][]any, error) {
	if p.desc {
		reverse(rows)
	}
	if t, ok := transformCall(p.exprs); ok {
		return p.transformRaw(rows, t, src)
	}
	var out [][]any
	for _, r := range rows {
		rv := &rowValuer{tags: r.tags, row: r, types: src.types}
		vals := make([]any, 0, len(p.exprs)+1)
		vals = append(vals, r.t)
		anyField := false
		for _, e := range p.exprs {
			v := eval(e, rv)
			vals = append(vals, v)
			if v != nil && !isTagExpr(e, src.tagKeys) {
				anyField = true
			}
		}
		if anyField {
			out = append(out, vals)
		}
	}
	return out, nil
}

func isTagExpr(e influxql.Expr, tagKeys map[string]bool) bool {
	v, ok := e.(*influxql.VarRef)
	return ok && (v.Type == influxql.Tag || v.Type == influxql.Unknown && tagKeys[v.Val])
}

func hasTransform(exprs []influxql.Expr) bool {
	found := false
	for _, e := range exprs {
		influxql.WalkFunc(e, func(n influxql.Node) {
			if c, ok := n.(*influxql.Call); ok && transforms[c.Name] {
				found = true
			}
		})
	}
	return found
}

// transformCall returns the transformation when the select list is one
// field holding exactly one transformation (possibly inside math), the
// form herd supports.
func transformCall(exprs []influxql.Expr) (*influxql.Call, bool) {
	if len(exprs) != 1 {
		return nil, false
	}
	var found []*influxql.Call
	influxql.WalkFunc(exprs[0], func(n influxql.Node) {
		if c, ok := n.(*influxql.Call); ok && transforms[c.Name] {
			found = append(found, c)
		}
	})
	if len(found) != 1 || len(found[0].Args) == 0 {
		return nil, false
	}
	return found[0], true
}

// groupValues turns a group's rows into its output values: aggregated or
// raw, LIMIT/OFFSET applied, times as time.Time.
func (p *plan) groupValues(rows []*srow, src *source) ([][]any, error) {
	var values [][]any
	var err error
	if p.aggregate {
		values, err = p.aggregateRows(rows, src)
	} else {
		values, err = p.rawRows(rows, src)
	}
	if err != nil {
		return nil, err
	}
	values = limitOffset(values, p.stmt.Limit, p.stmt.Offset)
	for _, v := range values {
		v[0] = time.Unix(0, v[0].(int64)).UTC()
	}
	return values, nil
}
