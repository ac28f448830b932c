package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/httpapi"
	"github.com/herdmon/herd/internal/query"
)

// queryExecutor plugs the InfluxQL engine into the /query handler,
// behind the handler's own database and retention-policy statements.
type queryExecutor struct {
	x *query.Executor
	// limits are the configured bounds every statement runs with.
	limits query.Options
}

// ExecuteStatement implements httpapi.StatementExecutor. Series are
// sent as the engine computes them: with chunked=true each goes out in
// chunk_size pieces at once; otherwise the handler gathers them.
func (q *queryExecutor) ExecuteStatement(ectx *httpapi.ExecutionContext, stmt influxql.Statement) error {
	opt := q.limits
	opt.Database, opt.RetentionPolicy = ectx.Database, ectx.RetentionPolicy
	opt.Memory = ectx.Memory
	s := &seriesSender{ectx: ectx, size: ectx.ChunkSize}
	// SELECT ... INTO writes: sent by GET it still runs, with InfluxDB's
	// warning.
	if sel, ok := stmt.(*influxql.SelectStatement); ok && sel.Target != nil && ectx.ReadOnly {
		s.msgs = append(s.msgs, &httpapi.Message{Level: httpapi.WarningLevel,
			Text: fmt.Sprintf("deprecated use of '%s' in a read only context, please use a POST request instead", stmt.String())})
	}
	opt.Text = ectx.Text
	// Data the answer lacks (quarantined block files) becomes InfluxDB-
	// style warning messages, so a smaller answer is never silent.
	opt.Warn = s.warn
	// The answer is encoded and written while the statement is still
	// registered (SHOW QUERIES lists it, its timeout and KILL QUERY end
	// it): see httpapi.ExecutionContext.Finish.
	opt.Registered = func(ctx context.Context) func(error) error {
		ectx.Begin(ctx)
		return func(err error) error {
			if err == nil {
				err = s.finish()
			}
			return ectx.Finish(ctx, statementError(stmt, err))
		}
	}
	return q.x.ExecuteStream(ectx.Context, stmt, opt, s.row)
}

// statementError is the error a statement reports for the engine's err.
func statementError(stmt influxql.Statement, err error) error {
	var ue *query.UnsupportedError
	if errors.As(err, &ue) && strings.HasPrefix(ue.What, "*influxql.") {
		return &httpapi.NotSupportedError{Statement: httpapi.StatementName(stmt)}
	}
	return err
}

// seriesSender turns the engine's series pieces into results. Unchunked,
// each piece is a result of its own (the handler joins the pieces of a
// series, marked Partial). Chunked, as InfluxDB 1.x does with
// chunked=true: one result per series, a series longer than the chunk
// size cut into several results; "partial" marks a series, and a
// statement's results, that continue in the next object. To know that,
// the sender holds back up to one chunk of the latest series.
//
// The statement's messages go with the next result sent: the first, and
// for warnings that come later, a later one (the last chunk, held back
// to its end, or a result of messages alone).
type seriesSender struct {
	ectx *httpapi.ExecutionContext
	size int // rows per chunk; 0: not chunked

	mu   sync.Mutex // warnings may come from storage's goroutines
	msgs []*httpapi.Message

	pending *httpapi.Row // chunked: the latest series' rows not yet sent
	more    bool         // pending's series continues in the next piece
}

func (s *seriesSender) row(r *query.Row) error {
	if s.size == 0 {
		return s.send(&httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: r.Values, Partial: r.Partial}, false)
	}
	if s.pending != nil && !s.more {
		// A new series follows the pending one, which ends here.
		if err := s.flushChunked(true); err != nil {
			return err
		}
	}
	if s.pending == nil {
		s.pending = &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns}
	}
	s.pending.Values = append(s.pending.Values, r.Values...)
	s.more = r.Partial
	// Full chunks with rows after them go out now.
	for len(s.pending.Values) > s.size {
		part := &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: s.pending.Values[:s.size:s.size], Partial: true}
		if err := s.send(part, true); err != nil {
			return err
		}
		s.pending.Values = s.pending.Values[s.size:]
	}
	return nil
}

// flushChunked sends the pending rows as the end of their series; more
// says whether another series follows in this statement.
func (s *seriesSender) flushChunked(more bool) error {
	p := s.pending
	s.pending = nil
	return s.send(p, more)
}

// warn adds a warning message to the statement's.
func (s *seriesSender) warn(text string) {
	s.mu.Lock()
	s.msgs = append(s.msgs, &httpapi.Message{Level: httpapi.WarningLevel, Text: text})
	s.mu.Unlock()
}

// takeMessages returns the messages not sent yet.
func (s *seriesSender) takeMessages() []*httpapi.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs
	s.msgs = nil
	return m
}

// send sends one result of series row, with the messages not sent yet.
func (s *seriesSender) send(row *httpapi.Row, partial bool) error {
	return s.ectx.Send(&httpapi.Result{Series: []*httpapi.Row{row}, Partial: partial, Messages: s.takeMessages()})
}

// finish sends what is still pending when the statement ends, and the
// messages no result carried.
func (s *seriesSender) finish() error {
	if s.pending != nil {
		return s.flushChunked(false)
	}
	if msgs := s.takeMessages(); len(msgs) > 0 {
		return s.ectx.Send(&httpapi.Result{Messages: msgs})
	}
	return nil
}
