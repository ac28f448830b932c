package httpapi

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
)

// StatementExecutor runs one parsed InfluxQL statement. The /query
// handler calls it once per statement, in order, and stops at the first
// returned error, which becomes that statement's "error" (HTTP 200, as in
// InfluxDB). A statement's rows are delivered with ectx.Send; an executor
// may call Send several times to stream a large result in chunks (mark
// continued series and results Partial). A statement that sends nothing
// and returns nil gets an empty result ({"statement_id":N}).
//
// The InfluxQL engine plugs in here: MetaExecutor handles database and
// retention-policy statements and hands every other statement to its Next
// executor.
type StatementExecutor interface {
	ExecuteStatement(ectx *ExecutionContext, stmt influxql.Statement) error
}

// ExecutionContext is what a statement runs with: the request's options
// and the sink for its results.
type ExecutionContext struct {
	// Context is cancelled when the client goes away.
	Context context.Context
	// StatementID is the index of the statement in the query.
	StatementID int
	// Text is the statement as the client sent it (for SHOW QUERIES);
	// empty when it could not be told apart from its neighbours.
	Text string
	// Database and RetentionPolicy are the db and rp parameters, the
	// defaults for statements that name none.
	Database        string
	RetentionPolicy string
	// ReadOnly is set for GET requests: write statements still run but
	// carry InfluxDB's deprecation warning.
	ReadOnly bool
	// ChunkSize is the number of rows per chunk the client asked for
	// (chunked=true); 0 when not chunked.
	ChunkSize int
	// Memory accounts what the request holds against the query memory
	// budget (see Options.QueryMemory); statements pass it on.
	Memory *membudget.Account

	send func(*Result) error
	sent bool
	// begin and finish, set by the handler, are Begin's and Finish's
	// work; finished tells the handler that the executor called Finish.
	begin    func(ctx context.Context)
	finish   func(ctx context.Context, err error) error
	finished bool
}

// Begin tells the handler that the current statement runs under ctx:
// its own context, ended by its query-timeout and KILL QUERY, rather
// than the request's. From then on until Finish, a write of its answer
// to a client that does not read ends soon after ctx does, so a stalled
// client cannot hold a statement forever.
func (c *ExecutionContext) Begin(ctx context.Context) {
	if c.begin != nil {
		c.begin(ctx)
	}
}

// Finish ends the current statement with its outcome (nil: success),
// under ctx: an executor that keeps a list of running statements calls
// it before the statement leaves the list, with the statement's context.
// The handler encodes the statement's answer there, checking ctx, and
// writes it when it is the request's last, so that SHOW QUERIES lists
// the statement, and its timeout and KILL QUERY reach it, until its
// answer is out. A statement that fails, or whose ctx ends while its
// answer is encoded, gets its error as its result. For an executor that
// does not call Finish, the handler calls it with the request's context
// once ExecuteStatement returns. It returns the statement's outcome.
func (c *ExecutionContext) Finish(ctx context.Context, err error) error {
	c.finished = true
	if c.finish == nil {
		return err
	}
	return c.finish(ctx, err)
}

// NewExecutionContext returns a context whose results go to send, for
// running an executor outside the handler (tests, tools).
func NewExecutionContext(ctx context.Context, send func(*Result) error) *ExecutionContext {
	return &ExecutionContext{Context: ctx, send: send}
}

// Send delivers a result of the current statement. Its StatementID is
// set by Send.
func (c *ExecutionContext) Send(r *Result) error {
	r.StatementID = c.StatementID
	c.sent = true
	return c.send(r)
}

// ErrNotExecuted is InfluxDB's error for the statements after a failed one.
var ErrNotExecuted = errors.New("not executed")

// NotSupportedError reports a statement that herd cannot run yet.
type NotSupportedError struct{ Statement string }

func (e *NotSupportedError) Error() string {
	return "statement not supported yet: " + e.Statement
}

// Unsupported is the executor of last resort: it answers every statement
// with a NotSupportedError naming it.
type Unsupported struct{}

// ExecuteStatement implements StatementExecutor.
func (Unsupported) ExecuteStatement(_ *ExecutionContext, stmt influxql.Statement) error {
	return &NotSupportedError{Statement: StatementName(stmt)}
}

// StatementName names a statement's kind in InfluxQL keywords, derived
// from its type: *influxql.ShowTagValuesStatement is "SHOW TAG VALUES".
func StatementName(stmt influxql.Statement) string {
	t := reflect.TypeOf(stmt)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "UNKNOWN"
	}
	name := strings.TrimSuffix(t.Name(), "Statement")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// readOnlyWarning is InfluxDB's message for a write statement sent with
// GET (query.ReadOnlyWarning).
func readOnlyWarning(stmt influxql.Statement) *Message {
	return &Message{
		Level: WarningLevel,
		Text:  fmt.Sprintf("deprecated use of '%s' in a read only context, please use a POST request instead", stmt.String()),
	}
}
