package wal

import (
	"errors"
	"regexp"
	"syscall"
	"testing"

	"github.com/herdmon/herd/internal/storage/fsys"
)

// TestRecordWithFailedFsyncIsNotReplayed: a record whose fsync failed was
// answered with an error, so a restart must not bring it back, although
// its bytes reached the file (the page cache keeps them over a kill -9).
// It also checks that Options.FS reaches the WAL's writes and fsyncs.
func TestRecordWithFailedFsyncIsNotReplayed(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			dir := t.TempDir()
			good := makeRecords(4, 20)
			// Open fsyncs the first segment; each append fsyncs once more.
			ffs := fsys.NewFaulty(nil, true, fsys.Rule{Op: fsys.OpSync, Path: regexp.MustCompile(`/\d+$`), Nth: 2 + len(good), Err: errno})
			w, err := Open(Options{Dir: dir, FS: ffs, Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			appendAll(t, w, good)
			if err := w.Append([]byte("refused")); !errors.Is(err, ErrFatal) || !errors.Is(err, errno) {
				t.Fatalf("append with a failing fsync: %v, want ErrFatal wrapping %v", err, errno)
			}
			writes := 0
			for _, ev := range ffs.Events() {
				if ev.Op == fsys.OpWrite {
					writes++
				}
			}
			if writes != 1+len(good)+1 {
				t.Errorf("the FS saw %d writes, want the header and %d records", writes, len(good)+1)
			}
			w.Close()

			w = openTest(t, Options{Dir: dir}, osHooks)
			got := replayAll(t, w)
			if len(got) != len(good) {
				t.Fatalf("replayed %d records, want the %d acknowledged ones", len(got), len(good))
			}
			equalRecords(t, got, good)
			mustClose(t, w)
		})
	}
}
