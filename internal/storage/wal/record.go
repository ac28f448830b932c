package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Format constants; docs/format/wal.md draws them.
const (
	// MaxRecordSize caps one record. The engine compresses each write
	// batch and the HTTP layer caps request bodies (25 MB in InfluxDB), so
	// real records are far smaller; the cap exists so a corrupt length can
	// never make replay allocate more than this on a 1 GB Pi.
	MaxRecordSize = 64 << 20

	// DefaultSegmentSize is small enough that a segment is cheap to drop
	// once the engine has flushed it, and large enough that a busy server
	// rolls (two fsyncs plus a directory fsync) only every few minutes.
	DefaultSegmentSize = 32 << 20

	recordHeaderSize  = 8 // length uint32 LE, crc32c uint32 LE
	segmentHeaderSize = 8 // "herdwal" + version byte
	formatVersion     = 1
)

var (
	segmentMagic = [7]byte{'h', 'e', 'r', 'd', 'w', 'a', 'l'}
	castagnoli   = crc32.MakeTable(crc32.Castagnoli)
)

// Errors callers may branch on.
var (
	// ErrRecordTooLarge is returned by Append for records over MaxRecordSize.
	ErrRecordTooLarge = errors.New("wal: record larger than MaxRecordSize")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
	// ErrFatal marks an fsync (or an undo of a failed write) that failed.
	// The kernel may already have dropped the dirty pages, so a retried
	// fsync could "succeed" without the data (the PostgreSQL fsync
	// lesson): the WAL refuses every later Append and the process should
	// restart, replaying what really reached the disk.
	ErrFatal = errors.New("wal: unusable after a failed fsync")
	// ErrUnsupportedVersion is returned by Open for segments written in a
	// newer format, which Open refuses rather than "repairs" away.
	ErrUnsupportedVersion = errors.New("wal: unsupported segment format version")
)

// CorruptionError reports where a segment stops holding valid records.
// Open repairs such segments; Replay returns it only if a segment was
// damaged after Open checked it.
type CorruptionError struct {
	Segment uint64
	Offset  int64 // first byte that is not part of a valid record
	Reason  string
}

// Error says which segment is damaged and where.
func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: segment %d corrupt at offset %d: %s", e.Segment, e.Offset, e.Reason)
}

// recordCRC is the checksum stored in a record header: CRC-32C over the
// 4 length bytes followed by the payload, so a damaged length is caught
// even when it still points inside the file.
func recordCRC(length []byte, payload []byte) uint32 {
	// The 4 length bytes go through the table by hand: handing a stack
	// array to crc32.Update makes it escape, one allocation per record.
	crc := ^uint32(0)
	for _, b := range length[:4] {
		crc = castagnoli[byte(crc)^b] ^ (crc >> 8)
	}
	return crc32.Update(^crc, castagnoli, payload)
}

// putRecordHeader fills hdr for payload.
func putRecordHeader(hdr *[recordHeaderSize]byte, payload []byte) {
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], recordCRC(hdr[0:4], payload))
}

// segmentHeader returns the bytes every segment starts with.
func segmentHeader() []byte {
	h := make([]byte, segmentHeaderSize)
	copy(h, segmentMagic[:])
	h[7] = formatVersion
	return h
}

// segmentReader decodes the records of one segment. It reads at most size
// bytes and never allocates more than the largest record that fits in
// them, so arbitrary input costs bounded memory.
type segmentReader struct {
	r    *bufio.Reader
	seg  uint64
	size int64 // bytes of the segment that may hold records
	off  int64 // bytes consumed so far; the end of the last valid record
	buf  []byte
	hdr  [max(recordHeaderSize, segmentHeaderSize)]byte // scratch, kept here so reads do not allocate
}

// readBufferSize keeps reads large on SD cards without holding much memory.
const readBufferSize = 128 << 10

func newSegmentReader(r io.Reader, seg uint64, size int64, buf []byte) *segmentReader {
	return &segmentReader{r: bufio.NewReaderSize(r, readBufferSize), seg: seg, size: size, buf: buf}
}

func (s *segmentReader) corrupt(reason string) error {
	return &CorruptionError{Segment: s.seg, Offset: s.off, Reason: reason}
}

// readFull reads exactly len(p) bytes; the size check before every call
// means a short read is a file that shrank under us: treat it as torn.
func (s *segmentReader) readFull(p []byte, what string) error {
	if _, err := io.ReadFull(s.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return s.corrupt("short read of " + what)
		}
		return &readError{seg: s.seg, off: s.off, err: err}
	}
	return nil
}

// readError is an I/O error (EIO from a failing SD card, say) rather
// than bad bytes: the data past off could not be read at all.
type readError struct {
	seg uint64
	off int64 // end of the last record read whole
	err error
}

func (e *readError) Error() string {
	return fmt.Sprintf("wal: read segment %d at offset %d: %v", e.seg, e.off, e.err)
}

func (e *readError) Unwrap() error { return e.err }

// header checks the segment header. An empty segment (created, then the
// process died before the header reached the disk) holds no records and
// is fine; anything else that is not our header is corruption at 0.
func (s *segmentReader) header() error {
	if s.size == 0 {
		return nil
	}
	if s.size < segmentHeaderSize {
		return s.corrupt("torn segment header")
	}
	h := s.hdr[:segmentHeaderSize]
	if err := s.readFull(h, "segment header"); err != nil {
		return err
	}
	if [7]byte(h[:7]) != segmentMagic {
		return s.corrupt("bad segment magic")
	}
	if h[7] != formatVersion {
		return fmt.Errorf("segment %d has format version %d, this build reads %d (written by a newer herd?): %w",
			s.seg, h[7], formatVersion, ErrUnsupportedVersion)
	}
	s.off = segmentHeaderSize
	return nil
}

// next returns the next record, valid until the following call; io.EOF at
// a clean end; *CorruptionError where the segment stops being valid.
func (s *segmentReader) next() ([]byte, error) {
	remaining := s.size - s.off
	if remaining == 0 {
		return nil, io.EOF
	}
	if remaining < recordHeaderSize {
		return nil, s.corrupt("torn record header")
	}
	h := s.hdr[:recordHeaderSize]
	if err := s.readFull(h, "record header"); err != nil {
		return nil, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	if n > MaxRecordSize {
		return nil, s.corrupt(fmt.Sprintf("record length %d over the %d limit", n, MaxRecordSize))
	}
	if n > remaining-recordHeaderSize {
		return nil, s.corrupt(fmt.Sprintf("record length %d past the end of the segment", n))
	}
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	rec := s.buf[:n]
	if err := s.readFull(rec, "record payload"); err != nil {
		return nil, err
	}
	if recordCRC(h[0:4], rec) != binary.LittleEndian.Uint32(h[4:8]) {
		return nil, s.corrupt("checksum mismatch")
	}
	s.off += recordHeaderSize + n
	return rec, nil
}
