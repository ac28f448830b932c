// Per-thread CPU time for benchmarks: the shared machine is busy, and
// wall time per value there measures the neighbours as much as this code.

package block

import (
	"runtime"
	"syscall"
	"time"
)

// cpuMark records this OS thread's CPU time; the goroutine stays locked to
// the thread until elapsed is called.
type cpuMark struct{ t time.Duration }

const rusageThread = 1 // RUSAGE_THREAD

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMark {
	runtime.LockOSThread()
	return cpuMark{threadCPU()}
}

func (m cpuMark) elapsed() (time.Duration, bool) {
	now := threadCPU()
	runtime.UnlockOSThread()
	return now - m.t, m.t >= 0 && now >= 0
}
