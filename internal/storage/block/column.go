package block

import "github.com/herdmon/herd/internal/models"

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
