//go:build !linux

package storage

import (
	"os"

	"github.com/herdmon/herd/internal/storage/fsys"
)

// allocateReserve gives f size bytes of real blocks by writing zeros (a
// sparse file would reserve nothing).
func allocateReserve(fsys fsys.FS, f *os.File, size int64) error { return writeZeros(fsys, f, size) }
