package storage

import (
	"math"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// TestLatestTimeAndInstantReads: LatestTime finds the latest time in a
// range from metadata wherever the data is (head, frozen or flushed,
// several shards, out of order, a chunk straddling the range's end), and
// a read of that instant returns the values a full read has there.
func TestLatestTimeAndInstantReads(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	week := int64(7 * 24 * time.Hour)
	write := func(ts int64, fields ...models.Field) {
		t.Helper()
		must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, ts, fields...)}}))
	}
	// Shard 1: 2500 float and bool points, flushed (3 chunks).
	for i := int64(0); i < 2500; i++ {
		write(i*10, models.FloatField("f", float64(i)), models.BooleanField("b", i%2 == 0))
	}
	must(t, e.Flush())
	// Shard 2 (a week later): head data, one string field, out of order.
	write(week+50, models.FloatField("f", -1), models.StringField("s", "late"))
	write(week+30, models.FloatField("f", -2))
	write(week+70, models.IntegerField("i", 7))
	write(week+50, models.FloatField("f", -3)) // overwrites the latest f
	ix, err := e.Index("db")
	must(t, err)
	id, _ := ix.Lookup([]byte("m,host=a"))

	cases := []struct {
		name       string
		fields     []string
		minT, maxT int64
		want       int64 // -1: none
	}{
		{"everything", nil, math.MinInt64, math.MaxInt64, week + 70},
		{"one field in the head", []string{"f"}, math.MinInt64, math.MaxInt64, week + 50},
		{"string field", []string{"s"}, math.MinInt64, math.MaxInt64, week + 50},
		{"head bounded inside", []string{"f"}, 0, week + 40, week + 30},
		{"older shard only", []string{"f"}, 0, week - 1, 24990},
		{"straddling chunk", []string{"f"}, 0, 15005, 15000},
		{"chunk edge", []string{"b"}, 0, 9990, 9990},
		{"before everything", nil, math.MinInt64, -1, -1},
		{"gap", nil, 25000, week, -1},
		{"missing field", []string{"nope"}, math.MinInt64, math.MaxInt64, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := ReadRequest{Database: "db", SeriesIDs: []uint64{id}, Fields: tc.fields, MinTime: tc.minT, MaxTime: tc.maxT}
			got, ok, err := e.LatestTime(req)
			must(t, err)
			if !ok {
				got = -1
			}
			// The reference: the last time of a full read.
			want := int64(-1)
			must(t, e.Read(req, func(_ uint64, _ string, col *block.Column) error {
				if n := col.Len(); n > 0 && col.Times[n-1] > want {
					want = col.Times[n-1]
				}
				return nil
			}))
			if got != tc.want || want != tc.want {
				t.Fatalf("LatestTime %d, full read %d, want %d", got, want, tc.want)
			}
			if !ok {
				return
			}
			// An instant read at that time equals the full read there.
			instant := map[string]any{}
			req.MinTime, req.MaxTime = got, got
			must(t, e.Read(req, func(_ uint64, f string, col *block.Column) error {
				instant[f] = col.Value(0)
				return nil
			}))
			full := map[string]any{}
			req.MinTime, req.MaxTime = tc.minT, tc.maxT
			must(t, e.Read(req, func(_ uint64, f string, col *block.Column) error {
				for i, ts := range col.Times {
					if ts == got {
						full[f] = col.Value(i)
					}
				}
				return nil
			}))
			if len(instant) == 0 || len(instant) != len(full) {
				t.Fatalf("instant %v, full %v", instant, full)
			}
			for f, v := range full {
				if instant[f] != v {
					t.Fatalf("field %s: instant %v, full %v", f, instant[f], v)
				}
			}
		})
	}
	if st := e.Statistics(); st["chunksSummarized"] == 0 {
		t.Fatal("no instant read came from a chunk summary")
	}
}
