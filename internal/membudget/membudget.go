// Package membudget accounts the memory that queries hold against a
// limit per query and a limit over all running queries together, so
// that one client's answer fails with a clear error instead of the
// kernel killing the server on a 1 GB board.
//
// Accounting is approximate but honest: callers Grow an Account by their
// estimate of what they keep (materialized rows and values, per-series
// state, buffered response bytes) and Shrink it when they let go; an
// Account's Close returns whatever it still holds to the Pool.
package membudget

import (
	"fmt"
	"sync/atomic"
)

// Pool is the memory shared by all running queries. The zero value and
// nil have no limits (and still count).
type Pool struct {
	perQuery int64
	total    int64

	used     atomic.Int64
	peak     atomic.Int64
	rejected atomic.Int64
}

// NewPool returns a pool allowing each Account perQuery bytes and all
// Accounts together total bytes; 0 disables a limit.
func NewPool(perQuery, total int64) *Pool {
	return &Pool{perQuery: perQuery, total: total}
}

// Stats are a pool's counters, for /debug/vars.
type Stats struct {
	Used, Peak, Rejected int64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	if p == nil {
		return Stats{}
	}
	return Stats{Used: p.used.Load(), Peak: p.peak.Load(), Rejected: p.rejected.Load()}
}

// Account returns a new, empty account drawing from p; nil p gives an
// account without limits.
func (p *Pool) Account() *Account { return &Account{pool: p} }

// Account is the memory one query (one request, all its statements)
// holds. Its methods may be called from several goroutines; a nil
// *Account accepts every Grow.
type Account struct {
	pool   *Pool
	held   atomic.Int64
	failed atomic.Bool
}

// ExceededError reports a Grow past a limit. Its text names the limit's
// setting and what the client can do.
type ExceededError struct {
	// Setting is the limit's configuration key.
	Setting string
	// Limit is its value in bytes; Want the bytes asked for in all.
	Limit, Want int64
}

func (e *ExceededError) Error() string {
	if e.Setting == TotalSetting {
		return fmt.Sprintf("%s limit exceeded: (%d/%d bytes) held by all running queries together; retry later, "+
			"or use LIMIT, a narrower time range or chunked=true", e.Setting, e.Want, e.Limit)
	}
	return fmt.Sprintf("%s limit exceeded: (%d/%d bytes); use LIMIT, a narrower time range or chunked=true",
		e.Setting, e.Want, e.Limit)
}

// The settings whose limits an ExceededError names.
const (
	QuerySetting = "max-query-memory"
	TotalSetting = "max-query-memory-total"
)

// Grow adds n bytes to the account, or returns an *ExceededError and
// adds nothing when that would pass a limit.
func (a *Account) Grow(n int64) error {
	if a == nil || n <= 0 {
		return nil
	}
	p := a.pool
	held := a.held.Add(n)
	if p == nil {
		return nil
	}
	if p.perQuery > 0 && held > p.perQuery {
		a.held.Add(-n)
		return a.reject(&ExceededError{Setting: QuerySetting, Limit: p.perQuery, Want: held})
	}
	// A compare-and-swap loop, so that the total is never passed even
	// for a moment (another query's Grow would fail for nothing).
	var used int64
	for {
		cur := p.used.Load()
		used = cur + n
		if p.total > 0 && used > p.total {
			a.held.Add(-n)
			return a.reject(&ExceededError{Setting: TotalSetting, Limit: p.total, Want: used})
		}
		if p.used.CompareAndSwap(cur, used) {
			break
		}
	}
	for {
		peak := p.peak.Load()
		if used <= peak || p.peak.CompareAndSwap(peak, used) {
			break
		}
	}
	return nil
}

// reject counts a query's first refusal (a failing query may hit the
// limit again while it unwinds).
func (a *Account) reject(err *ExceededError) error {
	if a.failed.CompareAndSwap(false, true) {
		a.pool.rejected.Add(1)
	}
	return err
}

// Shrink returns n bytes the holder no longer keeps.
func (a *Account) Shrink(n int64) {
	if a == nil || n <= 0 {
		return
	}
	a.held.Add(-n)
	if a.pool != nil {
		a.pool.used.Add(-n)
	}
}

// Held returns the bytes the account holds.
func (a *Account) Held() int64 {
	if a == nil {
		return 0
	}
	return a.held.Load()
}

// Close returns everything the account still holds to the pool.
func (a *Account) Close() {
	if a == nil {
		return
	}
	n := a.held.Swap(0)
	if a.pool != nil {
		a.pool.used.Add(-n)
	}
}

// Sizes of what results are made of, on 64-bit machines (a 32-bit board
// holds less, so the estimate errs on the safe side there).
const (
	// SliceHeader is a []T's header.
	SliceHeader = 24
	// Interface is an any holding a value.
	Interface = 16
)

// ValueSize estimates the bytes an any holding v keeps: the interface
// and the boxed value.
func ValueSize(v any) int64 {
	switch v := v.(type) {
	case nil, bool:
		return Interface
	case string:
		return Interface + 16 + int64(len(v))
	case float64, int64, uint64, int:
		return Interface + 8
	}
	return Interface + 24 // time.Time, the largest other value a result holds
}

// RowsSize estimates the bytes a result's values keep.
func RowsSize(values [][]any) int64 {
	n := int64(len(values)) * SliceHeader
	for _, row := range values {
		for _, v := range row {
			n += ValueSize(v)
		}
	}
	return n
}
