//go:build !linux

package agent

import "runtime/debug"

// ReleaseStartupMemory returns the heap's free spans to the system; on
// Linux it also drops the start-up pages of the binary (see trim_linux.go).
func ReleaseStartupMemory() (int64, error) {
	debug.FreeOSMemory()
	return 0, nil
}
