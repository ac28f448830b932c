package query

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
)

// TestSummariesAnswerAsPoints loads the same data into an engine that
// keeps it in its head and one that flushes it to blocks (whose chunks
// carry summaries), and requires the same answer from both for the
// streamed aggregates over buckets that hold whole chunks, part chunks
// or both: ties between chunks, integers whose sums leave ±2^53 (mean
// must then decode), several series per group, and time zones.
func TestSummariesAnswerAsPoints(t *testing.T) {
	open := func(flush bool) (*Executor, *storage.Engine) {
		e := emptyEngine(t)
		r := rand.New(rand.NewSource(7))
		var pts []models.Point
		for s := 0; s < 5000; s++ { // 5 chunks per series field, 10 s apart
			ts := testStart.Add(time.Duration(s) * 10 * time.Second).UnixNano()
			for h := 0; h < 3; h++ {
				tags := models.Tags{{Key: "host", Value: fmt.Sprintf("h%d", h)}}
				big := int64(r.Intn(4)) << 60 // integer sums wrap within a chunk
				if h == 0 {
					big = -big
				}
				pts = append(pts, models.Point{Measurement: "m", Tags: tags, Time: ts, Fields: []models.Field{
					models.FloatField("f", float64(r.Intn(50))/4), // many ties
					models.IntegerField("i", int64(r.Intn(1000))-500),
					models.IntegerField("big", big),
					models.UnsignedField("u", uint64(r.Intn(100))),
				}})
			}
		}
		if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
			t.Fatal(err)
		}
		if flush {
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		return &Executor{Store: e}, e
	}
	head, _ := open(false)
	blocks, eng := open(true)
	end := testStart.Add(5000 * 10 * time.Second)
	ranges := []string{
		"",
		fmt.Sprintf("WHERE time >= '%s' AND time < '%s'", testStart.Add(3*time.Hour).Format(time.RFC3339), end.Add(-time.Hour).Format(time.RFC3339)),
	}
	var queries []string
	for _, field := range []string{"f", "i", "big", "u"} {
		for _, fn := range []string{"count", "sum", "mean", "min", "max", "first", "last", "spread"} {
			for _, where := range ranges {
				for _, group := range []string{"", "GROUP BY host", "GROUP BY time(1d)", "GROUP BY time(6h), host",
					"GROUP BY time(3h, 20m) fill(none)", "GROUP BY time(1d) tz('Europe/Berlin')"} {
					queries = append(queries, fmt.Sprintf("SELECT %s(%s) FROM m %s %s", fn, field, where, group))
				}
			}
		}
		queries = append(queries, fmt.Sprintf("SELECT count(%[1]s), sum(%[1]s), mean(%[1]s), min(%[1]s), max(%[1]s), spread(%[1]s) FROM m GROUP BY time(12h)", field))
	}
	before := eng.Statistics()["chunksSummarized"]
	for _, q := range queries {
		want, err1 := run(head, q, Options{Now: end})
		got, err2 := run(blocks, q, Options{Now: end})
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("%s: errors %v and %v", q, err1, err2)
		}
		if !sameRows(got, want) {
			t.Errorf("%s:\n blocks %s\n   head %s", q, dump(got), dump(want))
		}
	}
	if n := eng.Statistics()["chunksSummarized"] - before; n < 1000 {
		t.Fatalf("only %d chunks answered from summaries", n)
	}
}

func dump(rows []*Row) string {
	s := ""
	for _, r := range rows {
		s += fmt.Sprintf("%v %v %v;", r.Tags, r.Columns, r.Values)
	}
	return s
}

// sameRows compares answers exactly except floats, which may differ in
// the last bits where a chunk's sum was added at once.
func sameRows(a, b []*Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !reflect.DeepEqual(a[i].Tags, b[i].Tags) || !reflect.DeepEqual(a[i].Columns, b[i].Columns) ||
			len(a[i].Values) != len(b[i].Values) {
			return false
		}
		for j := range a[i].Values {
			x, y := a[i].Values[j], b[i].Values[j]
			if len(x) != len(y) {
				return false
			}
			for k := range x {
				fx, ok1 := x[k].(float64)
				fy, ok2 := y[k].(float64)
				if ok1 && ok2 {
					if fx != fy && math.Abs(fx-fy) > 1e-12*math.Max(math.Abs(fx), math.Abs(fy)) {
						return false
					}
				} else if !reflect.DeepEqual(x[k], y[k]) {
					return false
				}
			}
		}
	}
	return true
}
