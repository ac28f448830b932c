package wal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// diskModel remembers what the WAL made durable: each file's length at
// its last fsync and the directory entries at the last directory fsync.
// Lengths are kept per inode, not per name, because a repair writes a
// segment's new contents to a temporary file, fsyncs it and renames it
// over the segment: the synced length moves with the file.
// It lets a test "cut the power" in-process, in the spirit of LazyFS:
// everything not fsynced may be lost, partly written back, or zeroed.
type diskModel struct {
	mu      sync.Mutex
	synced  map[uint64]int64 // by inode
	entries map[string]bool
}

func (m *diskModel) hooks() hooks {
	return hooks{writeAt: osHooks.writeAt, sync: func(f *os.File) error {
		if err := f.Sync(); err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if fi.IsDir() {
			des, err := os.ReadDir(f.Name())
			if err != nil {
				return err
			}
			m.entries = map[string]bool{}
			for _, de := range des {
				m.entries[de.Name()] = true
			}
			return nil
		}
		m.synced[inode(fi)] = fi.Size()
		return nil
	}}
}

func inode(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }

// cut applies a power cut to dir: files whose creation was never made
// durable vanish; every other file keeps its synced prefix plus a random
// part of what was written after, which may come back zeroed.
func (m *diskModel) cut(t *testing.T, dir string, rng *rand.Rand) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		path := filepath.Join(dir, de.Name())
		if !m.entries[de.Name()] {
			os.Remove(path)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		synced := min(m.synced[inode(fi)], int64(len(data)))
		keep := synced + rng.Int64N(int64(len(data))-synced+1)
		data = data[:keep]
		if keep > synced && rng.IntN(3) == 0 {
			from := synced + rng.Int64N(keep-synced)
			clear(data[from:])
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSimulatedPowerLoss: after a power cut, every record whose Append
// returned (FsyncDelay 0) is replayed, and what is replayed is, per
// writer, a gap-free prefix of what it appended: nothing is invented.
func TestSimulatedPowerLoss(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		delay time.Duration
		seed  uint64
	}{
		{name: "fsync each batch", seed: 1},
		{name: "fsync each batch again", seed: 2},
		{name: "fsync delay loses only unsynced", delay: time.Millisecond, seed: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			dir := t.TempDir()
			m := &diskModel{synced: map[uint64]int64{}}
			const writers = 4
			acked := make([]int, writers) // records acknowledged per writer, over all rounds
			for round := range 4 {
				w := openTest(t, Options{Dir: dir, SegmentSize: 2 << 10, FsyncDelay: tc.delay}, m.hooks())
				got := make([]int, writers)
				for _, rec := range replayAll(t, w) {
					var g, i int
					if _, err := fmt.Sscanf(string(rec), "%d %d", &g, &i); err != nil || g >= writers {
						t.Fatalf("round %d: garbage record %.30q", round, rec)
					}
					if i != got[g] {
						t.Fatalf("round %d: writer %d record %d replayed after %d: a hole", round, g, i, got[g])
					}
					got[g]++
				}
				for g := range writers {
					if tc.delay == 0 && got[g] < acked[g] {
						t.Fatalf("round %d: writer %d: %d records replayed, %d were acknowledged", round, g, got[g], acked[g])
					}
					acked[g] = got[g] // later rounds continue after what survived
				}
				var wg sync.WaitGroup
				for g := range writers {
					n := 20 + rng.IntN(60)
					wg.Go(func() {
						for range n {
							rec := fmt.Appendf(nil, "%d %d %s", g, acked[g], bytes.Repeat([]byte{'v'}, 10+acked[g]%50))
							if err := w.Append(rec); err != nil {
								t.Errorf("append: %v", err)
								return
							}
							acked[g]++
						}
					})
				}
				wg.Wait()
				// Closing with nothing queued only closes the file: the
				// durable state is what the appends left.
				if tc.delay > 0 {
					w.mu.Lock()
					w.closing = true // stop Close from fsyncing: the power is gone
					w.mu.Unlock()
					close(w.stop)
					<-w.syncerDone
					w.file.Close()
				} else {
					mustClose(t, w)
				}
				m.cut(t, dir, rng)
			}
		})
	}
}
