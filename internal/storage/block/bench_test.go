package block

import (
	"fmt"
	"github.com/herdmon/herd/internal/testutil"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// Realistic monitoring data: 100 series scraped every 10 s for 8 hours
// (2880 points each, so 3 chunks per field).
const (
	benchSeries = 100
	benchPoints = 2880
)

// benchData returns one field per series of the given kind:
//   - pct: a random walk in [0, 100] at full float64 precision, like
//     Telegraf's cpu usage_* and mem used_percent;
//   - pct2: the same rounded to two decimals, like values a script rounds;
//   - counter: an integer counter growing by a random amount per scrape,
//     like net bytes_recv;
//   - mixed: pct, pct2 and counter fields in every series.
func benchData(kind string) []testSeries {
	rng := rand.New(rand.NewPCG(42, 42))
	start := int64(1_767_225_600) * 1e9
	pct := func(round bool) Column {
		c := Column{Type: models.Float}
		v := 20 + 60*rng.Float64()
		for i := 0; i < benchPoints; i++ {
			c.Times = append(c.Times, start+int64(i)*10e9)
			v = math.Max(0, math.Min(100, v+rng.NormFloat64()*0.5))
			x := v
			if round {
				x = math.Round(v*100) / 100
			}
			c.Floats = append(c.Floats, x)
		}
		return c
	}
	counter := func() Column {
		c := Column{Type: models.Integer}
		v := rng.Int64N(1 << 40)
		for i := 0; i < benchPoints; i++ {
			c.Times = append(c.Times, start+int64(i)*10e9)
			v += 50_000 + rng.Int64N(20_000)
			c.Integers = append(c.Integers, v)
		}
		return c
	}
	var data []testSeries
	for s := 0; s < benchSeries; s++ {
		ts := testSeries{id: uint64(s*7 + 1)}
		switch kind {
		case "pct":
			ts.fields = []testField{{"value", pct(false)}}
		case "pct2":
			ts.fields = []testField{{"value", pct(true)}}
		case "counter":
			ts.fields = []testField{{"value", counter()}}
		case "mixed":
			ts.fields = []testField{{"bytes_recv", counter()}, {"load1", pct(true)}, {"usage_user", pct(false)}}
		}
		data = append(data, ts)
	}
	return data
}

func countValues(data []testSeries) int {
	n := 0
	for _, s := range data {
		for _, f := range s.fields {
			n += f.col.Len()
		}
	}
	return n
}

// reportCPU reports the benchmark goroutine's CPU time per value (or per
// series), which other processes on the machine do not inflate. It leaves
// out fsync waits and background GC work.
func reportCPU(b *testing.B, t0 testutil.CPUMark, n int) {
	if cpu, ok := t0.Elapsed(); ok {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/value")
	}
}

var benchKinds = []string{"pct", "pct2", "counter", "mixed"}

// BenchmarkWrite writes a whole file (including fsync and rename) and
// reports the time and the file bytes per value, with and without the
// zstd stage.
func BenchmarkWrite(b *testing.B) {
	for _, kind := range benchKinds {
		for _, z := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/zstd=%v", kind, z), func(b *testing.B) {
				defer func(old bool) { zstdStage = old }(zstdStage)
				zstdStage = z
				data := benchData(kind)
				values := countValues(data)
				path := filepath.Join(b.TempDir(), "b.blk")
				b.ReportAllocs()
				b.ResetTimer()
				t0 := testutil.StartCPU()
				for i := 0; i < b.N; i++ {
					writeFile(b, path, data)
				}
				reportCPU(b, t0, values)
				b.StopTimer()
				r, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(values), "ns/value")
				b.ReportMetric(float64(r.Size())/float64(values), "bytes/value")
			})
		}
	}
}

// BenchmarkReadChunk decodes every chunk of a file into a reused Column,
// as a query scanning all of it would.
func BenchmarkReadChunk(b *testing.B) {
	for _, kind := range benchKinds {
		for _, z := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/zstd=%v", kind, z), func(b *testing.B) {
				defer func(old bool) { zstdStage = old }(zstdStage)
				zstdStage = z
				data := benchData(kind)
				values := countValues(data)
				path := filepath.Join(b.TempDir(), "b.blk")
				writeFile(b, path, data)
				r, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				var metas []ChunkMeta
				for _, id := range r.SeriesIDs() {
					for _, f := range r.Fields(id) {
						metas = append(metas, f.Chunks...)
					}
				}
				var c Column
				b.ReportAllocs()
				b.ResetTimer()
				t0 := testutil.StartCPU()
				defer reportCPU(b, t0, values)
				for i := 0; i < b.N; i++ {
					for _, m := range metas {
						if err := r.ReadChunk(m, &c); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(values), "ns/value")
				b.ReportMetric(float64(r.Size())/float64(values), "bytes/value")
			})
		}
	}
}

// BenchmarkOpenFields opens a file of 10,000 series and looks up every
// series' fields: the cost a query pays per series per file.
func BenchmarkOpenFields(b *testing.B) {
	var data []testSeries
	for s := 0; s < 10_000; s++ {
		c := Column{Type: models.Float, Times: []int64{int64(s), int64(s) + 10e9}, Floats: []float64{1, 2}}
		data = append(data, testSeries{id: uint64(s) * 3, fields: []testField{{"a", c}, {"b", c}, {"c", c}}})
	}
	path := filepath.Join(b.TempDir(), "b.blk")
	writeFile(b, path, data)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := testutil.StartCPU()
	defer reportCPU(b, t0, 10_000)
	for i := 0; i < b.N; i++ {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, id := range r.SeriesIDs() {
			if len(r.Fields(id)) != 3 {
				b.Fatal("missing fields")
			}
		}
		r.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/series")
}
