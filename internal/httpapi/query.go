package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/membudget"
)

// DefaultChunkSize is InfluxDB's rows per chunk when chunked=true comes
// without a usable chunk_size.
const DefaultChunkSize = 10000

// maxQueryBytes bounds a query read from a multipart file when the body
// limit is off: queries are text typed by people and dashboards.
const maxQueryBytes = 16 << 20

// serveQuery answers GET|POST /query: it reads q (URL, form body or a
// multipart file named q), parses it with InfluxQL, runs each statement
// through the executor and writes InfluxDB's JSON, whole or chunked.
func (h *Handler) serveQuery(w http.ResponseWriter, r *http.Request) {
	h.stats.queryRequests.Add(1)
	defer func(start time.Time) { h.stats.queryDurationNs.Add(time.Since(start).Nanoseconds()) }(time.Now())

	limit := h.maxBody
	if limit <= 0 {
		limit = maxQueryBytes
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	var qr io.Reader
	if q := strings.TrimSpace(r.FormValue("q")); q != "" {
		qr = strings.NewReader(q)
	} else if r.MultipartForm != nil && r.MultipartForm.File != nil {
		if fhs := r.MultipartForm.File["q"]; len(fhs) > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				h.httpError(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer f.Close()
			qr = io.LimitReader(f, limit)
		}
	}
	if qr == nil {
		h.httpError(w, `missing required parameter "q"`, http.StatusBadRequest)
		return
	}

	p := influxql.NewParser(qr)
	if raw := r.FormValue("params"); raw != "" {
		params, err := parseParams(raw)
		if err != nil {
			h.httpError(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.SetParams(params)
	}
	q, err := p.ParseQuery()
	if err != nil {
		h.httpError(w, "error parsing query: "+err.Error(), http.StatusBadRequest)
		return
	}

	epoch := strings.TrimSpace(r.FormValue("epoch"))
	pretty := r.URL.Query().Get("pretty") == "true"
	chunked := r.FormValue("chunked") == "true"
	chunkSize := 0
	if chunked {
		chunkSize = DefaultChunkSize
		if n, err := strconv.ParseInt(r.FormValue("chunk_size"), 10, 64); err == nil && n > 0 && n <= 1<<30 {
			chunkSize = int(n)
		}
	}
	async := r.FormValue("async") == "true"

	// One account for the whole request: all its statements, and the
	// answer buffered for a non-chunked reply, count together.
	mem := h.queryMemory.Account()
	ectx := &ExecutionContext{
		Context:         r.Context(),
		Database:        r.FormValue("db"),
		RetentionPolicy: r.FormValue("rp"),
		ReadOnly:        r.Method == http.MethodGet,
		ChunkSize:       chunkSize,
		Memory:          mem,
	}

	if async {
		// InfluxDB answers 204 at once and runs the query in the
		// background; the results are discarded.
		ectx.Context = context.Background()
		ectx.send = func(*Result) error { return nil }
		go func() {
			defer mem.Close()
			h.execute(ectx, q)
		}()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer mem.Close()

	csv := isCSV(w.Header().Get("Content-Type"))
	w.WriteHeader(http.StatusOK)
	if chunked {
		var buf bytes.Buffer
		encode := func(resp Response) { appendResponse(&buf, resp, pretty) }
		if csv {
			f := newCSVFormatter()
			encode = func(resp Response) { f.write(&buf, resp) }
		}
		flusher, _ := w.(http.Flusher)
		ectx.send = func(res *Result) error {
			convertTimes(res, epoch)
			buf.Reset()
			encode(Response{Results: []*Result{res}})
			n, err := w.Write(buf.Bytes())
			h.stats.queryBytesSent.Add(int64(n))
			if flusher != nil {
				flusher.Flush()
			}
			return err
		}
		h.execute(ectx, q)
		return
	}
	whole := newWholeResponse(mem, epoch, pretty, csv)
	ectx.send = whole.add
	ectx.endStatement = whole.endStatement
	h.execute(ectx, q)
	b := whole.finish()
	n, _ := w.Write(b)
	h.stats.queryBytesSent.Add(int64(n))
}

// execute runs the statements in order. The first error becomes its
// statement's result and the statements after it are "not executed".
// (InfluxDB 1.8 means the same but, through an off-by-one, reports the
// failed statement itself as "not executed" and drops the last one; herd
// reports the real error.)
func (h *Handler) execute(ectx *ExecutionContext, q *influxql.Query) {
	for i, stmt := range q.Statements {
		ectx.StatementID = i
		ectx.sent = false
		err := h.exec.ExecuteStatement(ectx, stmt)
		if err == nil && !ectx.sent {
			if err = ectx.Send(&Result{}); err != nil {
				return // writing to the client failed
			}
		}
		if err == nil && ectx.endStatement != nil {
			err = ectx.endStatement()
		}
		if err != nil {
			if ectx.Context.Err() != nil {
				return // the client is gone
			}
			if ectx.Send(&Result{Err: err}) != nil {
				return
			}
			for j := i + 1; j < len(q.Statements); j++ {
				ectx.StatementID = j
				if ectx.Send(&Result{Err: ErrNotExecuted}) != nil {
					return
				}
			}
			return
		}
	}
}

// wholeResponse gathers a non-chunked answer within the request's memory
// budget: the current statement's result, whose series pieces are joined
// as they come (and which an error replaces), and the encoded bytes of
// the statements before it, which keep far less than their values did.
// The bytes are those of encoding the whole Response at once.
type wholeResponse struct {
	mem    *membudget.Account
	epoch  string
	pretty bool
	csv    *csvFormatter // nil: JSON

	buf     bytes.Buffer // JSON: `{"results":[` and the results encoded so far
	results int          // results encoded
	held    int64        // bytes accounted for buf
	failed  error        // a result JSON cannot encode (NaN): the answer is this error
	slow    bool         // a result took encoding/json's path, which is never indented

	cur      *Result // the current statement's result, not yet encoded
	curBytes int64   // bytes accounted for cur's values
}

func newWholeResponse(mem *membudget.Account, epoch string, pretty, csv bool) *wholeResponse {
	w := &wholeResponse{mem: mem, epoch: epoch, pretty: pretty}
	if csv {
		w.csv = newCSVFormatter()
	} else {
		w.buf.WriteString(`{"results":[`)
	}
	return w
}

// add takes a result of the current statement, or the first of the next.
func (w *wholeResponse) add(res *Result) error {
	convertTimes(res, w.epoch)
	if w.cur != nil && w.cur.StatementID != res.StatementID {
		// Only error results are left unencoded by endStatement; they
		// are small, and must be answered whatever the budget.
		w.encodeCur(false)
	}
	if w.cur == nil || res.Err != nil {
		w.drop()
		w.cur = res
		return w.account(res)
	}
	cur := w.cur
	merged := 0
	if len(cur.Series) > 0 {
		last := cur.Series[len(cur.Series)-1]
		for _, row := range res.Series {
			if !last.Partial || !sameSeries(last, row) {
				break
			}
			last.Values = append(last.Values, row.Values...)
			last.Partial = row.Partial
			merged++
		}
	}
	cur.Series = append(cur.Series, res.Series[merged:]...)
	cur.Messages = append(cur.Messages, res.Messages...)
	cur.Partial = res.Partial
	return w.account(res)
}

// account counts res's values as held by the current result.
func (w *wholeResponse) account(res *Result) error {
	var n int64
	for _, row := range res.Series {
		n += membudget.RowsSize(row.Values)
	}
	if err := w.mem.Grow(n); err != nil {
		return err
	}
	w.curBytes += n
	return nil
}

// drop forgets the current result.
func (w *wholeResponse) drop() {
	w.mem.Shrink(w.curBytes)
	w.cur, w.curBytes = nil, 0
}

// endStatement encodes the finished statement's result, within the
// budget: past it, the result is kept as it was for the error to replace.
func (w *wholeResponse) endStatement() error {
	return w.encodeCur(true)
}

func (w *wholeResponse) encodeCur(limited bool) error {
	if w.cur == nil {
		return nil
	}
	before := w.buf.Len()
	switch {
	case w.failed != nil:
	case w.csv != nil:
		w.csv.write(&w.buf, Response{Results: []*Result{w.cur}})
	default:
		if w.results > 0 {
			w.buf.WriteByte(',')
		}
		b, err := appendResultJSON(w.buf.AvailableBuffer(), w.cur)
		if err != nil {
			// The bytes and the error encoding/json gives, as for the
			// whole Response.
			w.slow = true
			if b, err = json.Marshal(w.cur); err != nil {
				_, err = json.Marshal(Response{Results: []*Result{w.cur}})
				w.failed = err
			}
		}
		w.buf.Write(b)
	}
	grown := int64(w.buf.Len() - before)
	if err := w.mem.Grow(grown); err != nil {
		if limited {
			w.buf.Truncate(before)
			return err
		}
		w.held -= grown // answered anyway, unaccounted
	}
	w.held += grown
	w.results++
	w.drop()
	return nil
}

// finish returns the whole answer.
func (w *wholeResponse) finish() []byte {
	w.encodeCur(false)
	if w.csv != nil {
		return w.buf.Bytes()
	}
	var b []byte
	switch {
	case w.failed != nil:
		var buf bytes.Buffer
		appendResponse(&buf, Response{Err: errors.New("unable to encode response: " + w.failed.Error())}, false)
		return buf.Bytes()
	case w.results == 0:
		b = []byte("{}")
	default:
		w.buf.WriteString("]}")
		b = w.buf.Bytes()
	}
	if w.pretty && !w.slow {
		// MarshalIndent is Marshal then Indent: the same bytes.
		var ind bytes.Buffer
		json.Indent(&ind, b, "", "    ")
		b = ind.Bytes()
	}
	return append(b, '\n')
}

func sameSeries(a, b *Row) bool {
	if a.Name != b.Name || len(a.Tags) != len(b.Tags) {
		return false
	}
	for k, v := range a.Tags {
		if bv, ok := b.Tags[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// parseParams decodes the params JSON object for $var bind parameters,
// turning numbers into int64 or float64 as InfluxDB does.
func parseParams(raw string) (map[string]any, error) {
	var params map[string]any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return nil, fmt.Errorf("error parsing query parameters: %w", err)
	}
	for k, v := range params {
		num, ok := v.(json.Number)
		if !ok {
			continue
		}
		var err error
		if strings.Contains(string(num), ".") {
			params[k], err = num.Float64()
		} else {
			params[k], err = num.Int64()
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing json value: %w", err)
		}
	}
	return params, nil
}
