package index

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

func tryCreate(ix *Index, host string) error {
	tags := tagsOf("host", host)
	_, _, err := ix.CreateSeries(models.AppendSeriesKey(nil, "cpu", tags), "cpu", tags)
	return err
}

// TestMaxSeriesTotal: the live series of all indexes sharing a Shared
// are limited together, deletions and closed (dropped) databases give
// their series back, and the count survives a restart.
func TestMaxSeriesTotal(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	sh := NewShared(3)
	a := openT(t, dirA, Options{Shared: sh})
	b := openT(t, dirB, Options{Shared: sh})
	mustCreate(t, a, "cpu", "host", "a1")
	mustCreate(t, a, "cpu", "host", "a2")
	mustCreate(t, b, "cpu", "host", "b1")
	err := tryCreate(b, "b2")
	want := "max-series-total limit exceeded: (3) series across all databases; " +
		"drop unused series or databases, or raise max-series-total or memory-limit"
	if !errors.Is(err, ErrMaxSeriesTotal) || err.Error() != want {
		t.Fatalf("4th series across databases: err = %v", err)
	}
	var te *MaxSeriesTotalError
	if !errors.As(err, &te) || te.Limit != 3 {
		t.Fatalf("err is not a *MaxSeriesTotalError with Limit 3: %#v", err)
	}
	if errors.Is(err, ErrMaxSeries) {
		t.Fatal("the total limit's error must not claim the per-database limit")
	}
	// Existing series still resolve at the limit.
	if _, created, err := b.CreateSeries([]byte("cpu,host=b1"), "cpu", tagsOf("host", "b1")); err != nil || created {
		t.Fatalf("existing series at the total limit: %v %v", created, err)
	}
	if got := sh.Series(); got != 3 {
		t.Fatalf("Series() = %d, want 3", got)
	}
	if db, total := sh.Refused(); db != 0 || total != 1 {
		t.Fatalf("Refused() = %d, %d; want 0, 1", db, total)
	}
	// A deletion frees room for another series anywhere.
	if err := a.DeleteSeries(bm(1)); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, b, "cpu", "host", "b2")
	if err := tryCreate(a, "a3"); !errors.Is(err, ErrMaxSeriesTotal) {
		t.Fatalf("after refilling: err = %v", err)
	}
	// Dropping a measurement frees its series too.
	if err := b.DropMeasurement("cpu"); err != nil {
		t.Fatal(err)
	}
	if got := sh.Series(); got != 1 {
		t.Fatalf("after DROP MEASUREMENT: Series() = %d, want 1", got)
	}
	mustCreate(t, a, "cpu", "host", "a3")
	mustCreate(t, a, "cpu", "host", "a4")
	a.Close()
	b.Close()
	if got := sh.Series(); got != 0 {
		t.Fatalf("after closing every index: Series() = %d, want 0", got)
	}

	// Restart with a lower total: the series on disk are all loaded and
	// counted, and new ones are refused.
	sh = NewShared(2)
	a = openT(t, dirA, Options{Shared: sh})
	defer a.Close()
	b = openT(t, dirB, Options{Shared: sh})
	defer b.Close()
	if a.SeriesCount() != 3 || b.SeriesCount() != 0 || sh.Series() != 3 {
		t.Fatalf("after restart: a %d, b %d, shared %d series; want 3, 0, 3", a.SeriesCount(), b.SeriesCount(), sh.Series())
	}
	if err := tryCreate(b, "b9"); !errors.Is(err, ErrMaxSeriesTotal) {
		t.Fatalf("after restart with a lower total: err = %v", err)
	}
}

// TestSharedRelaxed: while limits are not enforced (WAL replay) neither
// limit refuses a series, and the series still count.
func TestSharedRelaxed(t *testing.T) {
	sh := NewShared(1)
	ix := openT(t, t.TempDir(), Options{MaxSeries: 1, Shared: sh})
	defer ix.Close()
	sh.SetEnforced(false)
	for _, h := range []string{"a", "b", "c"} {
		mustCreate(t, ix, "cpu", "host", h)
	}
	sh.SetEnforced(true)
	if sh.Series() != 3 {
		t.Fatalf("Series() = %d, want 3", sh.Series())
	}
	err := tryCreate(ix, "d")
	if !errors.Is(err, ErrMaxSeries) || err.Error() != "max-series-per-database limit exceeded: (1)" {
		t.Fatalf("enforced again: err = %v", err)
	}
	if db, total := sh.Refused(); db != 1 || total != 0 {
		t.Fatalf("Refused() = %d, %d; want 1, 0 (the per-database limit is checked first)", db, total)
	}
}

// TestMaxSeriesTotalConcurrent: writers racing into several databases
// never create more series than the total allows.
func TestMaxSeriesTotalConcurrent(t *testing.T) {
	const limit, dbs, perWriter = 50, 4, 40
	sh := NewShared(limit)
	var ixs []*Index
	for range dbs {
		ix := openT(t, t.TempDir(), Options{Shared: sh})
		defer ix.Close()
		ixs = append(ixs, ix)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for w, ix := range ixs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				err := tryCreate(ix, fmt.Sprintf("w%d-%d", w, i))
				mu.Lock()
				switch {
				case err == nil:
					created++
				case errors.Is(err, ErrMaxSeriesTotal):
					refused++
				default:
					t.Errorf("CreateSeries: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, ix := range ixs {
		total += ix.SeriesCount()
	}
	if created != limit || total != limit || sh.Series() != limit || refused != dbs*perWriter-limit {
		t.Fatalf("created %d, in indexes %d, shared %d, refused %d; want %d, %d, %d, %d",
			created, total, sh.Series(), refused, limit, limit, limit, dbs*perWriter-limit)
	}
}

// TestMaxSeriesTotalWeighsLongKeys: the total limit is derived from
// memory at 1 KiB per series, so a series with a longer key counts once
// per KiB: 64 KiB keys cannot take 64 times the memory budgeted.
func TestMaxSeriesTotalWeighsLongKeys(t *testing.T) {
	for _, tt := range []struct{ keyLen, want int }{{1, 1}, {1023, 1}, {1024, 2}, {2100, 3}, {MaxKeyLen, 64}} {
		if got := Weight(tt.keyLen); got != int64(tt.want) {
			t.Errorf("Weight(%d) = %d, want %d", tt.keyLen, got, tt.want)
		}
	}
	dir := t.TempDir()
	sh := NewShared(5)
	ix := openT(t, dir, Options{Shared: sh})
	long := strings.Repeat("x", 2100)
	idLong := mustCreate(t, ix, "cpu", "host", long)
	mustCreate(t, ix, "cpu", "host", "a")
	mustCreate(t, ix, "cpu", "host", "b")
	if err := tryCreate(ix, "c"); !errors.Is(err, ErrMaxSeriesTotal) {
		t.Fatalf("3 series weighing 5 of 5: err = %v", err)
	}
	if sh.Series() != 3 || sh.Weight() != 5 {
		t.Fatalf("Series() %d, Weight() %d; want 3, 5", sh.Series(), sh.Weight())
	}
	ix.Close()
	if sh.Series() != 0 || sh.Weight() != 0 {
		t.Fatalf("after Close: Series() %d, Weight() %d", sh.Series(), sh.Weight())
	}
	ix = openT(t, dir, Options{Shared: sh})
	defer ix.Close()
	if sh.Series() != 3 || sh.Weight() != 5 {
		t.Fatalf("after reopen: Series() %d, Weight() %d; want 3, 5", sh.Series(), sh.Weight())
	}
	if err := ix.DeleteSeries(bm(uint32(idLong))); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"c", "d", "e"} {
		mustCreate(t, ix, "cpu", "host", h)
	}
	if err := tryCreate(ix, "f"); !errors.Is(err, ErrMaxSeriesTotal) || sh.Weight() != 5 {
		t.Fatalf("after deleting the long key and adding 3: err = %v, weight %d", err, sh.Weight())
	}
}
