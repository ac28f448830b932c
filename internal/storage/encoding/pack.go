package encoding

import (
	"encoding/binary"
	"math/bits"
)

// Packed streams of unsigned integers, as used by the integer schemes.
// One byte says how the stream is packed, chosen per column by size:
//   - packSimple8b: simple8b words (simple8b.go); best when widths vary,
//     e.g. a rare timestamp jitter among long zero runs;
//   - packBlocks: blocks of up to 128 values, each a width byte w (0..64)
//     and the values in w bits each, least significant bit first; best when
//     widths are steady and above 30 bits, where simple8b can only put one
//     value in a word (9-decimal percentages, byte counters);
//   - packSparse: only the nonzero values, each after its distance from the
//     previous one; best when nearly all are zero (a timestamp a tick late
//     now and then, a gauge that is almost always 0).
const (
	packSimple8b byte = 0
	packBlocks   byte = 1
	packSparse   byte = 2
	packBlockLen      = 128
)

// appendPacked appends u in whichever packing is shortest. If that would
// take limit bytes or more (packing byte included) it appends nothing and
// reports false: the caller's candidate has already lost, so the packing
// work is skipped.
func appendPacked(dst []byte, u []uint64, limit int) ([]byte, bool) {
	// One pass sizes blocks and sparse exactly and bounds simple8b.
	blocks, bitsum := 0, 0
	sparse, nonzero, gap := 0, 0, 0
	for i := 0; i < len(u); i += packBlockLen {
		blk := u[i:min(i+packBlockLen, len(u))]
		var or uint64
		for _, v := range blk {
			or |= v
			bitsum += bits.Len64(v)
			if v == 0 {
				gap++
				continue
			}
			nonzero++
			sparse += uvarintLen(uint64(gap)) + uvarintLen(v)
			gap = 0
		}
		blocks += 1 + (len(blk)*bits.Len64(or)+7)/8
	}
	sparse += uvarintLen(uint64(nonzero))
	best, kind := blocks, packBlocks
	if sparse < best {
		best, kind = sparse, packSparse
	}
	// A simple8b word carries at most 60 significant value bits (zero runs
	// carry none), so this bounds its size from below; when another packing
	// is no larger, skip the costlier simple8b pass.
	if lb := 8 * ((bitsum + 59) / 60); lb < best && 1+lb < limit {
		mark := len(dst)
		out := appendSimple8b(append(dst, packSimple8b), u)
		if size := len(out) - mark - 1; size <= best {
			if 1+size >= limit {
				return out[:mark], false
			}
			return out, true
		}
		dst = out[:mark]
	}
	if 1+best >= limit {
		return dst, false
	}
	if kind == packSparse {
		return appendSparse(append(dst, packSparse), u, nonzero), true
	}
	return appendBlocks(append(dst, packBlocks), u), true
}

// appendSparse writes the count of nonzero values, then for each the
// number of zeros before it (since the previous one) and the value.
func appendSparse(dst []byte, u []uint64, nonzero int) []byte {
	dst = binary.AppendUvarint(dst, uint64(nonzero))
	gap := 0
	for _, v := range u {
		if v == 0 {
			gap++
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(gap))
		dst = binary.AppendUvarint(dst, v)
		gap = 0
	}
	return dst
}

func appendBlocks(dst []byte, u []uint64) []byte {
	for i := 0; i < len(u); i += packBlockLen {
		blk := u[i:min(i+packBlockLen, len(u))]
		var or uint64
		for _, v := range blk {
			or |= v
		}
		w := uint(bits.Len64(or))
		dst = append(dst, byte(w))
		if w == 0 {
			continue
		}
		var acc uint64
		var nacc uint
		for _, v := range blk {
			acc |= v << nacc
			if nacc+w >= 64 {
				dst = binary.LittleEndian.AppendUint64(dst, acc)
				acc = v >> (64 - nacc) // shifting by 64 gives 0
				nacc = nacc + w - 64
			} else {
				nacc += w
			}
		}
		for ; nacc > 0; nacc -= min(nacc, 8) {
			dst = append(dst, byte(acc))
			acc >>= 8
		}
	}
	return dst
}

// decodePacked appends n values unpacked from src to dst and returns the
// bytes after them.
func decodePacked[T int64 | uint64](dst []T, src []byte, n int, what string) ([]T, []byte, error) {
	if len(src) == 0 {
		return dst, nil, corruptf("%s: missing packing", what)
	}
	kind, src := src[0], src[1:]
	switch kind {
	case packSimple8b:
		// Non-run words hold at most 60 values; runs grow dst as they go.
		dst = growFor(dst, min(n, 60*(len(src)/8)))
		return decodeSimple8b(dst, src, n, what)
	case packBlocks:
		dst = growFor(dst, min(n, 8*len(src)))
		for n > 0 {
			cnt := min(n, packBlockLen)
			if len(src) == 0 || src[0] > 64 {
				return dst, nil, corruptf("%s: bad block width", what)
			}
			w := uint(src[0])
			nb := (cnt*int(w) + 7) / 8
			if len(src)-1 < nb {
				return dst, nil, corruptf("%s: block of %d values at %d bits needs %d bytes, has %d", what, cnt, w, nb, len(src)-1)
			}
			data := src[1 : 1+nb]
			src = src[1+nb:]
			if used := (cnt * int(w)) % 8; used != 0 && data[nb-1]>>used != 0 {
				return dst, nil, corruptf("%s: nonzero padding bits in block", what)
			}
			dst = unpackBlock(dst, data, cnt, w)
			n -= cnt
		}
		return dst, src, nil
	case packSparse:
		m, rest, err := readUvarint(src, what, "nonzero count")
		if err != nil {
			return dst, nil, err
		}
		// Each nonzero value takes at least two bytes.
		if m > uint64(n) || m > uint64(len(rest)/2) {
			return dst, nil, corruptf("%s: %d nonzero of %d values in %d bytes", what, m, n, len(rest))
		}
		dst = growFor(dst, min(n, 8*len(src)))
		left := n
		for j := uint64(0); j < m; j++ {
			gap, k1 := binary.Uvarint(rest)
			if k1 <= 0 {
				return dst, nil, corruptf("%s: bad gap", what)
			}
			v, k2 := binary.Uvarint(rest[k1:])
			if k2 <= 0 || v == 0 {
				return dst, nil, corruptf("%s: bad sparse value", what)
			}
			rest = rest[k1+k2:]
			if gap >= uint64(left) {
				return dst, nil, corruptf("%s: gap of %d with %d values left", what, gap, left)
			}
			for z := int(gap); z > 0; z-- {
				dst = append(dst, 0)
			}
			dst = append(dst, T(v))
			left -= int(gap) + 1
		}
		for ; left > 0; left-- {
			dst = append(dst, 0)
		}
		return dst, rest, nil
	}
	return dst, nil, corruptf("%s: unknown packing %d", what, kind)
}

// unpackBlock appends cnt values of w bits from data, which holds exactly
// ceil(cnt*w/8) bytes. It copies data into a padded array so that every
// value is one unaligned 8-byte load with no bounds or tail checks.
func unpackBlock[T int64 | uint64](dst []T, data []byte, cnt int, w uint) []T {
	if w == 0 {
		for k := 0; k < cnt; k++ {
			dst = append(dst, 0)
		}
		return dst
	}
	var buf [packBlockLen*8 + 16]byte
	copy(buf[:], data)
	mask := uint64(1)<<w - 1
	p := uint(0)
	if w <= 56 { // w + the bit offset (< 8) fits one load
		for k := 0; k < cnt; k++ {
			i := p >> 3
			v := binary.LittleEndian.Uint64(buf[i&(packBlockLen*8-1):]) >> (p & 7)
			dst = append(dst, T(v&mask))
			p += w
		}
		return dst
	}
	for k := 0; k < cnt; k++ {
		i, sh := p>>3, p&7
		v := binary.LittleEndian.Uint64(buf[i:]) >> sh
		if sh+w > 64 {
			v |= uint64(buf[i+8]) << (64 - sh)
		}
		dst = append(dst, T(v&mask))
		p += w
	}
	return dst
}
