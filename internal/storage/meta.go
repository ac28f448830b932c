package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// InfluxDB's meta errors, word for word: clients and scripts match them.
var (
	ErrRetentionPolicyExists       = errors.New("retention policy already exists")
	ErrRetentionPolicyConflict     = errors.New("retention policy conflicts with an existing policy")
	ErrRetentionPolicyDurationLow  = errors.New("retention policy duration must be at least 1h0m0s")
	ErrIncompatibleDurations       = errors.New("retention policy duration must be greater than the shard duration")
	ErrReplicationFactorTooLow     = errors.New("replication factor must be greater than 0")
	ErrDatabaseNameRequired        = errors.New("database name required")
	ErrRetentionPolicyNameRequired = errors.New("retention policy name required")
)

// metaState is what meta.json holds: the databases and their policies.
// It is small and rewritten whole (temp file, fsync, rename, dir fsync)
// on every change, which DDL statements make rare.
type metaState struct {
	Databases []*dbMeta `json:"databases"`
}

type dbMeta struct {
	Name          string    `json:"name"`
	DefaultPolicy string    `json:"default_policy"`
	Policies      []*rpMeta `json:"policies"`
}

type rpMeta struct {
	Name          string        `json:"name"`
	Duration      time.Duration `json:"duration"`
	ShardDuration time.Duration `json:"shard_duration"`
	Replication   int           `json:"replication"`
}

func (d *dbMeta) policy(name string) *rpMeta {
	for _, rp := range d.Policies {
		if rp.Name == name {
			return rp
		}
	}
	return nil
}

func (m *metaState) database(name string) *dbMeta {
	for _, d := range m.Databases {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// names lists the databases in creation order, as InfluxDB's SHOW
// DATABASES does.
func (m *metaState) names() []string {
	out := make([]string, 0, len(m.Databases))
	for _, d := range m.Databases {
		out = append(out, d.Name)
	}
	return out
}

func loadMeta(path string) (*metaState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &metaState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read meta: %w", err)
	}
	var m metaState
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w (the file is written atomically; restore it from a backup or remove it to start empty)", path, err)
	}
	return &m, nil
}

func saveMeta(fs fsys.FS, path string, m *metaState) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(fs, path, b)
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old or the new content: temp file, fsync, rename, fsync directory.
// An error means the old content is in place: if only the directory
// fsync failed, the new file is already visible (a kill -9 would keep
// it) although the caller reports the change as failed, so the old
// content is put back.
func writeFileAtomic(fs fsys.FS, path string, data []byte) error {
	old, oldErr := os.ReadFile(path)
	renamed, err := replaceFile(fs, path, data)
	if err == nil || !renamed {
		return err
	}
	var restored bool
	var rerr error
	switch {
	case oldErr == nil:
		restored, rerr = replaceFile(fs, path, old)
	case errors.Is(oldErr, os.ErrNotExist):
		rerr = fs.Remove(path)
		restored = rerr == nil
		if restored {
			fsys.SyncDir(fs, filepath.Dir(path)) // a failure leaves the old state, no file, at worst after a power cut
		}
	default:
		rerr = oldErr
	}
	if !restored {
		return fmt.Errorf("%w (and putting the previous %s back failed, so it may hold the change: %w)", err, filepath.Base(path), rerr)
	}
	return err
}

// replaceFile is writeFileAtomic's one attempt; renamed tells whether
// data reached path.
func replaceFile(fs fsys.FS, path string, data []byte) (renamed bool, err error) {
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return false, err
	}
	if _, err = fs.Write(f, data); err == nil {
		err = fs.Sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err != nil {
		fs.Remove(tmp) // a full disk gets its space back
		return false, err
	}
	return true, fsys.SyncDir(fs, filepath.Dir(path))
}

func (rp *rpMeta) info(isDefault bool) models.RetentionPolicy {
	return models.RetentionPolicy{Name: rp.Name, Duration: rp.Duration, ShardDuration: rp.ShardDuration,
		Replication: rp.Replication, Default: isDefault}
}
