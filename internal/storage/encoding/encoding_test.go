package encoding

import (
	"math"
	"slices"
	"testing"
)

func TestRoundTripSimple(t *testing.T) {
	ints := []int64{0, 1, -1, math.MinInt64, math.MaxInt64, 5}
	got, err := DecodeIntegers(nil, AppendIntegers(nil, ints))
	if err != nil || !slices.Equal(got, ints) {
		t.Fatalf("integers: %v %v", got, err)
	}
	fs := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), 1.5}
	gf, err := DecodeFloats(nil, AppendFloats(nil, fs))
	if err != nil || len(gf) != len(fs) {
		t.Fatalf("floats: %v %v", gf, err)
	}
	for i := range fs {
		if math.Float64bits(fs[i]) != math.Float64bits(gf[i]) {
			t.Fatalf("float %d: %v != %v", i, gf[i], fs[i])
		}
	}
	ss := []string{"", "a", "hello"}
	gs, err := DecodeStrings(nil, AppendStrings(nil, ss))
	if err != nil || !slices.Equal(gs, ss) {
		t.Fatalf("strings: %v %v", gs, err)
	}
	bs := []bool{true, false, true}
	gb, err := DecodeBooleans(nil, AppendBooleans(nil, bs))
	if err != nil || !slices.Equal(gb, bs) {
		t.Fatalf("booleans: %v %v", gb, err)
	}
	us := []uint64{0, math.MaxUint64, 3}
	gu, err := DecodeUnsigneds(nil, AppendUnsigneds(nil, us))
	if err != nil || !slices.Equal(gu, us) {
		t.Fatalf("unsigneds: %v %v", gu, err)
	}
}
