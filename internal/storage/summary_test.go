package storage

import (
	"math"
	"testing"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// TestReadOffersSummaries: with ReadRequest.Summary, exactly the block
// chunks wholly inside the range that overlap nothing else are offered
// instead of read; every other point still reaches the ReadFunc, and no
// point is counted twice or lost.
func TestReadOffersSummaries(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	const n = 3*block.ChunkPoints + 100 // 4 chunks once flushed
	var pts []models.Point
	for i := 0; i < n; i++ {
		pts = append(pts, pt("m", hostA, int64(i)*10, models.FloatField("f", float64(i)), models.StringField("s", "x")))
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
	must(t, e.Flush())
	// An overwrite inside the second chunk (in the head) overlaps it:
	// that chunk must be merged, never summarized.
	overwrite := int64(block.ChunkPoints+5) * 10
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, overwrite, models.FloatField("f", -1))}}))
	ix, err := e.Index("db")
	must(t, err)
	id, _ := ix.Lookup([]byte("m,host=a"))

	cases := []struct {
		name           string
		minT, maxT     int64
		accept         bool
		wantSummarized int // chunks
		wantPoints     int // through the ReadFunc
	}{
		{"all, accepted", math.MinInt64, math.MaxInt64, true, 3, 1000},
		{"all, declined", math.MinInt64, math.MaxInt64, false, 3, n},
		{"cut first and last", 50, int64(n-2) * 10, true, 1, 995 + 1000 + 99},
		{"inside one chunk", 100, 200, true, 0, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var offered, summarized, points int
			sum, count := 0.0, 0
			err := e.Read(ReadRequest{Database: "db", SeriesIDs: []uint64{id}, MinTime: tc.minT, MaxTime: tc.maxT,
				Summary: func(sid uint64, field string, m *block.ChunkMeta) (bool, error) {
					if sid != id || field != "f" || !m.Summary.Valid || m.MinTime < tc.minT || m.MaxTime > tc.maxT {
						t.Fatalf("bad offer %d %s %+v", sid, field, m)
					}
					if m.MinTime <= overwrite && overwrite <= m.MaxTime {
						t.Fatal("offered the chunk an overwrite overlaps")
					}
					offered++
					if tc.accept {
						summarized++
						sum += math.Float64frombits(m.Summary.Sum)
						count += m.Count
					}
					return tc.accept, nil
				}}, func(_ uint64, field string, col *block.Column) error {
				if field == "f" {
					points += col.Len()
					for _, v := range col.Floats {
						sum += v
					}
					count += col.Len()
				}
				return nil
			})
			must(t, err)
			if offered != tc.wantSummarized || points != tc.wantPoints {
				t.Fatalf("offered %d chunks and read %d points, want %d and %d", offered, points, tc.wantSummarized, tc.wantPoints)
			}
			// The total is the same whichever way each chunk came.
			var want float64
			wantN := 0
			for i := 0; i < n; i++ {
				if ts := int64(i) * 10; ts >= tc.minT && ts <= tc.maxT {
					v := float64(i)
					if ts == overwrite {
						v = -1
					}
					want += v
					wantN++
				}
			}
			if count != wantN || sum != want {
				t.Fatalf("count %d sum %v, want %d and %v", count, sum, wantN, want)
			}
		})
	}
}
