//go:build unix

package lineproto

import "syscall"

// cpuTime returns the CPU time this process has used, in nanoseconds, so
// benchmarks can report CPU cost that does not depend on how busy the
// shared machine is.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
