//go:build !(linux || darwin || freebsd)

package storage

import "errors"

// diskSpace is not measured here: the disk-full state is then entered
// only on ENOSPC, and the floor and the early flush are off.
func diskSpace(dir string) (free, total int64, err error) {
	return 0, 0, errors.ErrUnsupported
}
