// Package encoding holds herd's column codecs: each Append* function encodes
// a whole column of one type into bytes and each Decode* function reads it
// back. Every encoded column begins with a one-byte scheme tag, so the
// encoder can pick the smallest scheme per column (it encodes the candidates
// and keeps the shortest) and the format can grow new schemes without
// breaking old blocks. The byte layouts are in docs/format/encoding.md.
//
// Decoders treat their input as hostile: corrupt input yields an error
// wrapping ErrCorrupt, never a panic, and a decoder allocates at most a
// small multiple of len(src) bytes, except that run-length schemes may
// legitimately expand a few bytes into up to MaxValues values.
//
// Decoded strings share one backing allocation per column: keeping any one
// of them alive keeps the column's bytes alive.
//
// The package is a leaf: it imports only the standard library and
// github.com/klauspost/compress, so block, WAL and tools can all use it.
package encoding

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every decoding error caused by bad input.
var ErrCorrupt = errors.New("corrupt column")

// MaxValues is the most values one encoded column may hold. Decoders reject
// larger counts so that a hostile header cannot make them allocate without
// bound (1<<20 int64s is 8 MiB, affordable on a 1 GB Raspberry Pi); block
// writers split longer series into several columns.
const MaxValues = 1 << 20

// Scheme tags: the first byte of every encoded column. Each column type has
// its own range so a hex dump says what a column is. Timestamps, integers,
// unsigned integers and the scaled integers inside the float decimal scheme
// share the integer schemes.
const (
	intRaw   byte = 0x10 // count, 8 bytes per value
	intRun   byte = 0x11 // count, first, constant delta
	intDelta byte = 0x12 // count, first, divisor, simple8b(zigzag(delta/divisor))
	intDoD   byte = 0x13 // count, first, divisor, first delta, simple8b(zigzag(delta-of-delta))
	intFOR   byte = 0x14 // count, min, divisor, simple8b((v-min)/divisor)
	intGrid  byte = 0x15 // count, first, step, min, divisor, packed((v-first-i*step-min)/divisor)

	floatRaw     byte = 0x20 // count, 8 bytes per value
	floatConst   byte = 0x21 // count, 8 bytes
	floatGorilla byte = 0x22 // count, XOR bit stream
	floatDecimal byte = 0x23 // exponent k, integer column of v*10^k
	floatBits    byte = 0x24 // integer column of the IEEE-754 bit patterns

	boolPacked byte = 0x30 // count, one bit per value
	boolConst  byte = 0x31 // count, one byte

	strRaw  byte = 0x40 // count, lengths, bytes
	strDict byte = 0x41 // count, distinct strings, bit-packed indices
	strZstd byte = 0x42 // raw length, zstd frame holding a strRaw or strDict column
)

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// appendHeader writes the scheme tag and the value count.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	return binary.AppendUvarint(dst, uint64(n))
}

// readCount reads a value count and checks it against MaxValues.
func readCount(src []byte, what string) (int, []byte, error) {
	c, k := binary.Uvarint(src)
	if k <= 0 {
		return 0, nil, corruptf("%s: bad value count", what)
	}
	if c > MaxValues {
		return 0, nil, corruptf("%s: %d values exceeds limit %d", what, c, MaxValues)
	}
	return int(c), src[k:], nil
}

// readUvarint reads one uvarint or reports which field was bad.
func readUvarint(src []byte, what, field string) (uint64, []byte, error) {
	v, k := binary.Uvarint(src)
	if k <= 0 {
		return 0, nil, corruptf("%s: bad %s", what, field)
	}
	return v, src[k:], nil
}

// readVarint reads one zig-zag varint or reports which field was bad.
func readVarint(src []byte, what, field string) (int64, []byte, error) {
	v, k := binary.Varint(src)
	if k <= 0 {
		return 0, nil, corruptf("%s: bad %s", what, field)
	}
	return v, src[k:], nil
}

// zigzag maps signed to unsigned so small magnitudes get small codes.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// unzigzag inverts zigzag.
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// growFor reserves room for n more values in dst, trusting n only as far as
// the caller has bounded it.
func growFor[T any](dst []T, n int) []T {
	if cap(dst)-len(dst) < n {
		nd := make([]T, len(dst), len(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst
}
