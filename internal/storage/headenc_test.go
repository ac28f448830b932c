package storage

import (
	"math"
	"math/rand"
	"testing"
	"testing/quick"

	"github.com/herdmon/herd/internal/models"
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
			gt, gn, gs, err := s.decode(typ, nil, nil, nil)
			if err != nil || len(gt) != n {
				return false
			}
			for i := 0; i < n; i++ {
				if gt[i] != times[i] {
					return false
				}
				if typ == models.String {
					if gs[i] != strs[i] {
						return false
					}
				} else if gn[i] != nums[i] {
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
		st.decode(models.FieldType(typ%6), nil, nil, nil) // must not panic
	})
}
