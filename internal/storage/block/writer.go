package block

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/encoding"
	"github.com/herdmon/herd/internal/storage/fsys"
)

// Writer writes one block file. It is not safe for concurrent use. Data
// chunks stream to disk through a small buffer; the writer keeps only the
// index in memory (a few bytes per chunk, see docs/format/block.md).
type Writer struct {
	path, tmp string
	fs        fsys.FS
	f         *os.File
	bw        *bufio.Writer
	off       int64 // bytes written so far
	err       error // sticky: once set, every call returns it
	closed    bool

	// Order checks and the series being written.
	started    bool
	lastSeries uint64
	lastField  string
	cur        seriesBuf

	names    map[string]uint64 // field name -> id in the name table
	nameList []string
	entries  []byte // finished series entries
	table    []byte // series table records

	minTime, maxTime int64
	points           uint64

	// Scratch buffers reused across chunks.
	tsBuf, valBuf, body, packed []byte
}

// seriesBuf collects the field metadata of the series being written; its
// entry is encoded when the next series starts or the file finishes.
type seriesBuf struct {
	id          uint64
	firstOffset int64
	fields      []fieldBuf
	chunks      []ChunkMeta // the chunks of all fields, in order
}

type fieldBuf struct {
	nameID  uint64
	typ     models.FieldType
	nchunks int
}

// Create starts a block file that Finish will make appear at path. Until
// then the data goes to path+".tmp", which Create truncates if a crash
// left one behind.
func Create(path string) (*Writer, error) { return CreateFS(nil, path) }

// CreateFS is Create writing through fs (nil: the OS).
func CreateFS(fs fsys.FS, path string) (*Writer, error) {
	fs = fsys.Or(fs)
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create block file: %w", err)
	}
	w := &Writer{
		path:    path,
		tmp:     tmp,
		fs:      fs,
		f:       f,
		bw:      bufio.NewWriterSize(fsys.Writer(fs, f), 64<<10),
		names:   make(map[string]uint64),
		minTime: math.MaxInt64,
		maxTime: math.MinInt64,
	}
	w.write([]byte(magic))
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	return w, nil
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(b)
	w.off += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write block file %s: %w", w.tmp, err)
	}
}

// WriteColumn adds the data of one field of one series. Calls must come in
// ascending (seriesID, field) order, fields compared as byte strings, each
// pair once. col's times must be strictly ascending, with one value per
// time; an empty column adds nothing. Columns longer than
// ChunkPoints are cut into several chunks. The writer does not keep col.
func (w *Writer) WriteColumn(seriesID uint64, field string, col *Column) error {
	if w.closed {
		return errors.New("write block column: writer is closed")
	}
	if w.err != nil {
		return w.err
	}
	if w.started && (seriesID < w.lastSeries || seriesID == w.lastSeries && field <= w.lastField) {
		return fmt.Errorf("write block column: series %d field %q out of order (after series %d field %q)",
			seriesID, field, w.lastSeries, w.lastField)
	}
	if err := checkColumn(col); err != nil {
		return fmt.Errorf("write block column: series %d field %q: %w", seriesID, field, err)
	}
	if !w.started || seriesID != w.lastSeries {
		w.endSeries()
		w.cur = seriesBuf{id: seriesID, firstOffset: w.off, fields: w.cur.fields[:0], chunks: w.cur.chunks[:0]}
	}
	w.started, w.lastSeries, w.lastField = true, seriesID, field
	n := col.Len()
	if n == 0 {
		return nil
	}
	id, ok := w.names[field]
	if !ok {
		id = uint64(len(w.nameList))
		w.names[field] = id
		w.nameList = append(w.nameList, field)
	}
	fb := fieldBuf{nameID: id, typ: col.Type}
	for start := 0; start < n; {
		end := chunkEnd(col, start)
		if err := w.writeChunk(col, start, end); err != nil {
			return err
		}
		fb.nchunks++
		start = end
	}
	w.cur.fields = append(w.cur.fields, fb)
	w.minTime = min(w.minTime, col.Times[0])
	w.maxTime = max(w.maxTime, col.Times[n-1])
	w.points += uint64(n)
	return w.err
}

// checkColumn rejects columns a reader could not return as they are.
func checkColumn(col *Column) error {
	if !validType(col.Type) {
		return fmt.Errorf("invalid field type %d", col.Type)
	}
	if got := col.valuesLen(); got != len(col.Times) {
		return fmt.Errorf("%d times but %d %s values", len(col.Times), got, col.Type)
	}
	for i := 1; i < len(col.Times); i++ {
		if col.Times[i] <= col.Times[i-1] {
			return fmt.Errorf("times not strictly ascending at point %d", i)
		}
	}
	return nil
}

// chunkEnd returns where the chunk that begins at start ends: after
// ChunkPoints points, or for strings once chunkStringBytes are in it.
func chunkEnd(col *Column, start int) int {
	end := min(col.Len(), start+ChunkPoints)
	if col.Type != models.String {
		return end
	}
	size := 0
	for i := start; i < end; i++ {
		size += len(col.Strings[i])
		if size >= chunkStringBytes {
			return i + 1
		}
	}
	return end
}

// writeChunk encodes points [start, end) of col as one chunk.
func (w *Writer) writeChunk(col *Column, start, end int) error {
	w.tsBuf = encoding.AppendTimestamps(w.tsBuf[:0], col.Times[start:end])
	switch col.Type {
	case models.Float:
		w.valBuf = encoding.AppendFloats(w.valBuf[:0], col.Floats[start:end])
	case models.Integer:
		w.valBuf = encoding.AppendIntegers(w.valBuf[:0], col.Integers[start:end])
	case models.Unsigned:
		w.valBuf = encoding.AppendUnsigneds(w.valBuf[:0], col.Unsigneds[start:end])
	case models.String:
		w.valBuf = encoding.AppendStrings(w.valBuf[:0], col.Strings[start:end])
	case models.Boolean:
		w.valBuf = encoding.AppendBooleans(w.valBuf[:0], col.Booleans[start:end])
	}
	raw := binary.AppendUvarint(w.body[:0], uint64(len(w.tsBuf)))
	raw = append(raw, w.tsBuf...)
	raw = append(raw, w.valBuf...)
	w.body = raw
	if len(raw) > maxChunkBytes {
		// Sticky: earlier chunks of this column are already written.
		w.err = fmt.Errorf("write block column: chunk of %d bytes exceeds limit %d", len(raw), maxChunkBytes)
		return w.err
	}

	chunk := append(w.packed[:0], chunkRaw)
	chunk = append(chunk, raw...)
	if zstdStage && len(raw) >= 64 {
		enc, _, err := zstdCoders()
		if err != nil {
			w.err = fmt.Errorf("write block column: zstd: %w", err)
			return w.err
		}
		// Compress behind the raw copy, then keep whichever is smaller.
		zstart := len(chunk)
		z := append(chunk, chunkZstd)
		z = binary.AppendUvarint(z, uint64(len(raw)))
		z = enc.EncodeAll(raw, z)
		if zstdWorth(len(raw), len(z)-zstart-1) {
			chunk = append(chunk[:0], z[zstart:]...)
		} else {
			chunk = z[:zstart]
		}
	}
	chunk = binary.LittleEndian.AppendUint32(chunk, crc(chunk))
	w.packed = chunk

	w.cur.chunks = append(w.cur.chunks, ChunkMeta{
		MinTime: col.Times[start],
		MaxTime: col.Times[end-1],
		Count:   end - start,
		Summary: summarize(col, start, end),
		typ:     col.Type,
		offset:  w.off,
		length:  int64(len(chunk)),
	})
	w.write(chunk)
	return w.err
}

// endSeries encodes the index entry of the series being written, if it has
// any data. Layout in docs/format/block.md.
func (w *Writer) endSeries() {
	if len(w.cur.fields) == 0 {
		return
	}
	start := len(w.entries)
	e := binary.AppendUvarint(w.entries, uint64(w.cur.firstOffset))
	base := w.cur.chunks[0].MinTime
	for _, c := range w.cur.chunks {
		base = min(base, c.MinTime)
	}
	e = binary.AppendVarint(e, base)
	e = binary.AppendUvarint(e, uint64(len(w.cur.fields)))
	chunks := w.cur.chunks
	for _, f := range w.cur.fields {
		e = binary.AppendUvarint(e, f.nameID)
		e = append(e, byte(f.typ))
		e = binary.AppendUvarint(e, uint64(f.nchunks))
		prev := base
		for i, c := range chunks[:f.nchunks] {
			// The first chunk is relative to the series' base time, the
			// others to the previous chunk's end; all deltas are >= 0.
			if i > 0 {
				prev = chunks[i-1].MaxTime
			}
			e = binary.AppendUvarint(e, uint64(c.MinTime)-uint64(prev))
			e = binary.AppendUvarint(e, uint64(c.MaxTime)-uint64(c.MinTime))
			e = binary.AppendUvarint(e, uint64(c.Count))
			e = binary.AppendUvarint(e, uint64(c.length))
			if hasSummary(f.typ) {
				e = appendSummary(e, &c.Summary, f.typ, c.MinTime)
			}
		}
		chunks = chunks[f.nchunks:]
	}
	e = binary.LittleEndian.AppendUint32(e, crc(e[start:]))
	w.entries = e
	w.table = binary.LittleEndian.AppendUint64(w.table, w.cur.id)
	w.table = binary.LittleEndian.AppendUint32(w.table, uint32(min(uint64(len(e)), maxEntriesLen)))
	if uint64(len(e)) > maxEntriesLen && w.err == nil {
		w.err = errors.New("write block file: index exceeds 4 GiB")
	}
	w.cur.fields = w.cur.fields[:0]
	w.cur.chunks = w.cur.chunks[:0]
}

// Finish writes the index and footer, fsyncs the file, renames it to its
// final path and fsyncs the directory, so that once Finish returns the file
// survives a power cut. On error the temporary file is removed.
func (w *Writer) Finish() error {
	if w.closed {
		return errors.New("finish block file: writer is closed")
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.endSeries()
	ft := footer{
		indexOffset: uint64(w.off),
		entriesLen:  uint64(len(w.entries)),
		seriesCount: uint64(len(w.table) / seriesRecLen),
		points:      w.points,
		minTime:     w.minTime,
		maxTime:     w.maxTime,
	}
	var names []byte
	names = binary.AppendUvarint(names, uint64(len(w.nameList)))
	for _, s := range w.nameList {
		names = binary.AppendUvarint(names, uint64(len(s)))
		names = append(names, s...)
	}
	ft.namesLen = uint64(len(names))
	sum := crc(w.entries)
	sum = crc32Update(sum, names)
	sum = crc32Update(sum, w.table)
	ft.indexCRC = sum
	w.write(w.entries)
	w.write(names)
	w.write(w.table)
	w.write(ft.append(nil))
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("write block file %s: %w", w.tmp, err)
		}
	}
	if w.err == nil {
		if err := w.fs.Sync(w.f); err != nil {
			w.err = fmt.Errorf("sync block file %s: %w", w.tmp, err)
		}
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		w.fs.Remove(w.tmp)
		return fmt.Errorf("close block file %s: %w", w.tmp, err)
	}
	if err := w.fs.Rename(w.tmp, w.path); err != nil {
		w.fs.Remove(w.tmp)
		return fmt.Errorf("rename block file: %w", err)
	}
	if err := fsys.SyncDir(w.fs, filepath.Dir(w.path)); err != nil {
		return fmt.Errorf("sync block directory: %w", err)
	}
	return nil
}

// Abort discards the file being written. It may be called after a failed
// Finish or instead of it; after a successful Finish it does nothing.
func (w *Writer) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	cerr := w.f.Close()
	if err := w.fs.Remove(w.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("abort block file: %w", err)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		return fmt.Errorf("abort block file: %w", cerr)
	}
	return nil
}
