package encoding

import "encoding/binary"

// bitWriter appends bits most-significant first.
type bitWriter struct {
	buf []byte
	acc uint64 // the low n bits are pending
	n   uint
}

// write appends the low nb bits of v (nb <= 64).
func (w *bitWriter) write(v uint64, nb uint) {
	if nb == 0 {
		return
	}
	v &= uint64(1)<<nb - 1 // shifting by 64 gives 0, so the mask is all ones
	free := 64 - w.n
	if nb < free {
		w.acc = w.acc<<nb | v
		w.n += nb
		return
	}
	rest := nb - free
	w.acc = w.acc<<free | v>>rest
	w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc)
	w.acc = v & (uint64(1)<<rest - 1)
	w.n = rest
}

// flush writes the pending bits, zero-padded to a whole byte, and returns
// the buffer.
func (w *bitWriter) flush() []byte {
	if w.n > 0 {
		v := w.acc << (64 - w.n)
		for i := uint(0); i < (w.n+7)/8; i++ {
			w.buf = append(w.buf, byte(v>>56))
			v <<= 8
		}
	}
	w.acc, w.n = 0, 0
	return w.buf
}

// bitReader reads bits most-significant first and reports overruns.
type bitReader struct {
	src []byte
	acc uint64 // the low n bits are unread
	n   uint
}

// refill loads up to 8 more bytes; acc must have no unread bits.
func (r *bitReader) refill() bool {
	if len(r.src) >= 8 {
		r.acc = binary.BigEndian.Uint64(r.src)
		r.src = r.src[8:]
		r.n = 64
		return true
	}
	if len(r.src) == 0 {
		return false
	}
	r.acc = 0
	for _, b := range r.src {
		r.acc = r.acc<<8 | uint64(b)
	}
	r.n = uint(8 * len(r.src))
	r.src = nil
	return true
}

// read returns the next nb bits (nb <= 64).
func (r *bitReader) read(nb uint) (uint64, bool) {
	if nb <= r.n {
		r.n -= nb
		return (r.acc >> r.n) & (uint64(1)<<nb - 1), true
	}
	v := r.acc & (uint64(1)<<r.n - 1)
	need := nb - r.n
	if !r.refill() || need > r.n {
		return 0, false
	}
	r.n -= need
	return v<<need | (r.acc>>r.n)&(uint64(1)<<need-1), true
}

// bit returns the next single bit.
func (r *bitReader) bit() (uint64, bool) {
	if r.n == 0 && !r.refill() {
		return 0, false
	}
	r.n--
	return (r.acc >> r.n) & 1, true
}

// remaining reports how many unread bits are left.
func (r *bitReader) remaining() int { return int(r.n) + 8*len(r.src) }
