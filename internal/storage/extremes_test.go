package storage

import (
	"fmt"
	"testing"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

// TestExtremeTimestampsSurviveRestart writes points at both ends of the
// range the API accepts (and next to them), closes, reopens, and reads
// every one back: a shard bound that overflowed used to put a point at
// MinNanoTime into a shard whose range did not hold it, so it vanished
// at the next start. Shards with one and with several points, flushed by
// Close and replayed from the WAL without a flush, are both covered.
func TestExtremeTimestampsSurviveRestart(t *testing.T) {
	times := []int64{lineproto.MinNanoTime, lineproto.MinNanoTime + 1, lineproto.MinNanoTime + 7*24*3600e9,
		-1, 0, 1, lineproto.MaxNanoTime - 7*24*3600e9, lineproto.MaxNanoTime - 1, lineproto.MaxNanoTime}
	for _, flush := range []bool{true, false} {
		t.Run(fmt.Sprintf("flush=%v", flush), func(t *testing.T) {
			dir := t.TempDir()
			e := openTest(t, dir, nil)
			must(t, e.CreateDatabase("db"))
			var want []value
			for i, ts := range times {
				must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, ts, models.IntegerField("v", int64(i)))}}))
				want = append(want, value{ts, int64(i)})
			}
			check := func(when string) {
				t.Helper()
				got := readAll(t, e, "db", "", "m,host=a")["v"]
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: read %v\nwant %v", when, got, want)
				}
			}
			check("before restart")
			if flush {
				must(t, e.Close())
			} else {
				e.abandon() // as a crash would: replayed from the WAL
			}
			e = openTest(t, dir, nil)
			defer e.Close()
			check("after restart")
			for _, ts := range times {
				if n, w := readWarnings(t, e, "m,host=a", ts, ts); n != 1 || len(w) != 0 {
					t.Fatalf("read at exactly %d: %d values, warnings %q", ts, n, w)
				}
			}
		})
	}
}
