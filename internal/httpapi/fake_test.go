package httpapi

import (
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// fakeStore is an in-memory Store with the engine's documented
// semantics, for handler tests.
type fakeStore struct {
	mu       sync.Mutex
	dbs      map[string][]models.RetentionPolicy
	points   []models.Point // deep copies of what was written
	batches  []models.Batch // metadata of each batch (no points)
	writeErr error          // returned by WriteBatch after storing, when set
}

func newFakeStore(dbs ...string) *fakeStore {
	s := &fakeStore{dbs: map[string][]models.RetentionPolicy{}}
	for _, db := range dbs {
		s.CreateDatabase(db)
	}
	return s
}

func (s *fakeStore) WriteBatch(b *models.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rps, ok := s.dbs[b.Database]
	if !ok {
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	if b.RetentionPolicy != "" && !slices.ContainsFunc(rps, func(rp models.RetentionPolicy) bool { return rp.Name == b.RetentionPolicy }) {
		return &models.RetentionPolicyNotFoundError{Database: b.Database, Name: b.RetentionPolicy}
	}
	for _, p := range b.Points {
		p.Tags = slices.Clone(p.Tags)
		p.Fields = slices.Clone(p.Fields)
		s.points = append(s.points, p)
	}
	s.batches = append(s.batches, models.Batch{Database: b.Database, RetentionPolicy: b.RetentionPolicy})
	return s.writeErr
}

func (s *fakeStore) written() []models.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.points)
}

func (s *fakeStore) CreateDatabase(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dbs[name]; !ok {
		s.dbs[name] = []models.RetentionPolicy{{Name: "autogen", ShardDuration: 7 * 24 * time.Hour, Replication: 1, Default: true}}
	}
	return nil
}

func (s *fakeStore) DropDatabase(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dbs, name)
	return nil
}

func (s *fakeStore) Databases() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for db := range s.dbs {
		out = append(out, db)
	}
	sort.Strings(out)
	return out
}

func (s *fakeStore) CreateRetentionPolicy(db string, rp models.RetentionPolicy, makeDefault bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rps, ok := s.dbs[db]
	if !ok {
		return &models.DatabaseNotFoundError{Name: db}
	}
	for _, have := range rps {
		if have.Name == rp.Name {
			return errors.New("retention policy already exists")
		}
	}
	if makeDefault {
		for i := range rps {
			rps[i].Default = false
		}
	}
	rp.Default = makeDefault
	s.dbs[db] = append(rps, rp)
	return nil
}

func (s *fakeStore) UpdateRetentionPolicy(db, name string, u models.RetentionPolicyUpdate, makeDefault bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rps, ok := s.dbs[db]
	if !ok {
		return &models.DatabaseNotFoundError{Name: db}
	}
	i := slices.IndexFunc(rps, func(rp models.RetentionPolicy) bool { return rp.Name == name })
	if i < 0 {
		return &models.RetentionPolicyNotFoundError{Database: db, Name: name}
	}
	if u.Duration != nil {
		rps[i].Duration = *u.Duration
	}
	if u.ShardDuration != nil {
		rps[i].ShardDuration = *u.ShardDuration
	}
	if u.Replication != nil {
		rps[i].Replication = *u.Replication
	}
	if makeDefault {
		for j := range rps {
			rps[j].Default = j == i
		}
	}
	return nil
}

func (s *fakeStore) DropRetentionPolicy(db, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rps, ok := s.dbs[db]
	if !ok {
		return &models.DatabaseNotFoundError{Name: db}
	}
	s.dbs[db] = slices.DeleteFunc(rps, func(rp models.RetentionPolicy) bool { return rp.Name == name })
	return nil
}

func (s *fakeStore) RetentionPolicies(db string) ([]models.RetentionPolicy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rps, ok := s.dbs[db]
	if !ok {
		return nil, &models.DatabaseNotFoundError{Name: db}
	}
	return slices.Clone(rps), nil
}

// nopStore accepts every write to database "db" and keeps nothing: the
// store for benchmarks and fuzzing.
type nopStore struct{}

func (nopStore) WriteBatch(b *models.Batch) error {
	if b.Database != "db" {
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	return nil
}
func (nopStore) CreateDatabase(string) error { return nil }
func (nopStore) DropDatabase(string) error   { return nil }
func (nopStore) Databases() []string         { return []string{"db"} }
func (nopStore) CreateRetentionPolicy(string, models.RetentionPolicy, bool) error {
	return nil
}
func (nopStore) UpdateRetentionPolicy(string, string, models.RetentionPolicyUpdate, bool) error {
	return nil
}
func (nopStore) DropRetentionPolicy(string, string) error { return nil }
func (nopStore) RetentionPolicies(string) ([]models.RetentionPolicy, error) {
	return nil, nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func urlEscape(s string) string { return url.QueryEscape(s) }
