package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures group commit: writers goroutines append
// records of size bytes, each Append waiting for its fsync. fsyncs/record
// below 1 is fsyncs shared between writers.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 10} {
		for _, writers := range []int{1, 2, 8, 32} {
			for _, delay := range []time.Duration{0, 100 * time.Millisecond} {
				name := fmt.Sprintf("size=%dKiB/writers=%d/fsyncdelay=%v", size>>10, writers, delay)
				b.Run(name, func(b *testing.B) { benchAppend(b, size, writers, delay) })
			}
		}
	}
}

func benchAppend(b *testing.B, size, writers int, delay time.Duration) {
	w, err := open(Options{Dir: b.TempDir(), FsyncDelay: delay, Logger: quietLogger}, osHooks)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte(i * 13)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	before := w.Stats()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range writers {
		n := b.N / writers
		if g < b.N%writers {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := w.Append(rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	after := w.Stats()
	b.ReportMetric(float64(after.Fsyncs-before.Fsyncs)/float64(b.N), "fsyncs/record")
	b.ReportMetric(float64(after.BytesWritten-before.BytesWritten)/float64(b.N), "diskbytes/record")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawFsync is the floor under BenchmarkAppend: one 64 KiB write
// and one fsync per op on this machine's disk, with no WAL around it.
func BenchmarkRawFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplay measures recovery speed over a 32 MiB log of 4 KiB records.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	w, err := open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 4<<10)
	const n = 8 << 10
	for range n {
		if err := w.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	b.ReportAllocs()
	b.SetBytes(n * int64(len(rec)))
	for b.Loop() {
		w, err := open(Options{Dir: dir, Logger: quietLogger}, noSyncHooks)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Replay(func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		w.Close()
		// Open adds an empty segment each time; drop it so every run reads the same log.
		segs := w.Segments()
		os.Remove(filepath.Join(dir, segmentName(segs[len(segs)-1])))
	}
}
