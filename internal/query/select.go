package query

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

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
}

var selectors = map[string]bool{"first": true, "last": true, "min": true, "max": true, "percentile": true}

var transforms = map[string]bool{
	"derivative": true, "non_negative_derivative": true, "difference": true, "non_negative_difference": true,
	"moving_average": true, "cumulative_sum": true, "elapsed": true,
}

var unsupportedCalls = map[string]bool{"top": true, "bottom": true, "sample": true, "holt_winters": true,
	"holt_winters_with_fit": true, "chande_momentum_oscillator": true, "exponential_moving_average": true,
	"double_exponential_moving_average": true, "triple_exponential_moving_average": true,
	"relative_strength_index": true, "triple_exponential_derivative": true, "kaufmans_efficiency_ratio": true,
	"kaufmans_adaptive_moving_average": true}

func (x *Executor) executeSelect(ctx context.Context, s *influxql.SelectStatement, opt Options) ([]*Row, error) {
	if s.Target != nil {
		return nil, &UnsupportedError{What: "SELECT ... INTO"}
	}
	var sources []*source
	for _, src := range s.Sources {
		m, ok := src.(*influxql.Measurement)
		if !ok {
			return nil, &UnsupportedError{What: "subqueries"}
		}
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
		for _, name := range measurementsOf(ix, influxql.Sources{m}) {
			types, err := x.Store.FieldTypes(db, name)
			if err != nil {
				return nil, err
			}
			tk := map[string]bool{}
			for _, k := range ix.TagKeys(name) {
				tk[k] = true
			}
			sources = append(sources, &source{db: db, rp: rp, name: name, ix: ix, types: types, tagKeys: tk})
		}
	}
	stmt, err := s.RewriteFields(&mapper{sources: sources})
	if err != nil {
		return nil, err
	}
	for _, f := range stmt.Fields {
		var bad error
		influxql.WalkFunc(f.Expr, func(n influxql.Node) {
			if c, ok := n.(*influxql.Call); ok && unsupportedCalls[c.Name] && bad == nil {
				bad = &UnsupportedError{What: c.Name + "()"}
			}
		})
		if bad != nil {
			return nil, bad
		}
	}
	valuer := &influxql.NowValuer{Now: opt.Now, Location: stmt.Location}
	cond, tr, err := influxql.ConditionExpr(stmt.Condition, valuer)
	if err != nil {
		return nil, err
	}
	interval, err := stmt.GroupByInterval()
	if err != nil {
		return nil, err
	}
	offset, err := stmt.GroupByOffset()
	if err != nil {
		return nil, err
	}
	p := &plan{stmt: stmt, cond: cond, interval: int64(interval), offset: int64(offset), opt: opt}
	p.minT, p.maxT = influxql.MinTime, influxql.MaxTime
	if !tr.Min.IsZero() {
		p.minT = tr.Min.UnixNano()
	}
	if !tr.Max.IsZero() {
		p.maxT = tr.Max.UnixNano()
	}
	p.aggregate = hasAggregate(stmt)
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.aggregate && p.interval > 0 && tr.Max.IsZero() {
		p.maxT = opt.Now.UnixNano()
	}
	p.columns = stmt.ColumnNames()
	if p.aggregate && p.interval > 0 {
		start := p.bucketStart(p.lowerBound())
		limit := opt.MaxSelectBuckets
		if limit <= 0 {
			limit = defaultMaxSelectBuckets
		}
		if n := (p.maxT-start)/p.interval + 1; n > int64(limit) {
			return nil, fmt.Errorf("max-select-buckets limit exceeded: (%d/%d)", n, limit)
		}
	}

	var rows []*Row
	for _, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := x.selectSource(ctx, p, src)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	rows = limitOffset(rows, stmt.SLimit, stmt.SOffset)
	return rows, nil
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
	cond             influxql.Expr
	minT, maxT       int64
	interval, offset int64
	aggregate        bool
	columns          []string
	opt              Options
}

func (p *plan) validate() error {
	if p.aggregate {
		for _, f := range p.stmt.Fields {
			if err := checkAggregateField(f.Expr, false); err != nil {
				return err
			}
		}
	} else if p.interval > 0 {
		return fmt.Errorf("GROUP BY requires at least one aggregate function")
	}
	return nil
}

// checkAggregateField rejects raw field references outside an aggregate in
// an aggregate query, as InfluxDB does.
func checkAggregateField(e influxql.Expr, inCall bool) error {
	switch n := e.(type) {
	case *influxql.Call:
		if aggregates[n.Name] || transforms[n.Name] {
			inCall = true
		}
		for _, a := range n.Args {
			if err := checkAggregateField(a, inCall); err != nil {
				return err
			}
		}
	case *influxql.BinaryExpr:
		if err := checkAggregateField(n.LHS, inCall); err != nil {
			return err
		}
		return checkAggregateField(n.RHS, inCall)
	case *influxql.ParenExpr:
		return checkAggregateField(n.Expr, inCall)
	case *influxql.VarRef:
		if !inCall && n.Type != influxql.Tag {
			return fmt.Errorf("mixing aggregate and non-aggregate queries is not supported")
		}
	}
	return nil
}

func (p *plan) lowerBound() int64 {
	if p.minT == influxql.MinTime {
		return 0
	}
	return p.minT
}

// bucketStart aligns t down to its GROUP BY time bucket.
func (p *plan) bucketStart(t int64) int64 {
	if p.interval <= 0 {
		return t
	}
	d := t - p.offset
	b := d - d%p.interval
	if d%p.interval < 0 {
		b -= p.interval
	}
	return b + p.offset
}

// group is one output series: the series of a measurement sharing the
// values of the GROUP BY tags.
type group struct {
	tags   map[string]string
	key    string
	series []uint64
}

func (x *Executor) groups(p *plan, src *source) ([]*group, error) {
	set, err := seriesMatching(src.ix, src.name, p.cond, func(n string) bool { _, ok := src.types[n]; return ok })
	if err != nil {
		return nil, err
	}
	var dims []string
	for _, d := range p.stmt.Dimensions {
		switch e := d.Expr.(type) {
		case *influxql.VarRef:
			dims = append(dims, e.Val)
		case *influxql.Wildcard:
			for k := range src.tagKeys {
				dims = append(dims, k)
			}
		case *influxql.Call:
			// time(...) handled by the plan
		case *influxql.RegexLiteral:
			for k := range src.tagKeys {
				if e.Val.MatchString(k) {
					dims = append(dims, k)
				}
			}
		}
	}
	sort.Strings(dims)
	dims = dedupe(dims)
	byKey := map[string]*group{}
	it := set.Iterator()
	for it.HasNext() {
		id := uint64(it.Next())
		_, tags, ok := src.ix.Series(id)
		if !ok {
			continue
		}
		var kb strings.Builder
		gt := map[string]string{}
		for _, d := range dims {
			v := tags.Get(d)
			gt[d] = v
			kb.WriteString(d)
			kb.WriteByte(0)
			kb.WriteString(v)
			kb.WriteByte(0)
		}
		k := kb.String()
		g := byKey[k]
		if g == nil {
			g = &group{tags: gt, key: k}
			if len(dims) == 0 {
				g.tags = nil
			}
			byKey[k] = g
		}
		g.series = append(g.series, id)
	}
	out := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		sort.Slice(g.series, func(i, j int) bool { return seriesKey(src.ix, g.series[i]) < seriesKey(src.ix, g.series[j]) })
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func seriesKey(ix *index.Index, id uint64) string {
	k, _ := ix.SeriesKey(id)
	return k
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// fieldRefs lists the field names an expression reads.
func fieldRefs(exprs []influxql.Expr, tagKeys map[string]bool) []string {
	set := map[string]bool{}
	for _, e := range exprs {
		influxql.WalkFunc(e, func(n influxql.Node) {
			if v, ok := n.(*influxql.VarRef); ok && v.Type != influxql.Tag && !(v.Type == influxql.Unknown && tagKeys[v.Val]) && v.Val != "time" {
				set[v.Val] = true
			}
		})
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// seriesRows reads a group's series and joins their fields by time: one
// row per (series, time) with at least one of the fields, in time order
// then series order; rows failing the condition are removed.
type srow struct {
	t      int64
	ser    int32
	tags   models.Tags
	fields map[string]any
}

func (x *Executor) readRows(ctx context.Context, p *plan, src *source, g *group, fields []string) ([]*srow, error) {
	var rows []*srow
	if len(fields) == 0 {
		return nil, nil
	}
	for si, id := range g.series {
		_, tags, _ := src.ix.Series(id)
		byTime := map[int64]*srow{}
		var order []*srow
		err := x.Store.Read(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, SeriesIDs: []uint64{id},
			Fields: fields, MinTime: p.minT, MaxTime: p.maxT}, func(_ uint64, field string, col *block.Column) error {
			var tmp []point
			tmp = appendColumn(tmp, col, 0)
			for i := range tmp {
				r := byTime[tmp[i].t]
				if r == nil {
					r = &srow{t: tmp[i].t, ser: int32(si), tags: tags, fields: map[string]any{}}
					byTime[tmp[i].t] = r
					order = append(order, r)
				}
				r.fields[field] = tmp[i].value()
			}
			return ctx.Err()
		})
		if err != nil {
			if _, ok := err.(*models.RetentionPolicyNotFoundError); ok {
				return nil, fmt.Errorf("retention policy not found: %s", src.rp)
			}
			return nil, err
		}
		for _, r := range order {
			if p.cond != nil && !evalBool(p.cond, &rowValuer{tags: tagMap(r.tags), fields: r.fields}) {
				continue
			}
			rows = append(rows, r)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].t != rows[j].t {
			return rows[i].t < rows[j].t
		}
		return rows[i].ser < rows[j].ser
	})
	return rows, nil
}

func tagMap(tags models.Tags) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func (x *Executor) selectSource(ctx context.Context, p *plan, src *source) ([]*Row, error) {
	groups, err := x.groups(p, src)
	if err != nil {
		return nil, err
	}
	exprs := make([]influxql.Expr, len(p.stmt.Fields))
	for i, f := range p.stmt.Fields {
		exprs[i] = f.Expr
	}
	condExprs := exprs
	if p.cond != nil {
		condExprs = append(append([]influxql.Expr(nil), exprs...), p.cond)
	}
	fields := fieldRefs(condExprs, src.tagKeys)
	var out []*Row
	for _, g := range groups {
		rows, err := x.readRows(ctx, p, src, g, fields)
		if err != nil {
			return nil, err
		}
		var values [][]any
		if p.aggregate {
			values, err = p.aggregateRows(rows, exprs)
			if err != nil {
				return nil, err
			}
		} else {
			values, err = p.rawRows(rows, exprs, src)
			if err != nil {
				return nil, err
			}
		}
		if len(p.stmt.SortFields) > 0 && !p.stmt.TimeAscending() {
			for i, j := 0, len(values)-1; i < j; i, j = i+1, j-1 {
				values[i], values[j] = values[j], values[i]
			}
		}
		values = limitOffset(values, p.stmt.Limit, p.stmt.Offset)
		if len(values) == 0 {
			continue
		}
		out = append(out, &Row{Name: src.name, Tags: g.tags, Columns: p.columns, Values: values})
	}
	return out, nil
}

// rawRows evaluates the select list for each row; a row whose field
// columns are all null is left out, as InfluxDB does.
func (p *plan) rawRows(rows []*srow, exprs []influxql.Expr, src *source) ([][]any, error) {
	if hasTransform(exprs) {
		return p.transformRaw(rows, exprs)
	}
	var out [][]any
	for _, r := range rows {
		rv := &rowValuer{tags: tagMap(r.tags), fields: r.fields}
		vals := make([]any, 0, len(exprs)+1)
		vals = append(vals, time.Unix(0, r.t).UTC())
		anyField := false
		for _, e := range exprs {
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

// bucketed holds the aggregate values of one GROUP BY time bucket.
type bucket struct {
	start int64
	rows  []*srow
}

// aggregateRows computes the select list per time bucket (or over the
// whole range without GROUP BY time), then applies fill and
// transformations.
func (p *plan) aggregateRows(rows []*srow, exprs []influxql.Expr) ([][]any, error) {
	var buckets []bucket
	if p.interval > 0 {
		start := p.bucketStart(p.lowerBound())
		n := (p.maxT-start)/p.interval + 1
		buckets = make([]bucket, 0, n)
		for b := start; b <= p.maxT; b += p.interval {
			buckets = append(buckets, bucket{start: b})
		}
		for _, r := range rows {
			i := (p.bucketStart(r.t) - start) / p.interval
			if i >= 0 && int(i) < len(buckets) {
				buckets[i].rows = append(buckets[i].rows, r)
			}
		}
	} else {
		t := p.lowerBound()
		buckets = []bucket{{start: t, rows: rows}}
	}
	// One call whose value is a selected point: its time is the row's
	// time when there is no GROUP BY time.
	var calls []*influxql.Call
	for _, e := range exprs {
		influxql.WalkFunc(e, func(n influxql.Node) {
			if c, ok := n.(*influxql.Call); ok && aggregates[c.Name] {
				for _, known := range calls {
					if inner, ok := nestedDistinct(known); ok && inner == c {
						return // the distinct inside count(distinct(x))
					}
				}
				calls = append(calls, c)
			}
		})
	}
	useSelectorTime := p.interval == 0 && len(calls) == 1 && selectors[calls[0].Name]
	if len(calls) == 1 && calls[0].Name == "distinct" {
		return p.distinctRows(buckets, calls[0])
	}

	out := make([][]any, 0, len(buckets))
	empty := make([]bool, 0, len(buckets))
	for _, b := range buckets {
		results := map[*influxql.Call]aggResult{}
		isEmpty := true
		for _, c := range calls {
			if inner, ok := nestedDistinct(c); ok {
				n := int64(len(distinctValues(callPoints(inner, b.rows))))
				if n > 0 {
					isEmpty = false
				}
				results[c] = aggResult{v: n}
				continue
			}
			ps := callPoints(c, b.rows)
			if len(ps) > 0 {
				isEmpty = false
			}
			results[c] = aggregate(c.Name, ps, callArg(c))
		}
		t := b.start
		if useSelectorTime {
			if r := results[calls[0]]; r.hasTime {
				t = r.t
			}
		}
		vals := make([]any, 0, len(exprs)+1)
		vals = append(vals, t)
		for _, e := range exprs {
			vals = append(vals, evalAgg(e, results))
		}
		out = append(out, vals)
		empty = append(empty, isEmpty)
	}
	if p.interval == 0 {
		if len(out) == 1 && empty[0] {
			return nil, nil
		}
	}
	out = p.fill(out, empty)
	if hasTransform(exprs) {
		var err error
		if out, err = transformAggregated(out, exprs, p.interval); err != nil {
			return nil, err
		}
	}
	for _, v := range out {
		v[0] = time.Unix(0, v[0].(int64)).UTC()
	}
	return out, nil
}

// callPoints collects the values a call aggregates from a bucket's rows.
func callPoints(c *influxql.Call, rows []*srow) []point {
	if len(c.Args) == 0 {
		return nil
	}
	ref, ok := c.Args[0].(*influxql.VarRef)
	if !ok {
		return nil
	}
	ps := make([]point, 0, len(rows))
	for _, r := range rows {
		v, ok := r.fields[ref.Val]
		if !ok {
			continue
		}
		p := point{t: r.t, ser: r.ser}
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
	switch a := c.Args[1].(type) {
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
// their results.
func evalAgg(e influxql.Expr, results map[*influxql.Call]aggResult) any {
	switch n := e.(type) {
	case *influxql.Call:
		if r, ok := results[n]; ok {
			return r.v
		}
		if transforms[n.Name] && len(n.Args) > 0 {
			return evalAgg(n.Args[0], results)
		}
		args := make([]any, len(n.Args))
		for i, a := range n.Args {
			args[i] = evalAgg(a, results)
		}
		return mathCall(n.Name, args)
	case *influxql.BinaryExpr:
		return binary(n.Op, evalAgg(n.LHS, results), evalAgg(n.RHS, results))
	case *influxql.ParenExpr:
		return evalAgg(n.Expr, results)
	case *influxql.NumberLiteral:
		return n.Val
	case *influxql.IntegerLiteral:
		return n.Val
	case *influxql.StringLiteral:
		return n.Val
	}
	return nil
}

// fill applies the statement's fill option to empty GROUP BY time
// buckets.
func (p *plan) fill(rows [][]any, empty []bool) [][]any {
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
				if r[c] == nil || empty[i] && isZeroCount(p.stmt.Fields[c-1].Expr) {
					r[c] = p.stmt.FillValue
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

func (p *plan) distinctRows(buckets []bucket, c *influxql.Call) ([][]any, error) {
	var out [][]any
	for _, b := range buckets {
		for _, v := range distinctValues(callPoints(c, b.rows)) {
			out = append(out, []any{time.Unix(0, b.start).UTC(), v})
		}
	}
	return out, nil
}
