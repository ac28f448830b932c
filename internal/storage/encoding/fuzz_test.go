package encoding

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

// Fuzz invariant for every decoder: no panic, no dst damage on error, and
// whatever decodes re-encodes to a column that decodes to the same values.

// addSeeds adds each encoding and a few corrupt variants of it.
func addSeeds(f *testing.F, encs ...[]byte) {
	for _, e := range encs {
		f.Add(e)
		if len(e) > 1 {
			f.Add(e[:len(e)-1])
			flipped := slices.Clone(e)
			flipped[len(e)/2] ^= 0x55
			f.Add(flipped)
			retagged := slices.Clone(e)
			retagged[0] ^= 1
			f.Add(retagged)
		}
	}
}

func FuzzDecodeTimestamps(f *testing.F) {
	for _, c := range timestampCases() {
		addSeeds(f, AppendTimestamps(nil, c.vs[:50]))
	}
	addSeeds(f, AppendTimestamps(nil, nil), AppendTimestamps(nil, []int64{math.MinInt64, math.MaxInt64, 0}))
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzInts(t, src, DecodeTimestamps, AppendTimestamps)
	})
}

func FuzzDecodeIntegers(f *testing.F) {
	for _, c := range integerCases() {
		addSeeds(f, AppendIntegers(nil, c.vs[:50]))
	}
	addSeeds(f, AppendIntegers(nil, []int64{1, -1, 2, -2, math.MaxInt64}))
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzInts(t, src, DecodeIntegers, AppendIntegers)
	})
}

func fuzzInts(t *testing.T, src []byte, dec func([]int64, []byte) ([]int64, error), enc func([]byte, []int64) []byte) {
	got, err := dec([]int64{7}, src)
	if err != nil {
		if len(got) != 1 || got[0] != 7 {
			t.Fatalf("dst changed on error %v: %v", err, got)
		}
		return
	}
	again, err := dec(nil, enc(nil, got[1:]))
	if err != nil || !slices.Equal(again, got[1:]) {
		t.Fatalf("re-encoding: %v", err)
	}
}

func FuzzDecodeUnsigneds(f *testing.F) {
	addSeeds(f, AppendUnsigneds(nil, []uint64{0, math.MaxUint64, 1, 1 << 63}),
		AppendUnsigneds(nil, []uint64{5, 10, 15, 20}), AppendUnsigneds(nil, []uint64{5, 11, 15, 20, 24}))
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := DecodeUnsigneds([]uint64{7}, src)
		if err != nil {
			if len(got) != 1 || got[0] != 7 {
				t.Fatalf("dst changed on error %v: %v", err, got)
			}
			return
		}
		again, err := DecodeUnsigneds(nil, AppendUnsigneds(nil, got[1:]))
		if err != nil || !slices.Equal(again, got[1:]) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func FuzzDecodeFloats(f *testing.F) {
	for _, c := range floatCases() {
		addSeeds(f, AppendFloats(nil, c.vs[:50]))
	}
	addSeeds(f, AppendFloats(nil, []float64{math.NaN(), math.Inf(-1), math.Copysign(0, -1), math.Pi}),
		AppendFloats(nil, []float64{math.Pi, math.E, 1.0 / 3, math.Sqrt2}))
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := DecodeFloats([]float64{7}, src)
		if err != nil {
			if len(got) != 1 || got[0] != 7 {
				t.Fatalf("dst changed on error %v: %v", err, got)
			}
			return
		}
		again, err := DecodeFloats(nil, AppendFloats(nil, got[1:]))
		if err != nil || !sameBits(again, got[1:]) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func FuzzDecodeBooleans(f *testing.F) {
	addSeeds(f, AppendBooleans(nil, []bool{true, false, true, true, false, false, true, false, true}),
		AppendBooleans(nil, []bool{true, true}), AppendBooleans(nil, nil))
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := DecodeBooleans([]bool{true}, src)
		if err != nil {
			if len(got) != 1 || !got[0] {
				t.Fatalf("dst changed on error %v: %v", err, got)
			}
			return
		}
		again, err := DecodeBooleans(nil, AppendBooleans(nil, got[1:]))
		if err != nil || !slices.Equal(again, got[1:]) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func FuzzDecodeStrings(f *testing.F) {
	for _, c := range stringCases() {
		addSeeds(f, AppendStrings(nil, c[:100]))
	}
	addSeeds(f, AppendStrings(nil, []string{"", "a", "héllo"}),
		AppendStrings(nil, []string{"ok", "ok", "warn", "ok", "crit", "ok"}))
	f.Fuzz(func(t *testing.T, src []byte) {
		got, err := DecodeStrings([]string{"p"}, src)
		if err != nil {
			if len(got) != 1 || got[0] != "p" {
				t.Fatalf("dst changed on error %v: %v", err, got)
			}
			return
		}
		again, err := DecodeStrings(nil, AppendStrings(nil, got[1:]))
		if err != nil || !slices.Equal(again, got[1:]) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

// The round-trip fuzzers go the other way: arbitrary values (8 bytes each)
// must encode with whatever scheme wins and decode to the same bits.

func valuesOf(data []byte) []uint64 {
	vs := make([]uint64, len(data)/8)
	for i := range vs {
		vs[i] = binary.LittleEndian.Uint64(data[8*i:])
	}
	return vs
}

func bytesOf[T int64 | uint64](vs []T) []byte {
	b := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func FuzzRoundTripIntegers(f *testing.F) {
	for _, c := range append(timestampCases(), integerCases()...) {
		f.Add(bytesOf(c.vs[:40]))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := valuesOf(data)
		vs := make([]int64, len(u))
		for i, v := range u {
			vs[i] = int64(v)
		}
		got, err := DecodeIntegers(nil, AppendIntegers(nil, vs))
		if err != nil || !slices.Equal(got, vs) {
			t.Fatalf("integers: %v", err)
		}
		got, err = DecodeTimestamps(nil, AppendTimestamps(nil, vs))
		if err != nil || !slices.Equal(got, vs) {
			t.Fatalf("timestamps: %v", err)
		}
	})
}

func FuzzRoundTripFloats(f *testing.F) {
	for _, c := range floatCases() {
		u := make([]uint64, 40)
		for i := range u {
			u[i] = math.Float64bits(c.vs[i])
		}
		f.Add(bytesOf(u))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := valuesOf(data)
		vs := make([]float64, len(u))
		for i, v := range u {
			vs[i] = math.Float64frombits(v)
		}
		got, err := DecodeFloats(nil, AppendFloats(nil, vs))
		if err != nil || !sameBits(got, vs) {
			t.Fatalf("floats: %v", err)
		}
	})
}
