package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The disk buffer keeps batches no server accepted, in files called
// segments under one directory. A segment is a sequence of records:
//
//	+---------+---------+---------+-----------------+
//	| len u32 | pts u32 | crc u32 | payload (len B) |
//	+---------+---------+---------+-----------------+
//
// little endian; crc is CRC-32C of pts and payload; payload is one batch
// exactly as it is sent (gzip'd line protocol). Every append is fsynced
// before it returns, and a new segment's directory entry is fsynced too.
// On open, each segment is read up to its first bad record (a torn write
// after a power cut); the last segment is truncated there, so appends
// continue after the last good record.
//
// Acknowledged records are not rewritten: a segment is deleted once every
// record in it is sent. After a restart the records of the first segment
// are sent again; a batch carries its own timestamps, so a resend
// overwrites the same points on the server instead of duplicating them.

const (
	recordHeaderSize = 12
	// maxRecordSize bounds a record's payload so a corrupt length can
	// never make the decoder allocate or read without limit. A batch of
	// one collection is a few KiB compressed.
	maxRecordSize = 16 << 20
	segmentSuffix = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordInfo locates one record in a segment.
type recordInfo struct {
	off    int64 // of the payload
	size   int
	points int
}

// decodeRecords scans a segment's bytes and returns its valid records and
// the length of the valid prefix; decoding stops at the first record that
// is short, oversized or fails its checksum.
func decodeRecords(data []byte) (recs []recordInfo, valid int) {
	off := 0
	for len(data)-off >= recordHeaderSize {
		h := data[off : off+recordHeaderSize]
		n := binary.LittleEndian.Uint32(h[0:])
		pts := binary.LittleEndian.Uint32(h[4:])
		sum := binary.LittleEndian.Uint32(h[8:])
		if n == 0 || n > maxRecordSize || uint64(len(data)-off-recordHeaderSize) < uint64(n) {
			break
		}
		payload := data[off+recordHeaderSize : off+recordHeaderSize+int(n)]
		c := crc32.Update(0, castagnoli, h[4:8])
		if crc32.Update(c, castagnoli, payload) != sum {
			break
		}
		recs = append(recs, recordInfo{off: int64(off + recordHeaderSize), size: int(n), points: int(pts)})
		off += recordHeaderSize + int(n)
	}
	return recs, off
}

func appendRecord(dst []byte, points int, payload []byte) []byte {
	var h [recordHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], uint32(points))
	c := crc32.Update(0, castagnoli, h[4:8])
	binary.LittleEndian.PutUint32(h[8:], crc32.Update(c, castagnoli, payload))
	return append(append(dst, h[:]...), payload...)
}

type segment struct {
	id    uint64
	path  string
	size  int64
	recs  []recordInfo
	first uint64 // sequence number of recs[0]
	acked int    // records at the front already sent
}

// Record is one buffered batch handed to the sender.
type Record struct {
	Seq     uint64
	Points  int
	Payload []byte
}

// Buffer is the bounded on-disk queue of unsent batches. It is safe for
// concurrent use: the collector appends while the sender peeks and acks.
type Buffer struct {
	mu       sync.Mutex
	dir      string
	maxBytes int64
	segMax   int64
	segs     []*segment
	active   *os.File // the last segment, open for append
	nextSeq  uint64
	bytes    int64
	// dropped counts points discarded because the buffer was full or a
	// write failed.
	dropped int64
	// Discarded is the number of bytes of damaged records found and
	// skipped when the buffer was opened (torn tails, bit rot).
	Discarded int64
	// noSync skips fsync, for tests that check file contents, not
	// durability, and must stay fast.
	noSync bool
}

// ErrRecordTooLarge is returned by Append for a batch larger than the
// whole buffer or than maxRecordSize.
var ErrRecordTooLarge = errors.New("batch larger than the buffer")

// OpenBuffer opens (creating if needed) the buffer in dir, holding at most
// maxBytes of segments, and recovers what a crash left there.
func OpenBuffer(dir string, maxBytes int64) (*Buffer, error) {
	if maxBytes < 64<<10 {
		return nil, fmt.Errorf("buffer size %d: want at least 64KiB", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create buffer dir: %w", err)
	}
	// Segments of 1/16 of the buffer (at most 4 MiB) make "drop the
	// oldest" lose little at a time while keeping the file count small.
	segMax := min(maxBytes/16, 4<<20)
	b := &Buffer{dir: dir, maxBytes: maxBytes, segMax: segMax, nextSeq: 1}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read buffer dir: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		path := b.segPath(id)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read segment %d: %w", id, err)
		}
		recs, valid := decodeRecords(data)
		b.Discarded += int64(len(data) - valid)
		if valid < len(data) && i == len(ids)-1 {
			// A torn tail: cut it so that appends follow good data.
			if err := os.Truncate(path, int64(valid)); err != nil {
				return nil, fmt.Errorf("truncate torn segment %d: %w", id, err)
			}
		}
		if len(recs) == 0 {
			os.Remove(path)
			continue
		}
		s := &segment{id: id, path: path, size: int64(valid), recs: recs, first: b.nextSeq}
		b.nextSeq += uint64(len(recs))
		b.bytes += s.size
		b.segs = append(b.segs, s)
	}
	return b, nil
}

func (b *Buffer) segPath(id uint64) string {
	return filepath.Join(b.dir, fmt.Sprintf("%020d%s", id, segmentSuffix))
}

// Append stores one batch durably (fsynced) and returns how many points
// it had to drop, oldest first, to stay within the size limit.
func (b *Buffer) Append(points int, payload []byte) (dropped int, err error) {
	rec := appendRecord(make([]byte, 0, recordHeaderSize+len(payload)), points, payload)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(payload) > maxRecordSize || int64(len(rec)) > b.maxBytes/2 {
		b.dropped += int64(points)
		return points, ErrRecordTooLarge
	}
	for b.bytes+int64(len(rec)) > b.maxBytes && len(b.segs) > 0 {
		dropped += b.dropHeadLocked()
	}
	last := b.lastLocked()
	if last == nil || b.active == nil || last.size+int64(len(rec)) > b.segMax {
		if err := b.rollLocked(); err != nil {
			return dropped, err
		}
		last = b.lastLocked()
	}
	_, err = b.active.Write(rec)
	if err == nil {
		err = b.syncFile(b.active)
	}
	if err != nil {
		// The record may be partly or wholly in the file without being
		// durable: cut it off, and start the next append in a new
		// segment so in-memory offsets never disagree with the file.
		b.active.Truncate(last.size)
		b.active.Close()
		b.active = nil
		b.dropped += int64(points)
		return dropped, fmt.Errorf("append to segment %d: %w", last.id, err)
	}
	if len(last.recs) == 0 {
		last.first = b.nextSeq
	}
	last.recs = append(last.recs, recordInfo{off: last.size + recordHeaderSize, size: len(payload), points: points})
	last.size += int64(len(rec))
	b.bytes += int64(len(rec))
	b.nextSeq++
	return dropped, nil
}

func (b *Buffer) lastLocked() *segment {
	if len(b.segs) == 0 {
		return nil
	}
	return b.segs[len(b.segs)-1]
}

// rollLocked starts a new segment for appends.
func (b *Buffer) rollLocked() error {
	if b.active != nil {
		b.active.Close()
		b.active = nil
	}
	id := uint64(1)
	if l := b.lastLocked(); l != nil {
		id = l.id + 1
	}
	path := b.segPath(id)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create segment %d: %w", id, err)
	}
	if err := b.syncDirIfNeeded(); err != nil {
		f.Close()
		return err
	}
	b.active = f
	b.segs = append(b.segs, &segment{id: id, path: path, first: b.nextSeq})
	return nil
}

// dropHeadLocked deletes the oldest segment and returns the unsent points
// it held.
func (b *Buffer) dropHeadLocked() int {
	s := b.segs[0]
	pts := 0
	for _, r := range s.recs[s.acked:] {
		pts += r.points
	}
	b.removeHeadLocked()
	b.dropped += int64(pts)
	return pts
}

func (b *Buffer) removeHeadLocked() {
	s := b.segs[0]
	if len(b.segs) == 1 && b.active != nil {
		b.active.Close()
		b.active = nil
	}
	os.Remove(s.path)
	b.bytes -= s.size
	b.segs = b.segs[1:]
}

// Peek returns up to maxBytes of the oldest unsent records (at least one
// if any), in order, without removing them.
func (b *Buffer) Peek(maxBytes int) ([]Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Record
	total := 0
	for _, s := range b.segs {
		if s.acked == len(s.recs) {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return out, fmt.Errorf("open segment %d: %w", s.id, err)
		}
		for i := s.acked; i < len(s.recs); i++ {
			r := s.recs[i]
			if len(out) > 0 && total+r.size > maxBytes {
				f.Close()
				return out, nil
			}
			p := make([]byte, r.size)
			if _, err := f.ReadAt(p, r.off); err != nil && !errors.Is(err, io.EOF) {
				f.Close()
				return out, fmt.Errorf("read segment %d: %w", s.id, err)
			}
			out = append(out, Record{Seq: s.first + uint64(i), Points: r.points, Payload: p})
			total += r.size
		}
		f.Close()
	}
	return out, nil
}

// Ack marks every record up to and including seq as sent, deleting
// segments that hold nothing else. Records dropped meanwhile are skipped.
func (b *Buffer) Ack(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.segs) > 0 {
		s := b.segs[0]
		end := s.first + uint64(len(s.recs)) // one past the last
		if seq+1 >= end {
			s.acked = len(s.recs)
		} else if seq >= s.first {
			s.acked = max(s.acked, int(seq-s.first+1))
		}
		if s.acked < len(s.recs) {
			return
		}
		b.removeHeadLocked()
	}
}

// SkipHead drops the oldest segment (when it cannot be read) and returns
// the unsent points it held, which count as dropped.
func (b *Buffer) SkipHead() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.segs) == 0 {
		return 0
	}
	return b.dropHeadLocked()
}

// Stats reports the unsent records, points and bytes on disk, and the
// points dropped so far.
func (b *Buffer) Stats() (records, points int, bytes, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.segs {
		records += len(s.recs) - s.acked
		for _, r := range s.recs[s.acked:] {
			points += r.points
		}
	}
	return records, points, b.bytes, b.dropped
}

// Len returns the number of unsent records.
func (b *Buffer) Len() int {
	r, _, _, _ := b.Stats()
	return r
}

// Close closes the segment open for appends; everything appended is
// already on disk.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active != nil {
		err := b.active.Close()
		b.active = nil
		return err
	}
	return nil
}

func (b *Buffer) syncFile(f *os.File) error {
	if b.noSync {
		return nil
	}
	return f.Sync()
}

func (b *Buffer) syncDirIfNeeded() error {
	if b.noSync {
		return nil
	}
	return syncDir(b.dir)
}

// syncDir makes a created or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
