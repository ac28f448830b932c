package storage

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/herdmon/herd/internal/storage/wal"
)

// replay re-applies every WAL record to the heads, with the apply the
// applier uses, so the result is the state the writers were told about
// (and perhaps a little more that was durable but not yet acknowledged
// when the process died). A record that cannot be decoded, or decodes to
// a group whose checksum does not match, is logged with its position and
// skipped with the rest of its zstd stream; replay goes on at the next
// stream start.
func (e *Engine) replay() error {
	sc := &writeScratch{}
	replayNow := time.Now().UnixNano()
	records, groups, skipped := 0, 0, 0
	apply := func(raw []byte) error {
		groups++
		entries, derr := decodeWALRecord(raw)
		for i := range entries {
			en := &entries[i]
			switch en.kind {
			case kindDropDB:
				e.mu.RLock()
				db := e.dbs[en.db]
				e.mu.RUnlock()
				if db != nil {
					e.releaseHeads(db, "")
				}
			case kindDropRP:
				e.mu.RLock()
				db := e.dbs[en.db]
				e.mu.RUnlock()
				if db != nil {
					e.releaseHeads(db, en.rp)
				}
			case kindDeleteSeries:
				e.mu.RLock()
				db := e.dbs[en.db]
				e.mu.RUnlock()
				if db == nil {
					continue
				}
				ids := roaring.New()
				for _, k := range en.keys {
					if id, ok := db.index.Lookup([]byte(k)); ok {
						ids.Add(uint32(id))
					}
				}
				e.applyMu.Lock()
				if err := e.applyDelete(db, en.rp, ids); err != nil {
					e.logger.Error("replaying a series deletion failed", "db", en.db, "err", err)
				}
				e.applyMu.Unlock()
			case kindBatch:
				b := modelsBatch(en)
				e.mu.RLock()
				db := e.dbs[b.Database]
				e.mu.RUnlock()
				if db == nil {
					skipped++ // dropped since
					continue
				}
				now := replayNow // version 1 entries did not keep theirs
				if en.hasNow {
					now = en.now
				}
				pb := pendingBatch{b: &b, sc: sc, db: db, rp: en.rp, now: now, epoch: db.deletions.Load()}
				e.prepare(db, &b, sc, &pb.res)
				e.applyMu.Lock()
				aerr := e.applyPending(&pb)
				e.applyMu.Unlock()
				if aerr != nil {
					// The retention policy was dropped since.
					skipped++
				}
			}
		}
		if derr != nil {
			skipped++
			e.logger.Error("wal group is malformed; kept what decoded", "err", derr)
		}
		return nil
	}
	bad := func(where string, err error) {
		e.logger.Error("wal record skipped: it cannot be decoded from what is on disk", "record", where, "err", err)
	}
	sr := newWALStreamReader(apply, bad)
	err := e.wal.ReplayAt(func(pos wal.Position, rec []byte) error {
		records++
		sr.push(rec, fmt.Sprintf("%s (%d bytes)", pos, len(rec)))
		return nil
	}, func(g wal.Gap) error {
		// Open logged the hole; this line places it in the replay, before
		// the records the stream reader may then have to skip.
		e.logger.Warn("wal replay continues after lost bytes", "segment", g.Segment, "offset", g.Offset,
			"lost_bytes", g.Bytes, "reason", g.Reason)
		return nil
	})
	if ferr := sr.finish(); ferr != nil {
		e.logger.Error("wal stream could not be decoded to its end; kept what decoded", "err", ferr)
	}
	e.stats.WALRecordsSkipped.Add(int64(sr.skipped()))
	if err != nil {
		return fmt.Errorf("storage: replay wal: %w", err)
	}
	if records > 0 {
		e.logger.Info("replayed write-ahead log", "records", records, "groups", groups, "skipped_entries", skipped,
			"skipped_records", sr.skipped(), "head_bytes", e.headBytes.Load())
	}
	return nil
}

// Flush writes every head to block files, then removes the WAL segments
// whose data is now in blocks, then merges blocks where a level is full.
func (e *Engine) Flush() error {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	return e.flushLocked()
}

// flushJob is a shard whose heads were frozen for a flush.
type flushJob struct {
	db *database
	s  *shard
}

// freezeHeads freezes every shard's head at this point of the apply
// order: what was applied before is flushed, what comes after goes to the
// new heads (and WAL segment next on). The caller holds applyMu.
func (e *Engine) freezeHeads(next uint64) []flushJob {
	var jobs []flushJob
	e.mu.RLock()
	for _, db := range e.dbs {
		for _, list := range db.shards {
			for _, s := range list {
				s.mu.Lock()
				if h := s.freeze(); h != nil {
					h.walStart = e.headsWALStart
				}
				if len(s.frozen) > 0 {
					jobs = append(jobs, flushJob{db, s})
				}
				s.mu.Unlock()
			}
		}
	}
	e.mu.RUnlock()
	e.headsWALStart = next
	e.headSince.Store(0)
	return jobs
}

// flushLocked is Flush for a caller holding flushMu.
func (e *Engine) flushLocked() error {
	// The roll goes through the queue: the applier freezes the heads once
	// every entry before the roll (in the segments the flush will remove)
	// is applied, and before any entry after it. When the roll itself
	// fails (no room for a new segment) the heads are frozen all the same,
	// at the current segment: the flush still writes them and deletes the
	// segments before it, which is what frees the disk.
	res := <-e.enqueue(&commitReq{roll: true})
	if res.err != nil && !res.frozenAnyway {
		e.noteDiskError("flush: roll wal", res.err)
		return fmt.Errorf("flush: roll wal: %w", res.err)
	}
	rollErr := res.err
	if rollErr != nil {
		e.noteDiskError("flush: roll wal", rollErr)
	}
	jobs := res.frozen
	synced := map[*database]bool{}
	var errs []error
	keepWAL := false
	for _, j := range jobs {
		if !synced[j.db] {
			// Blocks refer to series ids: the index must hold them first.
			if err := j.db.index.Sync(); err != nil {
				errs = append(errs, err)
				continue
			}
			synced[j.db] = true
		}
		j.s.mu.RLock()
		frozen := append([]*head(nil), j.s.frozen...)
		j.s.mu.RUnlock()
		for _, h := range frozen {
			if err := e.flushHead(j.s, h); err != nil {
				errs = append(errs, err)
				break
			}
			e.headBytes.Add(-h.bytes)
		}
	}
	// Every shard, not only this flush's: one whose fields.json failed
	// to save before (a full disk) is retried until it succeeds.
	if err := e.saveAllFields(); err != nil {
		// The field types of the flushed blocks are not durable yet: the
		// WAL must keep their writes.
		errs = append(errs, err)
		keepWAL = true
	}
	for _, err := range errs {
		e.noteDiskError("flush", err)
	}
	// Delete the segments no unflushed head needs: all before the roll
	// when every head was written, else those before the oldest head
	// still waiting (a frozen head holds data from segment walStart on).
	if !keepWAL {
		if err := e.wal.RemoveBefore(e.oldestUnflushed(res.nextSegment)); err != nil {
			errs = append(errs, fmt.Errorf("trim wal: %w", err))
		}
	}
	if len(errs) > 0 {
		// The frozen heads that failed stay readable and are retried.
		return fmt.Errorf("flush: %w", errors.Join(errs...))
	}
	if rollErr != nil {
		return fmt.Errorf("flush: wrote the heads, but the wal could not start a new segment: %w", rollErr)
	}
	e.stats.Flushes.Add(1)
	for _, j := range jobs {
		e.compactShard(j.s, false)
	}
	return nil
}

// flushHead writes a frozen head to a block (through the test seam when
// one is set).
func (e *Engine) flushHead(s *shard, h *head) error {
	if e.opts.flushShard != nil {
		if err := e.opts.flushShard(s, h); err != nil {
			return err
		}
	}
	return s.flush(h)
}

// saveAllFields writes the fields.json of every shard whose field types
// changed since it was last written.
func (e *Engine) saveAllFields() error {
	e.mu.RLock()
	var shards []*shard
	for _, db := range e.dbs {
		for _, list := range db.shards {
			shards = append(shards, list...)
		}
	}
	e.mu.RUnlock()
	var errs []error
	for _, s := range shards {
		if err := s.saveFields(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// oldestUnflushed returns the first WAL segment a frozen head still
// waiting for its flush holds data from, or bound when none is waiting.
func (e *Engine) oldestUnflushed(bound uint64) uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, db := range e.dbs {
		for _, list := range db.shards {
			for _, s := range list {
				s.mu.RLock()
				for _, h := range s.frozen {
					bound = min(bound, h.walStart)
				}
				s.mu.RUnlock()
			}
		}
	}
	return bound
}

// compactShard merges blocks until no level is full (or, with all, into
// one block).
func (e *Engine) compactShard(s *shard, all bool) {
	s.compacting.Lock()
	defer s.compacting.Unlock()
	for {
		in := s.compactionCandidates(all)
		if len(in) == 0 || !e.compactionFits(s, in) {
			return
		}
		if err := s.compact(in); err != nil {
			e.logger.Error("compaction failed", "shard", s.dir, "err", err)
			e.noteDiskError("compaction", err)
			return
		}
		e.stats.Compactions.Add(1)
		if all {
			return
		}
	}
}

// backgroundLoop flushes heads when they are large or old, drops expired
// shards and fully compacts shards no longer written to.
func (e *Engine) backgroundLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastRetention := time.Now()
	for {
		select {
		case <-e.closing:
			return
		case <-e.flushNow:
			e.flushLogged()
		case now := <-tick.C:
			e.checkDisk(true)
			if since := e.headSince.Load(); since != 0 && now.UnixNano()-since > int64(e.opts.HeadMaxAge) {
				e.flushLogged()
			}
			if now.Sub(lastRetention) >= e.opts.RetentionCheckInterval {
				lastRetention = now
				e.EnforceRetention(now)
				e.compactColdShards(now)
			}
		}
	}
}

func (e *Engine) flushLogged() {
	if err := e.Flush(); err != nil {
		e.logger.Error("flush failed; data stays in memory and in the WAL", "err", err)
	}
}

// EnforceRetention drops every shard whose whole time range is older
// than its policy's duration. Whole shard directories are removed: no
// file is rewritten to expire data.
func (e *Engine) EnforceRetention(now time.Time) {
	e.flushMu.Lock()
	defer e.flushMu.Unlock()
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.Lock()
	var drop []*shard
	dropsOf := map[*database][]*shard{}
	for _, dm := range e.meta.Databases {
		db := e.dbs[dm.Name]
		if db == nil {
			continue
		}
		for _, rp := range dm.Policies {
			if rp.Duration == 0 {
				continue
			}
			cutoff := now.UnixNano() - int64(rp.Duration)
			list := db.shards[rp.Name]
			kept := list[:0]
			for _, s := range list {
				if s.end <= cutoff {
					drop = append(drop, s)
					dropsOf[db] = append(dropsOf[db], s)
					continue
				}
				kept = append(kept, s)
			}
			db.shards[rp.Name] = kept
		}
	}
	e.mu.Unlock()
	for db, shards := range dropsOf {
		e.forgetExpiredSeries(db, shards)
	}
	for _, s := range drop {
		e.discardShard(s)
		if err := e.fs.RemoveAll(s.dir); err != nil {
			e.logger.Error("could not remove expired shard", "dir", s.dir, "err", err)
			continue
		}
		e.stats.ShardsDropped.Add(1)
		e.logger.Info("dropped expired shard", "dir", s.dir)
	}
}

// forgetExpiredSeries removes from db's index the series whose only data
// was in the expiring shards (already out of db.shards), as InfluxDB
// does, so that SHOW SERIES, SHOW TAG VALUES and the series limit stop
// counting hosts and containers gone for longer than the retention. The
// caller holds applyMu, so no write lands between the check and the
// removal (and writes that resolved ids before resolve them again).
func (e *Engine) forgetExpiredSeries(db *database, expiring []*shard) {
	candidates := roaring.New()
	for _, s := range expiring {
		s.mu.RLock()
		for _, h := range append(append([]*head(nil), s.frozen...), s.head) {
			for id := range h.series {
				candidates.Add(uint32(id))
			}
		}
		for _, b := range s.blocks {
			for _, id := range b.r.SeriesIDs() {
				candidates.Add(uint32(id))
			}
		}
		s.mu.RUnlock()
	}
	e.mu.RLock()
	var remaining []*shard
	for _, list := range db.shards {
		remaining = append(remaining, list...)
	}
	e.mu.RUnlock()
	// Newest first: a live series is then found in the first shard, so
	// writers (waiting on applyMu) wait about one check per series.
	sort.Slice(remaining, func(i, j int) bool { return remaining[i].start > remaining[j].start })
	gone := roaring.New()
	it := candidates.Iterator()
	for it.HasNext() {
		if id := it.Next(); !e.seriesHasData(remaining, uint64(id)) {
			gone.Add(id)
		}
	}
	if gone.IsEmpty() {
		return
	}
	if err := e.applyDelete(db, "", gone); err != nil {
		e.logger.Error("could not remove expired series from the index", "db", db.name, "err", err)
		return
	}
	e.logger.Info("removed series whose data expired", "db", db.name, "series", gone.GetCardinality())
}

// coldAfter is how long after its end a shard is taken as no longer
// written to, and merged into a single block.
const coldAfter = time.Hour

func (e *Engine) compactColdShards(now time.Time) {
	// now - coldAfter, not end + coldAfter: the last shard of time ends at
	// maxTime, where the sum wraps negative and made it always cold.
	coldBefore := now.UnixNano() - int64(coldAfter)
	e.mu.RLock()
	var cold []*shard
	for _, db := range e.dbs {
		for _, list := range db.shards {
			for _, s := range list {
				if s.end < coldBefore {
					cold = append(cold, s)
				}
			}
		}
	}
	e.mu.RUnlock()
	for _, s := range cold {
		e.compactShard(s, true)
	}
}
