package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	// text is the statement as the client sent it; without it, stmt is
	// rendered when SHOW QUERIES first asks (most statements end
	// unseen), once. Executors never modify the statement they are
	// given.
	text   string
	stmt   influxql.Statement
	db     string
	start  time.Time
	cancel context.CancelCauseFunc

	renderOnce sync.Once
	shown      string
}

// maxShownQuery bounds a statement's text in SHOW QUERIES: a query of a
// megabyte would otherwise make every SHOW QUERIES answer a megabyte.
const maxShownQuery = 4096

// shownText returns the statement's text for SHOW QUERIES, cut to
// maxShownQuery bytes with an ellipsis.
func (q *runningQuery) shownText() string {
	q.renderOnce.Do(func() {
		t := q.text
		if t == "" {
			t = statementText(q.stmt)
		}
		q.shown = truncateText(t, maxShownQuery)
	})
	return q.shown
}

// statementText renders a statement as its String does, in time linear
// in a long condition: influxql's BinaryExpr.String formats each operand
// into a new string, so a chain of n terms copies n²/2 terms (20,000
// ORs: 18 s).
func statementText(stmt influxql.Statement) string {
	sel, ok := stmt.(*influxql.SelectStatement)
	if !ok || sel.Condition == nil {
		return stmt.String()
	}
	// A name no parsed statement can hold (the parser refuses NUL).
	placeholder := &influxql.VarRef{Val: "\x00"}
	shallow := *sel
	shallow.Condition = placeholder
	var cond strings.Builder
	writeExpr(&cond, sel.Condition)
	return strings.Replace(shallow.String(), placeholder.String(), cond.String(), 1)
}

// writeExpr writes e as its String does.
func writeExpr(b *strings.Builder, e influxql.Expr) {
	switch e := e.(type) {
	case *influxql.BinaryExpr:
		writeExpr(b, e.LHS)
		b.WriteByte(' ')
		b.WriteString(e.Op.String())
		b.WriteByte(' ')
		writeExpr(b, e.RHS)
	case *influxql.ParenExpr:
		b.WriteByte('(')
		writeExpr(b, e.Expr)
		b.WriteByte(')')
	default:
		b.WriteString(e.String())
	}
}

// truncateText cuts s to at most n bytes, at a character boundary,
// ending it with "..." when cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// add registers a statement and returns its context, cancelled by KILL
// QUERY, and the function that unregisters it.
func (r *registry) add(ctx context.Context, stmt influxql.Statement, text, db string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r.mu.Lock()
	if r.running == nil {
		r.running = map[uint64]*runningQuery{}
	}
	r.next++
	id := r.next
	r.running[id] = &runningQuery{text: text, stmt: stmt, db: db, start: time.Now(), cancel: cancel}
	r.mu.Unlock()
	return ctx, func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
		cancel(nil)
	}
}

// show lists the running statements. The list's lock is held only to
// copy it: rendering a statement's text takes time that must not stop
// statements from starting or ending (they take the lock to do so).
func (r *registry) show() []*Row {
	type entry struct {
		id uint64
		q  *runningQuery
	}
	r.mu.Lock()
	entries := make([]entry, 0, len(r.running))
	for id, q := range r.running {
		entries = append(entries, entry{id, q})
	}
	r.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].id < entries[j].id })
	row := &Row{Columns: []string{"qid", "query", "database", "duration", "status"}}
	for _, e := range entries {
		row.Values = append(row.Values, []any{int64(e.id), e.q.shownText(), e.q.db, prettyDuration(time.Since(e.q.start)), "running"})
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
