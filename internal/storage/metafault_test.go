package storage

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// catalogState is what a DDL statement changes, as clients see it.
func catalogState(t *testing.T, e *Engine) string {
	t.Helper()
	s := fmt.Sprint(e.Databases())
	for _, db := range e.Databases() {
		rps, err := e.RetentionPolicies(db)
		if err != nil {
			t.Fatal(err)
		}
		s += fmt.Sprintf(" %s:%+v", db, rps)
	}
	return s
}

// TestFailedCatalogChangeLeavesNoTrace fails meta.json's rewrite at each
// of its steps, for every kind of DDL: the statement must fail, and the
// catalog must be as before, both in the running engine and after a
// restart. Without the rollbacks a failed CREATE RETENTION POLICY stayed
// visible until the restart, and a failed directory fsync after the
// rename left the change in meta.json.
func TestFailedCatalogChangeLeavesNoTrace(t *testing.T) {
	week := 7 * 24 * time.Hour
	two := 2
	ddl := []struct {
		name string
		do   func(e *Engine) error
	}{
		{"create database", func(e *Engine) error { return e.CreateDatabase("new") }},
		{"drop database", func(e *Engine) error { return e.DropDatabase("other") }},
		{"create policy", func(e *Engine) error {
			return e.CreateRetentionPolicy("db", models.RetentionPolicy{Name: "week", Duration: week}, true)
		}},
		{"alter policy", func(e *Engine) error {
			return e.UpdateRetentionPolicy("db", "autogen", models.RetentionPolicyUpdate{Duration: &week, Replication: &two}, false)
		}},
		{"drop policy", func(e *Engine) error { return e.DropRetentionPolicy("db", "autogen") }},
	}
	steps := []struct {
		op    fsys.Op
		errno syscall.Errno
	}{
		{fsys.OpOpen, syscall.ENOSPC},
		{fsys.OpWrite, syscall.ENOSPC},
		{fsys.OpSync, syscall.EIO},
		{fsys.OpRename, syscall.ENOSPC},
		{fsys.OpSyncDir, syscall.EIO},
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, d := range ddl {
		for _, step := range steps {
			t.Run(fmt.Sprintf("%s/%s", d.name, step.op), func(t *testing.T) {
				dir := t.TempDir()
				e := openTest(t, dir, func(o *Options) { o.Logger = quiet })
				for _, db := range []string{"db", "other"} {
					if err := e.CreateDatabase(db); err != nil {
						t.Fatal(err)
					}
				}
				before := catalogState(t, e)
				e.Close()

				path := regexp.MustCompile(`/meta\.json(\.tmp)?$`)
				if step.op == fsys.OpSyncDir {
					path = regexp.MustCompile("^" + regexp.QuoteMeta(dir) + "$")
				}
				e = openTest(t, dir, func(o *Options) { o.Logger = quiet })
				// Only the catalog's writes go through the faulty FS.
				e.fs = fsys.NewFaulty(nil, false, fsys.Rule{Op: step.op, Path: path, Nth: 1, Err: step.errno})
				if err := d.do(e); err == nil {
					t.Fatalf("%s succeeded although meta.json's %s failed", d.name, step.op)
				}
				if got := catalogState(t, e); got != before {
					t.Errorf("after the failed %s the engine shows %s, want %s", d.name, got, before)
				}
				e.Close()
				e = openTest(t, dir, func(o *Options) { o.Logger = quiet })
				defer e.Close()
				if got := catalogState(t, e); got != before {
					t.Errorf("after the failed %s and a restart: %s, want %s", d.name, got, before)
				}
			})
		}
	}
}
