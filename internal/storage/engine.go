// Package storage is herd's time-series engine: databases, retention
// policies, time partitions (shards), the write-ahead log, the in-memory
// head and immutable block files, and the read API the query engine uses.
package storage

import (
	"errors"

	"github.com/herdmon/herd/internal/models"
)

// Engine is the storage of one server. It is safe for concurrent use.
type Engine struct {
	opts Options
}

var errNotBuilt = errors.New("storage engine: not built yet")

// Open opens (creating if needed) the engine in opts.Dir, replaying the
// WAL so that every acknowledged write is visible.
func Open(opts Options) (*Engine, error) { return nil, errNotBuilt }

// Close flushes nothing it does not have to and releases files; the WAL
// makes a later Open complete.
func (e *Engine) Close() error { return errNotBuilt }

// WriteBatch validates and applies a parsed batch and returns once it is
// durable. The database must exist (*models.DatabaseNotFoundError); an
// empty RetentionPolicy means the database's default
// (*models.RetentionPolicyNotFoundError when unknown). Points that
// conflict with a field's stored type or fall outside the retention
// window are dropped and reported with *models.PartialWriteError; the
// rest are written.
func (e *Engine) WriteBatch(b *models.Batch) error { return errNotBuilt }

// CreateDatabase creates a database with the autogen policy (infinite
// duration, 7-day shards); creating an existing one is not an error.
func (e *Engine) CreateDatabase(name string) error { return errNotBuilt }

// DropDatabase removes a database and all its data; dropping a missing
// one is not an error (as in InfluxDB).
func (e *Engine) DropDatabase(name string) error { return errNotBuilt }

// Databases lists database names, sorted.
func (e *Engine) Databases() []string { return nil }

// CreateRetentionPolicy adds a policy to db.
func (e *Engine) CreateRetentionPolicy(db string, rp models.RetentionPolicy, makeDefault bool) error {
	return errNotBuilt
}

// UpdateRetentionPolicy changes a policy (ALTER RETENTION POLICY).
func (e *Engine) UpdateRetentionPolicy(db, name string, u models.RetentionPolicyUpdate, makeDefault bool) error {
	return errNotBuilt
}

// DropRetentionPolicy removes a policy and its data.
func (e *Engine) DropRetentionPolicy(db, name string) error { return errNotBuilt }

// RetentionPolicies lists db's policies in creation order.
func (e *Engine) RetentionPolicies(db string) ([]models.RetentionPolicy, error) { return nil, errNotBuilt }
