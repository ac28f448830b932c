package index

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// benchSeries is a Telegraf-like population: n series over 10
// measurements, 100 hosts and a third tag with n/1000 values per host
// (cpu0..., /dev/sda1...), keys of 40-50 bytes.
type benchSeries struct {
	m    string
	tags models.Tags
	key  []byte
}

func makeSeries(n int) []benchSeries {
	out := make([]benchSeries, n)
	for i := range out {
		m := fmt.Sprintf("measurement%d", i%10)
		tags := models.Tags{
			{Key: "host", Value: fmt.Sprintf("host-%03d.lan", (i/10)%100)},
			{Key: "instance", Value: fmt.Sprintf("inst%d", i/1000)},
			{Key: "region", Value: "eu-west"},
		}
		out[i] = benchSeries{m, tags, models.AppendSeriesKey(nil, m, tags)}
	}
	return out
}

func fill(b *testing.B, ix *Index, all []benchSeries) {
	for _, s := range all {
		if _, _, err := ix.CreateSeries(s.key, s.m, s.tags); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateSeriesExisting is the write path's hot case: every point
// of an existing series resolves its id. It must not allocate.
func BenchmarkCreateSeriesExisting(b *testing.B) {
	all := makeSeries(100_000)
	ix := openT(b, b.TempDir(), Options{})
	defer ix.Close()
	fill(b, ix, all)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := &all[i%len(all)]
		if _, created, err := ix.CreateSeries(s.key, s.m, s.tags); created || err != nil {
			b.Fatal(created, err)
		}
	}
}

// BenchmarkCreateSeriesExistingParallel is the same with every core
// writing, to show the read lock does not serialize.
func BenchmarkCreateSeriesExistingParallel(b *testing.B) {
	all := makeSeries(100_000)
	ix := openT(b, b.TempDir(), Options{})
	defer ix.Close()
	fill(b, ix, all)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s := &all[i%len(all)]
			ix.CreateSeries(s.key, s.m, s.tags)
			i += 7
		}
	})
}

// BenchmarkCreateSeriesNew creates new series: "buffered" is the index's
// own cost (records written to the kernel every 64 KiB, no fsync); "sync
// every 10k" adds the Sync a block write would do, so it mostly measures
// the disk's fsync.
func BenchmarkCreateSeriesNew(b *testing.B) {
	all := makeSeries(1_000_000)
	for _, bc := range []struct {
		name      string
		syncEvery int
	}{{"buffered", 0}, {"sync every 10k", 10_000}} {
		b.Run(bc.name, func(b *testing.B) {
			ix := openT(b, b.TempDir(), Options{MaxSeries: -1})
			defer func() { ix.Close() }()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(all) {
					b.StopTimer()
					ix.Close()
					ix = openT(b, b.TempDir(), Options{MaxSeries: -1})
					i = 0
					b.StartTimer()
				}
				s := &all[i]
				if _, created, err := ix.CreateSeries(s.key, s.m, s.tags); !created || err != nil {
					b.Fatal(created, err)
				}
				if bc.syncEvery > 0 && i%bc.syncEvery == bc.syncEvery-1 {
					if err := ix.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
		})
	}
}

func BenchmarkTagValueSeries(b *testing.B) {
	ix := openT(b, b.TempDir(), Options{})
	defer ix.Close()
	fill(b, ix, makeSeries(100_000))
	for _, bc := range []struct {
		name, key, value string
	}{
		{"100 series", "host", "host-042.lan"},
		{"10k series", "region", "eu-west"},
		{"missing", "host", "nope"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n uint64
			for b.Loop() {
				n = ix.TagValueSeries("measurement3", bc.key, bc.value).GetCardinality()
			}
			b.ReportMetric(float64(n), "series")
		})
	}
}

func BenchmarkMatchTagValues(b *testing.B) {
	ix := openT(b, b.TempDir(), Options{})
	defer ix.Close()
	fill(b, ix, makeSeries(100_000))
	b.ReportAllocs()
	for b.Loop() {
		ix.MatchTagValues("measurement3", "host", func(v string) bool { return v[len(v)-5] == '1' })
	}
}

// BenchmarkMemoryPerSeries reports the heap the index keeps per series,
// for the Telegraf-like population and for one where a tag is unique per
// series (the worst case for posting lists).
func BenchmarkMemoryPerSeries(b *testing.B) {
	for _, bc := range []struct {
		name   string
		series []benchSeries
	}{
		{"telegraf-like", makeSeries(100_000)},
		{"unique tag", func() []benchSeries {
			all := makeSeries(100_000)
			for i := range all {
				all[i].tags = append(all[i].tags, models.Tag{Key: "uuid", Value: fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15)})
				all[i].key = models.AppendSeriesKey(nil, all[i].m, all[i].tags)
			}
			return all
		}()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var keyBytes int
			for _, s := range bc.series {
				keyBytes += len(s.key)
			}
			var perSeries float64
			for b.Loop() {
				dir := b.TempDir()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				ix := openT(b, dir, Options{})
				fill(b, ix, bc.series)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSeries = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(bc.series))
				ix.Close()
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perSeries, "bytes/series")
			b.ReportMetric(float64(keyBytes)/float64(len(bc.series)), "keybytes/series")
		})
	}
}

// BenchmarkOpen replays a log of 100k series: the start-up cost.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	ix := openT(b, dir, Options{})
	fill(b, ix, makeSeries(100_000))
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ix := openT(b, dir, Options{})
		ix.Close()
	}
	b.ReportMetric(100_000, "series")
}
