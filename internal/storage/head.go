package storage

import (
	"math"
	"sort"
	"strings"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/encoding"
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

// memColumn keeps its values in compressed chunks of headChunkPoints
// (the block codecs: a few bytes per value instead of 16) plus an open
// tail of raw values, so that the memory budget holds hours of data
// rather than minutes, and flushes (SD-card writes) are rarer.
type memColumn struct {
	name   string
	typ    models.FieldType
	sealed []sealedChunk
	times  []int64 // open tail
	nums   []uint64
	strs   []string
	// ordered is true while times are strictly increasing over the
	// whole column: the common case, which then needs no sort on read.
	ordered bool
	last    int64
	n       int // values in the column
}

// sealedChunk is a compressed run of a column: encoded timestamps
// followed by encoded values.
type sealedChunk struct {
	minT, maxT int64
	n          int
	tsLen      int
	data       []byte
}

// headChunkPoints is the size of a sealed chunk: large enough for the
// codecs to pay (timestamps of regular series cost almost nothing per
// chunk), small enough that open tails of tens of thousands of columns
// stay a few MiB.
const headChunkPoints = 120

// Per-entry memory estimates for the flush trigger.
const (
	memSeriesOverhead = 96
	memColumnOverhead = 160
	memValueBytes     = 16
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

// append adds one value and returns the change in memory held.
func (c *memColumn) append(t int64, f *models.Field) int64 {
	if c.n > 0 && t <= c.last {
		c.ordered = false
	}
	if c.n == 0 || t > c.last {
		c.last = t
	}
	c.n++
	var delta int64
	if len(c.times) == headChunkPoints {
		delta = c.seal()
	}
	c.times = append(c.times, t)
	if c.typ == models.String {
		s := strings.Clone(f.Str)
		c.strs = append(c.strs, s)
		return delta + memValueBytes + int64(len(s))
	}
	c.nums = append(c.nums, f.Num)
	return delta + memValueBytes
}

// seal compresses the open tail into a chunk and returns the change in
// memory held (negative: compression frees memory).
func (c *memColumn) seal() int64 {
	var before int64
	for _, s := range c.strs {
		before += int64(len(s))
	}
	before += int64(len(c.times)) * memValueBytes
	mn, mx := c.times[0], c.times[0]
	for _, t := range c.times {
		mn, mx = min(mn, t), max(mx, t)
	}
	data := encoding.AppendTimestamps(nil, c.times)
	tsLen := len(data)
	switch c.typ {
	case models.Float:
		data = encoding.AppendFloats(data, floatsOf(c.nums))
	case models.Integer:
		data = encoding.AppendIntegers(data, intsOf(c.nums))
	case models.Unsigned:
		data = encoding.AppendUnsigneds(data, c.nums)
	case models.Boolean:
		bs := make([]bool, len(c.nums))
		for i, v := range c.nums {
			bs[i] = v != 0
		}
		data = encoding.AppendBooleans(data, bs)
	case models.String:
		data = encoding.AppendStrings(data, c.strs)
	}
	data = append([]byte(nil), data...) // exact size: no append slack kept
	c.sealed = append(c.sealed, sealedChunk{minT: mn, maxT: mx, n: len(c.times), tsLen: tsLen, data: data})
	c.times = c.times[:0]
	c.nums = c.nums[:0]
	clear(c.strs)
	c.strs = c.strs[:0]
	return int64(len(data)) + 48 - before
}

func floatsOf(nums []uint64) []float64 {
	out := make([]float64, len(nums))
	for i, v := range nums {
		out[i] = math.Float64frombits(v)
	}
	return out
}

func intsOf(nums []uint64) []int64 {
	out := make([]int64, len(nums))
	for i, v := range nums {
		out[i] = int64(v)
	}
	return out
}

// raw returns every value of the column in append order, decoding the
// sealed chunks that overlap [minT, maxT].
func (c *memColumn) raw(minT, maxT int64) (times []int64, nums []uint64, strs []string) {
	var dec block.Column
	for i := range c.sealed {
		s := &c.sealed[i]
		if s.maxT < minT || s.minT > maxT {
			continue
		}
		// The chunk was encoded by this process from valid values, so a
		// decode error means a bug: keep the others rather than panic.
		ts, err := encoding.DecodeTimestamps(dec.Times[:0], s.data[:s.tsLen])
		if err != nil {
			continue
		}
		dec.Times = ts
		vals := s.data[s.tsLen:]
		switch c.typ {
		case models.Float:
			fs, err := encoding.DecodeFloats(dec.Floats[:0], vals)
			if err != nil || len(fs) != len(ts) {
				continue
			}
			dec.Floats = fs
			for _, f := range fs {
				nums = append(nums, math.Float64bits(f))
			}
		case models.Integer:
			is, err := encoding.DecodeIntegers(dec.Integers[:0], vals)
			if err != nil || len(is) != len(ts) {
				continue
			}
			dec.Integers = is
			for _, v := range is {
				nums = append(nums, uint64(v))
			}
		case models.Unsigned:
			us, err := encoding.DecodeUnsigneds(nil, vals)
			if err != nil || len(us) != len(ts) {
				continue
			}
			nums = append(nums, us...)
		case models.Boolean:
			bs, err := encoding.DecodeBooleans(nil, vals)
			if err != nil || len(bs) != len(ts) {
				continue
			}
			for _, b := range bs {
				if b {
					nums = append(nums, 1)
				} else {
					nums = append(nums, 0)
				}
			}
		case models.String:
			ss, err := encoding.DecodeStrings(nil, vals)
			if err != nil || len(ss) != len(ts) {
				continue
			}
			strs = append(strs, ss...)
		}
		times = append(times, ts...)
	}
	times = append(times, c.times...)
	nums = append(nums, c.nums...)
	strs = append(strs, c.strs...)
	return times, nums, strs
}

// fill writes the values with min <= time <= max into dst, sorted by
// time, keeping the last written value of a repeated time.
func (c *memColumn) fill(dst *block.Column, minT, maxT int64) {
	dst.Reset(c.typ)
	times, nums, strs := c.raw(minT, maxT)
	idx := make([]int, 0, len(times))
	for i, t := range times {
		if t >= minT && t <= maxT {
			idx = append(idx, i)
		}
	}
	if !c.ordered {
		sort.SliceStable(idx, func(a, b int) bool { return times[idx[a]] < times[idx[b]] })
		// Keep the last of each run of equal times: it was written last.
		out := idx[:0]
		for k, i := range idx {
			if k+1 < len(idx) && times[idx[k+1]] == times[i] {
				continue
			}
			out = append(out, i)
		}
		idx = out
	}
	for _, i := range idx {
		dst.Times = append(dst.Times, times[i])
		switch c.typ {
		case models.Float:
			dst.Floats = append(dst.Floats, math.Float64frombits(nums[i]))
		case models.Integer:
			dst.Integers = append(dst.Integers, int64(nums[i]))
		case models.Unsigned:
			dst.Unsigneds = append(dst.Unsigneds, nums[i])
		case models.Boolean:
			dst.Booleans = append(dst.Booleans, nums[i] != 0)
		case models.String:
			dst.Strings = append(dst.Strings, strs[i])
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
