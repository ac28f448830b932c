package storage

import (
	"fmt"
	"sort"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/index"
)

// ReadRequest selects data: some series of one retention policy, some
// fields, a time range.
type ReadRequest struct {
	Database        string
	RetentionPolicy string   // "": the database's default policy
	SeriesIDs       []uint64 // from the database's Index
	Fields          []string // nil: every field
	MinTime         int64    // inclusive
	MaxTime         int64    // inclusive
	// Summary, when set, is offered each block chunk that lies wholly
	// within [MinTime, MaxTime], overlaps no other data of its series
	// field and carries a summary, in the order the pieces would reach
	// the ReadFunc. If it returns true it took what it needed from
	// meta.Summary and the chunk is neither read nor decoded.
	Summary SummaryFunc
	// Warn, when set, is told about data the read cannot serve: block
	// files of the range that were quarantined as corrupt. The answer is
	// then incomplete, and the caller must say so (InfluxDB-style
	// "messages" in the result). The same text may come more than once.
	Warn func(text string)
}

// SummaryFunc is offered a chunk's metadata instead of its points; see
// ReadRequest.Summary. meta is valid only during the call.
type SummaryFunc func(seriesID uint64, field string, meta *block.ChunkMeta) (bool, error)

// ReadFunc receives the data of one series field piece by piece. For
// each (series, field) the pieces come in ascending time order without
// repeated times; series come in the order of ReadRequest.SeriesIDs and
// fields in name order. col is valid only during the call.
type ReadFunc func(seriesID uint64, field string, col *block.Column) error

// Index returns the series index of a database, for resolving
// measurements and tag filters to series ids.
func (e *Engine) Index(db string) (*index.Index, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d := e.dbs[db]
	if d == nil {
		return nil, &models.DatabaseNotFoundError{Name: db}
	}
	return d.index, nil
}

// FieldTypes returns the fields of a measurement and their types, over
// every shard of every policy of db.
func (e *Engine) FieldTypes(db, measurement string) (map[string]models.FieldType, error) {
	e.mu.RLock()
	d := e.dbs[db]
	if d == nil {
		e.mu.RUnlock()
		return nil, &models.DatabaseNotFoundError{Name: db}
	}
	var shards []*shard
	for _, list := range d.shards {
		shards = append(shards, list...)
	}
	e.mu.RUnlock()
	out := map[string]models.FieldType{}
	for _, s := range shards {
		s.mu.RLock()
		for f, t := range s.fields[measurement] {
			if _, ok := out[f]; !ok {
				out[f] = t
			}
		}
		s.mu.RUnlock()
	}
	return out, nil
}

// shardsFor returns the shards of the request's policy that overlap its
// time range, oldest first.
func (e *Engine) shardsFor(req *ReadRequest) ([]*shard, error) {
	shards, rpName, err := e.overlappingShards(req)
	if err == nil && req.Warn != nil {
		for _, s := range shards {
			for _, w := range s.quarantineWarnings(req.Database, rpName) {
				req.Warn(w)
			}
		}
	}
	return shards, err
}

func (e *Engine) overlappingShards(req *ReadRequest) ([]*shard, string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	dm := e.meta.database(req.Database)
	d := e.dbs[req.Database]
	if dm == nil || d == nil {
		return nil, "", &models.DatabaseNotFoundError{Name: req.Database}
	}
	rpName := req.RetentionPolicy
	if rpName == "" {
		rpName = dm.DefaultPolicy
	}
	if dm.policy(rpName) == nil {
		return nil, "", &models.RetentionPolicyNotFoundError{Database: req.Database, Name: rpName}
	}
	var shards []*shard
	for _, s := range d.shards[rpName] {
		if s.end > req.MinTime && s.start <= req.MaxTime {
			shards = append(shards, s)
		}
	}
	return shards, rpName, nil
}

// wantedFields returns the request's fields as a set, nil for all.
func (req *ReadRequest) wantedFields() map[string]bool {
	if req.Fields == nil {
		return nil
	}
	wanted := make(map[string]bool, len(req.Fields))
	for _, f := range req.Fields {
		wanted[f] = true
	}
	return wanted
}

// piece is one source of a series field in a shard: a block chunk or a
// head column, with its time range and age (higher is newer).
type piece struct {
	minT, maxT int64
	age        int
	chunk      block.ChunkMeta
	bf         *blockFile
	mem        *block.Column // head data, already copied
}

// Read streams the selected data to fn. Block chunks outside the time
// range are skipped by their min/max time without being read; memory is
// bounded by a few chunks, except where writes overlap in time (then the
// overlapping pieces are merged in memory).
func (e *Engine) Read(req ReadRequest, fn ReadFunc) error {
	shards, err := e.shardsFor(&req)
	if err != nil {
		return err
	}
	wanted := req.wantedFields()
	var m merger
	for _, id := range req.SeriesIDs {
		// Per shard (in time order): the pieces of every field.
		perShard := make([]map[string][]piece, len(shards))
		var held []*blockFile
		names := map[string]bool{}
		for si, s := range shards {
			fields := map[string][]piece{}
			type damagedEntry struct {
				bf  *blockFile
				err error
			}
			var damaged []damagedEntry
			s.mu.RLock()
			for age, bf := range s.blocks {
				if bf.r.MaxTime() < req.MinTime || bf.r.MinTime() > req.MaxTime {
					continue // a whole block outside the range costs no read
				}
				fis, ferr := bf.r.SeriesFields(id)
				if ferr != nil {
					// The entry was fine at Open: the file changed since.
					// Its other series may still read; this one is missing.
					damaged = append(damaged, damagedEntry{bf, ferr})
				}
				for _, fi := range fis {
					if wanted != nil && !wanted[fi.Name] {
						continue
					}
					acquired := false
					for _, cm := range fi.Chunks {
						if cm.MaxTime < req.MinTime || cm.MinTime > req.MaxTime {
							continue
						}
						if !acquired {
							bf.acquire()
							held = append(held, bf)
							acquired = true
						}
						fields[fi.Name] = append(fields[fi.Name], piece{minT: cm.MinTime, maxT: cm.MaxTime, age: age, chunk: cm, bf: bf})
					}
				}
			}
			heads := append(append([]*head(nil), s.frozen...), s.head)
			for hi, h := range heads {
				ms := h.series[id]
				if ms == nil {
					continue
				}
				for _, c := range ms.cols {
					if wanted != nil && !wanted[c.name] {
						continue
					}
					col := &block.Column{}
					c.fill(col, req.MinTime, req.MaxTime)
					if col.Len() == 0 {
						continue
					}
					fields[c.name] = append(fields[c.name], piece{minT: col.Times[0], maxT: col.Times[col.Len()-1],
						age: len(s.blocks) + hi, mem: col})
				}
			}
			s.mu.RUnlock()
			for _, d := range damaged {
				s.logger.Error("block file index entry unreadable; series not served", "path", d.bf.r.Path(), "series", id, "err", d.err)
				if req.Warn != nil {
					req.Warn(fmt.Sprintf("incomplete result: series %d is missing from block file %s (%v)", id, d.bf.r.Path(), d.err))
				}
			}
			for n := range fields {
				names[n] = true
			}
			perShard[si] = fields
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		err := func() error {
			for _, name := range sorted {
				for _, fields := range perShard {
					if err := emitPieces(&m, id, name, fields[name], &req, fn, &e.stats); err != nil {
						return err
					}
				}
			}
			return nil
		}()
		for _, bf := range held {
			bf.release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// emitPieces sends one shard's pieces of a series field in time order:
// pieces are grouped where their time ranges overlap, and each group is
// merged (newest wins a repeated time) and sent.
func emitPieces(m *merger, id uint64, name string, pieces []piece, req *ReadRequest, fn ReadFunc, st *Stats) error {
	if len(pieces) == 0 {
		return nil
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].minT < pieces[j].minT })
	for i := 0; i < len(pieces); {
		j, end := i+1, pieces[i].maxT
		for j < len(pieces) && pieces[j].minT <= end {
			end = max(end, pieces[j].maxT)
			j++
		}
		group := pieces[i:j]
		i = j
		var err error
		if len(group) == 1 {
			err = emitLone(m, id, name, &group[0], req, fn, st)
		} else {
			err = emitMerged(m, id, name, group, req, fn, st)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// emitLone sends a piece that overlaps no other, the usual case: as it
// is, trimmed to the range without a copy, or not at all when the
// request takes the chunk's summary instead; an instant at a chunk's
// edge (the latest row of a series) comes from the summary too.
func emitLone(m *merger, id uint64, name string, p *piece, req *ReadRequest, fn ReadFunc, st *Stats) error {
	minT, maxT := req.MinTime, req.MaxTime
	if p.mem == nil && req.Summary != nil && p.chunk.Summary.Valid && p.minT >= minT && p.maxT <= maxT {
		used, err := req.Summary(id, name, &p.chunk)
		if used || err != nil {
			if used {
				st.ChunksSummarized.Add(1)
			}
			return err
		}
	}
	col := p.mem
	if col == nil {
		m.reset(0)
		col = m.next()
		if minT == maxT && instantValue(&p.chunk, minT, col) {
			st.ChunksSummarized.Add(1)
		} else {
			st.ChunksRead.Add(1)
			if err := p.bf.r.ReadChunk(p.chunk, col); err != nil {
				return err
			}
		}
	}
	if lo, hi := col.Span(minT, maxT); hi > lo {
		view := col.Slice(lo, hi)
		return fn(id, name, &view)
	}
	return nil
}

// emitMerged merges overlapping pieces, oldest first, and sends the
// result.
func emitMerged(m *merger, id uint64, name string, group []piece, req *ReadRequest, fn ReadFunc, st *Stats) error {
	sort.SliceStable(group, func(a, b int) bool { return group[a].age < group[b].age })
	// The oldest piece's type decides; merge skips pieces of another
	// type (a field whose type changed between shards' flushes).
	m.reset(0)
	for _, p := range group {
		if p.mem != nil {
			m.add(p.mem)
			continue
		}
		st.ChunksRead.Add(1)
		if err := p.bf.r.ReadChunk(p.chunk, m.next()); err != nil {
			return err
		}
	}
	m.typ = m.parts[0].Type
	if out := m.merge(req.MinTime, req.MaxTime); out.Len() > 0 {
		return fn(id, name, out)
	}
	return nil
}
