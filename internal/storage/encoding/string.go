package encoding

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// String columns:
//   - strRaw: lengths as uvarints, then all bytes;
//   - strDict: distinct strings as in strRaw, then each value's index into
//     them, bit-packed at the narrowest width (status fields, hostnames);
//   - strZstd: a strRaw or strDict column compressed with zstd, when that
//     is shorter (log lines, long repetitive text).

const (
	// zstdMinInput is the smallest column worth compressing: a zstd frame
	// costs about 10 bytes of overhead.
	zstdMinInput = 64
	// maxZstdRatio bounds how far a zstd frame may expand, so a hostile
	// frame cannot claim gigabytes. Columns that compress better than this
	// are stored uncompressed: the dictionary scheme has already removed
	// repeated values, so real columns stay far below it.
	maxZstdRatio = 64
)

var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		// EncodeAll is safe for concurrent use; the encoder keeps one state
		// per GOMAXPROCS, allocated as used. Block files carry their own
		// checksums, so the frame CRC would only repeat them.
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderCRC(false))
		if err != nil {
			panic("encoding: zstd encoder options: " + err.Error())
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		// DecodeAllCapLimit makes DecodeAll stop at cap(dst), which the
		// caller sets from the bounded raw length, so no frame can make it
		// allocate more.
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderLowmem(true),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(maxZstdRatio*MaxValues))
		if err != nil {
			panic("encoding: zstd decoder options: " + err.Error())
		}
		return d
	})
)

// AppendStrings encodes vs and appends it to dst.
func AppendStrings(dst []byte, vs []string) []byte {
	start := len(dst)
	dst = appendStringsRaw(dst, vs)
	best := len(dst) - start
	if len(vs) >= 4 {
		end := start + best
		if dict, ok := appendStringsDict(dst, vs, best); ok && len(dict)-end < best {
			copy(dict[start:], dict[end:])
			best = len(dict) - end
			dst = dict[:start+best]
		} else {
			dst = dict[:end]
		}
	}
	if best >= zstdMinInput {
		end := len(dst)
		dst = append(dst, strZstd)
		dst = binary.AppendUvarint(dst, uint64(best))
		frame := len(dst)
		dst = zstdEncoder().EncodeAll(dst[start:end], dst)
		if size := len(dst) - end; size < best && best <= maxZstdRatio*(len(dst)-frame) {
			copy(dst[start:], dst[end:])
			return dst[:start+size]
		}
		dst = dst[:end]
	}
	return dst
}

func appendStringsRaw(dst []byte, vs []string) []byte {
	dst = appendHeader(dst, strRaw, len(vs))
	for _, v := range vs {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
	}
	for _, v := range vs {
		dst = append(dst, v...)
	}
	return dst
}

// appendStringsDict appends vs in the dictionary scheme after dst, unless
// it cannot beat limit bytes. It gives up early once more than half the
// values are distinct, which keeps the attempt cheap on free text.
func appendStringsDict(dst []byte, vs []string, limit int) ([]byte, bool) {
	ids := make(map[string]uint64)
	var dict []string
	sp := scratchPool.Get().(*[]uint64)
	defer scratchPool.Put(sp)
	idx := (*sp)[:0]
	size := 0
	for _, v := range vs {
		id, ok := ids[v]
		if !ok {
			id = uint64(len(dict))
			ids[v] = id
			dict = append(dict, v)
			size += uvarintLen(uint64(len(v))) + len(v)
			if size >= limit || len(dict) > len(vs)/2 {
				*sp = idx
				return dst, false
			}
		}
		idx = append(idx, id)
	}
	*sp = idx
	w := uint(bits.Len64(uint64(len(dict) - 1)))
	if size+int(w)*len(vs)/8 >= limit {
		return dst, false
	}
	dst = appendHeader(dst, strDict, len(vs))
	dst = binary.AppendUvarint(dst, uint64(len(dict)))
	for _, v := range dict {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
	}
	for _, v := range dict {
		dst = append(dst, v...)
	}
	// Indices, least significant bit first; w <= 20 as len(vs) <= MaxValues.
	var acc uint64
	var nacc uint
	for _, id := range idx {
		acc |= id << nacc
		nacc += w
		for nacc >= 8 {
			dst = append(dst, byte(acc))
			acc >>= 8
			nacc -= 8
		}
	}
	if nacc > 0 {
		dst = append(dst, byte(acc))
	}
	return dst, true
}

// DecodeStrings appends the strings encoded in src to dst. The strings of
// one column share a single allocation.
func DecodeStrings(dst []string, src []byte) ([]string, error) {
	return decodeStrings(dst, src, false, false)
}

// decodeStrings decodes src; owned means src is a private buffer the
// strings may point into, nested that src came out of a zstd frame.
func decodeStrings(dst []string, src []byte, owned, nested bool) ([]string, error) {
	if len(src) == 0 {
		return dst, corruptf("strings: empty input")
	}
	tag := src[0]
	if tag == strZstd && !nested {
		rawLen, frame, err := readUvarint(src[1:], "strings", "raw length")
		if err != nil {
			return dst, err
		}
		if rawLen == 0 || rawLen > maxZstdRatio*uint64(len(frame)) {
			return dst, corruptf("strings: raw length %d for %d compressed bytes", rawLen, len(frame))
		}
		raw, err := zstdDecoder().DecodeAll(frame, make([]byte, 0, rawLen))
		if err != nil {
			return dst, corruptf("strings: zstd: %v", err)
		}
		if uint64(len(raw)) != rawLen {
			return dst, corruptf("strings: zstd gave %d bytes, want %d", len(raw), rawLen)
		}
		return decodeStrings(dst, raw, true, true)
	}
	n, rest, err := readCount(src[1:], "strings")
	if err != nil {
		return dst, err
	}
	switch tag {
	case strRaw:
		if n > len(rest) {
			return dst, corruptf("strings: %d values in %d bytes", n, len(rest))
		}
		return appendStringTable(dst, rest, n, owned, true)
	case strDict:
		if n == 0 {
			return dst, corruptf("strings: empty dictionary column")
		}
		d, rest, err := readUvarint(rest, "strings", "dictionary size")
		if err != nil {
			return dst, err
		}
		if d == 0 || d > uint64(n) || d > uint64(len(rest)) {
			return dst, corruptf("strings: dictionary of %d for %d values in %d bytes", d, n, len(rest))
		}
		dict, err := appendStringTable(make([]string, 0, d), rest, int(d), owned, false)
		if err != nil {
			return dst, err
		}
		used := 0
		for _, s := range dict {
			used += uvarintLen(uint64(len(s))) + len(s)
		}
		packed := rest[used:]
		w := uint(bits.Len32(uint32(d - 1)))
		if uint64(len(packed)) != (uint64(n)*uint64(w)+7)/8 {
			return dst, corruptf("strings: %d indices of %d bits in %d bytes", n, w, len(packed))
		}
		start := len(dst)
		dst = growFor(dst, n)
		var acc uint64
		var nacc uint
		mask := uint64(1)<<w - 1
		for i := 0; i < n; i++ {
			for nacc < w {
				acc |= uint64(packed[0]) << nacc
				packed = packed[1:]
				nacc += 8
			}
			id := acc & mask
			acc >>= w
			nacc -= w
			if id >= d {
				return dst[:start], corruptf("strings: index %d beyond dictionary of %d", id, d)
			}
			dst = append(dst, dict[id])
		}
		if acc != 0 {
			return dst[:start], corruptf("strings: nonzero padding bits")
		}
		return dst, nil
	}
	return dst, corruptf("strings: unknown scheme 0x%02x", tag)
}

// appendStringTable reads n uvarint lengths and then the n strings' bytes
// from src. With exact, the bytes must end src. The strings share one
// allocation (or point into src when owned).
func appendStringTable(dst []string, src []byte, n int, owned, exact bool) ([]string, error) {
	total := uint64(0)
	p := src
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 {
			return dst, corruptf("strings: bad length of value %d", i)
		}
		p = p[k:]
		total += l
		if total > uint64(len(p)) {
			return dst, corruptf("strings: value %d overruns the column", i)
		}
	}
	if exact && total != uint64(len(p)) {
		return dst, corruptf("strings: %d trailing bytes", uint64(len(p))-total)
	}
	data := p[:total]
	var all string
	if owned {
		all = unsafe.String(unsafe.SliceData(data), len(data))
	} else {
		all = string(data)
	}
	dst = growFor(dst, n)
	off := 0
	for i := 0; i < n; i++ {
		l, k := binary.Uvarint(src)
		src = src[k:]
		dst = append(dst, all[off:off+int(l)])
		off += int(l)
	}
	return dst, nil
}
