package storage

import (
	"os"
	"syscall"
)

// allocateReserve gives f size bytes of real blocks with fallocate: they
// are reserved without being written (no SD-card wear). Where the file
// system cannot, zeros are written.
func allocateReserve(f *os.File, size int64) error {
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err == nil {
		return nil
	} else if err != syscall.EOPNOTSUPP && err != syscall.ENOSYS {
		return err
	}
	return writeZeros(f, size)
}
