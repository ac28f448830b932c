// Package index is the persistent series index of one database. It maps a
// series key (models.AppendSeriesKey: escaped measurement and sorted tags)
// to a dense series id and keeps posting lists that answer the questions
// the query engine and Grafana ask: the series of a measurement, the
// series with a tag value, tag keys and values, measurement names.
//
// Everything lives in memory; the disk holds an append-only log of created
// and deleted series (docs/format/index.md) that Open replays. New series
// reach the log only when Sync is called, so creating one costs no fsync:
// the engine calls Sync before it writes a block that references ids, and
// after a crash its WAL replay creates the lost series again. That is why
// ids are assigned in order of creation and never reused.
//
// Locks, in the order they are taken: syncMu (Sync, deletes, compaction,
// Close) → wmu (every change; the log file) → keysMu (key ↔ id) or postMu
// (posting lists), never both at once. Looking up an existing series
// takes only keysMu's read lock, so long queries holding postMu do not
// stall the write path.
package index

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// DefaultMaxSeries is the series limit when Options.MaxSeries is 0: the
// default of InfluxDB's max-series-per-database.
const DefaultMaxSeries = 1_000_000

// MaxKeyLen is the longest series key accepted, InfluxDB's limit
// (tsdb.MaxKeyLength). It also bounds a record read back from the log.
const MaxKeyLen = 65535

// Options configure an Index.
type Options struct {
	// MaxSeries refuses new series once this many exist (0: the default
	// DefaultMaxSeries; negative: no limit). Series already in the log are
	// always loaded, even beyond a lowered limit.
	MaxSeries int
	// Shared, when set, is shared with the engine's other indexes: their
	// live series together are limited by its total, and it says whether
	// limits are enforced (nil: this index alone, no total limit).
	Shared *Shared
	// Logger receives warnings about repairs (nil: slog.Default()).
	Logger *slog.Logger
	// FS is what changes the disk (nil: the OS). Tests inject faults here.
	FS fsys.FS
}

var (
	// ErrClosed is returned by changes made after Close.
	ErrClosed = errors.New("index closed")
	// ErrMaxSeries matches (errors.Is) every *MaxSeriesError.
	ErrMaxSeries = errors.New("max-series-per-database limit exceeded")
	// ErrBadKey reports a series key that is empty, too long, or does not
	// parse back to the measurement and tags it was built from.
	ErrBadKey = errors.New("bad series key")
	// ErrCorrupt reports a log whose header is not an index log's.
	ErrCorrupt = errors.New("index log corrupt")
	// ErrIDsExhausted reports that all 2^32-1 series ids have been used.
	ErrIDsExhausted = errors.New("series ids exhausted")
)

// MaxSeriesError refuses a new series beyond Options.MaxSeries. Its text
// is InfluxDB's, which clients see inside a partial-write error.
type MaxSeriesError struct{ Limit int }

func (e *MaxSeriesError) Error() string {
	return fmt.Sprintf("max-series-per-database limit exceeded: (%d)", e.Limit)
}

// Is makes errors.Is(err, ErrMaxSeries) true.
func (e *MaxSeriesError) Is(target error) bool { return target == ErrMaxSeries }

// measurement holds the posting lists of one measurement.
type measurement struct {
	series *roaring.Bitmap
	tags   map[string]map[string]postings // tag key → value → series
}

// Index is the series index of one database. It is safe for concurrent
// use: any number of readers, changes serialized.
type Index struct {
	dir, path string
	max       int
	shared    *Shared
	logger    *slog.Logger
	fs        fsys.FS

	syncMu sync.Mutex

	wmu      sync.Mutex
	f        *os.File
	size     int64  // bytes of f holding whole records
	pending  []byte // records not yet written to f
	unsynced bool   // f has writes not yet fsynced
	dead     int64  // bytes of f spent on deleted series and delete records
	nextID   uint64
	err      error // sticky: ErrClosed, or a failed fsync (Sync and deletes fail; see create)
	tagsBuf  models.Tags
	recBuf   []byte

	keysMu sync.RWMutex
	keys   keyTable // key → id
	ids    idTable  // id → key
	count  int
	weight int64 // the live series' Weight, summed (changes under wmu)

	postMu       sync.RWMutex
	measurements map[string]*measurement
}

// CreateSeries returns the id of the series, creating it when new. key
// must equal models.AppendSeriesKey(measurement, tags) (else ErrBadKey);
// the index copies what it keeps. Beyond the series limit it returns a
// *MaxSeriesError. A new series is durable after the next Sync.
func (ix *Index) CreateSeries(key []byte, measurement string, tags models.Tags) (id uint64, created bool, err error) {
	ix.keysMu.RLock()
	id32, ok := ix.keys.find(bytesView(key), &ix.ids)
	ix.keysMu.RUnlock()
	if ok {
		return uint64(id32), false, nil
	}
	return ix.create(key, measurement, tags)
}

func (ix *Index) create(key []byte, measurement string, tags models.Tags) (uint64, bool, error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if errors.Is(ix.err, ErrClosed) {
		return 0, false, ix.err
	}
	// After a failed fsync (ix.err set, Sync failing until a restart) new
	// series are still taken: the engine applies a write only once its WAL
	// record is durable, so refusing one now would answer with an error a
	// write that the next start replays. The WAL keeps their points, and
	// no block can refer to them, since a flush needs a Sync first.
	//
	// Another writer may have created it meanwhile. Reading the tables
	// without keysMu is safe here: they only change under wmu.
	if id, ok := ix.keys.find(bytesView(key), &ix.ids); ok {
		return uint64(id), false, nil
	}
	if len(key) == 0 || len(key) > MaxKeyLen {
		return 0, false, fmt.Errorf("create series: %w: length %d not in 1..%d", ErrBadKey, len(key), MaxKeyLen)
	}
	if ix.max > 0 && ix.count >= ix.max && !ix.shared.relaxed.Load() {
		ix.shared.refusedDatabase.Add(1)
		return 0, false, &MaxSeriesError{Limit: ix.max}
	}
	if ix.nextID > math.MaxUint32 {
		return 0, false, fmt.Errorf("create series: %w", ErrIDsExhausted)
	}
	s := string(key)
	m, ptags := parseKey(s, ix.tagsBuf[:0])
	ix.tagsBuf = ptags
	if !sameSeries(measurement, tags, m, ptags) {
		return 0, false, fmt.Errorf("create series %q: %w: does not match measurement %q and its tags", s, ErrBadKey, measurement)
	}
	// Last of the checks: a reservation is taken back by nothing but a
	// deletion.
	if err := ix.shared.reserve(Weight(len(key))); err != nil {
		return 0, false, err
	}
	id := uint32(ix.nextID)
	ix.nextID++
	ix.insert(id, s, m, ptags)
	ix.pending = appendCreateRecord(ix.pending, id, key)
	if len(ix.pending) >= flushSize {
		// Hand full buffers to the kernel early to bound memory. A failed
		// write keeps them pending; Sync reports the error.
		_ = ix.flushLocked()
	}
	return uint64(id), true, nil
}

// insert adds a series to memory. The key becomes visible to readers
// before its postings, so that an id found in a posting list always has a
// key. Called with wmu held.
func (ix *Index) insert(id uint32, key, m string, tags models.Tags) {
	ix.keysMu.Lock()
	ix.ids.set(id, key)
	ix.keys.insert(key, id)
	ix.count++
	ix.weight += Weight(len(key))
	ix.keysMu.Unlock()

	ix.postMu.Lock()
	mm := ix.measurements[m]
	if mm == nil {
		mm = &measurement{series: roaring.New(), tags: make(map[string]map[string]postings)}
		ix.measurements[m] = mm
	}
	mm.series.Add(id)
	for _, t := range tags {
		values := mm.tags[t.Key]
		if values == nil {
			values = make(map[string]postings)
			mm.tags[t.Key] = values
		}
		pl := values[t.Value]
		pl.add(id)
		values[t.Value] = pl
	}
	ix.postMu.Unlock()
}

// keyLocked returns the key of id ("" when absent). The caller holds
// keysMu or wmu.
func (ix *Index) keyLocked(id uint64) string {
	if id > math.MaxUint32 {
		return ""
	}
	return ix.ids.key(uint32(id))
}

// Lookup returns the id of an existing series.
func (ix *Index) Lookup(key []byte) (uint64, bool) {
	ix.keysMu.RLock()
	id, ok := ix.keys.find(bytesView(key), &ix.ids)
	ix.keysMu.RUnlock()
	return uint64(id), ok
}

// SeriesKey returns the key of a live series.
func (ix *Index) SeriesKey(id uint64) (string, bool) {
	ix.keysMu.RLock()
	k := ix.keyLocked(id)
	ix.keysMu.RUnlock()
	return k, k != ""
}

// Series returns the measurement and tags of a live series. The tags are
// a new slice the caller may modify.
func (ix *Index) Series(id uint64) (measurement string, tags models.Tags, ok bool) {
	k, ok := ix.SeriesKey(id)
	if !ok {
		return "", nil, false
	}
	m, tags := parseKey(k, nil)
	return m, tags, true
}

// SeriesCount returns the number of live series.
func (ix *Index) SeriesCount() int {
	ix.keysMu.RLock()
	defer ix.keysMu.RUnlock()
	return ix.count
}

// Measurements returns the names of the measurements that have series,
// sorted.
func (ix *Index) Measurements() []string {
	ix.postMu.RLock()
	names := make([]string, 0, len(ix.measurements))
	for name := range ix.measurements {
		names = append(names, name)
	}
	ix.postMu.RUnlock()
	slices.Sort(names)
	return names
}

// MeasurementSeries returns the series of a measurement, a copy the
// caller may modify (empty, never nil, for an unknown measurement). The
// series lacking tag k are MeasurementSeries(m) minus TagKeySeries(m, k);
// those with k != v are MeasurementSeries(m) minus TagValueSeries(m, k, v).
func (ix *Index) MeasurementSeries(name string) *roaring.Bitmap {
	ix.postMu.RLock()
	defer ix.postMu.RUnlock()
	if mm := ix.measurements[name]; mm != nil {
		return mm.series.Clone()
	}
	return roaring.New()
}

// TagKeys returns the tag keys used by a measurement's series, sorted.
func (ix *Index) TagKeys(measurement string) []string {
	ix.postMu.RLock()
	mm := ix.measurements[measurement]
	if mm == nil {
		ix.postMu.RUnlock()
		return nil
	}
	keys := make([]string, 0, len(mm.tags))
	for k := range mm.tags {
		keys = append(keys, k)
	}
	ix.postMu.RUnlock()
	slices.Sort(keys)
	return keys
}

// TagValues returns the values of a measurement's tag key, sorted.
func (ix *Index) TagValues(measurement, key string) []string {
	ix.postMu.RLock()
	values := ix.valuesLocked(measurement, key)
	if len(values) == 0 {
		ix.postMu.RUnlock()
		return nil
	}
	out := make([]string, 0, len(values))
	for v := range values {
		out = append(out, v)
	}
	ix.postMu.RUnlock()
	slices.Sort(out)
	return out
}

func (ix *Index) valuesLocked(measurement, key string) map[string]postings {
	if mm := ix.measurements[measurement]; mm != nil {
		return mm.tags[key]
	}
	return nil
}

// TagValueSeries returns the series with tag key=value, a copy the caller
// may modify (empty, never nil, when there are none).
func (ix *Index) TagValueSeries(measurement, key, value string) *roaring.Bitmap {
	ix.postMu.RLock()
	defer ix.postMu.RUnlock()
	if pl, ok := ix.valuesLocked(measurement, key)[value]; ok {
		return pl.bitmap()
	}
	return roaring.New()
}

// MatchTagValues returns the union of the series of every value of the
// tag key for which match returns true, a copy the caller may modify.
// match runs under the index's read lock: it must not call the index.
func (ix *Index) MatchTagValues(measurement, key string, match func(value string) bool) *roaring.Bitmap {
	out := roaring.New()
	ix.postMu.RLock()
	defer ix.postMu.RUnlock()
	for v, pl := range ix.valuesLocked(measurement, key) {
		if match(v) {
			pl.orInto(out)
		}
	}
	return out
}

// TagKeySeries returns the series that have tag key at all, whatever its
// value: MatchTagValues with a match that is always true.
func (ix *Index) TagKeySeries(measurement, key string) *roaring.Bitmap {
	return ix.MatchTagValues(measurement, key, func(string) bool { return true })
}

// MatchMeasurements returns the measurement names for which match returns
// true (SHOW MEASUREMENTS WITH MEASUREMENT =~ /re/), sorted. match runs
// under the index's read lock: it must not call the index.
func (ix *Index) MatchMeasurements(match func(name string) bool) []string {
	var names []string
	ix.postMu.RLock()
	for name := range ix.measurements {
		if match(name) {
			names = append(names, name)
		}
	}
	ix.postMu.RUnlock()
	slices.Sort(names)
	return names
}
