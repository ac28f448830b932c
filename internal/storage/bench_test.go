package storage

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// benchBatches makes batches of realistic cpu points: hosts × 9 cpus,
// 10 usage fields each, every 10 s, random walks with two decimals.
func benchBatches(hosts, steps, batchSize int) [][]models.Point {
	r := rand.New(rand.NewSource(1))
	fieldNames := []string{"usage_guest", "usage_guest_nice", "usage_idle", "usage_iowait", "usage_irq", "usage_nice", "usage_softirq", "usage_steal", "usage_system", "usage_user"}
	type walk struct{ v [10]float64 }
	walks := make([]walk, hosts*9)
	var all []models.Point
	t0 := int64(1_700_000_000) * 1e9
	for s := 0; s < steps; s++ {
		for h := 0; h < hosts; h++ {
			for c := 0; c < 9; c++ {
				cpu := "cpu-total"
				if c > 0 {
					cpu = "cpu" + strconv.Itoa(c-1)
				}
				w := &walks[h*9+c]
				fields := make([]models.Field, 10)
				for i := range fields {
					w.v[i] += r.Float64() - 0.5
					if w.v[i] < 0 {
						w.v[i] = -w.v[i]
					}
					fields[i] = models.FloatField(fieldNames[i], float64(int(w.v[i]*100))/100)
				}
				all = append(all, models.Point{Measurement: "cpu",
					Tags:   models.Tags{{Key: "cpu", Value: cpu}, {Key: "host", Value: fmt.Sprintf("host_%d", h)}},
					Fields: fields, Time: t0 + int64(s)*10e9})
			}
		}
	}
	var out [][]models.Point
	for len(all) > 0 {
		n := min(batchSize, len(all))
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

func procWriteBytes() int64 {
	b, _ := os.ReadFile("/proc/self/io")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// BenchmarkWriteBatch measures ingestion through the engine with two
// concurrent writers (fsync per commit group), and reports values/s,
// bytes written to disk per value and disk bytes per value after flush.
func BenchmarkWriteBatch(b *testing.B) {
	for _, writers := range []int{2, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { benchWrite(b, writers) })
	}
}

// BenchmarkWALStreamRestart measures what restarting the WAL's zstd
// stream costs (wal-B/value) at several restart intervals; 0 KiB never
// restarts (only at rolls).
func BenchmarkWALStreamRestart(b *testing.B) {
	for _, restart := range []int{-1, 64 << 10, 1 << 20, walStreamRestartBytes, 16 << 20} {
		b.Run(fmt.Sprintf("restart=%dKiB", max(restart, 0)>>10), func(b *testing.B) {
			// Small batches (one host's cpu points), as Telegraf sends; FsyncDelay
			// keeps the run short (and records small: one or two batches).
			benchWriteOpts(b, 2, 45, func(o *Options) { o.streamRestartBytes = restart; o.FsyncDelay = 100 * time.Millisecond })
		})
	}
}

func benchWrite(b *testing.B, writers int) { benchWriteOpts(b, writers, 5000, nil) }

func benchWriteOpts(b *testing.B, writers, batchSize int, mod func(*Options)) {
	batches := benchBatches(100, 60, batchSize)
	values := 0
	for _, bt := range batches {
		for _, p := range bt {
			values += len(p.Fields)
		}
	}
	b.ReportAllocs()
	var written, disk, total, walBytes int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		opts := Options{Dir: dir, FsyncDelay: benchFsyncDelay, DiskReserve: -1} // disk-B/value counts data only
		if mod != nil {
			mod(&opts)
		}
		e, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		e.CreateDatabase("db")
		w0 := procWriteBytes()
		b.StartTimer()
		var wg sync.WaitGroup
		next := make(chan []models.Point)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for pts := range next {
					if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		for _, bt := range batches {
			next <- bt
		}
		close(next)
		wg.Wait()
		b.StopTimer()
		walBytes += int64(e.wal.Stats().BytesWritten)
		e.Close()
		written += procWriteBytes() - w0
		disk += dirSize(dir)
		total += int64(values)
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "values/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/value")
	b.ReportMetric(float64(written)/float64(total), "written-B/value")
	b.ReportMetric(float64(disk)/float64(total), "disk-B/value")
	b.ReportMetric(float64(walBytes)/float64(total), "wal-B/value")
}

var benchFsyncDelay, _ = time.ParseDuration(os.Getenv("HERD_BENCH_FSYNC_DELAY"))
