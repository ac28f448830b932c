package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// A query answer is mostly numbers and timestamps in [][]any; going
// through encoding/json costs a reflect walk per value and a second pass
// that compacts each MarshalJSON result (a quarter of a dashboard
// query's server time). appendResponseJSON writes the same bytes
// directly. Values of types it does not know go through encoding/json,
// and anything encoding/json would refuse (NaN, a year past 9999) makes
// it return errSlowPath so the caller takes the encoding/json path and
// its exact error text. FuzzResponseJSON holds it to encoding/json's
// output byte for byte.

var errSlowPath = errors.New("value needs encoding/json")

// appendResponseJSON appends resp as json.Marshal(resp) would.
func appendResponseJSON(b []byte, resp Response) ([]byte, error) {
	b = append(b, '{')
	sep := false
	if len(resp.Results) > 0 {
		b = append(b, `"results":[`...)
		for i, r := range resp.Results {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendResultJSON(b, r); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
		sep = true
	}
	if resp.Err != nil {
		if msg := resp.Err.Error(); msg != "" {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"error":`...)
			b = appendJSONString(b, msg)
		}
	}
	return append(b, '}'), nil
}

func appendResultJSON(b []byte, r *Result) ([]byte, error) {
	return appendResultJSONChecked(b, r, nil)
}

// appendResultJSONChecked is appendResultJSON calling check.tick for
// every series and row, ending with its error.
func appendResultJSONChecked(b []byte, r *Result, check *encodeCheck) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	b = append(b, `{"statement_id":`...)
	b = strconv.AppendInt(b, int64(r.StatementID), 10)
	if len(r.Series) > 0 {
		b = append(b, `,"series":[`...)
		for i, row := range r.Series {
			if i > 0 {
				b = append(b, ',')
			}
			if err := check.tick(); err != nil {
				return b, err
			}
			var err error
			if b, err = appendRowJSON(b, row, check); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	if len(r.Messages) > 0 {
		b = append(b, `,"messages":[`...)
		for i, m := range r.Messages {
			if i > 0 {
				b = append(b, ',')
			}
			if m == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, `{"level":`...)
			b = appendJSONString(b, m.Level)
			b = append(b, `,"text":`...)
			b = appendJSONString(b, m.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.Partial {
		b = append(b, `,"partial":true`...)
	}
	if r.Err != nil {
		if msg := r.Err.Error(); msg != "" {
			b = append(b, `,"error":`...)
			b = appendJSONString(b, msg)
		}
	}
	return append(b, '}'), nil
}

func appendRowJSON(b []byte, r *Row, check *encodeCheck) ([]byte, error) {
	if r == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, name...)
	}
	if r.Name != "" {
		field(`"name":`)
		b = appendJSONString(b, r.Name)
	}
	if len(r.Tags) > 0 {
		field(`"tags":{`)
		keys := make([]string, 0, len(r.Tags))
		for k := range r.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, r.Tags[k])
		}
		b = append(b, '}')
	}
	if len(r.Columns) > 0 {
		field(`"columns":[`)
		for i, c := range r.Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, c)
		}
		b = append(b, ']')
	}
	if len(r.Values) > 0 {
		field(`"values":[`)
		for i, vals := range r.Values {
			if i > 0 {
				b = append(b, ',')
			}
			if err := check.tick(); err != nil {
				return b, err
			}
			if vals == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '[')
			for j, v := range vals {
				if j > 0 {
					b = append(b, ',')
				}
				var err error
				if b, err = appendJSONValue(b, v); err != nil {
					return b, err
				}
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if r.Partial {
		field(`"partial":true`)
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case float64:
		return appendJSONFloat(b, v)
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case string:
		return appendJSONString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case time.Time:
		if y := v.Year(); y < 0 || y > 9999 {
			return b, errSlowPath
		}
		if _, off := v.Zone(); off <= -24*3600 || off >= 24*3600 {
			return b, errSlowPath
		}
		b = append(b, '"')
		b = v.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, errSlowPath
	}
	return append(b, enc...), nil
}

// appendJSONFloat formats as encoding/json does: the shortest
// representation, in exponent form only below 1e-6 or from 1e21, with a
// two-digit negative exponent shortened (1e-07 becomes 1e-7).
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, errSlowPath
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does by default: <, > and &
// escaped for HTML, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
