package query

import (
	be "encoding/binary"
	"math"
	"slices"
	"testing"
)

// FuzzWindowPlan holds the window plan to what reading by windows needs:
// windows in order (ascending, or descending for DESC), disjoint, each
// listing every series with a span overlapping it, and together covering
// every span's points.
func FuzzWindowPlan(f *testing.F) {
	f.Add([]byte{}, uint16(1024), false)
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x20\x05\x00"), uint16(1), true)
	seed := make([]byte, 0, 18*40)
	for i := 0; i < 40; i++ {
		seed = be.BigEndian.AppendUint64(seed, uint64(i*1000))
		seed = be.BigEndian.AppendUint64(seed, uint64(i*1000+5000))
		seed = append(seed, byte(i*7), byte(i%5))
	}
	f.Add(seed, uint16(3000), false)
	f.Add(seed, uint16(3000), true)
	minT := int64(math.MinInt64 + 2)
	extreme := be.BigEndian.AppendUint64(nil, uint64(minT))
	extreme = be.BigEndian.AppendUint64(extreme, uint64(math.MaxInt64-1))
	extreme = append(extreme, 255, 1)
	f.Add(extreme, uint16(1), false)
	f.Add(extreme, uint16(1), true)
	f.Fuzz(func(t *testing.T, data []byte, per uint16, desc bool) {
		var spans []span
		for len(data) >= 18 {
			lo, hi := int64(be.BigEndian.Uint64(data)), int64(be.BigEndian.Uint64(data[8:]))
			n, ser := int64(data[16])+1, int32(data[17]%16)
			data = data[18:]
			if lo > hi {
				lo, hi = hi, lo
			}
			// Storage's times lie within InfluxQL's range.
			lo, hi = max(lo, math.MinInt64+2), min(hi, math.MaxInt64-1)
			if lo > hi {
				continue
			}
			spans = append(spans, span{lo: lo, hi: hi, n: n, ser: ser})
		}
		orig := slices.Clone(spans)
		plan := newWindowPlan(spans, int64(per), desc)
		var wins []window
		for w, ok := plan.next(); ok; w, ok = plan.next() {
			if w.lo > w.hi {
				t.Fatalf("window [%d, %d] is empty", w.lo, w.hi)
			}
			if n := len(wins); n > 0 {
				prev := wins[n-1]
				if !desc && w.lo <= prev.hi || desc && w.hi >= prev.lo {
					t.Fatalf("window [%d, %d] after [%d, %d] (desc %v)", w.lo, w.hi, prev.lo, prev.hi, desc)
				}
			}
			if !slices.IsSorted(w.series) {
				t.Fatalf("series %v not in group order", w.series)
			}
			wins = append(wins, w)
			if len(wins) > 100_000 {
				t.Fatal("too many windows")
			}
		}
		for _, s := range orig {
			covered := int64(0)
			for _, w := range wins {
				lo, hi := max(w.lo, s.lo), min(w.hi, s.hi)
				if lo > hi {
					continue
				}
				covered += hi - lo // (+1 per window, added below, without overflow)
				covered++
				if _, found := slices.BinarySearch(w.series, s.ser); !found {
					t.Fatalf("span %+v overlaps window [%d, %d] but its series is not listed", s, w.lo, w.hi)
				}
			}
			if uint64(covered) != uint64(s.hi)-uint64(s.lo)+1 {
				t.Fatalf("span %+v: windows cover %d of its times", s, covered)
			}
		}
	})
}
