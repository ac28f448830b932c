package storage

import (
	"sort"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// merger combines pieces of one series field from several sources, given
// oldest first, into one time-sorted column in which the newest source
// wins a repeated timestamp (InfluxDB's overwrite rule). Its buffers are
// reused across calls.
type merger struct {
	typ   models.FieldType
	parts []*block.Column
	used  int
	out   block.Column
	order []mergeRef
}

type mergeRef struct {
	time int64
	part int32
	idx  int32
}

func (m *merger) reset(typ models.FieldType) {
	m.typ = typ
	m.used = 0
}

// next returns an empty column to fill with the next (newer) piece.
func (m *merger) next() *block.Column {
	if m.used == len(m.parts) {
		m.parts = append(m.parts, &block.Column{})
	}
	c := m.parts[m.used]
	c.Reset(m.typ)
	m.used++
	return c
}

// add appends a copy-free reference to an already filled column.
func (m *merger) add(c *block.Column) {
	if m.used == len(m.parts) {
		m.parts = append(m.parts, nil)
	}
	m.parts[m.used] = c
	m.used++
}

// merge returns the merged values within [minT, maxT]. The result is
// valid until the next reset.
func (m *merger) merge(minT, maxT int64) *block.Column {
	m.out.Reset(m.typ)
	parts := m.parts[:m.used]
	// Fast path: pieces already in time order without overlap (the usual
	// case: flushes follow each other in time) are concatenated.
	disjoint := true
	last := int64(minTime)
	first := true
	for _, p := range parts {
		if p.Type != m.typ || p.Len() == 0 {
			continue
		}
		if !first && p.Times[0] <= last {
			disjoint = false
			break
		}
		first = false
		last = p.Times[p.Len()-1]
	}
	if disjoint {
		for _, p := range parts {
			if p.Type != m.typ {
				continue
			}
			lo, hi := p.Span(minT, maxT)
			m.out.AppendRange(p, lo, hi)
		}
		return &m.out
	}
	m.order = m.order[:0]
	for pi, p := range parts {
		if p.Type != m.typ {
			continue
		}
		for i, t := range p.Times {
			if t >= minT && t <= maxT {
				m.order = append(m.order, mergeRef{time: t, part: int32(pi), idx: int32(i)})
			}
		}
	}
	sort.SliceStable(m.order, func(a, b int) bool {
		if m.order[a].time != m.order[b].time {
			return m.order[a].time < m.order[b].time
		}
		return m.order[a].part < m.order[b].part
	})
	for k, r := range m.order {
		if k+1 < len(m.order) && m.order[k+1].time == r.time {
			continue // a newer piece has this time
		}
		m.out.AppendAt(parts[r.part], int(r.idx))
	}
	return &m.out
}
