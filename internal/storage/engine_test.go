package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

func openTest(t *testing.T, dir string, mod func(*Options)) *Engine {
	t.Helper()
	opts := Options{Dir: dir, DiskReserve: -1} // no 16 MiB reserve file per test engine
	if mod != nil {
		mod(&opts)
	}
	e, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return e
}

func pt(m string, tags models.Tags, ts int64, fields ...models.Field) models.Point {
	return models.Point{Measurement: m, Tags: tags, Fields: fields, Time: ts}
}

// value is one read-back value, for comparisons.
type value struct {
	t int64
	v any
}

// readAll reads every field of a series key.
func readAll(t *testing.T, e *Engine, db, rp, key string) map[string][]value {
	t.Helper()
	ix, err := e.Index(db)
	if err != nil {
		t.Fatal(err)
	}
	id, ok := ix.Lookup([]byte(key))
	if !ok {
		return nil
	}
	out := map[string][]value{}
	err = e.Read(ReadRequest{Database: db, RetentionPolicy: rp, SeriesIDs: []uint64{id}, MinTime: math.MinInt64, MaxTime: math.MaxInt64},
		func(_ uint64, field string, col *block.Column) error {
			for i, ts := range col.Times {
				var v any
				switch col.Type {
				case models.Float:
					v = col.Floats[i]
				case models.Integer:
					v = col.Integers[i]
				case models.Unsigned:
					v = col.Unsigneds[i]
				case models.Boolean:
					v = col.Booleans[i]
				case models.String:
					v = col.Strings[i]
				}
				out[field] = append(out[field], value{ts, v})
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var hostA = models.Tags{{Key: "host", Value: "a"}}

func TestWriteReadAllTypes(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	if err := e.CreateDatabase("db"); err != nil {
		t.Fatal(err)
	}
	err := e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", hostA, 2000, models.FloatField("f", 1.5), models.IntegerField("i", -3), models.UnsignedField("u", 7),
			models.BooleanField("b", true), models.StringField("s", "hello")),
		pt("m", hostA, 1000, models.FloatField("f", math.Copysign(0, -1)), models.IntegerField("i", math.MaxInt64)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, e, "db", "", "m,host=a")
	want := map[string][]value{
		"f": {{1000, math.Copysign(0, -1)}, {2000, 1.5}},
		"i": {{1000, int64(math.MaxInt64)}, {2000, int64(-3)}},
		"u": {{2000, uint64(7)}},
		"b": {{2000, true}},
		"s": {{2000, "hello"}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if math.Signbit(got["f"][0].v.(float64)) != true {
		t.Fatal("-0 lost its sign")
	}
}

func TestDuplicatePointOverwritesNamedFields(t *testing.T) {
	for _, flush := range []bool{false, true} {
		t.Run(fmt.Sprint("flush=", flush), func(t *testing.T) {
			e := openTest(t, t.TempDir(), nil)
			defer e.Close()
			e.CreateDatabase("db")
			must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
				pt("m", hostA, 10, models.FloatField("a", 1), models.FloatField("b", 2))}}))
			if flush {
				must(t, e.Flush())
			}
			must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
				pt("m", hostA, 10, models.FloatField("a", 9))}}))
			got := readAll(t, e, "db", "", "m,host=a")
			if fmt.Sprint(got) != fmt.Sprint(map[string][]value{"a": {{10, 9.0}}, "b": {{10, 2.0}}}) {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	var dnf *models.DatabaseNotFoundError
	if err := e.WriteBatch(&models.Batch{Database: "nope", Points: []models.Point{pt("m", nil, 1, models.FloatField("f", 1))}}); !errors.As(err, &dnf) {
		t.Fatalf("want database not found, got %v", err)
	}
	must(t, e.CreateDatabase("db"))
	var rpnf *models.RetentionPolicyNotFoundError
	if err := e.WriteBatch(&models.Batch{Database: "db", RetentionPolicy: "x", Points: []models.Point{pt("m", nil, 1, models.FloatField("f", 1))}}); !errors.As(err, &rpnf) {
		t.Fatalf("want rp not found, got %v", err)
	}
	// A type conflict drops the conflicting point and keeps the others.
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, models.FloatField("f", 1))}}))
	err := e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", hostA, 2, models.IntegerField("f", 1)),
		pt("m", models.Tags{{Key: "host", Value: "b"}}, 2, models.IntegerField("f", 5)),
		pt("m", hostA, 3, models.FloatField("f", 3), models.FloatField("g", 1)),
	}})
	var pw *models.PartialWriteError
	if !errors.As(err, &pw) || pw.Dropped != 2 {
		t.Fatalf("want partial write dropping 2, got %v", err)
	}
	wantText := `partial write: field type conflict: input field "f" on measurement "m" is type integer, already exists as type float dropped=2`
	if err.Error() != wantText {
		t.Fatalf("got %q\nwant %q", err.Error(), wantText)
	}
	got := readAll(t, e, "db", "", "m,host=a")
	if fmt.Sprint(got) != fmt.Sprint(map[string][]value{"f": {{1, 1.0}, {3, 3.0}}, "g": {{3, 1.0}}}) {
		t.Fatalf("got %v", got)
	}
}

func TestRetentionPolicies(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.CreateDatabase("db")) // idempotent
	rps, _ := e.RetentionPolicies("db")
	if len(rps) != 1 || rps[0].Name != "autogen" || rps[0].Duration != 0 || rps[0].ShardDuration != 168*time.Hour || !rps[0].Default {
		t.Fatalf("autogen: %+v", rps)
	}
	cases := []struct {
		rp   models.RetentionPolicy
		def  bool
		want error
	}{
		{models.RetentionPolicy{Name: "short", Duration: 30 * time.Minute}, false, ErrRetentionPolicyDurationLow},
		{models.RetentionPolicy{Name: "week", Duration: 7 * 24 * time.Hour, Replication: 1}, true, nil},
		{models.RetentionPolicy{Name: "week", Duration: 7 * 24 * time.Hour, Replication: 1}, true, nil},
		{models.RetentionPolicy{Name: "week", Duration: 8 * 24 * time.Hour, Replication: 1}, false, ErrRetentionPolicyConflict},
		{models.RetentionPolicy{Name: "bad", Duration: 2 * time.Hour, ShardDuration: 3 * time.Hour}, false, ErrIncompatibleDurations},
	}
	for _, c := range cases {
		if err := e.CreateRetentionPolicy("db", c.rp, c.def); !errors.Is(err, c.want) {
			t.Errorf("create %+v: got %v want %v", c.rp, err, c.want)
		}
	}
	rps, _ = e.RetentionPolicies("db")
	if len(rps) != 2 || rps[1].ShardDuration != 24*time.Hour || !rps[1].Default || rps[0].Default {
		t.Fatalf("after create: %+v", rps)
	}
	d := 48 * time.Hour
	must(t, e.UpdateRetentionPolicy("db", "week", models.RetentionPolicyUpdate{Duration: &d}, false))
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	rps, _ = e.RetentionPolicies("db")
	if len(rps) != 2 || rps[1].Duration != d {
		t.Fatalf("after restart: %+v", rps)
	}
	must(t, e.DropRetentionPolicy("db", "week"))
	rps, _ = e.RetentionPolicies("db")
	if len(rps) != 1 {
		t.Fatalf("after drop: %+v", rps)
	}
	must(t, e.DropDatabase("db"))
	must(t, e.DropDatabase("db"))
	if len(e.Databases()) != 0 {
		t.Fatal(e.Databases())
	}
}

func TestRetentionExpiryDropsWholeShards(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	must(t, e.CreateRetentionPolicy("db", models.RetentionPolicy{Name: "h", Duration: 2 * time.Hour, ShardDuration: time.Hour}, true))
	now := time.Now()
	old := now.Add(-3 * time.Hour).UnixNano()
	err := e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", hostA, old, models.FloatField("f", 1)),
		pt("m", hostA, now.Add(-30*time.Minute).UnixNano(), models.FloatField("f", 2)),
	}})
	var pw *models.PartialWriteError
	if !errors.As(err, &pw) || pw.Reason != "points beyond retention policy" || pw.Dropped != 1 {
		t.Fatalf("got %v", err)
	}
	must(t, e.Flush())
	shardDirs := func() []string {
		ents, _ := os.ReadDir(filepath.Join(dir, "data", "db", "h"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	if n := len(shardDirs()); n != 1 {
		t.Fatalf("shards: %v", shardDirs())
	}
	e.EnforceRetention(now.Add(time.Hour))
	if n := len(readAll(t, e, "db", "h", "m,host=a")["f"]); n != 1 {
		t.Fatalf("expired too early: %d values", n)
	}
	e.EnforceRetention(now.Add(3 * time.Hour))
	if got := readAll(t, e, "db", "h", "m,host=a"); len(got) != 0 {
		t.Fatalf("expired data still served: %v", got)
	}
	if n := len(shardDirs()); n != 0 {
		t.Fatalf("shard dirs left: %v", shardDirs())
	}
}

func TestRestartKeepsDataWithAndWithoutFlush(t *testing.T) {
	for _, closeFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("close=", closeFirst), func(t *testing.T) {
			dir := t.TempDir()
			e := openTest(t, dir, nil)
			must(t, e.CreateDatabase("db"))
			var pts []models.Point
			for i := 0; i < 500; i++ {
				pts = append(pts, pt("cpu", hostA, int64(i)*1e10, models.FloatField("usage_idle", float64(i)/7), models.IntegerField("n", int64(i))))
			}
			must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
			if closeFirst {
				must(t, e.Close())
			} else {
				// Abandon the engine as a crash would: no flush. Stop its
				// goroutines without flushing so the WAL is the only copy.
				e.abandon()
			}
			e2 := openTest(t, dir, nil)
			defer e2.Close()
			got := readAll(t, e2, "db", "", "cpu,host=a")
			if len(got["usage_idle"]) != 500 || len(got["n"]) != 500 || got["n"][499].v != int64(499) {
				t.Fatalf("after restart: %d %d", len(got["usage_idle"]), len(got["n"]))
			}
		})
	}
}

func TestFlushCompactionKeepsEveryValue(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) { o.HeadMaxBytes = 64 << 10 })
	must(t, e.CreateDatabase("db"))
	const hosts, steps = 5, 40
	for s := 0; s < steps; s++ {
		var pts []models.Point
		for h := 0; h < hosts; h++ {
			pts = append(pts, pt("cpu", models.Tags{{Key: "host", Value: fmt.Sprint("h", h)}}, int64(s)*1e10,
				models.FloatField("v", float64(s*hosts+h))))
		}
		must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
		must(t, e.Flush())
	}
	blocks := countFiles(t, dir, ".blk")
	if blocks >= steps/2 {
		t.Fatalf("compaction did not merge: %d block files", blocks)
	}
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	for h := 0; h < hosts; h++ {
		got := readAll(t, e, "db", "", fmt.Sprintf("cpu,host=h%d", h))["v"]
		if len(got) != steps {
			t.Fatalf("host %d: %d values", h, len(got))
		}
		for s, v := range got {
			if v.t != int64(s)*1e10 || v.v != float64(s*hosts+h) {
				t.Fatalf("host %d step %d: %v", h, s, v)
			}
		}
	}
	if n := countFiles(t, filepath.Join(dir, "wal"), ""); n > 2 {
		t.Fatalf("wal not trimmed after flush: %d files", n)
	}
}

func countFiles(t *testing.T, dir, suffix string) int {
	n := 0
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(path, suffix) {
			n++
		}
		return nil
	})
	return n
}

func TestDroppedDatabaseStaysDroppedAfterReplay(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("old", hostA, 1, models.FloatField("f", 1))}}))
	must(t, e.DropDatabase("db"))
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("new", hostA, 1, models.FloatField("f", 2))}}))
	e.abandon()
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := readAll(t, e, "db", "", "old,host=a"); len(got) != 0 {
		t.Fatalf("dropped data came back: %v", got)
	}
	if got := readAll(t, e, "db", "", "new,host=a"); len(got["f"]) != 1 {
		t.Fatalf("new data lost: %v", got)
	}
}

func TestConcurrentWritersAndReaders(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, func(o *Options) { o.HeadMaxBytes = 32 << 10 })
	must(t, e.CreateDatabase("db"))
	const writers, batches, per = 4, 30, 20
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var pts []models.Point
				for i := 0; i < per; i++ {
					pts = append(pts, pt("m", models.Tags{{Key: "w", Value: fmt.Sprint(w)}}, int64(b*per+i), models.IntegerField("v", int64(b*per+i))))
				}
				if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Add(1)
	go func() {
		defer rg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got := readAll(t, e, "db", "", "m,w=0")["v"]
			if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].t < got[j].t }) {
				t.Error("unsorted read")
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rg.Wait()
	for w := 0; w < writers; w++ {
		if n := len(readAll(t, e, "db", "", fmt.Sprintf("m,w=%d", w))["v"]); n != batches*per {
			t.Fatalf("writer %d: %d values", w, n)
		}
	}
	must(t, e.Close())
}

func TestCorruptBlockIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, 1, models.FloatField("f", 1))}}))
	must(t, e.Close())
	var blk string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".blk") {
			blk = p
		}
		return nil
	})
	if blk == "" {
		t.Fatal("no block written")
	}
	b, _ := os.ReadFile(blk)
	for i := len(b) - 12; i < len(b); i++ {
		b[i] ^= 0xff
	}
	os.WriteFile(blk, b, 0o644)
	e = openTest(t, dir, nil)
	defer e.Close()
	if _, err := os.Stat(blk + ".bad"); err != nil {
		t.Fatalf("corrupt block not quarantined: %v", err)
	}
	if got := readAll(t, e, "db", "", "m,host=a"); len(got) != 0 {
		t.Fatalf("corrupt data served: %v", got)
	}
}

func TestSecondEngineOnSameDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	defer e.Close()
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "in use by another herd process") {
		t.Fatalf("second open: %v", err)
	}
}

func TestTimeTagAndFieldAreRefused(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	err := e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
		pt("m", models.Tags{{Key: "time", Value: "x"}}, 1, models.FloatField("f", 1)),
		pt("m", hostA, 2, models.FloatField("time", 1), models.FloatField("f", 2)),
		pt("m", hostA, 3, models.FloatField("time", 1)),
	}})
	want := `partial write: invalid tag key: input tag "time" on measurement "m" is invalid dropped=2`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	got := readAll(t, e, "db", "", "m,host=a")
	if fmt.Sprint(got) != fmt.Sprint(map[string][]value{"f": {{2, 2.0}}}) {
		t.Fatalf("got %v", got)
	}
}

// TestHeadOutOfOrderAcrossSealedChunks writes enough values for the head
// to compress several chunks, out of order and with overwrites, and
// checks reads before and after a flush.
func TestHeadOutOfOrderAcrossSealedChunks(t *testing.T) {
	e := openTest(t, t.TempDir(), nil)
	defer e.Close()
	must(t, e.CreateDatabase("db"))
	const n = 1000
	var pts []models.Point
	for i := 0; i < n; i++ {
		ts := int64((i * 7919) % n) // a permutation of 0..n-1
		pts = append(pts, pt("m", hostA, ts, models.IntegerField("v", ts), models.StringField("s", fmt.Sprint("x", ts))))
	}
	for i := 0; i < n; i += 3 {
		pts = append(pts, pt("m", hostA, int64(i), models.IntegerField("v", -int64(i))))
	}
	must(t, e.WriteBatch(&models.Batch{Database: "db", Points: pts}))
	check := func(stage string) {
		got := readAll(t, e, "db", "", "m,host=a")
		if len(got["v"]) != n || len(got["s"]) != n {
			t.Fatalf("%s: %d %d values", stage, len(got["v"]), len(got["s"]))
		}
		for i, v := range got["v"] {
			want := int64(i)
			if i%3 == 0 {
				want = -want
			}
			if v.t != int64(i) || v.v != want || got["s"][i].v != fmt.Sprint("x", i) {
				t.Fatalf("%s: value %d = %v, %v", stage, i, v, got["s"][i])
			}
		}
	}
	check("head")
	must(t, e.Flush())
	check("blocks")
}

// TestReplayStreamsAcrossRolls writes many small batches (each WAL record
// continues the compression stream of the ones before it), rolls the WAL
// with a flush in the middle, and replays everything after a crash.
func TestReplayStreamsAcrossRolls(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	write := func(from, to int) {
		for i := from; i < to; i++ {
			must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{
				pt("cpu", hostA, int64(i)*1e9, models.FloatField("v", float64(i)/3), models.StringField("s", fmt.Sprint("n", i)))}}))
		}
	}
	write(0, 150)
	must(t, e.Flush())
	write(150, 300)
	e.abandon()
	e = openTest(t, dir, nil)
	defer e.Close()
	got := readAll(t, e, "db", "", "cpu,host=a")
	if len(got["v"]) != 300 || len(got["s"]) != 300 {
		t.Fatalf("after replay: %d %d values", len(got["v"]), len(got["s"]))
	}
	for i, v := range got["v"] {
		if v.v != float64(i)/3 || got["s"][i].v != fmt.Sprint("n", i) {
			t.Fatalf("value %d: %v %v", i, v, got["s"][i])
		}
	}
}

// TestDatabasesInCreationOrder: SHOW DATABASES lists databases as
// InfluxDB does, in creation order, across a restart; a dropped and
// recreated database moves to the end.
func TestDatabasesInCreationOrder(t *testing.T) {
	dir := t.TempDir()
	e := openTest(t, dir, nil)
	for _, db := range []string{"zeta", "alpha", "mid"} {
		must(t, e.CreateDatabase(db))
	}
	must(t, e.DropDatabase("zeta"))
	must(t, e.CreateDatabase("zeta"))
	want := "[alpha mid zeta]"
	if got := fmt.Sprint(e.Databases()); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	must(t, e.Close())
	e = openTest(t, dir, nil)
	defer e.Close()
	if got := fmt.Sprint(e.Databases()); got != want {
		t.Fatalf("after restart got %s, want %s", got, want)
	}
}
