package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// corruptSuffix marks the kept original of a segment Open repaired: for forensics,
// never replayed, never deleted by RemoveBefore.
const corruptSuffix = ".corrupt"

// tmpSuffix marks a salvaged copy being written; listing ignores it.
const tmpSuffix = ".tmp"

// segmentName is zero-padded so `ls` shows segments in order; numbers
// past 8 digits still parse, since listing sorts numerically.
func segmentName(n uint64) string { return fmt.Sprintf("%08d", n) }

func (w *WAL) segmentPath(n uint64) string { return filepath.Join(w.dir, segmentName(n)) }

// parseSegmentName accepts names made only of digits.
func parseSegmentName(name string) (uint64, bool) {
	if name == "" {
		return 0, false
	}
	for _, c := range []byte(name) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name, 10, 64)
	return n, err == nil
}

// listSegments returns the segment numbers in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []uint64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if n, ok := parseSegmentName(e.Name()); ok {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// syncDir makes creations, renames and removals in dir durable: without
// it a power cut can forget a new segment whose data was fsynced
// (etcd#6368, the ALICE study).
func (w *WAL) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	err = w.hooks.sync(d)
	w.fsyncs.Add(1)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// createSegment creates segment n with its header and makes both the
// file and its directory entry durable before anything is appended.
// A failure before any fsync removes the file and is not fatal (a full
// disk may recover); a failed fsync is reported with fatal=true.
func (w *WAL) createSegment(n uint64) (f *os.File, fatal bool, err error) {
	path := w.segmentPath(n)
	f, err = w.fs.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("create segment %d: %w", n, err)
	}
	undo := func(err error) (*os.File, bool, error) {
		f.Close()
		w.fs.Remove(path)
		return nil, false, err
	}
	h := segmentHeader()
	if _, err := w.hooks.writeAt(f, h, 0); err != nil {
		return undo(fmt.Errorf("write header of segment %d: %w", n, err))
	}
	w.bytesWritten.Add(uint64(len(h)))
	w.fsyncs.Add(1)
	if err := w.hooks.sync(f); err != nil {
		f.Close()
		return nil, true, fmt.Errorf("fsync new segment %d: %w", n, err)
	}
	if err := w.syncDir(w.dir); err != nil {
		f.Close()
		return nil, true, fmt.Errorf("create segment %d: %w", n, err)
	}
	return f, false, nil
}

// moveAside renames segment n to n.corrupt (n.corrupt.1, ... if an
// earlier repair already used the name).
func (w *WAL) moveAside(n uint64) (string, error) {
	from := w.segmentPath(n)
	to := w.asideName(n)
	if err := w.fs.Rename(from, to); err != nil {
		return "", fmt.Errorf("move segment %d aside: %w", n, err)
	}
	return to, nil
}

// keepAside gives segment n a second name, n.corrupt, so that the
// caller can then replace n atomically: a crash in between leaves n
// either old or new, never missing. Filesystems without hard links
// (FAT) fall back to a rename.
func (w *WAL) keepAside(n uint64) (string, error) {
	to := w.asideName(n)
	if err := w.fs.Link(w.segmentPath(n), to); err == nil {
		return to, nil
	}
	return w.moveAside(n)
}

func (w *WAL) asideName(n uint64) string {
	to := w.segmentPath(n) + corruptSuffix
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			return to
		}
		to = fmt.Sprintf("%s%s.%d", w.segmentPath(n), corruptSuffix, i)
	}
}
