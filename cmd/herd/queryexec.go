package main

import (
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

// ExecuteStatement implements httpapi.StatementExecutor.
func (q *queryExecutor) ExecuteStatement(ectx *httpapi.ExecutionContext, stmt influxql.Statement) error {
	opt := q.limits
	opt.Database, opt.RetentionPolicy = ectx.Database, ectx.RetentionPolicy
	// Data the answer lacks (quarantined block files) becomes InfluxDB-
	// style warning messages, so a smaller answer is never silent.
	var warnings []*httpapi.Message
	var warnMu sync.Mutex
	opt.Warn = func(text string) {
		warnMu.Lock()
		warnings = append(warnings, &httpapi.Message{Level: httpapi.WarningLevel, Text: text})
		warnMu.Unlock()
	}
	rows, err := q.x.Execute(ectx.Context, stmt, opt)
	if err != nil {
		var ue *query.UnsupportedError
		if errors.As(err, &ue) && strings.HasPrefix(ue.What, "*influxql.") {
			return &httpapi.NotSupportedError{Statement: httpapi.StatementName(stmt)}
		}
		return err
	}
	res := &httpapi.Result{Series: make([]*httpapi.Row, len(rows))}
	// SELECT ... INTO writes: sent by GET it still runs, with InfluxDB's
	// warning.
	if sel, ok := stmt.(*influxql.SelectStatement); ok && sel.Target != nil && ectx.ReadOnly {
		res.Messages = append(res.Messages, &httpapi.Message{Level: httpapi.WarningLevel,
			Text: fmt.Sprintf("deprecated use of '%s' in a read only context, please use a POST request instead", stmt.String())})
	}
	warnMu.Lock()
	res.Messages = append(res.Messages, warnings...)
	warnMu.Unlock()
	if len(rows) == 0 && len(res.Messages) == 0 {
		return nil
	}
	if ectx.ChunkSize > 0 && len(rows) > 0 {
		return sendChunked(ectx, rows, res.Messages)
	}
	for i, r := range rows {
		res.Series[i] = &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: r.Values}
	}
	return ectx.Send(res)
}

// sendChunked streams rows as InfluxDB 1.x does with chunked=true: one
// result per series, a series longer than the chunk size cut into
// several results; "partial" marks a series, and a statement's results,
// that continue in the next object.
func sendChunked(ectx *httpapi.ExecutionContext, rows []*query.Row, msgs []*httpapi.Message) error {
	size := ectx.ChunkSize
	for i, r := range rows {
		vals := r.Values
		for first := true; first || len(vals) > 0; first = false {
			n := min(size, len(vals))
			part := &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: vals[:n]}
			vals = vals[n:]
			part.Partial = len(vals) > 0
			res := &httpapi.Result{Series: []*httpapi.Row{part}, Partial: len(vals) > 0 || i < len(rows)-1}
			if i == 0 && first {
				res.Messages = msgs
			}
			if err := ectx.Send(res); err != nil {
				return err
			}
		}
	}
	return nil
}
