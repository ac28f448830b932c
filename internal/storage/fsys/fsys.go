// Package fsys is the file layer the storage engine changes the disk
// through, so that tests can fail any write, fsync, rename or removal
// the way a full or failing disk does (ENOSPC, EIO) and check what
// survives.
//
// Files stay *os.File: the WAL's hooks, the directory lock and the block
// readers need one, and reading is never faulted. What goes through an
// FS is every operation that changes the disk, which is where a full or
// failing disk shows itself.
package fsys

import (
	"io"
	"io/fs"
	"os"
)

// FS is what storage uses to change files. OS is the real one; Faulty
// injects errors. Implementations must be safe for concurrent use.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	// Write, WriteAt, Sync and Truncate are f's methods of the same name.
	// Sync on a directory (opened with os.Open) makes its entries durable.
	Write(f *os.File, p []byte) (int, error)
	WriteAt(f *os.File, p []byte, off int64) (int, error)
	Sync(f *os.File) error
	Truncate(f *os.File, size int64) error
	// Rename, Link, Remove, RemoveAll and MkdirAll are the os functions.
	Rename(oldpath, newpath string) error
	Link(oldname, newname string) error
	Remove(name string) error
	RemoveAll(path string) error
	MkdirAll(path string, perm fs.FileMode) error
}

// OS is the operating system's file system.
type OS struct{}

func (OS) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}
func (OS) Write(f *os.File, p []byte) (int, error)              { return f.Write(p) }
func (OS) WriteAt(f *os.File, p []byte, off int64) (int, error) { return f.WriteAt(p, off) }
func (OS) Sync(f *os.File) error                                { return f.Sync() }
func (OS) Truncate(f *os.File, size int64) error                { return f.Truncate(size) }
func (OS) Rename(oldpath, newpath string) error                 { return os.Rename(oldpath, newpath) }
func (OS) Link(oldname, newname string) error                   { return os.Link(oldname, newname) }
func (OS) Remove(name string) error                             { return os.Remove(name) }
func (OS) RemoveAll(path string) error                          { return os.RemoveAll(path) }
func (OS) MkdirAll(path string, perm fs.FileMode) error         { return os.MkdirAll(path, perm) }

// Or returns fsys, or OS if fsys is nil (an unset option).
func Or(fsys FS) FS {
	if fsys == nil {
		return OS{}
	}
	return fsys
}

// SyncDir fsyncs directory dir, which makes the creations, renames and
// removals in it durable.
func SyncDir(fsys FS, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = fsys.Sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Writer returns f as an io.Writer whose writes go through fsys, for a
// bufio.Writer in front of it.
func Writer(fsys FS, f *os.File) io.Writer { return writer{fsys, f} }

type writer struct {
	fsys FS
	f    *os.File
}

func (w writer) Write(p []byte) (int, error) { return w.fsys.Write(w.f, p) }
