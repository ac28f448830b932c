package index

import (
	"strings"

	"github.com/herdmon/herd/internal/models"
)

// parseKey splits a series key made by models.AppendSeriesKey into its
// measurement and tags, appending the tags to dst. It gives the same
// result as models.ParseSeriesKey but returns substrings of key wherever
// nothing has to be unescaped, so that the strings the index keeps (tag
// keys and values, measurement names) share the memory of the stored key
// instead of costing an allocation each.
func parseKey(key string, dst models.Tags) (string, models.Tags) {
	part, rest, more := cutUnescaped(key, ',')
	measurement := unescapeKey(part)
	for more {
		part, rest, more = cutUnescaped(rest, ',')
		k, v, hasValue := cutUnescaped(part, '=')
		if !hasValue {
			dst = append(dst, models.Tag{Key: unescapeKey(part)})
			continue
		}
		dst = append(dst, models.Tag{Key: unescapeKey(k), Value: unescapeKey(v)})
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

// unescapeKey undoes the line-protocol escapes of a key part, as
// models.ParseSeriesKey does: a backslash before ',', ' ' or '=' is
// dropped, any other backslash is kept.
func unescapeKey(s string) string {
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

// sameSeries reports whether a parsed key names the given measurement and
// tags. A key that does not parse back to what it was built from (a tag
// value ending in a backslash, say) is ambiguous: two different tag sets
// could share it, and with it one series id.
func sameSeries(m string, tags models.Tags, pm string, ptags models.Tags) bool {
	if m != pm || len(tags) != len(ptags) {
		return false
	}
	for i := range tags {
		if tags[i] != ptags[i] {
			return false
		}
	}
	return true
}
