package lineproto

import (
	"bytes"
	"os"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// telegrafBody returns testdata/telegraf.lp (Telegraf's cpu, mem, swap,
// system, disk, diskio, kernel, processes, net and temp output of three
// Pis) repeated to about n lines: a Telegraf batch (metric_batch_size is
// 1000 by default).
func telegrafBody(tb testing.TB, n int) []byte {
	tb.Helper()
	corpus, err := os.ReadFile("testdata/telegraf.lp")
	if err != nil {
		tb.Fatal(err)
	}
	lines := bytes.Count(corpus, []byte{'\n'})
	return bytes.Repeat(corpus, (n+lines-1)/lines)
}

func TestTelegrafCorpus(t *testing.T) {
	body := telegrafBody(t, 1)
	var p Parser
	pts, err := p.Parse(nil, body, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != bytes.Count(body, []byte{'\n'}) {
		t.Fatalf("got %d points from %d lines", len(pts), bytes.Count(body, []byte{'\n'}))
	}
	// Re-encoding gives the corpus back, except for float spellings.
	var out []byte
	for i := range pts {
		out = AppendPoint(out, &pts[i])
	}
	again, err := p.Parse(nil, out, now, 1)
	if err != nil || !equalPoints(again, pts) {
		t.Fatalf("re-encoded corpus parses differently: %v", err)
	}
}

// BenchmarkParse parses a Telegraf batch of about 1000 points with a
// reused Parser and output slice, as the write handler does.
func BenchmarkParse(b *testing.B) {
	body := telegrafBody(b, 1000)
	var p Parser
	pts, err := p.Parse(nil, body, now, 1)
	if err != nil {
		b.Fatal(err)
	}
	values := 0
	for _, pt := range pts {
		values += len(pt.Fields)
	}
	points := len(pts)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		pts, _ = p.Parse(pts[:0], body, now, 1)
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns/float64(points), "ns/point")
	b.ReportMetric(ns/float64(values), "ns/value")
	b.ReportMetric(float64(values)*1e9/ns, "values/s")
	// CPU time of the whole process is steadier than wall time on a shared
	// machine. It includes the garbage collector, whose idle workers also
	// soak up a free core, so it overstates the parser's own cost.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N)/float64(values), "cpu-ns/value")
	}
}

// BenchmarkScanBaseline only counts the '=' bytes of the same body: a
// yardstick for how fast this machine walks bytes at the moment, to read
// BenchmarkParse's numbers against on a busy or unknown machine.
func BenchmarkScanBaseline(b *testing.B) {
	body := string(telegrafBody(b, 1000))
	b.SetBytes(int64(len(body)))
	n := 0
	for b.Loop() {
		for i := 0; i < len(body); i++ {
			if body[i] == '=' {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no '=' in the corpus")
	}
}

// BenchmarkParseLine is one small line per call: the per-call overhead.
func BenchmarkParseLine(b *testing.B) {
	body := []byte("cpu,host=serverA,region=us-west value=1i 1000000000\n")
	var p Parser
	pts := make([]models.Point, 0, 1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		pts, _ = p.Parse(pts[:0], body, now, 1)
	}
}
