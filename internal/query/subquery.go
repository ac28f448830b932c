package query

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
)

// selectSubquery runs the outer statement of SELECT ... FROM (subquery),
// ...: the inner statements run first (within the outer time range), and
// their series become the outer one's: the inner columns are fields, the
// inner GROUP BY tags are tags, and series of one measurement name from
// several subqueries are one measurement.
func (x *Executor) selectSubquery(ctx context.Context, p *plan, _ []*influxql.SubQuery, tr influxql.TimeRange, opt Options) ([]*Row, error) {
	var innerRows []*Row
	// The outer statement's rewriteFields rewrote its subqueries too:
	// each level runs on a shallow copy of its statement (executors never
	// modify the statement they are given), never a deep clone, so
	// nesting costs time linear in its depth.
	opt.rewritten = true
	for _, src := range p.stmt.Sources {
		// The rewritten statement's subqueries, not the ones given
		// (subs, from the statement as sent, which name the same
		// subqueries before rewriting).
		sq, ok := src.(*influxql.SubQuery)
		if !ok {
			continue
		}
		inner := *sq.Statement
		inner.Condition = andTimeRange(inner.Condition, tr)
		r, err := x.executeSelect(ctx, &inner, opt)
		if err != nil {
			return nil, err
		}
		innerRows = append(innerRows, r...)
	}
	// One pseudo-measurement per inner measurement name, in name order.
	byName := map[string][]*Row{}
	var names []string
	for _, r := range innerRows {
		if byName[r.Name] == nil {
			names = append(names, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	sort.Strings(names)
	var out []*Row
	for _, name := range names {
		rs := byName[name]
		src := &source{name: name, types: map[string]models.FieldType{}, tagKeys: map[string]bool{}}
		for _, r := range rs {
			for k := range r.Tags {
				src.tagKeys[k] = true
			}
			for c, col := range r.Columns {
				if c == 0 {
					continue
				}
				if _, ok := src.types[col]; ok {
					continue
				}
				for _, v := range r.Values {
					if t, ok := valueType(v[c]); ok {
						src.types[col] = t
						break
					}
				}
			}
		}
		groups := subqueryGroups(p, src, rs)
		for _, g := range groups {
			rows := subqueryRows(p, src, g.members)
			if len(rows) == 0 {
				continue
			}
			values, err := p.groupValues(rows, src)
			if err != nil {
				return nil, err
			}
			if len(values) == 0 {
				continue
			}
			out = append(out, &Row{Name: name, Tags: g.tags, Columns: p.columns, Values: values})
		}
	}
	return out, nil
}

// rewriteFields returns the statement with its wildcards expanded and
// its names typed (influxql's RewriteFields), subqueries included.
//
// influxql's RewriteFields clones the whole statement and then recurses
// into each subquery, which clones that one whole again: quadratic in
// the nesting depth, and cubic when every level runs it again. Here a
// statement nested in another is rewritten once, by its outermost
// statement, bottom up; each level is rewritten over stand-ins of its
// (already rewritten) subqueries that hold only what typing reads (their
// fields, dimensions and measurements), so each level is copied once.
func (x *Executor) rewriteFields(ctx context.Context, s *influxql.SelectStatement, typing []*source, opt Options) (*influxql.SelectStatement, error) {
	if opt.rewritten {
		c := *s
		return &c, nil
	}
	for _, src := range s.Sources {
		if _, ok := src.(*influxql.SubQuery); ok {
			return x.rewriteTree(ctx, s, opt, 0)
		}
	}
	return s.RewriteFields(&mapper{sources: typing})
}

// rewriteTree rewrites s, at the given nesting depth, and its subqueries.
// Each level is typed with the measurements it and its direct subqueries
// read.
func (x *Executor) rewriteTree(ctx context.Context, s *influxql.SelectStatement, opt Options, depth int) (*influxql.SelectStatement, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit := opt.maxSubqueryDepth(); depth > limit {
		return nil, &LimitError{Limit: "max-query-depth", What: fmt.Sprintf("subqueries nested deeper than %d levels", limit)}
	}
	shell := *s
	shell.Sources = make(influxql.Sources, len(s.Sources))
	children := make([]*influxql.SelectStatement, len(s.Sources))
	var typing []*source
	for i, src := range s.Sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			ss, err := x.resolve(src, opt)
			if err != nil {
				return nil, err
			}
			typing = append(typing, ss...)
			shell.Sources[i] = src
		case *influxql.SubQuery:
			child, err := x.rewriteTree(ctx, src.Statement, opt, depth+1)
			if err != nil {
				return nil, err
			}
			children[i] = child
			stand := &influxql.SelectStatement{Fields: child.Fields, Dimensions: child.Dimensions}
			for _, cs := range child.Sources {
				if m, ok := cs.(*influxql.Measurement); ok {
					ss, err := x.resolve(m, opt)
					if err != nil {
						return nil, err
					}
					typing = append(typing, ss...)
					stand.Sources = append(stand.Sources, m)
				}
			}
			shell.Sources[i] = &influxql.SubQuery{Statement: stand}
		default:
			shell.Sources[i] = src
		}
	}
	out, err := shell.RewriteFields(&mapper{sources: typing})
	if err != nil {
		return nil, err
	}
	for i, child := range children {
		if child != nil {
			out.Sources[i] = &influxql.SubQuery{Statement: child}
		}
	}
	return out, nil
}

// innerSources returns the measurements of a subquery, at any depth, for
// typing the outer statement's names. Each level of a nested subquery
// asks for the levels below it: the answers are kept for the statement's
// run (opt.memo), so that nesting costs linear time, not quadratic.
func (x *Executor) innerSources(s *influxql.SelectStatement, opt Options) ([]*source, error) {
	if opt.memo != nil {
		if out, ok := opt.memo.inner[s]; ok {
			return out, nil
		}
	}
	var out []*source
	for _, src := range s.Sources {
		switch src := src.(type) {
		case *influxql.Measurement:
			ss, err := x.resolve(src, opt)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
		case *influxql.SubQuery:
			ss, err := x.innerSources(src.Statement, opt)
			if err != nil {
				return nil, err
			}
			if len(s.Sources) == 1 {
				out = ss // shared, not copied: the lists are never modified
				break
			}
			out = append(out, ss...)
		}
	}
	if opt.memo != nil {
		opt.memo.inner[s] = out
	}
	return out, nil
}

// planMemo keeps what the levels of one statement's subqueries share.
type planMemo struct {
	inner map[*influxql.SelectStatement][]*source
}

// andTimeRange adds the outer statement's time range to a condition.
func andTimeRange(cond influxql.Expr, tr influxql.TimeRange) influxql.Expr {
	add := func(c influxql.Expr, op influxql.Token, t time.Time) influxql.Expr {
		e := &influxql.BinaryExpr{Op: op, LHS: &influxql.VarRef{Val: "time"}, RHS: &influxql.TimeLiteral{Val: t}}
		if c == nil {
			return e
		}
		return &influxql.BinaryExpr{Op: influxql.AND, LHS: &influxql.ParenExpr{Expr: c}, RHS: e}
	}
	if !tr.Min.IsZero() {
		cond = add(cond, influxql.GTE, tr.Min)
	}
	if !tr.Max.IsZero() {
		cond = add(cond, influxql.LTE, tr.Max)
	}
	return cond
}

func valueType(v any) (models.FieldType, bool) {
	switch v.(type) {
	case float64:
		return models.Float, true
	case int64:
		return models.Integer, true
	case uint64:
		return models.Unsigned, true
	case string:
		return models.String, true
	case bool:
		return models.Boolean, true
	}
	return 0, false
}

// subGroup is an outer series over inner series.
type subGroup struct {
	tags    map[string]string
	key     string
	members []*Row
}

func subqueryGroups(p *plan, src *source, rs []*Row) []*subGroup {
	dims := p.groupTags(src)
	byKey := map[string]*subGroup{}
	var out []*subGroup
	for _, r := range rs {
		var kb strings.Builder
		for _, d := range dims {
			kb.WriteString(d)
			kb.WriteByte(0)
			kb.WriteString(r.Tags[d])
			kb.WriteByte(0)
		}
		k := kb.String()
		g := byKey[k]
		if g == nil {
			g = &subGroup{key: k}
			if len(dims) > 0 {
				g.tags = make(map[string]string, len(dims))
				for _, d := range dims {
					g.tags[d] = r.Tags[d]
				}
			}
			byKey[k] = g
			out = append(out, g)
		}
		g.members = append(g.members, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// subqueryRows turns a group's inner series into rows that pass the
// outer condition, in (time, series) order.
func subqueryRows(p *plan, src *source, members []*Row) []*srow {
	var rows []*srow
	for si, r := range members {
		fidx := make(map[string]int, len(r.Columns)-1)
		for c, col := range r.Columns[1:] {
			if _, dup := fidx[col]; !dup {
				fidx[col] = c
			}
		}
		tags := make(models.Tags, 0, len(r.Tags))
		for k, v := range r.Tags {
			tags = append(tags, models.Tag{Key: k, Value: v})
		}
		tags.Sort()
		for _, v := range r.Values {
			ts, _ := v[0].(time.Time)
			t := ts.UnixNano()
			if t < p.minT || t > p.maxT {
				continue
			}
			row := &srow{t: t, ser: int32(si), tags: tags, vals: v[1:], fidx: fidx}
			if p.cond != nil && !evalBool(p.cond, &rowValuer{tags: tags, row: row, types: src.types, cond: true}) {
				continue
			}
			rows = append(rows, row)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].t != rows[j].t {
			return rows[i].t < rows[j].t
		}
		return rows[i].ser < rows[j].ser
	})
	return rows
}
