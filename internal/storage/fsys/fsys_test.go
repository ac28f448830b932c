package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
)

func TestFaultyFailsTheNthMatchingOperation(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		fails []bool // outcome of the 4 writes to a.log then b.log, alternating
	}{
		{"first write", Rule{Op: OpWrite, Nth: 1, Err: syscall.ENOSPC}, []bool{true, false, false, false}},
		{"third write", Rule{Op: OpWrite, Nth: 3, Err: syscall.EIO}, []bool{false, false, true, false}},
		{"second write to b only", Rule{Op: OpWrite, Path: regexp.MustCompile(`b\.log$`), Nth: 2, Err: syscall.EIO}, []bool{false, false, false, true}},
		{"twice from the second", Rule{Op: OpWrite, Nth: 2, Times: 2, Err: syscall.ENOSPC}, []bool{false, true, true, false}},
		{"every one from the second", Rule{Op: OpWrite, Nth: 2, Times: -1, Err: syscall.ENOSPC}, []bool{false, true, true, true}},
		{"other op kind", Rule{Op: OpSync, Nth: 1, Err: syscall.EIO}, []bool{false, false, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var fired []Event
			f := NewFaulty(nil, true, tc.rule)
			f.OnFault = func(ev Event, _ error) { fired = append(fired, ev) }
			var files []*os.File
			for _, name := range []string{"a.log", "b.log"} {
				file, err := f.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer file.Close()
				files = append(files, file)
			}
			want := 0
			for i, fail := range tc.fails {
				n, err := f.Write(files[i%2], []byte("abcd"))
				if fail {
					want++
					if !errors.Is(err, tc.rule.Err) {
						t.Fatalf("write %d: err %v, want %v", i, err, tc.rule.Err)
					}
					if n != 2 {
						t.Errorf("write %d: a failed write wrote %d bytes, want half (2)", i, n)
					}
				} else if err != nil || n != 4 {
					t.Fatalf("write %d: %d, %v; want 4, nil", i, n, err)
				}
			}
			if len(fired) != want {
				t.Errorf("OnFault called %d times, want %d", len(fired), want)
			}
			if got := len(f.Events()); got != 2+len(tc.fails) {
				t.Errorf("recorded %d events, want %d (2 opens and the writes)", got, 2+len(tc.fails))
			}
		})
	}
}

func TestFaultyClassifiesOperations(t *testing.T) {
	dir := t.TempDir()
	f := NewFaulty(nil, true)
	path := filepath.Join(dir, "x")
	file, err := f.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(file, []byte("xy"), 0)
	f.Sync(file)
	f.Truncate(file, 1)
	file.Close()
	ro, err := f.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	SyncDir(f, dir)
	f.Rename(path, path+"2")
	f.Link(path+"2", path+"3")
	f.Remove(path + "3")
	f.MkdirAll(filepath.Join(dir, "d"), 0o755)
	f.RemoveAll(filepath.Join(dir, "d"))
	want := []Event{{OpOpen, path}, {OpWrite, path}, {OpSync, path}, {OpTruncate, path}, {OpSyncDir, dir},
		{OpRename, path + "2"}, {OpRename, path + "3"}, {OpRemove, path + "3"}, {OpMkdir, filepath.Join(dir, "d")},
		{OpRemove, filepath.Join(dir, "d")}}
	got := f.Events()
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestFaultyErrorsLookLikeTheOSOnes(t *testing.T) {
	dir := t.TempDir()
	f := NewFaulty(nil, false, Rule{Op: OpRename, Nth: 1, Err: syscall.ENOSPC}, Rule{Op: OpOpen, Nth: 1, Err: syscall.EIO})
	_, err := f.OpenFile(filepath.Join(dir, "a"), os.O_CREATE|os.O_WRONLY, 0o644)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Err != syscall.EIO || pe.Path != filepath.Join(dir, "a") {
		t.Errorf("open: %v, want a *PathError with EIO", err)
	}
	err = f.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("rename: %v, want a *LinkError with ENOSPC", err)
	}
}

func TestParseOpRoundTrips(t *testing.T) {
	for o := OpOpen; o <= OpMkdir; o++ {
		got, err := ParseOp(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOp(%q) = %v, %v", o.String(), got, err)
		}
	}
	if _, err := ParseOp("fsync"); err == nil {
		t.Error("ParseOp accepted an unknown name")
	}
}
