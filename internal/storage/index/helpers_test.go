package index

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/herdmon/herd/internal/models"
)

// quiet keeps expected repair warnings out of test output.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openT(t testing.TB, dir string, opts Options) *Index {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ix, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return ix
}

// tagsOf builds sorted tags from key, value pairs.
func tagsOf(kv ...string) models.Tags {
	var tags models.Tags
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, models.Tag{Key: kv[i], Value: kv[i+1]})
	}
	tags.Sort()
	return tags
}

// mustCreate creates measurement,kv... and returns its id.
func mustCreate(t testing.TB, ix *Index, m string, kv ...string) uint64 {
	t.Helper()
	tags := tagsOf(kv...)
	id, _, err := ix.CreateSeries(models.AppendSeriesKey(nil, m, tags), m, tags)
	if err != nil {
		t.Fatalf("CreateSeries(%s %v): %v", m, kv, err)
	}
	return id
}

func bm(ids ...uint32) *roaring.Bitmap { return roaring.BitmapOf(ids...) }

// dump renders everything the index answers, for comparing states across
// restarts.
func dump(ix *Index) string {
	var b strings.Builder
	fmt.Fprintf(&b, "count %d\n", ix.SeriesCount())
	for _, m := range ix.Measurements() {
		ms := ix.MeasurementSeries(m)
		fmt.Fprintf(&b, "%s %v\n", m, ms.ToArray())
		it := ms.Iterator()
		for it.HasNext() {
			id := uint64(it.Next())
			k, _ := ix.SeriesKey(id)
			got, ok := ix.Lookup([]byte(k))
			fmt.Fprintf(&b, "  %d %q lookup=%d,%v\n", id, k, got, ok)
		}
		for _, k := range ix.TagKeys(m) {
			for _, v := range ix.TagValues(m, k) {
				fmt.Fprintf(&b, "  %s=%s %v\n", k, v, ix.TagValueSeries(m, k, v).ToArray())
			}
		}
	}
	return b.String()
}

func logBytes(t testing.TB, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeLog(t testing.TB, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, logName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// noFsync skips fsync for the rest of a test: the exhaustive torn-tail
// tests open hundreds of logs and check what replay makes of bytes, not
// the order of writes and fsyncs.
func noFsync(t testing.TB) {
	saved := fileSync
	fileSync = func(*os.File) error { return nil }
	t.Cleanup(func() { fileSync = saved })
}
