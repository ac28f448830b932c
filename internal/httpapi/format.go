package httpapi

import (
	"bytes"
	"encoding/csv"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// Response formats, chosen from the Accept header as InfluxDB does
// (response_writer.go): JSON by default, CSV for application/csv or
// text/csv. InfluxDB's msgpack is not offered; such clients get JSON.
const (
	contentJSON    = "application/json"
	contentCSV     = "application/csv"
	contentTextCSV = "text/csv"
)

// negotiate returns the Content-Type to answer r with.
func negotiate(r *http.Request) string {
	accepts := r.Header["Accept"]
	if len(accepts) == 0 {
		return contentJSON
	}
	type clause struct {
		typ, sub string
		q        float64
	}
	var cs []clause
	for _, h := range accepts {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			c := clause{q: 1}
			if mt == "*" {
				c.typ, c.sub = "*", "*"
			} else if t, s, ok := strings.Cut(mt, "/"); ok {
				c.typ, c.sub = t, s
			} else {
				continue
			}
			if q, ok := params["q"]; ok {
				c.q, _ = strconv.ParseFloat(q, 64)
			}
			cs = append(cs, c)
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].q > cs[j].q })
	match := func(c clause, typ, sub string) bool {
		return (c.typ == "*" || c.typ == typ) && (c.sub == "*" || c.sub == sub)
	}
	for _, c := range cs {
		switch {
		case match(c, "application", "json"):
			return contentJSON
		case match(c, "application", "csv"):
			return contentCSV
		case match(c, "text", "csv"):
			return contentTextCSV
		}
	}
	return contentJSON
}

func isCSV(contentType string) bool {
	return contentType == contentCSV || contentType == contentTextCSV
}

// csvFormatter writes results as InfluxDB's CSV formatter does: a header
// "name,tags,<columns>" per statement (and again when the columns
// change), tags as k=v pairs, times as integers. It keeps state across
// the chunks of one response.
type csvFormatter struct {
	statementID int
	columns     []string
}

func newCSVFormatter() *csvFormatter { return &csvFormatter{statementID: -1} }

func (f *csvFormatter) write(dst *bytes.Buffer, resp Response) {
	_ = f.writeChecked(dst, resp, nil) // a nil check never fails
}

// writeChecked is write calling check.tick for every row, ending with
// its error.
func (f *csvFormatter) writeChecked(dst *bytes.Buffer, resp Response, check *encodeCheck) error {
	w := csv.NewWriter(dst)
	defer w.Flush()
	if resp.Err != nil {
		w.Write([]string{"error"})
		w.Write([]string{resp.Err.Error()})
		return nil
	}
	for _, res := range resp.Results {
		if res.StatementID != f.statementID {
			if len(res.Series) == 0 {
				continue
			}
			if f.statementID >= 0 {
				w.Flush()
				dst.WriteByte('\n')
			}
			f.statementID = res.StatementID
			f.header(w, res.Series[0].Columns)
		}
		for i, row := range res.Series {
			if i > 0 && !slices.Equal(res.Series[i-1].Columns, row.Columns) {
				w.Flush()
				dst.WriteByte('\n')
				f.header(w, row.Columns)
			}
			f.columns[0] = row.Name
			f.columns[1] = csvTags(row.Tags)
			for _, values := range row.Values {
				if err := check.tick(); err != nil {
					return err
				}
				for j := range f.columns[2:] {
					f.columns[j+2] = ""
					if j < len(values) {
						f.columns[j+2] = csvValue(values[j])
					}
				}
				w.Write(f.columns)
			}
		}
	}
	return nil
}

func (f *csvFormatter) header(w *csv.Writer, columns []string) {
	f.columns = append(append(f.columns[:0], "name", "tags"), columns...)
	w.Write(f.columns)
	f.columns = append([]string(nil), f.columns...) // rows reuse a copy
}

// csvTags writes a tag set as InfluxDB's series-key form without the
// measurement: sorted, escaped k=v pairs joined by commas.
func csvTags(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	ts := make(models.Tags, 0, len(tags))
	for k, v := range tags {
		ts = append(ts, models.Tag{Key: k, Value: v})
	}
	ts.Sort()
	key := models.AppendSeriesKey(nil, "", ts)
	return string(key[1:]) // drop the comma after the empty measurement
}

func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case uint64:
		return strconv.FormatUint(v, 10)
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return strconv.FormatInt(v.UnixNano(), 10)
	}
	return ""
}
