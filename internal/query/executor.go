// Package query runs InfluxQL statements over herd's storage, answer for
// answer as InfluxDB 1.x does. Statements are parsed by
// github.com/influxdata/influxql (InfluxDB's own parser); planning and
// execution are herd's, over storage's read API (Index, FieldTypes, Read).
package query

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/storage/index"
)

// Store is the part of the storage engine queries read from.
type Store interface {
	Databases() []string
	RetentionPolicies(db string) ([]models.RetentionPolicy, error)
	Index(db string) (*index.Index, error)
	FieldTypes(db, measurement string) (map[string]models.FieldType, error)
	Read(req storage.ReadRequest, fn storage.ReadFunc) error
	LatestTime(req storage.ReadRequest) (int64, bool, error)
}

// Row is one series of a result, as InfluxDB's models.Row. Values may
// hold time.Time in column 0 (the HTTP layer formats it per ?epoch=).
type Row struct {
	Name    string
	Tags    map[string]string
	Columns []string
	Values  [][]any
	// Partial marks a piece of a series that continues in the next Row
	// ExecuteStream emits (never set in what Execute returns).
	Partial bool
}

// Options are the request's parameters a statement runs with.
type Options struct {
	Database        string
	RetentionPolicy string
	Now             time.Time
	// MaxSelectBuckets bounds GROUP BY time buckets (0: 100,000), so a
	// tiny interval over a long range cannot exhaust memory.
	MaxSelectBuckets int
	// MaxPointsRead bounds the values a SELECT may read from storage
	// (0: no bound), as InfluxDB's max-select-point does, so that one
	// query cannot keep a small board busy for minutes.
	MaxPointsRead int64
	// Timeout ends a statement running longer (0: none), with
	// InfluxDB's query-timeout error.
	Timeout time.Duration
	// Warn, when set, receives each distinct warning of the statement
	// once: storage data the answer lacks (quarantined block files). The
	// HTTP layer turns them into the result's "messages".
	Warn func(text string)
	// Memory accounts what the statement holds (rows, values, per-series
	// state) against the query's memory budget; a statement that would
	// pass it fails with a *membudget.ExceededError. nil: no budget.
	Memory *membudget.Account
	// heldUntilEnd counts what the statement accounted for results it
	// keeps to its end (a subquery's rows): given back when it ends.
	heldUntilEnd *int64
	// MaxQueryDepth bounds the nesting of subqueries (0:
	// DefaultMaxQueryDepth). The HTTP layer bounds the nesting of
	// parentheses in the text with the same setting before parsing;
	// this guards statements that come from elsewhere.
	MaxQueryDepth int
	// Text is the statement as the client sent it, shown by SHOW
	// QUERIES (empty: the statement is rendered).
	Text string
	// Registered, when set, is called by ExecuteStream with the
	// statement's context as soon as the statement is in the running
	// list (its query-timeout and KILL QUERY end that context). The
	// function it returns is called with the statement's outcome just
	// before the statement leaves the list, and what it returns is the
	// outcome ExecuteStream returns. The caller encodes and writes the
	// answer in between, so that SHOW QUERIES still lists the statement
	// and the timeout and KILL QUERY still reach it while it does.
	Registered func(ctx context.Context) (finish func(err error) error)

	// rewritten is set for a subquery whose outer statement already
	// rewrote it (see rewriteFields).
	rewritten bool
	// memo is the statement's planMemo, set by Execute.
	memo *planMemo
}

// DefaultMaxQueryDepth is the default nesting bound of parentheses and
// subqueries: real queries nest a handful of levels (a call in a call, a
// subquery or two), and each level costs stack in the parser and a pass
// in the executor.
const DefaultMaxQueryDepth = 100

func (o Options) maxSubqueryDepth() int {
	if o.MaxQueryDepth > 0 {
		return o.MaxQueryDepth
	}
	return DefaultMaxQueryDepth
}

// LimitError reports a statement that exceeds one of the configured
// bounds, named by its setting.
type LimitError struct {
	Limit string // the setting, e.g. "max-query-depth"
	What  string
}

func (e *LimitError) Error() string { return e.Limit + " limit exceeded: " + e.What }

// Executor runs statements. Between statements it holds only the list
// of running ones (SHOW QUERIES, KILL QUERY); use it by pointer.
type Executor struct {
	Store Store
	// Writer receives SELECT ... INTO points; nil: the Store, if it is
	// a Writer (storage.Engine is).
	Writer Writer

	queries registry
	// windowBytes overrides windowBytes (tests: 0 means the constant).
	windowBytes int64
}

// UnsupportedError names a statement or feature herd cannot run yet.
type UnsupportedError struct{ What string }

func (e *UnsupportedError) Error() string { return "not supported yet: " + e.What }

// Execute runs one statement and returns its series. Errors are
// statement errors (InfluxDB reports them inside the result, HTTP 200).
func (x *Executor) Execute(ctx context.Context, stmt influxql.Statement, opt Options) ([]*Row, error) {
	var rows []*Row
	err := x.ExecuteStream(ctx, stmt, opt, func(r *Row) error {
		rows = appendPiece(rows, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// ExecuteStream runs one statement and hands its series to emit as they
// are computed: a SELECT's series one after the other, a long raw series
// in several pieces (each but the last of a series marked Partial), so
// that the caller can write them out without holding the whole answer.
// emit's error ends the statement and is returned.
func (x *Executor) ExecuteStream(ctx context.Context, stmt influxql.Statement, opt Options, emit func(*Row) error) error {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if k, ok := stmt.(*influxql.KillQueryStatement); ok {
		return x.queries.kill(k.QueryID)
	}
	opt.Warn = onceEach(opt.Warn)
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opt.Timeout, ErrQueryTimeout)
		defer cancel()
	}
	opt.memo = &planMemo{inner: map[*influxql.SelectStatement][]*source{}}
	ctx, done := x.queries.add(ctx, stmt, opt.Text, opt.Database)
	defer done()
	finish := func(err error) error { return err }
	if opt.Registered != nil {
		finish = opt.Registered(ctx)
	}
	var held int64
	opt.heldUntilEnd = &held
	err := x.run(ctx, stmt, opt, emit)
	opt.Memory.Shrink(held)
	return finish(err)
}

// run executes a registered statement.
func (x *Executor) run(ctx context.Context, stmt influxql.Statement, opt Options, emit func(*Row) error) error {
	var err error
	switch s := stmt.(type) {
	case *influxql.ShowQueriesStatement:
		err = emitAll(x.queries.show(), emit)
	case *influxql.SelectStatement:
		err = x.streamSelect(ctx, s, opt, emit)
	default:
		var rows []*Row
		if rows, err = x.execute(ctx, stmt, opt); err == nil {
			err = emitAll(rows, emit)
		}
	}
	return statementError(ctx, err)
}

// statementError is what a statement that returned err reports. A loop
// that saw the context end may have stopped early without an error of
// its own: a statement interrupted or past its deadline reports that,
// never a silently partial answer.
func statementError(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrQueryInterrupted), errors.Is(cause, ErrQueryTimeout):
		return cause
	case err == nil && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

func emitAll(rows []*Row, emit func(*Row) error) error {
	for _, r := range rows {
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

func (x *Executor) execute(ctx context.Context, stmt influxql.Statement, opt Options) ([]*Row, error) {
	switch s := stmt.(type) {
	case *influxql.SelectStatement:
		return x.executeSelect(ctx, s, opt)
	case *influxql.ShowMeasurementsStatement:
		return x.showMeasurements(ctx, s, opt)
	case *influxql.ShowTagKeysStatement:
		return x.showTagKeys(ctx, s, opt)
	case *influxql.ShowTagValuesStatement:
		return x.showTagValues(ctx, s, opt)
	case *influxql.ShowFieldKeysStatement:
		return x.showFieldKeys(ctx, s, opt)
	case *influxql.ShowSeriesStatement:
		return x.showSeries(ctx, s, opt)
	case *influxql.ShowSeriesCardinalityStatement:
		return x.showSeriesCardinality(ctx, s, opt)
	case *influxql.ShowMeasurementCardinalityStatement:
		return x.showMeasurementCardinality(ctx, s, opt)
	case *influxql.ShowTagValuesCardinalityStatement:
		return x.showTagValuesCardinality(ctx, s, opt)
	case *influxql.ShowTagKeyCardinalityStatement:
		return x.showTagKeyCardinality(ctx, s, opt)
	case *influxql.ShowFieldKeyCardinalityStatement:
		return x.showFieldKeyCardinality(ctx, s, opt)
	case *influxql.DropMeasurementStatement:
		return x.dropMeasurement(s, opt)
	case *influxql.DropSeriesStatement:
		return x.dropSeries(ctx, s, opt)
	case *influxql.DeleteSeriesStatement:
		return x.deleteSeries(ctx, s, opt)
	}
	return nil, &UnsupportedError{What: fmt.Sprintf("%T", stmt)}
}

// database returns the database a statement names, or the request's.
func database(stmtDB string, opt Options) (string, error) {
	if stmtDB != "" {
		return stmtDB, nil
	}
	if opt.Database == "" {
		return "", errDatabaseRequired
	}
	return opt.Database, nil
}

var errDatabaseRequired = fmt.Errorf("database name required")

// ticker looks at a statement's context every rowsPerCtxCheck ticks:
// loops that may run long per statement (over series, groups, buckets,
// tag values) tick once per unit, so a statement past its timeout or
// killed stops within that many units, for the cost of a counter.
type ticker struct {
	ctx context.Context
	n   int
}

// tick counts one unit and, every rowsPerCtxCheck, returns the context's
// error.
func (t *ticker) tick() error {
	t.n++
	if t.n%rowsPerCtxCheck != 0 || t.ctx == nil {
		return nil
	}
	return t.ctx.Err()
}

// onceEach wraps warn so that each distinct text reaches it once: every
// storage read of a statement reports the quarantined files of its range
// again. Reads may run concurrently, hence the lock.
func onceEach(warn func(string)) func(string) {
	if warn == nil {
		return nil
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	return func(text string) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[text] {
			seen[text] = true
			warn(text)
		}
	}
}
