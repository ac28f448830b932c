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

// reserve counts one new series, or refuses it beyond the total limit.
// Several indexes reserve concurrently, hence the compare-and-swap.
func (s *Shared) reserve() error {
	if s.maxTotal == 0 || s.relaxed.Load() {
		s.live.Add(1)
		return nil
	}
	for {
		n := s.live.Load()
		if n >= int64(s.maxTotal) {
			s.refusedTotal.Add(1)
			return &MaxSeriesTotalError{Limit: s.maxTotal}
		}
		if s.live.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}
