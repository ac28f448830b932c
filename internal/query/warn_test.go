package query

import (
	"slices"
	"sync"
	"testing"

	"github.com/herdmon/herd/internal/storage"
)

// warningStore reports a warning on every read, twice, as storage does
// for a quarantined block in the range of each read.
type warningStore struct{ Store }

const testWarning = "incomplete result: block file x.blk.bad is corrupt and quarantined"

func (w warningStore) Read(req storage.ReadRequest, fn storage.ReadFunc) error {
	if req.Warn != nil {
		req.Warn(testWarning)
		req.Warn(testWarning)
	}
	return w.Store.Read(req, fn)
}

func (w warningStore) LatestTime(req storage.ReadRequest) (int64, bool, error) {
	if req.Warn != nil {
		req.Warn(testWarning)
	}
	return w.Store.LatestTime(req)
}

// TestStorageWarningsReachTheCaller: every way a SELECT reads storage
// passes the statement's Warn on, and each distinct warning reaches the
// caller once however many reads report it, so that a result missing
// quarantined data says so.
func TestStorageWarningsReachTheCaller(t *testing.T) {
	for _, flushed := range []bool{false, true} {
		x := testEngineFlushed(t, flushed)
		x.Store = warningStore{x.Store}
		for _, q := range []string{
			`SELECT idle FROM cpu`,
			`SELECT mean(idle) FROM cpu GROUP BY time(1m), host`,
			`SELECT count(n) FROM cpu`,
			`SELECT idle FROM cpu ORDER BY time DESC LIMIT 1`,
			`SELECT max(m) FROM (SELECT mean(idle) AS m FROM cpu GROUP BY host)`,
			`SELECT * FROM cpu, mem`,
		} {
			var mu sync.Mutex
			var got []string
			rows, err := run(x, q, Options{Warn: func(text string) {
				mu.Lock()
				got = append(got, text)
				mu.Unlock()
			}})
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if len(rows) == 0 {
				t.Fatalf("%s: no rows", q)
			}
			if !slices.Equal(got, []string{testWarning}) {
				t.Errorf("flushed=%v %s: warnings %q, want the storage warning once", flushed, q, got)
			}
		}
	}
}
