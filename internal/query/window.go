package query

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"
	"unsafe"

	"github.com/herdmon/herd/internal/membudget"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/storage/block"
)

// A SELECT's answer is produced series by series and handed on as soon
// as each is computed, and a long raw series is read in time windows of
// about windowBytes each, so that a chunked answer holds one window, not
// the whole result, and a whole answer is bounded by the memory budget
// rather than by the data.

// seriesSink passes a statement's series on to emit, applying SLIMIT and
// SOFFSET (which count the series that have rows). A series may come in
// several pieces; the sink holds the latest back until it knows whether
// more of its series follows, so that Partial marks exactly the pieces
// that are continued.
type seriesSink struct {
	emit            func(*Row) error
	mem             *membudget.Account
	slimit, soffset int

	seen    int // series with rows so far
	name    string
	tags    map[string]string
	columns []string
	hasRows bool // the current series has had rows

	held      *Row
	heldBytes int64
}

var (
	// errSeriesSkipped ends a series that SOFFSET skips.
	errSeriesSkipped = errors.New("series skipped by SOFFSET")
	// errSeriesLimit ends a statement whose SLIMIT is reached.
	errSeriesLimit = errors.New("SLIMIT reached")
)

// begin starts a series.
func (s *seriesSink) begin(name string, tags map[string]string, columns []string) error {
	if s.slimit > 0 && s.seen >= s.soffset+s.slimit {
		return errSeriesLimit
	}
	s.name, s.tags, s.columns, s.hasRows = name, tags, columns, false
	return nil
}

// piece adds rows to the current series, accounting them until they are
// emitted.
func (s *seriesSink) piece(values [][]any) error {
	if len(values) == 0 {
		return nil
	}
	if !s.hasRows {
		s.hasRows = true
		s.seen++
	}
	if s.seen <= s.soffset {
		return errSeriesSkipped
	}
	n := membudget.RowsSize(values)
	if err := s.mem.Grow(n); err != nil {
		return err
	}
	if s.held != nil {
		s.held.Partial = true
		if err := s.flush(); err != nil {
			s.mem.Shrink(n)
			return err
		}
	}
	s.held = &Row{Name: s.name, Tags: s.tags, Columns: s.columns, Values: values}
	s.heldBytes = n
	return nil
}

// end closes the current series.
func (s *seriesSink) end() error {
	if s.held == nil {
		return nil
	}
	return s.flush()
}

func (s *seriesSink) flush() error {
	r, n := s.held, s.heldBytes
	s.held, s.heldBytes = nil, 0
	err := s.emit(r)
	s.mem.Shrink(n) // the receiver accounts what it keeps
	return err
}

// windowBytes is how much a raw series may hold before it is read in
// time windows instead, and about how much each window holds.
const windowBytes = 4 << 20

// pointBytes estimates what one point read costs until its window is
// emitted: decoded, joined into a row (assuming, to be safe, a row per
// point) and boxed into the output row.
const pointBytes = columnValueBytes + 2*membudget.Interface + 8 + int64(unsafe.Sizeof(srow{})) + 8 +
	membudget.SliceHeader + membudget.Interface + 24

// windowable reports whether raw rows can be produced window by window:
// no aggregate, no transformation (which runs over the whole series),
// and not the latest rows only (rawTail reads those backwards already).
func (p *plan) windowable() bool {
	return !p.aggregate && !hasTransform(p.exprs) && !p.tailOnly()
}

// rawWindows hands a group's raw rows to sink. A group that holds less
// than windowBytes is read at once, as it always was; a larger one is
// planned from its chunks' metadata into time windows of about
// windowBytes each, read and emitted one after the other (in reverse for
// ORDER BY time DESC), with LIMIT and OFFSET counted across them.
func (x *Executor) rawWindows(ctx context.Context, p *plan, src *source, g *group, fields []string, sink *seriesSink) error {
	window := int64(windowBytes)
	if x.windowBytes > 0 {
		window = x.windowBytes
	}
	pointsRead := p.budget.n
	rows, held, err := x.readRows(ctx, p, src, g, fields, window)
	if err != errWindowFull {
		defer p.opt.Memory.Shrink(held)
		if err != nil || len(rows) == 0 {
			return err
		}
		values, err := p.groupValues(rows, src)
		if err != nil {
			return err
		}
		return sink.piece(values)
	}
	p.opt.Memory.Shrink(held)
	p.budget.n = pointsRead // the windows read these points again

	spans, spansHeld, err := x.spans(ctx, p, src, g, fields)
	defer p.opt.Memory.Shrink(spansHeld)
	if err != nil {
		return err
	}
	skip, left := p.stmt.Offset, p.stmt.Limit
	wins := newWindowPlan(spans, window/pointBytes, p.desc)
	for w, ok := wins.next(); ok; w, ok = wins.next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub := *p
		sub.minT, sub.maxT = w.lo, w.hi
		wg := &group{tags: g.tags, key: g.key, series: make([]uint64, len(w.series))}
		for i, s := range w.series {
			wg.series[i] = g.series[s]
		}
		rows, held, err := x.readRows(ctx, &sub, src, wg, fields, 0)
		if err != nil {
			p.opt.Memory.Shrink(held)
			return err
		}
		values, err := sub.rawRows(rows, src)
		p.opt.Memory.Shrink(held)
		if err != nil {
			return err
		}
		if skip > 0 {
			n := min(skip, len(values))
			values, skip = values[n:], skip-n
		}
		if p.stmt.Limit > 0 {
			values = values[:min(left, len(values))]
			left -= len(values)
		}
		for _, v := range values {
			v[0] = time.Unix(0, v[0].(int64)).UTC()
		}
		if err := sink.piece(values); err != nil {
			return err
		}
		if p.stmt.Limit > 0 && left == 0 {
			return nil
		}
	}
	return nil
}

// span is a piece of one series field: its time range and number of
// points, and the series' position in its group.
type span struct {
	lo, hi int64
	n      int64
	ser    int32
}

const spanBytes = int64(unsafe.Sizeof(span{}))

// spans lists the pieces a group's read would deliver, from chunk
// metadata where storage offers it (no decoding), else from the decoded
// pieces; the bytes accounted are returned for the caller to give back.
func (x *Executor) spans(ctx context.Context, p *plan, src *source, g *group, fields []string) ([]span, int64, error) {
	ser := make(map[uint64]int32, len(g.series))
	for i, id := range g.series {
		ser[id] = int32(i)
	}
	var out []span
	var held int64
	add := func(s span) error {
		if len(out) == cap(out) {
			n := int64(max(64, cap(out))) * spanBytes
			if err := p.opt.Memory.Grow(n); err != nil {
				return err
			}
			held += n
			out = slices.Grow(out, max(64, cap(out)))
		}
		out = append(out, s)
		return nil
	}
	summary := func(id uint64, _ string, m *block.ChunkMeta) (bool, error) {
		if err := add(span{lo: m.MinTime, hi: m.MaxTime, n: int64(m.Count), ser: ser[id]}); err != nil {
			return false, err
		}
		return true, ctx.Err()
	}
	err := x.Store.Read(storage.ReadRequest{Database: src.db, RetentionPolicy: src.rp, Warn: src.warn, SeriesIDs: g.series,
		Fields: fields, MinTime: p.minT, MaxTime: p.maxT, Summary: summary}, func(id uint64, _ string, col *block.Column) error {
		if n := col.Len(); n > 0 {
			if err := add(span{lo: col.Times[0], hi: col.Times[n-1], n: int64(n), ser: ser[id]}); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	return out, held, err
}

// window is a time range to read and the group's series (positions, in
// group order) that have data in it.
type window struct {
	lo, hi int64
	series []int32
}

// windowPlan cuts the time covered by spans into consecutive windows of
// about perWindow points each, assuming the points of a span are spread
// evenly over its range. For a descending plan, times are mirrored (^t
// reverses their order without overflow), so that the same ascending
// sweep yields the windows latest first.
type windowPlan struct {
	desc  bool
	spans []span // by lo, in sweep order
	cuts  []int64
	cur   int // the next window: [cuts[cur], cuts[cur+1])
	add   int // the next span to enter the active set
	act   []int
}

func newWindowPlan(spans []span, perWindow int64, desc bool) *windowPlan {
	if desc {
		for i := range spans {
			spans[i].lo, spans[i].hi = ^spans[i].hi, ^spans[i].lo
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	return &windowPlan{desc: desc, spans: spans, cuts: cutPoints(spans, float64(max(perWindow, 1024)))}
}

// cutPoints returns the window boundaries: window i is [cuts[i],
// cuts[i+1]). A span's n points spread over [lo, hi+1); the sweep adds
// up points between boundaries and cuts when a window is full.
func cutPoints(spans []span, per float64) []int64 {
	if len(spans) == 0 {
		return nil
	}
	type event struct {
		t    int64
		rate float64
		open int
	}
	events := make([]event, 0, 2*len(spans))
	for _, s := range spans {
		r := float64(s.n) / (float64(uint64(s.hi)-uint64(s.lo)) + 1)
		events = append(events, event{s.lo, r, 1}, event{s.hi + 1, -r, -1})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].t < events[j].t })
	cuts := []int64{events[0].t}
	pos, rate, open, acc := events[0].t, 0.0, 0, 0.0
	for _, e := range events {
		for rate > 0 && e.t > pos && acc+rate*float64(uint64(e.t)-uint64(pos)) >= per {
			step := uint64((per-acc)/rate) + 1
			if step >= uint64(e.t)-uint64(pos) {
				pos = e.t
			} else {
				pos += int64(step)
			}
			cuts = append(cuts, pos)
			acc = 0
		}
		if e.t > pos {
			acc += rate * float64(uint64(e.t)-uint64(pos))
			pos = e.t
		}
		open += e.open
		rate += e.rate
		if open == 0 {
			rate = 0
		}
	}
	if pos > cuts[len(cuts)-1] {
		cuts = append(cuts, pos)
	}
	return cuts
}

// next returns the next window, in real (unmirrored) times, with the
// series whose spans overlap it.
func (w *windowPlan) next() (window, bool) {
	for w.cur+1 < len(w.cuts) {
		lo, hi := w.cuts[w.cur], w.cuts[w.cur+1]-1
		w.cur++
		for w.add < len(w.spans) && w.spans[w.add].lo <= hi {
			w.act = append(w.act, w.add)
			w.add++
		}
		kept := w.act[:0]
		var series []int32
		for _, i := range w.act {
			if w.spans[i].hi >= lo {
				kept = append(kept, i)
				series = append(series, w.spans[i].ser)
			}
		}
		w.act = kept
		if len(series) == 0 {
			continue
		}
		slices.Sort(series)
		series = slices.Compact(series)
		if w.desc {
			lo, hi = ^hi, ^lo
		}
		return window{lo: lo, hi: hi, series: series}, true
	}
	return window{}, false
}
