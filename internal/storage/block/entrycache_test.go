package block

import (
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// manySeries writes n one-field series to a block file and opens it.
func manySeries(t *testing.T, n int) *Reader {
	t.Helper()
	var data []testSeries
	for id := 1; id <= n; id++ {
		col := Column{Type: models.Float, Times: []int64{int64(id)}, Floats: []float64{float64(id)}}
		data = append(data, testSeries{id: uint64(id), fields: []testField{{"v", col}}})
	}
	path := filepath.Join(t.TempDir(), "many.blk")
	writeFile(t, path, data)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestEntryCache(t *testing.T) {
	r := manySeries(t, 100)
	want := map[uint64][]FieldInfo{}
	for id := uint64(1); id <= 100; id++ {
		want[id] = r.Fields(id) // no cache yet
	}
	one := int64(0)
	c := NewEntryCache(1 << 20)
	r.SetEntryCache(c)
	r.Fields(1)
	one = c.bytes
	// A budget for ten entries.
	c = NewEntryCache(10 * one)
	r.SetEntryCache(c)

	steps := []struct {
		ids            []uint64
		hits, misses   int64
		cachedAfter    int
		scan, presence bool
	}{
		{ids: []uint64{1, 2, 3}, hits: 0, misses: 3, cachedAfter: 3},
		{ids: []uint64{1, 2, 3}, hits: 3, misses: 3, cachedAfter: 3},
		{ids: []uint64{4, 5, 6, 7, 8, 9, 10, 11, 12}, hits: 3, misses: 12, cachedAfter: 10}, // 1 and 2 evicted
		{ids: []uint64{1}, hits: 3, misses: 13, cachedAfter: 10},
		{ids: []uint64{12}, hits: 4, misses: 13, cachedAfter: 10},
		{ids: []uint64{50, 51}, scan: true, hits: 4, misses: 13, cachedAfter: 10}, // scans bypass the cache
		{ids: []uint64{60, 1000}, presence: true, hits: 4, misses: 13, cachedAfter: 10},
	}
	for i, st := range steps {
		for _, id := range st.ids {
			var got []FieldInfo
			var err error
			switch {
			case st.scan:
				got, err = r.ScanSeriesFields(id)
			case st.presence:
				if r.HasSeries(id) != (id <= 100) {
					t.Fatalf("HasSeries(%d) wrong", id)
				}
				continue
			default:
				got, err = r.SeriesFields(id)
			}
			if err != nil || !reflect.DeepEqual(got, want[id]) {
				t.Fatalf("step %d: series %d: %v %v", i, id, got, err)
			}
		}
		h, m := c.Stats()
		if h != st.hits || m != st.misses || len(c.items) != st.cachedAfter || c.bytes > c.budget {
			t.Fatalf("step %d: hits %d misses %d cached %d bytes %d/%d, want %d %d %d", i, h, m, len(c.items), c.bytes, c.budget,
				st.hits, st.misses, st.cachedAfter)
		}
	}
	// Keys hold series table indexes: series id-1 here.
	if _, ok := c.items[entryKey{reader: r.id, series: 0}]; !ok {
		t.Fatal("series 1, read again, should be cached")
	}
	if _, ok := c.items[entryKey{reader: r.id, series: 1}]; ok {
		t.Fatal("series 2, least recently used, should be evicted")
	}
}

// TestEntryCacheSharedAndConcurrent: readers sharing a cache never see
// each other's entries, under concurrent use (run with -race).
func TestEntryCacheSharedAndConcurrent(t *testing.T) {
	a, b := manySeries(t, 50), manySeries(t, 50)
	c := NewEntryCache(1 << 20)
	a.SetEntryCache(c)
	b.SetEntryCache(c)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := uint64(i%50 + 1)
				r := a
				if (g+i)%2 == 0 {
					r = b
				}
				fs := r.Fields(id)
				if len(fs) != 1 || len(fs[0].Chunks) != 1 || fs[0].Chunks[0].MinTime != int64(id) {
					panic(fmt.Sprintf("series %d: %+v", id, fs))
				}
			}
		}(g)
	}
	wg.Wait()
	// Two goroutines may both miss an entry before one caches it.
	if h, m := c.Stats(); m < 100 || h+m != 800 || len(c.items) != 100 {
		t.Fatalf("hits %d misses %d cached %d, want 800 asks, >= 100 misses, 100 entries", h, m, len(c.items))
	}
}
