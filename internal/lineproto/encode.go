package lineproto

import (
	"strconv"

	"github.com/herdmon/herd/internal/models"
)

// AppendPoint appends p as one line of line protocol, newline included,
// with the timestamp in nanoseconds. Names are escaped so that Parse reads
// back the same point. A field of unknown type is skipped.
func AppendPoint(dst []byte, p *models.Point) []byte {
	dst = models.AppendEscaped(dst, p.Measurement, ", ")
	for _, t := range p.Tags {
		dst = append(dst, ',')
		dst = models.AppendEscaped(dst, t.Key, ", =")
		dst = append(dst, '=')
		dst = models.AppendEscaped(dst, t.Value, ", =")
	}
	sep := byte(' ')
	for i := range p.Fields {
		f := &p.Fields[i]
		if f.Type == models.Unknown {
			continue
		}
		dst = append(dst, sep)
		sep = ','
		dst = models.AppendEscaped(dst, f.Key, ", =")
		dst = append(dst, '=')
		dst = AppendFieldValue(dst, f)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.Time, 10)
	return append(dst, '\n')
}

// AppendFieldValue appends the line-protocol form of a field's value:
// floats in the shortest form that reads back bit for bit, integers with
// an i suffix, unsigned with u, quoted and escaped strings, true/false.
func AppendFieldValue(dst []byte, f *models.Field) []byte {
	switch f.Type {
	case models.Float:
		return strconv.AppendFloat(dst, f.Float(), 'g', -1, 64)
	case models.Integer:
		return append(strconv.AppendInt(dst, f.Integer(), 10), 'i')
	case models.Unsigned:
		return append(strconv.AppendUint(dst, f.Unsigned(), 10), 'u')
	case models.Boolean:
		if f.Boolean() {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case models.String:
		dst = append(dst, '"')
		for i := 0; i < len(f.Str); i++ {
			c := f.Str[i]
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		}
		return append(dst, '"')
	}
	return dst
}
