package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/influxdata/influxql"
)

// ErrQueryInterrupted ends a statement stopped by KILL QUERY (InfluxDB's
// text).
var ErrQueryInterrupted = errors.New("query interrupted")

// ErrQueryTimeout ends a statement running past Options.Timeout
// (InfluxDB's text).
var ErrQueryTimeout = errors.New("query-timeout limit exceeded")

// registry tracks the statements running in an Executor, for SHOW
// QUERIES and KILL QUERY. The zero value is ready.
type registry struct {
	mu      sync.Mutex
	next    uint64
	running map[uint64]*runningQuery
}

type runningQuery struct {
	// stmt is rendered only when SHOW QUERIES asks (most statements end
	// unseen); executors never modify the statement they are given.
	stmt   influxql.Statement
	db     string
	start  time.Time
	cancel context.CancelCauseFunc
}

// add registers a statement and returns its context, cancelled by KILL
// QUERY, and the function that unregisters it.
func (r *registry) add(ctx context.Context, stmt influxql.Statement, db string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r.mu.Lock()
	if r.running == nil {
		r.running = map[uint64]*runningQuery{}
	}
	r.next++
	id := r.next
	r.running[id] = &runningQuery{stmt: stmt, db: db, start: time.Now(), cancel: cancel}
	r.mu.Unlock()
	return ctx, func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
		cancel(nil)
	}
}

func (r *registry) show() []*Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]uint64, 0, len(r.running))
	for id := range r.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	row := &Row{Columns: []string{"qid", "query", "database", "duration", "status"}}
	for _, id := range ids {
		q := r.running[id]
		row.Values = append(row.Values, []any{int64(id), q.stmt.String(), q.db, prettyDuration(time.Since(q.start)), "running"})
	}
	return []*Row{row}
}

func (r *registry) kill(id uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.running[id]
	if q == nil {
		return fmt.Errorf("no such query id: %d", id)
	}
	q.cancel(ErrQueryInterrupted)
	return nil
}

// prettyDuration formats a running time as InfluxDB's SHOW QUERIES does:
// whole units, the largest that fits.
func prettyDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%ds", d/time.Second)
	case d >= time.Millisecond:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d >= time.Microsecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	}
	return fmt.Sprintf("%dns", d)
}
