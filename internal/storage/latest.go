package storage

import (
	"math"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// LatestTime returns the latest time within [req.MinTime, req.MaxTime]
// at which any of the requested series has a value of a requested field,
// and false if none has. It answers from metadata: block chunks' time
// ranges and the head columns' last times; only a chunk or an
// out-of-order head column that straddles MaxTime is decoded. Queries
// for the latest rows (ORDER BY time DESC LIMIT n) start from it.
func (e *Engine) LatestTime(req ReadRequest) (int64, bool, error) {
	shards, err := e.shardsFor(&req)
	if err != nil {
		return 0, false, err
	}
	l := latest{minT: req.MinTime, maxT: req.MaxTime, best: math.MinInt64}
	wanted := req.wantedFields()
	// Shards partition time: once one holds data in range, older ones
	// can only hold earlier times.
	for si := len(shards) - 1; si >= 0 && !l.found; si-- {
		pending := l.scanShard(shards[si], req.SeriesIDs, wanted)
		var col block.Column
		for _, p := range pending {
			if err == nil && (!l.found || p.cm.MaxTime > l.best) {
				e.stats.ChunksRead.Add(1)
				if err = p.bf.r.ReadChunk(p.cm, &col); err == nil {
					if lo, hi := col.Span(l.minT, l.maxT); hi > lo {
						l.see(col.Times[hi-1])
					}
				}
			}
			p.bf.release()
		}
		if err != nil {
			return 0, false, err
		}
	}
	return l.best, l.found, nil
}

// latest is the state of a LatestTime search.
type latest struct {
	minT, maxT int64
	best       int64
	found      bool
}

func (l *latest) see(t int64) {
	if t >= l.minT && t <= l.maxT && (!l.found || t > l.best) {
		l.best, l.found = t, true
	}
}

// straddle is a chunk that starts by the search's maxT but ends after
// it: only decoding tells its latest time in range. Its block is
// acquired until then.
type straddle struct {
	bf *blockFile
	cm block.ChunkMeta
}

// scanShard sees the latest times of s's data of the series and fields
// that metadata settles, and returns the chunks that must be read.
func (l *latest) scanShard(s *shard, ids []uint64, wanted map[string]bool) []straddle {
	var pending []straddle
	s.mu.RLock()
	defer s.mu.RUnlock()
	heads := append(append([]*head(nil), s.frozen...), s.head)
	for _, id := range ids {
		for _, bf := range s.blocks {
			if bf.r.MaxTime() < l.minT || bf.r.MinTime() > l.maxT || !bf.r.HasSeries(id) {
				continue
			}
			for _, fi := range bf.r.Fields(id) {
				if wanted != nil && !wanted[fi.Name] {
					continue
				}
				// The latest chunk starting by maxT holds the field's
				// latest time in range, or (straddling) must be read.
				for k := len(fi.Chunks) - 1; k >= 0; k-- {
					cm := fi.Chunks[k]
					if cm.MinTime > l.maxT {
						continue
					}
					if cm.MaxTime <= l.maxT {
						l.see(cm.MaxTime)
					} else if !l.found || cm.MaxTime > l.best {
						bf.acquire()
						pending = append(pending, straddle{bf, cm})
					}
					break
				}
			}
		}
		for _, h := range heads {
			ms := h.series[id]
			if ms == nil {
				continue
			}
			for _, c := range ms.cols {
				if wanted != nil && !wanted[c.name] || c.stream.n == 0 {
					continue
				}
				if c.stream.maxT <= l.maxT {
					l.see(c.stream.maxT)
					continue
				}
				var col block.Column
				c.fill(&col, l.minT, l.maxT)
				if n := col.Len(); n > 0 {
					l.see(col.Times[n-1])
				}
			}
		}
	}
	return pending
}

// instantValue returns, without decoding, the value of a numeric chunk at
// t when t is its first or last time: the summary holds both.
func instantValue(cm *block.ChunkMeta, t int64, dst *block.Column) bool {
	sm := &cm.Summary
	if !sm.Valid || (t != cm.MinTime && t != cm.MaxTime) {
		return false
	}
	bits := sm.Last
	if t == cm.MinTime {
		bits = sm.First
	}
	dst.Reset(cm.Type())
	dst.Times = append(dst.Times, t)
	switch cm.Type() {
	case models.Float:
		dst.Floats = append(dst.Floats, math.Float64frombits(bits))
	case models.Integer:
		dst.Integers = append(dst.Integers, int64(bits))
	case models.Unsigned:
		dst.Unsigneds = append(dst.Unsigneds, bits)
	default:
		return false
	}
	return true
}
