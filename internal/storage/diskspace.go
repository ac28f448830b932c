package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herdmon/herd/internal/storage/fsys"
)

// A full disk is the failure a Pi on an SD card meets most, and the one
// that used to need a restart: the WAL filled the disk, a flush needs room
// for block files before it can delete WAL segments, so nothing could
// ever shrink. The engine therefore keeps a disk state:
//
//   - entered when a WAL append or roll, a shard creation, a flush or a
//     compaction fails with ENOSPC, or when free space falls below
//     MinFreeDiskSpace (checked every second): one ERROR in the log, /health
//     fails, and writes are refused up front until free space is back above
//     the floor plus the reserve (without a floor they are tried, and fail
//     on their own while the disk is full);
//   - on entering, the emergency reserve file (a few MiB written at start,
//     CockroachDB's "ballast") is deleted, so a flush has room to write the
//     head's blocks, after which the WAL segments they cover are deleted;
//   - while in it, a background loop retries the flush with a capped
//     backoff; the state is left (one INFO) once a flush succeeds and free
//     space is back above the floor plus the reserve, which is recreated;
//   - the head is flushed early when free space would not hold its blocks,
//     and compactions wait while the disk cannot hold their output, so the
//     floor keeps room for flushes.
//
// Queries never write, so they keep working throughout.

// reserveFileName is the emergency reserve in the data directory. Deleting
// it by hand gives its bytes back at once.
const reserveFileName = "disk-reserve"

// Disk-state timing: free space is measured once per background tick;
// the recovery loop's retries back off from diskRetryMin to diskRetryMax
// (never a busy loop, never longer than diskRetryMax after space came
// back, since the tick also wakes it).
const (
	diskRetryMin = 100 * time.Millisecond
	diskRetryMax = 5 * time.Second
)

// diskState is the engine's view of its file system. refusing is read on
// the write path (one atomic load per batch); the rest changes rarely.
type diskState struct {
	full     atomic.Bool  // in the disk-full state
	refusing atomic.Bool  // writes refused up front (below the floor; or, while full, below resumeFree)
	free     atomic.Int64 // bytes available at the last measurement; -1: unknown
	total    atomic.Int64 // size of the file system; -1: unknown
	reserve  atomic.Int64 // bytes of the reserve file on disk

	mu    sync.Mutex
	cause string // what failed, for /health and refused writes
	since time.Time

	entered, recovered, refused atomic.Int64
	wake                        chan struct{} // try to recover now
	compactionsWaiting          atomic.Bool   // logged once per stretch
}

// DiskFullError refuses a write while free space is below the floor, or
// while the disk-full state has not yet been left.
type DiskFullError struct {
	Cause  string // what put the engine in the disk-full state
	Dir    string
	Free   int64 // bytes free at the last measurement
	Resume int64 // free bytes at which writes resume
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("disk nearly full: %d bytes free on the file system of %s, writes resume by themselves at %d "+
		"(min-free-disk-space plus disk-reserve); cause: %s", e.Free, e.Dir, e.Resume, e.Cause)
}

// isNoSpace reports whether err is the file system running out of space
// (or of quota, which the operator fixes the same way).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// diskFloor is the free space below which writes are refused (0: off):
// the configured floor, at most 1/32 of the file system (a setting sized
// for SD cards must not make a small partition unusable).
func (e *Engine) diskFloor() int64 {
	floor := max(e.opts.MinFreeDiskSpace, 0)
	if total := e.disk.total.Load(); total > 0 {
		floor = min(floor, total/32)
	}
	return floor
}

// reserveSize is the reserve file's size: the configured size, at most a
// sixteenth of the file system (a small card must not lose much of its
// room to it).
func (e *Engine) reserveSize() int64 {
	size := max(e.opts.DiskReserve, 0)
	if total := e.disk.total.Load(); total > 0 {
		size = min(size, total/16)
	}
	return size &^ (64<<10 - 1)
}

// measureDisk updates the free and total bytes of the data directory's
// file system; false when they cannot be measured.
func (e *Engine) measureDisk() (free int64, ok bool) {
	statfs := e.opts.statfs
	if statfs == nil {
		statfs = diskSpace
	}
	free, total, err := statfs(e.opts.Dir)
	if err != nil {
		e.disk.free.Store(-1)
		return 0, false
	}
	e.disk.free.Store(free)
	e.disk.total.Store(total)
	return free, true
}

// noteDiskError enters the disk-full state when err is a full disk; op
// names what failed, for the log.
func (e *Engine) noteDiskError(op string, err error) {
	if err != nil && isNoSpace(err) {
		e.enterDiskFull(op, err.Error())
	}
}

// enterDiskFull enters the disk-full state (once: later failures while
// in it are the same problem) and wakes the recovery loop.
func (e *Engine) enterDiskFull(op, detail string) {
	e.disk.mu.Lock()
	if e.disk.full.Load() {
		e.disk.mu.Unlock()
		return
	}
	e.disk.cause = op + ": " + detail
	e.disk.since = time.Now()
	e.disk.full.Store(true)
	e.disk.entered.Add(1)
	e.disk.mu.Unlock()
	released := e.releaseReserve()
	if free, ok := e.measureDisk(); ok && e.diskFloor() > 0 && free < e.resumeFree() {
		// The released reserve is for the flush, not for more writes.
		e.disk.refusing.Store(true)
	}
	e.logger.Error("disk full: writes fail until space is freed; herd keeps retrying the flush and recovers by itself",
		"failed", op, "err", detail, "data_dir", e.opts.Dir, "free_bytes", e.disk.free.Load(),
		"min_free_disk_space", e.diskFloor(), "reserve_released_bytes", released,
		"action", "free space on the file system holding data_dir (remove other files, shorten retention policies or drop data); no restart is needed")
	select {
	case e.disk.wake <- struct{}{}:
	default:
	}
}

// DiskFull returns what put the engine in the disk-full state, or "".
func (e *Engine) DiskFull() string {
	if !e.disk.full.Load() {
		return ""
	}
	e.disk.mu.Lock()
	defer e.disk.mu.Unlock()
	return e.disk.cause
}

// refuseWrite returns the error for a write arriving while writes are
// refused up front, or nil.
func (e *Engine) refuseWrite() error {
	if !e.disk.refusing.Load() {
		return nil
	}
	e.disk.refused.Add(1)
	return &DiskFullError{Cause: e.DiskFull(), Dir: e.opts.Dir, Free: e.disk.free.Load(), Resume: e.resumeFree()}
}

// checkDisk runs at Open and once per background tick: it measures free
// space, enters the disk-full state below the floor, wakes the recovery
// loop when space is back, flushes early when the head's blocks would
// not fit above the floor, and (on ticks, so that Open does not wait for
// it) recreates the reserve when there is room.
func (e *Engine) checkDisk(tick bool) {
	free, ok := e.measureDisk()
	if !ok {
		return
	}
	floor := e.diskFloor()
	if floor > 0 && free < floor && !e.disk.full.Load() {
		e.enterDiskFull("free space check", fmt.Sprintf("%d bytes free, below min-free-disk-space %d", free, floor))
	}
	if e.disk.full.Load() {
		if floor > 0 && free < e.resumeFree() {
			e.disk.refusing.Store(true)
		}
		if free >= e.resumeFree() {
			select {
			case e.disk.wake <- struct{}{}:
			default:
			}
		}
		return
	}
	if head := e.headBytes.Load(); head > 0 && free < floor+2*head {
		// The flush needs about the head's size for its blocks, and the WAL
		// keeps growing until it is done: flush now, while it fits.
		select {
		case e.flushNow <- struct{}{}:
		default:
		}
	}
	if tick && e.disk.reserve.Load() == 0 && e.reserveSize() > 0 && free >= floor+2*e.reserveSize() {
		e.createReserve()
	}
}

// resumeFree is the free space at which the disk-full state may be left:
// the floor plus room to recreate the reserve, so that leaving does not
// put the disk straight back below the floor.
func (e *Engine) resumeFree() int64 { return max(e.diskFloor()+e.reserveSize(), minResumeFree) }

// minResumeFree is the least free space at which writes resume even with
// the floor and the reserve off: at zero bytes every write would fail
// again at once, and the state would flap.
const minResumeFree = 1 << 20

// diskRecoveryLoop retries the flush while the engine is in the disk-full
// state, with a backoff capped at diskRetryMax, and leaves the state once
// a flush succeeds and free space is back.
func (e *Engine) diskRecoveryLoop() {
	defer e.wg.Done()
	delay := diskRetryMin
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-e.closing:
			return
		case <-e.disk.wake:
		case <-timer.C:
		}
		if !e.disk.full.Load() {
			delay = diskRetryMin
			continue
		}
		if e.tryRecover() {
			delay = diskRetryMin
			continue
		}
		timer.Reset(delay)
		delay = min(2*delay, diskRetryMax)
	}
}

// tryRecover is one recovery attempt: flush what is in memory (so the WAL
// segments it covers are deleted), then leave the state if there is room.
func (e *Engine) tryRecover() bool {
	if e.headBytes.Load() > 0 || len(e.wal.Segments()) > 1 {
		if err := e.Flush(); err != nil {
			e.logger.Debug("disk full: flush retry failed", "err", err)
			return false
		}
	}
	free, ok := e.measureDisk()
	if ok && free < e.resumeFree() {
		return false
	}
	e.disk.refusing.Store(false)
	if ok && e.disk.reserve.Load() == 0 && e.reserveSize() > 0 && free >= e.diskFloor()+e.reserveSize() {
		e.createReserve()
	}
	e.disk.mu.Lock()
	since := e.disk.since
	e.disk.full.Store(false)
	e.disk.cause = ""
	e.disk.mu.Unlock()
	e.disk.recovered.Add(1)
	e.logger.Info("disk space recovered: flushes and writes succeed again", "data_dir", e.opts.Dir,
		"free_bytes", e.disk.free.Load(), "full_for", time.Since(since).Round(time.Millisecond).String())
	return true
}

// openReserve notes the reserve file left by an earlier run, and deletes
// it when the disk is already below the floor, so that opening the WAL
// (a new segment) and the first flush have room.
func (e *Engine) openReserve() {
	path := filepath.Join(e.opts.Dir, reserveFileName)
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	e.disk.reserve.Store(fi.Size())
	if free, ok := e.measureDisk(); ok && free < max(e.diskFloor(), 1<<20) {
		n := e.releaseReserve()
		e.logger.Warn("disk nearly full at start: released the emergency reserve so the WAL and a flush have room",
			"data_dir", e.opts.Dir, "free_bytes", free, "released_bytes", n)
	}
}

// releaseReserve deletes the reserve file and returns its size.
func (e *Engine) releaseReserve() int64 {
	n := e.disk.reserve.Load()
	if n == 0 {
		return 0
	}
	if err := e.fs.Remove(filepath.Join(e.opts.Dir, reserveFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.logger.Error("could not delete the emergency reserve file", "err", err)
		return 0
	}
	e.disk.reserve.Store(0)
	return n
}

// createReserve makes the reserve file with real blocks (not a sparse
// file, which would reserve nothing) and fsyncs it. A failure removes
// what was allocated: the reserve must never be the thing that fills the
// disk.
func (e *Engine) createReserve() {
	size := e.reserveSize()
	path := filepath.Join(e.opts.Dir, reserveFileName)
	err := func() error {
		f, err := e.fs.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		err = allocateReserve(e.fs, f, size)
		if err == nil {
			err = e.fs.Sync(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}()
	if err != nil {
		e.fs.Remove(path)
		e.logger.Warn("could not create the emergency reserve file; a full disk may then need space freed before a flush can complete",
			"path", path, "bytes", size, "err", err)
		return
	}
	e.disk.reserve.Store(size)
}

// writeZeros writes size zero bytes to f.
func writeZeros(fsys fsys.FS, f *os.File, size int64) error {
	zeros := make([]byte, 64<<10)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		if _, err := fsys.Write(f, zeros[:min(int64(len(zeros)), size-off)]); err != nil {
			return err
		}
	}
	return nil
}

// compactionFits reports whether the disk can hold a compaction's
// output (at most its inputs' size) above the floor; when it cannot, the
// compaction waits (logged once per stretch): a merge that fills the disk
// would only be thrown away.
func (e *Engine) compactionFits(s *shard, in []*blockFile) bool {
	free := e.disk.free.Load()
	if free < 0 {
		return true
	}
	var need int64
	for _, b := range in {
		need += b.r.Size()
	}
	if free >= need+e.diskFloor() {
		e.disk.compactionsWaiting.Store(false)
		return true
	}
	if !e.disk.compactionsWaiting.Swap(true) {
		e.logger.Warn("compaction waits for disk space", "shard", s.dir, "needs_bytes", need,
			"free_bytes", free, "min_free_disk_space", e.diskFloor())
	}
	return false
}

// addDiskStatistics adds the disk state to the engine's statistics.
func (e *Engine) addDiskStatistics(out map[string]int64) {
	full := int64(0)
	if e.disk.full.Load() {
		full = 1
	}
	out["diskFull"] = full
	out["diskFullEntered"] = e.disk.entered.Load()
	out["diskFullRecovered"] = e.disk.recovered.Load()
	out["diskFreeBytes"] = e.disk.free.Load()
	out["diskReserveBytes"] = e.disk.reserve.Load()
	out["writesRefusedDiskFull"] = e.disk.refused.Load()
}
