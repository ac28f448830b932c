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
}

func newHead() *head { return &head{series: make(map[uint64]*memSeries)} }

type memSeries struct {
	cols []*memColumn
}

// memColumn keeps its values in an appendable byte stream (headenc.go):
// a few bytes per value instead of 16, with no raw buffers per column,
// so the memory budget holds hours of data for tens of thousands of
// columns rather than minutes, and flushes (SD-card writes) are rarer.
type memColumn struct {
	name   string
	typ    models.FieldType
	stream headStream
	// ordered is true while times are strictly increasing over the
	// whole column: the common case, which then needs no sort on read.
	ordered bool
}

// streamMarkSize is the memory of one streamMark.
const streamMarkSize = 40

// Per-entry memory estimates for the flush trigger.
const (
	memSeriesOverhead = 96
	memColumnOverhead = 128
)

// column returns the series' column for field, creating it with typ.
func (s *memSeries) column(hint int, name string, typ models.FieldType, h *head) *memColumn {
	if c := s.find(hint, name); c != nil {
		return c
	}
	c := &memColumn{name: strings.Clone(name), typ: typ, ordered: true}
	s.cols = append(s.cols, c)
	h.bytes += memColumnOverhead + int64(len(name))
	return c
}

// append adds one value and returns the change in memory held (the
// growth of the stream's capacity).
func (c *memColumn) append(t int64, f *models.Field) int64 {
	st := &c.stream
	if st.n > 0 && t <= st.lastT {
		c.ordered = false
	}
	before := cap(st.b) + cap(st.marks)*streamMarkSize + cap(st.spans)*16
	st.appendValue(t, c.typ, f.Num, f.Str)
	return int64(cap(st.b) + cap(st.marks)*streamMarkSize + cap(st.spans)*16 - before)
}

// fill writes the values with min <= time <= max into dst, sorted by
// time, keeping the last written value of a repeated time.
func (c *memColumn) fill(dst *block.Column, minT, maxT int64) {
	dst.Reset(c.typ)
	// The stream was written by this process from valid values, so an
	// error means a bug: serve what decoded rather than panic.
	if st := &c.stream; minT == maxT && st.n > 0 && st.maxT == minT && c.typ != models.String {
		// The latest value (a lastpoint query) is kept undecoded.
		dst.Times = append(dst.Times, minT)
		switch c.typ {
		case models.Float:
			dst.Floats = append(dst.Floats, math.Float64frombits(st.maxNum))
		case models.Integer:
			dst.Integers = append(dst.Integers, int64(st.maxNum))
		case models.Unsigned:
			dst.Unsigneds = append(dst.Unsigneds, st.maxNum)
		case models.Boolean:
			dst.Booleans = append(dst.Booleans, st.maxNum&1 != 0)
		}
		return
	}
	if c.ordered {
		c.stream.decodeRange(dst, minT, maxT, true)
		return
	}
	var all block.Column
	all.Reset(c.typ)
	c.stream.decodeRange(&all, minT, maxT, false)
	idx := make([]int, 0, all.Len())
	for i, t := range all.Times {
		if t >= minT && t <= maxT {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return all.Times[idx[a]] < all.Times[idx[b]] })
	// Keep the last of each run of equal times: it was written last.
	out := idx[:0]
	for k, i := range idx {
		if k+1 < len(idx) && all.Times[idx[k+1]] == all.Times[i] {
			continue
		}
		out = append(out, i)
	}
	dst.Grow(len(out))
	for _, i := range out {
		dst.AppendAt(&all, i)
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
