package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage/block"
)

// The head appends each value to its column's byte stream with a cheap,
// appendable encoding, so recent data costs a few bytes per value
// instead of 16, with no per-column buffers of raw values:
//
//	stream    := value*
//	value     := time value
//	time      := varint(t) for the first value, then varint(delta - previous delta)
//	float     := ctrl(1) byte*    XOR with the previous float: ctrl = leading zero
//	                              bytes << 4 | significant bytes; 0x00 = unchanged
//	integer   := varint(v - previous)      unsigned: the same on the bit pattern
//	boolean   := 0 | 1
//	string    := uvarint(len) bytes
//
// Regular 10 s timestamps cost 1 byte; counters and gauges 1-3 bytes;
// floats 1 byte when unchanged, up to 9 for noisy full-precision values.
// The block codecs, which search for the best scheme, run at flush.
type headStream struct {
	b         []byte
	n         int
	lastT     int64
	lastDelta int64
	lastNum   uint64
	// marks record the decoder's state every headMarkEvery values, so a
	// read of recent data (a dashboard's last hour, the last point)
	// starts near its range instead of decoding the whole column.
	marks []streamMark
	// spans[k] is the time span of the values between mark k-1 (or the
	// start) and mark k; openMin/openMax that of the values after the
	// last mark.
	spans            []timeSpan
	openMin, openMax int64
	// maxT is the latest time in the stream, whatever the order of
	// appends, and maxNum the value last written at that time: the
	// latest value, which lastpoint queries ask for, needs no decoding.
	maxT   int64
	maxNum uint64
}

// timeSpan is the smallest and largest time of a run of values.
type timeSpan struct{ min, max int64 }

// streamMark is the decoder state before value i, at byte off (t is the
// time of value i-1).
type streamMark struct {
	off, i   int
	t, delta int64
	num      uint64
}

// headMarkEvery trades memory (about 0.3 bytes per value) for how much
// of a column a read decodes before its range.
const headMarkEvery = 128

func (s *headStream) appendTime(t int64) {
	if s.n == 0 {
		s.b = binary.AppendVarint(s.b, t)
		s.lastT = t
		return
	}
	d := t - s.lastT
	s.b = binary.AppendVarint(s.b, d-s.lastDelta)
	s.lastDelta = d
	s.lastT = t
}

// appendValue appends one value of type typ (num: float bits, integer,
// unsigned or 0/1; str for strings).
func (s *headStream) appendValue(t int64, typ models.FieldType, num uint64, str string) {
	if s.n > 0 && s.n%headMarkEvery == 0 {
		s.marks = append(s.marks, streamMark{off: len(s.b), i: s.n, t: s.lastT, delta: s.lastDelta, num: s.lastNum})
		s.spans = append(s.spans, timeSpan{s.openMin, s.openMax})
	}
	if s.n == 0 || t >= s.maxT {
		s.maxT, s.maxNum = t, num
	}
	if s.n == 0 || s.n%headMarkEvery == 0 {
		s.openMin, s.openMax = t, t
	} else {
		s.openMin, s.openMax = min(s.openMin, t), max(s.openMax, t)
	}
	s.appendTime(t)
	switch typ {
	case models.Float:
		x := num ^ s.lastNum
		if s.n == 0 {
			x = num
		}
		if x == 0 {
			s.b = append(s.b, 0)
		} else {
			lead := bits.LeadingZeros64(x) / 8
			trail := bits.TrailingZeros64(x) / 8
			sig := 8 - lead - trail
			s.b = append(s.b, byte(lead<<4|sig))
			for i := 0; i < sig; i++ {
				s.b = append(s.b, byte(x>>(8*(7-lead-i))))
			}
		}
	case models.Integer, models.Unsigned:
		s.b = binary.AppendVarint(s.b, int64(num-s.lastNum))
	case models.Boolean:
		s.b = append(s.b, byte(num&1))
	case models.String:
		s.b = binary.AppendUvarint(s.b, uint64(len(str)))
		s.b = append(s.b, str...)
	}
	s.lastNum = num
	s.n++
}

var errHeadStream = errors.New("corrupt head stream")

// decodeRange appends to dst (whose type is the stream's) the values of
// the segments (runs between marks) whose time span overlaps [minT,
// maxT], in append order: a read of recent data decodes a few segments
// whatever the column's length, even when concurrent writers appended
// some values out of order. With exact, the stream must be in time order
// and only values within [minT, maxT] are kept (decoding stops past
// maxT); without it whole segments are appended and callers filter.
func (s *headStream) decodeRange(dst *block.Column, minT, maxT int64, exact bool) error {
	first, n := -1, 0
	for k := 0; k <= len(s.marks); k++ {
		if lo, hi := s.segSpan(k); hi >= minT && lo <= maxT {
			if first < 0 {
				first = k
			}
			n += headMarkEvery
		}
	}
	if first < 0 {
		return nil
	}
	if exact && minT == maxT {
		n = 1 // an instant: at most one value
	}
	dst.Grow(min(n, s.n))
	for k := first; k <= len(s.marks); k++ {
		lo, hi := s.segSpan(k)
		if hi < minT || lo > maxT {
			continue
		}
		var st streamMark // segment 0 starts from the zero state
		if k > 0 {
			st = s.marks[k-1]
		}
		end := s.n
		if k < len(s.marks) {
			end = s.marks[k].i
		}
		if err := s.decodeSegment(dst, st, end, minT, maxT, exact); err != nil {
			return err
		}
		if exact && hi > maxT {
			break
		}
	}
	return nil
}

// segSpan returns the time span of segment k (k == len(marks): the open
// segment after the last mark).
func (s *headStream) segSpan(k int) (int64, int64) {
	if k < len(s.spans) {
		return s.spans[k].min, s.spans[k].max
	}
	return s.openMin, s.openMax
}

// decodeSegment decodes values st.i..end-1 starting from the state st
// into dst; with exact, only those within [minT, maxT] (see decodeRange).
func (s *headStream) decodeSegment(dst *block.Column, st streamMark, end int, minT, maxT int64, exact bool) error {
	if dst.Type == models.Float {
		return s.decodeFloats(dst, st, end, minT, maxT, exact)
	}
	b := s.b[st.off:]
	t, delta, last := st.t, st.delta, st.num
	typ := dst.Type
	for i := st.i; i < end; i++ {
		v, n := binary.Varint(b)
		if n <= 0 {
			return errHeadStream
		}
		b = b[n:]
		if i == 0 {
			t = v
		} else {
			delta += v
			t += delta
		}
		if exact && t > maxT {
			return nil
		}
		keep := !exact || t >= minT
		switch typ {
		case models.Float:
			if len(b) == 0 {
				return errHeadStream
			}
			ctrl := b[0]
			b = b[1:]
			var x uint64
			if ctrl != 0 {
				lead, sig := int(ctrl>>4), int(ctrl&15)
				if sig > len(b) || lead+sig > 8 {
					return errHeadStream
				}
				for k := 0; k < sig; k++ {
					x |= uint64(b[k]) << (8 * (7 - lead - k))
				}
				b = b[sig:]
			}
			if i == 0 {
				last = x
			} else {
				last ^= x
			}
			if keep {
				dst.Floats = append(dst.Floats, math.Float64frombits(last))
			}
		case models.Integer, models.Unsigned:
			d, n := binary.Varint(b)
			if n <= 0 {
				return errHeadStream
			}
			b = b[n:]
			last += uint64(d)
			if !keep {
			} else if typ == models.Integer {
				dst.Integers = append(dst.Integers, int64(last))
			} else {
				dst.Unsigneds = append(dst.Unsigneds, last)
			}
		case models.Boolean:
			if len(b) == 0 {
				return errHeadStream
			}
			if keep {
				dst.Booleans = append(dst.Booleans, b[0]&1 != 0)
			}
			b = b[1:]
		case models.String:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errHeadStream
			}
			if keep {
				dst.Strings = append(dst.Strings, string(b[n:n+int(l)]))
			}
			b = b[n+int(l):]
		default:
			return errHeadStream
		}
		if keep {
			dst.Times = append(dst.Times, t)
		}
	}
	return nil
}

// decodeFloats is decodeSegment for floats, the bulk of a dashboard's
// reads: one loop without per-value type switches.
func (s *headStream) decodeFloats(dst *block.Column, st streamMark, end int, minT, maxT int64, exact bool) error {
	b := s.b[st.off:]
	t, delta, last := st.t, st.delta, st.num
	for i := st.i; i < end; i++ {
		v, n := binary.Varint(b)
		if n <= 0 || n >= len(b) {
			return errHeadStream
		}
		if i == 0 {
			t, last = v, 0
		} else {
			delta += v
			t += delta
		}
		ctrl := b[n]
		b = b[n+1:]
		if ctrl != 0 {
			lead, sig := int(ctrl>>4), int(ctrl&15)
			if sig > len(b) || lead+sig > 8 {
				return errHeadStream
			}
			var x uint64
			for k := 0; k < sig; k++ {
				x |= uint64(b[k]) << (8 * (7 - lead - k))
			}
			b = b[sig:]
			last ^= x
		}
		if exact {
			if t > maxT {
				return nil
			}
			if t < minT {
				continue
			}
		}
		dst.Times = append(dst.Times, t)
		dst.Floats = append(dst.Floats, math.Float64frombits(last))
	}
	return nil
}
