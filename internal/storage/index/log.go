package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// The log file; docs/format/index.md draws its bytes.
const (
	logName = "series.log"
	tmpName = "series.log.tmp"

	magic         = "herdsidx"
	formatVersion = 1
	headerLen     = 24 // magic, version, 3 reserved, next id, crc

	recCreate = 1
	recDelete = 2

	// flushSize is how much of new records CreateSeries buffers before
	// handing them to the kernel (without fsync): enough to make a burst
	// of new series cost few syscalls, small enough not to matter on a
	// 1 GB Pi.
	flushSize = 64 << 10

	// compactMinDead is the least garbage worth a rewrite. Below it, a
	// compaction would write more to the SD card than it frees.
	compactMinDead = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileSync is (*os.File).Sync; tests replace it to inject failures or to
// skip the cost of thousands of fsyncs.
var fileSync = (*os.File).Sync

// osFS is the OS with fileSync as its fsync, so tests that replace
// fileSync still see every fsync.
type osFS struct{ fsys.OS }

func (osFS) Sync(f *os.File) error { return fileSync(f) }

// errTorn marks a record that is incomplete or fails its checksum: the
// log ends before it.
var errTorn = errors.New("torn or corrupt record")

// Open opens (creating if needed) the index in dir and replays its log. A
// torn or corrupt tail is cut off with a warning: the series in it come
// back when the engine replays its WAL.
func Open(dir string, opts Options) (*Index, error) {
	ix := &Index{
		dir:          dir,
		path:         filepath.Join(dir, logName),
		max:          opts.MaxSeries,
		shared:       opts.Shared,
		logger:       opts.Logger,
		fs:           opts.FS,
		nextID:       1,
		keys:         newKeyTable(0),
		measurements: make(map[string]*measurement),
	}
	if ix.max == 0 {
		ix.max = DefaultMaxSeries
	}
	if ix.logger == nil {
		ix.logger = slog.Default()
	}
	if ix.fs == nil {
		ix.fs = osFS{}
	}
	if ix.shared == nil {
		ix.shared = NewShared(0)
	}
	if err := ix.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	// A leftover temp file is a compaction that did not finish; the log
	// it was to replace is still whole.
	if err := ix.fs.Remove(filepath.Join(dir, tmpName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open index: %w", err)
	}
	f, err := ix.fs.OpenFile(ix.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	ix.f = f
	if err := ix.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("open index %s: %w", ix.path, err)
	}
	// Series already in the log count even beyond a lowered limit: they
	// are loaded whatever the limits say.
	ix.shared.add(int64(ix.count), ix.weight)
	if ix.worthCompacting() {
		ix.syncMu.Lock()
		ix.wmu.Lock()
		err := ix.compactLocked()
		ix.wmu.Unlock()
		ix.syncMu.Unlock()
		if err != nil {
			ix.logger.Warn("index log: compaction failed, keeping the log", "path", ix.path, "err", err)
		}
	}
	return ix, nil
}

// load reads the header and replays the records, truncating a torn tail.
func (ix *Index) load() error {
	st, err := ix.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	var hdr [headerLen]byte
	if size >= headerLen {
		if _, err := ix.f.ReadAt(hdr[:], 0); err != nil {
			return fmt.Errorf("read header: %w", err)
		}
	}
	next, ok := parseHeader(hdr[:])
	if !ok {
		// A log shorter than its header, or holding only an unwritten
		// header, is a creation cut short: nothing was ever in it.
		// Anything longer is not ours to erase.
		if size > headerLen {
			return fmt.Errorf("%w: bad header", ErrCorrupt)
		}
		if size > 0 {
			ix.logger.Warn("index log: incomplete header, starting empty", "path", ix.path, "size", size)
		}
		return ix.writeNewHeader()
	}
	// The header's next id is a floor, not the first id in the file: a
	// compacted log starts with the surviving (older) series, and the
	// floor keeps the ids of deleted newer ones from coming back.
	defer func() { ix.nextID = max(ix.nextID, next) }()
	ix.size = headerLen

	r := bufio.NewReaderSize(io.NewSectionReader(ix.f, headerLen, size-headerLen), 64<<10)
	var (
		buf     []byte
		skipped int
		reason  error
	)
	for {
		var typ byte
		var n int64
		typ, buf, n, err = readRecord(r, size-ix.size, buf)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) {
			reason = err
			break
		}
		if err != nil {
			return fmt.Errorf("read log at offset %d: %w", ix.size, err)
		}
		if !ix.replay(typ, buf, n) {
			skipped++
		}
		ix.size += n
	}
	if skipped > 0 {
		ix.logger.Warn("index log: skipped invalid records", "path", ix.path, "records", skipped)
	}
	if ix.max > 0 && ix.count > ix.max {
		ix.logger.Warn("index: more series than max-series-per-database; new series will be refused",
			"series", ix.count, "limit", ix.max)
	}
	if ix.size < size {
		ix.logger.Warn("index log: truncating torn tail", "path", ix.path,
			"offset", ix.size, "dropped_bytes", size-ix.size, "reason", reason)
		if err := ix.fs.Truncate(ix.f, ix.size); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
		if err := ix.fs.Sync(ix.f); err != nil {
			return fmt.Errorf("truncate torn tail: %w", err)
		}
	}
	return nil
}

func (ix *Index) writeNewHeader() error {
	hdr := appendHeader(nil, 1)
	if _, err := ix.fs.WriteAt(ix.f, hdr, 0); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := ix.fs.Truncate(ix.f, headerLen); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := ix.fs.Sync(ix.f); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	if err := fsys.SyncDir(ix.fs, ix.dir); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	ix.size = headerLen
	return nil
}

// replay applies one well-formed record at load. It reports false for a
// record whose checksum holds but whose content cannot be applied (an id
// out of order, a duplicate key): such a record is skipped, not trusted.
func (ix *Index) replay(typ byte, payload []byte, n int64) bool {
	switch typ {
	case recCreate:
		id, k := binary.Uvarint(payload)
		key := payload[max(k, 0):]
		if k <= 0 || id < ix.nextID || id > math.MaxUint32 || len(key) == 0 || len(key) > MaxKeyLen {
			ix.dead += n
			return false
		}
		if _, dup := ix.keys.find(bytesView(key), &ix.ids); dup {
			ix.dead += n
			return false
		}
		s := string(key)
		m, tags := parseKey(s, ix.tagsBuf[:0])
		ix.tagsBuf = tags
		ix.insert(uint32(id), s, m, tags)
		ix.nextID = id + 1
		return true
	case recDelete:
		ids, ok := decodeDelete(payload)
		ix.dead += n
		if !ok {
			return false
		}
		live := ids[:0]
		for _, id := range ids {
			if ix.keyLocked(uint64(id)) != "" {
				live = append(live, id)
			}
		}
		ix.remove(live)
		return true
	}
	return false
}

// remove deletes live series from memory and counts their create records
// as dead. Postings go first, so that every id a reader finds in a
// posting list still has a key. Called with wmu held.
func (ix *Index) remove(ids []uint32) {
	if len(ids) == 0 {
		return
	}
	ix.postMu.Lock()
	for _, id := range ids {
		key := ix.keyLocked(uint64(id))
		ix.dead += int64(createRecordSize(id, len(key)))
		m, tags := parseKey(key, ix.tagsBuf[:0])
		ix.tagsBuf = tags
		mm := ix.measurements[m]
		if mm == nil {
			continue
		}
		mm.series.Remove(id)
		for _, t := range tags {
			values := mm.tags[t.Key]
			pl, ok := values[t.Value]
			if !ok {
				continue
			}
			pl.remove(id)
			if pl.empty() {
				delete(values, t.Value)
				if len(values) == 0 {
					delete(mm.tags, t.Key)
				}
			} else {
				values[t.Value] = pl
			}
		}
		if mm.series.IsEmpty() {
			delete(ix.measurements, m)
		}
	}
	ix.postMu.Unlock()

	ix.keysMu.Lock()
	for _, id := range ids {
		key := ix.ids.key(id)
		ix.keys.remove(key, id)
		ix.ids.set(id, "")
		ix.count--
		ix.weight -= Weight(len(key))
	}
	ix.keysMu.Unlock()
}

// Sync makes every series created so far durable. The engine calls it
// before writing a block that references series ids. A failed fsync is
// permanent (the kernel may have dropped the pages it could not write):
// from then on Sync and new series fail, and the engine should stop.
func (ix *Index) Sync() error {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.wmu.Lock()
	if ix.err != nil {
		err := ix.err
		ix.wmu.Unlock()
		return err
	}
	err := ix.flushLocked()
	f, need := ix.f, ix.unsynced
	ix.unsynced = false
	ix.wmu.Unlock()
	if err != nil {
		ix.wmu.Lock()
		ix.unsynced = ix.unsynced || need
		ix.wmu.Unlock()
		return fmt.Errorf("sync index: %w", err)
	}
	if !need {
		return nil
	}
	// The fsync runs without wmu, so new series are not held up by a slow
	// SD card; syncMu keeps compaction from swapping the file meanwhile.
	if err := ix.fs.Sync(f); err != nil {
		ix.wmu.Lock()
		ix.err = fmt.Errorf("sync index %s: %w", ix.path, err)
		err = ix.err
		ix.wmu.Unlock()
		return err
	}
	return nil
}

// flushLocked writes pending records to the file, without fsync. A failed
// or short write is cut back off the file, so the log never holds a
// partial record before later whole ones; the records stay pending.
func (ix *Index) flushLocked() error {
	if len(ix.pending) == 0 {
		return nil
	}
	n, err := ix.fs.WriteAt(ix.f, ix.pending, ix.size)
	if err != nil {
		if n > 0 {
			if terr := ix.fs.Truncate(ix.f, ix.size); terr != nil {
				ix.err = fmt.Errorf("index log %s: cannot cut back a failed write: %w", ix.path, terr)
				return ix.err
			}
		}
		return fmt.Errorf("write index log: %w", err)
	}
	ix.size += int64(n)
	ix.unsynced = true
	if cap(ix.pending) > 4*flushSize {
		ix.pending = nil // a big delete record; do not keep its buffer
	} else {
		ix.pending = ix.pending[:0]
	}
	return nil
}

// syncLocked flushes and fsyncs with wmu held (deletes and Close, which
// are rare and must be durable when they return).
func (ix *Index) syncLocked() error {
	if err := ix.flushLocked(); err != nil {
		return err
	}
	if !ix.unsynced {
		return nil
	}
	if err := ix.fs.Sync(ix.f); err != nil {
		ix.err = fmt.Errorf("sync index %s: %w", ix.path, err)
		return ix.err
	}
	ix.unsynced = false
	return nil
}

// Close makes everything durable and releases the file. Reads keep
// working on what is in memory; changes return ErrClosed.
func (ix *Index) Close() error {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.f == nil {
		return nil
	}
	err := ix.err
	if err == nil {
		err = ix.syncLocked()
	}
	if cerr := ix.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close index: %w", cerr)
	}
	ix.f = nil
	ix.err = ErrClosed
	ix.shared.add(-int64(ix.count), -ix.weight)
	return err
}

// DeleteSeries removes series (ids that are not live are ignored) and
// makes the removal durable before it returns. Their ids are not reused.
func (ix *Index) DeleteSeries(ids *roaring.Bitmap) error {
	if ids == nil || ids.IsEmpty() {
		return nil
	}
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.err != nil {
		return ix.err
	}
	var live []uint32
	it := ids.Iterator()
	for it.HasNext() {
		if id := it.Next(); ix.keyLocked(uint64(id)) != "" {
			live = append(live, id)
		}
	}
	return ix.deleteLocked(live)
}

// DropMeasurement removes every series of a measurement, durably.
func (ix *Index) DropMeasurement(name string) error {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.err != nil {
		return ix.err
	}
	var ids []uint32
	if mm := ix.measurements[name]; mm != nil { // stable under wmu
		ids = mm.series.ToArray()
	}
	return ix.deleteLocked(ids)
}

// deleteLocked removes live series, logs and syncs the removal, and
// compacts the log when it has become mostly garbage.
func (ix *Index) deleteLocked(ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	count, weight := ix.count, ix.weight
	ix.remove(ids)
	ix.shared.add(int64(ix.count-count), ix.weight-weight)
	start := len(ix.pending)
	ix.pending = appendDeleteRecord(ix.pending, ids)
	ix.dead += int64(len(ix.pending) - start)
	if err := ix.syncLocked(); err != nil {
		return fmt.Errorf("delete series: %w", err)
	}
	if ix.worthCompacting() {
		if err := ix.compactLocked(); err != nil {
			// The log is still whole and correct, only longer.
			ix.logger.Warn("index log: compaction failed, keeping the log", "path", ix.path, "err", err)
		}
	}
	return nil
}

func (ix *Index) worthCompacting() bool {
	return ix.dead >= compactMinDead && 2*ix.dead >= ix.size+int64(len(ix.pending))-headerLen
}

// Compact rewrites the log with only the live series. Deletes call it
// when at least half of the log is garbage; it is exported for tools and
// tests.
func (ix *Index) Compact() error {
	ix.syncMu.Lock()
	defer ix.syncMu.Unlock()
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	if ix.err != nil {
		return ix.err
	}
	return ix.compactLocked()
}

// compactLocked writes the live series to a temp file, fsyncs it, renames
// it over the log and fsyncs the directory, so that a crash at any point
// leaves either the old log or the new one. The header carries the next
// id, so ids of deleted series are never handed out again. Readers are
// not blocked: with wmu held nothing changes, and reading needs no lock.
// Called with syncMu and wmu held.
func (ix *Index) compactLocked() error {
	tmp := filepath.Join(ix.dir, tmpName)
	tf, err := ix.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("compact index: %w", err)
	}
	fail := func(err error) error {
		tf.Close()
		ix.fs.Remove(tmp)
		return fmt.Errorf("compact index: %w", err)
	}
	w := bufio.NewWriterSize(fsys.Writer(ix.fs, tf), 64<<10)
	size := int64(headerLen)
	w.Write(appendHeader(nil, ix.nextID))
	rec := ix.recBuf[:0]
	keys := newKeyTable(ix.count)
	ix.ids.each(func(id uint32, key string) {
		keys.insert(key, id)
		rec = appendCreateRecord(rec[:0], id, key)
		w.Write(rec)
		size += int64(len(rec))
	})
	ix.recBuf = rec[:0]
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := ix.fs.Sync(tf); err != nil {
		return fail(err)
	}
	if err := ix.fs.Rename(tmp, ix.path); err != nil {
		return fail(err)
	}
	old := ix.f
	ix.f, ix.size, ix.dead, ix.unsynced = tf, size, 0, false
	ix.pending = ix.pending[:0]
	old.Close()
	if err := fsys.SyncDir(ix.fs, ix.dir); err != nil {
		// The new log is in place but its name may not survive a power
		// cut; treat it like a failed fsync.
		ix.err = fmt.Errorf("compact index: sync dir: %w", err)
		return ix.err
	}
	// A table sized for the live series returns the memory of deleted
	// ones.
	ix.keysMu.Lock()
	ix.keys = keys
	ix.ids.dropEmpty(ix.nextID)
	ix.keysMu.Unlock()
	return nil
}

func appendHeader(dst []byte, nextID uint64) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, formatVersion, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, nextID)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func parseHeader(b []byte) (nextID uint64, ok bool) {
	if len(b) < headerLen || string(b[:8]) != magic || b[8] != formatVersion {
		return 0, false
	}
	if crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:24]) {
		return 0, false
	}
	nextID = binary.LittleEndian.Uint64(b[12:20])
	if nextID == 0 || nextID > math.MaxUint32+1 {
		return 0, false
	}
	return nextID, true
}

// appendCreateRecord appends: type | uvarint payload length | payload
// (uvarint id, key) | crc32c of everything before it.
func appendCreateRecord[K ~string | ~[]byte](dst []byte, id uint32, key K) []byte {
	start := len(dst)
	dst = append(dst, recCreate)
	dst = binary.AppendUvarint(dst, uint64(uvarintLen(uint64(id))+len(key)))
	dst = binary.AppendUvarint(dst, uint64(id))
	dst = append(dst, key...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func createRecordSize(id uint32, keyLen int) int {
	payload := uvarintLen(uint64(id)) + keyLen
	return 1 + uvarintLen(uint64(payload)) + payload + 4
}

// appendDeleteRecord appends a delete record: the payload is the count
// and the sorted ids, the first absolute, the rest as differences.
func appendDeleteRecord(dst []byte, ids []uint32) []byte {
	payload := make([]byte, 0, 1+2*len(ids))
	payload = binary.AppendUvarint(payload, uint64(len(ids)))
	prev := uint32(0)
	for _, id := range ids {
		payload = binary.AppendUvarint(payload, uint64(id-prev))
		prev = id
	}
	start := len(dst)
	dst = append(dst, recDelete)
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeDelete decodes a delete payload; ids must be strictly increasing.
func decodeDelete(p []byte) ([]uint32, bool) {
	count, n := binary.Uvarint(p)
	if n <= 0 || count > uint64(len(p)) { // every id takes at least a byte
		return nil, false
	}
	p = p[n:]
	ids := make([]uint32, 0, count)
	prev := uint64(0)
	for range count {
		d, n := binary.Uvarint(p)
		if n <= 0 || d == 0 || prev+d > math.MaxUint32 {
			return nil, false
		}
		prev += d
		ids = append(ids, uint32(prev))
		p = p[n:]
	}
	return ids, len(p) == 0
}

// readRecord reads one record into buf. It returns io.EOF at a clean end
// and errTorn (wrapped) for a record that is cut short, too long for the
// bytes left (remaining), of unknown type or failing its checksum. n is
// the record's size in the file.
func readRecord(r *bufio.Reader, remaining int64, buf []byte) (typ byte, payload []byte, n int64, err error) {
	typ, err = r.ReadByte()
	if err == io.EOF {
		return 0, buf, 0, io.EOF
	}
	if err != nil {
		return 0, buf, 0, err
	}
	if typ != recCreate && typ != recDelete {
		return 0, buf, 0, fmt.Errorf("%w: unknown type %d", errTorn, typ)
	}
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = typ
	hn := 1
	var length uint64
	for shift := uint(0); ; shift += 7 {
		if hn == len(head) {
			return 0, buf, 0, fmt.Errorf("%w: bad length", errTorn)
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, buf, 0, cutShort(err)
		}
		head[hn] = b
		hn++
		length |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
	}
	total := int64(hn) + 4
	if length > uint64(remaining) || total+int64(length) > remaining ||
		(typ == recCreate && length > binary.MaxVarintLen32+MaxKeyLen) {
		return 0, buf, 0, fmt.Errorf("%w: length %d beyond the log", errTorn, length)
	}
	total += int64(length)
	if uint64(cap(buf)) < length {
		buf = make([]byte, length)
	}
	buf = buf[:length]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, buf, 0, cutShort(err)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err != nil {
		return 0, buf, 0, cutShort(err)
	}
	crc := crc32.Update(crc32.Checksum(head[:hn], castagnoli), castagnoli, buf)
	if crc != binary.LittleEndian.Uint32(sum[:]) {
		return 0, buf, 0, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	return typ, buf, total, nil
}

// cutShort turns the end of the file inside a record into errTorn. Other
// read errors (EIO) pass through: they say nothing about the log's bytes,
// and truncating on them would throw away good series.
func cutShort(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: cut short", errTorn)
	}
	return err
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
