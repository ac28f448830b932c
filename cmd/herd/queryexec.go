package main

import (
	"errors"
	"fmt"
	"strings"

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
	if len(rows) == 0 && len(res.Messages) == 0 {
		return nil
	}
	for i, r := range rows {
		res.Series[i] = &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: r.Values}
	}
	return ectx.Send(res)
}
