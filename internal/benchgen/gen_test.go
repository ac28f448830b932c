package benchgen

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

var testStart = time.Date(2026, 11, 27, 0, 0, 3, 0, time.UTC)

func generate(t testing.TB, cfg Config, batch int) []byte {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for !g.Done() {
		var n int
		out, n, _ = g.Append(out, batch)
		if n == 0 {
			t.Fatal("Append made no progress before Done")
		}
	}
	return out
}

func parseAll(t *testing.T, body []byte) []models.Point {
	t.Helper()
	var p lineproto.Parser
	pts, err := p.Parse(nil, body, 0, 1)
	if err != nil {
		t.Fatalf("generated line protocol does not parse: %v", err)
	}
	// Parser reuses its Tags/Fields arrays only on the next Parse, which
	// never comes: the points stay valid.
	return pts
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Hosts: 3, Start: testStart, Steps: 20, Seed: 7}
	a := generate(t, cfg, 1000)
	for _, batch := range []int{1, 7, 19, 5000} {
		if b := generate(t, cfg, batch); !bytes.Equal(a, b) {
			t.Fatalf("batch size %d changed the data", batch)
		}
	}
	cfg.Seed = 8
	if bytes.Equal(a, generate(t, cfg, 1000)) {
		t.Fatal("a different seed gave the same data")
	}
	// A host's data does not depend on how many hosts there are.
	cfg.Seed, cfg.Hosts = 7, 1
	one := generate(t, cfg, 1000)
	first := strings.SplitAfter(string(a), "\n")
	var host0 []string
	for _, l := range first {
		if strings.Contains(l, "host=host_0,") {
			host0 = append(host0, l)
		}
	}
	if strings.Join(host0, "") != string(one) {
		t.Fatal("host_0's data changed with the number of hosts")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Hosts: 0, Steps: 1},
		{Hosts: 1, Steps: 0},
		{Hosts: 1, Steps: 1, Interval: -time.Second},
	} {
		if _, err := NewGenerator(cfg); err == nil {
			t.Errorf("NewGenerator(%+v) = nil error", cfg)
		}
	}
}

// TestShape parses the data back and checks what a dashboard relies on:
// every line valid and byte-identical to lineproto.AppendPoint of the
// parsed point, stable field sets and types, aligned timestamps, counters
// that never go back and percentages within bounds.
func TestShape(t *testing.T) {
	const hosts, steps = 3, 150
	cfg := Config{Hosts: hosts, Start: testStart, Steps: steps, Seed: 1}
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	for !g.Done() {
		body, _, _ = g.Append(body, 1000)
	}
	pts := parseAll(t, body)
	counts := g.Counts()
	if int64(len(pts)) != counts.Points {
		t.Fatalf("parsed %d points, generator counted %d", len(pts), counts.Points)
	}
	wantPerStep := 0
	for h := range hosts {
		wantPerStep += g.SeriesPerHost(h)
	}
	if len(pts) != wantPerStep*steps {
		t.Fatalf("got %d points, want %d", len(pts), wantPerStep*steps)
	}

	lines := strings.SplitAfter(string(body), "\n")
	start := testStart.Truncate(DefaultInterval).UnixNano()
	type fieldID struct{ measurement, key string }
	types := map[fieldID]models.FieldType{}
	fieldCount := map[string]int{}
	last := map[string]map[string]int64{} // series -> counter field -> last value
	var values int64
	for i, p := range pts {
		if got := string(lineproto.AppendPoint(nil, &p)); got != lines[i] {
			t.Fatalf("line %d differs from AppendPoint:\n got %q\nwant %q", i+1, lines[i], got)
		}
		if p.Time < start || p.Time >= g.End().UnixNano() || (p.Time-start)%int64(DefaultInterval) != 0 {
			t.Fatalf("line %d: timestamp %d not on the 10 s grid from %d", i+1, p.Time, start)
		}
		step := int((p.Time - start) / int64(DefaultInterval))
		if i/wantPerStep != step {
			t.Fatalf("line %d: timestamp of step %d, want step %d (data not in time order)", i+1, step, i/wantPerStep)
		}
		for _, k := range []string{"arch", "datacenter", "host", "os", "rack", "region"} {
			if p.Tags.Get(k) == "" {
				t.Fatalf("line %d: missing tag %s", i+1, k)
			}
		}
		key := models.SeriesKey(p.Measurement, p.Tags)
		// Telegraf sends some measurements as two points per series and
		// time (system uptime, swap in/out): tell them apart by the first
		// field.
		shape := key + " " + p.Fields[0].Key
		if n, ok := fieldCount[shape]; ok && n != len(p.Fields) {
			t.Fatalf("line %d: %d fields, earlier %d", i+1, len(p.Fields), n)
		}
		fieldCount[shape] = len(p.Fields)
		values += int64(len(p.Fields))
		if last[key] == nil {
			last[key] = map[string]int64{}
		}
		var cpuSum float64
		for _, f := range p.Fields {
			id := fieldID{p.Measurement, f.Key}
			if tp, ok := types[id]; ok && tp != f.Type {
				t.Fatalf("line %d: %s.%s is %s, earlier %s", i+1, p.Measurement, f.Key, f.Type, tp)
			}
			types[id] = f.Type
			switch f.Type {
			case models.Float:
				v := f.Float()
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("line %d: %s = %v", i+1, f.Key, v)
				}
				if strings.HasSuffix(f.Key, "_percent") || strings.HasPrefix(f.Key, "usage_") {
					if v < 0 || v > 100 {
						t.Fatalf("line %d: %s = %v out of [0, 100]", i+1, f.Key, v)
					}
				}
				if strings.HasPrefix(f.Key, "usage_") {
					cpuSum += v
				}
				if strings.HasPrefix(f.Key, "load") && (v < 0 || v > 64) {
					t.Fatalf("line %d: %s = %v", i+1, f.Key, v)
				}
			case models.Integer:
				v := f.Integer()
				if v < 0 {
					t.Fatalf("line %d: %s = %d, negative", i+1, f.Key, v)
				}
				if isCounter(p.Measurement, f.Key) {
					if prev, ok := last[key][f.Key]; ok && v < prev {
						t.Fatalf("line %d: counter %s %s went back from %d to %d", i+1, key, f.Key, prev, v)
					}
					last[key][f.Key] = v
				}
			default:
				t.Fatalf("line %d: unexpected field type %s for %s", i+1, f.Type, f.Key)
			}
		}
		if p.Measurement == "cpu" && math.Abs(cpuSum-100) > 1e-9 {
			t.Fatalf("line %d: cpu usage sums to %v, want 100", i+1, cpuSum)
		}
		if p.Measurement == "mem" {
			checkMem(t, i+1, p)
		}
	}
	if values != counts.Values {
		t.Fatalf("parsed %d values, generator counted %d", values, counts.Values)
	}
	for _, m := range []string{"cpu", "mem", "disk", "diskio", "net", "system", "processes", "kernel", "swap"} {
		if counts.PerMeasurement[m] == 0 {
			t.Errorf("no %s points", m)
		}
	}
	// Values move: a field that never changes across 150 reports on every
	// series would make the data unrealistically compressible.
	for _, f := range []string{"usage_user", "used_percent", "load1", "bytes_recv", "context_switches"} {
		if distinct(pts, f) < 10 {
			t.Errorf("field %s takes fewer than 10 distinct values", f)
		}
	}
}

// isCounter says whether a field is a monotonic counter in Telegraf's
// inputs.
func isCounter(measurement, key string) bool {
	switch measurement {
	case "diskio":
		return key != "iops_in_progress"
	case "net":
		return true
	case "kernel":
		return key != "entropy_avail"
	case "system":
		return key == "uptime"
	case "swap":
		return key == "in" || key == "out"
	}
	return false
}

func checkMem(t *testing.T, line int, p models.Point) {
	t.Helper()
	get := func(k string) int64 {
		for _, f := range p.Fields {
			if f.Key == k {
				return f.Integer()
			}
		}
		t.Fatalf("line %d: mem without %s", line, k)
		return 0
	}
	total := get("total")
	if sum := get("used") + get("free") + get("cached") + get("buffered"); sum != total {
		t.Fatalf("line %d: used+free+cached+buffered = %d, total %d", line, sum, total)
	}
	if get("available") > total {
		t.Fatalf("line %d: available above total", line)
	}
}

func distinct(pts []models.Point, key string) int {
	seen := map[uint64]bool{}
	for _, p := range pts {
		for _, f := range p.Fields {
			if f.Key == key {
				seen[f.Num] = true
			}
		}
	}
	return len(seen)
}

func TestKindValues(t *testing.T) {
	// render must write exactly kindValues[kind] fields per kind.
	h := newHost(0, 1, testStart)
	h.advance(0)
	for _, s := range h.series {
		line := append(append([]byte{}, s.prefix...), h.render(nil, &s)...)
		line = append(line, " 1\n"...)
		m, n := LineStats(line)
		if m != s.measurement || n != s.values {
			t.Errorf("%s: LineStats = %s, %d; series says %s, %d", line, m, n, s.measurement, s.values)
		}
	}
}

func TestRecentStartAndSteps(t *testing.T) {
	now := time.Date(2026, 11, 27, 7, 0, 4, 0, time.UTC)
	steps := StepsFor(24*time.Hour, 0)
	if steps != 8640 {
		t.Fatalf("StepsFor(24h) = %d, want 8640", steps)
	}
	start := RecentStart(now, steps, 0)
	if want := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC); !start.Equal(want) {
		t.Fatalf("RecentStart = %v, want %v", start, want)
	}
	if StepsFor(time.Second, 0) != 1 {
		t.Fatal("StepsFor must be at least 1")
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Hosts: 100, Start: testStart, Steps: 1 << 30, Seed: 1}
	g, err := NewGenerator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4<<20)
	var bytesOut, values int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(5000, b.N-i)
		var got, v int
		buf, got, v = g.Append(buf[:0], n)
		bytesOut += int64(len(buf))
		values += int64(v)
		i += got
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(ns/float64(b.N), "ns/point")
	b.ReportMetric(ns/float64(values), "ns/value")
	b.ReportMetric(float64(bytesOut)/float64(values), "bytes/value")
}
