//go:build !linux

package testutil

import "time"

// CPUMark is a no-op where per-thread CPU time is not available.
type CPUMark struct{}

// StartCPU does nothing here.
func StartCPU() CPUMark { return CPUMark{} }

// Elapsed reports that CPU time is unknown.
func (CPUMark) Elapsed() (time.Duration, bool) { return 0, false }
