//go:build !linux

package block

import "time"

// cpuMark is a no-op where per-thread CPU time is not available.
type cpuMark struct{}

func startCPU() cpuMark { return cpuMark{} }

func (cpuMark) elapsed() (time.Duration, bool) { return 0, false }
