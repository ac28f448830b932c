package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// WAL records are compressed as one zstd stream per WAL stretch between
// two rolls, each record a flushed block of it, so a record can refer
// back to everything written since the roll: series keys, field names
// and tags repeat from batch to batch and then cost almost nothing.
// Telegraf sends small batches (one host, one interval), which
// compressed one by one shrink about 40% less.
//
//	wal record := kind(1) zstd-blocks
//	kind       := walStreamStart (a new stream: the first record after
//	              Open or a roll) | walStreamNext (continues the stream)
//	stream     := (uvarint(len) group)*     group: see walrec.go
//
// Replay feeds a stream's records to one decoder. A stream can only be
// read from its start; the WAL only deletes whole stretches before a
// roll, and a damaged record ends its segment anyway (the WAL drops
// what follows it), so every stream replayed starts with its first
// record.
const (
	walStreamStart = 1
	walStreamNext  = 2
)

// walWindow bounds the back-references (and the decoder's memory).
const walWindow = 1 << 20

// walEncoder compresses commit groups into stream records.
type walEncoder struct {
	buf   bytes.Buffer
	enc   *zstd.Encoder
	fresh bool
	hdr   []byte
}

func newWALEncoder() *walEncoder {
	w := &walEncoder{fresh: true}
	w.enc, _ = zstd.NewWriter(&w.buf, zstd.WithEncoderLevel(walZstdLevel), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(walWindow), zstd.WithLowerEncoderMem(true))
	return w
}

// record compresses one group and returns a new WAL record.
func (w *walEncoder) record(group []byte) ([]byte, error) {
	w.buf.Reset()
	kind := byte(walStreamNext)
	if w.fresh {
		kind = walStreamStart
		w.fresh = false
	}
	w.buf.WriteByte(kind)
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
	return bytes.Clone(w.buf.Bytes()), nil
}

// restart begins a new stream: called at every WAL roll.
func (w *walEncoder) restart() {
	w.enc.Reset(&w.buf)
	w.fresh = true
}

func (w *walEncoder) close() { w.enc.Close() }

// walStreamReader turns WAL records back into groups: records are pushed
// in order; groups come out of fn, called from a goroutine of its own.
type walStreamReader struct {
	fn      func(group []byte) error
	pw      *io.PipeWriter
	done    chan error
	lastErr error
	streams int
}

func newWALStreamReader(fn func(group []byte) error) *walStreamReader {
	return &walStreamReader{fn: fn}
}

// push feeds one WAL record.
func (r *walStreamReader) push(rec []byte) error {
	if len(rec) == 0 {
		return errors.New("empty wal record")
	}
	switch rec[0] {
	case walStreamStart:
		r.endStream()
		r.startStream()
	case walStreamNext:
		if r.pw == nil {
			// The stream's start is gone (it cannot be, see above): its
			// records cannot be decoded.
			return errors.New("wal record continues a stream whose start is missing")
		}
	default:
		return fmt.Errorf("unknown wal record kind %d", rec[0])
	}
	if _, err := r.pw.Write(rec[1:]); err != nil {
		// The decoder stopped on an error; it is reported by finish.
		return nil
	}
	return nil
}

func (r *walStreamReader) startStream() {
	pr, pw := io.Pipe()
	r.pw = pw
	r.done = make(chan error, 1)
	r.streams++
	go func() {
		err := r.decode(pr)
		// Drain so the writer never blocks after a decoder error.
		io.Copy(io.Discard, pr)
		r.done <- err
	}()
}

func (r *walStreamReader) decode(pr io.Reader) error {
	dec, err := zstd.NewReader(pr, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(walWindow),
		zstd.WithDecoderMaxMemory(1<<28), zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, 64<<10)
	var group []byte
	for {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil // end of the stream's records (the frame is never closed)
			}
			return err
		}
		if n > maxGroupBytes*2 {
			return fmt.Errorf("wal group of %d bytes exceeds the limit", n)
		}
		if uint64(cap(group)) < n {
			group = make([]byte, n)
		}
		group = group[:n]
		if _, err := io.ReadFull(br, group); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil // a group whose record never became durable
			}
			return err
		}
		if err := r.fn(group); err != nil {
			return err
		}
	}
}

func (r *walStreamReader) endStream() {
	if r.pw == nil {
		return
	}
	r.pw.Close()
	if err := <-r.done; err != nil && r.lastErr == nil {
		r.lastErr = err
	}
	r.pw = nil
}

// finish ends the last stream and returns the first decode error.
func (r *walStreamReader) finish() error {
	r.endStream()
	return r.lastErr
}
