package storage

import (
	"errors"
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

// ErrDeleteRangeUnsupported is returned for a DELETE whose time range
// does not cover all time: removing part of a series' data needs
// tombstones, which herd does not have yet.
var ErrDeleteRangeUnsupported = errors.New("not supported yet: DELETE with a time range (DELETE without a time condition and DROP SERIES work)")

// DeleteRange removes the series' data with minT <= time <= maxT. Only
// the whole range of time is supported so far, which deletes the series.
func (e *Engine) DeleteRange(db string, ids []uint64, minT, maxT int64) error {
	if minT > minTimeQuery || maxT < maxTimeQuery-1 {
		return ErrDeleteRangeUnsupported
	}
	return e.DeleteSeries(db, ids)
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
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
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
	if err := e.commitMarker(deleteSeriesEntry(dbName, measurement, keys)); err != nil {
		return err
	}
	return e.applyDelete(db, measurement, ids)
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
	return db.index.DeleteSeries(ids)
}

// deleteSeriesEntry is the WAL entry of a series deletion.
func deleteSeriesEntry(db, measurement string, keys []string) []byte {
	b := appendStr([]byte{kindDeleteSeries}, db)
	b = appendStr(b, measurement)
	b = appendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendStr(b, k)
	}
	return b
}
