package main

import (
	"errors"
	"strings"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/httpapi"
	"github.com/herdmon/herd/internal/query"
)

// queryExecutor plugs the InfluxQL engine into the /query handler,
// behind the handler's own database and retention-policy statements.
type queryExecutor struct {
	x *query.Executor
}

// ExecuteStatement implements httpapi.StatementExecutor.
func (q *queryExecutor) ExecuteStatement(ectx *httpapi.ExecutionContext, stmt influxql.Statement) error {
	rows, err := q.x.Execute(ectx.Context, stmt, query.Options{Database: ectx.Database, RetentionPolicy: ectx.RetentionPolicy})
	if err != nil {
		var ue *query.UnsupportedError
		if errors.As(err, &ue) && strings.HasPrefix(ue.What, "*influxql.") {
			return &httpapi.NotSupportedError{Statement: httpapi.StatementName(stmt)}
		}
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	res := &httpapi.Result{Series: make([]*httpapi.Row, len(rows))}
	for i, r := range rows {
		res.Series[i] = &httpapi.Row{Name: r.Name, Tags: r.Tags, Columns: r.Columns, Values: r.Values}
	}
	return ectx.Send(res)
}
