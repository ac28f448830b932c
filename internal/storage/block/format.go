// Package block reads and writes herd's immutable block files. A block file
// holds, for one shard of one database, the compressed columns of many
// series: for each series its fields, for each field its points cut into
// chunks of at most ChunkPoints points. The byte layout is documented in
// docs/format/block.md.
//
// Files are written once (Create, WriteColumn..., Finish) under a temporary
// name and renamed into place, so a reader never sees a partial file. A
// Reader keeps only the footer, the field-name table and a fixed 12 bytes
// per series in memory; per-series index entries and data chunks are read
// with ReadAt when asked. Every chunk, every index entry and the index as a
// whole carry a CRC32-C, and any damage is reported as a *CorruptError so
// the engine can quarantine the file.
package block

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// ChunkPoints is the most points a chunk holds. 1000 points of a 10 s
// series are 2.8 hours: big enough that per-chunk overhead (index entry,
// CRC, headers) stays small against the data, small enough that a query
// for a short range decodes little it does not need.
const ChunkPoints = 1000

// chunkStringBytes also ends a chunk of strings once this many string bytes
// are in it, so one chunk of long strings stays small in memory.
const chunkStringBytes = 1 << 20

// maxChunkBytes bounds a chunk's stored and decompressed size. The writer
// refuses larger chunks (only a single string value near this size could
// make one) and the reader treats larger sizes as corruption, so a damaged
// length can never make it allocate more.
const maxChunkBytes = 64 << 20

const (
	// magic opens and closes every block file; its last byte is the
	// format version. Version 2 added chunk summaries to the series
	// entries; readers still read version 1.
	magic     = "HERDBLK\x02"
	magicV1   = "HERDBLK\x01"
	headerLen = 8 // len(magic)

	// footer: indexOffset, entriesLen, namesLen, seriesCount, points,
	// minTime, maxTime (8 bytes each), indexCRC, footerCRC (4 each),
	// magic (8).
	footerLen = 7*8 + 4 + 4 + 8

	// seriesRecLen is one record of the series table: id (8) and the end
	// offset of its entry within the entries region (4).
	seriesRecLen = 12

	// A chunk is an encoding byte, a body and a CRC.
	chunkRaw  = 0 // body stored as is
	chunkZstd = 1 // uvarint raw length, then one zstd frame
	crcLen    = 4

	// maxEntriesLen bounds the entries region so series table offsets fit
	// in 32 bits.
	maxEntriesLen = 1<<32 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func crc32Update(sum uint32, b []byte) uint32 { return crc32.Update(sum, castagnoli, b) }

// CorruptError reports a damaged block file: where the damage was found
// and why it was judged damaged. The engine quarantines files that return
// it; other errors (I/O, closed file) are not about the file's contents.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

// Error returns a lowercase description with the path and offset.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt block file %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// footer is the fixed-size tail of a block file.
type footer struct {
	indexOffset uint64 // start of the index: entries, names, series table
	entriesLen  uint64
	namesLen    uint64
	seriesCount uint64
	points      uint64
	minTime     int64
	maxTime     int64
	indexCRC    uint32 // over the whole index
}

func (f *footer) append(b []byte) []byte {
	start := len(b)
	b = binary.LittleEndian.AppendUint64(b, f.indexOffset)
	b = binary.LittleEndian.AppendUint64(b, f.entriesLen)
	b = binary.LittleEndian.AppendUint64(b, f.namesLen)
	b = binary.LittleEndian.AppendUint64(b, f.seriesCount)
	b = binary.LittleEndian.AppendUint64(b, f.points)
	b = binary.LittleEndian.AppendUint64(b, uint64(f.minTime))
	b = binary.LittleEndian.AppendUint64(b, uint64(f.maxTime))
	b = binary.LittleEndian.AppendUint32(b, f.indexCRC)
	b = binary.LittleEndian.AppendUint32(b, crc(b[start:]))
	return append(b, magic...)
}

// parseFooter checks the footer's magic and CRC and that its regions tile
// a file of size bytes exactly. It returns a reason on failure.
func parseFooter(b []byte, size int64) (footer, string) {
	var f footer
	if len(b) != footerLen {
		return f, "short footer"
	}
	if m := string(b[footerLen-len(magic):]); m != magic && m != magicV1 {
		return f, "bad footer magic or unknown version"
	}
	le := binary.LittleEndian
	if got, want := crc(b[:60]), le.Uint32(b[60:]); got != want {
		return f, fmt.Sprintf("footer checksum mismatch (got %08x, want %08x)", got, want)
	}
	f.indexOffset = le.Uint64(b[0:])
	f.entriesLen = le.Uint64(b[8:])
	f.namesLen = le.Uint64(b[16:])
	f.seriesCount = le.Uint64(b[24:])
	f.points = le.Uint64(b[32:])
	f.minTime = int64(le.Uint64(b[40:]))
	f.maxTime = int64(le.Uint64(b[48:]))
	f.indexCRC = le.Uint32(b[56:])
	// Every field is bounded by the file size before any sum, so the sums
	// below cannot overflow.
	limit := uint64(size)
	if f.indexOffset < uint64(headerLen) || f.indexOffset > limit || f.entriesLen > limit ||
		f.entriesLen > maxEntriesLen || f.namesLen > limit || f.seriesCount > limit/seriesRecLen {
		return f, "footer sizes exceed the file"
	}
	if f.indexOffset+f.entriesLen+f.namesLen+f.seriesCount*seriesRecLen+footerLen != limit {
		return f, "footer sizes do not match the file size"
	}
	if f.seriesCount > 0 && f.minTime > f.maxTime {
		return f, "footer time range is inverted"
	}
	return f, ""
}
