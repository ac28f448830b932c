package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/herdmon/herd/internal/models"
	"github.com/influxdata/influxql"
)

// Store is what the HTTP layer needs from storage. storage.Engine
// satisfies it on one node; a cluster node will too. WriteBatch must not
// keep b, its points or strings taken from them after it returns: the
// handler reuses their memory for the next request.
type Store interface {
	WriteBatch(b *models.Batch) error
	CreateDatabase(name string) error
	DropDatabase(name string) error
	Databases() []string
	CreateRetentionPolicy(db string, rp models.RetentionPolicy, makeDefault bool) error
	UpdateRetentionPolicy(db, name string, u models.RetentionPolicyUpdate, makeDefault bool) error
	DropRetentionPolicy(db, name string) error
	RetentionPolicies(db string) ([]models.RetentionPolicy, error)
}

// InfluxDB's meta errors, with its texts.
var (
	ErrInvalidName               = errors.New("invalid name")
	ErrDatabaseNameRequired      = errors.New("database name required")
	ErrRetentionPolicyConflict   = errors.New("retention policy conflicts with an existing policy")
	ErrRetentionPolicyDurationLo = fmt.Errorf("retention policy duration must be at least %s", models.MinRetentionPolicyDuration)
)

// autogen is the name of the policy a database gets by default.
const autogen = "autogen"

// MetaExecutor runs the statements that manage databases and retention
// policies against a Store, and passes every other statement to Next
// (Unsupported when nil).
type MetaExecutor struct {
	Store Store
	Next  StatementExecutor
}

// ExecuteStatement implements StatementExecutor.
func (e *MetaExecutor) ExecuteStatement(ectx *ExecutionContext, stmt influxql.Statement) error {
	var rows []*Row
	var err error
	write := true
	switch s := stmt.(type) {
	case *influxql.CreateDatabaseStatement:
		err = e.createDatabase(s)
	case *influxql.DropDatabaseStatement:
		err = e.Store.DropDatabase(s.Name)
	case *influxql.CreateRetentionPolicyStatement:
		err = e.createRetentionPolicy(s)
	case *influxql.AlterRetentionPolicyStatement:
		err = e.alterRetentionPolicy(s)
	case *influxql.DropRetentionPolicyStatement:
		err = e.Store.DropRetentionPolicy(s.Database, s.Name)
	case *influxql.ShowDatabasesStatement:
		write = false
		rows = e.showDatabases()
	case *influxql.ShowRetentionPoliciesStatement:
		write = false
		rows, err = e.showRetentionPolicies(s, ectx.Database)
	default:
		next := e.Next
		if next == nil {
			next = Unsupported{}
		}
		return next.ExecuteStatement(ectx, stmt)
	}
	if err != nil {
		return queryError(err)
	}
	r := &Result{Series: rows}
	if write && ectx.ReadOnly {
		r.Messages = append(r.Messages, readOnlyWarning(stmt))
	}
	return ectx.Send(r)
}

// queryError words storage errors as InfluxDB's query path does, which
// differs from the write path: `database not found: x`, unquoted.
func queryError(err error) error {
	var dnf *models.DatabaseNotFoundError
	if errors.As(err, &dnf) {
		return fmt.Errorf("database not found: %s", dnf.Name)
	}
	return err
}

// validName is InfluxDB's meta.ValidName: printable, not "." or "..",
// no slashes.
func validName(name string) bool {
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`)
}

func checkDuration(d time.Duration) error {
	if d != 0 && d < models.MinRetentionPolicyDuration {
		return ErrRetentionPolicyDurationLo
	}
	return nil
}

func (e *MetaExecutor) hasDatabase(name string) bool {
	for _, db := range e.Store.Databases() {
		if db == name {
			return true
		}
	}
	return false
}

// createDatabase follows InfluxDB's CreateDatabaseWithRetentionPolicy: a
// new database gets only the policy named in WITH (autogen when unnamed)
// as its default; on an existing database the statement is a no-op when
// that default policy matches and a conflict otherwise.
func (e *MetaExecutor) createDatabase(s *influxql.CreateDatabaseStatement) error {
	if !validName(s.Name) {
		return ErrInvalidName
	}
	if !s.RetentionPolicyCreate {
		return e.Store.CreateDatabase(s.Name)
	}
	if s.RetentionPolicyName != "" && !validName(s.RetentionPolicyName) {
		return ErrInvalidName
	}
	rp := models.RetentionPolicy{Name: s.RetentionPolicyName, Replication: 1, Default: true}
	if rp.Name == "" {
		rp.Name = autogen
	}
	if s.RetentionPolicyDuration != nil {
		rp.Duration = *s.RetentionPolicyDuration
	}
	if s.RetentionPolicyReplication != nil {
		rp.Replication = *s.RetentionPolicyReplication
	}
	if err := checkDuration(rp.Duration); err != nil {
		return err
	}
	rp.ShardDuration = models.NormalizeShardDuration(s.RetentionPolicyShardGroupDuration, rp.Duration)

	if e.hasDatabase(s.Name) {
		rps, err := e.Store.RetentionPolicies(s.Name)
		if err != nil {
			return err
		}
		for _, have := range rps {
			if have.Name == rp.Name && have.Default && have.Duration == rp.Duration &&
				have.Replication == rp.Replication && have.ShardDuration == rp.ShardDuration {
				return nil
			}
		}
		return ErrRetentionPolicyConflict
	}
	if err := e.Store.CreateDatabase(s.Name); err != nil {
		return err
	}
	if rp.Name == autogen {
		d, sd, n := rp.Duration, rp.ShardDuration, rp.Replication
		return e.Store.UpdateRetentionPolicy(s.Name, autogen,
			models.RetentionPolicyUpdate{Duration: &d, ShardDuration: &sd, Replication: &n}, true)
	}
	if err := e.Store.CreateRetentionPolicy(s.Name, rp, true); err != nil {
		return err
	}
	// The database is new and holds no data yet, so removing the autogen
	// policy CreateDatabase made leaves exactly what InfluxDB creates.
	return e.Store.DropRetentionPolicy(s.Name, autogen)
}

func (e *MetaExecutor) createRetentionPolicy(s *influxql.CreateRetentionPolicyStatement) error {
	if !validName(s.Name) {
		return ErrInvalidName
	}
	if err := checkDuration(s.Duration); err != nil {
		return err
	}
	rp := models.RetentionPolicy{
		Name:          s.Name,
		Duration:      s.Duration,
		ShardDuration: models.NormalizeShardDuration(s.ShardGroupDuration, s.Duration),
		Replication:   s.Replication,
		Default:       s.Default,
	}
	return e.Store.CreateRetentionPolicy(s.Database, rp, s.Default)
}

func (e *MetaExecutor) alterRetentionPolicy(s *influxql.AlterRetentionPolicyStatement) error {
	if s.Duration != nil {
		if err := checkDuration(*s.Duration); err != nil {
			return err
		}
	}
	u := models.RetentionPolicyUpdate{Duration: s.Duration, Replication: s.Replication}
	if s.ShardGroupDuration != nil {
		sd := *s.ShardGroupDuration
		if sd == 0 {
			// The default follows the policy's (possibly new) duration.
			d := time.Duration(0)
			if s.Duration != nil {
				d = *s.Duration
			} else if cur, err := e.findPolicy(s.Database, s.Name); err != nil {
				return err
			} else {
				d = cur.Duration
			}
			sd = models.DefaultShardDuration(d)
		} else {
			sd = models.NormalizeShardDuration(sd, 0)
		}
		u.ShardDuration = &sd
	}
	return e.Store.UpdateRetentionPolicy(s.Database, s.Name, u, s.Default)
}

func (e *MetaExecutor) findPolicy(db, name string) (models.RetentionPolicy, error) {
	rps, err := e.Store.RetentionPolicies(db)
	if err != nil {
		return models.RetentionPolicy{}, err
	}
	for _, rp := range rps {
		if rp.Name == name {
			return rp, nil
		}
	}
	return models.RetentionPolicy{}, &models.RetentionPolicyNotFoundError{Database: db, Name: name}
}

func (e *MetaExecutor) showDatabases() []*Row {
	row := &Row{Name: "databases", Columns: []string{"name"}}
	for _, db := range e.Store.Databases() {
		row.Values = append(row.Values, []any{db})
	}
	return []*Row{row}
}

func (e *MetaExecutor) showRetentionPolicies(s *influxql.ShowRetentionPoliciesStatement, defaultDB string) ([]*Row, error) {
	db := s.Database
	if db == "" {
		db = defaultDB
	}
	if db == "" {
		return nil, ErrDatabaseNameRequired
	}
	rps, err := e.Store.RetentionPolicies(db)
	if err != nil {
		return nil, err
	}
	row := &Row{Columns: []string{"name", "duration", "shardGroupDuration", "replicaN", "default"}}
	for _, rp := range rps {
		row.Values = append(row.Values, []any{rp.Name, rp.Duration.String(), rp.ShardDuration.String(), rp.Replication, rp.Default})
	}
	return []*Row{row}, nil
}
