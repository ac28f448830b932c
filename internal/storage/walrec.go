package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/herdmon/herd/internal/models"
)

// A WAL record is one commit group: the entries that shared one fsync,
// in the order they are applied, compressed with zstd as a whole
// (walstream.go). An entry is applied only once its record is durable,
// by the one applier, in WAL order; replay applies it again with the same
// function. A batch entry is resolved (retention policy named, server
// timestamps assigned, points no stored state could accept removed) and
// carries the time it was accepted at, the retention cutoff, so apply
// drops exactly the same points (type conflicts, beyond retention) live
// and in replay. Drop entries keep a replay from bringing back data
// dropped after it was written.
//
//	record  := version(1) entry*
//	entry   := kindBatch(1) batch | kindDropDB(2) str(db) | kindDropRP(3) str(db) str(rp)
//	         | kindDeleteSeries(4) str(db) str(measurement) uvarint(n) str(seriesKey)*
//	batch   := str(db) str(rp) varint(now) uvarint(npoints) point*
//	           (version 1: no now; replay uses its own clock)
//	point   := str(seriesKey) varint(time) uvarint(nfields) field*
//	field   := str(key) type(1) value
//	value   := float: scale(1) varint(mantissa) when the value is exactly
//	           mantissa / 10^scale (scale <= 9), else 0xFF and 8 bytes
//	           little endian | integer: varint | unsigned: uvarint
//	         | boolean: 1 byte | string: str
//	str     := uvarint(len) bytes
//
// The engine compresses the whole record before handing it to the WAL.
const walRecordVersion = 2

// walRecordVersion1 is the previous version, still read.
const walRecordVersion1 = 1

// Entry kinds of a WAL record.
const (
	kindBatch  = 1
	kindDropDB = 2
	kindDropRP = 3
	// kindDeleteSeries is DROP SERIES (measurement empty) or DROP
	// MEASUREMENT (its name given), by series key.
	kindDeleteSeries = 4
)

// maxWALString bounds any length read from a record, so a corrupt record
// cannot make the decoder allocate more than the record itself holds.
const maxWALString = 1 << 26

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendWALPoint appends one point of a batch entry; key is its series
// key.
func appendWALPoint(dst []byte, key []byte, p *models.Point) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendVarint(dst, p.Time)
	dst = binary.AppendUvarint(dst, uint64(len(p.Fields)))
	for j := range p.Fields {
		f := &p.Fields[j]
		dst = appendStr(dst, f.Key)
		dst = append(dst, byte(f.Type))
		switch f.Type {
		case models.Float:
			if k, m, ok := decimalOf(f.Num); ok {
				dst = append(dst, k)
				dst = binary.AppendVarint(dst, m)
			} else {
				dst = append(dst, rawFloat)
				dst = binary.LittleEndian.AppendUint64(dst, f.Num)
			}
		case models.Integer:
			dst = binary.AppendVarint(dst, int64(f.Num))
		case models.Unsigned:
			dst = binary.AppendUvarint(dst, f.Num)
		case models.Boolean:
			dst = append(dst, byte(f.Num))
		case models.String:
			dst = appendStr(dst, f.Str)
		}
	}
	return dst
}

// appendWALBatchHeader starts a batch entry of n points accepted at now
// (unix ns).
func appendWALBatchHeader(dst []byte, db, rp string, now int64, n int) []byte {
	dst = append(dst, kindBatch)
	dst = appendStr(dst, db)
	dst = appendStr(dst, rp)
	dst = binary.AppendVarint(dst, now)
	return binary.AppendUvarint(dst, uint64(n))
}

func dropDBEntry(db string) []byte { return appendStr([]byte{kindDropDB}, db) }

func dropRPEntry(db, rp string) []byte { return appendStr(appendStr([]byte{kindDropRP}, db), rp) }

var errBadWALRecord = errors.New("bad wal record")

type walReader struct {
	b   []byte
	off int
	err error
}

func (r *walReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", errBadWALRecord, what, r.off)
	}
}

func (r *walReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *walReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

func (r *walReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("truncated")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *walReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > maxWALString || n > uint64(len(r.b)-r.off) {
		r.fail("string length out of range")
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// walEntry is one decoded entry of a record.
type walEntry struct {
	kind   byte
	db, rp string
	// now is when a batch was accepted (its retention cutoff); hasNow is
	// false for version 1 records, which did not keep it.
	now    int64
	hasNow bool
	keys   []string
	points []models.Point
}

// decodeWALRecord decodes an uncompressed record. It never panics and
// never allocates more than a small multiple of len(b).
func decodeWALRecord(b []byte) ([]walEntry, error) {
	if len(b) == 0 || (b[0] != walRecordVersion && b[0] != walRecordVersion1) {
		return nil, fmt.Errorf("%w: unknown version", errBadWALRecord)
	}
	version := b[0]
	r := &walReader{b: b, off: 1}
	var out []walEntry
	for r.err == nil && r.off < len(b) {
		wb := walEntry{kind: r.byte1()}
		switch wb.kind {
		case kindDropDB:
			wb.db = r.str()
			if r.err == nil {
				out = append(out, wb)
			}
			continue
		case kindDropRP:
			wb.db = r.str()
			wb.rp = r.str()
			if r.err == nil {
				out = append(out, wb)
			}
			continue
		case kindDeleteSeries:
			wb.db = r.str()
			wb.rp = r.str() // the measurement, for a drop
			n := r.uvarint()
			if n > uint64(len(b)-r.off) {
				r.fail("series count out of range")
				continue
			}
			for i := uint64(0); i < n && r.err == nil; i++ {
				wb.keys = append(wb.keys, r.str())
			}
			if r.err == nil {
				out = append(out, wb)
			}
			continue
		case kindBatch:
		default:
			r.fail("unknown entry kind")
			continue
		}
		wb.db = r.str()
		wb.rp = r.str()
		if version >= walRecordVersion {
			wb.now = r.varint()
			wb.hasNow = true
		}
		n := r.uvarint()
		// Every point takes at least 3 bytes: bound n before allocating.
		if n > uint64(len(b)-r.off)/3+1 {
			r.fail("point count out of range")
			break
		}
		wb.points = make([]models.Point, 0, n)
		wb.keys = make([]string, 0, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			key := r.str()
			var p models.Point
			p.Time = r.varint()
			nf := r.uvarint()
			if nf == 0 || nf > uint64(len(b)-r.off)/2+1 {
				r.fail("field count out of range")
				break
			}
			p.Fields = make([]models.Field, 0, nf)
			for j := uint64(0); j < nf && r.err == nil; j++ {
				f := models.Field{Key: r.str(), Type: models.FieldType(r.byte1())}
				switch f.Type {
				case models.Float:
					k := r.byte1()
					if k == rawFloat {
						if r.off+8 > len(b) {
							r.fail("truncated float")
							break
						}
						f.Num = binary.LittleEndian.Uint64(b[r.off:])
						r.off += 8
					} else if int(k) < len(pow10) {
						f.Num = math.Float64bits(float64(r.varint()) / pow10[k])
					} else {
						r.fail("bad float scale")
					}
				case models.Integer:
					f.Num = uint64(r.varint())
				case models.Unsigned:
					f.Num = r.uvarint()
				case models.Boolean:
					f.Num = uint64(r.byte1() & 1)
				case models.String:
					f.Str = r.str()
				default:
					r.fail("unknown field type")
				}
				p.Fields = append(p.Fields, f)
			}
			if r.err != nil {
				break
			}
			p.Measurement, p.Tags = models.ParseSeriesKey(key)
			wb.keys = append(wb.keys, key)
			wb.points = append(wb.points, p)
		}
		if r.err != nil {
			break
		}
		out = append(out, wb)
	}
	return out, r.err
}

func modelsBatch(en *walEntry) models.Batch {
	return models.Batch{Database: en.db, RetentionPolicy: en.rp, Points: en.points}
}

// rawFloat marks a float stored as its 8 bytes in a WAL entry.
const rawFloat = 0xFF

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// decimalOf finds the smallest scale k such that the float with these
// bits is exactly m / 10^k, as the decoder computes it (bit for bit, so
// -0 and NaN stay raw). Telegraf's gauges (46.7, 0.25, 1024) then cost
// 2-4 bytes in the WAL instead of 8 bytes of noisy mantissa.
func decimalOf(bits uint64) (k byte, m int64, ok bool) {
	v := math.Float64frombits(bits)
	if v != v || math.IsInf(v, 0) || math.Abs(v) >= 1<<53 || bits == 1<<63 { // NaN, ±Inf, huge, -0
		return 0, 0, false
	}
	for i, p := range pow10 {
		x := math.Round(v * p)
		if math.Abs(x) >= 1<<53 {
			return 0, 0, false
		}
		if math.Float64bits(x/p) == bits {
			return byte(i), int64(x), true
		}
	}
	return 0, 0, false
}
