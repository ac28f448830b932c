package encoding

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Float columns are lossless: every float64 bit pattern (NaN payloads, -0,
// ±Inf, subnormals) reads back identically. Schemes, tried in this order:
//   - floatConst: all values bit-identical;
//   - floatDecimal: every value is exactly m/10^k for an integer m and
//     k <= maxDecimalExp, checked with the very division the decoder does;
//     the m are stored as an integer column (percentages, integral gauges
//     and counters stored as floats);
//   - floatGorilla: Facebook Gorilla XOR coding (noisy measurements);
//   - floatBits: the bit patterns as an integer column (random walks);
//   - floatRaw: 8 bytes each, the ceiling.

// maxDecimalExp bounds the decimal scheme's exponent. 10^15 is exact in
// float64 and, with |m| < 2^53, m/10^k is the correctly rounded decimal,
// which is exactly what parsing the decimal text produced. That covers the
// up-to-15-significant-digit values Telegraf and most agents print.
const maxDecimalExp = 15

// maxExactInt is 2^53: integers below it convert to float64 exactly.
const maxExactInt = 1 << 53

var pow10 = func() (p [maxDecimalExp + 1]float64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// AppendFloats encodes vs bit-exactly and appends it to dst.
func AppendFloats(dst []byte, vs []float64) []byte {
	n := len(vs)
	if n == 0 {
		return appendHeader(dst, floatRaw, 0)
	}
	first := math.Float64bits(vs[0])
	constant := true
	for _, v := range vs[1:] {
		if math.Float64bits(v) != first {
			constant = false
			break
		}
	}
	if constant {
		dst = appendHeader(dst, floatConst, n)
		return binary.LittleEndian.AppendUint64(dst, first)
	}
	// Raw is the ceiling: a candidate must be shorter to be kept.
	p := picker{dst: dst, start: len(dst), best: 1 + uvarintLen(uint64(n)) + 8*n}
	p.try(func(dst []byte, limit int) ([]byte, bool) { return appendDecimal(dst, vs, limit) })
	// Gorilla spends 64 bits on the first value and a bit on each other
	// one; when decimal is already that small, skip the other schemes.
	if !p.held || p.best > 1+uvarintLen(uint64(n))+8+(n-1+7)/8 {
		p.try(func(dst []byte, limit int) ([]byte, bool) { return appendGorilla(dst, vs, limit) })
		p.try(func(dst []byte, limit int) ([]byte, bool) { return appendFloatBits(dst, vs, limit) })
	}
	if !p.held {
		return appendFloatRaw(p.dst[:p.start], vs)
	}
	return p.dst
}

// appendFloatBits stores the IEEE-754 bit patterns as an integer column,
// mapped by orderedBits so that the integers are ordered like the values.
// A random walk's steps then become integer deltas of about 50 bits, which
// pack tighter than Gorilla's XORs of whole mantissas, even across zero.
func appendFloatBits(dst []byte, vs []float64, limit int) ([]byte, bool) {
	sp := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(sp)
	keys := reinterpret[uint64, int64]((*sp)[:0])
	for _, v := range vs {
		keys = append(keys, orderedBits(math.Float64bits(v)))
	}
	*sp = reinterpret[int64, uint64](keys)
	return appendIntsLimit(append(dst, floatBits), keys, true, limit-1)
}

// orderedBits maps float64 bits to int64s ordered like the floats (-0 just
// below +0, NaNs at the ends). It is its own inverse.
func orderedBits(b uint64) int64 {
	return int64(b ^ uint64(int64(b)>>63)&math.MaxInt64)
}

func appendFloatRaw(dst []byte, vs []float64) []byte {
	dst = appendHeader(dst, floatRaw, len(vs))
	for _, v := range vs {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	}
	return dst
}

// decimalExp returns the smallest k >= from for which v is exactly
// float64(m)/10^k with |m| < 2^53, or -1.
func decimalExp(v float64, from int) int {
	if v == 0 {
		if math.Signbit(v) {
			return -1 // m/10^k is never -0
		}
		return from
	}
	for k := from; k <= maxDecimalExp; k++ {
		m := math.Round(v * pow10[k])
		if !(math.Abs(m) < maxExactInt) { // also catches NaN and ±Inf
			return -1
		}
		if m/pow10[k] == v {
			return k
		}
	}
	return -1
}

// appendDecimal appends vs in the decimal scheme, or reports that some
// value is not a short decimal.
func appendDecimal(dst []byte, vs []float64, limit int) ([]byte, bool) {
	k := 0
	for _, v := range vs {
		if k = decimalExp(v, k); k < 0 {
			return dst, false
		}
	}
	sp := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(sp)
	ms := reinterpret[uint64, int64]((*sp)[:0])
	p := pow10[k]
	for _, v := range vs {
		m := math.Round(v * p)
		// Verify with exactly the decoder's computation; the exponent scan
		// found a k that worked for each value alone, not all at this k.
		if math.Float64bits(float64(int64(m))/p) != math.Float64bits(v) {
			*sp = reinterpret[int64, uint64](ms)
			return dst, false
		}
		ms = append(ms, int64(m))
	}
	*sp = reinterpret[int64, uint64](ms)
	return appendIntsLimit(append(dst, floatDecimal, byte(k)), ms, true, limit-2)
}

// appendGorilla appends vs in the Gorilla XOR scheme: the first value in 64
// bits, then per value '0' if it repeats the previous one, '10' and the
// meaningful bits if the XOR fits the previous leading/trailing zero window,
// or '11', 5 bits of leading zeros, 6 bits of meaningful length (0 means 64)
// and the meaningful bits.
func appendGorilla(dst []byte, vs []float64, limit int) ([]byte, bool) {
	start := len(dst)
	dst = appendHeader(dst, floatGorilla, len(vs))
	w := bitWriter{buf: dst}
	prev := math.Float64bits(vs[0])
	w.write(prev, 64)
	lead, trail := uint(64), uint(0) // no window yet
	for i, v := range vs[1:] {
		if i%64 == 0 && len(w.buf)-start >= limit {
			return w.buf[:start], false // already longer than the best
		}
		cur := math.Float64bits(v)
		x := cur ^ prev
		prev = cur
		if x == 0 {
			w.write(0, 1)
			continue
		}
		l, t := uint(bits.LeadingZeros64(x)), uint(bits.TrailingZeros64(x))
		if l > 31 {
			l = 31
		}
		if lead != 64 && l >= lead && t >= trail {
			w.write(0b10, 2)
			w.write(x>>trail, 64-lead-trail)
			continue
		}
		lead, trail = l, t
		sig := 64 - l - t
		w.write(0b11<<11|uint64(l)<<6|uint64(sig&63), 13)
		w.write(x>>t, sig)
	}
	return w.flush(), true
}

// DecodeFloats appends the floats encoded in src to dst.
func DecodeFloats(dst []float64, src []byte) ([]float64, error) {
	if len(src) == 0 {
		return dst, corruptf("floats: empty input")
	}
	if src[0] == floatBits {
		start := len(dst)
		ints, err := decodeInts(reinterpret[float64, int64](dst), src[1:], "floats")
		for i := start; i < len(ints); i++ {
			ints[i] = orderedBits(uint64(ints[i]))
		}
		return reinterpret[int64, float64](ints), err
	}
	if src[0] == floatDecimal {
		if len(src) < 2 || src[1] > maxDecimalExp {
			return dst, corruptf("floats: bad decimal exponent")
		}
		p := pow10[src[1]]
		start := len(dst)
		ints, err := decodeInts(reinterpret[float64, int64](dst), src[2:], "floats")
		dst = reinterpret[int64, float64](ints)
		if err != nil {
			return dst[:start], err
		}
		if p == 1 { // integral floats: skip the division
			for i := start; i < len(dst); i++ {
				dst[i] = float64(int64(math.Float64bits(dst[i])))
			}
		} else {
			for i := start; i < len(dst); i++ {
				dst[i] = float64(int64(math.Float64bits(dst[i]))) / p
			}
		}
		return dst, nil
	}
	tag := src[0]
	n, rest, err := readCount(src[1:], "floats")
	if err != nil {
		return dst, err
	}
	switch tag {
	case floatRaw:
		if len(rest) != 8*n {
			return dst, corruptf("floats: %d raw values in %d bytes", n, len(rest))
		}
		dst = growFor(dst, n)
		for i := 0; i < n; i++ {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(rest[8*i:])))
		}
		return dst, nil
	case floatConst:
		if len(rest) != 8 {
			return dst, corruptf("floats: constant needs 8 bytes, has %d", len(rest))
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(rest))
		dst = growFor(dst, n)
		for i := 0; i < n; i++ {
			dst = append(dst, v)
		}
		return dst, nil
	case floatGorilla:
		return decodeGorilla(dst, rest, n)
	}
	return dst, corruptf("floats: unknown scheme 0x%02x", tag)
}

func decodeGorilla(dst []float64, src []byte, n int) ([]float64, error) {
	if n == 0 {
		return dst, corruptf("floats: empty gorilla column")
	}
	// The first value takes 64 bits and every other one at least 1.
	if n-1 > 8*len(src)-64 {
		return dst, corruptf("floats: %d values cannot fit in %d bytes", n, len(src))
	}
	start := len(dst)
	dst = growFor(dst, n)
	r := bitReader{src: src}
	prev, _ := r.read(64)
	dst = append(dst, math.Float64frombits(prev))
	lead, trail := uint(64), uint(0)
	fail := func(i int, why string) ([]float64, error) {
		return dst[:start], corruptf("floats: value %d: %s", i, why)
	}
	for i := 1; i < n; i++ {
		b, ok := r.bit()
		if !ok {
			return fail(i, "bit stream ends early")
		}
		if b == 0 {
			dst = append(dst, math.Float64frombits(prev))
			continue
		}
		if b, ok = r.bit(); !ok {
			return fail(i, "bit stream ends early")
		}
		if b == 1 {
			h, ok := r.read(11)
			if !ok {
				return fail(i, "bit stream ends early")
			}
			l, sig := uint(h>>6), uint(h&63)
			if sig == 0 {
				sig = 64
			}
			if l+sig > 64 {
				return fail(i, "window exceeds 64 bits")
			}
			lead, trail = l, 64-l-sig
		} else if lead == 64 {
			return fail(i, "window reused before one was set")
		}
		x, ok := r.read(64 - lead - trail)
		if !ok {
			return fail(i, "bit stream ends early")
		}
		prev ^= x << trail
		dst = append(dst, math.Float64frombits(prev))
	}
	if r.remaining() >= 8 {
		return dst[:start], corruptf("floats: %d trailing bits", r.remaining())
	}
	if pad, _ := r.read(uint(r.remaining())); pad != 0 {
		return dst[:start], corruptf("floats: nonzero padding bits")
	}
	return dst, nil
}
