// Package models is herd's shared vocabulary: points, tags, fields and
// write batches. It imports only the standard library, so every other
// package (server, agent, bench) can speak it.
package models

import (
	"math"
	"sort"
	"strings"
)

// FieldType is the type of a field value. Its numeric values are part of
// the on-disk formats (WAL, blocks): never renumber them.
type FieldType uint8

const (
	Unknown  FieldType = 0
	Float    FieldType = 1
	Integer  FieldType = 2
	Unsigned FieldType = 3
	String   FieldType = 4
	Boolean  FieldType = 5
)

// String returns the name InfluxDB uses for the type in error messages
// and SHOW FIELD KEYS.
func (t FieldType) String() string {
	switch t {
	case Float:
		return "float"
	case Integer:
		return "integer"
	case Unsigned:
		return "unsigned"
	case String:
		return "string"
	case Boolean:
		return "boolean"
	}
	return "unknown"
}

// Tag is one key=value pair of a series.
type Tag struct {
	Key, Value string
}

// Tags is a tag set. Points produced by the line-protocol parser hold
// their tags sorted by key with no duplicate keys; call Sort on tags built
// by hand.
type Tags []Tag

// Sort orders tags by key, as series keys require.
func (t Tags) Sort() { sort.Slice(t, func(i, j int) bool { return t[i].Key < t[j].Key }) }

// Get returns the value of key, or "" when the tag is absent.
func (t Tags) Get(key string) string {
	for _, tag := range t {
		if tag.Key == key {
			return tag.Value
		}
	}
	return ""
}

// Field is one named value of a point. Num carries the float64 bits, the
// int64 or uint64 value, or 0/1 for a boolean; Str carries a string value.
type Field struct {
	Key  string
	Type FieldType
	Num  uint64
	Str  string
}

// FloatField, IntegerField, UnsignedField, StringField and BooleanField
// build fields of each type.
func FloatField(key string, v float64) Field {
	return Field{Key: key, Type: Float, Num: math.Float64bits(v)}
}
func IntegerField(key string, v int64) Field { return Field{Key: key, Type: Integer, Num: uint64(v)} }
func UnsignedField(key string, v uint64) Field {
	return Field{Key: key, Type: Unsigned, Num: v}
}
func StringField(key, v string) Field { return Field{Key: key, Type: String, Str: v} }
func BooleanField(key string, v bool) Field {
	f := Field{Key: key, Type: Boolean}
	if v {
		f.Num = 1
	}
	return f
}

// Float returns the value of a Float field.
func (f Field) Float() float64 { return math.Float64frombits(f.Num) }

// Integer returns the value of an Integer field.
func (f Field) Integer() int64 { return int64(f.Num) }

// Unsigned returns the value of an Unsigned field.
func (f Field) Unsigned() uint64 { return f.Num }

// Boolean returns the value of a Boolean field.
func (f Field) Boolean() bool { return f.Num != 0 }

// Point is one measurement at one time: a series (measurement and tags)
// with one or more field values. Time is in Unix nanoseconds.
type Point struct {
	Measurement string
	Tags        Tags
	Fields      []Field
	Time        int64
}

// Batch is a unit of writing: points for one database and retention
// policy. An empty RetentionPolicy means the database's default.
type Batch struct {
	Database        string
	RetentionPolicy string
	Points          []Point
}

// AppendSeriesKey appends the canonical series key of a measurement and
// sorted tag set: the measurement and tags escaped as in line protocol,
// joined by commas, e.g. `cpu,cpu=cpu0,host=a`. Equal series have equal
// keys, and the key can be split back with ParseSeriesKey.
func AppendSeriesKey(dst []byte, measurement string, tags Tags) []byte {
	dst = AppendEscaped(dst, measurement, measurementEscapes)
	for _, t := range tags {
		dst = append(dst, ',')
		dst = AppendEscaped(dst, t.Key, tagEscapes)
		dst = append(dst, '=')
		dst = AppendEscaped(dst, t.Value, tagEscapes)
	}
	return dst
}

// SeriesKey returns AppendSeriesKey as a string.
func SeriesKey(measurement string, tags Tags) string {
	return string(AppendSeriesKey(make([]byte, 0, 64), measurement, tags))
}

// ParseSeriesKey splits a key made by AppendSeriesKey into its
// measurement and tags, undoing the escapes.
func ParseSeriesKey(key string) (measurement string, tags Tags) {
	return AppendParsedSeriesKey(key, nil)
}

// AppendParsedSeriesKey is ParseSeriesKey appending the tags to dst. The
// strings it returns are substrings of key wherever nothing has to be
// unescaped, so that callers keeping them (the series index) share the
// key's memory instead of costing an allocation each.
func AppendParsedSeriesKey(key string, dst Tags) (string, Tags) {
	part, rest, more := cutUnescaped(key, ',')
	measurement := unescape(part)
	for more {
		part, rest, more = cutUnescaped(rest, ',')
		k, v, hasValue := cutUnescaped(part, '=')
		if !hasValue {
			dst = append(dst, Tag{Key: unescape(part)})
			continue
		}
		dst = append(dst, Tag{Key: unescape(k), Value: unescape(v)})
	}
	return measurement, dst
}

// cutUnescaped splits s around the first sep not preceded by a backslash.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unescape undoes the line-protocol escapes of a key part: a backslash
// before ',', ' ' or '=' is dropped, any other backslash is kept.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == ',' || s[i+1] == ' ' || s[i+1] == '=') {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Escape sets used by line protocol.
const (
	measurementEscapes = ", "
	tagEscapes         = ", ="
)

// AppendEscaped appends s with a backslash before every byte in chars.
// The series key of every written point goes through here, so the
// common sets of line protocol (", " and ", =") are checked with plain
// byte comparisons rather than strings.ContainsAny.
func AppendEscaped(dst []byte, s, chars string) []byte {
	eq := false
	switch chars {
	case measurementEscapes:
	case tagEscapes:
		eq = true
	default:
		for i := 0; i < len(s); i++ {
			if strings.IndexByte(chars, s[i]) >= 0 {
				dst = append(dst, '\\')
			}
			dst = append(dst, s[i])
		}
		return dst
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == ' ' || (eq && c == '=') {
			clean = false
			break
		}
	}
	if clean {
		return append(dst, s...) // the common case: nothing to escape
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == ' ' || (eq && c == '=') {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}
