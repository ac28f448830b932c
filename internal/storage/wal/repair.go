package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Gap describes bytes Open could not turn into records. ReplayWithGaps
// reports it just before the first record that follows it, so that a
// consumer whose records depend on earlier ones (a compression stream)
// can start afresh instead of decoding against missing history.
type Gap struct {
	Segment uint64 // segment that held the lost bytes
	Offset  int64  // their offset in the original segment file
	Bytes   int64  // how many; 0 when whole segments are missing from the numbering
	KeptAs  string // file name holding the original bytes ("" if none was kept)
	Reason  string
}

func (g Gap) String() string {
	return fmt.Sprintf("segment %d offset %d: %d bytes lost (%s)", g.Segment, g.Offset, g.Bytes, g.Reason)
}

// span is a byte range [start, end) of a segment file.
type span struct{ start, end int64 }

// parsedSegment is what a full scan of a damaged segment found.
type parsedSegment struct {
	records []span // valid records, in file order
	damaged []span // bytes that are not part of a valid record (the header counts as valid)
	reasons []string
	gaveUp  bool // the resync budget ran out; the rest of the segment is in the last damaged span
}

// resyncBudget bounds the bytes checksummed while looking for the next
// record after damage: every candidate offset whose length fits costs a
// CRC over that length, so garbage full of small lengths could otherwise
// cost quadratic time. Eight passes over the segment plus a constant
// covers any realistic damage; past it the rest stays in the kept copy.
func resyncBudget(size int64) int64 { return 8*size + 64<<20 }

// recordAt reports whether a whole, valid record starts at off.
func recordAt(data []byte, off int64) (end int64, ok bool, reason string) {
	left := int64(len(data)) - off
	if left < recordHeaderSize {
		return 0, false, "torn record header"
	}
	n := int64(binary.LittleEndian.Uint32(data[off:]))
	if n > MaxRecordSize {
		return 0, false, fmt.Sprintf("record length %d over the %d limit", n, MaxRecordSize)
	}
	if n > left-recordHeaderSize {
		return 0, false, fmt.Sprintf("record length %d past the end of the segment", n)
	}
	end = off + recordHeaderSize + n
	if recordCRC(data[off:off+4], data[off+recordHeaderSize:end]) != binary.LittleEndian.Uint32(data[off+4:]) {
		return 0, false, "checksum mismatch"
	}
	return end, true, ""
}

// parseSegment finds every valid record of a segment held in data: the
// valid prefix, then, after each damaged stretch, the next offset where a
// whole record with a valid length and checksum starts. A segment whose
// header is damaged is searched from its second byte.
func parseSegment(data []byte) parsedSegment {
	var p parsedSegment
	size := int64(len(data))
	if size == 0 {
		return p
	}
	budget := resyncBudget(size)
	pos := int64(segmentHeaderSize)
	if size < segmentHeaderSize || [7]byte(data[:7]) != segmentMagic {
		reason := "bad segment magic"
		if size < segmentHeaderSize {
			reason = "torn segment header"
		}
		next, ok := nextRecord(data, 1, &budget)
		p.gaveUp = !ok && budget < 0
		if !ok {
			next = size
		}
		p.damaged = append(p.damaged, span{0, next})
		p.reasons = append(p.reasons, reason)
		pos = next
	}
	for pos < size {
		end, ok, reason := recordAt(data, pos)
		if ok {
			p.records = append(p.records, span{pos, end})
			pos = end
			continue
		}
		next, found := nextRecord(data, pos+1, &budget)
		if !found {
			p.gaveUp = budget < 0
			next = size
		}
		p.damaged = append(p.damaged, span{pos, next})
		p.reasons = append(p.reasons, reason)
		pos = next
	}
	return p
}

// nextRecord returns the first offset at or after from where a valid
// record starts. A candidate is checksummed only if its length fits in
// the segment, and each checksum is paid from budget; when it runs out
// the search stops (budget is left negative).
func nextRecord(data []byte, from int64, budget *int64) (int64, bool) {
	size := int64(len(data))
	for off := from; off+recordHeaderSize <= size; off++ {
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		if n > MaxRecordSize || n > size-off-recordHeaderSize {
			continue
		}
		*budget -= recordHeaderSize + n
		if *budget < 0 {
			return 0, false
		}
		if _, ok, _ := recordAt(data, off); ok {
			return off, true
		}
	}
	return 0, false
}

// tornTail reports whether the only damage is at the end of the segment
// and looks like a write cut short, the normal result of a crash: fewer
// bytes than a header, a plausible length running past the end, or
// zeros (an extended or preallocated tail). Those bytes were never
// acknowledged, so they are cut off without keeping a copy.
func (p parsedSegment) tornTail(data []byte) bool {
	if len(p.damaged) != 1 || p.damaged[0].end != int64(len(data)) {
		return false
	}
	d := p.damaged[0].start
	left := int64(len(data)) - d
	if left < recordHeaderSize || !bytes.ContainsFunc(data[d:], func(r rune) bool { return r != 0 }) {
		return true
	}
	if d < segmentHeaderSize {
		return false // a damaged header followed by non-zero bytes is not a torn write
	}
	n := int64(binary.LittleEndian.Uint32(data[d:]))
	return n <= MaxRecordSize && n > left-recordHeaderSize
}

// readSegment reads all of segment n through the read hook.
func (w *WAL) readSegment(n uint64, size int64) ([]byte, error) {
	f, err := os.Open(w.segmentPath(n))
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", n, err)
	}
	defer f.Close()
	data := make([]byte, size)
	got, err := io.ReadFull(w.hooks.reader(f), data)
	if err != nil {
		return nil, &readError{seg: n, off: int64(got), err: err}
	}
	return data, nil
}

// repairResult is what repairing one segment did.
type repairResult struct {
	info      segmentInfo
	damaged   []span
	reasons   []string
	recovered []int // per damaged span: records found after it in this segment
	// firstAfter holds, per damaged span, the offset in the repaired
	// file of the first record after it, or -1 if none in this segment.
	firstAfter []int64
	keptAs     string
	torn       bool
	gaveUp     bool
}

// repair rewrites damaged segment n so that it holds exactly its valid
// records. A torn tail is cut off in place. Any other damage first keeps
// the original file as n.corrupt (n.corrupt.1, ... if taken) and then
// replaces n by header + valid records, written to n.tmp, fsynced and
// renamed over n, so a crash at any point leaves n whole: either the
// original or the repaired copy.
func (w *WAL) repair(n uint64, data []byte) (repairResult, error) {
	p := parseSegment(data)
	r := repairResult{damaged: p.damaged, reasons: p.reasons, gaveUp: p.gaveUp}
	for _, d := range p.damaged {
		count, first := 0, int64(-1)
		for i, rec := range p.records {
			if rec.start >= d.end {
				if first < 0 {
					first = int64(i)
				}
				count++
			}
		}
		r.recovered = append(r.recovered, count)
		r.firstAfter = append(r.firstAfter, first) // an index for now, an offset below
	}
	if p.tornTail(data) {
		keep := p.damaged[0].start
		if keep < segmentHeaderSize {
			keep = 0
		}
		if err := w.truncateSegment(n, keep); err != nil {
			return r, err
		}
		r.torn = true
		r.info = segmentInfo{num: n, size: keep}
		return r, nil
	}

	offsets := make([]int64, len(p.records))
	size := int64(segmentHeaderSize)
	for i, rec := range p.records {
		offsets[i] = size
		size += rec.end - rec.start
	}
	for i, idx := range r.firstAfter {
		if idx >= 0 {
			r.firstAfter[i] = offsets[idx]
		}
	}
	// Written straight from data, so a repair needs no second copy of
	// the segment in memory.
	kept, err := w.replaceSegment(n, func(out io.Writer) error {
		if _, err := out.Write(segmentHeader()); err != nil {
			return err
		}
		for _, rec := range p.records {
			if _, err := out.Write(data[rec.start:rec.end]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	r.keptAs = kept
	r.info = segmentInfo{num: n, size: size}
	return r, nil
}

// keepAsideDurably gives segment n a second name (see keepAside) and
// makes the kept copy's bytes durable: after a kill -9 they may still
// have been only in the page cache.
func (w *WAL) keepAsideDurably(n uint64) (string, error) {
	kept, err := w.keepAside(n)
	if err != nil {
		return "", err
	}
	f, err := os.Open(kept)
	if err != nil {
		return "", fmt.Errorf("keep segment %d aside: %w", n, err)
	}
	w.fsyncs.Add(1)
	err = w.hooks.sync(f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("keep segment %d aside: fsync %s: %w", n, filepath.Base(kept), err)
	}
	return kept, nil
}

// replaceSegment replaces segment n by what write writes and keeps the
// original as n.corrupt (n.corrupt.1, ... if taken), whose name it
// returns. The new contents go to n.tmp and are fsynced; only then is
// the original given its second name (and fsynced: after a kill -9 its
// bytes may have been only in the page cache) and n.tmp renamed over n,
// and the directory fsynced. A crash at any point leaves n whole, either
// the original or the replacement; a failed write leaves no copy.
func (w *WAL) replaceSegment(n uint64, write func(io.Writer) error) (string, error) {
	path := w.segmentPath(n)
	tmp := path + tmpSuffix
	f, err := w.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("rewrite segment %d: %w", n, err)
	}
	bw := bufio.NewWriterSize(&hookWriter{w: w, f: f}, readBufferSize)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		w.fsyncs.Add(1)
		err = w.hooks.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var kept string
	if err == nil {
		kept, err = w.keepAsideDurably(n)
	}
	if err == nil {
		err = w.fs.Rename(tmp, path)
	}
	if err != nil {
		w.fs.Remove(tmp)
		return "", fmt.Errorf("rewrite segment %d: %w", n, err)
	}
	return filepath.Base(kept), w.syncDir(w.dir)
}

// hookWriter appends to f through the writeAt hook, so tests can fail it.
type hookWriter struct {
	w   *WAL
	f   *os.File
	off int64
}

func (h *hookWriter) Write(p []byte) (int, error) {
	n, err := h.w.hooks.writeAt(h.f, p, h.off)
	h.off += int64(n)
	return n, err
}
