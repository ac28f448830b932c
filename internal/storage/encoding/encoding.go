// Package encoding holds herd's column codecs: each Append* function encodes
// a whole column of one type into bytes and each Decode* function reads it
// back. Every encoded column begins with a one-byte scheme tag, so the
// encoder can pick the smallest scheme per column and the format can grow
// new schemes without breaking old blocks.
//
// Decoders treat their input as hostile: corrupt input yields an error
// wrapping ErrCorrupt, never a panic, and the memory a decoder allocates is
// bounded by a small multiple of len(src) and by MaxValues.
//
// The package is a leaf: it imports only the standard library and
// github.com/klauspost/compress.
package encoding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrCorrupt is wrapped by every decoding error caused by bad input.
var ErrCorrupt = errors.New("corrupt column")

// MaxValues is the most values one encoded column may hold. Decoders reject
// larger counts so that a hostile header cannot make them allocate without
// bound; block writers split longer series into several columns.
const MaxValues = 1 << 20

// Scheme tags. The first byte of every encoded column.
const (
	schemeVarint byte = 0x01
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// header reads the scheme tag and the value count and bounds the count by
// MaxValues and by what the remaining bytes could hold at minBytes each.
func header(src []byte, what string) (tag byte, n int, rest []byte, err error) {
	if len(src) == 0 {
		return 0, 0, nil, corruptf("%s: empty input", what)
	}
	tag = src[0]
	c, k := binary.Uvarint(src[1:])
	if k <= 0 {
		return 0, 0, nil, corruptf("%s: bad value count", what)
	}
	if c > MaxValues {
		return 0, 0, nil, corruptf("%s: %d values exceeds limit %d", what, c, MaxValues)
	}
	return tag, int(c), src[1+k:], nil
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// AppendTimestamps encodes ts (nanoseconds, any order) and appends it to dst.
func AppendTimestamps(dst []byte, ts []int64) []byte { return AppendIntegers(dst, ts) }

// DecodeTimestamps appends the timestamps encoded in src to dst.
func DecodeTimestamps(dst []int64, src []byte) ([]int64, error) { return DecodeIntegers(dst, src) }

// AppendIntegers encodes vs and appends it to dst.
func AppendIntegers(dst []byte, vs []int64) []byte {
	dst = append(dst, schemeVarint)
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	var prev int64
	for _, v := range vs {
		dst = binary.AppendUvarint(dst, zigzag(v-prev))
		prev = v
	}
	return dst
}

// DecodeIntegers appends the integers encoded in src to dst.
func DecodeIntegers(dst []int64, src []byte) ([]int64, error) {
	tag, n, rest, err := header(src, "integers")
	if err != nil {
		return dst, err
	}
	if tag != schemeVarint {
		return dst, corruptf("integers: unknown scheme 0x%02x", tag)
	}
	if n > len(rest) {
		return dst, corruptf("integers: %d values in %d bytes", n, len(rest))
	}
	var prev int64
	for i := 0; i < n; i++ {
		u, k := binary.Uvarint(rest)
		if k <= 0 {
			return dst, corruptf("integers: bad varint at value %d", i)
		}
		rest = rest[k:]
		prev += unzigzag(u)
		dst = append(dst, prev)
	}
	if len(rest) != 0 {
		return dst, corruptf("integers: %d trailing bytes", len(rest))
	}
	return dst, nil
}

// AppendUnsigneds encodes vs and appends it to dst.
func AppendUnsigneds(dst []byte, vs []uint64) []byte {
	dst = append(dst, schemeVarint)
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

// DecodeUnsigneds appends the unsigned integers encoded in src to dst.
func DecodeUnsigneds(dst []uint64, src []byte) ([]uint64, error) {
	tag, n, rest, err := header(src, "unsigneds")
	if err != nil {
		return dst, err
	}
	if tag != schemeVarint {
		return dst, corruptf("unsigneds: unknown scheme 0x%02x", tag)
	}
	if n > len(rest) {
		return dst, corruptf("unsigneds: %d values in %d bytes", n, len(rest))
	}
	for i := 0; i < n; i++ {
		u, k := binary.Uvarint(rest)
		if k <= 0 {
			return dst, corruptf("unsigneds: bad varint at value %d", i)
		}
		rest = rest[k:]
		dst = append(dst, u)
	}
	if len(rest) != 0 {
		return dst, corruptf("unsigneds: %d trailing bytes", len(rest))
	}
	return dst, nil
}

// AppendFloats encodes vs bit-exactly and appends it to dst.
func AppendFloats(dst []byte, vs []float64) []byte {
	dst = append(dst, schemeVarint)
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	}
	return dst
}

// DecodeFloats appends the floats encoded in src to dst.
func DecodeFloats(dst []float64, src []byte) ([]float64, error) {
	tag, n, rest, err := header(src, "floats")
	if err != nil {
		return dst, err
	}
	if tag != schemeVarint {
		return dst, corruptf("floats: unknown scheme 0x%02x", tag)
	}
	if len(rest) != 8*n {
		return dst, corruptf("floats: %d values in %d bytes", n, len(rest))
	}
	for i := 0; i < n; i++ {
		dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(rest[8*i:])))
	}
	return dst, nil
}

// AppendBooleans encodes vs and appends it to dst.
func AppendBooleans(dst []byte, vs []bool) []byte {
	dst = append(dst, schemeVarint)
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		if v {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return dst
}

// DecodeBooleans appends the booleans encoded in src to dst.
func DecodeBooleans(dst []bool, src []byte) ([]bool, error) {
	tag, n, rest, err := header(src, "booleans")
	if err != nil {
		return dst, err
	}
	if tag != schemeVarint {
		return dst, corruptf("booleans: unknown scheme 0x%02x", tag)
	}
	if len(rest) != n {
		return dst, corruptf("booleans: %d values in %d bytes", n, len(rest))
	}
	for _, b := range rest {
		if b > 1 {
			return dst, corruptf("booleans: bad byte 0x%02x", b)
		}
		dst = append(dst, b == 1)
	}
	return dst, nil
}

// AppendStrings encodes vs and appends it to dst.
func AppendStrings(dst []byte, vs []string) []byte {
	dst = append(dst, schemeVarint)
	dst = binary.AppendUvarint(dst, uint64(len(vs)))
	for _, v := range vs {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// DecodeStrings appends the strings encoded in src to dst.
func DecodeStrings(dst []string, src []byte) ([]string, error) {
	tag, n, rest, err := header(src, "strings")
	if err != nil {
		return dst, err
	}
	if tag != schemeVarint {
		return dst, corruptf("strings: unknown scheme 0x%02x", tag)
	}
	if n > len(rest) {
		return dst, corruptf("strings: %d values in %d bytes", n, len(rest))
	}
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return dst, corruptf("strings: bad length at value %d", i)
		}
		dst = append(dst, string(rest[k:k+int(l)]))
		rest = rest[k+int(l):]
	}
	if len(rest) != 0 {
		return dst, corruptf("strings: %d trailing bytes", len(rest))
	}
	return dst, nil
}
