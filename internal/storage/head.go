package storage

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

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
	// walStart is the first WAL segment that may hold this head's data
	// (set when it is frozen): segments before it are not needed by it.
	walStart uint64
}

func newHead() *head { return &head{series: make(map[uint64]*memSeries)} }

type memSeries struct {
	cols []*memColumn
	// byName indexes cols by field name once a series has more than
	// indexColumnsAbove of them. A point's fields are usually found by
	// position (the hint), and a short scan beats a map for the few
	// fields of a typical series; but a point with 100,000 new fields
	// made every lookup a scan of all columns so far: quadratic, minutes
	// under applyMu with every other writer waiting.
	byName map[string]*memColumn
}

// indexColumnsAbove is the column count past which a series indexes its
// columns by name.
const indexColumnsAbove = 16

// memIndexEntryOverhead estimates the memory of one byName entry (the
// name's bytes are shared with the column), for the flush trigger.
const memIndexEntryOverhead = 48

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
	switch {
	case s.byName != nil:
		s.byName[c.name] = c
		h.bytes += memIndexEntryOverhead
	case len(s.cols) > indexColumnsAbove:
		s.byName = make(map[string]*memColumn, 2*len(s.cols))
		for _, c := range s.cols {
			s.byName[c.name] = c
		}
		h.bytes += memIndexEntryOverhead * int64(len(s.cols))
	}
	return c
}

// find returns the series' column named name, or nil. hint is where the
// column usually is (the field's position in its point): writers send a
// series' fields in the same order every time.
func (s *memSeries) find(hint int, name string) *memColumn {
	if hint < len(s.cols) && s.cols[hint].name == name {
		return s.cols[hint]
	}
	if s.byName != nil {
		return s.byName[name]
	}
	for _, c := range s.cols {
		if c.name == name {
			return c
		}
	}
	return nil
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
	sc := unorderedPool.Get().(*unorderedScratch)
	defer unorderedPool.Put(sc)
	all := &sc.all
	all.Reset(c.typ)
	c.stream.decodeRange(all, minT, maxT, false)
	// Order the points in range by (time, append order); the last write
	// of a time wins. Out-of-order appends are usually local (writers'
	// batches crossing), so pdqsort meets long sorted runs.
	ord := sc.ord[:0]
	sorted := true
	for i, t := range all.Times {
		if t >= minT && t <= maxT {
			if len(ord) > 0 && t <= ord[len(ord)-1].t {
				sorted = false
			}
			ord = append(ord, timeIdx{t, int32(i)})
		}
	}
	if !sorted {
		sortTimeIdx(ord)
	}
	keep := ord[:0]
	for k, o := range ord {
		if k+1 == len(ord) || ord[k+1].t != o.t {
			keep = append(keep, o)
		}
	}
	sc.ord = ord
	dst.Grow(len(keep))
	for _, o := range keep {
		dst.Times = append(dst.Times, o.t)
	}
	switch c.typ {
	case models.Float:
		dst.Floats = gather(dst.Floats, all.Floats, keep)
	case models.Integer:
		dst.Integers = gather(dst.Integers, all.Integers, keep)
	case models.Unsigned:
		dst.Unsigneds = gather(dst.Unsigneds, all.Unsigneds, keep)
	case models.Boolean:
		dst.Booleans = gather(dst.Booleans, all.Booleans, keep)
	case models.String:
		dst.Strings = gather(dst.Strings, all.Strings, keep)
	}
}

// gather appends src's values at the positions of keep to dst.
func gather[T any](dst, src []T, keep []timeIdx) []T {
	for _, o := range keep {
		dst = append(dst, src[o.i])
	}
	return dst
}

// sortTimeIdx sorts points by (time, append order). Out-of-order
// appends are usually local (concurrent writers' batches crossing), where
// an insertion sort moves each point a few places; past a budget of moves
// it hands over to pdqsort, so adversarial orders stay O(n log n).
func sortTimeIdx(ord []timeIdx) {
	budget := 8 * len(ord)
	for k := 1; k < len(ord); k++ {
		x, j := ord[k], k
		for j > 0 && x.t < ord[j-1].t { // stable: equal times keep append order
			ord[j] = ord[j-1]
			j--
		}
		ord[j] = x
		if budget -= k - j; budget < 0 {
			slices.SortFunc(ord, func(a, b timeIdx) int {
				if c := cmp.Compare(a.t, b.t); c != 0 {
					return c
				}
				return cmp.Compare(a.i, b.i)
			})
			return
		}
	}
}

// timeIdx is a point's time and its position in append order.
type timeIdx struct {
	t int64
	i int32
}

// unorderedScratch holds the buffers of a read of an out-of-order
// column, reused across reads.
type unorderedScratch struct {
	all block.Column
	ord []timeIdx
}

var unorderedPool = sync.Pool{New: func() any { return new(unorderedScratch) }}

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
