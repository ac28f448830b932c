package block

import (
	"sort"

	"github.com/herdmon/herd/internal/models"
)

// Column is the decoded data of one field of one series: Times and exactly
// one value slice, chosen by Type, of the same length. Times are
// nanoseconds, strictly ascending. The other value slices are ignored (and
// left empty by ReadChunk), so one Column can be reused across types.
type Column struct {
	Type      models.FieldType
	Times     []int64
	Floats    []float64
	Integers  []int64
	Unsigneds []uint64
	Strings   []string
	Booleans  []bool
}

// Len returns the number of points in the column.
func (c *Column) Len() int { return len(c.Times) }

// Reset empties the column and sets its type, keeping the capacity of every
// slice so that a reused Column stops allocating once it has grown.
func (c *Column) Reset(typ models.FieldType) {
	c.Type = typ
	c.Times = c.Times[:0]
	c.Floats = c.Floats[:0]
	c.Integers = c.Integers[:0]
	c.Unsigneds = c.Unsigneds[:0]
	// Drop the old strings so a reused column does not keep them alive.
	clear(c.Strings)
	c.Strings = c.Strings[:0]
	c.Booleans = c.Booleans[:0]
}

// valuesLen returns the length of the value slice Type selects, or -1 for
// a type a block cannot hold.
func (c *Column) valuesLen() int {
	switch c.Type {
	case models.Float:
		return len(c.Floats)
	case models.Integer:
		return len(c.Integers)
	case models.Unsigned:
		return len(c.Unsigneds)
	case models.String:
		return len(c.Strings)
	case models.Boolean:
		return len(c.Booleans)
	}
	return -1
}

func validType(t models.FieldType) bool {
	return t >= models.Float && t <= models.Boolean
}

// Grow makes room for n more points in Times and the value slice of
// Type, so the appends that follow do not reallocate.
func (c *Column) Grow(n int) {
	c.Times = grow(c.Times, n)
	switch c.Type {
	case models.Float:
		c.Floats = grow(c.Floats, n)
	case models.Integer:
		c.Integers = grow(c.Integers, n)
	case models.Unsigned:
		c.Unsigneds = grow(c.Unsigneds, n)
	case models.String:
		c.Strings = grow(c.Strings, n)
	case models.Boolean:
		c.Booleans = grow(c.Booleans, n)
	}
}

func grow[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	return append(s[:cap(s)], make([]T, len(s)+n-cap(s))...)[:len(s)]
}

// AppendAt appends point i of src, which has c's type.
func (c *Column) AppendAt(src *Column, i int) {
	c.AppendRange(src, i, i+1)
}

// AppendRange appends points lo..hi-1 of src, which has c's type.
func (c *Column) AppendRange(src *Column, lo, hi int) {
	c.Times = append(c.Times, src.Times[lo:hi]...)
	switch src.Type {
	case models.Float:
		c.Floats = append(c.Floats, src.Floats[lo:hi]...)
	case models.Integer:
		c.Integers = append(c.Integers, src.Integers[lo:hi]...)
	case models.Unsigned:
		c.Unsigneds = append(c.Unsigneds, src.Unsigneds[lo:hi]...)
	case models.String:
		c.Strings = append(c.Strings, src.Strings[lo:hi]...)
	case models.Boolean:
		c.Booleans = append(c.Booleans, src.Booleans[lo:hi]...)
	}
}

// Span returns the index range [lo, hi) of the points with minT <= time
// <= maxT (Times are ascending).
func (c *Column) Span(minT, maxT int64) (lo, hi int) {
	lo = sort.Search(len(c.Times), func(i int) bool { return c.Times[i] >= minT })
	hi = lo + sort.Search(len(c.Times)-lo, func(i int) bool { return c.Times[lo+i] > maxT })
	return lo, hi
}

// Slice returns a column sharing c's memory that holds points lo..hi-1.
func (c *Column) Slice(lo, hi int) Column {
	s := Column{Type: c.Type, Times: c.Times[lo:hi]}
	switch c.Type {
	case models.Float:
		s.Floats = c.Floats[lo:hi]
	case models.Integer:
		s.Integers = c.Integers[lo:hi]
	case models.Unsigned:
		s.Unsigneds = c.Unsigneds[lo:hi]
	case models.String:
		s.Strings = c.Strings[lo:hi]
	case models.Boolean:
		s.Booleans = c.Booleans[lo:hi]
	}
	return s
}

// Value returns point i's value boxed (float64, int64, uint64, string or
// bool), or nil for a type a block cannot hold.
func (c *Column) Value(i int) any {
	switch c.Type {
	case models.Float:
		return c.Floats[i]
	case models.Integer:
		return c.Integers[i]
	case models.Unsigned:
		return c.Unsigneds[i]
	case models.String:
		return c.Strings[i]
	case models.Boolean:
		return c.Booleans[i]
	}
	return nil
}
