package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// WAL records are compressed as zstd streams, each record a flushed block
// of its stream, so a record can refer back to everything written since
// the stream started: series keys, field names and tags repeat from batch
// to batch and then cost almost nothing. Telegraf sends small batches
// (one host, one interval), which compressed one by one shrink about 40%
// less.
//
//	wal record := kind(1) check zstd-blocks
//	kind       := walStreamStart (a new stream) | walStreamNext (continues it)
//	check      := uvarint(seq) crc32c(4, little endian)
//	stream     := (uvarint(len) group)*     group: see walrec.go
//
// seq is the record's number within its stream (0 for the start) and the
// CRC-32C covers the group the record decodes to. A record can only be
// decoded with every record of its stream before it: replay checks seq
// (a missing record is found before anything is decoded) and the CRC (a
// record decoded against the wrong history is found after), logs the
// record and skips the rest of its stream, up to the next start.
//
// A stream starts after Open, at every roll, after any failed append (the
// failed record is cut off the file, so nothing may refer to it) and
// after walStreamRestartBytes of input, which bounds what one damaged
// record can take with it.
//
// walStreamStartV1 and walStreamNextV1 are records of older versions:
// the same without check, one stream per WAL stretch between rolls.
const (
	walStreamStartV1 = 1
	walStreamNextV1  = 2
	walStreamStart   = 3
	walStreamNext    = 4
)

// walWindow bounds the back-references (and the decoder's memory).
const walWindow = 1 << 20

// walStreamRestartBytes is the input after which the next record starts a
// new stream. Restarting costs the back-references of one record: on
// Telegraf-sized batches (BenchmarkWALStreamRestart) 0.1% more WAL bytes
// at 1 MiB (3.338 against 3.334 bytes/value never restarting; 64 KiB:
// 3.409). A damaged record loses at most the rest of its stream: 1 MiB of
// input is about 50,000 such values. Back-references reach at most
// walWindow (also 1 MiB) anyway.
const walStreamRestartBytes = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// walEncoder compresses commit groups into stream records.
type walEncoder struct {
	buf          bytes.Buffer
	enc          *zstd.Encoder
	fresh        bool
	seq          uint64 // number of the next record within the stream
	raw          int    // input bytes of the stream so far
	restartBytes int
	// stream numbers the streams this encoder has started, so the
	// appender can tell which records continue a broken one.
	stream uint64
	hdr    []byte
}

func newWALEncoder(restartBytes int) *walEncoder {
	w := &walEncoder{fresh: true, restartBytes: restartBytes}
	w.enc, _ = zstd.NewWriter(&w.buf, zstd.WithEncoderLevel(walZstdLevel), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(walWindow), zstd.WithLowerEncoderMem(true))
	return w
}

// record compresses one group and returns a new WAL record.
func (w *walEncoder) record(group []byte) ([]byte, error) {
	if !w.fresh && w.restartBytes > 0 && w.raw >= w.restartBytes {
		w.restart()
	}
	w.buf.Reset()
	kind := byte(walStreamNext)
	if w.fresh {
		kind = walStreamStart
		w.fresh = false
	}
	w.buf.WriteByte(kind)
	w.hdr = binary.AppendUvarint(w.hdr[:0], w.seq)
	w.hdr = binary.LittleEndian.AppendUint32(w.hdr, crc32.Checksum(group, castagnoli))
	w.buf.Write(w.hdr)
	w.hdr = binary.AppendUvarint(w.hdr[:0], uint64(len(group)))
	if _, err := w.enc.Write(w.hdr); err != nil {
		return nil, err
	}
	if _, err := w.enc.Write(group); err != nil {
		return nil, err
	}
	if err := w.enc.Flush(); err != nil {
		return nil, err
	}
	w.seq++
	w.raw += len(w.hdr) + len(group)
	return bytes.Clone(w.buf.Bytes()), nil
}

// restart begins a new stream.
func (w *walEncoder) restart() {
	w.enc.Reset(&w.buf)
	w.fresh = true
	w.seq = 0
	w.raw = 0
	w.stream++
}

func (w *walEncoder) close() { w.enc.Close() }

// groupCheck is what a record says about the group it decodes to, and
// where the record is (for the log).
type groupCheck struct {
	crc   uint32
	where string
}

// walStreamReader turns WAL records back into groups: records are pushed
// in order; groups come out of fn, called from a goroutine of its own.
// Damage is reported to bad (also from that goroutine), with the record's
// position; the rest of a damaged stream is skipped.
type walStreamReader struct {
	fn  func(group []byte) error
	bad func(where string, err error)

	pw      *io.PipeWriter
	done    chan error
	quit    chan struct{} // closed when the decoder stops
	checks  *checkQueue   // nil for version 1 streams
	nextSeq uint64        // of the next record in a checked stream
	broken  bool          // the current stream is damaged: skip to the next start

	lastErr error
	streams int
	records int          // records pushed
	applied atomic.Int64 // groups handed to fn (one per record)
}

// skipped is the number of records pushed but not applied. Call it after
// finish.
func (r *walStreamReader) skipped() int { return r.records - int(r.applied.Load()) }

func newWALStreamReader(fn func(group []byte) error, bad func(where string, err error)) *walStreamReader {
	return &walStreamReader{fn: fn, bad: bad}
}

// push feeds one WAL record; where names it in the log.
func (r *walStreamReader) push(rec []byte, where string) {
	r.records++
	if len(rec) == 0 {
		r.reject(where, errors.New("empty wal record"))
		return
	}
	kind, body := rec[0], rec[1:]
	switch kind {
	case walStreamStartV1:
		r.endStream()
		r.startStream(false)
	case walStreamNextV1:
		if r.pw == nil || r.checks != nil {
			r.reject(where, errors.New("wal record continues a stream whose start is missing"))
			return
		}
	case walStreamStart, walStreamNext:
		seq, n := binary.Uvarint(body)
		if n <= 0 || len(body) < n+4 {
			r.reject(where, errors.New("wal record header is truncated"))
			return
		}
		check := groupCheck{crc: binary.LittleEndian.Uint32(body[n:]), where: where}
		body = body[n+4:]
		if kind == walStreamStart {
			r.endStream()
			if seq != 0 {
				r.broken = true
				r.reject(where, fmt.Errorf("wal stream starts at record %d instead of 0", seq))
				return
			}
			r.startStream(true)
		} else {
			switch {
			case r.broken:
				return // reported with the damage that broke the stream
			case r.pw == nil || r.checks == nil:
				r.broken = true
				r.reject(where, errors.New("wal record continues a stream whose start is missing; skipping to the next stream start"))
				return
			case seq != r.nextSeq:
				r.broken = true
				r.endStream()
				r.reject(where, fmt.Errorf("wal record %d of its stream follows record %d: the records between are missing; skipping to the next stream start",
					seq, r.nextSeq-1))
				return
			}
		}
		r.nextSeq = seq + 1
		select {
		case <-r.quit:
			r.broken = true
			return
		default:
		}
		r.checks.put(check)
	default:
		r.reject(where, fmt.Errorf("unknown wal record kind %d", kind))
		return
	}
	// An error means the decoder stopped on an error, and reported it.
	r.pw.Write(body)
}

func (r *walStreamReader) reject(where string, err error) {
	r.bad(where, err)
}

func (r *walStreamReader) startStream(checked bool) {
	pr, pw := io.Pipe()
	r.pw = pw
	r.done = make(chan error, 1)
	r.quit = make(chan struct{})
	r.broken = false
	r.nextSeq = 1
	r.checks = nil
	if checked {
		r.checks = &checkQueue{}
	}
	r.streams++
	quit, checks := r.quit, r.checks
	go func() {
		err := r.decode(pr, checks)
		close(quit)
		// Drain so the writer never blocks after a decoder error.
		io.Copy(io.Discard, pr)
		r.done <- err
	}()
}

// errStreamDamaged ends a stream whose damage was already reported.
var errStreamDamaged = errors.New("wal stream damaged")

// checkQueue hands the checks of pushed records to the decoder. A check
// is queued before its record's bytes are written, so the decoder finds
// it queued once it has decoded the group; it never blocks the pusher
// (a damaged record may make the decoder wait for bytes of later ones).
type checkQueue struct {
	mu sync.Mutex
	q  []groupCheck
}

func (c *checkQueue) put(g groupCheck) {
	c.mu.Lock()
	c.q = append(c.q, g)
	c.mu.Unlock()
}

func (c *checkQueue) take() (groupCheck, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 {
		return groupCheck{}, false
	}
	g := c.q[0]
	c.q = c.q[1:]
	return g, true
}

func (r *walStreamReader) decode(pr io.Reader, checks *checkQueue) error {
	dec, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(walWindow),
		zstd.WithDecoderMaxMemory(1<<28), zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 64<<10)
	var group []byte
	var last groupCheck
	damaged := func(err error) error {
		where := last.where
		if where == "" {
			where = "stream"
		}
		r.bad(where, fmt.Errorf("%w; skipping to the next stream start", err))
		return errStreamDamaged
	}
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The end of the stream's records (the frame is never closed).
			if checks != nil {
				if c, ok := checks.take(); ok {
					last = c
					return damaged(errors.New("wal record does not decode to a whole group"))
				}
			}
			return nil
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if checks != nil {
				return damaged(fmt.Errorf("wal record does not decode: %w", err))
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		if n > maxGroupBytes*2 {
			err := fmt.Errorf("wal group of %d bytes exceeds the limit", n)
			if checks != nil {
				return damaged(err)
			}
			return err
		}
		if uint64(cap(group)) < n {
			group = make([]byte, n)
		}
		group = group[:n]
		if _, err := io.ReadFull(br, group); err != nil {
			if checks != nil {
				return damaged(fmt.Errorf("wal record does not decode: %w", err))
			}
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil // a group whose record never became durable
			}
			return err
		}
		if checks != nil {
			c, ok := checks.take()
			if !ok {
				return damaged(errors.New("wal stream holds more groups than records"))
			}
			last = c
			if got := crc32.Checksum(group, castagnoli); got != c.crc {
				return damaged(fmt.Errorf("wal record decodes to a group with checksum %08x, want %08x: it was decoded against the wrong history", got, c.crc))
			}
		}
		if err := r.fn(group); err != nil {
			return err
		}
		r.applied.Add(1)
	}
}

func (r *walStreamReader) endStream() {
	if r.pw == nil {
		return
	}
	r.pw.Close()
	if err := <-r.done; err != nil && !errors.Is(err, errStreamDamaged) && r.lastErr == nil {
		r.lastErr = err
	}
	r.pw = nil
}

// finish ends the last stream and returns the first decode error not
// already reported.
func (r *walStreamReader) finish() error {
	r.endStream()
	return r.lastErr
}
