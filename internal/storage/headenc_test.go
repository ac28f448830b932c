package storage

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"testing"
	"testing/quick"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// TestHeadStreamRoundTrip appends arbitrary values of every type (in any
// time order) and decodes them back exactly.
func TestHeadStreamRoundTrip(t *testing.T) {
	for _, typ := range []models.FieldType{models.Float, models.Integer, models.Unsigned, models.Boolean, models.String} {
		f := func(times []int64, nums []uint64, seed int64) bool {
			n := min(len(times), len(nums))
			r := rand.New(rand.NewSource(seed))
			var s headStream
			var strs []string
			for i := 0; i < n; i++ {
				v := nums[i]
				switch typ {
				case models.Boolean:
					v &= 1
				case models.Float:
					if r.Intn(4) == 0 {
						v = math.Float64bits(math.NaN())
					}
				}
				nums[i] = v
				str := string(rune('a' + r.Intn(26)))
				strs = append(strs, str)
				s.appendValue(times[i], typ, v, str)
			}
			got := block.Column{Type: typ}
			if err := s.decodeRange(&got, minTime, maxTime, false); err != nil || got.Len() != n {
				return false
			}
			for i := 0; i < n; i++ {
				if got.Times[i] != times[i] {
					return false
				}
				var ok bool
				switch typ {
				case models.Float:
					ok = math.Float64bits(got.Floats[i]) == nums[i]
				case models.Integer:
					ok = uint64(got.Integers[i]) == nums[i]
				case models.Unsigned:
					ok = got.Unsigneds[i] == nums[i]
				case models.Boolean:
					ok = got.Booleans[i] == (nums[i] == 1)
				case models.String:
					ok = got.Strings[i] == strs[i]
				}
				if !ok {
					return false
				}
			}
			return true
		}
		if err := quick.Check(f, &quick.Config{MaxCount: 300}); err != nil {
			t.Errorf("%v: %v", typ, err)
		}
	}
}

func FuzzHeadStreamDecode(f *testing.F) {
	var s headStream
	s.appendValue(10e9, models.Float, math.Float64bits(1.5), "")
	s.appendValue(20e9, models.Float, math.Float64bits(2.5), "")
	f.Add(s.b, 2, uint8(models.Float))
	f.Add([]byte{0x80, 0x80}, 5, uint8(models.String))
	f.Fuzz(func(t *testing.T, b []byte, n int, typ uint8) {
		if n < 0 || n > 1<<16 {
			return
		}
		st := headStream{b: b, n: n}
		for _, exact := range []bool{false, true} {
			st.decodeRange(&block.Column{Type: models.FieldType(typ % 6)}, minTime, maxTime, exact) // must not panic
		}
	})
}

// TestHeadRangeReadsMatchFullReads checks that reads starting at a mark
// return exactly the values a full decode filtered by time returns.
func TestHeadRangeReadsMatchFullReads(t *testing.T) {
	c := &memColumn{name: "v", typ: models.Float, ordered: true}
	for i := 0; i < 1000; i++ {
		f := models.FloatField("v", float64(i)*1.5)
		c.append(int64(i)*10, &f)
	}
	if len(c.stream.marks) == 0 {
		t.Fatal("no marks recorded")
	}
	for _, r := range [][2]int64{{0, 9990}, {-5, 3}, {1275, 1285}, {1280, 1280}, {5000, 7777}, {9990, 20000}, {20000, 30000}, {-100, -1}} {
		var got block.Column
		c.fill(&got, r[0], r[1])
		var want []int64
		for i := int64(0); i < 1000; i++ {
			if ts := i * 10; ts >= r[0] && ts <= r[1] {
				want = append(want, ts)
			}
		}
		if fmt.Sprint(got.Times) != fmt.Sprint(want) && !(len(got.Times) == 0 && len(want) == 0) {
			t.Fatalf("range %v: got %d times, want %d", r, len(got.Times), len(want))
		}
		for i, ts := range got.Times {
			if got.Floats[i] != float64(ts/10)*1.5 {
				t.Fatalf("range %v: value at %d = %v", r, ts, got.Floats[i])
			}
		}
	}
}

// TestHeadRangeReadsOutOfOrder: concurrent writers append some values out
// of order; range reads decode only overlapping segments and must still
// return exactly the values in range.
func TestHeadRangeReadsOutOfOrder(t *testing.T) {
	c := &memColumn{name: "v", typ: models.Integer, ordered: true}
	var all []int64
	for i := 0; i < 1000; i++ {
		ts := int64(i) * 10
		if i%50 == 7 {
			ts = int64(i-30) * 10 // a late point
		}
		f := models.IntegerField("v", ts)
		c.append(ts, &f)
		all = append(all, ts)
	}
	if c.ordered {
		t.Fatal("column should be out of order")
	}
	for _, r := range [][2]int64{{0, 9990}, {4000, 4100}, {9000, 20000}, {-10, 5}} {
		var got block.Column
		c.fill(&got, r[0], r[1])
		want := map[int64]bool{}
		for _, ts := range all {
			if ts >= r[0] && ts <= r[1] {
				want[ts] = true
			}
		}
		if len(got.Times) != len(want) {
			t.Fatalf("range %v: got %d values, want %d", r, len(got.Times), len(want))
		}
		for i, ts := range got.Times {
			if !want[ts] || got.Integers[i] != ts || (i > 0 && got.Times[i-1] >= ts) {
				t.Fatalf("range %v: bad value %d at %d", r, got.Integers[i], ts)
			}
		}
	}
}

// BenchmarkHeadFill decodes a dashboard's range (6 hours at 10 s) of a
// day-long head column of one-decimal percentages, in order and with
// appends out of order (two writers interleaving batches).
func BenchmarkHeadFill(b *testing.B) {
	for _, ordered := range []bool{true, false} {
		b.Run(fmt.Sprintf("ordered=%v", ordered), func(b *testing.B) {
			c := &memColumn{name: "v", typ: models.Float, ordered: true}
			r := rand.New(rand.NewSource(1))
			v := 50.0
			const n = 8640
			for i := 0; i < n; i++ {
				j := i
				if !ordered && i%6 < 3 && i+3 < n {
					j = i + 3 // the next batch lands first
				} else if !ordered && i%6 >= 3 {
					j = i - 3
				}
				v = math.Round((v+r.Float64()*4-2)*10) / 10
				f := models.FloatField("v", v)
				c.append(int64(j)*10e9, &f)
			}
			var col block.Column
			lo, hi := int64(n-2160)*10e9, int64(n)*10e9
			b.ReportAllocs()
			for b.Loop() {
				c.fill(&col, lo, hi)
			}
			if col.Len() != 2160 {
				b.Fatalf("%d values", col.Len())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2160, "ns/value")
		})
	}
}

// TestSortTimeIdx: the insertion sort with its pdqsort fallback orders
// by time and keeps append order among equal times, for local disorder,
// duplicates and fully shuffled input (which takes the fallback).
func TestSortTimeIdx(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, shape := range []string{"sorted", "local", "duplicates", "shuffled", "reversed"} {
		for _, n := range []int{0, 1, 2, 7, 300, 5000} {
			ord := make([]timeIdx, n)
			for i := range ord {
				ts := int64(i) * 10
				switch shape {
				case "local":
					ts = int64(i+r.Intn(7)-3) * 10
				case "duplicates":
					ts = int64(r.Intn(n/3 + 1))
				case "shuffled":
					ts = r.Int63n(1000)
				case "reversed":
					ts = int64(n - i)
				}
				ord[i] = timeIdx{t: ts, i: int32(i)}
			}
			want := append([]timeIdx(nil), ord...)
			sort.SliceStable(want, func(a, b int) bool { return want[a].t < want[b].t })
			sortTimeIdx(ord)
			if fmt.Sprint(ord) != fmt.Sprint(want) {
				t.Fatalf("%s n=%d: wrong order", shape, n)
			}
		}
	}
}
