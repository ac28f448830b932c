package encoding

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/quick"
)

// prefix checks that Append* appends after existing bytes and Decode*
// appends after existing values.
var prefix = []byte("hdr")

func checkInts(t *testing.T, name string, vs []int64) {
	t.Helper()
	for _, c := range []struct {
		what string
		enc  func([]byte, []int64) []byte
		dec  func([]int64, []byte) ([]int64, error)
	}{
		{"timestamps", AppendTimestamps, DecodeTimestamps},
		{"integers", AppendIntegers, DecodeIntegers},
	} {
		buf := c.enc(slices.Clone(prefix), vs)
		if !bytes.HasPrefix(buf, prefix) {
			t.Fatalf("%s %s: prefix overwritten", c.what, name)
		}
		got, err := c.dec([]int64{7}, buf[len(prefix):])
		if err != nil {
			t.Fatalf("%s %s: decode: %v", c.what, name, err)
		}
		if got[0] != 7 || !slices.Equal(got[1:], vs) {
			t.Fatalf("%s %s: got %v, want %v", c.what, name, got[1:], vs)
		}
	}
	us := make([]uint64, len(vs))
	for i, v := range vs {
		us[i] = uint64(v)
	}
	got, err := DecodeUnsigneds(nil, AppendUnsigneds(nil, us))
	if err != nil || !slices.Equal(got, us) {
		t.Fatalf("unsigneds %s: got %v, %v, want %v", name, got, err, us)
	}
}

func checkFloats(t *testing.T, name string, vs []float64) []byte {
	t.Helper()
	buf := AppendFloats(slices.Clone(prefix), vs)
	if !bytes.HasPrefix(buf, prefix) {
		t.Fatalf("floats %s: prefix overwritten", name)
	}
	got, err := DecodeFloats([]float64{7}, buf[len(prefix):])
	if err != nil {
		t.Fatalf("floats %s: decode: %v", name, err)
	}
	if len(got) != len(vs)+1 || got[0] != 7 {
		t.Fatalf("floats %s: got %d values, want %d", name, len(got)-1, len(vs))
	}
	for i, v := range vs {
		if math.Float64bits(got[i+1]) != math.Float64bits(v) {
			t.Fatalf("floats %s: value %d: got %v (%#x), want %v (%#x)", name, i, got[i+1], math.Float64bits(got[i+1]), v, math.Float64bits(v))
		}
	}
	return buf[len(prefix):]
}

func TestIntegersRoundTrip(t *testing.T) {
	cases := map[string][]int64{
		"empty":            {},
		"one":              {42},
		"one min":          {math.MinInt64},
		"two":              {1, -1},
		"overflowing":      {math.MinInt64, math.MaxInt64, math.MinInt64, 0, math.MaxInt64},
		"max deltas":       {0, math.MaxInt64, -1, math.MinInt64, 1, math.MaxInt64},
		"min then max run": {math.MinInt64, math.MaxInt64},
		"alternating":      {1, -1, 2, -2, 3, -3, 4, -4},
		"constant":         {5, 5, 5, 5, 5},
		"descending":       {100, 90, 80, 70},
		"gcd 1<<63":        {math.MinInt64, 0, math.MinInt64, 0},
		"zero run then big": append(make([]int64, 200), math.MaxInt64, 3, 3,
			3),
		"huge unsigned span": {-1, 0, -1, 1},
		"grid wraps":         {math.MaxInt64 - 10, math.MaxInt64, math.MinInt64 + 9, math.MinInt64 + 20},
		"grid no majority":   {0, 10, 25, 30, 41, 50, 60, 77},
	}
	for name, vs := range cases {
		checkInts(t, name, vs)
	}
	for _, c := range append(timestampCases(), integerCases()...) {
		checkInts(t, c.name, c.vs)
	}
}

func TestFloatsRoundTrip(t *testing.T) {
	negZero := math.Copysign(0, -1)
	nan1 := math.Float64frombits(0x7ff8000000000001)
	nan2 := math.Float64frombits(0xfff0000000000bad)
	cases := map[string][]float64{
		"empty":                {},
		"one":                  {1.5},
		"one nan":              {nan2},
		"all nan":              {math.NaN(), math.NaN(), math.NaN()},
		"nan payloads":         {math.NaN(), nan1, nan2, math.NaN()},
		"zeros":                {0, negZero, 0, negZero},
		"neg zero only":        {negZero, negZero},
		"neg zero in decimals": {1.5, 2.25, negZero},
		"inf":                  {math.Inf(1), math.Inf(-1), 0},
		"subnormal":            {math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 2.5e-310},
		"extremes":             {math.MaxFloat64, -math.MaxFloat64, 1e308, -1e-308},
		"alternating":          {1, -1, 2, -2, 3.5, -3.5},
		"beyond 2^53":          {1 << 60, 1<<60 + 256, 9007199254740993},
		"decimals":             {0.1, 0.2, 0.3, 0.30000000000000004},
		"small decimals":       {1e-15, 2e-15, 1e-16},
		"integers":             {1, 2, 3, 4, 1000, -5},
	}
	for name, vs := range cases {
		checkFloats(t, name, vs)
	}
	for _, c := range floatCases() {
		checkFloats(t, c.name, c.vs)
	}
}

func TestBooleansRoundTrip(t *testing.T) {
	cases := map[string][]bool{
		"empty": {}, "one": {true}, "false": {false, false, false},
		"eight": {true, false, true, false, true, false, true, true},
		"nine":  {true, false, true, false, true, false, true, true, false},
	}
	for name, vs := range cases {
		buf := AppendBooleans(slices.Clone(prefix), vs)
		got, err := DecodeBooleans([]bool{true}, buf[len(prefix):])
		if err != nil || !got[0] || !slices.Equal(got[1:], vs) {
			t.Fatalf("%s: got %v, %v", name, got, err)
		}
	}
}

func TestStringsRoundTrip(t *testing.T) {
	long := strings.Repeat("the quick brown fox ", 50)
	cases := map[string][]string{
		"empty":      {},
		"one empty":  {""},
		"empties":    {"", "", "", "", ""},
		"mixed":      {"a", "", "héllo", "\x00\xff"},
		"dict":       {"ok", "ok", "warn", "ok", "crit", "ok", "ok", "ok"},
		"long":       {long, long + "x", long + "y", long},
		"same long":  slices.Repeat([]string{long}, 100),
		"status col": stringCases()[0],
		"log col":    stringCases()[1],
		"distinct 300": func() []string {
			s := make([]string, 300)
			for i := range s {
				s[i] = strings.Repeat("x", i)
			}
			return s
		}(),
	}
	for name, vs := range cases {
		buf := AppendStrings(slices.Clone(prefix), vs)
		got, err := DecodeStrings([]string{"p"}, buf[len(prefix):])
		if err != nil || got[0] != "p" || !slices.Equal(got[1:], vs) {
			t.Fatalf("%s: got %d values, %v", name, len(got)-1, err)
		}
	}
}

// TestSchemeChoice checks that the common monitoring shapes get the scheme
// designed for them.
func TestSchemeChoice(t *testing.T) {
	ts := timestampCases()[0].vs
	if b := AppendTimestamps(nil, ts); b[0] != intRun || len(b) > 20 {
		t.Errorf("regular timestamps: scheme %#x, %d bytes", b[0], len(b))
	}
	if b := AppendFloats(nil, []float64{12.34, 12.5, 13.01, 11.99}); b[0] != floatDecimal || b[1] != 2 {
		t.Errorf("2-decimal floats: scheme %#x exponent %d", b[0], b[1])
	}
	if b := AppendFloats(nil, []float64{1.5, 1.5, 1.5}); b[0] != floatConst {
		t.Errorf("constant floats: scheme %#x", b[0])
	}
	if b := AppendFloats(nil, []float64{1.0 / 3, 2.0 / 3, math.Pi, math.E}); b[0] != floatGorilla && b[0] != floatBits && b[0] != floatRaw {
		t.Errorf("irrational floats: scheme %#x", b[0])
	}
	if b := AppendBooleans(nil, make([]bool, 1000)); b[0] != boolConst || len(b) != 4 {
		t.Errorf("constant booleans: scheme %#x, %d bytes", b[0], len(b))
	}
	if b := AppendStrings(nil, stringCases()[0]); b[0] != strDict && b[0] != strZstd {
		t.Errorf("status strings: scheme %#x", b[0])
	}
	if b := AppendStrings(nil, stringCases()[1]); b[0] != strZstd {
		t.Errorf("log strings: scheme %#x", b[0])
	}
}

func TestQuickRoundTrip(t *testing.T) {
	cfg := &quick.Config{MaxCount: 200}
	check := func(name string, f any) {
		t.Helper()
		if err := quick.Check(f, cfg); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	check("integers", func(vs []int64) bool {
		got, err := DecodeIntegers(nil, AppendIntegers(nil, vs))
		return err == nil && slices.Equal(got, vs)
	})
	check("timestamps near a start", func(deltas []int16) bool {
		ts := make([]int64, len(deltas))
		t := start
		for i, d := range deltas {
			t += 10e9 + int64(d)
			ts[i] = t
		}
		got, err := DecodeTimestamps(nil, AppendTimestamps(nil, ts))
		return err == nil && slices.Equal(got, ts)
	})
	check("unsigneds", func(vs []uint64) bool {
		got, err := DecodeUnsigneds(nil, AppendUnsigneds(nil, vs))
		return err == nil && slices.Equal(got, vs)
	})
	check("float bits", func(vs []uint64) bool {
		fs := make([]float64, len(vs))
		for i, v := range vs {
			fs[i] = math.Float64frombits(v)
		}
		got, err := DecodeFloats(nil, AppendFloats(nil, fs))
		return err == nil && sameBits(got, fs)
	})
	check("float decimals", func(ms []int32, k uint8) bool {
		fs := make([]float64, len(ms))
		for i, m := range ms {
			fs[i] = float64(m) / pow10[k%7]
		}
		got, err := DecodeFloats(nil, AppendFloats(nil, fs))
		return err == nil && sameBits(got, fs)
	})
	check("floats", func(fs []float64) bool {
		got, err := DecodeFloats(nil, AppendFloats(nil, fs))
		return err == nil && sameBits(got, fs)
	})
	check("booleans", func(vs []bool) bool {
		got, err := DecodeBooleans(nil, AppendBooleans(nil, vs))
		return err == nil && slices.Equal(got, vs)
	})
	check("strings", func(vs []string) bool {
		got, err := DecodeStrings(nil, AppendStrings(nil, vs))
		return err == nil && slices.Equal(got, vs)
	})
	check("repetitive strings", func(idx []uint8) bool {
		words := []string{"alpha", "", "beta gamma delta", strings.Repeat("z", 70)}
		vs := make([]string, len(idx))
		for i, x := range idx {
			vs[i] = words[int(x)%len(words)]
		}
		got, err := DecodeStrings(nil, AppendStrings(nil, vs))
		return err == nil && slices.Equal(got, vs)
	})
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestCorrupt feeds hand-made bad columns and every truncation of real
// ones; each must fail with ErrCorrupt and leave dst as it was.
func TestCorrupt(t *testing.T) {
	type decoder func(src []byte) (int, error)
	ints := func(src []byte) (int, error) { v, err := DecodeIntegers([]int64{1}, src); return len(v), err }
	floats := func(src []byte) (int, error) { v, err := DecodeFloats([]float64{1}, src); return len(v), err }
	bools := func(src []byte) (int, error) { v, err := DecodeBooleans([]bool{true}, src); return len(v), err }
	strs := func(src []byte) (int, error) { v, err := DecodeStrings([]string{""}, src); return len(v), err }
	bad := []struct {
		name string
		dec  decoder
		src  []byte
	}{
		{"ints empty", ints, nil},
		{"ints unknown tag", ints, []byte{0x7f, 0}},
		{"ints count too big", ints, []byte{intRun, 0x81, 0x80, 0x80, 0x01, 0, 0}},
		{"ints bad count varint", ints, []byte{intRaw, 0xff}},
		{"ints raw short", ints, []byte{intRaw, 2, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"ints run trailing", ints, []byte{intRun, 2, 0, 2, 9}},
		{"ints run no delta", ints, []byte{intRun, 2, 0}},
		{"ints delta zero divisor", ints, []byte{intDelta, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x10}},
		{"ints delta no words", ints, []byte{intDelta, 2, 0, 1}},
		{"ints dod one value", ints, []byte{intDoD, 1, 0, 1, 0}},
		{"ints zero run too long", ints, []byte{intDelta, 3, 0, 1, packSimple8b, 5, 0, 0, 0, 0, 0, 0, 0}},
		{"ints zero run of zero", ints, []byte{intDelta, 3, 0, 1, packSimple8b, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"ints escape short", ints, []byte{intDelta, 2, 0, 1, packSimple8b, 0, 0, 0, 0, 0, 0, 0, 0xf0, 1}},
		{"ints padding", ints, []byte{intDelta, 2, 0, 1, packSimple8b, 3, 0, 0, 0, 0, 0, 0, 0x10}},
		{"ints trailing word", ints, []byte{intDelta, 2, 0, 1, packSimple8b, 1, 0, 0, 0, 0, 0, 0, 0x10, 1, 0, 0, 0, 0, 0, 0, 0x10}},
		{"ints grid no step", ints, []byte{intGrid, 3, 0}},
		{"ints grid zero divisor", ints, []byte{intGrid, 3, 0, 2, 0, 0, packBlocks, 0}},
		{"ints unknown packing", ints, []byte{intDelta, 2, 0, 1, 7, 0}},
		{"ints block width 65", ints, []byte{intDelta, 2, 0, 1, packBlocks, 65, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"ints block short", ints, []byte{intDelta, 3, 0, 1, packBlocks, 9, 0xff}},
		{"ints block padding", ints, []byte{intDelta, 2, 0, 1, packBlocks, 3, 0xf8}},
		{"floats gorilla padding", floats, []byte{floatGorilla, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0x01}},
		{"ints sparse too many", ints, []byte{intDelta, 3, 0, 1, packSparse, 3, 0, 1, 0, 1}},
		{"ints sparse zero value", ints, []byte{intDelta, 3, 0, 1, packSparse, 1, 0, 0}},
		{"ints sparse gap too long", ints, []byte{intDelta, 3, 0, 1, packSparse, 1, 2, 1}},
		{"ints sparse trailing", ints, []byte{intDelta, 3, 0, 1, packSparse, 1, 1, 1, 0}},
		{"ints block trailing", ints, []byte{intDelta, 3, 0, 1, packBlocks, 1, 3, 0}},
		{"floats decimal exponent", floats, []byte{floatDecimal, 16, intRun, 1, 0, 0}},
		{"floats decimal short", floats, []byte{floatDecimal}},
		{"floats bits empty", floats, []byte{floatBits}},
		{"floats bits bad ints", floats, []byte{floatBits, intRun, 2, 0}},
		{"floats const short", floats, []byte{floatConst, 3, 1, 2}},
		{"floats gorilla empty", floats, []byte{floatGorilla, 0}},
		{"floats gorilla too many", floats, []byte{floatGorilla, 3, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"floats gorilla reuse before window", floats, []byte{floatGorilla, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0x80}},
		{"floats gorilla window > 64", floats, []byte{floatGorilla, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff}},
		{"floats gorilla trailing", floats, []byte{floatGorilla, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0}},
		{"bools const bad", bools, []byte{boolConst, 3, 2}},
		{"bools short", bools, []byte{boolPacked, 9, 0xff}},
		{"bools padding", bools, []byte{boolPacked, 3, 0xff}},
		{"strings overrun", strs, []byte{strRaw, 2, 1, 5, 'a'}},
		{"strings trailing", strs, []byte{strRaw, 1, 1, 'a', 'b'}},
		{"strings count > bytes", strs, []byte{strRaw, 100, 0}},
		{"dict index out of range", strs, []byte{strDict, 2, 2, 1, 1, 'a', 'b', 0b1110}},
		{"dict too big", strs, []byte{strDict, 1, 2, 1, 1, 'a', 'b', 0}},
		{"dict empty column", strs, []byte{strDict, 0, 0}},
		{"zstd ratio", strs, []byte{strZstd, 0xff, 0xff, 0x03, 1, 2, 3}},
		{"zstd garbage", strs, []byte{strZstd, 4, 1, 2, 3, 4}},
		{"zstd nested", strs, append([]byte{strZstd, 3}, zstdEncoder().EncodeAll([]byte{strZstd, 1, 0}, nil)...)},
	}
	for _, c := range bad {
		n, err := c.dec(c.src)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", c.name, err)
		}
		if n != 1 {
			t.Errorf("%s: dst has %d values after error, want 1", c.name, n)
		}
	}

	// Truncations of real encodings.
	var encs []struct {
		name string
		dec  decoder
		src  []byte
	}
	add := func(name string, dec decoder, src []byte) {
		encs = append(encs, struct {
			name string
			dec  decoder
			src  []byte
		}{name, dec, src})
	}
	for _, c := range append(timestampCases(), integerCases()...) {
		add(c.name, ints, AppendIntegers(nil, c.vs[:100]))
	}
	for _, c := range floatCases() {
		add(c.name, floats, AppendFloats(nil, c.vs[:100]))
	}
	add("floats bits", floats, AppendFloats(nil, floatCases()[0].vs[:100]))
	add("floats raw", floats, AppendFloats(nil, []float64{math.Pi, math.NaN(), 1e300}))
	add("bools", bools, AppendBooleans(nil, []bool{true, false, true}))
	for i, c := range stringCases() {
		add("strings "+string(rune('0'+i)), strs, AppendStrings(nil, c[:200]))
	}
	for _, e := range encs {
		// Every short length, then a stride: each cut is a full decode.
		for l := 0; l < len(e.src); l += max(1, (l-64)/8) {
			if _, err := e.dec(e.src[:l]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s truncated to %d of %d bytes: err = %v", e.name, l, len(e.src), err)
				break
			}
		}
	}
}

// TestDecodeBoundedAllocation checks that a short hostile column cannot
// make a decoder allocate much more than its input allows.
func TestDecodeBoundedAllocation(t *testing.T) {
	huge := []byte{0x80, 0x80, 0x40} // uvarint MaxValues
	cases := map[string]struct {
		src []byte
		dec func([]byte)
	}{
		"raw integers": {append(append([]byte{intRaw}, huge...), make([]byte, 16)...),
			func(b []byte) { _, _ = DecodeIntegers(nil, b) }},
		"simple8b integers": {append(append([]byte{intDelta}, huge...), append([]byte{0, 1, packSimple8b}, bytes.Repeat([]byte{1, 0, 0, 0, 0, 0, 0, 0x10}, 2)...)...),
			func(b []byte) { _, _ = DecodeIntegers(nil, b) }},
		"block integers": {append(append([]byte{intDelta}, huge...), append([]byte{0, 1, packBlocks}, bytes.Repeat([]byte{1, 0}, 2)...)...),
			func(b []byte) { _, _ = DecodeIntegers(nil, b) }},
		"gorilla": {append(append([]byte{floatGorilla}, huge...), make([]byte, 16)...),
			func(b []byte) { _, _ = DecodeFloats(nil, b) }},
		"booleans": {append(append([]byte{boolPacked}, huge...), 1, 2),
			func(b []byte) { _, _ = DecodeBooleans(nil, b) }},
		"strings": {append(append([]byte{strRaw}, huge...), 1, 2),
			func(b []byte) { _, _ = DecodeStrings(nil, b) }},
		"dict": {append(append([]byte{strDict}, huge...), 2, 1, 1, 'a', 'b', 0, 0),
			func(b []byte) { _, _ = DecodeStrings(nil, b) }},
	}
	for name, c := range cases {
		// At most a few KiB, or 1 KiB per input byte (an all-zero block of
		// 128 values is one byte).
		if b := allocated(func() { c.dec(c.src) }); b > max(4<<10, 1<<10*uint64(len(c.src))) {
			t.Errorf("%s claiming %d values in %d bytes allocated %d bytes", name, MaxValues, len(c.src), b)
		}
	}
}

// allocated reports how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestConcurrent runs every codec from several goroutines at once: the
// scratch pool and the shared zstd coders must be safe (run with -race).
func TestConcurrent(t *testing.T) {
	logs := stringCases()[1]
	floats := floatCases()[1].vs
	ts := timestampCases()[1].vs
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i := 0; i < 3; i++ {
				s, err := DecodeStrings(nil, AppendStrings(nil, logs))
				if err != nil || !slices.Equal(s, logs) {
					errs <- fmt.Errorf("strings: %v", err)
					return
				}
				f, err := DecodeFloats(nil, AppendFloats(nil, floats))
				if err != nil || !sameBits(f, floats) {
					errs <- fmt.Errorf("floats: %v", err)
					return
				}
				v, err := DecodeTimestamps(nil, AppendTimestamps(nil, ts))
				if err != nil || !slices.Equal(v, ts) {
					errs <- fmt.Errorf("timestamps: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOrderedBits(t *testing.T) {
	vs := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, 1, math.MaxFloat64, math.Inf(1)}
	for i, v := range vs {
		b := math.Float64bits(v)
		if back := uint64(orderedBits(b)); orderedBits(back) != int64(b) {
			t.Fatalf("%v: not an involution", v)
		}
		if i > 0 && orderedBits(math.Float64bits(vs[i-1])) >= orderedBits(b) {
			t.Fatalf("%v and %v out of order", vs[i-1], v)
		}
	}
}
