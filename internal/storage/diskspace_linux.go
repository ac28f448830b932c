package storage

import (
	"os"
	"syscall"

	"github.com/herdmon/herd/internal/storage/fsys"
)

// allocateReserve gives f size bytes of real blocks with fallocate: they
// are reserved without being written (no SD-card wear). Where the file
// system cannot, zeros are written (through fsys; fallocate itself is
// not an fsys operation, so fault tests see only the fallback's writes).
func allocateReserve(fsys fsys.FS, f *os.File, size int64) error {
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
		return nil
	} else if err != syscall.EOPNOTSUPP && err != syscall.ENOSYS {
		return err
	}
	return writeZeros(fsys, f, size)
}
