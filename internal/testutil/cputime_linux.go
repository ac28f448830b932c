package testutil

import (
	"runtime"
	"syscall"
	"time"
)

// CPUMark records this OS thread's CPU time, for benchmarks that report
// CPU nanoseconds per value beside wall time on a shared machine. The
// goroutine stays locked to its thread until Elapsed is called.
type CPUMark struct{ t time.Duration }

const rusageThread = 1 // RUSAGE_THREAD

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StartCPU starts measuring this thread's CPU time.
func StartCPU() CPUMark {
	runtime.LockOSThread()
	return CPUMark{threadCPU()}
}

// Elapsed returns the CPU time since StartCPU, and false when the
// platform cannot tell.
func (m CPUMark) Elapsed() (time.Duration, bool) {
	now := threadCPU()
	runtime.UnlockOSThread()
	return now - m.t, m.t >= 0 && now >= 0
}
