package index

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrMaxSeriesTotal matches (errors.Is) every *MaxSeriesTotalError.
var ErrMaxSeriesTotal = errors.New("max-series-total limit exceeded")

// MaxSeriesTotalError refuses a new series beyond Shared's total limit.
// InfluxDB 1.x has no such limit; the text follows its per-database one
// and says what to do, since any client may create databases.
type MaxSeriesTotalError struct{ Limit int }

func (e *MaxSeriesTotalError) Error() string {
	return fmt.Sprintf("max-series-total limit exceeded: (%d) series across all databases; "+
		"drop unused series or databases, or raise max-series-total or memory-limit", e.Limit)
}

// Is makes errors.Is(err, ErrMaxSeriesTotal) true.
func (e *MaxSeriesTotalError) Is(target error) bool { return target == ErrMaxSeriesTotal }

// Shared is what the indexes of one engine (one per database) share: the
// count of their live series, a limit on it, whether limits are enforced,
// and counters of refusals. The per-database limit alone does not bound
// memory: any client may create databases. It is safe for concurrent use.
type Shared struct {
	maxTotal int
	live     atomic.Int64
	// weight is what the total limit counts: a series once per
	// weightKeyBytes of its key (Weight), so that long keys cannot
	// exhaust memory within the series count.
	weight atomic.Int64
	// relaxed suspends both limits, for WAL replay: every series in the
	// WAL was accepted under the limits of its time, and refusing it now
	// (after a limit was lowered) would lose acknowledged points.
	relaxed atomic.Bool

	refusedDatabase atomic.Int64
	refusedTotal    atomic.Int64
}

// NewShared returns the shared state of indexes whose live series
// together may not exceed maxTotal (<= 0: no total limit).
func NewShared(maxTotal int) *Shared { return &Shared{maxTotal: max(maxTotal, 0)} }

// SetEnforced turns both series limits on (the default) or off.
func (s *Shared) SetEnforced(on bool) { s.relaxed.Store(!on) }

// MaxTotal is the total limit (0: none).
func (s *Shared) MaxTotal() int { return s.maxTotal }

// Series is the number of live series in the open indexes.
func (s *Shared) Series() int64 { return s.live.Load() }

// Refused counts the new series refused by the per-database and by the
// total limit.
func (s *Shared) Refused() (perDatabase, total int64) {
	return s.refusedDatabase.Load(), s.refusedTotal.Load()
}

// weightKeyBytes: see Weight.
const weightKeyBytes = 1024

// Weight is what a series with a key of keyLen bytes counts against the
// total limit: 1 for keys under 1 KiB (Telegraf's are about 120 bytes),
// and once more per KiB beyond, since the total limit is derived from
// the memory limit at 1 KiB per series: a 64 KiB key counts 64 times.
func Weight(keyLen int) int64 { return 1 + int64(keyLen)/weightKeyBytes }

// Weight is the sum of the live series' weights (what max-series-total
// is compared with).
func (s *Shared) Weight() int64 { return s.weight.Load() }

// reserve counts one new series of weight w, or refuses it beyond the
// total limit. Several indexes reserve concurrently, hence the
// compare-and-swap.
func (s *Shared) reserve(w int64) error {
	if s.maxTotal == 0 || s.relaxed.Load() {
		s.add(1, w)
		return nil
	}
	for {
		n := s.weight.Load()
		if n+w > int64(s.maxTotal) {
			s.refusedTotal.Add(1)
			return &MaxSeriesTotalError{Limit: s.maxTotal}
		}
		if s.weight.CompareAndSwap(n, n+w) {
			s.live.Add(1)
			return nil
		}
	}
}

// add counts series loaded (positive) or removed (negative).
func (s *Shared) add(series, weight int64) {
	s.live.Add(series)
	s.weight.Add(weight)
}
