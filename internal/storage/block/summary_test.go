package block

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// TestChunkSummaries writes numeric columns and checks the summaries read
// back from the index against values worked out by hand: ties keep the
// first occurrence, integer sums wrap, and SumExact turns off when a
// running sum leaves ±2^53.
func TestChunkSummaries(t *testing.T) {
	times := func(n int) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = 1_000 + int64(i)*10
		}
		return ts
	}
	f := math.Float64bits
	cases := []struct {
		name string
		col  Column
		want Summary
	}{
		{"floats with ties", Column{Type: models.Float, Times: times(5), Floats: []float64{2.5, -1, 7, -1, 7}},
			Summary{Valid: true, SumExact: true, First: f(2.5), Last: f(7), Min: f(-1), Max: f(7), MinAt: 1010, MaxAt: 1020, Sum: f(14.5)}},
		{"one float", Column{Type: models.Float, Times: times(1), Floats: []float64{-0.125}},
			Summary{Valid: true, SumExact: true, First: f(-0.125), Last: f(-0.125), Min: f(-0.125), Max: f(-0.125), MinAt: 1000, MaxAt: 1000, Sum: f(-0.125)}},
		{"integers", Column{Type: models.Integer, Times: times(4), Integers: []int64{-5, 3, -7, 3}},
			Summary{Valid: true, SumExact: true, First: u(-5), Last: 3, Min: u(-7), Max: 3, MinAt: 1020, MaxAt: 1010, Sum: u(-6)}},
		{"integer sum past 2^53", Column{Type: models.Integer, Times: times(2), Integers: []int64{1 << 52, 1<<52 + 1}},
			Summary{Valid: true, First: 1 << 52, Last: 1<<52 + 1, Min: 1 << 52, Max: 1<<52 + 1, MinAt: 1000, MaxAt: 1010, Sum: 1<<53 + 1}},
		{"integer sum wraps", Column{Type: models.Integer, Times: times(2), Integers: []int64{math.MaxInt64, 2}},
			Summary{Valid: true, First: math.MaxInt64, Last: 2, Min: 2, Max: math.MaxInt64, MinAt: 1010, MaxAt: 1000, Sum: u(math.MinInt64 + 1)}},
		{"unsigned", Column{Type: models.Unsigned, Times: times(3), Unsigneds: []uint64{9, math.MaxUint64, 0}},
			Summary{Valid: true, First: 9, Last: 0, Min: 0, Max: math.MaxUint64, MinAt: 1020, MaxAt: 1010, Sum: 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.blk")
			writeFile(t, path, []testSeries{{id: 1, fields: []testField{{"v", tc.col}}}})
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			fs := r.Fields(1)
			if len(fs) != 1 || len(fs[0].Chunks) != 1 {
				t.Fatalf("fields %+v", fs)
			}
			if got := fs[0].Chunks[0].Summary; got != tc.want {
				t.Errorf("summary\n got %+v\nwant %+v", got, tc.want)
			}
			if err := r.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func u(i int64) uint64 { return uint64(i) }

// TestSummariesPerChunk: a column cut into chunks gets one summary per
// chunk; strings and booleans get none.
func TestSummariesPerChunk(t *testing.T) {
	n := 2*ChunkPoints + 10
	col := Column{Type: models.Integer}
	for i := 0; i < n; i++ {
		col.Times = append(col.Times, int64(i))
		col.Integers = append(col.Integers, int64(i))
	}
	path := filepath.Join(t.TempDir(), "s.blk")
	data := smallData()
	data = append(data, testSeries{id: 40, fields: []testField{{"n", col}}})
	writeFile(t, path, data)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	chunks := r.Fields(40)[0].Chunks
	if len(chunks) != 3 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for k, m := range chunks {
		lo, hi := int64(k*ChunkPoints), int64(min((k+1)*ChunkPoints, n)-1)
		want := Summary{Valid: true, SumExact: true, First: uint64(lo), Last: uint64(hi), Min: uint64(lo), Max: uint64(hi),
			MinAt: lo, MaxAt: hi, Sum: uint64((lo + hi) * (hi - lo + 1) / 2)}
		if m.Summary != want {
			t.Errorf("chunk %d: got %+v, want %+v", k, m.Summary, want)
		}
	}
	for _, f := range r.Fields(10) {
		if f.Type == models.String || f.Type == models.Boolean {
			if f.Chunks[0].Summary.Valid {
				t.Errorf("%s field %s has a summary", f.Type, f.Name)
			}
		} else if !f.Chunks[0].Summary.Valid {
			t.Errorf("%s field %s has no summary", f.Type, f.Name)
		}
	}
}

// TestReadsFormatV1 opens a file written by format version 1 (before
// summaries): its data reads back the same, without summaries.
func TestReadsFormatV1(t *testing.T) {
	b, err := os.ReadFile("testdata/format-v1.blk")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(magicV1)) {
		t.Fatal("testdata is not a version 1 file")
	}
	r, err := openBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(smallData())) {
		t.Fatal("version 1 data differs")
	}
	for _, id := range r.SeriesIDs() {
		for _, f := range r.Fields(id) {
			for _, m := range f.Chunks {
				if m.Summary.Valid {
					t.Fatalf("series %d field %s: version 1 chunk has a summary", id, f.Name)
				}
			}
		}
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	// A version 1 header with a version 2 footer is damage.
	mixed := append([]byte(nil), b...)
	copy(mixed[len(mixed)-len(magic):], magic)
	fixChecksums(mixed)
	if _, err := openBytes(mixed); !isCorrupt(err) {
		t.Fatalf("mixed versions: %v", err)
	}
}

// TestVerifyChecksSummaries: a summary that disagrees with its chunk (a
// writer bug; the CRCs are fixed up so only the summary is wrong) is
// reported by Verify.
func TestVerifyChecksSummaries(t *testing.T) {
	col := Column{Type: models.Integer, Times: []int64{1, 2, 3}, Integers: []int64{100, 200, 300}}
	path := filepath.Join(t.TempDir(), "s.blk")
	writeFile(t, path, []testSeries{{id: 1, fields: []testField{{"v", col}}}})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := openBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Fields(1)[0].Chunks[0]
	// The entry ends with the summary's sum (varint 600 = 0xb0 0x09)
	// and the CRC.
	end := len(b) - footerLen - int(r.ft.namesLen) - seriesRecLen - crcLen
	if b[end-2] != 0xb0 || b[end-1] != 0x09 {
		t.Fatalf("unexpected entry tail % x (sum %d)", b[end-4:end], m.Summary.Sum)
	}
	b[end-2] = 0xb2 // sum 601
	fixChecksums(b)
	r, err = openBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Fields(1)[0].Chunks[0].Summary.Sum; got != 601 {
		t.Fatalf("sum %d after edit", got)
	}
	if err := r.Verify(); !isCorrupt(err) {
		t.Fatalf("Verify: %v", err)
	}
}

func isCorrupt(err error) bool {
	var ce *CorruptError
	return errors.As(err, &ce)
}
