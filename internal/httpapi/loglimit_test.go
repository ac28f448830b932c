package httpapi

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	l := &logLimiter{interval: 10 * time.Second}
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{5 * time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 3},
		{11 * time.Second, false, 0},
		{30 * time.Second, true, 1},
		{41 * time.Second, true, 0},
	}
	for _, s := range steps {
		ok, n := l.allow(t0.Add(s.at))
		if ok != s.ok || n != s.suppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", s.at, ok, n, s.ok, s.suppressed)
		}
	}
}
