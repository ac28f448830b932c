package index

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// TestConcurrent runs writers creating the same series in different
// orders beside readers, a syncer and a goroutine that creates, drops and
// compacts another measurement. Run it with -race.
func TestConcurrent(t *testing.T) {
	ix := openT(t, t.TempDir(), Options{})
	defer ix.Close()
	const nSeries, nWriters = 500, 4
	type series struct {
		m    string
		tags models.Tags
		key  []byte
	}
	all := make([]series, nSeries)
	for i := range all {
		tags := tagsOf("host", fmt.Sprintf("h%d", i%50), "cpu", fmt.Sprintf("cpu%d", i/50))
		all[i] = series{"cpu", tags, models.AppendSeriesKey(nil, "cpu", tags)}
	}
	ids := make([][]uint64, nWriters)
	var writers, others sync.WaitGroup
	stop := make(chan struct{})
	for w := range nWriters {
		writers.Add(1)
		go func() {
			defer writers.Done()
			ids[w] = make([]uint64, nSeries)
			order := rand.Perm(nSeries)
			for _, i := range order {
				id, _, err := ix.CreateSeries(all[i].key, all[i].m, all[i].tags)
				if err != nil {
					t.Error(err)
					return
				}
				ids[w][i] = id
			}
		}()
	}
	others.Add(3)
	go func() { // reader
		defer others.Done()
		re := regexp.MustCompile(`^h1`)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, m := range ix.Measurements() {
				for _, k := range ix.TagKeys(m) {
					for _, v := range ix.TagValues(m, k) {
						s := ix.TagValueSeries(m, k, v)
						it := s.Iterator()
						for it.HasNext() {
							if _, ok := ix.SeriesKey(uint64(it.Next())); !ok && m == "cpu" {
								t.Error("id in a posting list without a key")
								return
							}
						}
					}
				}
				ix.MatchTagValues(m, "host", re.MatchString)
				ix.MeasurementSeries(m)
			}
			ix.Series(uint64(rand.IntN(nSeries) + 1))
			ix.SeriesCount()
		}
	}()
	go func() { // syncer
		defer others.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := ix.Sync(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { // churn in another measurement
		defer others.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			mustCreate(t, ix, "tmp", "n", fmt.Sprint(i))
			if i%10 == 9 {
				if err := ix.DropMeasurement("tmp"); err != nil {
					t.Error(err)
					return
				}
			}
			if i%50 == 49 {
				if err := ix.Compact(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	writers.Wait()
	close(stop)
	others.Wait()

	seen := map[uint64]bool{}
	for i := range all {
		id := ids[0][i]
		for w := 1; w < nWriters; w++ {
			if ids[w][i] != id {
				t.Fatalf("series %d: writer 0 got id %d, writer %d got %d", i, id, w, ids[w][i])
			}
		}
		if seen[id] {
			t.Fatalf("id %d given to two series", id)
		}
		seen[id] = true
		if got, ok := ix.Lookup(all[i].key); !ok || got != id {
			t.Fatalf("Lookup(%s) = %d %v, want %d", all[i].key, got, ok, id)
		}
	}
	if got := ix.MeasurementSeries("cpu").GetCardinality(); got != nSeries {
		t.Fatalf("cpu has %d series, want %d", got, nSeries)
	}
}
