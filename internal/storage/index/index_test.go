package index

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/herdmon/herd/internal/models"
)

func TestCreateSeries(t *testing.T) {
	ix := openT(t, t.TempDir(), Options{})
	defer ix.Close()
	long := strings.Repeat("x", MaxKeyLen)
	tests := []struct {
		name        string
		key         string // "" means AppendSeriesKey(m, tags)
		m           string
		tags        models.Tags
		wantID      uint64
		wantCreated bool
		wantErr     error
	}{
		{name: "new", m: "cpu", tags: tagsOf("host", "a"), wantID: 1, wantCreated: true},
		{name: "existing", m: "cpu", tags: tagsOf("host", "a"), wantID: 1},
		{name: "second", m: "cpu", tags: tagsOf("host", "b"), wantID: 2, wantCreated: true},
		{name: "no tags", m: "cpu", wantID: 3, wantCreated: true},
		{name: "escapes", m: "disk io", tags: tagsOf("path", "/a,b=c d"), wantID: 4, wantCreated: true},
		{name: "escapes again", m: "disk io", tags: tagsOf("path", "/a,b=c d"), wantID: 4},
		{name: "key of other series", key: "cpu,host=c", m: "cpu", tags: tagsOf("host", "d"), wantErr: ErrBadKey},
		{name: "unsorted tags", key: "cpu,b=1,a=2", m: "cpu", tags: models.Tags{{Key: "a", Value: "2"}, {Key: "b", Value: "1"}}, wantErr: ErrBadKey},
		{name: "ambiguous trailing backslash", m: "cpu", tags: tagsOf("k", `x\`, "z", "1"), wantErr: ErrBadKey},
		{name: "empty", key: "", m: "", wantErr: ErrBadKey},
		{name: "too long", key: long + "y", m: long + "y", wantErr: ErrBadKey},
		{name: "longest", key: long, m: long, wantID: 5, wantCreated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := []byte(tt.key)
			if tt.key == "" && tt.m != "" {
				key = models.AppendSeriesKey(nil, tt.m, tt.tags)
			}
			id, created, err := ix.CreateSeries(key, tt.m, tt.tags)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if id != tt.wantID || created != tt.wantCreated {
				t.Fatalf("got id %d created %v, want %d %v", id, created, tt.wantID, tt.wantCreated)
			}
		})
	}
	if got := ix.SeriesCount(); got != 5 {
		t.Fatalf("SeriesCount = %d, want 5", got)
	}
}

// TestCreateSeriesCopiesKey checks that the index keeps its own copy of a
// key whose buffer the caller reuses.
func TestCreateSeriesCopiesKey(t *testing.T) {
	ix := openT(t, t.TempDir(), Options{})
	defer ix.Close()
	buf := models.AppendSeriesKey(nil, "cpu", tagsOf("host", "a"))
	if _, _, err := ix.CreateSeries(buf, "cpu", tagsOf("host", "a")); err != nil {
		t.Fatal(err)
	}
	copy(buf, "xxxxxxxxxx")
	if k, _ := ix.SeriesKey(1); k != "cpu,host=a" {
		t.Fatalf("SeriesKey = %q after the caller reused its buffer", k)
	}
	if vs := ix.TagValues("cpu", "host"); !slices.Equal(vs, []string{"a"}) {
		t.Fatalf("TagValues = %q", vs)
	}
}

// readFixture builds:
//
//	1 cpu,cpu=cpu0,host=a   2 cpu,cpu=cpu1,host=a   3 cpu,cpu=cpu0,host=b
//	4 mem,host=a            5 mem,host=b,region=eu  6 disk\ io,path=/a\,b
func readFixture(t *testing.T) *Index {
	ix := openT(t, t.TempDir(), Options{})
	t.Cleanup(func() { ix.Close() })
	mustCreate(t, ix, "cpu", "cpu", "cpu0", "host", "a")
	mustCreate(t, ix, "cpu", "cpu", "cpu1", "host", "a")
	mustCreate(t, ix, "cpu", "cpu", "cpu0", "host", "b")
	mustCreate(t, ix, "mem", "host", "a")
	mustCreate(t, ix, "mem", "host", "b", "region", "eu")
	mustCreate(t, ix, "disk io", "path", "/a,b")
	return ix
}

func TestReadSeries(t *testing.T) {
	ix := readFixture(t)
	tests := []struct {
		id      uint64
		key     string
		m       string
		tags    models.Tags
		present bool
	}{
		{id: 1, key: "cpu,cpu=cpu0,host=a", m: "cpu", tags: tagsOf("cpu", "cpu0", "host", "a"), present: true},
		{id: 5, key: "mem,host=b,region=eu", m: "mem", tags: tagsOf("host", "b", "region", "eu"), present: true},
		{id: 6, key: `disk\ io,path=/a\,b`, m: "disk io", tags: tagsOf("path", "/a,b"), present: true},
		{id: 0},
		{id: 7},
		{id: 1 << 40},
	}
	for _, tt := range tests {
		k, ok := ix.SeriesKey(tt.id)
		if k != tt.key || ok != tt.present {
			t.Errorf("SeriesKey(%d) = %q, %v; want %q, %v", tt.id, k, ok, tt.key, tt.present)
		}
		m, tags, ok := ix.Series(tt.id)
		if m != tt.m || !slices.Equal(tags, tt.tags) || ok != tt.present {
			t.Errorf("Series(%d) = %q %v %v; want %q %v %v", tt.id, m, tags, ok, tt.m, tt.tags, tt.present)
		}
		if tt.present {
			if id, ok := ix.Lookup([]byte(tt.key)); id != tt.id || !ok {
				t.Errorf("Lookup(%q) = %d, %v", tt.key, id, ok)
			}
		}
	}
	if id, ok := ix.Lookup([]byte("cpu,host=z")); ok {
		t.Errorf("Lookup of a missing key = %d, true", id)
	}
	if n := ix.SeriesCount(); n != 6 {
		t.Errorf("SeriesCount = %d", n)
	}
}

func TestReadNames(t *testing.T) {
	ix := readFixture(t)
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"Measurements", ix.Measurements(), []string{"cpu", "disk io", "mem"}},
		{"MatchMeasurements", ix.MatchMeasurements(regexp.MustCompile(`^(cpu|mem)$`).MatchString), []string{"cpu", "mem"}},
		{"MatchMeasurements none", ix.MatchMeasurements(func(string) bool { return false }), nil},
		{"TagKeys cpu", ix.TagKeys("cpu"), []string{"cpu", "host"}},
		{"TagKeys mem", ix.TagKeys("mem"), []string{"host", "region"}},
		{"TagKeys unknown", ix.TagKeys("nope"), nil},
		{"TagValues cpu host", ix.TagValues("cpu", "host"), []string{"a", "b"}},
		{"TagValues cpu cpu", ix.TagValues("cpu", "cpu"), []string{"cpu0", "cpu1"}},
		{"TagValues escaped", ix.TagValues("disk io", "path"), []string{"/a,b"}},
		{"TagValues unknown key", ix.TagValues("cpu", "region"), nil},
		{"TagValues unknown measurement", ix.TagValues("nope", "host"), nil},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestReadPostings(t *testing.T) {
	ix := readFixture(t)
	not := func(a, b *roaring.Bitmap) *roaring.Bitmap { a.AndNot(b); return a }
	tests := []struct {
		name string
		got  *roaring.Bitmap
		want *roaring.Bitmap
	}{
		{"MeasurementSeries cpu", ix.MeasurementSeries("cpu"), bm(1, 2, 3)},
		{"MeasurementSeries unknown", ix.MeasurementSeries("nope"), bm()},
		{"TagValueSeries host=a", ix.TagValueSeries("cpu", "host", "a"), bm(1, 2)},
		{"TagValueSeries mem host=a", ix.TagValueSeries("mem", "host", "a"), bm(4)},
		{"TagValueSeries unknown value", ix.TagValueSeries("cpu", "host", "z"), bm()},
		{"TagValueSeries unknown key", ix.TagValueSeries("cpu", "zz", "a"), bm()},
		{"MatchTagValues =~ /cpu[01]/", ix.MatchTagValues("cpu", "cpu", regexp.MustCompile(`cpu[01]`).MatchString), bm(1, 2, 3)},
		{"MatchTagValues =~ /b/", ix.MatchTagValues("cpu", "host", regexp.MustCompile(`b`).MatchString), bm(3)},
		{"MatchTagValues none", ix.MatchTagValues("cpu", "host", func(string) bool { return false }), bm()},
		{"TagKeySeries region", ix.TagKeySeries("mem", "region"), bm(5)},
		{"host != a", not(ix.MeasurementSeries("cpu"), ix.TagValueSeries("cpu", "host", "a")), bm(3)},
		{"without region", not(ix.MeasurementSeries("mem"), ix.TagKeySeries("mem", "region")), bm(4)},
	}
	for _, tt := range tests {
		if tt.got == nil || !tt.got.Equals(tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// Results are copies: changing them changes nothing in the index.
	ix.MeasurementSeries("cpu").Clear()
	ix.TagValueSeries("cpu", "host", "a").Add(99)
	ix.MatchTagValues("cpu", "host", func(string) bool { return true }).Add(98)
	if got := ix.MeasurementSeries("cpu"); !got.Equals(bm(1, 2, 3)) {
		t.Errorf("MeasurementSeries changed by a caller: %v", got)
	}
	if got := ix.TagValueSeries("cpu", "host", "a"); !got.Equals(bm(1, 2)) {
		t.Errorf("TagValueSeries changed by a caller: %v", got)
	}
}

// TestLargePostings crosses smallPostings, where a list becomes a bitmap.
func TestLargePostings(t *testing.T) {
	ix := openT(t, t.TempDir(), Options{})
	defer ix.Close()
	want := roaring.New()
	for i := range 3 * smallPostings {
		want.Add(uint32(mustCreate(t, ix, "cpu", "host", "a", "n", string(rune('A'+i)))))
	}
	if got := ix.TagValueSeries("cpu", "host", "a"); !got.Equals(want) {
		t.Fatalf("TagValueSeries = %v, want %v", got, want)
	}
	del := bm(1, 2, 3, 40)
	if err := ix.DeleteSeries(del); err != nil {
		t.Fatal(err)
	}
	want.AndNot(del)
	if got := ix.TagValueSeries("cpu", "host", "a"); !got.Equals(want) {
		t.Fatalf("after delete TagValueSeries = %v, want %v", got, want)
	}
	if got := ix.MatchTagValues("cpu", "host", func(string) bool { return true }); !got.Equals(want) {
		t.Fatalf("after delete MatchTagValues = %v, want %v", got, want)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name   string
		delete func(ix *Index) error
		count  int
		meas   []string
		hostA  *roaring.Bitmap // cpu host=a
		memKey []string        // mem's tag keys
	}{
		{"nothing", func(ix *Index) error { return ix.DeleteSeries(bm()) }, 6, []string{"cpu", "disk io", "mem"}, bm(1, 2), []string{"host", "region"}},
		{"nil", func(ix *Index) error { return ix.DeleteSeries(nil) }, 6, []string{"cpu", "disk io", "mem"}, bm(1, 2), []string{"host", "region"}},
		{"unknown ids", func(ix *Index) error { return ix.DeleteSeries(bm(7, 1000)) }, 6, []string{"cpu", "disk io", "mem"}, bm(1, 2), []string{"host", "region"}},
		{"one", func(ix *Index) error { return ix.DeleteSeries(bm(2)) }, 5, []string{"cpu", "disk io", "mem"}, bm(1), []string{"host", "region"}},
		{"last with a tag key", func(ix *Index) error { return ix.DeleteSeries(bm(5)) }, 5, []string{"cpu", "disk io", "mem"}, bm(1, 2), []string{"host"}},
		{"twice", func(ix *Index) error {
			if err := ix.DeleteSeries(bm(1, 2)); err != nil {
				return err
			}
			return ix.DeleteSeries(bm(1, 2))
		}, 4, []string{"cpu", "disk io", "mem"}, bm(), []string{"host", "region"}},
		{"drop measurement", func(ix *Index) error { return ix.DropMeasurement("cpu") }, 3, []string{"disk io", "mem"}, bm(), []string{"host", "region"}},
		{"drop unknown measurement", func(ix *Index) error { return ix.DropMeasurement("nope") }, 6, []string{"cpu", "disk io", "mem"}, bm(1, 2), []string{"host", "region"}},
		{"all of mem", func(ix *Index) error { return ix.DeleteSeries(bm(4, 5)) }, 4, []string{"cpu", "disk io"}, bm(1, 2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := readFixture(t)
			if err := tt.delete(ix); err != nil {
				t.Fatal(err)
			}
			check := func(ix *Index) {
				t.Helper()
				if n := ix.SeriesCount(); n != tt.count {
					t.Errorf("SeriesCount = %d, want %d", n, tt.count)
				}
				if got := ix.Measurements(); !slices.Equal(got, tt.meas) {
					t.Errorf("Measurements = %q, want %q", got, tt.meas)
				}
				if got := ix.TagValueSeries("cpu", "host", "a"); !got.Equals(tt.hostA) {
					t.Errorf("host=a = %v, want %v", got, tt.hostA)
				}
				if got := ix.TagKeys("mem"); !slices.Equal(got, tt.memKey) {
					t.Errorf("TagKeys(mem) = %q, want %q", got, tt.memKey)
				}
			}
			check(ix)
			// Deletes are durable and ids are never reused.
			before := dump(ix)
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			ix = openT(t, ix.dir, Options{})
			defer ix.Close()
			check(ix)
			if after := dump(ix); after != before {
				t.Errorf("state after reopen:\n%s\nwant:\n%s", after, before)
			}
			if id := mustCreate(t, ix, "new"); id != 7 {
				t.Errorf("new series after delete got id %d, want 7", id)
			}
			if _, ok := ix.Lookup([]byte("cpu,cpu=cpu1,host=a")); ok != tt.hostA.Contains(2) {
				t.Errorf("Lookup of series 2 = %v", ok)
			}
		})
	}
}

func TestMaxSeries(t *testing.T) {
	dir := t.TempDir()
	ix := openT(t, dir, Options{MaxSeries: 3})
	for _, h := range []string{"a", "b", "c"} {
		mustCreate(t, ix, "cpu", "host", h)
	}
	key := []byte("cpu,host=d")
	_, _, err := ix.CreateSeries(key, "cpu", tagsOf("host", "d"))
	if !errors.Is(err, ErrMaxSeries) || err.Error() != "max-series-per-database limit exceeded: (3)" {
		t.Fatalf("4th series: err = %v", err)
	}
	var mse *MaxSeriesError
	if !errors.As(err, &mse) || mse.Limit != 3 {
		t.Fatalf("err is not a *MaxSeriesError with Limit 3: %#v", err)
	}
	// Existing series still resolve at the limit.
	if id, created, err := ix.CreateSeries([]byte("cpu,host=b"), "cpu", tagsOf("host", "b")); err != nil || created || id != 2 {
		t.Fatalf("existing series at the limit: %d %v %v", id, created, err)
	}
	if err := ix.DeleteSeries(bm(1)); err != nil {
		t.Fatal(err)
	}
	if id := mustCreate(t, ix, "cpu", "host", "d"); id != 4 {
		t.Fatalf("after a delete: id %d, want 4", id)
	}
	ix.Close()

	// A lowered limit loads every series but refuses new ones.
	ix = openT(t, dir, Options{MaxSeries: 2})
	defer ix.Close()
	if n := ix.SeriesCount(); n != 3 {
		t.Fatalf("SeriesCount after reopen with a lower limit = %d", n)
	}
	if _, _, err := ix.CreateSeries([]byte("cpu,host=e"), "cpu", tagsOf("host", "e")); !errors.Is(err, ErrMaxSeries) {
		t.Fatalf("err = %v, want ErrMaxSeries", err)
	}

	for _, tt := range []struct{ opt, want int }{{0, DefaultMaxSeries}, {-1, -1}, {5, 5}} {
		ix := openT(t, t.TempDir(), Options{MaxSeries: tt.opt})
		if ix.max != tt.want {
			t.Errorf("MaxSeries %d: limit %d, want %d", tt.opt, ix.max, tt.want)
		}
		ix.Close()
	}
}

func TestClosed(t *testing.T) {
	ix := readFixture(t)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := ix.CreateSeries([]byte("x"), "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateSeries after Close: %v", err)
	}
	// Existing series still resolve; reads still answer.
	if id, _, err := ix.CreateSeries([]byte("mem,host=a"), "mem", tagsOf("host", "a")); id != 4 || err != nil {
		t.Errorf("existing series after Close: %d %v", id, err)
	}
	for name, err := range map[string]error{
		"Sync":           ix.Sync(),
		"DeleteSeries":   ix.DeleteSeries(bm(1)),
		"DropMeasurment": ix.DropMeasurement("cpu"),
		"Compact":        ix.Compact(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if n := ix.SeriesCount(); n != 6 {
		t.Errorf("SeriesCount after Close = %d", n)
	}
}
