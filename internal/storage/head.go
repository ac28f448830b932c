package storage

import (
	"math"
	"sort"
	"strings"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// head holds a shard's data that is not yet in a block file: one memory
// column per series field, appended in arrival order. Sorting and
// de-duplication (a later write of the same time wins) happen when the
// column is read or flushed, so the write path only appends.
type head struct {
	series map[uint64]*memSeries
	bytes  int64 // estimate of the memory held, for the flush trigger
	points int64
}

func newHead() *head { return &head{series: make(map[uint64]*memSeries)} }

type memSeries struct {
	cols []*memColumn
}

type memColumn struct {
	name  string
	typ   models.FieldType
	times []int64
	nums  []uint64 // float bits, int64, uint64 or 0/1
	strs  []string
	// ordered is true while times are strictly increasing: the common
	// case, which then needs no sort on read.
	ordered bool
}

// Per-entry memory estimates for the flush trigger.
const (
	memSeriesOverhead = 96
	memColumnOverhead = 128
	memValueBytes     = 16
)

// column returns the series' column for field, creating it with typ.
func (s *memSeries) column(hint int, name string, typ models.FieldType, h *head) *memColumn {
	// Points of a series usually carry their fields in the same order:
	// try the same position first.
	if hint < len(s.cols) && s.cols[hint].name == name {
		return s.cols[hint]
	}
	for _, c := range s.cols {
		if c.name == name {
			return c
		}
	}
	c := &memColumn{name: strings.Clone(name), typ: typ, ordered: true}
	s.cols = append(s.cols, c)
	h.bytes += memColumnOverhead + int64(len(name))
	return c
}

func (c *memColumn) append(t int64, f *models.Field) int64 {
	if n := len(c.times); n > 0 && t <= c.times[n-1] {
		c.ordered = false
	}
	c.times = append(c.times, t)
	if c.typ == models.String {
		s := strings.Clone(f.Str)
		c.strs = append(c.strs, s)
		return memValueBytes + int64(len(s))
	}
	c.nums = append(c.nums, f.Num)
	return memValueBytes
}

// minMax returns the time range of the column.
func (c *memColumn) minMax() (int64, int64) {
	if c.ordered {
		return c.times[0], c.times[len(c.times)-1]
	}
	mn, mx := int64(math.MaxInt64), int64(math.MinInt64)
	for _, t := range c.times {
		mn = min(mn, t)
		mx = max(mx, t)
	}
	return mn, mx
}

// fill writes the values with min <= time <= max into dst, sorted by
// time, keeping the last written value of a repeated time.
func (c *memColumn) fill(dst *block.Column, minT, maxT int64) {
	dst.Reset(c.typ)
	idx := make([]int, 0, len(c.times))
	for i, t := range c.times {
		if t >= minT && t <= maxT {
			idx = append(idx, i)
		}
	}
	if !c.ordered {
		sort.SliceStable(idx, func(a, b int) bool { return c.times[idx[a]] < c.times[idx[b]] })
		// Keep the last of each run of equal times: it was written last.
		out := idx[:0]
		for k, i := range idx {
			if k+1 < len(idx) && c.times[idx[k+1]] == c.times[i] {
				continue
			}
			out = append(out, i)
		}
		idx = out
	}
	for _, i := range idx {
		dst.Times = append(dst.Times, c.times[i])
		switch c.typ {
		case models.Float:
			dst.Floats = append(dst.Floats, math.Float64frombits(c.nums[i]))
		case models.Integer:
			dst.Integers = append(dst.Integers, int64(c.nums[i]))
		case models.Unsigned:
			dst.Unsigneds = append(dst.Unsigneds, c.nums[i])
		case models.Boolean:
			dst.Booleans = append(dst.Booleans, c.nums[i] != 0)
		case models.String:
			dst.Strings = append(dst.Strings, c.strs[i])
		}
	}
}

// sortedIDs returns the head's series ids in ascending order, the order
// block files require.
func (h *head) sortedIDs() []uint64 {
	ids := make([]uint64, 0, len(h.series))
	for id := range h.series {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// sortedColumns returns a series' columns ordered by field name.
func (s *memSeries) sortedColumns() []*memColumn {
	cols := append([]*memColumn(nil), s.cols...)
	sort.Slice(cols, func(i, j int) bool { return cols[i].name < cols[j].name })
	return cols
}
