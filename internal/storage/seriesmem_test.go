package storage

import (
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/benchgen"
	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

// seriesMemory is what one series costs, measured by measureSeries.
type seriesMemory struct {
	series int
	// keyBytes is the mean length of a series key.
	keyBytes float64
	// heapWithHead is the heap per series while its one point is in the
	// head; heapFlushed after the head went to a block file, which is
	// what series cost for as long as they exist.
	heapWithHead, heapFlushed float64
	// headAccounted is the head's own estimate per series (headBytes,
	// what head-max-bytes is compared with).
	headAccounted float64
	// indexDisk is the index log's size per series; blockDisk the block
	// files' (one point per series).
	indexDisk, blockDisk float64
}

// measureSeries writes one Telegraf report (benchgen's devops data: cpu,
// mem, disk, diskio, net, system, processes, kernel, swap) from enough
// hosts to create about n series, and measures the heap through
// runtime.MemStats after forced collections.
func measureSeries(t testing.TB, dir string, n int) seriesMemory {
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	gen, err := benchgen.NewGenerator(benchgen.Config{Hosts: 1, Steps: 1, Start: time.Now().Add(-time.Hour), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	hosts := max(1, n/gen.SeriesPerHost(0))
	gen, err = benchgen.NewGenerator(benchgen.Config{Hosts: hosts, Steps: 1, Start: time.Now().Add(-time.Hour), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{Dir: dir, MaxSeriesPerDatabase: -1, HeadMaxBytes: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.CreateDatabase("telegraf"); err != nil {
		t.Fatal(err)
	}
	before := heap()
	// The input goes in small batches through reused buffers, so that
	// the heap holds what the engine keeps, not the input.
	var (
		p        lineproto.Parser
		body     []byte
		points   []models.Point
		key      []byte
		keyBytes int
	)
	for !gen.Done() {
		body, _, _ = gen.Append(body[:0], 2000)
		if points, err = p.Parse(points[:0], body, time.Now().UnixNano(), 1); err != nil {
			t.Fatal(err)
		}
		for i := range points {
			key = models.AppendSeriesKey(key[:0], points[i].Measurement, points[i].Tags)
			keyBytes += len(key)
		}
		if err := e.WriteBatch(&models.Batch{Database: "telegraf", Points: points}); err != nil {
			t.Fatal(err)
		}
	}
	p, body, points, key = lineproto.Parser{}, nil, nil, nil
	withHead := heap()
	headAccounted := e.headBytes.Load()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	flushed := heap()
	runtime.KeepAlive(gen) // allocated before the first measurement
	series := int(e.Statistics()["series"])
	f := float64(series)
	return seriesMemory{
		series:        series,
		keyBytes:      float64(keyBytes) / f,
		heapWithHead:  float64(withHead-before) / f,
		heapFlushed:   float64(flushed-before) / f,
		headAccounted: float64(headAccounted) / f,
		indexDisk:     float64(dirSize(dir+"/data/telegraf/index")) / f,
		blockDisk:     float64(dirSize(dir+"/data/telegraf")-dirSize(dir+"/data/telegraf/index")) / f,
	}
}

// BenchmarkSeriesMemory reports what a series costs in memory and on
// disk (docs/server.md quotes it; config.SeriesMemoryBytes is derived
// from it):
//
//	go test -run '^$' -bench SeriesMemory -benchtime 1x ./internal/storage/
func BenchmarkSeriesMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) {
			var m seriesMemory
			for b.Loop() {
				m = measureSeries(b, b.TempDir(), n)
			}
			b.ReportMetric(float64(m.series), "series")
			b.ReportMetric(m.keyBytes, "keyB/series")
			b.ReportMetric(m.heapWithHead, "heapB/series(head)")
			b.ReportMetric(m.heapFlushed, "heapB/series")
			b.ReportMetric(m.headAccounted, "headbytesB/series")
			b.ReportMetric(m.indexDisk, "indexdiskB/series")
			b.ReportMetric(m.blockDisk, "blockdiskB/series")
		})
	}
}

// TestFlushReleasesHead: once a head is in a block file nothing may
// keep it reachable. A stale pointer left in the frozen list's backing
// array kept every flushed head alive until the next flush, doubling the
// memory head-max-bytes is meant to bound.
func TestFlushReleasesHead(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	for round := range 3 {
		must(t, e.WriteBatch(&models.Batch{Database: "db", Points: hostPoints("a", "b", "c")}))
		must(t, e.Flush())
		for _, list := range e.dbs["db"].shards {
			for _, s := range list {
				s.mu.RLock()
				for i, h := range s.frozen[:cap(s.frozen)] {
					if h != nil {
						t.Errorf("round %d: frozen slot %d still holds a head of %d bytes after the flush", round, i, h.bytes)
					}
				}
				s.mu.RUnlock()
			}
		}
	}
}
