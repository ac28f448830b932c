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
// largest such part begins, so a long chain of terms compiles in time
// linear in its length.
func compilePredicate(cond influxql.Expr, c *seriesCols, fidx map[string]int, tags models.Tags, types map[string]models.FieldType) (predicate, bool) {
	pc := &predCompiler{c: c, fidx: fidx, tags: tags, types: types}
	pred, fieldFree, ok := pc.compile(cond)
	if fieldFree {
		return pc.constant(cond), true
	}
	return pred, ok
}

type predCompiler struct {
	c     *seriesCols
	fidx  map[string]int
	tags  models.Tags
	types map[string]models.FieldType
}

// constant evaluates a part of the condition that reads no field.
func (pc *predCompiler) constant(e influxql.Expr) predicate {
	row := &srow{fidx: pc.fidx}
	v := evalBool(e, &rowValuer{tags: pc.tags, row: row, types: pc.types, cond: true})
	return func([]int) bool { return v }
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
			if lFree {
				l, ok1 = pc.constant(e.LHS), true
			}
			if rFree {
				r, ok2 = pc.constant(e.RHS), true
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
