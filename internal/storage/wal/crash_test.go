package wal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/testutil"
)

// The child half of TestKill9: it appends numbered records from several
// goroutines and prints "ack <n>" after each Append returns, until the
// parent kills it.
const (
	crashDirEnv   = "HERD_WAL_CRASH_DIR"
	crashDelayEnv = "HERD_WAL_CRASH_FSYNC_DELAY"
	crashBaseEnv  = "HERD_WAL_CRASH_BASE"
)

func TestKill9Child(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	delay, _ := time.ParseDuration(os.Getenv(crashDelayEnv))
	base, _ := strconv.Atoi(os.Getenv(crashBaseEnv))
	w, err := Open(Options{Dir: dir, SegmentSize: 64 << 10, FsyncDelay: delay})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := w.Replay(func([]byte) error { return nil }); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	const writers = 4
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			pad := strings.Repeat("p", 100+g*300)
			for i := g; ; i += writers {
				n := base + i
				if err := w.Append(fmt.Appendf(nil, "%d %s", n, pad)); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				fmt.Printf("ack %d\n", n) // one write(2) per line: atomic on a pipe
			}
		})
	}
	wg.Wait()
}

// TestKill9 kills a process that is appending at a random moment and
// checks that every record it had acknowledged is replayed (reliability
// recipe 1). Rounds share one directory, so each also recovers from the
// previous crash.
func TestKill9(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	t.Parallel()
	dir := t.TempDir()
	rounds := []time.Duration{0, 0, 20 * time.Millisecond, 0, 5 * time.Millisecond, 0}
	if testing.Short() {
		rounds = rounds[:3]
	}
	acked := map[int]bool{}
	for round, delay := range rounds {
		base := round * 1_000_000
		cmd := testutil.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			crashDirEnv+"="+dir, crashDelayEnv+"="+delay.String(), crashBaseEnv+"="+strconv.Itoa(base))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 1 + rand.IntN(400) // acknowledgements before the kill
		sc := bufio.NewScanner(out)
		acks, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ack "):
				n, err := strconv.Atoi(line[4:])
				if err != nil {
					t.Fatalf("child printed %q", line)
				}
				acked[n] = true
				acks++
				if acks == killAfter && !killed {
					// Kill mid-stream: writers are inside Append right now.
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			case strings.HasPrefix(line, "error"):
				t.Fatalf("round %d: child: %s", round, line)
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited by itself after %d acks", round, acks)
		}

		// Every acknowledged number must be replayed; unacknowledged ones
		// may or may not be.
		w := openTest(t, Options{Dir: dir}, osHooks)
		seen := map[int]bool{}
		for _, rec := range replayAll(t, w) {
			n, err := strconv.Atoi(strings.SplitN(string(rec), " ", 2)[0])
			if err != nil {
				t.Fatalf("round %d: garbage record %.40q", round, rec)
			}
			seen[n] = true
		}
		mustClose(t, w)
		for n := range acked {
			if !seen[n] {
				t.Fatalf("round %d (fsync delay %v): acknowledged record %d missing after kill -9", round, delay, n)
			}
		}
		t.Logf("round %d: killed after %d acks (%d read), %d records replayed", round, killAfter, acks, len(seen))
	}
}
