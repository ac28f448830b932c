package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxql"
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
	if !h.readQueryForm(w, r) {
		return
	}
	q, status, err := h.queryText(r, limit)
	if err != nil {
		h.httpError(w, err.Error(), status)
		return
	}
	// Bounded before the parser sees it: see scanQuery.
	texts, err := scanQuery(q, h.queryLimits)
	if err != nil {
		if le, ok := err.(*queryLimitError); ok {
			switch le.limit {
			case "depth":
				h.stats.queryTooDeep.Add(1)
			case "terms":
				h.stats.queryTooManyTerms.Add(1)
			}
		}
		h.httpError(w, "error parsing query: "+err.Error(), http.StatusBadRequest)
		return
	}

	p := influxql.NewParser(strings.NewReader(q))
	if raw := r.FormValue("params"); raw != "" {
		params, err := parseParams(raw)
		if err != nil {
			h.httpError(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.SetParams(params)
	}
	query, err := p.ParseQuery()
	if err != nil {
		h.httpError(w, "error parsing query: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(texts) != len(query.Statements) {
		texts = nil // SHOW QUERIES renders the statements instead
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
		ans := &answer{ectx: ectx, statements: len(query.Statements)}
		ectx.finish = ans.finish
		go func() {
			defer mem.Close()
			h.execute(ectx, query, texts, ans)
		}()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer mem.Close()

	csv := isCSV(w.Header().Get("Content-Type"))
	w.WriteHeader(http.StatusOK)
	guard := newWriteGuard(w)
	defer guard.end()
	ans := &answer{ectx: ectx, statements: len(query.Statements), guard: guard}
	ectx.begin = guard.bind
	ectx.finish = ans.finish
	if chunked {
		var buf bytes.Buffer
		encode := func(resp Response) { appendResponse(&buf, resp, pretty) }
		if csv {
			f := newCSVFormatter()
			encode = func(resp Response) { f.write(&buf, resp) }
		}
		flusher, _ := w.(http.Flusher)
		rc := http.NewResponseController(w)
		ectx.send = func(res *Result) error {
			convertTimes(res, epoch)
			buf.Reset()
			encode(Response{Results: []*Result{res}})
			n, err := w.Write(buf.Bytes())
			h.stats.queryBytesSent.Add(int64(n))
			if err == nil && flusher != nil {
				// A Flush that fails leaves the error to the next write:
				// the controller's reports it now.
				err = rc.Flush()
			}
			if err != nil {
				ans.aborted = true
			}
			return err
		}
	} else {
		whole := newWholeResponse(mem, epoch, pretty, csv)
		defer whole.close()
		ectx.send = whole.add
		ans.encode = whole.endStatement
		ans.complete = func(ctx context.Context) {
			guard.bind(ctx)
			if ctx.Err() != nil {
				// Ended before the write began: the answer carries the
				// statement's error, and has writeGrace to go out.
				ctx = context.Background()
			}
			n, err := whole.writeTo(w, ctx)
			h.stats.queryBytesSent.Add(n)
			if err != nil {
				ans.aborted = true
			}
		}
	}
	h.execute(ectx, query, texts, ans)
	if ans.statements == 0 && ans.complete != nil {
		ans.complete(r.Context()) // "{}"
	}
	if ans.aborted {
		// Part of the answer is out and the rest cannot follow (the
		// client is gone, or stopped reading and the statement's
		// context ended): closing the connection without ending the
		// response tells the client that the answer is cut.
		h.stats.queryAborted.Add(1)
		panic(http.ErrAbortHandler)
	}
}

// readQueryForm reads a POST body's form (q, params, ...), which must
// arrive within body-read-timeout like a write's body, so that a client
// trickling it cannot hold a connection and its buffer. The deadline is
// cleared once the form is in: the statements may run for longer. It
// answers the error itself and returns false when the form did not
// arrive.
func (h *Handler) readQueryForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost || h.bodyTimeout <= 0 {
		return true
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)) // not every ResponseWriter has a connection
	// ParseMultipartForm drops ParseForm's error when the body is not
	// multipart: ParseForm first.
	err := r.ParseForm()
	if err == nil {
		err = r.ParseMultipartForm(32 << 20)
	}
	_ = rc.SetReadDeadline(time.Time{})
	switch {
	case err == nil, errors.Is(err, http.ErrNotMultipart):
		return true
	case errors.Is(err, os.ErrDeadlineExceeded):
		h.stats.queryBodyTimeouts.Add(1)
		h.bodyTimedOut(w, "the query form")
		return false
	}
	// Other errors (a form too large, malformed) are left to the
	// parameters' checks below, as before.
	return true
}

// queryText returns q (from the URL, the form body or a multipart file
// named q), refusing one longer than max-query-size with 413 before
// reading more of it.
func (h *Handler) queryText(r *http.Request, bodyLimit int64) (string, int, error) {
	maxSize := h.queryLimits.MaxSize
	tooLarge := func() (string, int, error) {
		h.stats.queryTooLarge.Add(1)
		return "", http.StatusRequestEntityTooLarge, fmt.Errorf("query too large: q is longer than %d bytes (max-query-size)", maxSize)
	}
	if q := r.FormValue("q"); strings.TrimSpace(q) != "" {
		if int64(len(q)) > maxSize {
			return tooLarge()
		}
		return strings.TrimSpace(q), 0, nil
	}
	if r.MultipartForm != nil && r.MultipartForm.File != nil {
		if fhs := r.MultipartForm.File["q"]; len(fhs) > 0 {
			f, err := fhs[0].Open()
			if err != nil {
				return "", http.StatusBadRequest, err
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, min(bodyLimit, maxSize+1)))
			if err != nil {
				return "", http.StatusBadRequest, err
			}
			if int64(len(b)) > maxSize {
				return tooLarge()
			}
			if q := strings.TrimSpace(string(b)); q != "" {
				return q, 0, nil
			}
		}
	}
	return "", http.StatusBadRequest, errors.New(`missing required parameter "q"`)
}

// execute runs the statements in order, ending each with
// ExecutionContext.Finish (see answer.finish).
func (h *Handler) execute(ectx *ExecutionContext, q *influxql.Query, texts []string, ans *answer) {
	for i, stmt := range q.Statements {
		ectx.StatementID = i
		ectx.Text = ""
		if i < len(texts) {
			ectx.Text = texts[i]
		}
		ectx.sent, ectx.finished = false, false
		err := h.exec.ExecuteStatement(ectx, stmt)
		if !ectx.finished {
			ectx.Finish(ectx.Context, err)
		}
		if ans.stop {
			return
		}
	}
}

// answer ends a /query request's statements and writes its answer.
type answer struct {
	ectx       *ExecutionContext
	statements int
	guard      *writeGuard
	// encode, when set, encodes the statement's gathered result,
	// checking ctx (non-chunked answers).
	encode func(ctx context.Context) error
	// complete, when set, writes the whole answer, under ctx
	// (non-chunked answers).
	complete func(ctx context.Context)

	stop    bool // no statement runs after the current one
	aborted bool // a write failed: the answer is cut
}

// finish ends the current statement under ctx (see
// ExecutionContext.Finish). The first error becomes its statement's
// result and the statements after it are "not executed". (InfluxDB 1.8
// means the same but, through an off-by-one, reports the failed
// statement itself as "not executed" and drops the last one; herd
// reports the real error.) The last statement, or a failed one, writes
// a non-chunked answer, still under ctx.
func (a *answer) finish(ctx context.Context, err error) error {
	ectx := a.ectx
	defer a.guard.release()
	last := ectx.StatementID == a.statements-1
	if err == nil && !ectx.sent {
		if err = ectx.Send(&Result{}); err != nil {
			a.stop = true
			return err // writing to the client failed
		}
	}
	if err == nil && a.encode != nil {
		err = a.encode(ctx)
	}
	if err != nil {
		a.stop = true
		if ectx.Context.Err() != nil || a.aborted {
			return err // the client is gone, or its answer is cut
		}
		if ectx.Send(&Result{Err: err}) == nil {
			for j := ectx.StatementID + 1; j < a.statements; j++ {
				ectx.StatementID = j
				if ectx.Send(&Result{Err: ErrNotExecuted}) != nil {
					break
				}
			}
		}
	}
	if (a.stop || last) && a.complete != nil {
		a.complete(ctx)
	}
	return err
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
