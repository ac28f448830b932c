package encoding

import (
	"encoding/binary"
	"math/bits"
)

// simple8b packs unsigned integers into 64-bit words: a 4-bit selector in
// the top bits says how the low 60 bits are divided. herd's variant differs
// from the classic table in two ways that suit monitoring data:
//   - selector 0 is a run of zeros whose length is the 60-bit payload, so a
//     long stretch of perfectly regular deltas-of-deltas costs one word;
//   - selector 15 is an escape: the payload is zero and the next 8 bytes hold
//     one full 64-bit value, so any uint64 can be packed.
// The value count is stored by the caller; a final word may be partly used
// (its unused slots must be zero).
//
// Words are written little-endian.

// s8bCount and s8bWidth give, per selector 1..14, how many values of how
// many bits a word holds.
var (
	s8bCount = [16]int{0, 60, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4, 3, 2, 1, 1}
	s8bWidth = [16]uint{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 60, 64}
)

const (
	s8bRunMin   = 60 // shortest zero run worth a run word: 60x1 packs as many
	s8bPayload  = 1<<60 - 1
	s8bEscape   = 15
	s8bSelShift = 60
)

// appendSimple8b packs vs and appends the words to dst.
func appendSimple8b(dst []byte, vs []uint64) []byte {
	for i := 0; i < len(vs); {
		rem := len(vs) - i
		if vs[i] == 0 {
			r := 1
			for r < rem && uint64(r) < s8bPayload && vs[i+r] == 0 {
				r++
			}
			if r >= s8bRunMin {
				dst = binary.LittleEndian.AppendUint64(dst, uint64(r))
				i += r
				continue
			}
		}
		// Try selectors from densest to sparsest. j counts leading values
		// already known to fit the previous (narrower) width, so each value
		// is examined about once per word.
		j, sel := 0, 0
		for s := 1; s <= 14; s++ {
			c := min(s8bCount[s], rem)
			w := s8bWidth[s]
			for j < c && uint(bits.Len64(vs[i+j])) <= w {
				j++
			}
			if j >= c {
				sel = s
				break
			}
		}
		if sel == 0 {
			dst = binary.LittleEndian.AppendUint64(dst, s8bEscape<<s8bSelShift)
			dst = binary.LittleEndian.AppendUint64(dst, vs[i])
			i++
			continue
		}
		c := min(s8bCount[sel], rem)
		w := s8bWidth[sel]
		var word uint64
		for k := 0; k < c; k++ {
			word |= vs[i+k] << (uint(k) * w)
		}
		dst = binary.LittleEndian.AppendUint64(dst, uint64(sel)<<s8bSelShift|word)
		i += c
	}
	return dst
}

// decodeSimple8b unpacks exactly n values from src, appends them to dst and
// returns the bytes after the last word.
func decodeSimple8b[T int64 | uint64](dst []T, src []byte, n int, what string) ([]T, []byte, error) {
	for n > 0 {
		if len(src) < 8 {
			return dst, nil, corruptf("%s: packed data ends %d values early", what, n)
		}
		word := binary.LittleEndian.Uint64(src)
		src = src[8:]
		sel := word >> s8bSelShift
		payload := word & s8bPayload
		switch sel {
		case 0:
			if payload == 0 || payload > uint64(n) {
				return dst, nil, corruptf("%s: zero run of %d with %d values left", what, payload, n)
			}
			for r := int(payload); r > 0; r-- {
				dst = append(dst, 0)
			}
			n -= int(payload)
		case s8bEscape:
			if payload != 0 || len(src) < 8 {
				return dst, nil, corruptf("%s: bad escape word", what)
			}
			dst = append(dst, T(binary.LittleEndian.Uint64(src)))
			src = src[8:]
			n--
		default:
			c := min(s8bCount[sel], n)
			w := s8bWidth[sel]
			mask := uint64(1)<<w - 1
			if c < s8bCount[sel] && payload>>(uint(c)*w) != 0 {
				return dst, nil, corruptf("%s: nonzero padding in last word", what)
			}
			for k := 0; k < c; k++ {
				dst = append(dst, T(payload&mask))
				payload >>= w
			}
			n -= c
		}
	}
	return dst, src, nil
}
