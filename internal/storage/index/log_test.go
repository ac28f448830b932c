package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{})
	for i := range 3000 {
		mustCreate(t, ix, fmt.Sprintf("m %d", i%7), "host", fmt.Sprintf("h,%d", i%100), "n", fmt.Sprint(i))
		if i == 1000 {
			if err := ix.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := dump(ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openT(t, dir, Options{})
	defer ix.Close()
	if after := dump(ix); after != before {
		t.Fatalf("state changed across restart")
	}
	if id := mustCreate(t, ix, "new"); id != 3001 {
		t.Fatalf("first id after restart = %d, want 3001", id)
	}
}

// TestCrashBeforeSync simulates a power cut: only what Sync made durable
// survives, and the engine's WAL replay, creating the lost series again
// in the same order, gets the same ids.
func TestCrashBeforeSync(t *testing.T) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{})
	defer ix.Close()
	a := mustCreate(t, ix, "cpu", "host", "a")
	b := mustCreate(t, ix, "cpu", "host", "b")
	if err := ix.Sync(); err != nil {
		t.Fatal(err)
	}
	c := mustCreate(t, ix, "cpu", "host", "c")
	d := mustCreate(t, ix, "mem", "host", "d")

	crashed := t.TempDir()
	writeLog(t, crashed, logBytes(t, dir)) // what reached the disk
	ix2 := openT(t, crashed, Options{})
	defer ix2.Close()
	if n := ix2.SeriesCount(); n != 2 {
		t.Fatalf("series after the crash = %d, want the 2 synced", n)
	}
	for _, want := range []struct {
		id uint64
		m  string
		kv []string
	}{{a, "cpu", []string{"host", "a"}}, {b, "cpu", []string{"host", "b"}}, {c, "cpu", []string{"host", "c"}}, {d, "mem", []string{"host", "d"}}} {
		if got := mustCreate(t, ix2, want.m, want.kv...); got != want.id {
			t.Errorf("replayed %s %v got id %d, want %d", want.m, want.kv, got, want.id)
		}
	}
	if dump(ix2) != dump(ix) {
		t.Errorf("replayed index differs:\n%s\nwant:\n%s", dump(ix2), dump(ix))
	}
}

// tornLog builds a small log and returns its bytes, the file size after
// each operation (boundaries[0] is the bare header) and the state after
// each.
func tornLog(t *testing.T) (full []byte, boundaries []int, states []string) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{})
	ops := []func() error{
		func() error { mustCreate(t, ix, "cpu", "host", "a"); return nil },
		func() error { mustCreate(t, ix, "cpu", "host", "b"); return nil },
		func() error { mustCreate(t, ix, "mem", "host", "a", "region", "eu"); return nil },
		func() error { return ix.DeleteSeries(bm(2)) },
		func() error { mustCreate(t, ix, "disk io", "path", "/a,b"); return nil },
		func() error { return ix.DeleteSeries(bm(1, 3)) },
		func() error { mustCreate(t, ix, "cpu", "host", "c"); return nil },
	}
	boundaries = append(boundaries, len(logBytes(t, dir)))
	states = append(states, dump(ix))
	for _, op := range ops {
		if err := op(); err != nil {
			t.Fatal(err)
		}
		if err := ix.Sync(); err != nil {
			t.Fatal(err)
		}
		boundaries = append(boundaries, len(logBytes(t, dir)))
		states = append(states, dump(ix))
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	return logBytes(t, dir), boundaries, states
}

// survivors is how many operations lie wholly before offset.
func survivors(boundaries []int, offset int) int {
	k := 0
	for i, b := range boundaries[1:] {
		if b <= offset {
			k = i + 1
		}
	}
	return k
}

func TestTornTail(t *testing.T) {
	noFsync(t)
	full, boundaries, states := tornLog(t)
	for cut := 0; cut <= len(full); cut++ {
		dir := t.TempDir()
		writeLog(t, dir, full[:cut])
		ix := openT(t, dir, Options{})
		k := survivors(boundaries, cut)
		if got := dump(ix); got != states[k] {
			t.Fatalf("cut at %d: state\n%s\nwant the first %d operations:\n%s", cut, got, k, states[k])
		}
		if size := len(logBytes(t, dir)); size != boundaries[k] {
			t.Fatalf("cut at %d: log is %d bytes after repair, want %d", cut, size, boundaries[k])
		}
		// The repaired log takes new records and reopens the same.
		mustCreate(t, ix, "after", "cut", fmt.Sprint(cut))
		want := dump(ix)
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		ix = openT(t, dir, Options{})
		if got := dump(ix); got != want {
			t.Fatalf("cut at %d: reopen after repair:\n%s\nwant:\n%s", cut, got, want)
		}
		ix.Close()
	}
}

func TestCorruptByte(t *testing.T) {
	noFsync(t)
	full, boundaries, states := tornLog(t)
	for off := range full {
		dir := t.TempDir()
		bad := bytes.Clone(full)
		bad[off] ^= 0x5a
		writeLog(t, dir, bad)
		ix, err := Open(dir, Options{Logger: quiet})
		if off < headerLen {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d in the header: err = %v, want ErrCorrupt", off, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("flip at %d: %v", off, err)
		}
		k := survivors(boundaries, off)
		if got := dump(ix); got != states[k] {
			t.Fatalf("flip at %d: state\n%s\nwant the first %d operations:\n%s", off, got, k, states[k])
		}
		ix.Close()
	}
}

func TestOpenEdgeCases(t *testing.T) {
	valid, _, _ := tornLog(t)
	tests := []struct {
		name    string
		log     []byte // nil: no file
		tmp     bool   // leave a compaction temp file behind
		wantErr error
		count   int
	}{
		{name: "no log", count: 0},
		{name: "empty log", log: []byte{}, count: 0},
		{name: "zeroed header only", log: make([]byte, headerLen), count: 0},
		{name: "zeroed header and more", log: make([]byte, headerLen+1), wantErr: ErrCorrupt},
		{name: "foreign file", log: []byte("this is not an index log, it is longer than a header"), wantErr: ErrCorrupt},
		{name: "stale temp file", log: valid, tmp: true, count: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.log != nil {
				writeLog(t, dir, tt.log)
			}
			if tt.tmp {
				if err := os.WriteFile(filepath.Join(dir, tmpName), []byte("half a compaction"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ix, err := Open(dir, Options{Logger: quiet})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open: err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer ix.Close()
			if n := ix.SeriesCount(); n != tt.count {
				t.Errorf("SeriesCount = %d, want %d", n, tt.count)
			}
			if _, err := os.Stat(filepath.Join(dir, tmpName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp file left: %v", err)
			}
		})
	}
}

func TestDeleteCompactReopen(t *testing.T) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{})
	const n = 3000
	for i := range n {
		mustCreate(t, ix, fmt.Sprintf("m%d", i%3), "host", fmt.Sprintf("host-%04d", i), "region", "europe-west-1")
	}
	if err := ix.Sync(); err != nil {
		t.Fatal(err)
	}
	full := len(logBytes(t, dir))
	if err := ix.DropMeasurement("m0"); err != nil {
		t.Fatal(err)
	}
	if size := len(logBytes(t, dir)); size < full {
		t.Fatalf("one third deleted: log %d bytes, compacted too early? (was %d)", size, full)
	}
	del := ix.MeasurementSeries("m1")
	del.RemoveRange(0, 1500) // keep the first half of m1
	if err := ix.DeleteSeries(del); err != nil {
		t.Fatal(err)
	}
	live := ix.SeriesCount()
	if size := len(logBytes(t, dir)); size > headerLen+live*createRecordSize(n, 40) {
		t.Fatalf("log %d bytes for %d live series: not compacted (was %d)", size, live, full)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file left after compaction: %v", err)
	}
	// Creating after a compaction appends to the new log.
	if id := mustCreate(t, ix, "m0", "host", "again"); id != n+1 {
		t.Fatalf("id after compaction = %d, want %d", id, n+1)
	}
	before := dump(ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openT(t, dir, Options{})
	if after := dump(ix); after != before {
		t.Fatalf("state after compaction and reopen differs:\n%.2000s\nwant:\n%.2000s", after, before)
	}
	// Delete everything and compact: the next id survives in the header.
	if err := ix.DeleteSeries(ix.MeasurementSeries("m0")); err != nil {
		t.Fatal(err)
	}
	for _, m := range ix.Measurements() {
		if err := ix.DropMeasurement(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Compact(); err != nil {
		t.Fatal(err)
	}
	if size := len(logBytes(t, dir)); size != headerLen {
		t.Fatalf("empty index: log %d bytes, want %d", size, headerLen)
	}
	ix.Close()
	ix = openT(t, dir, Options{})
	defer ix.Close()
	if c := ix.SeriesCount(); c != 0 {
		t.Fatalf("SeriesCount = %d", c)
	}
	if id := mustCreate(t, ix, "m0", "host", "again"); id != n+2 {
		t.Fatalf("id after deleting all = %d, want %d (ids are never reused)", id, n+2)
	}
}

// TestFlushWithoutSync checks that a burst of new series reaches the
// kernel in flushSize pieces, before any Sync.
func TestFlushWithoutSync(t *testing.T) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{})
	defer ix.Close()
	var i int
	for len(logBytes(t, dir)) == headerLen {
		mustCreate(t, ix, "cpu", "n", fmt.Sprint(i))
		i++
		if i > flushSize {
			t.Fatal("nothing written without Sync")
		}
	}
	if len(ix.pending) != 0 || ix.size < flushSize {
		t.Fatalf("pending %d, written %d", len(ix.pending), ix.size)
	}
}

// FuzzOpen opens arbitrary bytes as a log: it must never panic, and
// whatever it accepts must be consistent, writable and reopen the same.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	ix, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	for i := range 5 {
		tags := tagsOf("host", fmt.Sprint(i), "p", "a b,c")
		ix.CreateSeries(models.AppendSeriesKey(nil, "cpu", tags), "cpu", tags)
	}
	ix.DeleteSeries(bm(2, 4))
	ix.Close()
	valid := logBytes(f, dir)
	f.Add(valid)
	f.Add(valid[:headerLen])
	f.Add(valid[:len(valid)-3])
	f.Add(append(bytes.Clone(valid[:headerLen]), 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1))
	f.Add(append(bytes.Clone(valid[:headerLen]), 2, 3, 5, 1, 1, 0, 0, 0, 0))
	f.Add([]byte{})
	noFsync(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		writeLog(t, dir, data)
		checkOpened(t, dir)
	})
}

// FuzzOpenRecords replays records with valid framing and checksums but
// arbitrary content (types, ids, keys, delete lists), which FuzzOpen
// rarely reaches through a checksum. data is a list of (type, length,
// payload) with one-byte type and length.
func FuzzOpenRecords(f *testing.F) {
	create := func(id byte, key string) []byte { return append([]byte{recCreate, byte(1 + len(key)), id}, key...) }
	f.Add(slices.Concat(create(1, "cpu,host=a"), create(2, "cpu,host=b"), []byte{recDelete, 2, 1, 2}))
	f.Add(slices.Concat(create(1, "cpu,host=a"), create(1, "cpu,host=b"), create(3, "cpu,host=a")))
	f.Add(slices.Concat(create(5, `m\ x,k=v\,w`), []byte{recDelete, 3, 2, 5, 0}, create(0, "z")))
	f.Add([]byte{recDelete, 4, 3, 1, 1, 1, 9, 1, 0})
	noFsync(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		log := appendHeader(nil, 1)
		for len(data) >= 2 {
			typ, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			start := len(log)
			log = append(log, typ)
			log = binary.AppendUvarint(log, uint64(n))
			log = append(log, data[:n]...)
			log = binary.LittleEndian.AppendUint32(log, crc32.Checksum(log[start:], castagnoli))
			data = data[n:]
		}
		dir := t.TempDir()
		writeLog(t, dir, log)
		checkOpened(t, dir)
	})
}

// checkOpened opens the log in dir: it must not panic, fail only with
// ErrCorrupt, and whatever it accepts must be consistent, writable and
// reopen the same.
func checkOpened(t *testing.T, dir string) {
	t.Helper()
	ix, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open failed with an unexpected error: %v", err)
		}
		return
	}
	total := 0
	for _, m := range ix.Measurements() {
		ms := ix.MeasurementSeries(m)
		total += int(ms.GetCardinality())
		it := ms.Iterator()
		for it.HasNext() {
			id := uint64(it.Next())
			k, ok := ix.SeriesKey(id)
			if got, found := ix.Lookup([]byte(k)); !ok || !found || got != id {
				t.Fatalf("series %d key %q: lookup %d %v", id, k, got, found)
			}
		}
	}
	if total != ix.SeriesCount() {
		t.Fatalf("measurements hold %d series, SeriesCount %d", total, ix.SeriesCount())
	}
	if _, _, err := ix.CreateSeries([]byte("fuzz,k=v"), "fuzz", tagsOf("k", "v")); err != nil && !errors.Is(err, ErrIDsExhausted) {
		t.Fatalf("CreateSeries after Open: %v", err)
	}
	want := dump(ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(dir, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer ix.Close()
	if got := dump(ix); got != want {
		t.Fatalf("reopen changed the state:\n%s\nwant:\n%s", got, want)
	}
}

// TestFsyncFailure checks that a failed fsync is permanent: the kernel may
// have dropped the pages it could not write, so a retry that "succeeds"
// would lie.
func TestFsyncFailure(t *testing.T) {
	ix := openT(t, t.TempDir(), Options{})
	mustCreate(t, ix, "cpu", "host", "a")
	saved := fileSync
	fileSync = func(*os.File) error { return errors.New("EIO") }
	defer func() { fileSync = saved }()
	if err := ix.Sync(); err == nil {
		t.Fatal("Sync succeeded with a failing fsync")
	}
	fileSync = saved
	if err := ix.Sync(); err == nil {
		t.Fatal("Sync succeeded after an earlier fsync failure")
	}
	// New series are still taken (the engine's WAL holds their points),
	// but they cannot be made durable until a restart.
	if _, created, err := ix.CreateSeries([]byte("cpu,host=b"), "cpu", tagsOf("host", "b")); err != nil || !created {
		t.Fatalf("new series after an fsync failure: created %v, %v", created, err)
	}
	if err := ix.Sync(); err == nil {
		t.Fatal("Sync of a new series succeeded after an earlier fsync failure")
	}
	if id, _, err := ix.CreateSeries([]byte("cpu,host=a"), "cpu", tagsOf("host", "a")); err != nil || id != 1 {
		t.Fatalf("existing series after an fsync failure: %d %v", id, err)
	}
	if err := ix.Close(); err == nil {
		t.Fatal("Close hid the fsync failure")
	}
}

// TestOpenCompacts replays a log that is mostly garbage (as a crash
// between a delete and its compaction leaves it) and checks that Open
// compacts it and keeps the next id.
func TestOpenCompacts(t *testing.T) {
	dir := t.TempDir()
	log := appendHeader(nil, 1)
	var del []uint32
	for id := uint32(1); id <= 3000; id++ {
		log = appendCreateRecord(log, id, fmt.Sprintf("cpu,host=host-%06d,region=europe-west-1", id))
		if id%3 != 0 {
			del = append(del, id)
		}
	}
	log = appendDeleteRecord(log, del)
	writeLog(t, dir, log)
	ix := openT(t, dir, Options{})
	defer ix.Close()
	if n := ix.SeriesCount(); n != 1000 {
		t.Fatalf("SeriesCount = %d, want 1000", n)
	}
	if size, full := len(logBytes(t, dir)), len(log); size*2 > full {
		t.Fatalf("log is %d bytes after Open, was %d: not compacted", size, full)
	}
	if id := mustCreate(t, ix, "cpu", "host", "new"); id != 3001 {
		t.Fatalf("id after compaction on Open = %d, want 3001", id)
	}
	if k, _ := ix.SeriesKey(3000); k != "cpu,host=host-003000,region=europe-west-1" {
		t.Fatalf("SeriesKey(3000) = %q", k)
	}
}
