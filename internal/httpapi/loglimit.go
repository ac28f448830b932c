package httpapi

import (
	"sync"
	"time"
)

// logLimiter lets one log line through per interval and counts the rest,
// so that a condition failing every write (a full disk, a broken WAL)
// fills the log with one line every few seconds saying how many writes
// it stands for, not one line per agent request.
type logLimiter struct {
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int64
}

// allow reports whether a line may be logged at now, and how many lines
// were suppressed since the last one that was.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return false, 0
	}
	l.last = now
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}
