// Package storage is herd's time-series engine: databases, retention
// policies, time partitions (shards), the write-ahead log, the in-memory
// head and immutable block files, and the read API the query engine uses.
//
// Write path: WriteBatch validates a batch, looks its series up and
// encodes its WAL entry, and queues it; the committer goroutine writes
// everything queued so far as one compressed WAL record with one fsync
// (group commit); once the record is durable, the one applier applies its
// entries in WAL order (the same apply replay uses, so every replica
// applying the same log reaches the same state) and answers the writers.
// A record that fails is never applied. Heads are flushed to level-0
// block files when they hold HeadMaxBytes or are HeadMaxAge old; blocks
// are merged four at a time into the next level.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/fsys"
	"github.com/herdmon/herd/internal/storage/index"
	"github.com/herdmon/herd/internal/storage/wal"
)

// Engine is the storage of one server. It is safe for concurrent use.
type Engine struct {
	opts   Options
	logger *slog.Logger
	fs     fsys.FS // what changes the disk (Options.FS)
	wal    *wal.WAL
	// entries caches decoded block index entries for queries.
	entries *block.EntryCache
	// series counts and limits the series of all databases together.
	series *index.Shared

	// mu guards meta and dbs (the structure, not the data).
	mu   sync.RWMutex
	meta *metaState
	dbs  map[string]*database

	// applyMu serializes changes to the heads and the index: the
	// applier holds it while it applies a record.
	applyMu sync.Mutex
	// enqueueMu orders requests into commits (the WAL order) and guards
	// commitsClosed, set when commits is closed.
	enqueueMu     sync.Mutex
	commitsClosed bool
	// walFailures counts failed appends: the committer restarts its zstd
	// stream when it changes.
	walFailures atomic.Uint64
	// streamRestartBytes is walStreamRestartBytes (tests change it).
	streamRestartBytes int

	commits   chan *commitReq
	headBytes atomic.Int64
	headSince atomic.Int64 // unix ns of the first write into the current heads
	// headsWALStart is the first WAL segment the current heads may hold
	// data from (0 after replay: every segment). Guarded by applyMu.
	headsWALStart uint64
	flushNow      chan struct{}
	flushMu       sync.Mutex // one flush at a time
	closing       chan struct{}
	wg            sync.WaitGroup // background loop
	commitWG      sync.WaitGroup // committer
	closed        atomic.Bool

	stats Stats
	lock  *os.File // flock on Dir/LOCK: one engine per data directory
	// disk is the disk-full state (diskspace.go).
	disk diskState
}

// Stats are cumulative counters of the engine, for /debug/vars.
type Stats struct {
	PointsWritten atomic.Int64
	ValuesWritten atomic.Int64
	WriteBatches  atomic.Int64
	Flushes       atomic.Int64
	Compactions   atomic.Int64
	ShardsDropped atomic.Int64
	// ChunksRead counts block chunks read and decoded by queries;
	// ChunksSummarized those answered from their index summary instead.
	ChunksRead       atomic.Int64
	ChunksSummarized atomic.Int64
	// WALRecordsSkipped counts records replay skipped as undecodable.
	WALRecordsSkipped atomic.Int64
	// FieldLimitDrops counts points refused by MaxFieldsPerMeasurement.
	FieldLimitDrops atomic.Int64
}

type database struct {
	name  string
	dir   string
	index *index.Index
	// shards by retention policy, sorted by start time.
	shards map[string][]*shard
	live   func(id uint64) bool
	// deletions counts series deletions (under applyMu). A write that
	// resolved its series ids before a deletion resolves them again
	// before it applies, so its points never land on a deleted id.
	deletions atomic.Uint64
}

// Open opens (creating if needed) the engine in opts.Dir, replaying the
// WAL so that every acknowledged write is visible.
func Open(opts Options) (*Engine, error) {
	def := DefaultOptions()
	if opts.HeadMaxBytes <= 0 {
		opts.HeadMaxBytes = def.HeadMaxBytes
	}
	if opts.HeadMaxAge <= 0 {
		opts.HeadMaxAge = def.HeadMaxAge
	}
	if opts.MaxSeriesPerDatabase == 0 {
		opts.MaxSeriesPerDatabase = def.MaxSeriesPerDatabase
	}
	if opts.MaxFieldsPerMeasurement == 0 {
		opts.MaxFieldsPerMeasurement = def.MaxFieldsPerMeasurement
	}
	if opts.EntryCacheBytes <= 0 {
		opts.EntryCacheBytes = def.EntryCacheBytes
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = def.RetentionCheckInterval
	}
	if opts.MinFreeDiskSpace == 0 {
		opts.MinFreeDiskSpace = def.MinFreeDiskSpace
	}
	if opts.DiskReserve == 0 {
		opts.DiskReserve = def.DiskReserve
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Dir == "" {
		return nil, errors.New("storage: data directory required")
	}
	if err := fsys.Or(opts.FS).MkdirAll(filepath.Join(opts.Dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	e := &Engine{opts: opts, logger: opts.Logger, fs: fsys.Or(opts.FS), dbs: map[string]*database{}, entries: block.NewEntryCache(opts.EntryCacheBytes),
		series:  index.NewShared(opts.MaxSeriesTotal),
		commits: make(chan *commitReq, 256), flushNow: make(chan struct{}, 1), closing: make(chan struct{}),
		streamRestartBytes: walStreamRestartBytes}
	e.disk.wake = make(chan struct{}, 1)
	e.disk.free.Store(-1)
	e.disk.total.Store(-1)
	if opts.streamRestartBytes != 0 {
		e.streamRestartBytes = opts.streamRestartBytes
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	e.lock = lock
	e.openReserve()
	m, err := loadMeta(e.metaPath())
	if err != nil {
		lock.Close()
		return nil, err
	}
	e.meta = m
	for _, d := range m.Databases {
		db, err := e.openDatabase(d.Name)
		if err != nil {
			e.closeDatabases()
			return nil, err
		}
		e.dbs[d.Name] = db
	}
	w, err := wal.Open(wal.Options{Dir: filepath.Join(opts.Dir, "wal"), FsyncDelay: opts.FsyncDelay, Logger: opts.Logger, FS: opts.FS})
	if err != nil {
		e.closeDatabases()
		return nil, fmt.Errorf("storage: open wal: %w", err)
	}
	e.wal = w
	// Every series in the WAL was accepted under the limits of its time:
	// a limit lowered since must not lose acknowledged points.
	e.series.SetEnforced(false)
	if err := e.replay(); err != nil {
		w.Close()
		e.closeDatabases()
		return nil, err
	}
	e.series.SetEnforced(true)
	if n, limit := e.series.Series(), e.series.MaxTotal(); limit > 0 && n > int64(limit) {
		e.logger.Warn("more series than max-series-total; new series will be refused", "series", n, "limit", limit)
	}
	e.commitWG.Add(1)
	go e.commitLoop()
	e.checkDisk(false)
	e.wg.Add(2)
	go e.backgroundLoop()
	go e.diskRecoveryLoop()
	return e, nil
}

func (e *Engine) metaPath() string { return filepath.Join(e.opts.Dir, "meta.json") }

func (e *Engine) dbDir(name string) string {
	return filepath.Join(e.opts.Dir, "data", dirSafe(name))
}

// dirSafe turns a database or policy name into a file name: names may
// hold any character, so anything but [A-Za-z0-9_.-] is hex-escaped.
func dirSafe(name string) string {
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (c == '.' && i > 0) {
			b = append(b, c)
		} else {
			b = append(b, fmt.Sprintf("%%%02x", c)...)
		}
	}
	if len(b) == 0 {
		return "%"
	}
	return string(b)
}

func (e *Engine) openDatabase(name string) (*database, error) {
	dir := e.dbDir(name)
	ix, err := index.Open(filepath.Join(dir, "index"), index.Options{MaxSeries: e.opts.MaxSeriesPerDatabase, Shared: e.series, Logger: e.logger, FS: e.opts.FS})
	if err != nil {
		return nil, fmt.Errorf("storage: open index of %q: %w", name, err)
	}
	db := &database{name: name, dir: dir, index: ix, shards: map[string][]*shard{}}
	db.live = func(id uint64) bool { _, ok := ix.SeriesKey(id); return ok }
	rps, _ := os.ReadDir(dir)
	for _, rpEnt := range rps {
		if !rpEnt.IsDir() || rpEnt.Name() == "index" {
			continue
		}
		rpName := unDirSafe(rpEnt.Name())
		shardEnts, _ := os.ReadDir(filepath.Join(dir, rpEnt.Name()))
		for _, se := range shardEnts {
			start, end, ok := parseShardDirName(se.Name())
			if !ok {
				continue
			}
			s, err := openShard(filepath.Join(dir, rpEnt.Name(), se.Name()), start, end, e.logger, db.live, e.entries, e.fs)
			if err != nil {
				ix.Close()
				return nil, fmt.Errorf("storage: %w", err)
			}
			db.shards[rpName] = append(db.shards[rpName], s)
		}
		sort.Slice(db.shards[rpName], func(i, j int) bool { return db.shards[rpName][i].start < db.shards[rpName][j].start })
	}
	return db, nil
}

func unDirSafe(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &c); err == nil {
				b = append(b, c)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func (e *Engine) closeDatabases() {
	for _, db := range e.dbs {
		db.close()
	}
}

func (db *database) close() {
	for _, list := range db.shards {
		for _, s := range list {
			s.closeBlocks()
		}
	}
	db.index.Close()
}

func (s *shard) closeBlocks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.blocks {
		b.r.Close()
	}
	s.blocks = nil
}

// Close flushes the heads to block files (so the next start replays
// nothing) and releases every file.
func (e *Engine) Close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(e.closing)
	e.wg.Wait() // background loop stopped; no more flushes from it
	ferr := e.Flush()
	e.enqueueMu.Lock()
	e.commitsClosed = true
	close(e.commits)
	e.enqueueMu.Unlock()
	e.commitWG.Wait()
	werr := e.wal.Close()
	e.mu.Lock()
	e.closeDatabases()
	e.mu.Unlock()
	e.lock.Close()
	return errors.Join(ferr, werr)
}

// CreateDatabase creates a database with the autogen policy (infinite
// duration, 7-day shards); creating an existing one is not an error.
func (e *Engine) CreateDatabase(name string) error {
	if name == "" {
		return ErrDatabaseNameRequired
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta.database(name) != nil {
		return nil
	}
	db, err := e.openDatabase(name)
	if err != nil {
		return err
	}
	e.meta.Databases = append(e.meta.Databases, &dbMeta{Name: name, DefaultPolicy: "autogen",
		Policies: []*rpMeta{{Name: "autogen", ShardDuration: models.DefaultShardDuration(0), Replication: 1}}})
	if err := saveMeta(e.fs, e.metaPath(), e.meta); err != nil {
		e.meta.Databases = e.meta.Databases[:len(e.meta.Databases)-1]
		db.close()
		return fmt.Errorf("save meta: %w", err)
	}
	e.dbs[name] = db
	return nil
}

// DropDatabase removes a database and all its data; dropping a missing
// one is not an error (as in InfluxDB).
func (e *Engine) DropDatabase(name string) error {
	// The drop goes through the WAL so that replaying older batches after
	// a crash cannot bring the dropped data back into a new database of
	// the same name.
	// flushMu keeps a flush from writing into the directory being removed.
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	return e.commitMarker(dropDBEntry(name), func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.dropDatabaseLocked(name)
	})
}

func (e *Engine) dropDatabaseLocked(name string) error {
	d := e.meta.database(name)
	if d == nil {
		return nil
	}
	prev := e.meta.Databases
	var kept []*dbMeta
	for _, x := range e.meta.Databases {
		if x.Name != name {
			kept = append(kept, x)
		}
	}
	e.meta.Databases = kept
	if err := saveMeta(e.fs, e.metaPath(), e.meta); err != nil {
		e.meta.Databases = prev // meta.json still holds it: so must memory
		return fmt.Errorf("save meta: %w", err)
	}
	if db := e.dbs[name]; db != nil {
		for _, list := range db.shards {
			for _, sh := range list {
				e.discardShard(sh)
			}
		}
		db.index.Close()
		delete(e.dbs, name)
		if err := e.fs.RemoveAll(db.dir); err != nil {
			return fmt.Errorf("remove %s: %w", db.dir, err)
		}
	}
	return nil
}

// releaseHeads subtracts the memory of a database's heads (all policies,
// or one) from the flush trigger before they are thrown away.
func (e *Engine) releaseHeads(db *database, rp string) {
	for name, list := range db.shards {
		if rp != "" && name != rp {
			continue
		}
		for _, s := range list {
			e.discardHead(s)
		}
	}
}

// discardHead throws away a shard's unflushed data and takes its memory
// off the flush trigger.
func (e *Engine) discardHead(s *shard) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.headBytes.Add(-s.head.bytes)
	for _, f := range s.frozen {
		e.headBytes.Add(-f.bytes)
	}
	s.head = newHead()
	s.frozen = nil
}

// discardShard throws away a dropped or expired shard's data: its head,
// and its blocks, which are retired so that readers still holding them
// finish first (the caller removes the directory).
func (e *Engine) discardShard(s *shard) {
	e.discardHead(s)
	s.mu.Lock()
	blocks := s.blocks
	s.blocks = nil
	s.mu.Unlock()
	for _, b := range blocks {
		b.retire()
	}
}

// Databases lists database names in creation order (InfluxDB's SHOW
// DATABASES order).
func (e *Engine) Databases() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.meta.names()
}

// CreateRetentionPolicy adds a policy to db.
func (e *Engine) CreateRetentionPolicy(db string, rp models.RetentionPolicy, makeDefault bool) error {
	if rp.Name == "" {
		return ErrRetentionPolicyNameRequired
	}
	if rp.Duration != 0 && rp.Duration < models.MinRetentionPolicyDuration {
		return ErrRetentionPolicyDurationLow
	}
	if rp.Replication == 0 {
		rp.Replication = 1
	}
	if rp.Replication < 1 {
		return ErrReplicationFactorTooLow
	}
	if rp.ShardDuration == 0 {
		rp.ShardDuration = models.DefaultShardDuration(rp.Duration)
	}
	if rp.Duration != 0 && rp.ShardDuration > rp.Duration {
		return ErrIncompatibleDurations
	}
	if rp.ShardDuration < time.Hour {
		rp.ShardDuration = time.Hour // InfluxDB's minimum shard group duration
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.meta.database(db)
	if d == nil {
		return &models.DatabaseNotFoundError{Name: db}
	}
	if have := d.policy(rp.Name); have != nil {
		if have.Duration == rp.Duration && have.ShardDuration == rp.ShardDuration && have.Replication == rp.Replication &&
			(!makeDefault || d.DefaultPolicy == rp.Name) {
			return nil
		}
		return ErrRetentionPolicyConflict
	}
	prevPolicies, prevDefault := d.Policies, d.DefaultPolicy
	d.Policies = append(slices.Clip(d.Policies), &rpMeta{Name: rp.Name, Duration: rp.Duration, ShardDuration: rp.ShardDuration, Replication: rp.Replication})
	if makeDefault {
		d.DefaultPolicy = rp.Name
	}
	if err := saveMeta(e.fs, e.metaPath(), e.meta); err != nil {
		d.Policies, d.DefaultPolicy = prevPolicies, prevDefault // a failed DDL leaves no trace
		return fmt.Errorf("save meta: %w", err)
	}
	return nil
}

// UpdateRetentionPolicy changes a policy (ALTER RETENTION POLICY).
func (e *Engine) UpdateRetentionPolicy(db, name string, u models.RetentionPolicyUpdate, makeDefault bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.meta.database(db)
	if d == nil {
		return &models.DatabaseNotFoundError{Name: db}
	}
	rp := d.policy(name)
	if rp == nil {
		return &models.RetentionPolicyNotFoundError{Database: db, Name: name}
	}
	next := *rp
	if u.Duration != nil {
		next.Duration = *u.Duration
	}
	if u.ShardDuration != nil {
		next.ShardDuration = max(*u.ShardDuration, time.Hour)
	}
	if u.Replication != nil {
		next.Replication = *u.Replication
	}
	if next.Duration != 0 && next.Duration < models.MinRetentionPolicyDuration {
		return ErrRetentionPolicyDurationLow
	}
	if next.Replication < 1 {
		return ErrReplicationFactorTooLow
	}
	if next.Duration != 0 && next.ShardDuration > next.Duration {
		return ErrIncompatibleDurations
	}
	prev, prevDefault := *rp, d.DefaultPolicy
	*rp = next
	if makeDefault {
		d.DefaultPolicy = name
	}
	if err := saveMeta(e.fs, e.metaPath(), e.meta); err != nil {
		*rp, d.DefaultPolicy = prev, prevDefault
		return fmt.Errorf("save meta: %w", err)
	}
	return nil
}

// DropRetentionPolicy removes a policy and its data.
func (e *Engine) DropRetentionPolicy(db, name string) error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	return e.commitMarker(dropRPEntry(db, name), func() error { return e.dropRetentionPolicy(db, name) })
}

// dropRetentionPolicy carries out a durable DROP RETENTION POLICY. The
// caller (the applier) holds applyMu.
func (e *Engine) dropRetentionPolicy(db, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.meta.database(db)
	if d == nil {
		return &models.DatabaseNotFoundError{Name: db}
	}
	if d.policy(name) == nil {
		return nil // InfluxDB: dropping a missing policy succeeds
	}
	prevPolicies, prevDefault := d.Policies, d.DefaultPolicy
	var kept []*rpMeta
	for _, rp := range d.Policies {
		if rp.Name != name {
			kept = append(kept, rp)
		}
	}
	d.Policies = kept
	if d.DefaultPolicy == name {
		d.DefaultPolicy = ""
	}
	if err := saveMeta(e.fs, e.metaPath(), e.meta); err != nil {
		d.Policies, d.DefaultPolicy = prevPolicies, prevDefault
		return fmt.Errorf("save meta: %w", err)
	}
	if dbh := e.dbs[db]; dbh != nil {
		for _, s := range dbh.shards[name] {
			e.discardShard(s)
		}
		delete(dbh.shards, name)
		return e.fs.RemoveAll(filepath.Join(dbh.dir, dirSafe(name)))
	}
	return nil
}

// RetentionPolicies lists db's policies in creation order.
func (e *Engine) RetentionPolicies(db string) ([]models.RetentionPolicy, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d := e.meta.database(db)
	if d == nil {
		return nil, &models.DatabaseNotFoundError{Name: db}
	}
	out := make([]models.RetentionPolicy, 0, len(d.Policies))
	for _, rp := range d.Policies {
		out = append(out, rp.info(rp.Name == d.DefaultPolicy))
	}
	return out, nil
}

// abandon stops the engine's goroutines and closes its files without
// flushing, leaving the disk as a crash would (tests only).
func (e *Engine) abandon() {
	e.closed.Store(true)
	close(e.closing)
	e.wg.Wait()
	e.enqueueMu.Lock()
	e.commitsClosed = true
	close(e.commits)
	e.enqueueMu.Unlock()
	e.commitWG.Wait()
	e.wal.Close()
	e.closeDatabases()
	e.lock.Close()
}

// Statistics returns the engine's counters and gauges, for /debug/vars.
func (e *Engine) Statistics() map[string]int64 {
	out := e.operationStatistics()
	e.addDamageStatistics(out)
	e.addDiskStatistics(out)
	e.addLimitStatistics(out)
	return out
}

// Health returns nil while the engine accepts writes, else what stops
// them (for /health).
func (e *Engine) Health() error {
	if cause := e.DiskFull(); cause != "" {
		free := e.disk.free.Load()
		return fmt.Errorf("disk full in %s (%d bytes free): %s; writes fail until space is freed", e.opts.Dir, free, cause)
	}
	return nil
}

// addLimitStatistics adds the series limits and the memory settings in
// effect, and how many new series each limit refused.
func (e *Engine) addLimitStatistics(out map[string]int64) {
	refusedDB, refusedTotal := e.series.Refused()
	out["series"] = e.series.Series()
	out["maxSeriesPerDatabase"] = int64(max(e.opts.MaxSeriesPerDatabase, 0))
	out["maxSeriesTotal"] = int64(e.series.MaxTotal())
	out["seriesWeight"] = e.series.Weight() // what maxSeriesTotal limits
	out["seriesRefusedPerDatabase"] = refusedDB
	out["seriesRefusedTotal"] = refusedTotal
	out["headMaxBytes"] = e.opts.HeadMaxBytes
	out["entryCacheBytes"] = e.opts.EntryCacheBytes
}

// addDamageStatistics adds what Open found damaged: WAL bytes kept aside
// in *.corrupt files and records read past them, and block files
// quarantined as *.bad (queries over their shards carry a warning).
func (e *Engine) addDamageStatistics(out map[string]int64) {
	st := e.wal.Stats()
	out["walCorruptions"] = int64(st.Corruptions)
	out["walBytesQuarantined"] = int64(st.BytesQuarantined)
	out["walRecordsRecovered"] = int64(st.RecordsRecovered)
	quarantined := 0
	e.mu.RLock()
	for _, db := range e.dbs {
		for _, list := range db.shards {
			for _, s := range list {
				quarantined += s.quarantinedCount()
			}
		}
	}
	e.mu.RUnlock()
	out["blocksQuarantined"] = int64(quarantined)
}

// operationStatistics are the counters of writes, flushes and reads.
func (e *Engine) operationStatistics() map[string]int64 {
	st := e.wal.Stats()
	hits, misses := e.entries.Stats()
	return map[string]int64{
		"pointsWritten": e.stats.PointsWritten.Load(),
		"valuesWritten": e.stats.ValuesWritten.Load(),
		"writeBatches":  e.stats.WriteBatches.Load(),
		// Failed WAL appends (their writes were refused and left no trace)
		// and WAL records replay could not decode and skipped.
		"walWriteFailures":  int64(e.walFailures.Load()),
		"walRecordsSkipped": e.stats.WALRecordsSkipped.Load(),
		"flushes":           e.stats.Flushes.Load(),
		"compactions":       e.stats.Compactions.Load(),
		"shardsDropped":     e.stats.ShardsDropped.Load(),
		"chunksRead":        e.stats.ChunksRead.Load(),
		"chunksSummarized":  e.stats.ChunksSummarized.Load(),
		"entryCacheHits":    hits,
		"entryCacheMisses":  misses,
		"headBytes":         e.headBytes.Load(),
		"fieldLimitDrops":   e.stats.FieldLimitDrops.Load(),
		"walBytes":          int64(st.BytesWritten),
		"walRecords":        int64(st.Records),
		"walFsyncs":         int64(st.Fsyncs),
		"walRepairs":        int64(st.Repairs),
	}
}
