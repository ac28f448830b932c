package storage

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
)

func wideFields(prefix string, n int) []models.Field {
	fs := make([]models.Field, n)
	for i := range fs {
		fs[i] = models.IntegerField(fmt.Sprintf("%s%d", prefix, i), int64(i))
	}
	return fs
}

func TestMemSeriesFind(t *testing.T) {
	for _, n := range []int{0, 1, indexColumnsAbove, indexColumnsAbove + 1, 1000} {
		t.Run(fmt.Sprint("columns=", n), func(t *testing.T) {
			h := newHead()
			s := &memSeries{}
			for i := 0; i < n; i++ {
				s.column(i, fmt.Sprint("f", i), models.Float, h)
			}
			if (s.byName != nil) != (n > indexColumnsAbove) {
				t.Fatalf("index built: %v with %d columns", s.byName != nil, n)
			}
			for i := 0; i < n; i++ {
				name := fmt.Sprint("f", i)
				for _, hint := range []int{i, 0, n - 1 - i, n + 5} {
					if c := s.find(hint, name); c == nil || c.name != name {
						t.Fatalf("find(%d, %q) = %v", hint, name, c)
					}
				}
			}
			if c := s.find(0, "missing"); c != nil {
				t.Fatalf("find of a missing name returned %q", c.name)
			}
			// column returns the existing column, never a second one.
			if n > 0 {
				before := len(s.cols)
				if c := s.column(0, fmt.Sprint("f", n-1), models.Float, h); c != s.cols[n-1] || len(s.cols) != before {
					t.Fatal("column created a duplicate")
				}
			}
		})
	}
}

// One point with 100,000 new fields took 70 s (quadratic column lookup
// under applyMu); it must be linear. The bound leaves a loaded 2-core
// runner 100x headroom over the linear time and is far below the
// quadratic one.
func TestWidePointIsLinear(t *testing.T) {
	e := openTest(t, t.TempDir(), func(o *Options) { o.MaxFieldsPerMeasurement = -1 })
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	fields := wideFields("f", 100_000)
	start := time.Now()
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, fields...)}}))
	// A second point of the same series in another field order takes
	// the lookup's slow path for every field.
	rev := make([]models.Field, len(fields))
	for i := range fields {
		rev[len(fields)-1-i] = fields[i]
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 2, rev...)}}))
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("two 100,000-field points took %v", d)
	}
	got := readAll(t, e, "db", "", "m,host=a")
	if len(got) != len(fields) || len(got["f99999"]) != 2 {
		t.Fatalf("read back %d fields, f99999 has %d values", len(got), len(got["f99999"]))
	}
}

func TestMaxFieldsPerMeasurement(t *testing.T) {
	const limit = 10
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) { o.MaxFieldsPerMeasurement = limit })
	must(t, e.CreateDatabase("db"))
	hostB := models.Tags{{Key: "host", Value: "b"}}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, wideFields("f", 8)...)}}))

	cases := []struct {
		name    string
		points  []models.Point
		dropped int
	}{
		// Known keys, in another series too, never count against it.
		{"known keys", []models.Point{pt("m", hostB, 2, wideFields("f", 8)...)}, 0},
		// Duplicates of one new key count once: 8 + 2 = 10.
		{"up to the limit", []models.Point{pt("m", hostA, 3, append(wideFields("g", 2), models.IntegerField("g0", 5))...)}, 0},
		{"one past", []models.Point{pt("m", hostA, 4, models.IntegerField("h", 1))}, 1},
		// The other points of the batch are written.
		{"mixed batch", []models.Point{
			pt("m", hostA, 5, models.IntegerField("f0", 1), models.IntegerField("x", 1)),
			pt("m", hostB, 5, models.IntegerField("f1", 2)),
			pt("other", hostA, 5, wideFields("o", limit)...),
		}, 1},
	}
	for _, c := range cases {
		err := e.WriteBatch(&models.Batch{Database: "db", Points: c.points})
		var pw *models.PartialWriteError
		switch {
		case c.dropped == 0 && err != nil:
			t.Fatalf("%s: %v", c.name, err)
		case c.dropped > 0 && (!errors.As(err, &pw) || pw.Dropped != c.dropped):
			t.Fatalf("%s: want %d dropped, got %v", c.name, c.dropped, err)
		case c.dropped > 0 && !strings.Contains(err.Error(), `max-fields-per-measurement limit exceeded (11/10): measurement="m"`):
			t.Fatalf("%s: unclear error %q", c.name, err)
		}
	}
	if got := readAll(t, e, "db", "", "m,host=b"); len(got["f1"]) != 2 {
		t.Fatalf("m,host=b f1 = %v", got["f1"])
	}
	if got := readAll(t, e, "db", "", "other,host=a"); len(got) != limit {
		t.Fatalf("other,host=a has %d fields", len(got))
	}
	if n := e.Statistics()["fieldLimitDrops"]; n != 2 {
		t.Fatalf("fieldLimitDrops = %d, want 2", n)
	}
	e.abandon()

	// Replay keeps what was acknowledged under a higher limit.
	// Refused points never reached the WAL: replay under a higher limit
	// does not bring them back.
	e2 := openTest(t, dir, func(o *Options) { o.MaxFieldsPerMeasurement = 1000 })
	got := readAll(t, e2, "db", "", "m,host=a")
	if len(got) != limit || got["h"] != nil || got["x"] != nil {
		t.Fatalf("after replay m,host=a has %d fields (h: %v, x: %v), want %d", len(got), got["h"], got["x"], limit)
	}
	must(t, e2.Close()) // flushes: the field keys are now in fields.json

	// A lowered limit holds after a restart from blocks, and keeps the
	// data acknowledged under the old one.
	e3 := openTest(t, dir, func(o *Options) { o.MaxFieldsPerMeasurement = 5 })
	defer e3.Close()
	if got := readAll(t, e3, "db", "", "m,host=a"); len(got) != limit {
		t.Fatalf("after restart m,host=a has %d fields, want %d", len(got), limit)
	}
	var pw *models.PartialWriteError
	if err := e3.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 9, models.IntegerField("new", 1))}}); !errors.As(err, &pw) {
		t.Fatalf("the lowered limit is not enforced after a restart: %v", err)
	}
}
