package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Row is one series of a statement's result, shaped as InfluxDB's
// models.Row. Values may hold time.Time in column 0; the handler turns
// it into an RFC3339Nano string or, with ?epoch=, an integer.
type Row struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns,omitempty"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`
}

// Message is an informational message attached to a result, such as the
// deprecation warning for a write statement sent with GET.
type Message struct {
	Level string `json:"level"`
	Text  string `json:"text"`
}

// WarningLevel is the level of InfluxDB's warning messages.
const WarningLevel = "warning"

// Result is the outcome of one statement. Err is a runtime error, which
// InfluxDB reports inside an HTTP 200 response.
type Result struct {
	StatementID int
	Series      []*Row
	Messages    []*Message
	Partial     bool
	Err         error
}

// MarshalJSON writes the result as InfluxDB's query.Result does.
func (r *Result) MarshalJSON() ([]byte, error) {
	var o struct {
		StatementID int        `json:"statement_id"`
		Series      []*Row     `json:"series,omitempty"`
		Messages    []*Message `json:"messages,omitempty"`
		Partial     bool       `json:"partial,omitempty"`
		Err         string     `json:"error,omitempty"`
	}
	o.StatementID, o.Series, o.Messages, o.Partial = r.StatementID, r.Series, r.Messages, r.Partial
	if r.Err != nil {
		o.Err = r.Err.Error()
	}
	return json.Marshal(&o)
}

// Response is the body of every /query reply and of every error reply.
type Response struct {
	Results []*Result
	Err     error
}

// MarshalJSON writes {"results":[...]} or {"error":"..."} as InfluxDB does.
func (r Response) MarshalJSON() ([]byte, error) {
	var o struct {
		Results []*Result `json:"results,omitempty"`
		Err     string    `json:"error,omitempty"`
	}
	o.Results = r.Results
	if r.Err != nil {
		o.Err = r.Err.Error()
	}
	return json.Marshal(&o)
}

// appendResponse encodes resp as InfluxDB's JSON formatter does: compact,
// or indented with four spaces when pretty, then a newline.
func appendResponse(dst *bytes.Buffer, resp Response, pretty bool) {
	b, err := appendResponseJSON(dst.AvailableBuffer(), resp)
	if err == nil && pretty {
		// MarshalIndent is Marshal then Indent: the same bytes.
		var ind bytes.Buffer
		json.Indent(&ind, b, "", "    ")
		b = ind.Bytes()
	}
	if err != nil {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		// Only unsupported values (NaN in a float column) get here; say so
		// rather than send half a document.
		b, _ = json.Marshal(Response{Err: errors.New("unable to encode response: " + err.Error())})
	}
	dst.Write(b)
	dst.WriteByte('\n')
}

// maxErrorHeader is how much of an error message InfluxDB copies into
// the X-InfluxDB-Error header.
const maxErrorHeader = 1024

// httpError writes InfluxDB's error reply: X-InfluxDB-Error (the first
// 1024 bytes of the message) and {"error":"<msg>"}.
func (h *Handler) httpError(w http.ResponseWriter, msg string, code int) {
	switch code / 100 {
	case 4:
		h.stats.clientErrors.Add(1)
	case 5:
		h.stats.serverErrors.Add(1)
	}
	hdr := w.Header()
	if code == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Basic realm="InfluxDB"`)
	} else if code/100 != 2 {
		m := msg
		if len(m) > maxErrorHeader {
			m = m[:maxErrorHeader]
		}
		hdr.Set("X-InfluxDB-Error", headerSafe(m))
	}
	var buf bytes.Buffer
	if isCSV(hdr.Get("Content-Type")) {
		newCSVFormatter().write(&buf, Response{Err: errors.New(msg)})
	} else {
		if hdr.Get("Content-Type") == "" {
			hdr["Content-Type"] = jsonHeader
		}
		appendResponse(&buf, Response{Err: errors.New(msg)}, false)
	}
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// headerSafe replaces the bytes net/http refuses in header values (it
// drops the whole header otherwise): parse errors quote whole lines of
// client input, which may hold control characters.
func headerSafe(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c < ' ' && c != '\t' || c == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return s
}

// epochDivisors maps ?epoch= to the unit of integer timestamps.
var epochDivisors = map[string]int64{
	"ns": 1, "n": 1, "u": int64(time.Microsecond), "µ": int64(time.Microsecond),
	"ms": int64(time.Millisecond), "s": int64(time.Second),
	"m": int64(time.Minute), "h": int64(time.Hour),
}

// convertTimes rewrites time.Time values of column 0 as integers in the
// epoch unit, as InfluxDB does when ?epoch= is given (an unknown unit
// means nanoseconds). Without it times stay time.Time, which JSON writes
// as RFC3339Nano and CSV as nanoseconds.
func convertTimes(r *Result, epoch string) {
	if epoch == "" {
		return
	}
	div, ok := epochDivisors[epoch]
	if !ok {
		div = 1
	}
	for _, s := range r.Series {
		for _, v := range s.Values {
			if len(v) == 0 {
				continue
			}
			if ts, isTime := v[0].(time.Time); isTime {
				v[0] = ts.UnixNano() / div
			}
		}
	}
}
