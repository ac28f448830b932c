package query

import (
	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
)

// A row condition is evaluated per row by eval, which looks every field
// up by name and boxes its value: most of a `WHERE usage_user > 90`
// scan. compilePredicate turns the condition, once per series, into
// closures over the series' typed columns: tag references are resolved
// (they are constant within a series) and numeric comparisons of a field
// with a literal read the column directly. Conditions of other shapes
// keep the general path; the results are those of eval in every case.

// predicate reports whether the row whose field f has its value at
// index at[f] of its column (-1: no value) satisfies the condition.
type predicate func(at []int) bool

// compilePredicate compiles cond for one series (its tags and columns),
// or returns false when cond has a shape it does not compile.
//
// It visits each node once: a part of the condition that reads no field
// (tags and literals only) is evaluated once for the series, where the
// largest such part begins, and folded away (a false term of an OR, a
// true term of an AND), so that rows only run the terms that can still
// change the answer.
func compilePredicate(cond influxql.Expr, c *seriesCols, fidx map[string]int, tags models.Tags, types map[string]models.FieldType) (predicate, bool) {
	pc := &predCompiler{c: c, fidx: fidx, tags: tags, types: types}
	pred, fieldFree, ok := pc.compile(cond)
	if fieldFree {
		v := pc.eval(cond)
		return func([]int) bool { return v }, true
	}
	return pred, ok
}

// condInfo is what a statement's condition is, once per source: read
// per group and per series, it must not cost a walk of the condition
// each time (a condition of 10,000 terms over 5,000 series).
type condInfo struct {
	// exact: the index answers the condition exactly, so it holds for
	// every series seriesMatching returns (see indexExact).
	exact bool
	// names are the distinct names the condition refers to.
	names []string
}

func (p *plan) condInfo(src *source) *condInfo {
	if ci := p.conds[src]; ci != nil {
		return ci
	}
	isField := func(n string) bool { _, ok := src.types[n]; return ok }
	ci := &condInfo{exact: indexExact(p.cond, isField)}
	seen := map[string]bool{}
	influxql.WalkFunc(p.cond, func(n influxql.Node) {
		if v, ok := n.(*influxql.VarRef); ok && !seen[v.Val] {
			seen[v.Val] = true
			ci.names = append(ci.names, v.Val)
		}
	})
	if p.conds == nil {
		p.conds = map[*source]*condInfo{}
	}
	p.conds[src] = ci
	return ci
}

// indexExact reports whether cond holds for every series tagFilter
// returns for it: AND, OR and parentheses over comparisons of a tag with
// a string or a regex, and boolean literals. (Each such comparison
// selects in the index at most the series for which it holds, and AND
// and OR keep that; a tag compared with a number does not: tagFilter
// keeps every series for "!= 1", which is never true.)
func indexExact(cond influxql.Expr, isField func(string) bool) bool {
	switch e := cond.(type) {
	case *influxql.ParenExpr:
		return indexExact(e.Expr, isField)
	case *influxql.BooleanLiteral:
		return true
	case *influxql.BinaryExpr:
		if e.Op == influxql.AND || e.Op == influxql.OR {
			return indexExact(e.LHS, isField) && indexExact(e.RHS, isField)
		}
		ref, lit := e.LHS, e.RHS
		if _, ok := ref.(*influxql.VarRef); !ok {
			ref, lit = e.RHS, e.LHS
		}
		vr, ok := ref.(*influxql.VarRef)
		if !ok || !isTagRef(vr, isField) {
			return false
		}
		switch lit.(type) {
		case *influxql.StringLiteral, *influxql.RegexLiteral:
			return true
		}
		return e.Op != influxql.NEQ // tagFilter selects no series
	}
	return false
}

type predCompiler struct {
	c     *seriesCols
	fidx  map[string]int
	tags  models.Tags
	types map[string]models.FieldType
}

// eval evaluates a part of the condition that reads no field.
func (pc *predCompiler) eval(e influxql.Expr) bool {
	row := &srow{fidx: pc.fidx}
	return evalBool(e, &rowValuer{tags: pc.tags, row: row, types: pc.types, cond: true})
}

// compile returns e's predicate, or fieldFree when e reads no field
// (then the caller evaluates it as a whole), or ok false when e reads a
// field in a shape that does not compile.
func (pc *predCompiler) compile(cond influxql.Expr) (pred predicate, fieldFree, ok bool) {
	switch e := cond.(type) {
	case *influxql.ParenExpr:
		return pc.compile(e.Expr)
	case *influxql.BinaryExpr:
		switch e.Op {
		case influxql.AND, influxql.OR:
			l, lFree, ok1 := pc.compile(e.LHS)
			r, rFree, ok2 := pc.compile(e.RHS)
			if lFree && rFree {
				return nil, true, true
			}
			// One side reads no field: its value, once, decides the
			// node or leaves it to the other side.
			if lFree || rFree {
				constExpr, other, otherOK := e.LHS, r, ok2
				if rFree {
					constExpr, other, otherOK = e.RHS, l, ok1
				}
				v := pc.eval(constExpr)
				switch {
				case e.Op == influxql.AND && !v:
					return func([]int) bool { return false }, false, true
				case e.Op == influxql.OR && v:
					return func([]int) bool { return true }, false, true
				}
				return other, false, otherOK
			}
			if !ok1 || !ok2 {
				return nil, false, false
			}
			if e.Op == influxql.AND {
				return func(at []int) bool { return l(at) && r(at) }, false, true
			}
			return func(at []int) bool { return l(at) || r(at) }, false, true
		}
	}
	if !refersToFields(cond, pc.types) {
		return nil, true, true
	}
	if e, ok := cond.(*influxql.BinaryExpr); ok {
		switch e.Op {
		case influxql.EQ, influxql.NEQ, influxql.LT, influxql.LTE, influxql.GT, influxql.GTE:
			pred, ok := compileComparison(e, pc.c, pc.fidx, pc.types)
			return pred, false, ok
		}
	}
	return nil, false, false
}

// compileComparison compiles `field op number` or `number op field` on a
// float, integer or unsigned column. As in binary, numbers compare as
// float64 and a row without the field never matches.
func compileComparison(e *influxql.BinaryExpr, c *seriesCols, fidx map[string]int, types map[string]models.FieldType) (predicate, bool) {
	op := e.Op
	ref, lit := e.LHS, e.RHS
	if _, isRef := ref.(*influxql.VarRef); !isRef {
		ref, lit = lit, ref
		op = mirror(op)
	}
	vr, ok := ref.(*influxql.VarRef)
	if !ok {
		return nil, false
	}
	if _, isField := types[vr.Val]; !isField {
		return nil, false
	}
	f, ok := fidx[vr.Val]
	if !ok {
		return nil, false
	}
	var x float64
	switch l := lit.(type) {
	case *influxql.NumberLiteral:
		x = l.Val
	case *influxql.IntegerLiteral:
		x = float64(l.Val)
	default:
		return nil, false
	}
	col := &c.cols[f]
	if vr.Type != influxql.Unknown && vr.Type != dataType(col.Type) {
		return nil, false // a cast (field::type) keeps eval's rules
	}
	test := func(v, x float64) bool { r, _ := compareOp(op, v, x); return r }
	switch col.Type {
	case models.Float:
		return func(at []int) bool { return at[f] >= 0 && test(col.Floats[at[f]], x) }, true
	case models.Integer:
		return func(at []int) bool { return at[f] >= 0 && test(float64(col.Integers[at[f]]), x) }, true
	case models.Unsigned:
		return func(at []int) bool { return at[f] >= 0 && test(float64(col.Unsigneds[at[f]]), x) }, true
	}
	return nil, false
}

// mirror returns the operator with its operands swapped: a < b is b > a.
func mirror(op influxql.Token) influxql.Token {
	switch op {
	case influxql.LT:
		return influxql.GT
	case influxql.LTE:
		return influxql.GTE
	case influxql.GT:
		return influxql.LT
	case influxql.GTE:
		return influxql.LTE
	}
	return op
}

// refersToFields reports whether e reads a field (as rowValuer.value
// resolves names: anything the source has as a field).
func refersToFields(e influxql.Expr, types map[string]models.FieldType) bool {
	// By hand rather than influxql.WalkFunc: it runs for every term of
	// every series.
	switch e := e.(type) {
	case *influxql.VarRef:
		_, isField := types[e.Val]
		return isField
	case *influxql.BinaryExpr:
		return refersToFields(e.LHS, types) || refersToFields(e.RHS, types)
	case *influxql.ParenExpr:
		return refersToFields(e.Expr, types)
	case *influxql.Call:
		for _, a := range e.Args {
			if refersToFields(a, types) {
				return true
			}
		}
		return false
	case *influxql.Distinct, *influxql.Wildcard:
		return false
	}
	found := false
	influxql.WalkFunc(e, func(n influxql.Node) {
		if v, ok := n.(*influxql.VarRef); ok {
			if _, isField := types[v.Val]; isField {
				found = true
			}
		}
	})
	return found
}
