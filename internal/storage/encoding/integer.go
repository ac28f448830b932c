package encoding

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"unsafe"
)

// Integer columns (also timestamps and unsigned integers, reinterpreted as
// int64 with wrapping arithmetic, so every bit pattern round-trips). The
// encoder writes each candidate scheme after the previous one in dst and
// keeps the shortest:
//   - intRun: a constant delta (constants, perfectly regular timestamps);
//   - intDelta: deltas divided by their GCD (counters, memory in pages);
//   - intDoD: deltas-of-deltas (timestamps with jitter, steady counters);
//   - intFOR: values minus the minimum, divided by their GCD (noisy gauges);
//   - intGrid: offsets from a regular grid first+i*step (timestamps of an
//     agent that is sometimes late, counters at a near-constant rate);
//   - intRaw: 8 bytes each, the ceiling.

// AppendTimestamps encodes ts (Unix nanoseconds, any order) and appends it
// to dst. A perfectly regular series costs a few bytes whatever its length.
// Like every Append function it expects at most MaxValues values: longer
// columns encode, but decoders reject them.
func AppendTimestamps(dst []byte, ts []int64) []byte { return appendInts(dst, ts, false) }

// DecodeTimestamps appends the timestamps encoded in src to dst.
func DecodeTimestamps(dst []int64, src []byte) ([]int64, error) {
	return decodeInts(dst, src, "timestamps")
}

// AppendIntegers encodes vs and appends it to dst.
func AppendIntegers(dst []byte, vs []int64) []byte { return appendInts(dst, vs, true) }

// DecodeIntegers appends the integers encoded in src to dst.
func DecodeIntegers(dst []int64, src []byte) ([]int64, error) {
	return decodeInts(dst, src, "integers")
}

// AppendUnsigneds encodes vs and appends it to dst.
func AppendUnsigneds(dst []byte, vs []uint64) []byte {
	return appendInts(dst, unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(vs))), len(vs)), true)
}

// DecodeUnsigneds appends the unsigned integers encoded in src to dst.
func DecodeUnsigneds(dst []uint64, src []byte) ([]uint64, error) {
	ints, err := decodeInts(reinterpret[uint64, int64](dst), src, "unsigneds")
	return reinterpret[int64, uint64](ints), err
}

// reinterpret views a slice of one 8-byte scalar type as another, keeping
// length and capacity, so decoders can fill caller buffers without copies.
func reinterpret[From, To int64 | uint64 | float64](s []From) []To {
	if cap(s) == 0 {
		return nil
	}
	return unsafe.Slice((*To)(unsafe.Pointer(unsafe.SliceData(s))), cap(s))[:len(s)]
}

// scratchPool holds transformed values for the encoder between passes.
var scratchPool = sync.Pool{New: func() any { return new([]uint64) }}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs64(v int64) uint64 {
	if v < 0 {
		return -uint64(v)
	}
	return uint64(v)
}

// appendInts encodes vs with the shortest integer scheme. tryFOR adds the
// frame-of-reference candidate, which never wins for timestamps.
func appendInts(dst []byte, vs []int64, tryFOR bool) []byte {
	dst, _ = appendIntsLimit(dst, vs, tryFOR, math.MaxInt)
	return dst
}

// appendIntsLimit is appendInts for a caller that only wants a column
// shorter than limit bytes: it reports false, having appended nothing, when
// it cannot beat that (run-length columns are always written).
func appendIntsLimit(dst []byte, vs []int64, tryFOR bool, limit int) ([]byte, bool) {
	n := len(vs)
	if n == 0 {
		return appendHeader(dst, intRaw, 0), true
	}
	g, regular := deltaGCD(vs)
	if regular {
		return appendIntRun(dst, vs), true
	}
	sp := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(sp)

	// Raw is the ceiling: a candidate must be shorter to be kept.
	raw := 1 + uvarintLen(uint64(n)) + 8*n
	p := picker{dst: dst, start: len(dst), best: min(raw, limit)}
	p.try(func(dst []byte, limit int) ([]byte, bool) { return appendIntDelta(dst, vs, g, sp, limit) })
	if n > 2 {
		p.try(func(dst []byte, limit int) ([]byte, bool) { return appendIntDoD(dst, vs, g, sp, limit) })
		p.try(func(dst []byte, limit int) ([]byte, bool) { return appendIntGrid(dst, vs, sp, limit) })
	}
	if tryFOR {
		p.try(func(dst []byte, limit int) ([]byte, bool) { return appendIntFOR(dst, vs, sp, limit) })
	}
	if p.held {
		return p.dst, true
	}
	if raw >= limit {
		return p.dst[:p.start], false
	}
	return appendIntRaw(p.dst[:p.start], vs), true
}

// picker keeps the shortest candidate encoding at dst[start:]. Each
// candidate is appended after the one held and moved down if shorter; it
// gets the size to beat so it can give up early.
type picker struct {
	dst   []byte
	start int
	best  int  // size of the held candidate, or the size to beat
	held  bool // whether dst[start:] holds a candidate
}

func (p *picker) try(enc func(dst []byte, limit int) ([]byte, bool)) {
	end := p.start
	if p.held {
		end += p.best
	}
	out, ok := enc(p.dst[:end], p.best)
	size := len(out) - end
	if !ok || size >= p.best {
		p.dst = out[:end]
		return
	}
	copy(out[p.start:], out[end:])
	p.dst, p.best, p.held = out[:p.start+size], size, true
}

// deltaGCD returns the greatest common divisor of the deltas' magnitudes
// (1 when no other divisor is usable) and whether all deltas are equal.
func deltaGCD(vs []int64) (g uint64, regular bool) {
	regular = true
	for i := 1; i < len(vs); i++ {
		d := vs[i] - vs[i-1]
		if d != vs[1]-vs[0] {
			regular = false
		}
		if g != 1 {
			g = gcd(g, abs64(d))
		}
	}
	if g == 0 || g > math.MaxInt64 {
		g = 1 // no deltas, or only 1<<63, which int64 division cannot use
	}
	return g, regular
}

func appendIntRun(dst []byte, vs []int64) []byte {
	var delta int64
	if len(vs) > 1 {
		delta = vs[1] - vs[0]
	}
	dst = appendHeader(dst, intRun, len(vs))
	dst = binary.AppendVarint(dst, vs[0])
	return binary.AppendVarint(dst, delta)
}

func appendIntRaw(dst []byte, vs []int64) []byte {
	dst = appendHeader(dst, intRaw, len(vs))
	for _, v := range vs {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(v))
	}
	return dst
}

// appendIntDelta packs the deltas divided by g; len(vs) >= 1.
func appendIntDelta(dst []byte, vs []int64, g uint64, scratch *[]uint64, limit int) ([]byte, bool) {
	start := len(dst)
	u := (*scratch)[:0]
	for i := 1; i < len(vs); i++ {
		u = append(u, zigzag((vs[i]-vs[i-1])/int64(g)))
	}
	*scratch = u
	dst = appendHeader(dst, intDelta, len(vs))
	dst = binary.AppendVarint(dst, vs[0])
	dst = binary.AppendUvarint(dst, g)
	return appendPacked(dst, u, limit-(len(dst)-start))
}

// appendIntDoD packs the deltas-of-deltas of the deltas divided by g;
// len(vs) >= 2.
func appendIntDoD(dst []byte, vs []int64, g uint64, scratch *[]uint64, limit int) ([]byte, bool) {
	start := len(dst)
	u := (*scratch)[:0]
	prev := (vs[1] - vs[0]) / int64(g)
	for i := 2; i < len(vs); i++ {
		sd := (vs[i] - vs[i-1]) / int64(g)
		u = append(u, zigzag(sd-prev))
		prev = sd
	}
	*scratch = u
	dst = appendHeader(dst, intDoD, len(vs))
	dst = binary.AppendVarint(dst, vs[0])
	dst = binary.AppendUvarint(dst, g)
	dst = binary.AppendVarint(dst, (vs[1]-vs[0])/int64(g))
	return appendPacked(dst, u, limit-(len(dst)-start))
}

// appendIntFOR packs the values minus their minimum, divided by the GCD
// of those offsets; len(vs) >= 1.
func appendIntFOR(dst []byte, vs []int64, scratch *[]uint64, limit int) ([]byte, bool) {
	start := len(dst)
	lo := vs[0]
	for _, v := range vs {
		lo = min(lo, v)
	}
	var g uint64
	for _, v := range vs {
		if g == 1 {
			break
		}
		g = gcd(g, uint64(v)-uint64(lo))
	}
	if g == 0 {
		g = 1
	}
	u := (*scratch)[:0]
	for _, v := range vs {
		u = append(u, (uint64(v)-uint64(lo))/g)
	}
	*scratch = u
	dst = appendHeader(dst, intFOR, len(vs))
	dst = binary.AppendVarint(dst, lo)
	dst = binary.AppendUvarint(dst, g)
	return appendPacked(dst, u, limit-(len(dst)-start))
}

// gridStep picks the step of the grid that vs follows: the delta that
// occurs in most places (Boyer-Moore majority vote) if it is a majority,
// else the average delta. len(vs) >= 2.
func gridStep(vs []int64) int64 {
	var cand int64
	votes := 0
	for i := 1; i < len(vs); i++ {
		d := vs[i] - vs[i-1]
		switch {
		case votes == 0:
			cand, votes = d, 1
		case d == cand:
			votes++
		default:
			votes--
		}
	}
	count := 0
	for i := 1; i < len(vs); i++ {
		if vs[i]-vs[i-1] == cand {
			count++
		}
	}
	if 2*count >= len(vs)-1 {
		return cand
	}
	// The average, computed without overflow for monotone series; for
	// others any step is valid, just less useful.
	return int64(uint64(vs[len(vs)-1]-vs[0]) / uint64(len(vs)-1))
}

// appendIntGrid packs each value's offset from first+i*step, minus the
// smallest offset and divided by the offsets' GCD; len(vs) >= 2.
func appendIntGrid(dst []byte, vs []int64, scratch *[]uint64, limit int) ([]byte, bool) {
	start := len(dst)
	step := gridStep(vs)
	u := (*scratch)[:0]
	var lo int64
	for i, v := range vs {
		r := v - vs[0] - int64(i)*step
		if i == 0 || r < lo {
			lo = r
		}
		u = append(u, uint64(r))
	}
	var g uint64
	for _, r := range u {
		if g == 1 {
			break
		}
		g = gcd(g, r-uint64(lo))
	}
	if g == 0 {
		g = 1
	}
	for i, r := range u {
		u[i] = (r - uint64(lo)) / g
	}
	*scratch = u
	dst = appendHeader(dst, intGrid, len(vs))
	dst = binary.AppendVarint(dst, vs[0])
	dst = binary.AppendVarint(dst, step)
	dst = binary.AppendVarint(dst, lo)
	dst = binary.AppendUvarint(dst, g)
	return appendPacked(dst, u, limit-(len(dst)-start))
}

func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// decodeInts decodes any integer scheme.
func decodeInts(dst []int64, src []byte, what string) ([]int64, error) {
	if len(src) == 0 {
		return dst, corruptf("%s: empty input", what)
	}
	tag := src[0]
	n, rest, err := readCount(src[1:], what)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	switch tag {
	case intRaw:
		if len(rest) != 8*n {
			return dst, corruptf("%s: %d raw values in %d bytes", what, n, len(rest))
		}
		dst = growFor(dst, n)
		for i := 0; i < n; i++ {
			dst = append(dst, int64(binary.LittleEndian.Uint64(rest[8*i:])))
		}
		return dst, nil

	case intRun:
		first, rest, err := readVarint(rest, what, "first value")
		if err != nil {
			return dst, err
		}
		delta, rest, err := readVarint(rest, what, "delta")
		if err != nil {
			return dst, err
		}
		if len(rest) != 0 {
			return dst, corruptf("%s: %d trailing bytes", what, len(rest))
		}
		dst = growFor(dst, n)
		v := first
		for i := 0; i < n; i++ {
			dst = append(dst, v)
			v += delta
		}
		return dst, nil

	case intDelta, intDoD, intFOR, intGrid:
		minN := 1
		if tag == intDoD {
			minN = 2
		}
		if n < minN {
			return dst, corruptf("%s: scheme 0x%02x needs %d values, has %d", what, tag, minN, n)
		}
		var origin, step int64
		if tag == intGrid {
			var err error
			if origin, rest, err = readVarint(rest, what, "grid origin"); err != nil {
				return dst, err
			}
			if step, rest, err = readVarint(rest, what, "grid step"); err != nil {
				return dst, err
			}
		}
		first, rest, err := readVarint(rest, what, "first value")
		if err != nil {
			return dst, err
		}
		g, rest, err := readUvarint(rest, what, "divisor")
		if err != nil {
			return dst, err
		}
		if g == 0 || (tag != intFOR && tag != intGrid && g > math.MaxInt64) {
			return dst, corruptf("%s: bad divisor %d", what, g)
		}
		var firstDelta int64
		if tag == intDoD {
			if firstDelta, rest, err = readVarint(rest, what, "first delta"); err != nil {
				return dst, err
			}
		}
		packed := n
		switch tag {
		case intDelta:
			dst = append(dst, first)
			packed = n - 1
		case intDoD:
			dst = append(dst, first, 0)
			packed = n - 2
		}
		dst, rest, err = decodePacked(dst, rest, packed, what)
		if err != nil {
			return dst[:start], err
		}
		if len(rest) != 0 {
			return dst[:start], corruptf("%s: %d trailing bytes", what, len(rest))
		}
		out := dst[start:]
		switch tag {
		case intDelta:
			for i := 1; i < len(out); i++ {
				out[i] = out[i-1] + unzigzag(uint64(out[i]))*int64(g)
			}
		case intDoD:
			sd := firstDelta
			out[1] = out[0] + sd*int64(g)
			for i := 2; i < len(out); i++ {
				sd += unzigzag(uint64(out[i]))
				out[i] = out[i-1] + sd*int64(g)
			}
		case intFOR:
			for i := range out {
				out[i] = int64(uint64(first) + uint64(out[i])*g)
			}
		case intGrid:
			// Here first is the smallest offset from the grid.
			for i := range out {
				out[i] = origin + int64(i)*step + first + int64(uint64(out[i])*g)
			}
		}
		return dst, nil
	}
	return dst, corruptf("%s: unknown scheme 0x%02x", what, tag)
}
