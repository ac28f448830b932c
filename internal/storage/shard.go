package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// A shard is one time partition of one retention policy: [start, end).
// Expiry drops whole shards, so no file is ever rewritten to delete data.
//
// Lock order: Engine.applyMu, then shard.mu. Readers take only shard.mu
// (read) and never hold it while calling back into user code.
type shard struct {
	dir        string
	start, end int64
	logger     *slog.Logger
	fs         fsys.FS
	// live tells whether a series id is still in the database's index;
	// compaction drops the values of deleted series.
	live func(id uint64) bool
	// entries caches decoded block index entries across the engine.
	entries *block.EntryCache

	mu     sync.RWMutex
	head   *head
	frozen []*head      // heads being written to blocks, oldest first
	blocks []*blockFile // sorted by seq, oldest first
	fields map[string]map[string]models.FieldType
	// fieldsDirty means fields changed since fields.json was written.
	fieldsDirty bool
	// widest is the most field keys of one measurement in fields, so
	// that checking max-fields-per-measurement needs no lock while every
	// measurement is far from it. Written under mu.
	widest  atomic.Int64
	nextSeq uint64

	// compacting serializes compactions of this shard.
	compacting sync.Mutex

	// quarantined lists block files set aside as corrupt, whose data
	// reads of this shard cannot serve; reads warn about them.
	qmu         sync.Mutex
	quarantined []quarantinedBlock
}

// quarantinedBlock is a block file renamed to *.bad and why.
type quarantinedBlock struct {
	path   string
	reason string
}

// blockFile is an open block file shared by concurrent readers; the file
// is closed (and deleted, once obsolete) when its last reader is done.
type blockFile struct {
	r        *block.Reader
	fs       fsys.FS // removes the file once it is retired and unread
	level    int
	minSeq   uint64
	seq      uint64
	refs     atomic.Int64
	obsolete atomic.Bool
}

func (b *blockFile) acquire() { b.refs.Add(1) }

// openBlock opens a block file of the shard, sharing the engine's entry
// cache.
func (s *shard) openBlock(path string) (*block.Reader, error) {
	r, err := block.Open(path)
	if err == nil && s.entries != nil {
		r.SetEntryCache(s.entries)
	}
	return r, err
}

func (b *blockFile) release() {
	if b.refs.Add(-1) == 0 && b.obsolete.Load() {
		path := b.r.Path()
		b.r.Close()
		b.fs.Remove(path) // left behind, the file is covered by its merge and dropped at the next start
	}
}

// retire marks a replaced block: it goes away with its last reader.
func (b *blockFile) retire() {
	b.obsolete.Store(true)
	b.release() // the shard's own reference
}

// A block's name holds its level and the range of flush sequence numbers
// whose data it holds: L<level>-<minSeq>-<seq>.blk. A flush makes a
// level-0 block with minSeq == seq; a compaction covers its inputs' union.
func blockName(level int, minSeq, seq uint64) string {
	return fmt.Sprintf("L%d-%016d-%016d.blk", level, minSeq, seq)
}

func parseBlockName(name string) (level int, minSeq, seq uint64, ok bool) {
	if !strings.HasPrefix(name, "L") || !strings.HasSuffix(name, ".blk") {
		return 0, 0, 0, false
	}
	parts := strings.Split(strings.TrimSuffix(name[1:], ".blk"), "-")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	lv, err1 := strconv.Atoi(parts[0])
	mn, err2 := strconv.ParseUint(parts[1], 10, 64)
	sq, err3 := strconv.ParseUint(parts[2], 10, 64)
	return lv, mn, sq, err1 == nil && err2 == nil && err3 == nil && mn <= sq
}

func shardDirName(start, end int64) string { return fmt.Sprintf("%d_%d", start, end) }

func parseShardDirName(name string) (start, end int64, ok bool) {
	a, b, found := strings.Cut(name, "_")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseInt(a, 10, 64)
	e, err2 := strconv.ParseInt(b, 10, 64)
	return s, e, err1 == nil && err2 == nil && s < e
}

// openShard opens a shard directory: its blocks (quarantining corrupt
// ones) and its field types.
func openShard(dir string, start, end int64, logger *slog.Logger, live func(uint64) bool, cache *block.EntryCache, fs fsys.FS) (*shard, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &shard{dir: dir, start: start, end: end, logger: logger, fs: fs, live: live, entries: cache, head: newHead(),
		fields: make(map[string]map[string]models.FieldType)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, ent := range entries {
		name := ent.Name()
		path := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".tmp") {
			fs.Remove(path) // an unfinished flush or compaction
			continue
		}
		if strings.HasSuffix(name, ".blk"+badSuffix) {
			// Quarantined by an earlier run: its data is still missing.
			s.quarantined = append(s.quarantined, quarantinedBlock{path: path, reason: "quarantined at an earlier start"})
			continue
		}
		level, minSeq, seq, ok := parseBlockName(name)
		if !ok {
			continue
		}
		r, err := s.openBlock(path)
		if err != nil {
			s.quarantine(path, err)
			continue
		}
		bf := &blockFile{r: r, fs: fs, level: level, minSeq: minSeq, seq: seq}
		bf.refs.Store(1)
		s.blocks = append(s.blocks, bf)
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	sort.Slice(s.blocks, func(i, j int) bool { return s.blocks[i].seq < s.blocks[j].seq })
	s.dropCovered()
	if b, err := os.ReadFile(filepath.Join(dir, "fields.json")); err == nil {
		if err := json.Unmarshal(b, &s.fields); err != nil {
			return nil, fmt.Errorf("parse %s/fields.json: %w", dir, err)
		}
		for _, m := range s.fields {
			s.widest.Store(max(s.widest.Load(), int64(len(m))))
		}
	}
	// Field types also live in the blocks; fields.json is a cache that a
	// crash may leave behind them.
	return s, nil
}

// dropCovered removes blocks whose data a compaction already merged into
// another block: a crash between writing the compacted block and
// deleting its inputs leaves both.
func (s *shard) dropCovered() {
	kept := s.blocks[:0]
	for _, b := range s.blocks {
		covered := false
		for _, o := range s.blocks {
			wider := o.seq-o.minSeq > b.seq-b.minSeq
			rewritten := o.minSeq == b.minSeq && o.seq == b.seq && o.level > b.level
			if o != b && o.minSeq <= b.minSeq && b.seq <= o.seq && (wider || rewritten) {
				covered = true
				break
			}
		}
		if covered {
			path := b.r.Path()
			b.r.Close()
			s.fs.Remove(path)
			s.logger.Info("removed block already merged by an interrupted compaction", "path", path)
			continue
		}
		kept = append(kept, b)
	}
	s.blocks = kept
}

// badSuffix marks a quarantined block file: never opened again, never
// deleted by herd; reads of its shard warn until an operator removes it.
const badSuffix = ".bad"

// quarantine renames a corrupt block so it is never served, logs it and
// remembers it, so that queries over this shard say their answer lacks it.
func (s *shard) quarantine(path string, cause error) {
	bad := path + badSuffix
	if err := s.fs.Rename(path, bad); err != nil {
		s.logger.Error("corrupt block file could not be quarantined", "path", path, "err", cause, "rename_err", err)
		bad = path
	} else {
		s.logger.Error("corrupt block file quarantined; its data is not served", "path", bad, "err", cause)
	}
	reason := cause.Error()
	if ce := (*block.CorruptError)(nil); errors.As(cause, &ce) {
		reason = fmt.Sprintf("at offset %d: %s", ce.Offset, ce.Reason) // the path is already in the warning
	}
	s.noteQuarantined(bad, reason)
}

// quarantinedCount is the number of block files of the shard set aside.
func (s *shard) quarantinedCount() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.quarantined)
}

func (s *shard) noteQuarantined(path, reason string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, q := range s.quarantined {
		if q.path == path {
			return
		}
	}
	s.quarantined = append(s.quarantined, quarantinedBlock{path: path, reason: reason})
}

// quarantineWarnings returns one warning per quarantined file of the
// shard, for a read of database db, policy rp.
func (s *shard) quarantineWarnings(db, rp string) []string {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	var out []string
	for _, q := range s.quarantined {
		out = append(out, fmt.Sprintf("incomplete result: data of database %q, retention policy %q from %s to %s is missing: block file %s is corrupt and quarantined (%s)",
			db, rp, formatShardTime(s.start), formatShardTime(s.end), q.path, q.reason))
	}
	return out
}

// formatShardTime writes a shard bound as RFC 3339, or the raw
// nanoseconds where time.Time cannot represent it.
func formatShardTime(ns int64) string {
	if ns <= minTime || ns >= maxTime {
		return strconv.FormatInt(ns, 10)
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// fieldType returns the stored type of a measurement's field in this
// shard, and records typ when the field is new. The caller holds s.mu.
func (s *shard) checkFieldType(measurement, field string, typ models.FieldType) models.FieldType {
	m := s.fields[measurement]
	if m == nil {
		m = make(map[string]models.FieldType)
		s.fields[strings.Clone(measurement)] = m
	}
	if have, ok := m[field]; ok {
		return have
	}
	m[strings.Clone(field)] = typ
	s.fieldsDirty = true
	if n := int64(len(m)); n > s.widest.Load() {
		s.widest.Store(n)
	}
	return typ
}

func (s *shard) saveFields() error {
	s.mu.RLock()
	if !s.fieldsDirty {
		s.mu.RUnlock()
		return nil
	}
	b, err := json.Marshal(s.fields)
	s.fieldsDirty = false
	s.mu.RUnlock()
	if err == nil {
		err = writeFileAtomic(s.fs, filepath.Join(s.dir, "fields.json"), b)
	}
	if err != nil {
		// Try again at the next flush (a full disk), not never.
		s.mu.Lock()
		s.fieldsDirty = true
		s.mu.Unlock()
	}
	return err
}

// freeze moves the active head aside for flushing. Caller holds s.mu.
func (s *shard) freeze() *head {
	if len(s.head.series) == 0 {
		return nil
	}
	h := s.head
	s.frozen = append(s.frozen, h)
	s.head = newHead()
	return h
}

// flush writes a frozen head to a new level-0 block.
func (s *shard) flush(h *head) error {
	s.mu.Lock()
	seq := s.nextSeq
	s.nextSeq++
	s.mu.Unlock()
	path := filepath.Join(s.dir, blockName(0, seq, seq))
	w, err := block.CreateFS(s.fs, path)
	if err != nil {
		return fmt.Errorf("flush shard %s: %w", s.dir, err)
	}
	var col block.Column
	for _, id := range h.sortedIDs() {
		for _, c := range h.series[id].sortedColumns() {
			c.fill(&col, minTime, maxTime)
			if col.Len() == 0 {
				continue
			}
			if err := w.WriteColumn(id, c.name, &col); err != nil {
				w.Abort()
				return fmt.Errorf("flush shard %s: %w", s.dir, err)
			}
		}
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("flush shard %s: %w", s.dir, err)
	}
	r, err := s.openBlock(path)
	if err != nil {
		return fmt.Errorf("reopen flushed block %s: %w", path, err)
	}
	bf := &blockFile{r: r, fs: s.fs, level: 0, minSeq: seq, seq: seq}
	bf.refs.Store(1)
	s.mu.Lock()
	s.blocks = append(s.blocks, bf)
	sort.Slice(s.blocks, func(i, j int) bool { return s.blocks[i].seq < s.blocks[j].seq })
	for i, f := range s.frozen {
		if f == h {
			// slices.Delete clears the vacated slot: a stale pointer
			// there kept the flushed head's memory until the next flush.
			s.frozen = slices.Delete(s.frozen, i, i+1)
			break
		}
	}
	s.mu.Unlock()
	return nil
}

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

// Compaction policy. Monitoring data arrives in time order, so the
// blocks that successive flushes write cover successive time ranges and
// reads skip the ones outside a query's range: merging them buys little
// while a shard is written to, and every merge rewrites data on the SD
// card. So a hot shard is compacted only when it holds more than
// maxHotBlocks blocks (merging the mergeRun adjacent blocks that are
// smallest together), and a shard an hour past its end is merged once
// into a single block. Each value is then written to blocks about twice
// (its flush, and its shard's final merge) instead of once per level of
// a tiered scheme.
const (
	maxHotBlocks = 16
	mergeRun     = 8
)

// compactionCandidates picks the blocks to merge next, adjacent in flush
// order (so that block names keep describing contiguous ranges). With
// all=true (a shard no longer written to), every block is merged into one.
func (s *shard) compactionCandidates(all bool) []*blockFile {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if all {
		if len(s.blocks) < 2 {
			return nil
		}
		return append([]*blockFile(nil), s.blocks...)
	}
	if len(s.blocks) <= maxHotBlocks {
		return nil
	}
	best, bestSize := 0, int64(-1)
	for i := 0; i+mergeRun <= len(s.blocks); i++ {
		var size int64
		for _, b := range s.blocks[i : i+mergeRun] {
			size += b.r.Size()
		}
		if bestSize < 0 || size < bestSize {
			best, bestSize = i, size
		}
	}
	return append([]*blockFile(nil), s.blocks[best:best+mergeRun]...)
}

// compact merges blocks into one block one level above the highest
// input, named with the highest input seq so that age order holds.
func (s *shard) compact(inputs []*blockFile) error { return s.compactFiltered(inputs, nil) }

// compactFiltered is compact leaving out the values drop names (a DELETE
// with a time range rewrites single blocks this way; the output has the
// same sequence range one level up, which marks the input as covered).
func (s *shard) compactFiltered(inputs []*blockFile, drop func(id uint64, t int64) bool) error {
	level, minSeq, seq := 0, uint64(maxTime), uint64(0)
	for _, b := range inputs {
		level = max(level, b.level)
		minSeq = min(minSeq, b.minSeq)
		seq = max(seq, b.seq)
		b.acquire()
	}
	defer func() {
		for _, b := range inputs {
			b.release()
		}
	}()
	path := filepath.Join(s.dir, blockName(level+1, minSeq, seq))
	w, err := block.CreateFS(s.fs, path)
	if err != nil {
		return err
	}
	if err := mergeBlocks(w, inputs, s.live, drop); err != nil {
		w.Abort()
		if ce := (*block.CorruptError)(nil); errors.As(err, &ce) {
			s.logger.Error("compaction found a corrupt block; skipped", "shard", s.dir, "err", err)
		}
		return fmt.Errorf("compact %s: %w", s.dir, err)
	}
	if err := w.Finish(); err != nil {
		return fmt.Errorf("compact %s: %w", s.dir, err)
	}
	r, err := s.openBlock(path)
	if err != nil {
		return fmt.Errorf("reopen compacted block %s: %w", path, err)
	}
	out := &blockFile{r: r, fs: s.fs, level: level + 1, minSeq: minSeq, seq: seq}
	out.refs.Store(1)
	s.mu.Lock()
	kept := s.blocks[:0:0]
	for _, b := range s.blocks {
		if !containsBlock(inputs, b) {
			kept = append(kept, b)
		}
	}
	s.blocks = append(kept, out)
	sort.Slice(s.blocks, func(i, j int) bool { return s.blocks[i].seq < s.blocks[j].seq })
	s.mu.Unlock()
	for _, b := range inputs {
		b.retire()
	}
	return fsys.SyncDir(s.fs, s.dir)
}

func containsBlock(list []*blockFile, b *blockFile) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// mergeBlocks writes the union of the inputs (oldest first), one series
// field at a time so memory stays bounded by the largest single column.
// Any damage found in an input fails the merge, so the inputs are kept:
// a compaction must never turn a read error into missing data.
func mergeBlocks(w *block.Writer, inputs []*blockFile, live func(uint64) bool, drop func(id uint64, t int64) bool) error {
	idSet := map[uint64]struct{}{}
	for _, b := range inputs {
		for _, id := range b.r.SeriesIDs() {
			if live == nil || live(id) {
				idSet[id] = struct{}{}
			}
		}
	}
	ids := make([]uint64, 0, len(idSet))
	for id := range idSet {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var m merger
	perInput := make([][]block.FieldInfo, len(inputs))
	for _, id := range ids {
		names := map[string]models.FieldType{}
		for i, b := range inputs {
			fields, err := b.r.ScanSeriesFields(id)
			if err != nil {
				return err
			}
			perInput[i] = fields
			for _, fi := range fields {
				names[fi.Name] = fi.Type // later (newer) blocks win a type clash
			}
		}
		sorted := make([]string, 0, len(names))
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, name := range sorted {
			m.reset(names[name])
			for i, b := range inputs {
				for _, fi := range perInput[i] {
					if fi.Name != name || fi.Type != names[name] {
						continue
					}
					for _, cm := range fi.Chunks {
						col := m.next()
						if err := b.r.ReadChunk(cm, col); err != nil {
							return err
						}
					}
				}
			}
			out := m.merge(minTime, maxTime)
			if drop != nil {
				out = filterColumn(out, func(t int64) bool { return drop(id, t) })
			}
			if out.Len() == 0 {
				continue
			}
			if err := w.WriteColumn(id, name, out); err != nil {
				return err
			}
		}
	}
	for _, b := range inputs {
		if err := b.r.Err(); err != nil {
			return err
		}
	}
	return nil
}

// filterColumn removes, in place, the values whose time drop names.
func filterColumn(c *block.Column, drop func(t int64) bool) *block.Column {
	k := 0
	for i, t := range c.Times {
		if drop(t) {
			continue
		}
		c.Times[k] = c.Times[i]
		switch c.Type {
		case models.Float:
			c.Floats[k] = c.Floats[i]
		case models.Integer:
			c.Integers[k] = c.Integers[i]
		case models.Unsigned:
			c.Unsigneds[k] = c.Unsigneds[i]
		case models.Boolean:
			c.Booleans[k] = c.Booleans[i]
		case models.String:
			c.Strings[k] = c.Strings[i]
		}
		k++
	}
	c.Times = c.Times[:k]
	switch c.Type {
	case models.Float:
		c.Floats = c.Floats[:k]
	case models.Integer:
		c.Integers = c.Integers[:k]
	case models.Unsigned:
		c.Unsigneds = c.Unsigneds[:k]
	case models.Boolean:
		c.Booleans = c.Booleans[:k]
	case models.String:
		c.Strings = c.Strings[:k]
	}
	return c
}
