package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/herdmon/herd/internal/membudget"
)

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

	out     blockBuffer // the results encoded so far (JSON: after `{"results":[`)
	scratch []byte      // one result being encoded
	csvBuf  bytes.Buffer
	results int   // results encoded
	held    int64 // bytes accounted for out and scratch
	failed  error // a result JSON cannot encode (NaN): the answer is this error
	slow    bool  // a result took encoding/json's path, which is never indented

	cur      *Result // the current statement's result, not yet encoded
	curBytes int64   // bytes accounted for cur's values
}

func newWholeResponse(mem *membudget.Account, epoch string, pretty, csv bool) *wholeResponse {
	w := &wholeResponse{mem: mem, epoch: epoch, pretty: pretty}
	if csv {
		w.csv = newCSVFormatter()
	}
	return w
}

// add takes a result of the current statement, or the first of the next.
func (w *wholeResponse) add(res *Result) error {
	convertTimes(res, w.epoch)
	if w.cur != nil && w.cur.StatementID != res.StatementID {
		// Only error results are left unencoded by endStatement; they
		// are small, and must be answered whatever the budget.
		w.encodeCur(false, nil)
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
// budget: past it, the result is kept as it was, for the statement's
// error to replace. So is a result whose ctx (the statement's) ends
// before it is encoded: the error is then ctx's cause.
func (w *wholeResponse) endStatement(ctx context.Context) error {
	return w.encodeCur(true, &encodeCheck{ctx: ctx})
}

// largeScratch is the scratch capacity kept between results; a larger
// one, grown by a large result, is let go.
const largeScratch = 1 << 20

// encodeCur encodes the current result into out. When limited, a result
// that would pass the budget is left unencoded and the error returned.
// A check that ends the encoding (the statement's context ended) leaves
// the result unencoded too, and its cause is returned.
func (w *wholeResponse) encodeCur(limited bool, check *encodeCheck) error {
	if w.cur == nil {
		return nil
	}
	var b []byte
	var interrupted *interruptedError
	switch {
	case w.failed != nil:
	case w.csv != nil:
		w.csvBuf.Reset()
		csvStatement := w.csv.statementID
		if err := w.csv.writeChecked(&w.csvBuf, Response{Results: []*Result{w.cur}}, check); err != nil {
			w.csv.statementID = csvStatement
			w.trimScratch()
			return err.(*interruptedError).cause
		}
		b = w.csvBuf.Bytes()
	default:
		var err error
		b, err = appendResultJSONChecked(w.scratch[:0], w.cur, check)
		if errors.As(err, &interrupted) {
			w.scratch = b
			w.trimScratch()
			return interrupted.cause
		}
		if err != nil {
			// The bytes and the error encoding/json gives, as for the
			// whole Response.
			w.slow = true
			if b, err = json.Marshal(w.cur); err != nil {
				_, err = json.Marshal(Response{Results: []*Result{w.cur}})
				w.failed = err
			}
		} else {
			w.scratch = b
		}
	}
	sep := 0
	if w.results > 0 && w.csv == nil {
		sep = 1
	}
	if err := check.now(); err != nil {
		// Ended after its last look: the answer still carries the error.
		w.trimScratch()
		return err.(*interruptedError).cause
	}
	// What the result costs: out's new blocks, and the scratch it grew.
	held := w.out.capAfter(sep+len(b)) + int64(cap(w.scratch)+w.csvBuf.Cap())
	if err := w.mem.Grow(held - w.held); err != nil {
		if limited {
			w.trimScratch()
			return err
		}
	}
	w.held = max(w.held, held)
	if sep > 0 {
		w.out.Write([]byte{','})
	}
	w.out.Write(b)
	w.results++
	w.trimScratch()
	w.drop()
	return nil
}

// trimScratch lets go of a scratch grown past largeScratch.
func (w *wholeResponse) trimScratch() {
	if cap(w.scratch) > largeScratch {
		w.scratch = nil
	}
	if w.csvBuf.Cap() > largeScratch {
		w.csvBuf = bytes.Buffer{}
	}
	held := w.out.cap() + int64(cap(w.scratch)+w.csvBuf.Cap())
	if held < w.held {
		w.mem.Shrink(w.held - held)
		w.held = held
	}
}

// writeTo writes the whole answer. A ctx (the last statement's) that
// ends while it writes ends it, between blocks, with the cause: the
// answer is cut, and the caller must close the connection.
func (w *wholeResponse) writeTo(dst io.Writer, ctx context.Context) (int64, error) {
	w.encodeCur(false, nil)
	if w.csv != nil {
		return w.out.WriteTo(dst)
	}
	var buf bytes.Buffer
	switch {
	case w.failed != nil:
		appendResponse(&buf, Response{Err: errors.New("unable to encode response: " + w.failed.Error())}, false)
	case w.results == 0:
		buf.WriteString("{}\n")
	case w.pretty && !w.slow:
		// MarshalIndent is Marshal then Indent: the same bytes. (Pretty
		// answers are for people; this copy is not budgeted.)
		var doc bytes.Buffer
		doc.WriteString(`{"results":[`)
		w.out.WriteTo(&doc)
		doc.WriteString("]}")
		json.Indent(&buf, doc.Bytes(), "", "    ")
		buf.WriteByte('\n')
	default:
		n, err := io.WriteString(dst, `{"results":[`)
		if err != nil {
			return int64(n), err
		}
		m, err := w.out.writeChecked(dst, ctx)
		if err != nil {
			return int64(n) + m, err
		}
		k, err := io.WriteString(dst, "]}\n")
		return int64(n+k) + m, err
	}
	n, err := dst.Write(buf.Bytes())
	return int64(n), err
}

// close gives back what the answer held.
func (w *wholeResponse) close() {
	w.drop()
	w.mem.Shrink(w.held)
	w.held = 0
	w.out = blockBuffer{}
	w.scratch = nil
}

// blockBuffer holds bytes in blocks of blockSize. Unlike a bytes.Buffer,
// it never copies what it holds to grow, so it keeps little more than
// its length (a doubling buffer keeps up to twice, and three times while
// it copies).
type blockBuffer struct {
	blocks [][]byte
}

// Blocks double in size from firstBlock (most answers are small) up to
// blockSize.
const (
	blockSize  = 64 << 10
	firstBlock = 512
)

// nextBlock is the size of the block after one of size last (0: none).
func nextBlock(last int) int { return min(max(2*last, firstBlock), blockSize) }

func (b *blockBuffer) Write(p []byte) {
	for len(p) > 0 {
		n := len(b.blocks)
		if n == 0 || len(b.blocks[n-1]) == cap(b.blocks[n-1]) {
			last := 0
			if n > 0 {
				last = cap(b.blocks[n-1])
			}
			b.blocks = append(b.blocks, make([]byte, 0, nextBlock(last)))
		}
		last := &b.blocks[len(b.blocks)-1]
		k := min(len(p), cap(*last)-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
}

// cap is the bytes the blocks hold.
func (b *blockBuffer) cap() int64 {
	var n int64
	for _, blk := range b.blocks {
		n += int64(cap(blk))
	}
	return n
}

// capAfter is what the blocks would hold after writing n more bytes.
func (b *blockBuffer) capAfter(n int) int64 {
	total, free, last := b.cap(), 0, 0
	if k := len(b.blocks); k > 0 {
		last = cap(b.blocks[k-1])
		free = last - len(b.blocks[k-1])
	}
	for n > free && last < blockSize {
		n -= free
		last = nextBlock(last)
		total += int64(last)
		free = last
	}
	if n > free {
		total += int64((n-free+blockSize-1)/blockSize) * blockSize
	}
	return total
}

func (b *blockBuffer) WriteTo(dst io.Writer) (int64, error) {
	return b.writeChecked(dst, context.Background())
}

// writeChecked is WriteTo, ending between blocks with ctx's cause once
// ctx has ended.
func (b *blockBuffer) writeChecked(dst io.Writer, ctx context.Context) (int64, error) {
	var total int64
	for _, blk := range b.blocks {
		if ctx.Err() != nil {
			return total, context.Cause(ctx)
		}
		n, err := dst.Write(blk)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
