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
	wanted := req.wantedFields()
	minT, maxT := req.MinTime, req.MaxTime
	best, found := int64(math.MinInt64), false
	see := func(t int64) {
		if t >= minT && t <= maxT && (!found || t > best) {
			best, found = t, true
		}
	}
	type straddle struct {
		bf *blockFile
		cm block.ChunkMeta
	}
	// Shards partition time: once one holds data in range, older ones
	// can only hold earlier times.
	for si := len(shards) - 1; si >= 0 && !found; si-- {
		s := shards[si]
		var pending []straddle
		s.mu.RLock()
		for _, id := range req.SeriesIDs {
			for _, bf := range s.blocks {
				if bf.r.MaxTime() < minT || bf.r.MinTime() > maxT || !bf.r.HasSeries(id) {
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
						if cm.MinTime > maxT {
							continue
						}
						if cm.MaxTime <= maxT {
							see(cm.MaxTime)
						} else if !found || cm.MaxTime > best {
							bf.acquire()
							pending = append(pending, straddle{bf, cm})
						}
						break
					}
				}
			}
			heads := append(append([]*head(nil), s.frozen...), s.head)
			for _, h := range heads {
				ms := h.series[id]
				if ms == nil {
					continue
				}
				for _, c := range ms.cols {
					if wanted != nil && !wanted[c.name] || c.stream.n == 0 {
						continue
					}
					if c.stream.maxT <= maxT {
						see(c.stream.maxT)
						continue
					}
					var col block.Column
					c.fill(&col, minT, maxT)
					if n := col.Len(); n > 0 {
						see(col.Times[n-1])
					}
				}
			}
		}
		s.mu.RUnlock()
		var col block.Column
		for _, p := range pending {
			if !found || p.cm.MaxTime > best {
				e.stats.ChunksRead.Add(1)
				if err = p.bf.r.ReadChunk(p.cm, &col); err == nil {
					if lo, hi := col.Span(minT, maxT); hi > lo {
						see(col.Times[hi-1])
					}
				}
			}
			p.bf.release()
		}
		if err != nil {
			return 0, false, err
		}
	}
	return best, found, nil
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
