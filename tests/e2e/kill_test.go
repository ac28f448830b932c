package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/storage/block"
)

// TestServerKill9LosesNoAcknowledgedPoint writes numbered points from
// concurrent HTTP clients, kills the server with SIGKILL mid-stream, and
// checks after restarts that every point answered with 204 is stored.
func TestServerKill9LosesNoAcknowledgedPoint(t *testing.T) {
	dataDir := t.TempDir()
	addr := freePort(t)
	s := startServer(t, dataDir, addr)
	query(t, s.url, "CREATE DATABASE killtest")

	var mu sync.Mutex
	acked := map[int]bool{}
	const writers = 4
	for round := 0; round < 3; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var count sync.WaitGroup
		count.Add(1)
		seen := 0
		target := 100 + 150*round
		var once sync.Once
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					seq := round*10_000_000 + w*1_000_000 + n
					var body strings.Builder
					for i := 0; i < 20; i++ {
						fmt.Fprintf(&body, "acked,w=%d seq=%di %d\n", w, seq, int64(seq)*100+int64(i))
					}
					req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/write?db=killtest", strings.NewReader(body.String()))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusNoContent {
						mu.Lock()
						acked[seq] = true
						seen++
						if seen == target {
							once.Do(count.Done)
						}
						mu.Unlock()
					} else if resp.StatusCode != 0 {
						t.Errorf("write: %s", resp.Status)
						once.Do(count.Done)
						return
					}
				}
			}(w)
		}
		waitCh := make(chan struct{})
		go func() { count.Wait(); close(waitCh) }()
		select {
		case <-waitCh:
		case <-time.After(60 * time.Second):
			t.Fatalf("round %d: writes too slow", round)
		}
		s.kill()
		cancel()
		wg.Wait()
		s = startServer(t, dataDir, addr)
	}
	s.stop(t)

	e, err := storage.Open(storage.Options{Dir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ix, err := e.Index("killtest")
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for w := 0; w < writers; w++ {
		if id, ok := ix.Lookup([]byte(fmt.Sprintf("acked,w=%d", w))); ok {
			ids = append(ids, id)
		}
	}
	present := map[int]int{}
	err = e.Read(storage.ReadRequest{Database: "killtest", SeriesIDs: ids, MinTime: math.MinInt64, MaxTime: math.MaxInt64},
		func(_ uint64, _ string, col *block.Column) error {
			for _, v := range col.Integers {
				present[int(v)]++
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for seq := range acked {
		if present[seq] != 20 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost after kill -9", lost, len(acked))
	}
	t.Logf("%d acknowledged writes survived 3 kills", len(acked))
}

func query(t *testing.T, base, q string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"q": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %q: %s %s", q, resp.Status, b)
	}
	return string(b)
}
