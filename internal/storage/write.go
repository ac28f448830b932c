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
// durable, or (roll) a request to start a new WAL segment after every
// entry queued before it.
type commitReq struct {
	entry []byte
	roll  bool
	done  chan commitResult
}

type commitResult struct {
	nextSegment uint64
	err         error
}

var errClosed = errors.New("storage: engine closed")

// enqueue queues a WAL entry; the caller holds applyMu, which fixes the
// WAL order to the apply order.
func (e *Engine) enqueue(entry []byte, roll bool) chan commitResult {
	req := &commitReq{entry: entry, roll: roll, done: make(chan commitResult, 1)}
	if e.commitsClosed {
		req.done <- commitResult{err: errClosed}
		return req.done
	}
	e.commits <- req
	return req.done
}

// commitMarker makes a drop entry durable before the drop is carried
// out. The caller holds applyMu.
func (e *Engine) commitMarker(entry []byte) error {
	return (<-e.enqueue(entry, false)).err
}

// maxGroupBytes bounds one commit group (before compression), far below
// the WAL's record limit.
const maxGroupBytes = 8 << 20

// commitLoop groups queued entries: it takes everything queued, and
// hands it as one compressed record to appendLoop, the only writer of
// the WAL. Concurrent writers share one fsync (group commit), one
// compression pass over many batches compresses better than one each,
// and the next group is compressed while the previous one is fsynced.
func (e *Engine) commitLoop() {
	defer e.commitWG.Done()
	jobs := make(chan walJob, 1)
	var appender sync.WaitGroup
	appender.Add(1)
	go func() {
		defer appender.Done()
		e.appendLoop(jobs)
	}()
	defer func() {
		close(jobs)
		appender.Wait()
	}()
	enc := newWALEncoder()
	defer enc.close()
	raw := []byte{walRecordVersion}
	var waiting []*commitReq
	commit := func() {
		if len(waiting) == 0 {
			return
		}
		rec, err := enc.record(raw)
		if err != nil {
			for _, w := range waiting {
				w.done <- commitResult{err: fmt.Errorf("storage: compress wal record: %w", err)}
			}
		} else {
			jobs <- walJob{rec: rec, waiters: waiting}
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

// walJob is a compressed record and the writers waiting for it, or a
// request to roll the WAL after every record before it.
type walJob struct {
	rec     []byte
	waiters []*commitReq
	roll    *commitReq
}

// appendLoop writes records in the order commitLoop made them.
func (e *Engine) appendLoop(jobs <-chan walJob) {
	var failed error
	for j := range jobs {
		if j.roll != nil {
			res := commitResult{err: failed}
			if failed == nil {
				res.nextSegment, res.err = e.wal.Roll()
			}
			j.roll.done <- res
			continue
		}
		err := failed
		if err == nil {
			err = e.wal.Append(j.rec)
			if errors.Is(err, wal.ErrFatal) {
				// An fsync error may have dropped dirty pages: never
				// acknowledge anything again (see reliability notes).
				failed = fmt.Errorf("storage: wal fsync failed, refusing writes until restart: %w", err)
				e.logger.Error("wal fsync failed; the server refuses writes until it is restarted", "err", err)
				err = failed
			} else if err != nil {
				// A failed write (disk full) was cut off the log: these
				// writes fail, later ones may succeed once space is freed.
				err = fmt.Errorf("storage: wal write: %w", err)
			}
		}
		for _, w := range j.waiters {
			w.done <- commitResult{err: err}
		}
	}
}

// writeScratch holds per-call buffers of WriteBatch, pooled so that the
// write path does not allocate per point.
type writeScratch struct {
	key    []byte
	points []byte   // WAL encoding of every prepared point
	offs   []int    // start of each point's encoding in points, plus the end
	ids    []uint64 // series id per point; 0: dropped before apply
}

var scratchPool = sync.Pool{New: func() any { return &writeScratch{} }}

// WriteBatch validates and applies a parsed batch and returns once it is
// durable. The database must exist (*models.DatabaseNotFoundError); an
// empty RetentionPolicy means the database's default
// (*models.RetentionPolicyNotFoundError when unknown). Points that
// conflict with a field's stored type or fall outside the retention
// window are dropped and reported with *models.PartialWriteError; the
// rest are written.
//
// Work that needs no shared state (series keys and ids, the WAL
// encoding) happens before taking applyMu, so concurrent writers overlap
// it; only validation against stored field types and the head append
// are serialized.
func (e *Engine) WriteBatch(b *models.Batch) error {
	if e.closed.Load() {
		return errClosed
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
	e.mu.RUnlock()
	if db == nil {
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	var res applyResult
	epoch := db.deletions.Load()
	e.prepare(db, b, sc, &res)
	if testHookAfterPrepare != nil {
		testHookAfterPrepare()
	}

	e.applyMu.Lock()
	if db.deletions.Load() != epoch {
		// A series of this batch may have been deleted since its id was
		// resolved: resolve again (a deleted series gets a new id).
		e.resolveAgain(db, b, sc, &res)
	}
	err := e.apply(b, time.Now().UnixNano(), sc, &res, db)
	var done chan commitResult
	if err == nil && res.accepted > 0 {
		// The entry outlives this call (the committer owns it): built
		// once, in its own slice.
		entry := appendWALBatchHeader(make([]byte, 0, len(sc.points)+64), b.Database, res.rp, res.accepted)
		if res.accepted == len(b.Points) {
			entry = append(entry, sc.points...)
		} else {
			for i, id := range sc.ids {
				if id != 0 {
					entry = append(entry, sc.points[sc.offs[i]:sc.offs[i+1]]...)
				}
			}
		}
		done = e.enqueue(entry, false)
	}
	e.applyMu.Unlock()
	if err != nil {
		return err
	}
	if done != nil {
		if r := <-done; r.err != nil {
			return r.err
		}
	}
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

// testHookAfterPrepare, set by tests, runs between a write's prepare
// and apply.
var testHookAfterPrepare func()

type applyResult struct {
	rp                        string
	accepted, dropped, values int
	reason                    string
}

// prepare resolves every point's series id and WAL encoding, and drops
// points that no stored state could make valid (a tag keyed time, too
// many series). Fields named time are removed in place: b's points
// belong to this call.
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
		id, _, err := db.index.CreateSeries(sc.key, p.Measurement, p.Tags)
		if err != nil {
			res.drop(err.Error())
			sc.ids = append(sc.ids, 0)
			continue
		}
		sc.ids = append(sc.ids, id)
		sc.points = appendWALPoint(sc.points, sc.key, p)
	}
	sc.offs = append(sc.offs, len(sc.points))
}

// resolveAgain looks the series ids of prepare's accepted points up
// again, creating those deleted since. The caller holds applyMu.
func (e *Engine) resolveAgain(db *database, b *models.Batch, sc *writeScratch, res *applyResult) {
	for i := range b.Points {
		if sc.ids[i] == 0 {
			continue
		}
		p := &b.Points[i]
		sc.key = models.AppendSeriesKey(sc.key[:0], p.Measurement, p.Tags)
		id, _, err := db.index.CreateSeries(sc.key, p.Measurement, p.Tags)
		if err != nil {
			res.drop(err.Error())
			id = 0
		}
		sc.ids[i] = id
	}
}

// apply validates the prepared points against the stored field types and
// retention window and appends the accepted ones to the heads, marking
// rejected ones with id 0 in sc.ids. The caller holds applyMu. It is
// deterministic: the same batches applied in the same order give the same
// heads and field types.
func (e *Engine) apply(b *models.Batch, now int64, sc *writeScratch, res *applyResult, db *database) error {
	e.mu.RLock()
	dm := e.meta.database(b.Database)
	if dm == nil || e.dbs[b.Database] != db {
		e.mu.RUnlock()
		return &models.DatabaseNotFoundError{Name: b.Database}
	}
	rpName := b.RetentionPolicy
	if rpName == "" {
		rpName = dm.DefaultPolicy
	}
	rpm := dm.policy(rpName)
	if rpm == nil {
		e.mu.RUnlock()
		return &models.RetentionPolicyNotFoundError{Database: b.Database, Name: rpName}
	}
	rp := *rpm
	e.mu.RUnlock()
	res.rp = rpName

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
		ms := h.series[id]
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

// find returns the series' column named name, or nil.
func (s *memSeries) find(hint int, name string) *memColumn {
	if hint < len(s.cols) && s.cols[hint].name == name {
		return s.cols[hint]
	}
	for _, c := range s.cols {
		if c.name == name {
			return c
		}
	}
	return nil
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
	s, err := openShard(dir, start, end, e.logger, db.live, e.entries)
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
