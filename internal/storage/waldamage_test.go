package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/models"
)

// TestWALDamageKeepsLaterWrites: a checksum error in a WAL segment that
// is no longer the last one (the server restarted and took writes since)
// used to cut the log there and move every later segment aside, so the
// writes acknowledged after the restart were lost with the damaged one.
// Now only the damaged record is lost: the later writes are replayed,
// the damaged bytes are kept in a *.corrupt file, and the engine's
// statistics count the damage.
func TestWALDamageKeepsLaterWrites(t *testing.T) {
	dir := t.TempDir()
	write := func(e *Engine, ts int64) {
		t.Helper()
		must(t, e.WriteBatch(&models.Batch{Database: "db", Points: []models.Point{pt("m", hostA, ts, models.IntegerField("v", ts))}}))
	}
	e := openTest(t, dir, nil)
	must(t, e.CreateDatabase("db"))
	write(e, 1)
	write(e, 2)
	e.abandon() // a crash: nothing flushed, all in the WAL
	e = openTest(t, dir, nil)
	write(e, 3) // a new segment, and a new compression stream
	write(e, 4)
	e.abandon()

	// Flip a payload byte of the last record of the first segment (the
	// write of 2): a whole record with a bad checksum, not a torn write.
	walDir := filepath.Join(dir, "wal")
	first := filepath.Join(walDir, "00000001")
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x01
	must(t, os.WriteFile(first, b, 0o644))

	e = openTest(t, dir, nil)
	defer e.Close()
	got := readAll(t, e, "db", "", "m,host=a")["v"]
	if want := []value{{1, int64(1)}, {3, int64(3)}, {4, int64(4)}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed %v, want %v (only the damaged write lost)", got, want)
	}
	kept, _ := filepath.Glob(filepath.Join(walDir, "*.corrupt*"))
	if len(kept) != 1 || !strings.HasPrefix(filepath.Base(kept[0]), "00000001.corrupt") {
		t.Fatalf("kept copies %v, want the damaged first segment", kept)
	}
	st := e.Statistics()
	if st["walCorruptions"] != 1 || st["walBytesQuarantined"] == 0 {
		t.Fatalf("statistics %v: want one WAL corruption and its bytes counted", st)
	}
}
