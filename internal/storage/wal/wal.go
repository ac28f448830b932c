// Package wal is herd's write-ahead log: numbered segment files of
// length-prefixed, CRC-32C checksummed records (docs/format/wal.md).
//
// Append returns once its record is durable. Concurrent appenders share
// fsyncs (group commit): one of them, the leader, writes every record
// queued so far in one write and fsyncs once, while the others wait for
// the batch that holds their record. Open repairs what a crash or a bad
// SD card left behind and never refuses to start over corruption: it
// cuts off a torn tail, and for any other damage keeps the original
// segment as *.corrupt, rewrites it with every record that still
// verifies (those after the damage too), logs, and counts the repair.
//
// Lock order: mu, then fileMu. Only the goroutine that holds the "busy"
// token (taken under mu) writes, rolls or closes the current segment;
// fileMu only keeps the FsyncDelay syncer off a file being swapped.
package wal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/storage/fsys"
)

// Options configures a WAL. Zero values mean the defaults.
type Options struct {
	// Dir holds the segment files; Open creates it.
	Dir string
	// SegmentSize rolls to a new segment when an append would grow the
	// current one past it (a single batch larger than this still goes
	// into one segment: records never span segments). Default 32 MiB.
	SegmentSize int64
	// FsyncDelay 0 fsyncs before Append returns. A positive delay makes
	// Append return once the record is written to the OS (a kill -9 still
	// loses nothing) and fsyncs at most once per delay, trading the last
	// delay's worth of acknowledged records on a power cut for fewer
	// SD-card writes.
	FsyncDelay time.Duration
	// Logger receives repair warnings and errors; nil: slog.Default().
	Logger *slog.Logger
	// FS is what changes the disk; nil: the OS. Tests inject faults here.
	FS fsys.FS
}

// Stats are counters since Open.
type Stats struct {
	BytesWritten uint64 // bytes written to segment files, headers included (SD-card wear)
	Records      uint64 // records appended
	Fsyncs       uint64 // fsync calls, on segment files and on the directory
	Repairs      uint64 // damaged segments Open repaired (torn tails included)
	// Corruptions counts damaged stretches other than a torn tail: bytes
	// that were acknowledged once and can no longer be read.
	Corruptions      uint64
	BytesQuarantined uint64 // bytes of those stretches, kept only in *.corrupt files
	RecordsRecovered uint64 // records found after a damaged stretch, replayed
}

// hooks are the file operations tests replace to inject failures.
type hooks struct {
	writeAt func(f *os.File, p []byte, off int64) (int, error)
	sync    func(f *os.File) error
	reader  func(f *os.File) io.Reader // how Open and Replay read a segment
}

var osHooks = hooks{
	writeAt: func(f *os.File, p []byte, off int64) (int, error) { return f.WriteAt(p, off) },
	sync:    (*os.File).Sync,
	reader:  func(f *os.File) io.Reader { return f },
}

// segmentInfo is a segment found by Open, the length of its valid
// records and the holes Replay reports before the records after them.
type segmentInfo struct {
	num  uint64
	size int64
	gaps []gapAt // ascending off
}

// gapAt places a Gap before the record at offset off of a segment file.
type gapAt struct {
	off int64
	gap Gap
}

// batch is the group of records one leader writes with one write call
// and (FsyncDelay 0) one fsync. Its fields are guarded by WAL.mu.
type batch struct {
	buf  []byte
	n    int
	done bool
	err  error
}

// maxSpareBuffer bounds the batch buffer kept for reuse, so one burst of
// huge records does not pin their memory for the life of the process.
const maxSpareBuffer = 4 << 20

// WAL is an open write-ahead log. All methods are safe for concurrent use.
type WAL struct {
	opts  Options
	dir   string
	log   *slog.Logger
	hooks hooks
	fs    fsys.FS // opens, truncations, renames, removals; writes and fsyncs go through hooks

	replaySegs []segmentInfo // segments found by Open, immutable

	mu      sync.Mutex
	cond    sync.Cond // signalled when busy is released or a batch completes
	busy    bool      // someone owns the current segment for I/O
	cur     *batch    // records waiting for the next leader
	spare   []byte
	fatal   error // sticky; wraps ErrFatal
	closing bool
	closed  bool
	segs    []uint64 // live segments, ascending; the last is current
	dirty   bool     // FsyncDelay: written but not yet handed to the syncer

	fileMu sync.Mutex // guards file/seg swaps against the syncer
	file   *os.File   // current segment; written only by the busy holder
	seg    uint64
	size   int64

	kick       chan struct{} // FsyncDelay: data was written
	stop       chan struct{}
	syncerDone chan struct{}

	removeMu sync.Mutex // serializes RemoveBefore

	bytesWritten, records, fsyncs, repairs          atomic.Uint64
	corruptions, bytesQuarantined, recordsRecovered atomic.Uint64
}

// Open opens the WAL in opts.Dir, creating it if needed, checks every
// segment and repairs damage (see the package doc), then starts a new
// segment for appends. Call Replay before the first Append.
func Open(opts Options) (*WAL, error) {
	h := osHooks
	if opts.FS != nil {
		h.writeAt, h.sync = opts.FS.WriteAt, opts.FS.Sync
	}
	return open(opts, h)
}

func open(opts Options, h hooks) (*WAL, error) {
	if opts.Dir == "" {
		return nil, errors.New("wal: open: no directory given")
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	opts.FsyncDelay = max(opts.FsyncDelay, 0)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if h.writeAt == nil {
		h.writeAt = osHooks.writeAt
	}
	if h.sync == nil {
		h.sync = osHooks.sync
	}
	if h.reader == nil {
		h.reader = osHooks.reader
	}
	w := &WAL{
		opts:  opts,
		dir:   opts.Dir,
		log:   opts.Logger.With("component", "wal", "dir", opts.Dir),
		hooks: h,
		fs:    fsys.Or(opts.FS),
		cur:   &batch{},
	}
	w.cond.L = &w.mu
	if err := w.makeDir(); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	segs, err := listSegments(w.dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	infos, err := w.check(segs)
	if err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	// Starting a fresh segment keeps every segment found above read-only,
	// so Replay never races with appends.
	next := uint64(1)
	if len(infos) > 0 {
		next = infos[len(infos)-1].num + 1
	}
	f, _, err := w.createSegment(next)
	if err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	w.file, w.seg, w.size = f, next, segmentHeaderSize
	for _, s := range infos {
		w.segs = append(w.segs, s.num)
	}
	w.segs = append(w.segs, next)
	w.replaySegs = infos
	if opts.FsyncDelay > 0 {
		w.kick = make(chan struct{}, 1)
		w.stop = make(chan struct{})
		w.syncerDone = make(chan struct{})
		go w.syncLoop()
	}
	return w, nil
}

// makeDir creates Dir and makes its directory entry durable.
func (w *WAL) makeDir() error {
	if _, err := os.Stat(w.dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := w.fs.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(w.dir)
	if err != nil {
		return err
	}
	return w.syncDir(filepath.Dir(abs))
}

// check validates every segment and repairs damaged ones (see repair and
// docs/format/wal.md): a torn tail is cut off; any other damage keeps the
// original as *.corrupt and rewrites the segment with every record that
// still verifies, including those found after the damage. Later
// segments stay and are replayed. Each hole becomes a Gap that Replay
// reports before the first record after it. A segment that cannot be
// read (an I/O error, not bad bytes) is not truncated, since the error
// may be transient: its readable prefix is copied into a fresh segment
// and the original is kept as *.corrupt.
func (w *WAL) check(segs []uint64) ([]segmentInfo, error) {
	var infos []segmentInfo
	var buf []byte
	var pending []Gap // holes not yet followed by a record
	attach := func(info *segmentInfo, off int64) {
		for _, g := range pending {
			info.gaps = append(info.gaps, gapAt{off: off, gap: g})
		}
		pending = nil
	}
	for i, n := range segs {
		if i > 0 && n != segs[i-1]+1 {
			// RemoveBefore deletes oldest first, so a gap means files were
			// deleted by hand; the remaining records are still valid.
			w.log.Error("segments are not consecutive; replaying the ones present",
				"after", segs[i-1], "next", n)
			pending = append(pending, Gap{Segment: segs[i-1] + 1, Reason: fmt.Sprintf("segments %d to %d are missing", segs[i-1]+1, n-1)})
		}
		fileSize, err := w.scanSegment(n, &buf)
		if err == nil {
			info := segmentInfo{num: n, size: fileSize}
			if fileSize > segmentHeaderSize {
				attach(&info, segmentHeaderSize)
			}
			infos = append(infos, info)
			continue
		}
		var (
			ce *CorruptionError
			re *readError
		)
		switch {
		case errors.As(err, &ce):
			var data []byte
			data, err = w.readSegment(n, fileSize)
			if err == nil {
				info, gaps, rerr := w.repairDamaged(n, data)
				if rerr != nil {
					return nil, rerr
				}
				for _, ga := range gaps {
					if ga.off < 0 {
						pending = append(pending, ga.gap)
						continue
					}
					attach(&info, ga.off)
					info.gaps = append(info.gaps, ga)
				}
				infos = append(infos, info)
				continue
			}
			if !errors.As(err, &re) {
				return nil, err
			}
			// Readable during the scan, not now: salvage what the scan
			// had verified.
			re.off = min(re.off, ce.Offset)
		case errors.As(err, &re):
		default:
			return nil, err
		}
		keep := re.off
		if keep < segmentHeaderSize {
			keep = 0
		}
		kept, err := w.salvage(n, keep)
		if err != nil {
			return nil, err
		}
		w.repairs.Add(1)
		w.corruptions.Add(1)
		w.bytesQuarantined.Add(uint64(fileSize - keep))
		info := segmentInfo{num: n, size: keep}
		if keep > segmentHeaderSize {
			attach(&info, segmentHeaderSize)
		}
		infos = append(infos, info)
		pending = append(pending, Gap{Segment: n, Offset: keep, Bytes: fileSize - keep, KeptAs: kept, Reason: re.err.Error()})
		w.log.Error("segment unreadable: kept its readable prefix and the original; later segments are still replayed",
			"segment", n, "offset", re.off, "lost_bytes", fileSize-keep, "reason", re.err.Error(), "kept_as", kept)
	}
	return infos, nil
}

// repairDamaged repairs segment n (whose bytes are data), logs and counts
// what was lost and returns the gaps with their offsets in the repaired
// file (-1: no record follows in this segment).
func (w *WAL) repairDamaged(n uint64, data []byte) (segmentInfo, []gapAt, error) {
	r, err := w.repair(n, data)
	if err != nil {
		return segmentInfo{}, nil, err
	}
	w.repairs.Add(1)
	if r.torn {
		d := r.damaged[0]
		w.log.Warn("truncated the torn tail of a segment (a write cut short by a crash)",
			"segment", n, "offset", d.start, "dropped_bytes", d.end-d.start, "reason", r.reasons[0])
		return r.info, []gapAt{{off: -1, gap: Gap{Segment: n, Offset: d.start, Bytes: d.end - d.start, Reason: r.reasons[0]}}}, nil
	}
	var gaps []gapAt
	var lost int64
	recovered := 0
	for i, d := range r.damaged {
		g := Gap{Segment: n, Offset: d.start, Bytes: d.end - d.start, KeptAs: r.keptAs, Reason: r.reasons[i]}
		gaps = append(gaps, gapAt{off: r.firstAfter[i], gap: g})
		lost += g.Bytes
		if i < maxLoggedGaps {
			w.log.Error("corrupt bytes in a WAL segment: skipped them and kept reading",
				"segment", n, "offset", d.start, "lost_bytes", g.Bytes, "reason", g.Reason,
				"records_recovered_after", r.recovered[i], "kept_as", r.keptAs)
		}
	}
	if len(r.recovered) > 0 {
		recovered = r.recovered[0]
	}
	w.corruptions.Add(uint64(len(r.damaged)))
	w.bytesQuarantined.Add(uint64(lost))
	w.recordsRecovered.Add(uint64(recovered))
	msg := "repaired a corrupt WAL segment: rewrote it with every record that verifies; the original is kept"
	if r.gaveUp {
		msg = "repaired a corrupt WAL segment, but stopped searching for records after too much garbage; the original is kept"
	}
	w.log.Error(msg, "segment", n, "damaged_regions", len(r.damaged), "lost_bytes", lost,
		"records_recovered_after_damage", recovered, "kept_as", r.keptAs)
	return r.info, gaps, nil
}

// maxLoggedGaps bounds the per-region log lines of one segment: random
// garbage can make thousands of regions; the summary line counts them all.
const maxLoggedGaps = 16

// salvage replaces segment n by a copy of its first keep bytes and keeps
// the original as n.corrupt, whose name it returns. The copy is made
// durable before it replaces n in one rename, so a crash leaves n either
// original or salvaged.
func (w *WAL) salvage(n uint64, keep int64) (string, error) {
	in, err := os.Open(w.segmentPath(n))
	if err != nil {
		return "", fmt.Errorf("salvage segment %d: %w", n, err)
	}
	defer in.Close()
	kept, err := w.replaceSegment(n, func(out io.Writer) error {
		copied, err := io.Copy(out, io.LimitReader(w.hooks.reader(in), keep))
		if err == nil && copied != keep {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("copy %d readable bytes: %w", keep, err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("salvage segment %d: %w", n, err)
	}
	return kept, nil
}

// scanSegment reads segment n to its end and returns its file size, or
// a *CorruptionError locating the first invalid byte.
func (w *WAL) scanSegment(n uint64, buf *[]byte) (int64, error) {
	f, err := os.Open(w.segmentPath(n))
	if err != nil {
		return 0, fmt.Errorf("open segment %d: %w", n, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment %d: %w", n, err)
	}
	r := newSegmentReader(w.hooks.reader(f), n, fi.Size(), *buf)
	defer func() { *buf = r.buf }()
	if err := r.header(); err != nil {
		return fi.Size(), err
	}
	for {
		if _, err := r.next(); err == io.EOF {
			return fi.Size(), nil
		} else if err != nil {
			return fi.Size(), err
		}
	}
}

func (w *WAL) truncateSegment(n uint64, size int64) error {
	f, err := w.fs.OpenFile(w.segmentPath(n), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("repair segment %d: %w", n, err)
	}
	defer f.Close()
	if err := w.fs.Truncate(f, size); err != nil {
		return fmt.Errorf("repair segment %d: truncate to %d: %w", n, size, err)
	}
	w.fsyncs.Add(1)
	if err := w.hooks.sync(f); err != nil {
		return fmt.Errorf("repair segment %d: fsync: %w", n, err)
	}
	return nil
}

// Replay calls fn with every valid record found by Open, oldest first.
// rec is valid only during the call. Segments removed since Open are
// skipped; an error from fn stops the replay and is returned wrapped.
// Records after damage are replayed too; use ReplayWithGaps to learn
// where bytes were lost between them.
func (w *WAL) Replay(fn func(rec []byte) error) error { return w.ReplayWithGaps(fn, nil) }

// ReplayWithGaps is Replay that also calls gap (if not nil) just before
// the first record that follows bytes Open could not read, once per
// hole, in log order. Holes after the last record are not reported here
// (nothing follows them); Stats and the log count every one.
func (w *WAL) ReplayWithGaps(fn func(rec []byte) error, gap func(Gap) error) error {
	return w.ReplayAt(func(_ Position, rec []byte) error { return fn(rec) }, gap)
}

// Position is where a record starts in the log: for log lines that must
// let an operator find the bytes.
type Position struct {
	Segment uint64
	Offset  int64 // of the record's header in the segment file
}

func (p Position) String() string { return fmt.Sprintf("segment %d offset %d", p.Segment, p.Offset) }

// ReplayAt is ReplayWithGaps that also tells fn where each record is.
func (w *WAL) ReplayAt(fn func(pos Position, rec []byte) error, gap func(Gap) error) error {
	var buf []byte
	for _, s := range w.replaySegs {
		w.mu.Lock()
		_, live := slices.BinarySearch(w.segs, s.num)
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if !live {
			continue
		}
		var err error
		buf, err = w.replaySegment(s, buf, fn, gap)
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *WAL) replaySegment(s segmentInfo, buf []byte, fn func(Position, []byte) error, gap func(Gap) error) ([]byte, error) {
	f, err := os.Open(w.segmentPath(s.num))
	if err != nil {
		return buf, fmt.Errorf("wal: replay segment %d: %w", s.num, err)
	}
	defer f.Close()
	r := newSegmentReader(w.hooks.reader(f), s.num, s.size, buf)
	if err := r.header(); err != nil {
		return r.buf, err
	}
	gaps := s.gaps
	for {
		start := r.off
		rec, err := r.next()
		if err == io.EOF {
			return r.buf, nil
		}
		if err != nil {
			return r.buf, err
		}
		for len(gaps) > 0 && gaps[0].off <= start {
			if gap != nil {
				if err := gap(gaps[0].gap); err != nil {
					return r.buf, fmt.Errorf("wal: replay segment %d at offset %d: %w", s.num, start, err)
				}
			}
			gaps = gaps[1:]
		}
		if err := fn(Position{Segment: s.num, Offset: start}, rec); err != nil {
			return r.buf, fmt.Errorf("wal: replay segment %d at offset %d: %w", s.num, start, err)
		}
	}
}

// Append adds rec to the log and returns once it is durable: fsynced, or
// with FsyncDelay written to the OS. rec may be reused after Append
// returns. An fsync failure is returned wrapped with ErrFatal and every
// later Append fails the same way; a failed write (a full disk) is
// undone and only fails the records it carried.
func (w *WAL) Append(rec []byte) error {
	if len(rec) > MaxRecordSize {
		return fmt.Errorf("append %d bytes: %w", len(rec), ErrRecordTooLarge)
	}
	// The checksum is computed before taking the lock, so concurrent
	// writers checksum in parallel.
	var hdr [recordHeaderSize]byte
	putRecordHeader(&hdr, rec)

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.closed {
		return ErrClosed
	}
	if w.fatal != nil {
		return w.fatal
	}
	b := w.cur
	b.buf = append(append(b.buf, hdr[:]...), rec...)
	b.n++
	for !b.done {
		if w.fatal != nil {
			return w.fatal
		}
		if !w.busy {
			w.busy = true
			w.flushLocked()
			w.releaseLocked()
			continue
		}
		w.cond.Wait()
	}
	return b.err
}

func (w *WAL) acquireLocked() {
	for w.busy {
		w.cond.Wait()
	}
	w.busy = true
}

func (w *WAL) releaseLocked() {
	w.busy = false
	w.cond.Broadcast()
}

// flushLocked writes the queued batch (and fsyncs it unless FsyncDelay is
// set). The caller holds mu and the busy token; mu is released during I/O
// so that more records can queue for the next batch meanwhile.
func (w *WAL) flushLocked() {
	b := w.cur
	if b.n == 0 {
		return
	}
	if w.fatal != nil {
		// Never write after a failed fsync: fail the queued records too.
		b.done, b.err = true, w.fatal
		w.cur = &batch{}
		return
	}
	w.cur = &batch{buf: w.spare[:0]}
	w.spare = nil
	w.mu.Unlock()

	fatal, err := w.writeBatch(b.buf)
	if err == nil && w.opts.FsyncDelay == 0 {
		w.fsyncs.Add(1)
		if serr := w.hooks.sync(w.file); serr != nil {
			fatal, err = true, fmt.Errorf("fsync segment %d: %w", w.seg, serr)
			// Every record of the batch is answered with this error, but
			// its bytes may still be read back (from the page cache after
			// a kill -9): cut them off so a restart cannot replay writes
			// that were refused. No append follows a failed fsync.
			if terr := w.fs.Truncate(w.file, w.size-int64(len(b.buf))); terr == nil {
				w.size -= int64(len(b.buf))
			} else {
				w.log.Error("could not cut the unsynced batch off the segment; a restart may replay it",
					"segment", w.seg, "err", terr)
			}
		}
	}

	w.mu.Lock()
	if fatal {
		w.setFatalLocked(err)
		err = w.fatal
	} else if err != nil {
		err = fmt.Errorf("wal: %w", err)
	}
	if err == nil {
		w.records.Add(uint64(b.n))
		if w.opts.FsyncDelay > 0 && !w.dirty {
			w.dirty = true
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	}
	b.done, b.err = true, err
	if cap(b.buf) <= maxSpareBuffer {
		w.spare = b.buf[:0]
	}
	b.buf = nil
}

func (w *WAL) setFatalLocked(err error) {
	if w.fatal == nil {
		w.fatal = fmt.Errorf("%w: %w", ErrFatal, err)
		w.log.Error("fsync failed; refusing all further appends until restart", "err", err)
	}
	w.cond.Broadcast()
}

// writeBatch appends buf to the current segment, rolling first if buf
// would grow it past SegmentSize. The caller holds the busy token.
func (w *WAL) writeBatch(buf []byte) (fatal bool, err error) {
	if w.size > segmentHeaderSize && w.size+int64(len(buf)) > w.opts.SegmentSize {
		if fatal, err := w.rollFile(); err != nil {
			return fatal, err
		}
	}
	n, err := w.hooks.writeAt(w.file, buf, w.size)
	if err != nil {
		// Cut off whatever part did land, so the next batch starts at a
		// record boundary instead of behind a torn record.
		if terr := w.fs.Truncate(w.file, w.size); terr != nil {
			return true, fmt.Errorf("write segment %d: %w; undo partial write of %d bytes: %w", w.seg, err, n, terr)
		}
		return false, fmt.Errorf("write segment %d: %w", w.seg, err)
	}
	w.size += int64(n)
	w.bytesWritten.Add(uint64(n))
	return false, nil
}

// rollFile fsyncs the current segment, creates the next one durably and
// switches to it. The caller holds the busy token, not mu. The old
// segment is synced first so that a durable record in a later segment
// never sits behind a torn record in an earlier one.
func (w *WAL) rollFile() (fatal bool, err error) {
	old := w.seg
	w.fsyncs.Add(1)
	if err := w.hooks.sync(w.file); err != nil {
		return true, fmt.Errorf("fsync segment %d before roll: %w", old, err)
	}
	f, fatal, err := w.createSegment(old + 1)
	if err != nil {
		return fatal, err
	}
	w.fileMu.Lock()
	prev := w.file
	w.file, w.seg, w.size = f, old+1, segmentHeaderSize
	w.fileMu.Unlock()
	if err := prev.Close(); err != nil {
		w.log.Warn("close rolled segment", "segment", old, "err", err)
	}
	w.mu.Lock()
	w.segs = append(w.segs, old+1)
	w.mu.Unlock()
	return false, nil
}

// syncLoop fsyncs written data at most once per FsyncDelay. It syncs
// while appends keep writing, so a slow SD-card fsync does not stall them.
func (w *WAL) syncLoop() {
	defer close(w.syncerDone)
	last := time.Now()
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			return
		}
		if wait := time.Until(last.Add(w.opts.FsyncDelay)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-w.stop:
				t.Stop()
				return
			}
		}
		w.mu.Lock()
		w.dirty = false
		w.mu.Unlock()

		w.fileMu.Lock()
		seg := w.seg
		w.fsyncs.Add(1)
		err := w.hooks.sync(w.file)
		w.fileMu.Unlock()
		last = time.Now()
		if err != nil {
			w.mu.Lock()
			w.setFatalLocked(fmt.Errorf("fsync segment %d: %w", seg, err))
			w.mu.Unlock()
			return
		}
	}
}

// Roll writes out queued records, closes the current segment (fsynced)
// and starts segment next: every record whose Append returned before
// Roll was called is in a segment numbered below next.
func (w *WAL) Roll() (next uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.closed {
		return 0, ErrClosed
	}
	w.acquireLocked()
	defer w.releaseLocked()
	w.flushLocked()
	if w.fatal != nil {
		return 0, w.fatal
	}
	w.mu.Unlock()
	fatal, err := w.rollFile()
	w.mu.Lock()
	if err != nil {
		if fatal {
			w.setFatalLocked(err)
			return 0, w.fatal
		}
		return 0, fmt.Errorf("wal: roll: %w", err)
	}
	return w.seg, nil
}

// RemoveBefore deletes the segments numbered below seg, oldest first,
// once the engine has flushed their records to blocks, and fsyncs the
// directory. The current segment is never removed: seg beyond it is an
// error.
func (w *WAL) RemoveBefore(seg uint64) error {
	w.removeMu.Lock()
	defer w.removeMu.Unlock()
	w.mu.Lock()
	if w.closing || w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	current := w.segs[len(w.segs)-1]
	if seg > current {
		w.mu.Unlock()
		return fmt.Errorf("wal: remove before %d: current segment is %d", seg, current)
	}
	var victims []uint64
	for _, n := range w.segs {
		if n < seg {
			victims = append(victims, n)
		}
	}
	w.mu.Unlock()
	if len(victims) == 0 {
		return nil
	}

	removed := 0
	var rerr error
	for _, n := range victims {
		if err := w.fs.Remove(w.segmentPath(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rerr = fmt.Errorf("wal: remove segment %d: %w", n, err)
			break
		}
		removed++
	}
	w.mu.Lock()
	w.segs = slices.Delete(w.segs, 0, removed) // victims are a prefix; rolls only append
	w.mu.Unlock()
	if removed > 0 {
		if err := w.syncDir(w.dir); err != nil && rerr == nil {
			rerr = fmt.Errorf("wal: remove before %d: %w", seg, err)
		}
	}
	return rerr
}

// Segments lists the live segment numbers, ascending; the last is the
// one being appended to.
func (w *WAL) Segments() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.segs)
}

// Stats returns counters since Open.
func (w *WAL) Stats() Stats {
	return Stats{
		BytesWritten: w.bytesWritten.Load(),
		Records:      w.records.Load(),
		Fsyncs:       w.fsyncs.Load(),
		Repairs:      w.repairs.Load(),

		Corruptions:      w.corruptions.Load(),
		BytesQuarantined: w.bytesQuarantined.Load(),
		RecordsRecovered: w.recordsRecovered.Load(),
	}
}

// Close writes and fsyncs queued records, then closes the current
// segment. Appends that were already waiting complete; later calls
// return ErrClosed. Closing twice is not an error.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closing || w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closing = true
	w.mu.Unlock()
	if w.stop != nil {
		close(w.stop)
		<-w.syncerDone
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.acquireLocked()
	defer w.releaseLocked()
	w.flushLocked()
	err := w.fatal
	if err == nil && w.opts.FsyncDelay > 0 {
		w.fsyncs.Add(1)
		if serr := w.hooks.sync(w.file); serr != nil {
			w.setFatalLocked(fmt.Errorf("fsync segment %d: %w", w.seg, serr))
			err = w.fatal
		}
	}
	w.fileMu.Lock()
	if cerr := w.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close segment %d: %w", w.seg, cerr)
	}
	w.fileMu.Unlock()
	w.closed = true
	return err
}
