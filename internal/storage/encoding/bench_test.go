package encoding

import (
	"fmt"
	"github.com/herdmon/herd/internal/testutil"
	"math"
	"strings"
	"testing"
)

func noLimit(b []byte, _ bool) []byte { return b }

// TestSizeReport prints bytes per value of every scheme on the realistic
// columns (go test -run SizeReport -v). It also guards the headline sizes.
func TestSizeReport(t *testing.T) {
	var b strings.Builder
	perValue := func(enc []byte, n int) string {
		if enc == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", float64(len(enc))/float64(n))
	}
	fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s %7s %7s | %7s %s\n", "integer column", "run", "delta", "dod", "grid", "for", "raw", "chosen", "scheme")
	ints := append(timestampCases(), integerCases()...)
	for _, c := range ints {
		sp := new([]uint64)
		g, regular := deltaGCD(c.vs)
		var run []byte
		if regular {
			run = appendIntRun(nil, c.vs)
		}
		chosen := AppendIntegers(nil, c.vs)
		if strings.HasPrefix(c.name, "ts") {
			chosen = AppendTimestamps(nil, c.vs)
		}
		fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s %7s %7s | %7s %#x\n", c.name,
			perValue(run, len(c.vs)),
			perValue(noLimit(appendIntDelta(nil, c.vs, g, sp, math.MaxInt)), len(c.vs)),
			perValue(noLimit(appendIntDoD(nil, c.vs, g, sp, math.MaxInt)), len(c.vs)),
			perValue(noLimit(appendIntGrid(nil, c.vs, sp, math.MaxInt)), len(c.vs)),
			perValue(noLimit(appendIntFOR(nil, c.vs, sp, math.MaxInt)), len(c.vs)),
			perValue(appendIntRaw(nil, c.vs), len(c.vs)),
			perValue(chosen, len(c.vs)), chosen[0])
	}
	fmt.Fprintf(&b, "\n%-36s %7s %7s %7s %7s %7s | %7s %s\n", "float column", "const", "decimal", "gorilla", "bits", "raw", "chosen", "scheme")
	for _, c := range floatCases() {
		var constant []byte
		if c.name == "constant" {
			constant = AppendFloats(nil, c.vs)
		}
		dec, ok := appendDecimal(nil, c.vs, math.MaxInt)
		if !ok {
			dec = nil
		}
		chosen := AppendFloats(nil, c.vs)
		scheme := fmt.Sprintf("%#x", chosen[0])
		if chosen[0] == floatDecimal {
			scheme += fmt.Sprintf(" k=%d ints %#x", chosen[1], chosen[2])
		}
		fmt.Fprintf(&b, "%-36s %7s %7s %7s %7s %7s | %7s %s\n", c.name,
			perValue(constant, len(c.vs)), perValue(dec, len(c.vs)),
			perValue(noLimit(appendGorilla(nil, c.vs, math.MaxInt)), len(c.vs)),
			perValue(noLimit(appendFloatBits(nil, c.vs, math.MaxInt)), len(c.vs)),
			perValue(appendFloatRaw(nil, c.vs), len(c.vs)),
			perValue(chosen, len(c.vs)), scheme)
	}
	t.Log("bytes per value, columns of 1000 values\n" + b.String())

	// Headline sizes: regular timestamps and small-decimal floats must stay
	// tiny; these are what most of a Raspberry Pi's disk holds.
	if n := len(AppendTimestamps(nil, timestampCases()[0].vs)); n > 20 {
		t.Errorf("regular timestamps: %d bytes per column", n)
	}
	if n := len(AppendFloats(nil, floatCases()[2].vs)); n > colLen*2 {
		t.Errorf("2-decimal percentages: %.2f bytes per value", float64(n)/colLen)
	}
}

// Benchmarks encode and decode each realistic column. SetBytes counts the
// uncompressed values (8 bytes each; 1 for booleans; string bytes), so
// MB/s is input throughput; ns/value and B/value are reported directly.

func report(b *testing.B, n, encoded int, t0 testutil.CPUMark) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
	b.ReportMetric(float64(encoded)/float64(n), "B/value")
	// CPU time of this thread only: the shared test machine is often
	// oversubscribed, which inflates wall-clock ns/value but not this.
	if cpu, ok := t0.Elapsed(); ok {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/value")
	}
}

func benchInts(b *testing.B, cases []intCase, enc func([]byte, []int64) []byte, dec func([]int64, []byte) ([]int64, error)) {
	for _, c := range cases {
		src := enc(nil, c.vs)
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(8 * len(c.vs)))
			buf := make([]byte, 0, 16*len(c.vs))
			t0 := testutil.StartCPU()
			for b.Loop() {
				buf = enc(buf[:0], c.vs)
			}
			report(b, len(c.vs), len(src), t0)
		})
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(8 * len(c.vs)))
			out := make([]int64, 0, len(c.vs))
			t0 := testutil.StartCPU()
			for b.Loop() {
				var err error
				if out, err = dec(out[:0], src); err != nil {
					b.Fatal(err)
				}
			}
			report(b, len(c.vs), len(src), t0)
		})
	}
}

func BenchmarkTimestamps(b *testing.B) {
	benchInts(b, timestampCases(), AppendTimestamps, DecodeTimestamps)
}

func BenchmarkIntegers(b *testing.B) {
	benchInts(b, integerCases(), AppendIntegers, DecodeIntegers)
}

func BenchmarkUnsigneds(b *testing.B) {
	c := integerCases()[1] // counter
	us := make([]uint64, len(c.vs))
	for i, v := range c.vs {
		us[i] = uint64(v)
	}
	src := AppendUnsigneds(nil, us)
	b.Run("encode/"+c.name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(8 * len(us)))
		buf := make([]byte, 0, 16*len(us))
		t0 := testutil.StartCPU()
		for b.Loop() {
			buf = AppendUnsigneds(buf[:0], us)
		}
		report(b, len(us), len(src), t0)
	})
	b.Run("decode/"+c.name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(8 * len(us)))
		out := make([]uint64, 0, len(us))
		t0 := testutil.StartCPU()
		for b.Loop() {
			var err error
			if out, err = DecodeUnsigneds(out[:0], src); err != nil {
				b.Fatal(err)
			}
		}
		report(b, len(us), len(src), t0)
	})
}

func BenchmarkFloats(b *testing.B) {
	for _, c := range floatCases() {
		src := AppendFloats(nil, c.vs)
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(8 * len(c.vs)))
			buf := make([]byte, 0, 16*len(c.vs))
			t0 := testutil.StartCPU()
			for b.Loop() {
				buf = AppendFloats(buf[:0], c.vs)
			}
			report(b, len(c.vs), len(src), t0)
		})
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(8 * len(c.vs)))
			out := make([]float64, 0, len(c.vs))
			t0 := testutil.StartCPU()
			for b.Loop() {
				var err error
				if out, err = DecodeFloats(out[:0], src); err != nil {
					b.Fatal(err)
				}
			}
			report(b, len(c.vs), len(src), t0)
		})
	}
}

func BenchmarkBooleans(b *testing.B) {
	r := rng(5)
	vs := make([]bool, colLen)
	for i := range vs {
		vs[i] = r.IntN(10) == 0
	}
	src := AppendBooleans(nil, vs)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(vs)))
		buf := make([]byte, 0, 2*len(vs))
		t0 := testutil.StartCPU()
		for b.Loop() {
			buf = AppendBooleans(buf[:0], vs)
		}
		report(b, len(vs), len(src), t0)
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(vs)))
		out := make([]bool, 0, len(vs))
		t0 := testutil.StartCPU()
		for b.Loop() {
			var err error
			if out, err = DecodeBooleans(out[:0], src); err != nil {
				b.Fatal(err)
			}
		}
		report(b, len(vs), len(src), t0)
	})
}

func BenchmarkStrings(b *testing.B) {
	for i, vs := range stringCases() {
		name := []string{"status", "log lines"}[i]
		size := 0
		for _, v := range vs {
			size += len(v)
		}
		src := AppendStrings(nil, vs)
		b.Run("encode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			buf := make([]byte, 0, 2*size)
			t0 := testutil.StartCPU()
			for b.Loop() {
				buf = AppendStrings(buf[:0], vs)
			}
			report(b, len(vs), len(src), t0)
		})
		b.Run("decode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			out := make([]string, 0, len(vs))
			t0 := testutil.StartCPU()
			for b.Loop() {
				var err error
				if out, err = DecodeStrings(out[:0], src); err != nil {
					b.Fatal(err)
				}
			}
			report(b, len(vs), len(src), t0)
		})
	}
}
