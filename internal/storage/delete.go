package storage

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/herdmon/herd/internal/models"
)

// DeleteSeries removes series and all their data from a database (DROP
// SERIES). The index forgets them at once, so no query sees them again;
// their values in block files become unreachable (series ids are never
// reused) and are dropped when the blocks are next merged.
func (e *Engine) DeleteSeries(db string, ids []uint64) error {
	set := roaring.New()
	for _, id := range ids {
		set.Add(uint32(id))
	}
	return e.deleteSeries(db, "", set)
}

// DeleteRange removes the series' data with minT <= time <= maxT, in
// every retention policy (DELETE ... WHERE time ...). The heads are
// flushed first, then every block holding such values is rewritten
// without them (crash-safe: the rewrite supersedes its input by name);
// series left with no data anywhere leave the index, as in InfluxDB.
// Writes that arrive while the DELETE runs may or may not be deleted.
func (e *Engine) DeleteRange(dbName string, ids []uint64, minT, maxT int64) error {
	if minT <= minTimeQuery && maxT >= maxTimeQuery-1 {
		return e.DeleteSeries(dbName, ids)
	}
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	if err := e.flushLocked(); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	set := roaring.New()
	for _, id := range ids {
		set.Add(uint32(id))
	}
	e.mu.RLock()
	db := e.dbs[dbName]
	var shards []*shard
	if db != nil {
		for _, list := range db.shards {
			shards = append(shards, list...)
		}
	}
	e.mu.RUnlock()
	if db == nil {
		return &models.DatabaseNotFoundError{Name: dbName}
	}
	drop := func(id uint64, t int64) bool { return t >= minT && t <= maxT && set.Contains(uint32(id)) }
	for _, s := range shards {
		if s.end <= minT || s.start > maxT {
			continue
		}
		if err := s.deleteRange(set, minT, maxT, drop); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	// Series with no data left anywhere leave the index.
	empty := roaring.New()
	it := set.Iterator()
	for it.HasNext() {
		id := it.Next()
		if !e.seriesHasData(shards, uint64(id)) {
			empty.Add(id)
		}
	}
	if empty.IsEmpty() {
		return nil
	}
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	return e.applyDelete(db, "", empty)
}

// deleteRange rewrites the shard's blocks that hold values drop names.
func (s *shard) deleteRange(ids *roaring.Bitmap, minT, maxT int64, drop func(uint64, int64) bool) error {
	s.compacting.Lock()
	defer s.compacting.Unlock()
	s.mu.RLock()
	blocks := append([]*blockFile(nil), s.blocks...)
	s.mu.RUnlock()
	for _, b := range blocks {
		if b.r.MaxTime() < minT || b.r.MinTime() > maxT || !holdsAny(b, ids) {
			continue
		}
		if err := s.compactFiltered([]*blockFile{b}, drop); err != nil {
			return err
		}
	}
	return nil
}

func holdsAny(b *blockFile, ids *roaring.Bitmap) bool {
	for _, id := range b.r.SeriesIDs() {
		if ids.Contains(uint32(id)) {
			return true
		}
	}
	return false
}

// seriesHasData reports whether a series has values in any block or head
// of the given shards.
func (e *Engine) seriesHasData(shards []*shard, id uint64) bool {
	for _, s := range shards {
		s.mu.RLock()
		has := s.head.series[id] != nil
		for _, b := range s.blocks {
			if has {
				break
			}
			has = b.r.HasSeries(id)
		}
		s.mu.RUnlock()
		if has {
			return true
		}
	}
	return false
}

// The bounds InfluxQL uses for an unbounded time range (influxql.MinTime
// and MaxTime); anything at or beyond them means "all time".
const (
	minTimeQuery = -9223372036854775806
	maxTimeQuery = 9223372036854775806 // MaxInt64 - 1
)

// DropMeasurement removes a measurement: its series, its data and its
// field types, so that it can be written again with other types.
func (e *Engine) DropMeasurement(db, name string) error {
	ix, err := e.Index(db)
	if err != nil {
		return err
	}
	return e.deleteSeries(db, name, ix.MeasurementSeries(name))
}

func (e *Engine) deleteSeries(dbName, measurement string, ids *roaring.Bitmap) error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	e.mu.RLock()
	db := e.dbs[dbName]
	e.mu.RUnlock()
	if db == nil {
		return &models.DatabaseNotFoundError{Name: dbName}
	}
	if ids.IsEmpty() && measurement == "" {
		return nil
	}
	// The deletion goes through the WAL by series key (ids are not stable
	// across a replay), so replaying older batches after a crash cannot
	// bring the series back.
	keys := make([]string, 0, ids.GetCardinality())
	it := ids.Iterator()
	for it.HasNext() {
		if k, ok := db.index.SeriesKey(uint64(it.Next())); ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return e.commitMarker(deleteSeriesEntry(dbName, measurement, keys), func() error {
		e.mu.RLock()
		cur := e.dbs[dbName]
		e.mu.RUnlock()
		if cur != db {
			return nil // dropped since, with its series
		}
		return e.applyDelete(db, measurement, ids)
	})
}

// applyDelete removes series from the heads and the index, and a dropped
// measurement's field types. The caller holds applyMu.
func (e *Engine) applyDelete(db *database, measurement string, ids *roaring.Bitmap) error {
	e.mu.RLock()
	var shards []*shard
	for _, list := range db.shards {
		shards = append(shards, list...)
	}
	e.mu.RUnlock()
	for _, s := range shards {
		s.mu.Lock()
		for _, h := range append(append([]*head(nil), s.frozen...), s.head) {
			it := ids.Iterator()
			for it.HasNext() {
				id := uint64(it.Next())
				ms := h.series[id]
				if ms == nil {
					continue
				}
				// Frozen heads are being flushed without a lock: leave
				// their maps alone; the index no longer names these ids,
				// so their values are never read and compaction drops them.
				if h == s.head {
					freed := int64(memSeriesOverhead)
					for _, c := range ms.cols {
						freed += memColumnOverhead + int64(cap(c.stream.b))
					}
					delete(h.series, id)
					h.bytes -= freed
					e.headBytes.Add(-freed)
				}
			}
		}
		if measurement != "" {
			if _, ok := s.fields[measurement]; ok {
				delete(s.fields, measurement)
				s.fieldsDirty = true
			}
		}
		s.mu.Unlock()
		if measurement != "" {
			if err := s.saveFields(); err != nil {
				return fmt.Errorf("drop measurement: %w", err)
			}
		}
	}
	err := db.index.DeleteSeries(ids)
	// Counted once the index no longer names the ids: a writer that read
	// the count before looked its ids up before (or during) the deletion
	// and looks them up again; one that reads it after cannot find them.
	db.deletions.Add(1)
	return err
}

// deleteSeriesEntry is the WAL entry of a series deletion.
func deleteSeriesEntry(db, measurement string, keys []string) []byte {
	b := appendStr([]byte{kindDeleteSeries}, db)
	b = appendStr(b, measurement)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendStr(b, k)
	}
	return b
}
