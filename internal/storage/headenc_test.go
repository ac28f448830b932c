package storage

import (
	"fmt"
	"math"
	"math/rand"
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
