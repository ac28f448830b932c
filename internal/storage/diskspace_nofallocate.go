//go:build !linux

package storage

import "os"

// allocateReserve gives f size bytes of real blocks by writing zeros (a
// sparse file would reserve nothing).
func allocateReserve(f *os.File, size int64) error { return writeZeros(f, size) }
