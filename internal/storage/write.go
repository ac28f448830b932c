package storage

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/wal"
)

// commitReq is one entry waiting for the committer: WAL bytes to make
// durable and, once they are, what the applier does with them (apply a
// batch, carry out a drop); or (roll) a request to start a new WAL segment
// after every entry queued before it and to freeze the heads there.
type commitReq struct {
	entry  []byte
	batch  *pendingBatch // a write, applied once durable
	action func() error  // a drop or deletion, carried out once durable
	roll   bool
	done   chan commitResult
}

type commitResult struct {
	nextSegment uint64
	frozen      []flushJob // roll: the shards frozen at the roll
	err         error
	// frozenAnyway: the roll failed (err) but the heads were frozen at
	// the current segment, nextSegment, so the flush can still progress.
	frozenAnyway bool
}

// pendingBatch is a prepared write waiting for its WAL record. Its batch
// and scratch belong to the writer, which blocks until the applier is
// done with them.
type pendingBatch struct {
	b     *models.Batch
	sc    *writeScratch
	db    *database // as prepared; the applier resolves the name again
	rp    string
	now   int64  // unix ns the batch was accepted at: its retention cutoff
	epoch uint64 // db.deletions when the series ids were looked up
	res   applyResult
}

var errClosed = errors.New("storage: engine closed")

// enqueue queues a request. The queue order is the WAL order and the
// apply order.
func (e *Engine) enqueue(req *commitReq) chan commitResult {
	req.done = make(chan commitResult, 1)
	e.enqueueMu.Lock()
	defer e.enqueueMu.Unlock()
	if e.commitsClosed {
		req.done <- commitResult{err: errClosed}
		return req.done
	}
	e.commits <- req
	return req.done
}

// commitMarker makes a drop entry durable, then has the applier carry out
// the drop with action, in WAL order: writes queued before it are applied
// first, writes queued after it land after it.
func (e *Engine) commitMarker(entry []byte, action func() error) error {
	return (<-e.enqueue(&commitReq{entry: entry, action: action})).err
}

// maxGroupBytes bounds one commit group (before compression), far below
// the WAL's record limit.
const maxGroupBytes = 8 << 20

// commitLoop groups queued entries: it takes everything queued, and
// hands it as one compressed record to appendLoop, the only writer of
// the WAL, which hands durable records to applyLoop, the only applier.
// Concurrent writers share one fsync (group commit), one compression pass
// over many batches compresses better than one each, and the next group
// is compressed while the previous one is fsynced and applied.
func (e *Engine) commitLoop() {
	defer e.commitWG.Done()
	jobs := make(chan walJob, 1)
	applies := make(chan applyJob, 4)
	var appender, applier sync.WaitGroup
	appender.Add(1)
	go func() {
		defer appender.Done()
		e.appendLoop(jobs, applies)
		close(applies)
	}()
	applier.Add(1)
	go func() {
		defer applier.Done()
		e.applyLoop(applies)
	}()
	defer func() {
		close(jobs)
		appender.Wait()
		applier.Wait()
	}()
	enc := newWALEncoder(e.streamRestartBytes)
	defer enc.close()
	failures := e.walFailures.Load()
	raw := []byte{walRecordVersion}
	var waiting []*commitReq
	commit := func() {
		if len(waiting) == 0 {
			return
		}
		if f := e.walFailures.Load(); f != failures {
			// An append failed and was cut off the file: nothing written
			// from now on may refer to it.
			failures = f
			enc.restart()
		}
		rec, err := enc.record(raw)
		if err != nil {
			for _, w := range waiting {
				w.done <- commitResult{err: fmt.Errorf("storage: compress wal record: %w", err)}
			}
			enc.restart()
		} else {
			jobs <- walJob{rec: rec, waiters: waiting, stream: enc.stream}
		}
		waiting = nil
		raw = raw[:1]
	}
	for req := range e.commits {
		group := []*commitReq{req}
	drain:
		for size := len(req.entry); size < maxGroupBytes; {
			select {
			case r, ok := <-e.commits:
				if !ok {
					break drain
				}
				group = append(group, r)
				size += len(r.entry)
			default:
				break drain
			}
		}
		for _, r := range group {
			if r.roll {
				commit()
				enc.restart() // the next segment starts a new stream
				jobs <- walJob{roll: r}
				continue
			}
			raw = append(raw, r.entry...)
			waiting = append(waiting, r)
			if len(raw) >= maxGroupBytes {
				commit()
			}
		}
		commit()
	}
}

// walJob is a compressed record and the requests waiting for it, or a
// request to roll the WAL after every record before it.
type walJob struct {
	rec     []byte
	waiters []*commitReq
	stream  uint64 // the encoder's stream the record belongs to
	roll    *commitReq
}

// applyJob is a durable record's requests, or a roll (rollErr: one that
// failed and left the WAL on segment nextSegment).
type applyJob struct {
	waiters     []*commitReq
	roll        *commitReq
	nextSegment uint64
	rollErr     error
}

// appendLoop writes records in the order commitLoop made them and hands
// the durable ones to the applier. A record that fails is not applied:
// its writers get the error and nothing of theirs lands.
func (e *Engine) appendLoop(jobs <-chan walJob, applies chan<- applyJob) {
	var failed error
	var broken struct {
		stream uint64
		err    error
	}
	for j := range jobs {
		if j.roll != nil {
			if failed != nil {
				j.roll.done <- commitResult{err: failed}
				continue
			}
			next, err := e.rollWAL()
			if errors.Is(err, wal.ErrFatal) || errors.Is(err, wal.ErrClosed) {
				j.roll.done <- commitResult{err: err}
				continue
			}
			if err != nil {
				// No room for a new segment: every record so far is in a
				// segment up to the current one, so the heads can still be
				// frozen there and flushed, and the ones before it deleted.
				segs := e.wal.Segments()
				next = segs[len(segs)-1]
			}
			applies <- applyJob{roll: j.roll, nextSegment: next, rollErr: err}
			continue
		}
		err := failed
		if err == nil && broken.err != nil && j.stream == broken.stream {
			// Compressed before the committer learned of the failure: it
			// refers to the record cut off the file and could never be
			// decoded from what is on disk.
			err = broken.err
		}
		if err == nil {
			err = e.appendRecord(j.rec)
			if errors.Is(err, wal.ErrFatal) {
				// An fsync error may have dropped dirty pages, and a
				// retried fsync can then "succeed" (PostgreSQL's fsync
				// bug): never acknowledge anything again.
				failed = fmt.Errorf("storage: wal fsync failed, refusing writes until restart: %w", err)
				e.logger.Error("wal fsync failed; the server refuses writes until it is restarted", "err", err)
				err = failed
			} else if err != nil {
				// A failed write (disk full) was cut off the log: these
				// writes fail, later ones may succeed once space is freed,
				// in a new stream.
				err = fmt.Errorf("storage: wal write: %w", err)
				broken.stream, broken.err = j.stream, err
				e.walFailures.Add(1)
				e.noteDiskError("wal append", err)
			}
		}
		if err != nil {
			for _, w := range j.waiters {
				w.done <- commitResult{err: err}
			}
			continue
		}
		applies <- applyJob{waiters: j.waiters}
	}
}

// appendRecord appends one record to the WAL (through the test seam
// when one is set).
func (e *Engine) appendRecord(rec []byte) error {
	if e.opts.walAppend != nil {
		return e.opts.walAppend(e.wal, rec)
	}
	return e.wal.Append(rec)
}

// rollWAL starts a new WAL segment (through the test seam when one is
// set).
func (e *Engine) rollWAL() (uint64, error) {
	if e.opts.walRoll != nil {
		return e.opts.walRoll(e.wal)
	}
	return e.wal.Roll()
}

// applyLoop carries out durable records, entry by entry in WAL order:
// the only place (besides replay, with the same apply) where writes
// reach the heads.
func (e *Engine) applyLoop(applies <-chan applyJob) {
	for j := range applies {
		e.applyMu.Lock()
		if j.roll != nil {
			frozen := e.freezeHeads(j.nextSegment)
			e.applyMu.Unlock()
			j.roll.done <- commitResult{nextSegment: j.nextSegment, frozen: frozen, err: j.rollErr, frozenAnyway: j.rollErr != nil}
			continue
		}
		for _, w := range j.waiters {
			var r commitResult
			switch {
			case w.batch != nil:
				r.err = e.applyPending(w.batch)
			case w.action != nil:
				r.err = w.action()
			}
			w.done <- r
		}
		e.applyMu.Unlock()
	}
}

// writeScratch holds per-call buffers of WriteBatch, pooled so that the
// write path does not allocate per point.
type writeScratch struct {
	key     []byte
	points  []byte   // WAL encoding of every prepared point
	offs    []int    // start of each point's encoding in points, plus the end
	ids     []uint64 // series id per point; 0: dropped; newSeries: not in the index yet
	pending pendingBatch
}

// newSeries marks a point whose series is not in the index yet: apply
// creates it, so a write that fails leaves no series behind.
const newSeries = ^uint64(0)

var scratchPool = sync.Pool{New: func() any { return &writeScratch{} }}

// WriteBatch validates a parsed batch, makes it durable, applies it and
// returns. The database must exist (*models.DatabaseNotFoundError); an
// empty RetentionPolicy means the database's default
// (*models.RetentionPolicyNotFoundError when unknown). Points that
// conflict with a field's stored type or fall outside the retention
// window are dropped and reported with *models.PartialWriteError; the
// rest are written. A write that returns another error left no trace.
//
// Work that needs no shared state (series keys, id lookups, the WAL
// encoding) happens before the write is queued, so concurrent writers
// overlap it; only validation against stored field types, creating new
// series and the head append are serialized, in the applier.
func (e *Engine) WriteBatch(b *models.Batch) error {
	if e.closed.Load() {
		return errClosed
	}
	if err := e.refuseWrite(); err != nil {
		return err
	}
	if e.headBytes.Load() > 2*e.opts.HeadMaxBytes {
		// Flushing cannot keep up: make this writer wait for a flush
		// rather than let memory grow past the configured bound.
		if err := e.Flush(); err != nil {
			return err
		}
	}
	sc := scratchPool.Get().(*writeScratch)
	defer scratchPool.Put(sc)

	e.mu.RLock()
	db := e.dbs[b.Database]
	rp, rpErr := e.policyName(b.Database, b.RetentionPolicy)
	e.mu.RUnlock()
	if db == nil {
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	if rpErr != nil {
		return rpErr
	}
	pb := &sc.pending
	*pb = pendingBatch{b: b, sc: sc, db: db, rp: rp, now: time.Now().UnixNano(), epoch: db.deletions.Load()}
	defer func() { sc.pending = pendingBatch{} }() // the pool must not keep the batch alive
	e.prepare(db, b, sc, &pb.res)
	if testHookAfterPrepare != nil {
		testHookAfterPrepare()
	}
	if err := e.ensureShards(db, rp, pb.now, b, sc); err != nil {
		return err
	}
	e.checkFieldLimits(db, rp, b, sc, &pb.res)
	n := 0
	for _, id := range sc.ids {
		if id != 0 {
			n++
		}
	}
	if n > 0 {
		// The entry outlives this call (the committer owns it): built
		// once, in its own slice.
		entry := appendWALBatchHeader(make([]byte, 0, len(sc.points)+64), b.Database, rp, pb.now, n)
		if n == len(b.Points) {
			entry = append(entry, sc.points...)
		} else {
			for i, id := range sc.ids {
				if id != 0 {
					entry = append(entry, sc.points[sc.offs[i]:sc.offs[i+1]]...)
				}
			}
		}
		if r := <-e.enqueue(&commitReq{entry: entry, batch: pb}); r.err != nil {
			return r.err
		}
	}
	res := &pb.res
	e.stats.WriteBatches.Add(1)
	e.stats.PointsWritten.Add(int64(res.accepted))
	e.stats.ValuesWritten.Add(int64(res.values))
	if e.headBytes.Load() > e.opts.HeadMaxBytes {
		select {
		case e.flushNow <- struct{}{}:
		default:
		}
	}
	if res.reason != "" {
		return &models.PartialWriteError{Reason: res.reason, Dropped: res.dropped}
	}
	return nil
}

// ensureShards creates the shards a prepared batch's points go to, before
// the write is queued: creating one is I/O that can fail (a full disk),
// and apply, which runs once the write is durable, must not fail halfway
// through a batch. Points apply will drop as beyond retention get none.
func (e *Engine) ensureShards(db *database, rpName string, now int64, b *models.Batch, sc *writeScratch) error {
	e.mu.RLock()
	var rp rpMeta
	if dm := e.meta.database(b.Database); dm != nil {
		if p := dm.policy(rpName); p != nil {
			rp = *p
		}
	}
	e.mu.RUnlock()
	if rp.Name == "" {
		return &models.RetentionPolicyNotFoundError{Database: b.Database, Name: rpName}
	}
	oldest := int64(minTime)
	if rp.Duration > 0 {
		oldest = now - int64(rp.Duration)
	}
	var cur *shard
	for i := range b.Points {
		t := b.Points[i].Time
		if sc.ids[i] == 0 || t < oldest || (cur != nil && t >= cur.start && t < cur.end) {
			continue
		}
		if cur = e.findShard(db, rpName, t); cur != nil {
			continue
		}
		e.applyMu.Lock()
		s, err := e.shardFor(db, &rp, t)
		e.applyMu.Unlock()
		if err != nil {
			e.noteDiskError("create shard", err)
			return fmt.Errorf("storage: %w", err)
		}
		cur = s
	}
	return nil
}

// findShard returns the shard of policy rp holding time t, or nil.
func (e *Engine) findShard(db *database, rp string, t int64) *shard {
	e.mu.RLock()
	defer e.mu.RUnlock()
	list := db.shards[rp]
	i := sort.Search(len(list), func(i int) bool { return list[i].end > t })
	if i < len(list) && list[i].start <= t {
		return list[i]
	}
	return nil
}

// policyName resolves a batch's retention policy name (empty: the
// database's default). The caller holds mu.
func (e *Engine) policyName(db, rp string) (string, error) {
	dm := e.meta.database(db)
	if dm == nil {
		return "", &models.DatabaseNotFoundError{Name: db}
	}
	if rp == "" {
		rp = dm.DefaultPolicy
	}
	if dm.policy(rp) == nil {
		return "", &models.RetentionPolicyNotFoundError{Database: db, Name: rp}
	}
	return rp, nil
}

// testHookAfterPrepare, set by tests, runs between a write's prepare
// and its enqueue.
var testHookAfterPrepare func()

type applyResult struct {
	accepted, dropped, values int
	reason                    string
}

// prepare looks every point's series id up and makes its WAL encoding,
// and drops points that no stored state could make valid (a tag keyed
// time). Fields named time are removed in place: b's points belong to
// this call. Series not in the index are marked newSeries: apply creates
// them.
func (e *Engine) prepare(db *database, b *models.Batch, sc *writeScratch, res *applyResult) {
	sc.points = sc.points[:0]
	sc.offs = sc.offs[:0]
	sc.ids = sc.ids[:0]
	for i := range b.Points {
		p := &b.Points[i]
		sc.offs = append(sc.offs, len(sc.points))
		if hasTagKey(p.Tags, "time") {
			res.drop(fmt.Sprintf("invalid tag key: input tag %q on measurement %q is invalid", "time", p.Measurement))
			sc.ids = append(sc.ids, 0)
			continue
		}
		if hasField(p.Fields, "time") {
			// InfluxDB skips a field named time and keeps the others.
			res.note(fmt.Sprintf("invalid field name: input field %q on measurement %q is invalid", "time", p.Measurement))
			p.Fields = withoutTimeField(p.Fields)
			if len(p.Fields) == 0 {
				res.dropped++
				sc.ids = append(sc.ids, 0)
				continue
			}
		}
		sc.key = models.AppendSeriesKey(sc.key[:0], p.Measurement, p.Tags)
		id, ok := db.index.Lookup(sc.key)
		if !ok {
			id = newSeries
		}
		sc.ids = append(sc.ids, id)
		sc.points = appendWALPoint(sc.points, sc.key, p)
	}
	sc.offs = append(sc.offs, len(sc.points))
}

// resolveAgain looks the series ids of prepare's accepted points up
// again in db (after a deletion, or when the database was dropped and
// created again since prepare). The caller holds applyMu.
func (e *Engine) resolveAgain(db *database, b *models.Batch, sc *writeScratch) {
	for i := range b.Points {
		if sc.ids[i] == 0 {
			continue
		}
		p := &b.Points[i]
		sc.key = models.AppendSeriesKey(sc.key[:0], p.Measurement, p.Tags)
		id, ok := db.index.Lookup(sc.key)
		if !ok {
			id = newSeries
		}
		sc.ids[i] = id
	}
}

// applyPending applies a durable write. The caller holds applyMu.
func (e *Engine) applyPending(pb *pendingBatch) error {
	e.mu.RLock()
	db := e.dbs[pb.b.Database]
	e.mu.RUnlock()
	if db == nil {
		return &models.DatabaseNotFoundError{Name: pb.b.Database}
	}
	if db != pb.db || db.deletions.Load() != pb.epoch {
		// A series of this batch may have been deleted since its id was
		// looked up: look up again (a deleted series gets a new id).
		e.resolveAgain(db, pb.b, pb.sc)
	}
	return e.apply(pb.b, pb.rp, pb.now, pb.sc, &pb.res, db)
}

// apply validates the prepared points against the stored field types and
// retention window (relative to now, when the batch was accepted), creates
// the series not in the index yet and appends the accepted points to the
// heads, marking rejected ones with id 0 in sc.ids. The caller holds
// applyMu. It is deterministic: the same batches applied in the same
// order give the same heads, series and field types; the applier and
// replay both call it.
func (e *Engine) apply(b *models.Batch, rpName string, now int64, sc *writeScratch, res *applyResult, db *database) error {
	e.mu.RLock()
	dm := e.meta.database(b.Database)
	if dm == nil || e.dbs[b.Database] != db {
		e.mu.RUnlock()
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	rpm := dm.policy(rpName)
	if rpm == nil {
		e.mu.RUnlock()
		return &models.RetentionPolicyNotFoundError{Database: b.Database, Name: rpName}
	}
	rp := *rpm
	e.mu.RUnlock()

	var cur *shard
	defer func() {
		if cur != nil {
			cur.mu.Unlock()
		}
	}()
	oldest := int64(minTime)
	if rp.Duration > 0 {
		oldest = now - int64(rp.Duration)
	}
	for i := range b.Points {
		id := sc.ids[i]
		if id == 0 {
			continue
		}
		p := &b.Points[i]
		if p.Time < oldest {
			res.drop("points beyond retention policy")
			sc.ids[i] = 0
			continue
		}
		if cur == nil || p.Time < cur.start || p.Time >= cur.end {
			if cur != nil {
				cur.mu.Unlock()
			}
			s, err := e.shardFor(db, &rp, p.Time)
			if err != nil {
				cur = nil
				return err
			}
			cur = s
			cur.mu.Lock()
		}
		h := cur.head
		var ms *memSeries
		if id != newSeries {
			ms = h.series[id]
		}
		// Check every field's type before appending any: InfluxDB drops
		// the whole point on a conflict.
		conflict := ""
		for j := range p.Fields {
			f := &p.Fields[j]
			var have models.FieldType
			if ms != nil {
				if c := ms.find(j, f.Key); c != nil {
					have = c.typ
				}
			}
			if have == 0 {
				have = cur.peekFieldType(p.Measurement, f.Key)
			}
			if have != 0 && have != f.Type {
				conflict = models.FieldTypeConflictReason(f.Key, p.Measurement, f.Type, have)
				break
			}
		}
		if conflict != "" {
			res.drop(conflict)
			sc.ids[i] = 0
			continue
		}
		if id == newSeries {
			// Created here, in apply order, so that a write that never
			// became durable leaves no series behind.
			sc.key = models.AppendSeriesKey(sc.key[:0], p.Measurement, p.Tags)
			created, _, err := db.index.CreateSeries(sc.key, p.Measurement, p.Tags)
			if err != nil {
				res.drop(err.Error())
				sc.ids[i] = 0
				continue
			}
			id = created
			sc.ids[i] = id
			ms = h.series[id]
		}
		if ms == nil {
			ms = &memSeries{}
			h.series[id] = ms
			h.bytes += memSeriesOverhead
			e.headBytes.Add(memSeriesOverhead)
		}
		var added int64
		for j := range p.Fields {
			f := &p.Fields[j]
			c := ms.find(j, f.Key)
			if c == nil {
				cur.checkFieldType(p.Measurement, f.Key, f.Type)
				before := h.bytes
				c = ms.column(j, f.Key, f.Type, h)
				added += h.bytes - before
			}
			n := c.append(p.Time, f)
			h.bytes += n
			added += n
		}
		e.headBytes.Add(added)
		if e.headSince.Load() == 0 {
			e.headSince.Store(time.Now().UnixNano())
		}
		res.accepted++
		res.values += len(p.Fields)
	}
	return nil
}

func (r *applyResult) drop(reason string) {
	r.note(reason)
	r.dropped++
}

// note records the first reason a batch was not written whole.
func (r *applyResult) note(reason string) {
	if r.reason == "" {
		r.reason = reason
	}
}

func hasTagKey(tags models.Tags, key string) bool {
	for _, t := range tags {
		if t.Key == key {
			return true
		}
	}
	return false
}

func hasField(fields []models.Field, key string) bool {
	for i := range fields {
		if fields[i].Key == key {
			return true
		}
	}
	return false
}

// withoutTimeField returns the fields not named time, in a new slice (the
// caller's backing array may be shared with other points).
func withoutTimeField(fields []models.Field) []models.Field {
	out := make([]models.Field, 0, len(fields))
	for _, f := range fields {
		if f.Key != "time" {
			out = append(out, f)
		}
	}
	return out
}

// peekFieldType returns the stored type of a field, 0 when unknown.
// The caller holds s.mu.
func (s *shard) peekFieldType(measurement, field string) models.FieldType {
	return s.fields[measurement][field]
}

// shardFor returns the shard of rp holding time t, creating it. Shards
// are aligned to multiples of the shard duration since the Unix epoch,
// as InfluxDB aligns shard groups. The caller holds applyMu.
func (e *Engine) shardFor(db *database, rp *rpMeta, t int64) (*shard, error) {
	dur := int64(rp.ShardDuration)
	if dur <= 0 {
		dur = int64(models.DefaultShardDuration(rp.Duration))
	}
	// t rounded toward zero to a multiple of dur is always representable;
	// the shard's other bound may not be, near either end of int64 time,
	// and is then clamped rather than wrapped (a wrapped start put a
	// point at -9223372036854775806 into a shard that did not hold it, so
	// it vanished at the next start).
	base := t - t%dur
	start, end := base, base+dur
	if t%dur < 0 {
		start, end = base-dur, base
		if base < minTime+dur {
			start = minTime
		}
	} else if base > maxTime-dur {
		end = maxTime
	}
	e.mu.RLock()
	list := db.shards[rp.Name]
	i := sort.Search(len(list), func(i int) bool { return list[i].end > t })
	if i < len(list) && list[i].start <= t {
		s := list[i]
		e.mu.RUnlock()
		return s, nil
	}
	e.mu.RUnlock()
	// A policy's shard duration may have changed: the new shard must not
	// overlap existing ones.
	if i < len(list) && end > list[i].start {
		end = list[i].start
	}
	if i > 0 && start < list[i-1].end {
		start = list[i-1].end
	}
	dir := fmt.Sprintf("%s/%s/%s", db.dir, dirSafe(rp.Name), shardDirName(start, end))
	s, err := openShard(dir, start, end, e.logger, db.live, e.entries, e.fs)
	if err != nil {
		return nil, fmt.Errorf("create shard: %w", err)
	}
	e.mu.Lock()
	list = db.shards[rp.Name]
	list = append(list, s)
	sort.Slice(list, func(a, b int) bool { return list[a].start < list[b].start })
	db.shards[rp.Name] = list
	e.mu.Unlock()
	return s, nil
}

// walZstdLevel trades CPU for bytes written per value: the WAL is most of
// what herd writes to the SD card.
var walZstdLevel = zstd.SpeedDefault
