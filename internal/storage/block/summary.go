package block

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/herdmon/herd/internal/models"
)

// Summary describes the values of one numeric chunk (float, integer or
// unsigned). It lives in the series entry, so a query whose time bucket
// holds a whole chunk computes count, sum, mean, min, max, first, last
// and spread from the index without reading or decoding the chunk.
//
// Values are bit patterns, by the chunk's type: math.Float64bits of a
// float, an int64 converted to uint64, or the unsigned value itself.
type Summary struct {
	// Valid is false for string and boolean chunks and for chunks of
	// files written before format version 2.
	Valid bool
	// SumExact reports, for integer and unsigned chunks, that every
	// running sum stayed within ±2^53 without wrapping, so float64 of
	// the sum equals the value-by-value float sum mean needs. Always
	// true for floats.
	SumExact bool

	First, Last uint64 // the values at the chunk's MinTime and MaxTime
	Min, Max    uint64
	MinAt       int64 // the time of the first occurrence of Min
	MaxAt       int64 // the time of the first occurrence of Max
	// Sum of the values: float64 addition in time order, or integer
	// addition that wraps as InfluxDB's sum() does.
	Sum uint64
}

// summarize computes the summary of points [start, end) of col.
func summarize(col *Column, start, end int) Summary {
	times := col.Times[start:end]
	switch col.Type {
	case models.Float:
		v := col.Floats[start:end]
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		lo, hi := Extremes(v)
		return Summary{Valid: true, SumExact: true, First: math.Float64bits(v[0]), Last: math.Float64bits(v[len(v)-1]),
			Min: math.Float64bits(v[lo]), Max: math.Float64bits(v[hi]), MinAt: times[lo], MaxAt: times[hi], Sum: math.Float64bits(sum)}
	case models.Integer:
		v := col.Integers[start:end]
		sum, exact := int64(0), true
		for _, x := range v {
			next := sum + x
			if (x > 0 && next < sum) || (x < 0 && next > sum) || next > 1<<53 || next < -(1<<53) {
				exact = false
			}
			sum = next
		}
		lo, hi := Extremes(v)
		return Summary{Valid: true, SumExact: exact, First: uint64(v[0]), Last: uint64(v[len(v)-1]),
			Min: uint64(v[lo]), Max: uint64(v[hi]), MinAt: times[lo], MaxAt: times[hi], Sum: uint64(sum)}
	case models.Unsigned:
		v := col.Unsigneds[start:end]
		sum, exact := uint64(0), true
		for _, x := range v {
			next := sum + x
			if next < sum || next > 1<<53 {
				exact = false
			}
			sum = next
		}
		lo, hi := Extremes(v)
		return Summary{Valid: true, SumExact: exact, First: v[0], Last: v[len(v)-1],
			Min: v[lo], Max: v[hi], MinAt: times[lo], MaxAt: times[hi], Sum: sum}
	}
	return Summary{}
}

// Extremes returns the indexes of the first smallest and the first
// largest of v, which must not be empty.
func Extremes[T int64 | uint64 | float64](v []T) (lo, hi int) {
	for k, x := range v {
		if x < v[lo] {
			lo = k
		}
		if x > v[hi] {
			hi = k
		}
	}
	return lo, hi
}

// hasSummary reports whether chunks of typ carry a summary.
func hasSummary(typ models.FieldType) bool {
	return typ == models.Float || typ == models.Integer || typ == models.Unsigned
}

// appendSummary encodes s (of a chunk of typ spanning from minTime) as
// docs/format/block.md describes.
func appendSummary(b []byte, s *Summary, typ models.FieldType, minTime int64) []byte {
	var flags byte
	if s.SumExact {
		flags |= 1
	}
	b = append(b, flags)
	if typ == models.Float {
		b = binary.LittleEndian.AppendUint64(b, s.First)
		for _, x := range [3]uint64{s.Last, s.Min, s.Max} {
			b = appendXOR(b, x^s.First)
		}
	} else {
		b = binary.AppendVarint(b, int64(s.First))
		for _, x := range [3]uint64{s.Last, s.Min, s.Max} {
			b = binary.AppendVarint(b, int64(x-s.First))
		}
	}
	b = binary.AppendUvarint(b, uint64(s.MinAt)-uint64(minTime))
	b = binary.AppendUvarint(b, uint64(s.MaxAt)-uint64(minTime))
	if typ == models.Float {
		return binary.LittleEndian.AppendUint64(b, s.Sum)
	}
	return binary.AppendVarint(b, int64(s.Sum))
}

// appendXOR packs x as a control byte (leading zero bytes << 4 |
// significant bytes) and its significant bytes: a float close to the
// chunk's first value costs 1 to 4 bytes instead of 8.
func appendXOR(b []byte, x uint64) []byte {
	if x == 0 {
		return append(b, 0)
	}
	lead := bits.LeadingZeros64(x) / 8
	sig := 8 - lead - bits.TrailingZeros64(x)/8
	b = append(b, byte(lead<<4|sig))
	for i := 0; i < sig; i++ {
		b = append(b, byte(x>>(8*(7-lead-i))))
	}
	return b
}

// summary decodes a summary written by appendSummary for a chunk of typ
// over [minT, maxT]; it returns false on malformed input.
func (d *decoder) summary(typ models.FieldType, minT, maxT int64) (Summary, bool) {
	s := Summary{Valid: true}
	flags := d.byte()
	if flags > 1 {
		return s, false
	}
	s.SumExact = flags&1 != 0
	var rest [3]uint64
	if typ == models.Float {
		s.First = d.u64()
		for i := range rest {
			rest[i] = d.xor() ^ s.First
		}
	} else {
		s.First = uint64(d.varint())
		for i := range rest {
			rest[i] = s.First + uint64(d.varint())
		}
	}
	s.Last, s.Min, s.Max = rest[0], rest[1], rest[2]
	span := uint64(maxT) - uint64(minT)
	minOff, maxOff := d.uvarint(), d.uvarint()
	if typ == models.Float {
		s.Sum = d.u64()
	} else {
		s.Sum = uint64(d.varint())
	}
	if d.bad || minOff > span || maxOff > span {
		return s, false
	}
	s.MinAt, s.MaxAt = int64(uint64(minT)+minOff), int64(uint64(minT)+maxOff)
	return s, true
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.bad, d.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) xor() uint64 {
	ctrl := d.byte()
	lead, sig := int(ctrl>>4), int(ctrl&15)
	if lead+sig > 8 || sig > len(d.b) || (ctrl != 0 && sig == 0) {
		d.bad, d.b = true, nil
		return 0
	}
	var x uint64
	for i := 0; i < sig; i++ {
		x |= uint64(d.b[i]) << (8 * (7 - lead - i))
	}
	d.b = d.b[sig:]
	return x
}
