package block

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/encoding"
)

// FieldInfo describes one field of one series in a block file.
type FieldInfo struct {
	Name   string
	Type   models.FieldType
	Chunks []ChunkMeta // ascending in time, not overlapping
}

// ChunkMeta locates one chunk: its time range and point count, which let a
// query skip it without reading it, and where it lies in the file. It is
// only valid with the Reader that returned it.
type ChunkMeta struct {
	MinTime, MaxTime int64 // times of the first and last point
	Count            int
	Summary          Summary

	typ            models.FieldType
	offset, length int64
}

// Type returns the type of the chunk's values.
func (m *ChunkMeta) Type() models.FieldType { return m.typ }

// Reader reads one block file. It is safe for concurrent use, except that
// Close must not race with other calls (the engine reference-counts open
// readers). Its memory is the footer, the field-name table and 12 bytes
// per series; index entries and chunks are read on demand.
type Reader struct {
	path  string
	f     io.ReaderAt // the file; tests pass bytes
	c     io.Closer
	size  int64
	ft    footer
	names []string
	table []byte // seriesCount records: id uint64, entry end uint32
	// summaries is true from format version 2: numeric chunks carry a
	// Summary in their index entry.
	summaries bool
	// id keys this reader's entries in cache, if one is set.
	id    uint64
	cache *EntryCache

	// damage is the first *CorruptError found after Open, kept because
	// Fields cannot return it.
	damage atomic.Pointer[CorruptError]
}

// Open opens a block file and checks its header, footer and the checksum of
// its whole index (read in small pieces, not kept). Damage is reported as a
// *CorruptError.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open block file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open block file %s: %w", path, err)
	}
	r, err := open(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	r.c = f
	return r, nil
}

// open checks and loads the file's index; f holds size bytes.
func open(path string, f io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{path: path, f: f, size: size}
	if r.size < int64(headerLen+footerLen) {
		return nil, r.corrupt(0, "file of %d bytes is too short", r.size)
	}
	var hdr [headerLen]byte
	if err := r.readAt(hdr[:], 0); err != nil {
		return nil, err
	}
	switch string(hdr[:]) {
	case magic:
		r.summaries = true
	case magicV1:
	default:
		return nil, r.corrupt(0, "bad header magic or unknown version")
	}
	fb := make([]byte, footerLen)
	if err := r.readAt(fb, r.size-footerLen); err != nil {
		return nil, err
	}
	ft, reason := parseFooter(fb, r.size)
	if reason == "" && string(fb[footerLen-len(magic):]) != string(hdr[:]) {
		reason = "footer and header versions differ"
	}
	if reason != "" {
		return nil, r.corrupt(r.size-footerLen, "%s", reason)
	}
	r.ft = ft

	// The names and the series table stay in memory; the entries are
	// only checksummed here and read again when a series is asked for.
	namesOff := int64(ft.indexOffset + ft.entriesLen)
	tableOff := namesOff + int64(ft.namesLen)
	tail := make([]byte, int64(ft.namesLen)+int64(ft.seriesCount)*seriesRecLen)
	if err := r.readAt(tail, namesOff); err != nil {
		return nil, err
	}
	sum, err := r.crcRange(int64(ft.indexOffset), int64(ft.entriesLen))
	if err != nil {
		return nil, err
	}
	if got := crc32Update(sum, tail); got != ft.indexCRC {
		return nil, r.corrupt(int64(ft.indexOffset), "index checksum mismatch (got %08x, want %08x)", got, ft.indexCRC)
	}
	names, tableB := tail[:ft.namesLen], tail[ft.namesLen:]
	if r.names, reason = parseNames(names); reason != "" {
		return nil, r.corrupt(namesOff, "%s", reason)
	}
	r.table = tableB
	var prevID uint64
	var prevEnd uint32
	for i := 0; i < r.seriesCount(); i++ {
		id, end := r.rec(i)
		if i > 0 && id <= prevID {
			return nil, r.corrupt(tableOff+int64(i)*seriesRecLen, "series ids not ascending")
		}
		// An entry holds at least its offset, base, field count and CRC.
		if int64(end)-int64(prevEnd) < 3+crcLen || uint64(end) > ft.entriesLen {
			return nil, r.corrupt(tableOff+int64(i)*seriesRecLen, "bad series entry bounds")
		}
		prevID, prevEnd = id, end
	}
	if uint64(prevEnd) != ft.entriesLen {
		return nil, r.corrupt(tableOff, "series entries do not fill the index")
	}
	return r, nil
}

func parseNames(b []byte) ([]string, string) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, "bad field name count"
	}
	b = b[k:]
	names := make([]string, n)
	for i := range names {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, "bad field name length"
		}
		names[i] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, "trailing bytes after field names"
	}
	return names, ""
}

// crcRange checksums n bytes at off through a small buffer.
func (r *Reader) crcRange(off, n int64) (uint32, error) {
	buf := make([]byte, min(n, 64<<10))
	var sum uint32
	for n > 0 {
		b := buf[:min(n, int64(len(buf)))]
		if err := r.readAt(b, off); err != nil {
			return 0, err
		}
		sum = crc32Update(sum, b)
		off += int64(len(b))
		n -= int64(len(b))
	}
	return sum, nil
}

// readAt reads len(b) bytes at off; a file shorter than expected is
// corruption, anything else an I/O error.
func (r *Reader) readAt(b []byte, off int64) error {
	_, err := r.f.ReadAt(b, off)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.corrupt(off, "unexpected end of file reading %d bytes", len(b))
	}
	return fmt.Errorf("read block file %s at %d: %w", r.path, off, err)
}

func (r *Reader) corrupt(off int64, format string, args ...any) *CorruptError {
	e := &CorruptError{Path: r.path, Offset: off, Reason: fmt.Sprintf(format, args...)}
	r.damage.CompareAndSwap(nil, e)
	return e
}

func (r *Reader) seriesCount() int { return len(r.table) / seriesRecLen }

func (r *Reader) rec(i int) (id uint64, end uint32) {
	b := r.table[i*seriesRecLen:]
	return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:])
}

// Path returns the file's path.
func (r *Reader) Path() string { return r.path }

// MinTime returns the time of the earliest point in the file. In a file
// with no series it is math.MaxInt64, after MaxTime.
func (r *Reader) MinTime() int64 { return r.ft.minTime }

// MaxTime returns the time of the latest point in the file (math.MinInt64
// in a file with no series).
func (r *Reader) MaxTime() int64 { return r.ft.maxTime }

// Size returns the file's size in bytes.
func (r *Reader) Size() int64 { return r.size }

// Points returns the number of points (values) in the file.
func (r *Reader) Points() int64 { return int64(min(r.ft.points, math.MaxInt64)) }

// SeriesIDs returns the ids of the series in the file, ascending, in a new
// slice.
func (r *Reader) SeriesIDs() []uint64 {
	ids := make([]uint64, r.seriesCount())
	for i := range ids {
		ids[i], _ = r.rec(i)
	}
	return ids
}

// Fields returns the fields of a series, ascending by name, or nil if the
// file does not hold the series. It reads the series' index entry from the
// file; if that entry is damaged (possible only if the file changed after
// Open checked it) it also returns nil, and Err reports the damage. Code
// that must not mistake damage for absence (compaction, which deletes its
// inputs) should call SeriesFields.
func (r *Reader) Fields(seriesID uint64) []FieldInfo {
	fs, _ := r.SeriesFields(seriesID)
	return fs
}

// SeriesFields is Fields with the error: a *CorruptError if the series'
// index entry is damaged, or an I/O error.
// The result is shared with other callers: it must not be modified.
func (r *Reader) SeriesFields(seriesID uint64) ([]FieldInfo, error) {
	if i, ok := r.find(seriesID); ok {
		return r.fieldsAt(i)
	}
	return nil, nil
}

// ScanSeriesFields is SeriesFields for passes over every series
// (compaction, rewrites): it neither uses nor fills the entry cache, so
// it does not evict the entries queries keep asking for.
func (r *Reader) ScanSeriesFields(seriesID uint64) ([]FieldInfo, error) {
	if i, ok := r.find(seriesID); ok {
		return r.readFieldsAt(i)
	}
	return nil, nil
}

// HasSeries reports whether the file holds data of seriesID, from the
// series table in memory.
func (r *Reader) HasSeries(seriesID uint64) bool {
	_, ok := r.find(seriesID)
	return ok
}

// find returns the series table index of seriesID.
func (r *Reader) find(seriesID uint64) (int, bool) {
	n := r.seriesCount()
	i := sort.Search(n, func(i int) bool {
		id, _ := r.rec(i)
		return id >= seriesID
	})
	if i == n {
		return 0, false
	}
	id, _ := r.rec(i)
	return i, id == seriesID
}

// SetEntryCache makes the reader keep the entries it decodes in c,
// shared with other readers. Call it before the reader is shared.
func (r *Reader) SetEntryCache(c *EntryCache) {
	r.id = readerIDs.Add(1)
	r.cache = c
}

// fieldsAt returns the decoded index entry of series record i, from the
// cache or the file. The result is shared: callers must not modify it.
func (r *Reader) fieldsAt(i int) ([]FieldInfo, error) {
	if r.cache == nil {
		return r.readFieldsAt(i)
	}
	k := entryKey{reader: r.id, series: i}
	if fs, ok := r.cache.get(k); ok {
		return fs, nil
	}
	fs, err := r.readFieldsAt(i)
	if err == nil {
		r.cache.put(k, fs)
	}
	return fs, err
}

// readFieldsAt reads and decodes the index entry of series record i.
func (r *Reader) readFieldsAt(i int) ([]FieldInfo, error) {
	var start uint32
	if i > 0 {
		_, start = r.rec(i - 1)
	}
	_, end := r.rec(i)
	off := int64(r.ft.indexOffset) + int64(start)
	bp := getBuf(int(end - start))
	defer putBuf(bp)
	b := *bp
	if err := r.readAt(b, off); err != nil {
		return nil, err
	}
	body := b[:len(b)-crcLen]
	if got, want := crc(body), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return nil, r.corrupt(off, "series entry checksum mismatch (got %08x, want %08x)", got, want)
	}
	fs, reason := r.decodeEntry(body)
	if reason != "" {
		return nil, r.corrupt(off, "series entry: %s", reason)
	}
	return fs, nil
}

// Err returns the first damage found in the file since Open (by Fields,
// SeriesFields, ReadChunk or Verify) as a *CorruptError, or nil.
func (r *Reader) Err() error {
	if e := r.damage.Load(); e != nil {
		return e
	}
	return nil
}

// decodeEntry decodes one series entry (without its CRC), checking every
// value against the file so that a damaged entry yields a reason, never a
// panic or a chunk outside the data region.
func (r *Reader) decodeEntry(b []byte) ([]FieldInfo, string) {
	d := decoder{b: b}
	offset := d.uvarint()
	base := d.varint()
	nfields := d.uvarint()
	if d.bad || nfields == 0 || nfields > uint64(len(d.b)) {
		return nil, "bad header"
	}
	dataEnd := uint64(r.ft.indexOffset)
	if offset < uint64(headerLen) || offset >= dataEnd {
		return nil, "chunk offset outside the data region"
	}
	fs := make([]FieldInfo, nfields)
	// Each chunk takes at least 4 bytes of the entry: one allocation
	// for all metas, never grown.
	metas := make([]ChunkMeta, 0, len(d.b)/4)
	for f := range fs {
		nameID := d.uvarint()
		typ := models.FieldType(d.byte())
		nchunks := d.uvarint()
		if d.bad || nameID >= uint64(len(r.names)) || !validType(typ) || nchunks == 0 || nchunks > uint64(len(d.b)) {
			return nil, fmt.Sprintf("bad field %d", f)
		}
		if f > 0 && r.names[nameID] <= fs[f-1].Name {
			return nil, "fields not ascending"
		}
		fs[f].Name, fs[f].Type = r.names[nameID], typ
		first := len(metas)
		prev := base
		for c := uint64(0); c < nchunks; c++ {
			delta, span, count, length := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
			if d.bad {
				return nil, "truncated chunk list"
			}
			if c > 0 && delta == 0 {
				return nil, "chunks overlap"
			}
			minT, ok1 := addTime(prev, delta)
			maxT, ok2 := addTime(minT, span)
			// Times are unique, so count points need a span >= count-1.
			if !ok1 || !ok2 || count == 0 || count > encoding.MaxValues || count-1 > span {
				return nil, "bad chunk time range or count"
			}
			if length < 1+1+crcLen || length > maxChunkBytes+16 || length > dataEnd-offset {
				return nil, "chunk outside the data region"
			}
			var sum Summary
			if r.summaries && hasSummary(typ) {
				var ok bool
				if sum, ok = d.summary(typ, minT, maxT); !ok {
					return nil, "bad chunk summary"
				}
			}
			metas = append(metas, ChunkMeta{MinTime: minT, MaxTime: maxT, Count: int(count), Summary: sum,
				typ: typ, offset: int64(offset), length: int64(length)})
			offset += length
			prev = maxT
		}
		fs[f].Chunks = metas[first:len(metas):len(metas)]
	}
	if len(d.b) != 0 {
		return nil, "trailing bytes"
	}
	return fs, ""
}

// addTime returns t+d and whether it stayed within int64.
func addTime(t int64, d uint64) (int64, bool) {
	// MaxInt64-t cannot overflow in uint64 arithmetic for any int64 t.
	if d > uint64(math.MaxInt64)-uint64(t) {
		return 0, false
	}
	return int64(uint64(t) + d), true
}

// decoder reads varints from an index entry; bad is set on the first
// malformed or missing value and every later read returns 0.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// bufPool holds chunk read and decompression buffers. Buffers above
// maxPooledBuf are left to the garbage collector so that one huge chunk
// does not pin its memory.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuf = 1 << 20

func getBuf(n int) *[]byte {
	p := bufPool.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, n)
	}
	*p = (*p)[:n]
	return p
}

func putBuf(p *[]byte) {
	if cap(*p) <= maxPooledBuf {
		bufPool.Put(p)
	}
}

// ReadChunk reads, checks and decodes one chunk into dst (after
// dst.Reset). A damaged chunk yields a *CorruptError and an empty dst,
// never wrong data: the chunk's CRC32-C, its point count, its first and
// last times and the order of its times are all checked.
func (r *Reader) ReadChunk(m ChunkMeta, dst *Column) error {
	dst.Reset(m.typ)
	if !validType(m.typ) || m.length < 1+1+crcLen || m.length > maxChunkBytes+16 ||
		m.offset < int64(headerLen) || m.offset > int64(r.ft.indexOffset)-m.length {
		return fmt.Errorf("read block chunk in %s: chunk meta not from this file", r.path)
	}
	bp := getBuf(int(m.length))
	defer putBuf(bp)
	b := *bp
	if err := r.readAt(b, m.offset); err != nil {
		return err
	}
	err := r.decodeChunk(b, m, dst)
	if err != "" {
		dst.Reset(m.typ)
		return r.corrupt(m.offset, "chunk: %s", err)
	}
	return nil
}

func (r *Reader) decodeChunk(b []byte, m ChunkMeta, dst *Column) string {
	body := b[:len(b)-crcLen]
	if got, want := crc(body), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return fmt.Sprintf("checksum mismatch (got %08x, want %08x)", got, want)
	}
	enc, body := body[0], body[1:]
	switch enc {
	case chunkRaw:
	case chunkZstd:
		rawLen, k := binary.Uvarint(body)
		if k <= 0 || rawLen > maxChunkBytes {
			return "bad raw length"
		}
		_, dec, err := zstdCoders()
		if err != nil {
			return "zstd: " + err.Error()
		}
		op := getBuf(int(rawLen))
		defer putBuf(op)
		out, err := dec.DecodeAll(body[k:], (*op)[:0])
		if err != nil || uint64(len(out)) != rawLen {
			return "zstd frame does not decode to its raw length"
		}
		body = out
	default:
		return fmt.Sprintf("unknown encoding %d", enc)
	}
	tsLen, k := binary.Uvarint(body)
	if k <= 0 || tsLen > uint64(len(body)-k) {
		return "bad timestamps length"
	}
	ts, vals := body[k:k+int(tsLen)], body[k+int(tsLen):]
	var err error
	if dst.Times, err = encoding.DecodeTimestamps(dst.Times, ts); err != nil {
		return err.Error()
	}
	switch m.typ {
	case models.Float:
		dst.Floats, err = encoding.DecodeFloats(dst.Floats, vals)
	case models.Integer:
		dst.Integers, err = encoding.DecodeIntegers(dst.Integers, vals)
	case models.Unsigned:
		dst.Unsigneds, err = encoding.DecodeUnsigneds(dst.Unsigneds, vals)
	case models.String:
		dst.Strings, err = encoding.DecodeStrings(dst.Strings, vals)
	case models.Boolean:
		dst.Booleans, err = encoding.DecodeBooleans(dst.Booleans, vals)
	}
	if err != nil {
		return err.Error()
	}
	n := len(dst.Times)
	if n == 0 || n != m.Count || dst.valuesLen() != n {
		return fmt.Sprintf("%d times and %d values, index says %d", n, dst.valuesLen(), m.Count)
	}
	if dst.Times[0] != m.MinTime || dst.Times[n-1] != m.MaxTime {
		return "times do not match the index"
	}
	for i := 1; i < n; i++ {
		if dst.Times[i] <= dst.Times[i-1] {
			return "times not ascending"
		}
	}
	return ""
}

// Verify reads and checks every index entry and every chunk, and that the
// chunks exactly tile the data region and agree with the footer: a scrub
// that finds damage before a query does. It uses one chunk of memory.
func (r *Reader) Verify() error {
	var col Column
	next := int64(headerLen)
	var points uint64
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	for i := 0; i < r.seriesCount(); i++ {
		fs, err := r.readFieldsAt(i)
		if err != nil {
			return err
		}
		for _, f := range fs {
			for _, m := range f.Chunks {
				if m.offset != next {
					return r.corrupt(m.offset, "chunk does not follow the previous one (expected offset %d)", next)
				}
				if err := r.ReadChunk(m, &col); err != nil {
					return err
				}
				if m.Summary.Valid && m.Summary != summarize(&col, 0, col.Len()) {
					return r.corrupt(m.offset, "chunk summary does not match its values")
				}
				next += m.length
				points += uint64(m.Count)
				minT, maxT = min(minT, m.MinTime), max(maxT, m.MaxTime)
			}
		}
	}
	if next != int64(r.ft.indexOffset) {
		return r.corrupt(next, "data region has %d unreferenced bytes", int64(r.ft.indexOffset)-next)
	}
	if points != r.ft.points || minT != r.ft.minTime || maxT != r.ft.maxTime {
		return r.corrupt(r.size-footerLen, "footer totals do not match the chunks")
	}
	return nil
}

// Close closes the file. Chunk metas from this reader become invalid.
func (r *Reader) Close() error {
	if r.c == nil {
		return nil
	}
	if err := r.c.Close(); err != nil {
		return fmt.Errorf("close block file %s: %w", r.path, err)
	}
	return nil
}
