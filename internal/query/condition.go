package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/index"
)

// conditionExpr is influxql.ConditionExpr (the condition without its
// time comparisons, and the time range they give) in time linear in the
// condition's size, and stopped by ctx.
//
// influxql's version reduces each AND and OR node by reducing its whole
// subtree again, which the children have just done: a chain of n terms
// takes n²/2 node visits (20,000 ORs: tens of seconds, uninterruptible).
// Here every leaf comparison is reduced once and each AND/OR node only
// combines its reduced children, with the same rules.
func conditionExpr(ctx context.Context, cond influxql.Expr, valuer influxql.Valuer) (influxql.Expr, influxql.TimeRange, error) {
	c := &condReducer{ctx: ctx, valuer: valuer}
	expr, tr, err := c.reduce(cond)
	if err != nil {
		return nil, influxql.TimeRange{}, err
	}
	if e, ok := expr.(*influxql.ParenExpr); ok {
		expr = e.Expr
	}
	if e, ok := expr.(*influxql.BooleanLiteral); ok && e.Val {
		expr = nil // a condition that is always true is no condition
	}
	return expr, tr, nil
}

// condCheckEvery is how many condition nodes are reduced between checks
// of the statement's context.
const condCheckEvery = 1024

type condReducer struct {
	ctx    context.Context
	valuer influxql.Valuer
	nodes  int
}

func (c *condReducer) reduce(cond influxql.Expr) (influxql.Expr, influxql.TimeRange, error) {
	if cond == nil {
		return nil, influxql.TimeRange{}, nil
	}
	if c.nodes++; c.nodes%condCheckEvery == 0 {
		if err := c.ctx.Err(); err != nil {
			return nil, influxql.TimeRange{}, err
		}
	}
	switch e := cond.(type) {
	case *influxql.BinaryExpr:
		if e.Op != influxql.AND && e.Op != influxql.OR {
			if isTimeRef(e.LHS) || isTimeRef(e.RHS) {
				// A time comparison: influxql's own code gives its
				// range (and its errors); the node is a leaf, so this
				// costs no more than the node.
				return influxql.ConditionExpr(e, c.valuer)
			}
			return influxql.Reduce(e, c.valuer), influxql.TimeRange{}, nil
		}
		lhs, ltr, err := c.reduce(e.LHS)
		if err != nil {
			return nil, influxql.TimeRange{}, err
		}
		rhs, rtr, err := c.reduce(e.RHS)
		if err != nil {
			return nil, influxql.TimeRange{}, err
		}
		// As influxql: time ranges intersect even under OR (which
		// InfluxDB does not support with time).
		tr := ltr.Intersect(rtr)
		switch {
		case rhs == nil:
			return lhs, tr, nil
		case lhs == nil:
			return rhs, tr, nil
		}
		return combineLogical(e.Op, lhs, rhs), tr, nil
	case *influxql.ParenExpr:
		expr, tr, err := c.reduce(e.Expr)
		if err != nil || expr == nil {
			return nil, tr, err
		}
		if _, ok := expr.(*influxql.BinaryExpr); ok {
			return &influxql.ParenExpr{Expr: expr}, tr, nil
		}
		return expr, tr, nil
	case *influxql.BooleanLiteral:
		return e, influxql.TimeRange{}, nil
	}
	return nil, influxql.TimeRange{}, fmt.Errorf("invalid condition expression: %s", cond)
}

func isTimeRef(e influxql.Expr) bool {
	v, ok := e.(*influxql.VarRef)
	return ok && strings.ToLower(v.Val) == "time"
}

// combineLogical joins two reduced operands of AND or OR as influxql's
// reduce does, without reducing them again.
func combineLogical(op influxql.Token, lhs, rhs influxql.Expr) influxql.Expr {
	isBool := func(e influxql.Expr, v bool) bool {
		b, ok := e.(*influxql.BooleanLiteral)
		return ok && b.Val == v
	}
	// AND and OR are duals: the literal that decides the result alone
	// (false for AND, true for OR) absorbs the other operand, and its
	// negation is the identity that leaves the other operand as it is.
	decides := op != influxql.AND
	switch {
	case isBool(lhs, decides) || isBool(rhs, decides):
		return &influxql.BooleanLiteral{Val: decides}
	case isBool(lhs, !decides):
		return rhs
	case isBool(rhs, !decides):
		return lhs
	}
	if isLeaf(lhs) && isLeaf(rhs) {
		// Two literals (or a literal and a name): influxql's rules for
		// the pair, at the cost of two leaves.
		return influxql.Reduce(&influxql.BinaryExpr{Op: op, LHS: lhs, RHS: rhs}, nil)
	}
	return &influxql.BinaryExpr{Op: op, LHS: lhs, RHS: rhs}
}

func isLeaf(e influxql.Expr) bool {
	switch e.(type) {
	case *influxql.BinaryExpr, *influxql.ParenExpr, *influxql.Call:
		return false
	}
	return true
}

// seriesMatching returns the series of a measurement that may satisfy
// cond: tag comparisons are answered exactly from the index; anything
// else (field comparisons) cannot narrow the set, so the result is a
// superset that rows are then checked against.
//
// A name that is not a field of the measurement is a tag, as in InfluxDB
// (a tag the measurement lacks has the empty value); isField is nil for
// meta statements, where every name is a tag.
func seriesMatching(ix *index.Index, measurement string, cond influxql.Expr, isField func(string) bool) (*roaring.Bitmap, error) {
	all := ix.MeasurementSeries(measurement)
	if cond == nil {
		return all, nil
	}
	if isField == nil {
		isField = func(string) bool { return false }
	}
	return tagFilter(ix, measurement, cond, all, isField)
}

func tagFilter(ix *index.Index, m string, expr influxql.Expr, all *roaring.Bitmap, isField func(string) bool) (*roaring.Bitmap, error) {
	switch e := expr.(type) {
	case *influxql.ParenExpr:
		return tagFilter(ix, m, e.Expr, all, isField)
	case *influxql.BinaryExpr:
		switch e.Op {
		case influxql.AND, influxql.OR:
			l, err := tagFilter(ix, m, e.LHS, all, isField)
			if err != nil {
				return nil, err
			}
			r, err := tagFilter(ix, m, e.RHS, all, isField)
			if err != nil {
				return nil, err
			}
			if e.Op == influxql.AND {
				return roaring.And(l, r), nil
			}
			return roaring.Or(l, r), nil
		}
		ref, lit := e.LHS, e.RHS
		op := e.Op
		if _, ok := ref.(*influxql.VarRef); !ok {
			ref, lit = e.RHS, e.LHS
			op = flip(op)
		}
		vr, ok := ref.(*influxql.VarRef)
		if !ok || !isTagRef(vr, isField) {
			return all.Clone(), nil
		}
		key := vr.Val
		// The series without the tag (its value is ""): computed only
		// when a term needs them, as it costs a pass over every series
		// of the measurement.
		without := func() *roaring.Bitmap { return roaring.AndNot(all, ix.TagKeySeries(m, key)) }
		switch l := lit.(type) {
		case *influxql.StringLiteral:
			var eq *roaring.Bitmap
			if l.Val == "" {
				eq = without()
			} else {
				eq = ix.TagValueSeries(m, key, l.Val)
			}
			switch op {
			case influxql.EQ:
				return eq, nil
			case influxql.NEQ:
				return roaring.AndNot(all, eq), nil
			}
			// InfluxDB matches no series on ordering comparisons of tags.
			return roaring.New(), nil
		case *influxql.RegexLiteral:
			set := ix.MatchTagValues(m, key, l.Val.MatchString)
			if l.Val.MatchString("") {
				set.Or(without())
			}
			switch op {
			case influxql.EQREGEX:
				return set, nil
			case influxql.NEQREGEX:
				return roaring.AndNot(all, set), nil
			}
			return roaring.New(), nil
		default:
			// A tag compared with a number or boolean never matches.
			if op == influxql.NEQ {
				return all.Clone(), nil
			}
			return roaring.New(), nil
		}
	case *influxql.BooleanLiteral:
		if e.Val {
			return all.Clone(), nil
		}
		return roaring.New(), nil
	}
	return all.Clone(), nil
}

func isTagRef(vr *influxql.VarRef, isField func(string) bool) bool {
	switch vr.Type {
	case influxql.Tag:
		return true
	case influxql.Unknown:
		return vr.Val != "time" && !isField(vr.Val)
	}
	return false
}

func flip(op influxql.Token) influxql.Token {
	switch op {
	case influxql.LT:
		return influxql.GT
	case influxql.GT:
		return influxql.LT
	case influxql.LTE:
		return influxql.GTE
	case influxql.GTE:
		return influxql.LTE
	}
	return op
}

// rowValuer resolves names in a condition or expression for one row:
// fields of the row (cast as the reference asks), else tags of its
// series. In a condition (cond) a tag the series lacks is the empty
// string, as in InfluxDB; in a select list it is null.
type rowValuer struct {
	tags  models.Tags
	row   *srow
	types map[string]models.FieldType
	cond  bool
}

func (r *rowValuer) value(vr *influxql.VarRef) any {
	if vr.Type != influxql.Tag {
		if _, isField := r.types[vr.Val]; isField {
			v, ok := r.row.get(vr.Val)
			if !ok {
				return nil
			}
			return cast(v, vr.Type)
		}
		switch vr.Type {
		case influxql.Float, influxql.Integer, influxql.String, influxql.Boolean, influxql.Unsigned:
			return nil
		}
	}
	for _, t := range r.tags {
		if t.Key == vr.Val {
			return t.Value
		}
	}
	if vr.Type == influxql.Tag {
		// A tag selected in a subquery is a field of its result.
		if _, isField := r.types[vr.Val]; isField {
			if v, ok := r.row.get(vr.Val); ok {
				return v
			}
		}
	}
	if r.cond {
		return ""
	}
	return nil
}

// cast converts a field value to the type a reference asks for
// (field::type): numbers convert between themselves (floats truncate to
// integers), strings and booleans only match themselves.
func cast(v any, t influxql.DataType) any {
	switch t {
	case influxql.Float:
		f, ok := asFloat(v)
		if !ok {
			return nil
		}
		return f
	case influxql.Integer:
		switch x := v.(type) {
		case float64:
			return int64(x)
		case int64:
			return x
		case uint64:
			return int64(x)
		}
		return nil
	case influxql.Unsigned:
		switch x := v.(type) {
		case float64:
			return uint64(x)
		case int64:
			return uint64(x)
		case uint64:
			return x
		}
		return nil
	case influxql.String:
		if _, ok := v.(string); !ok {
			return nil
		}
	case influxql.Boolean:
		if _, ok := v.(bool); !ok {
			return nil
		}
	}
	return v
}

// evalBool evaluates a (time-free) condition for a row, as InfluxDB does:
// comparisons with a missing value are false.
func evalBool(expr influxql.Expr, r *rowValuer) bool {
	v, _ := eval(expr, r).(bool)
	return v
}

// eval evaluates an expression over a row. Numbers are float64 or int64;
// nil means null.
func eval(expr influxql.Expr, r *rowValuer) any {
	switch e := expr.(type) {
	case *influxql.ParenExpr:
		return eval(e.Expr, r)
	case *influxql.VarRef:
		return r.value(e)
	case *influxql.NumberLiteral:
		return e.Val
	case *influxql.IntegerLiteral:
		return e.Val
	case *influxql.UnsignedLiteral:
		return e.Val
	case *influxql.StringLiteral:
		return e.Val
	case *influxql.BooleanLiteral:
		return e.Val
	case *influxql.RegexLiteral:
		return e.Val
	case *influxql.Call:
		return evalMathCall(e, r)
	case *influxql.BinaryExpr:
		if e.Op == influxql.AND || e.Op == influxql.OR {
			l, _ := eval(e.LHS, r).(bool)
			if e.Op == influxql.AND && !l {
				return false
			}
			if e.Op == influxql.OR && l {
				return true
			}
			rv, _ := eval(e.RHS, r).(bool)
			return rv
		}
		return binary(e.Op, eval(e.LHS, r), eval(e.RHS, r))
	}
	return nil
}

func binary(op influxql.Token, l, r any) any {
	if l == nil || r == nil {
		if op == influxql.NEQ && (l != nil || r != nil) {
			return false
		}
		return nil
	}
	switch lv := l.(type) {
	case string:
		switch rv := r.(type) {
		case string:
			if r, ok := compareOp(op, lv, rv); ok {
				return r
			}
			if op == influxql.ADD {
				return lv + rv
			}
		case *regexp.Regexp:
			switch op {
			case influxql.EQREGEX:
				return rv.MatchString(lv)
			case influxql.NEQREGEX:
				return !rv.MatchString(lv)
			}
		}
		return nil
	case bool:
		rv, ok := r.(bool)
		if !ok {
			return nil
		}
		switch op {
		case influxql.EQ:
			return lv == rv
		case influxql.NEQ:
			return lv != rv
		}
		return nil
	}
	// Numbers: integers stay integers where InfluxDB keeps them.
	li, lInt := asInt(l)
	ri, rInt := asInt(r)
	if lInt && rInt {
		switch op {
		case influxql.ADD:
			return li + ri
		case influxql.SUB:
			return li - ri
		case influxql.MUL:
			return li * ri
		case influxql.DIV:
			if ri == 0 {
				return float64(0)
			}
			return float64(li) / float64(ri)
		case influxql.MOD:
			if ri == 0 {
				return nil
			}
			return li % ri
		case influxql.BITWISE_AND:
			return li & ri
		case influxql.BITWISE_OR:
			return li | ri
		case influxql.BITWISE_XOR:
			return li ^ ri
		}
	}
	lf, ok1 := asFloat(l)
	rf, ok2 := asFloat(r)
	if !ok1 || !ok2 {
		return nil
	}
	switch op {
	case influxql.ADD:
		return lf + rf
	case influxql.SUB:
		return lf - rf
	case influxql.MUL:
		return lf * rf
	case influxql.DIV:
		if rf == 0 {
			return float64(0)
		}
		return lf / rf
	case influxql.MOD:
		return math.Mod(lf, rf)
	}
	if r, ok := compareOp(op, lf, rf); ok {
		return r
	}
	return nil
}

// compareOp applies a comparison operator; ok is false for any other
// operator.
func compareOp[T cmp.Ordered](op influxql.Token, a, b T) (result, ok bool) {
	switch op {
	case influxql.EQ:
		return a == b, true
	case influxql.NEQ:
		return a != b, true
	case influxql.LT:
		return a < b, true
	case influxql.LTE:
		return a <= b, true
	case influxql.GT:
		return a > b, true
	case influxql.GTE:
		return a >= b, true
	}
	return false, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	}
	return 0, false
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// evalMathCall evaluates InfluxQL's math functions on a row value.
func evalMathCall(c *influxql.Call, r *rowValuer) any {
	args := make([]any, len(c.Args))
	for i, a := range c.Args {
		args[i] = eval(a, r)
	}
	return mathCall(c.Name, args)
}

func mathCall(name string, args []any) any {
	if len(args) == 0 || args[0] == nil {
		return nil
	}
	x, ok := asFloat(args[0])
	if !ok {
		return nil
	}
	f1 := map[string]func(float64) float64{
		"sqrt": math.Sqrt, "ln": math.Log, "log2": math.Log2, "log10": math.Log10, "exp": math.Exp,
		"sin": math.Sin, "cos": math.Cos, "tan": math.Tan, "asin": math.Asin, "acos": math.Acos, "atan": math.Atan,
	}
	switch name {
	case "abs":
		if i, ok := asInt(args[0]); ok {
			if i < 0 {
				return -i
			}
			return i
		}
		return math.Abs(x)
	case "ceil", "floor", "round":
		if _, ok := asInt(args[0]); ok {
			return args[0]
		}
		switch name {
		case "ceil":
			return math.Ceil(x)
		case "floor":
			return math.Floor(x)
		}
		return math.Round(x)
	case "pow", "log", "atan2":
		if len(args) < 2 || args[1] == nil {
			return nil
		}
		y, ok := asFloat(args[1])
		if !ok {
			return nil
		}
		switch name {
		case "pow":
			return math.Pow(x, y)
		case "log":
			return math.Log(x) / math.Log(y)
		}
		return math.Atan2(x, y)
	}
	if f, ok := f1[name]; ok {
		return f(x)
	}
	return nil
}

var errUnknownFunction = func(name string) error { return fmt.Errorf("undefined function %s()", name) }
