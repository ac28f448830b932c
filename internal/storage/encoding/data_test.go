package encoding

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Realistic monitoring columns, generated deterministically. colLen is a
// column of a few hours of 10 s samples, the size block files hold.
const colLen = 1000

type intCase struct {
	name string
	vs   []int64
}

type floatCase struct {
	name string
	vs   []float64
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 42)) }

// start is a 10 s aligned time like a Telegraf round_interval agent's.
const start = int64(1_795_000_000_000_000_000)

func timestampCases() []intCase {
	const step = int64(10e9)
	regular := make([]int64, colLen)
	rare := make([]int64, colLen)
	every := make([]int64, colLen)
	secs := make([]int64, colLen)
	r := rng(1)
	for i := range regular {
		t := start + int64(i)*step
		regular[i] = t
		rare[i] = t
		if r.IntN(100) == 0 { // a late collection now and then
			rare[i] += r.Int64N(50e6)
		}
		every[i] = t + r.Int64N(2e6) // an unaligned agent: µs..ms of scheduling noise
		secs[i] = t / 1e9 * 1e9
		if r.IntN(50) == 0 {
			secs[i] += 1e9 // second-precision writes, a tick late now and then
		}
	}
	return []intCase{
		{"ts regular 10s", regular},
		{"ts 10s, 1% jitter <50ms", rare},
		{"ts 10s, jitter <2ms every point", every},
		{"ts 10s precision=s, 2% late 1s", secs},
	}
}

func integerCases() []intCase {
	r := rng(2)
	mem := make([]int64, colLen)
	counter := make([]int64, colLen)
	steady := make([]int64, colLen)
	gauge := make([]int64, colLen)
	constant := make([]int64, colLen)
	m, c := int64(612_345_600), int64(9_876_543_210)
	for i := range mem {
		m += (r.Int64N(201) - 100) * 4096 // memory moves in pages
		mem[i] = m
		c += 1000 + r.Int64N(50_000) // network bytes received
		counter[i] = c
		steady[i] = int64(i) * 3000 // a counter at a constant rate
		if i%7 == 0 {
			steady[i]++
		}
		gauge[i] = 100 + r.Int64N(50) // processes
		constant[i] = 1_000_000_000   // total memory
	}
	return []intCase{
		{"mem bytes (pages)", mem},
		{"counter bytes_recv", counter},
		{"counter near-constant rate", steady},
		{"gauge 100..150", gauge},
		{"constant", constant},
	}
}

func floatCases() []floatCase {
	r := rng(3)
	full := make([]float64, colLen)
	nine := make([]float64, colLen)
	two := make([]float64, colLen)
	memf := make([]float64, colLen)
	counter := make([]float64, colLen)
	load := make([]float64, colLen)
	constant := make([]float64, colLen)
	mostly := make([]float64, colLen)
	p, m, c := 12.0, 612_345_600.0, 9_876_543_210.0
	for i := range full {
		p = math.Min(100, math.Max(0, p+r.NormFloat64()))
		full[i] = p                                // Telegraf's usage_user: all 17 digits
		nine[i] = math.Round(p*1e9) / 1e9          // 12.345678912
		two[i] = math.Round(p*100) / 100           // 12.34
		m += float64((r.Int64N(201) - 100) * 4096) // mem bytes as float
		memf[i] = m
		c += float64(1000 + r.Int64N(50_000))
		counter[i] = c
		load[i] = math.Round((1+math.Sin(float64(i)/50)+r.Float64()*0.1)*100) / 100
		constant[i] = 8_000_000_000
		mostly[i] = 0
		if r.IntN(100) == 0 {
			mostly[i] = 1
		}
	}
	return []floatCase{
		{"cpu% full precision walk", full},
		{"cpu% 9 decimals walk", nine},
		{"cpu% 2 decimals walk", two},
		{"mem bytes as float", memf},
		{"counter as float", counter},
		{"load1 2 decimals", load},
		{"constant", constant},
		{"mostly zero, 1% ones", mostly},
		{"temperature walk across 0", func() []float64 {
			t := make([]float64, colLen)
			x := 0.5
			for i := range t {
				x += r.NormFloat64() * 0.05
				t[i] = x
			}
			return t
		}()},
	}
}

func stringCases() [][]string {
	r := rng(4)
	status := make([]string, colLen)
	logs := make([]string, colLen)
	for i := range status {
		status[i] = []string{"ok", "ok", "ok", "warn", "crit"}[r.IntN(5)]
		logs[i] = fmt.Sprintf("GET /api/v1/query?q=%d 200 %dms", r.IntN(1000), r.IntN(300))
	}
	return [][]string{status, logs}
}
