package storage

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/testutil"
)

// TestMain lets the crash test re-run this binary as a writer child.
func TestMain(m *testing.M) {
	if dir := os.Getenv("HERD_CRASH_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	if dir := os.Getenv("HERD_FAULT_CHILD_DIR"); dir != "" {
		faultChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild writes numbered points from several goroutines and prints
// each number once its write is acknowledged, until it is killed.
func crashChild(dir string) {
	e, err := Open(Options{Dir: dir, HeadMaxBytes: 256 << 10})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	if err := e.CreateDatabase("db"); err != nil {
		fmt.Println("create:", err)
		os.Exit(1)
	}
	out := make(chan string, 1024)
	for w := 0; w < 4; w++ {
		go func(w int) {
			for n := 0; ; n++ {
				seq := int64(w)*1e9 + int64(n)
				var pts []models.Point
				for i := 0; i < 10; i++ {
					pts = append(pts, models.Point{Measurement: "acked", Tags: models.Tags{{Key: "w", Value: strconv.Itoa(w)}},
						Time: seq*10 + int64(i), Fields: []models.Field{models.IntegerField("seq", seq)}})
				}
				if err := e.WriteBatch(&models.Batch{Database: "db", Points: pts}); err != nil {
					out <- "error " + err.Error()
					return
				}
				out <- strconv.FormatInt(seq, 10)
			}
		}(w)
	}
	fmt.Println("ready")
	for s := range out {
		fmt.Println(s)
	}
}

// TestKill9LosesNoAcknowledgedWrite kills a writing process with SIGKILL
// at several moments and checks that every acknowledged point is there
// after a restart.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	dir := t.TempDir()
	acked := map[int64]bool{}
	for round := 0; round < rounds; round++ {
		cmd := testutil.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "HERD_CRASH_CHILD_DIR="+dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			t.Fatalf("child did not start: %q", sc.Text())
		}
		// Let it acknowledge a number of writes that varies per round,
		// then kill it mid-stream.
		target := 200 + round*350
		got := 0
		deadline := time.Now().Add(30 * time.Second)
		for got < target && time.Now().Before(deadline) && sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
			n, err := strconv.ParseInt(line, 10, 64)
			if err != nil {
				t.Fatalf("child said %q", line)
			}
			acked[n] = true
			got++
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// Numbers printed before the kill landed are acknowledged too.
		for sc.Scan() {
			if n, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				acked[n] = true
			}
		}
		cmd.Wait()
		if got < target {
			t.Fatalf("round %d: only %d acknowledgements before the deadline", round, got)
		}
	}
	e := openTest(t, dir, nil)
	defer e.Close()
	present := map[int64]int{}
	ix, err := e.Index("db")
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for w := 0; w < 4; w++ {
		if id, ok := ix.Lookup([]byte(fmt.Sprintf("acked,w=%d", w))); ok {
			ids = append(ids, id)
		}
	}
	err = e.Read(ReadRequest{Database: "db", SeriesIDs: ids, MinTime: math.MinInt64, MaxTime: math.MaxInt64},
		func(_ uint64, _ string, col *block.Column) error {
			for _, v := range col.Integers {
				present[v]++
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for n := range acked {
		if present[n] != 10 {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged write %d has %d of 10 points after kill -9", n, present[n])
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	t.Logf("%d acknowledged writes over %d kills, all present", len(acked), rounds)
}
