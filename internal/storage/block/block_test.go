package block

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// testField is one column of test data.
type testField struct {
	name string
	col  Column
}

type testSeries struct {
	id     uint64
	fields []testField // ascending by name
}

// genColumn returns n points of typ starting at start, step apart.
func genColumn(rng *rand.Rand, typ models.FieldType, n int, start, step int64) Column {
	c := Column{Type: typ}
	t := start
	v := 50.0
	var cnt int64
	for i := 0; i < n; i++ {
		c.Times = append(c.Times, t)
		t += step + rng.Int64N(3) // unique, slightly irregular
		switch typ {
		case models.Float:
			v = math.Max(0, math.Min(100, v+rng.NormFloat64()))
			c.Floats = append(c.Floats, v)
		case models.Integer:
			cnt += rng.Int64N(1000)
			c.Integers = append(c.Integers, cnt-int64(n)*100)
		case models.Unsigned:
			c.Unsigneds = append(c.Unsigneds, rng.Uint64())
		case models.String:
			c.Strings = append(c.Strings, strings.Repeat("x", rng.IntN(20))+fmt.Sprint(i%7))
		case models.Boolean:
			c.Booleans = append(c.Booleans, rng.IntN(3) == 0)
		}
	}
	return c
}

// genData returns nseries series with one field of every type, of
// lengths that exercise chunk cuts.
func genData(seed uint64, nseries int) []testSeries {
	rng := rand.New(rand.NewPCG(seed, 1))
	lengths := []int{1, 2, 999, 1000, 1001, 2500, 37}
	types := []models.FieldType{models.Boolean, models.Float, models.Integer, models.String, models.Unsigned}
	var out []testSeries
	id := uint64(1)
	for s := 0; s < nseries; s++ {
		id += 1 + rng.Uint64N(1000)
		ts := testSeries{id: id}
		for i, typ := range types {
			if rng.IntN(4) == 0 {
				continue // not every series has every field
			}
			n := lengths[(s+i)%len(lengths)]
			start := int64(1_700_000_000_000_000_000) + rng.Int64N(1e12) - 5e11
			ts.fields = append(ts.fields, testField{
				name: fmt.Sprintf("f%d_%s", i, typ),
				col:  genColumn(rng, typ, n, start, 10e9),
			})
		}
		out = append(out, ts)
	}
	return out
}

func writeFile(t testing.TB, path string, data []testSeries) {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range data {
		for _, f := range s.fields {
			if err := w.WriteColumn(s.id, f.name, &f.col); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every series of r back, failing on any error.
func readAll(r *Reader) ([]testSeries, error) {
	var out []testSeries
	for _, id := range r.SeriesIDs() {
		fs, err := r.SeriesFields(id)
		if err != nil {
			return nil, err
		}
		s := testSeries{id: id}
		for _, f := range fs {
			col := Column{Type: f.Type}
			var chunk Column
			for _, m := range f.Chunks {
				if err := r.ReadChunk(m, &chunk); err != nil {
					return nil, err
				}
				col.Times = append(col.Times, chunk.Times...)
				col.Floats = append(col.Floats, chunk.Floats...)
				col.Integers = append(col.Integers, chunk.Integers...)
				col.Unsigneds = append(col.Unsigneds, chunk.Unsigneds...)
				col.Strings = append(col.Strings, chunk.Strings...)
				col.Booleans = append(col.Booleans, chunk.Booleans...)
			}
			s.fields = append(s.fields, testField{name: f.Name, col: col})
		}
		out = append(out, s)
	}
	return out, nil
}

// normalize drops empty columns and series and nils empty slices, so that
// written and read data compare with reflect.DeepEqual.
func normalize(data []testSeries) []testSeries {
	var out []testSeries
	for _, s := range data {
		var fs []testField
		for _, f := range s.fields {
			if f.col.Len() == 0 {
				continue
			}
			c := f.col
			nilEmpty(&c)
			fs = append(fs, testField{f.name, c})
		}
		if len(fs) > 0 {
			out = append(out, testSeries{s.id, fs})
		}
	}
	return out
}

func nilEmpty(c *Column) {
	if len(c.Floats) == 0 {
		c.Floats = nil
	}
	if len(c.Integers) == 0 {
		c.Integers = nil
	}
	if len(c.Unsigneds) == 0 {
		c.Unsigneds = nil
	}
	if len(c.Strings) == 0 {
		c.Strings = nil
	}
	if len(c.Booleans) == 0 {
		c.Booleans = nil
	}
}

func TestRoundTrip(t *testing.T) {
	cases := map[string][]testSeries{
		"one point": {{id: 7, fields: []testField{{"value", Column{Type: models.Float, Times: []int64{-5}, Floats: []float64{math.Inf(-1)}}}}}},
		"extreme times": {{id: math.MaxUint64, fields: []testField{
			{"a", Column{Type: models.Integer, Times: []int64{math.MinInt64, 0, math.MaxInt64}, Integers: []int64{math.MinInt64, 0, math.MaxInt64}}},
			{"b", Column{Type: models.Unsigned, Times: []int64{math.MinInt64 + 1, math.MaxInt64 - 1}, Unsigneds: []uint64{math.MaxUint64, 0}}},
		}}},
		"empty columns skipped": {
			{id: 0, fields: []testField{{"a", Column{Type: models.Float}}}},
			{id: 1, fields: []testField{{"a", Column{Type: models.Boolean}}, {"b", Column{Type: models.Boolean, Times: []int64{1}, Booleans: []bool{true}}}}},
		},
		"special floats": {{id: 3, fields: []testField{{"f", Column{Type: models.Float, Times: []int64{1, 2, 3, 4}, Floats: []float64{math.NaN(), math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64}}}}}},
		"many series":    genData(1, 60),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.blk")
			writeFile(t, path, data)
			if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary file left behind: %v", err)
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Verify(); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := normalize(data)
			got, err := readAll(r)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				for j := range got[i].fields {
					nilEmpty(&got[i].fields[j].col)
				}
			}
			if !equalData(got, want) {
				t.Fatalf("read back differs from written data")
			}
			checkMetas(t, r, want)
			if r.Err() != nil {
				t.Fatalf("Err() = %v on a sound file", r.Err())
			}
		})
	}
}

// equalData compares with NaN == NaN (bit-exact floats).
func equalData(a, b []testSeries) bool {
	return reflect.DeepEqual(floatBits(a), floatBits(b))
}

func floatBits(data []testSeries) []testSeries {
	out := make([]testSeries, len(data))
	for i, s := range data {
		out[i] = testSeries{id: s.id}
		for _, f := range s.fields {
			c := f.col
			if c.Floats != nil {
				bits := make([]int64, len(c.Floats))
				for k, v := range c.Floats {
					bits[k] = int64(math.Float64bits(v))
				}
				c.Floats, c.Integers = nil, bits
			}
			out[i].fields = append(out[i].fields, testField{f.name, c})
		}
	}
	return out
}

// checkMetas checks the file's and every chunk's time range and count, and
// the chunk cuts, against the written data.
func checkMetas(t *testing.T, r *Reader, want []testSeries) {
	t.Helper()
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	var ids []uint64
	var points int64
	for _, s := range want {
		ids = append(ids, s.id)
		fs := r.Fields(s.id)
		if len(fs) != len(s.fields) {
			t.Fatalf("series %d: %d fields, want %d", s.id, len(fs), len(s.fields))
		}
		for i, f := range s.fields {
			fi := fs[i]
			if fi.Name != f.name || fi.Type != f.col.Type {
				t.Fatalf("series %d field %d: %s %s, want %s %s", s.id, i, fi.Name, fi.Type, f.name, f.col.Type)
			}
			n := f.col.Len()
			if want := (n + ChunkPoints - 1) / ChunkPoints; f.col.Type != models.String && len(fi.Chunks) != want {
				t.Fatalf("series %d field %s: %d chunks for %d points, want %d", s.id, f.name, len(fi.Chunks), n, want)
			}
			at := 0
			for _, m := range fi.Chunks {
				if m.Count < 1 || m.Count > ChunkPoints || m.MinTime != f.col.Times[at] || m.MaxTime != f.col.Times[at+m.Count-1] {
					t.Fatalf("series %d field %s: chunk meta %+v wrong at point %d", s.id, f.name, m, at)
				}
				at += m.Count
			}
			if at != n {
				t.Fatalf("series %d field %s: chunks hold %d points, want %d", s.id, f.name, at, n)
			}
			minT, maxT = min(minT, f.col.Times[0]), max(maxT, f.col.Times[n-1])
			points += int64(n)
		}
	}
	if !reflect.DeepEqual(r.SeriesIDs(), ids) && len(ids) > 0 {
		t.Fatalf("SeriesIDs = %v, want %v", r.SeriesIDs(), ids)
	}
	if r.MinTime() != minT || r.MaxTime() != maxT || r.Points() != points {
		t.Fatalf("file range %d..%d %d points, want %d..%d %d", r.MinTime(), r.MaxTime(), r.Points(), minT, maxT, points)
	}
	st, err := os.Stat(r.Path())
	if err != nil || st.Size() != r.Size() {
		t.Fatalf("Size() = %d, stat %v %v", r.Size(), st, err)
	}
	if fs := r.Fields(12345678901); fs != nil {
		t.Fatalf("Fields of an absent series = %v", fs)
	}
}

func TestEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.blk")
	writeFile(t, path, nil)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.SeriesIDs()) != 0 || r.Fields(0) != nil || r.MinTime() <= r.MaxTime() || r.Verify() != nil {
		t.Fatalf("empty file: ids %v min %d max %d", r.SeriesIDs(), r.MinTime(), r.MaxTime())
	}
}

func TestStringChunksCutByBytes(t *testing.T) {
	big := strings.Repeat("y", 300<<10)
	col := Column{Type: models.String}
	for i := 0; i < 10; i++ {
		col.Times = append(col.Times, int64(i))
		col.Strings = append(col.Strings, big)
	}
	path := filepath.Join(t.TempDir(), "s.blk")
	writeFile(t, path, []testSeries{{id: 1, fields: []testField{{"log", col}}}})
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fs := r.Fields(1)
	if len(fs) != 1 || len(fs[0].Chunks) != 3 { // 4 + 4 + 2 strings
		t.Fatalf("fields %+v, want one field in 3 chunks", fs)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	// 3 MB of one repeated letter must have gone through zstd.
	if r.Size() > 10<<10 {
		t.Fatalf("file is %d bytes; zstd stage not used", r.Size())
	}
}

func TestZstdOnlyWhenWorthIt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	noisy := Column{Type: models.Unsigned}
	for i := 0; i < 500; i++ {
		noisy.Times = append(noisy.Times, int64(i)*1e9)
		noisy.Unsigneds = append(noisy.Unsigneds, rng.Uint64())
	}
	path := filepath.Join(t.TempDir(), "z.blk")
	writeFile(t, path, []testSeries{{id: 1, fields: []testField{{"a", noisy}}}})
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := r.Fields(1)[0].Chunks[0]
	var enc [1]byte
	if _, err := r.f.ReadAt(enc[:], m.offset); err != nil || enc[0] != chunkRaw {
		t.Fatalf("random values stored with encoding %d (%v), want raw", enc[0], err)
	}
	if !zstdWorth(1000, 800) || zstdWorth(1000, 900) || zstdWorth(100, 80) {
		t.Fatal("zstdWorth thresholds changed; update docs/format/block.md")
	}
}

func TestWriterRejects(t *testing.T) {
	good := Column{Type: models.Float, Times: []int64{1, 2}, Floats: []float64{1, 2}}
	cases := map[string]func(w *Writer) error{
		"series order": func(w *Writer) error {
			w.WriteColumn(5, "a", &good)
			return w.WriteColumn(4, "a", &good)
		},
		"field order": func(w *Writer) error {
			w.WriteColumn(5, "b", &good)
			return w.WriteColumn(5, "a", &good)
		},
		"field twice": func(w *Writer) error {
			w.WriteColumn(5, "a", &good)
			return w.WriteColumn(5, "a", &good)
		},
		"bad type": func(w *Writer) error {
			return w.WriteColumn(1, "a", &Column{Type: models.Unknown})
		},
		"length mismatch": func(w *Writer) error {
			return w.WriteColumn(1, "a", &Column{Type: models.Integer, Times: []int64{1, 2}, Integers: []int64{1}})
		},
		"wrong value slice": func(w *Writer) error {
			return w.WriteColumn(1, "a", &Column{Type: models.Integer, Times: []int64{1}, Floats: []float64{1}})
		},
		"repeated time": func(w *Writer) error {
			return w.WriteColumn(1, "a", &Column{Type: models.Boolean, Times: []int64{1, 1}, Booleans: []bool{true, false}})
		},
		"descending time": func(w *Writer) error {
			return w.WriteColumn(1, "a", &Column{Type: models.Boolean, Times: []int64{2, 1}, Booleans: []bool{true, false}})
		},
		"after finish": func(w *Writer) error {
			w.Finish()
			return w.WriteColumn(1, "a", &good)
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "w.blk")
			w, err := Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			if err := f(w); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.blk")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Column{Type: models.Float, Times: []int64{1}, Floats: []float64{1}}
	if err := w.WriteColumn(1, "a", &c); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("abort left %v", ents)
	}
	if err := w.Finish(); err == nil {
		t.Fatal("Finish after Abort succeeded")
	}
}

func TestColumnReset(t *testing.T) {
	c := Column{Type: models.String, Times: make([]int64, 3, 10), Strings: []string{"a", "b", "c"}}
	c.Reset(models.Float)
	if c.Type != models.Float || c.Len() != 0 || len(c.Strings) != 0 || cap(c.Times) != 10 || cap(c.Strings) != 3 {
		t.Fatalf("after Reset: %+v", c)
	}
	if c.Strings[:3][0] != "" {
		t.Fatal("Reset kept old strings alive")
	}
}

func TestConcurrentReads(t *testing.T) {
	data := genData(9, 10)
	path := filepath.Join(t.TempDir(), "c.blk")
	writeFile(t, path, data)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := normalize(data)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := readAll(r)
			if err == nil {
				for i := range got {
					for j := range got[i].fields {
						nilEmpty(&got[i].fields[j].col)
					}
				}
				if !equalData(got, want) {
					err = errors.New("concurrent read differs")
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadChunkRejectsForeignMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.blk")
	writeFile(t, path, genData(2, 2))
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var c Column
	for _, m := range []ChunkMeta{{}, {typ: models.Float, offset: 1 << 40, length: 10}, {typ: models.Float, offset: 8, length: -1}} {
		if err := r.ReadChunk(m, &c); err == nil {
			t.Fatalf("ReadChunk(%+v) succeeded", m)
		}
	}
}
