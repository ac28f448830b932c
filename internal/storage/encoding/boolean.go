package encoding

// Boolean columns: boolConst for a column of one value (one byte), else
// boolPacked, one bit per value, least significant bit first.

// AppendBooleans encodes vs and appends it to dst.
func AppendBooleans(dst []byte, vs []bool) []byte {
	n := len(vs)
	constant := n > 0
	for _, v := range vs {
		if v != vs[0] {
			constant = false
			break
		}
	}
	if constant {
		dst = appendHeader(dst, boolConst, n)
		if vs[0] {
			return append(dst, 1)
		}
		return append(dst, 0)
	}
	dst = appendHeader(dst, boolPacked, n)
	for i := 0; i < n; i += 8 {
		var b byte
		for j, v := range vs[i:min(i+8, n)] {
			if v {
				b |= 1 << j
			}
		}
		dst = append(dst, b)
	}
	return dst
}

// DecodeBooleans appends the booleans encoded in src to dst.
func DecodeBooleans(dst []bool, src []byte) ([]bool, error) {
	if len(src) == 0 {
		return dst, corruptf("booleans: empty input")
	}
	tag := src[0]
	n, rest, err := readCount(src[1:], "booleans")
	if err != nil {
		return dst, err
	}
	switch tag {
	case boolConst:
		if len(rest) != 1 || rest[0] > 1 {
			return dst, corruptf("booleans: bad constant")
		}
		dst = growFor(dst, n)
		for i := 0; i < n; i++ {
			dst = append(dst, rest[0] == 1)
		}
		return dst, nil
	case boolPacked:
		if len(rest) != (n+7)/8 {
			return dst, corruptf("booleans: %d values in %d bytes", n, len(rest))
		}
		if n%8 != 0 && rest[len(rest)-1]>>(n%8) != 0 {
			return dst, corruptf("booleans: nonzero padding bits")
		}
		dst = growFor(dst, n)
		for i := 0; i < n; i++ {
			dst = append(dst, rest[i>>3]>>(i&7)&1 == 1)
		}
		return dst, nil
	}
	return dst, corruptf("booleans: unknown scheme 0x%02x", tag)
}
