package fsys

import (
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sync"
	"syscall"
)

// Op is a kind of disk-changing operation, as Faulty counts and fails
// them.
type Op uint8

const (
	OpOpen     Op = iota + 1 // OpenFile for writing or creating (read-only opens are never faulted)
	OpWrite                  // Write, WriteAt
	OpSync                   // fsync of a file
	OpSyncDir                // fsync of a directory
	OpTruncate               // Truncate
	OpRename                 // Rename, Link (matched on the new name)
	OpRemove                 // Remove, RemoveAll
	OpMkdir                  // MkdirAll
)

var opNames = [...]string{OpOpen: "open", OpWrite: "write", OpSync: "sync", OpSyncDir: "syncdir",
	OpTruncate: "truncate", OpRename: "rename", OpRemove: "remove", OpMkdir: "mkdir"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, error) {
	for o, name := range opNames {
		if name != "" && name == s {
			return Op(o), nil
		}
	}
	return 0, fmt.Errorf("unknown file operation %q (want one of open, write, sync, syncdir, truncate, rename, remove, mkdir)", s)
}

// Event is one operation Faulty saw.
type Event struct {
	Op   Op
	Path string
}

// Rule fails operations of one kind on matching paths.
type Rule struct {
	Op   Op
	Path *regexp.Regexp // nil matches every path
	// Nth is the first matching operation to fail, counting from 1.
	Nth int
	// Times is how many matching operations fail from the Nth on; 0 is
	// one, a negative value every later one (a disk that stays full).
	Times int
	// Err is what the failing operation returns, wrapped in an
	// *fs.PathError like the real one: syscall.ENOSPC or syscall.EIO.
	Err syscall.Errno

	seen int
}

// Faulty is an FS that passes operations to a base FS and fails the
// ones its rules pick. A failed write writes the first half of its bytes
// and then fails, as a disk that fills up mid-write does; a failed fsync
// leaves the written data in the page cache, so after a kill -9 it may
// still be read: the caller must not count on it either way.
type Faulty struct {
	base FS
	// OnFault, if set, is called (under Faulty's lock) with each injected
	// failure, before the operation returns it.
	OnFault func(Event, error)

	mu     sync.Mutex
	rules  []*Rule
	events []Event
	record bool
}

// NewFaulty returns a Faulty over base (nil: OS) that fails what rules
// pick. With record set it keeps every operation for Events.
func NewFaulty(base FS, record bool, rules ...Rule) *Faulty {
	f := &Faulty{base: Or(base), record: record}
	for _, r := range rules {
		f.rules = append(f.rules, &r)
	}
	return f
}

// Events returns the operations seen so far, in order (with record set).
func (f *Faulty) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

// check records an operation and returns the error to inject, if any.
func (f *Faulty) check(op Op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := Event{op, path}
	if f.record {
		f.events = append(f.events, ev)
	}
	var fail error
	for _, r := range f.rules {
		if r.Op != op || r.Path != nil && !r.Path.MatchString(path) {
			continue
		}
		r.seen++
		last := r.Nth + max(r.Times, 1) - 1
		if r.seen >= r.Nth && (r.Times < 0 || r.seen <= last) && fail == nil {
			fail = &fs.PathError{Op: op.String(), Path: path, Err: r.Err}
		}
	}
	if fail != nil && f.OnFault != nil {
		f.OnFault(ev, fail)
	}
	return fail
}

func (f *Faulty) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		if err := f.check(OpOpen, name); err != nil {
			return nil, err
		}
	}
	return f.base.OpenFile(name, flag, perm)
}

func (f *Faulty) Write(file *os.File, p []byte) (int, error) {
	if err := f.check(OpWrite, file.Name()); err != nil {
		n, _ := f.base.Write(file, p[:len(p)/2])
		return n, err
	}
	return f.base.Write(file, p)
}

func (f *Faulty) WriteAt(file *os.File, p []byte, off int64) (int, error) {
	if err := f.check(OpWrite, file.Name()); err != nil {
		n, _ := f.base.WriteAt(file, p[:len(p)/2], off)
		return n, err
	}
	return f.base.WriteAt(file, p, off)
}

func (f *Faulty) Sync(file *os.File) error {
	op := OpSync
	if st, err := file.Stat(); err == nil && st.IsDir() {
		op = OpSyncDir
	}
	if err := f.check(op, file.Name()); err != nil {
		return err
	}
	return f.base.Sync(file)
}

func (f *Faulty) Truncate(file *os.File, size int64) error {
	if err := f.check(OpTruncate, file.Name()); err != nil {
		return err
	}
	return f.base.Truncate(file, size)
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if err := f.check(OpRename, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err.(*fs.PathError).Err}
	}
	return f.base.Rename(oldpath, newpath)
}

func (f *Faulty) Link(oldname, newname string) error {
	if err := f.check(OpRename, newname); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err.(*fs.PathError).Err}
	}
	return f.base.Link(oldname, newname)
}

func (f *Faulty) Remove(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return err
	}
	return f.base.Remove(name)
}

func (f *Faulty) RemoveAll(path string) error {
	if err := f.check(OpRemove, path); err != nil {
		return err
	}
	return f.base.RemoveAll(path)
}

func (f *Faulty) MkdirAll(path string, perm fs.FileMode) error {
	if err := f.check(OpMkdir, path); err != nil {
		return err
	}
	return f.base.MkdirAll(path, perm)
}
