package httpapi

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

// errTooLarge reports a body over the limit, before or after gunzip.
var errTooLarge = errors.New(http.StatusText(http.StatusRequestEntityTooLarge))

// writeState is the per-request memory of the write path, reused
// through writePool so that a steady stream of writes allocates almost
// nothing: the body buffer, the parser's tag and field arrays, the point
// slice and the gzip reader's window.
type writeState struct {
	body   []byte
	points []models.Point
	parser lineproto.Parser
	gz     *gzip.Reader
	raw    limitedReader
	batch  models.Batch

	// budget is the handler's write memory; held is what this request
	// has taken from it.
	budget *memBudget
	held   int64
}

// grow takes n more bytes of write memory for this request, waiting
// up to the enqueue timeout (and never past deadline, when set).
func (st *writeState) grow(ctx context.Context, n int64, wait time.Duration, deadline time.Time) error {
	until := time.Now().Add(wait)
	if !deadline.IsZero() && deadline.Before(until) {
		until = deadline
	}
	if err := st.budget.acquire(ctx, n, st.held, until); err != nil {
		return err
	}
	st.held += n
	return nil
}

var writePool = sync.Pool{New: func() any { return new(writeState) }}

// maxPooledBody is the largest body buffer kept for reuse: bigger ones
// (rare, up to max-body-size) go back to the garbage collector so an
// idle server does not sit on them.
const maxPooledBody = 8 << 20

// maxPooledPoints bounds the point slice kept for reuse, for the same
// reason.
const maxPooledPoints = 64 << 10

func (st *writeState) release() {
	st.budget.release(st.held)
	st.budget, st.held = nil, 0
	st.parser.Reset()
	clear(st.points) // drop references to the last body's strings
	st.points = st.points[:0]
	if cap(st.points) > maxPooledPoints {
		st.points = nil
	}
	if cap(st.body) > maxPooledBody {
		st.body = nil
	}
	st.body = st.body[:0]
	st.batch = models.Batch{}
	st.raw = limitedReader{}
	writePool.Put(st)
}

// serveWriteV1 answers POST /write?db=&rp=&precision=&consistency=.
func (h *Handler) serveWriteV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	precision := q.Get("precision")
	mult, err := lineproto.ParsePrecision(precision)
	if err != nil {
		h.httpError(w, fmt.Sprintf("invalid precision %q (use n, u, ms, s, m or h)", precision), http.StatusBadRequest)
		return
	}
	h.serveWrite(w, r, q.Get("db"), q.Get("rp"), mult, q.Get("consistency"))
}

// serveWriteV2 answers POST /api/v2/write?bucket=db[/rp]&org=&precision=,
// InfluxDB 1.8's forward-compatibility endpoint. org is ignored.
func (h *Handler) serveWriteV2(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	precision := q.Get("precision")
	switch precision {
	case "", "ns", "us", "ms", "s":
	default:
		h.httpError(w, fmt.Sprintf("invalid precision %q (use ns, us, ms or s)", precision), http.StatusBadRequest)
		return
	}
	mult, _ := lineproto.ParsePrecision(precision)
	db, rp, err := bucketToDBRP(q.Get("bucket"))
	if err != nil {
		h.httpError(w, err.Error(), http.StatusNotFound)
		return
	}
	h.serveWrite(w, r, db, rp, mult, "")
}

// bucketToDBRP splits a v2 bucket "db" or "db/rp" as InfluxDB 1.8 does.
func bucketToDBRP(bucket string) (db, rp string, err error) {
	i := strings.IndexByte(bucket, '/')
	switch {
	case i < 0 && bucket == "":
		return "", "", fmt.Errorf(`bucket name %q is missing a slash; not in "database/retention-policy" format`, bucket)
	case i < 0:
		return bucket, "", nil
	case i == 0:
		return "", "", fmt.Errorf(`bucket name %q is in db/rp form but has an empty database`, bucket)
	}
	return bucket[:i], bucket[i+1:], nil
}

// serveWrite is the write path shared by both endpoints: read the body
// (bounded, gunzipped), parse it with one server timestamp, write the
// good points, and answer as InfluxDB 1.8 does.
func (h *Handler) serveWrite(w http.ResponseWriter, r *http.Request, db, rp string, precision int64, consistency string) {
	h.stats.writeRequests.Add(1)
	h.stats.writeActive.Add(1)
	defer func(start time.Time) {
		h.stats.writeActive.Add(-1)
		h.stats.writeDurationNs.Add(time.Since(start).Nanoseconds())
	}(time.Now())

	if db == "" {
		h.httpError(w, "database is required", http.StatusBadRequest)
		return
	}

	st := writePool.Get().(*writeState)
	defer st.release()
	st.budget = h.writeMem

	if h.maxBody > 0 && r.ContentLength > h.maxBody {
		h.tooLarge(w, db)
		return
	}
	// The body must arrive within the body timeout: a client trickling
	// bytes would otherwise hold its memory (and connection) forever.
	var bodyDeadline time.Time
	rc := http.NewResponseController(w)
	if h.bodyTimeout > 0 {
		bodyDeadline = time.Now().Add(h.bodyTimeout)
		_ = rc.SetReadDeadline(bodyDeadline) // not every ResponseWriter has a connection
	}
	body, err := st.readBody(r, h.maxBody, func(n int64) error {
		return st.grow(r.Context(), n, h.enqueueTimeout, bodyDeadline)
	})
	st.body = body
	if h.bodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		switch {
		case errors.Is(err, errTooLarge):
			h.tooLarge(w, db)
		case errors.Is(err, errMemoryTimeout):
			h.stats.writeMemoryRejected.Add(1)
			h.throttled(w, h.memoryExhausted())
		case errors.Is(err, os.ErrDeadlineExceeded):
			h.stats.writeBodyTimeouts.Add(1)
			h.bodyTimedOut(w, "the body")
		default:
			h.httpError(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	h.stats.writeBytesReceived.Add(int64(len(body)))

	// Parse and apply under the write gate, with the parser's memory
	// taken from the budget first.
	if err := h.writeGate.enter(r.Context(), time.Now().Add(h.enqueueTimeout)); err != nil {
		if errors.Is(err, errQueueFull) || errors.Is(err, errQueueTimeout) {
			h.stats.writeThrottled.Add(1)
			h.throttled(w, err.Error())
		}
		return // otherwise the client has gone
	}
	defer h.writeGate.leave()
	if h.writeMem != nil {
		cost := parseCost(body)
		if limit := maxAloneFactor * h.writeMem.size; cost > limit {
			h.stats.writeMemoryRejected.Add(1)
			h.httpError(w, fmt.Sprintf("write too large for max-write-memory: parsing this body would take about %d bytes, more than %d times max-write-memory (%d bytes); send smaller batches or raise max-write-memory",
				cost, maxAloneFactor, h.writeMem.size), http.StatusRequestEntityTooLarge)
			return
		}
		if err := st.grow(r.Context(), cost, h.enqueueTimeout, time.Time{}); err != nil {
			if errors.Is(err, errMemoryTimeout) {
				h.stats.writeMemoryRejected.Add(1)
				h.throttled(w, h.memoryExhausted())
			}
			return
		}
	}

	now := h.now().UnixNano()
	st.parser.MaxFields = h.maxFieldsPerPoint
	points, perr := st.parser.Parse(st.points[:0], body, now, precision)
	st.points = points
	if perr != nil && len(points) == 0 {
		if !h.databaseExists(db) {
			h.dbNotFound(w, db)
			return
		}
		h.httpError(w, perr.Error(), http.StatusBadRequest)
		return
	}
	if consistency != "" {
		switch strings.ToLower(consistency) {
		case "any", "one", "quorum", "all":
		default:
			h.httpError(w, "invalid consistency level", http.StatusBadRequest)
			return
		}
	}
	if len(points) == 0 {
		// An empty body writes nothing; InfluxDB still checks the
		// database first.
		if !h.databaseExists(db) {
			h.dbNotFound(w, db)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}

	st.batch = models.Batch{Database: db, RetentionPolicy: rp, Points: points}
	err = h.store.WriteBatch(&st.batch)
	var dnf *models.DatabaseNotFoundError
	var pwe *models.PartialWriteError
	switch {
	case errors.As(err, &dnf):
		h.stats.pointsWrittenFail.Add(int64(len(points)))
		h.httpError(w, dnf.Error(), http.StatusNotFound)
	case errors.As(err, &pwe):
		h.stats.pointsWrittenOK.Add(int64(len(points) - pwe.Dropped))
		h.stats.pointsWrittenDropped.Add(int64(pwe.Dropped))
		h.httpError(w, pwe.Error(), http.StatusBadRequest)
	case err != nil:
		h.stats.pointsWrittenFail.Add(int64(len(points)))
		if ok, suppressed := h.writeErrLog.allow(h.now()); ok {
			h.log.Error("write failed", "db", db, "rp", rp, "points", len(points), "err", err,
				"similar_failures_not_logged", suppressed)
		}
		h.httpError(w, err.Error(), http.StatusInternalServerError)
	case perr != nil:
		// The good lines are written; the bad ones are reported the way
		// InfluxDB 1.x reports them: "dropped=0" whatever the number of
		// unparsable lines (clients such as `influx -import` print it),
		// while the counters keep the true number.
		var pe *lineproto.ParseError
		dropped := 0
		if errors.As(perr, &pe) {
			dropped = pe.Dropped()
		}
		h.countWritten(points)
		h.stats.pointsWrittenDropped.Add(int64(dropped))
		h.httpError(w, (&models.PartialWriteError{Reason: perr.Error(), Dropped: 0}).Error(), http.StatusBadRequest)
	default:
		h.countWritten(points)
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) countWritten(points []models.Point) {
	values := 0
	for i := range points {
		values += len(points[i].Fields)
	}
	h.stats.pointsWrittenOK.Add(int64(len(points)))
	h.stats.valuesWrittenOK.Add(int64(values))
}

// tooLarge answers 413, unless the database is missing: InfluxDB checks
// that before it reads the body.
func (h *Handler) tooLarge(w http.ResponseWriter, db string) {
	if !h.databaseExists(db) {
		h.dbNotFound(w, db)
		return
	}
	h.httpError(w, errTooLarge.Error(), http.StatusRequestEntityTooLarge)
}

func (h *Handler) dbNotFound(w http.ResponseWriter, db string) {
	h.httpError(w, (&models.DatabaseNotFoundError{Name: db}).Error(), http.StatusNotFound)
}

// databaseExists is asked only off the hot path (empty, oversized or
// unparsable bodies); a normal write learns of a missing database from
// WriteBatch.
func (h *Handler) databaseExists(db string) bool {
	for _, d := range h.store.Databases() {
		if d == db {
			return true
		}
	}
	return false
}

// readBody reads the request body into st.body, gunzipping it when the
// client says so. limit > 0 bounds both the bytes received and the bytes
// after decompression, so neither a large upload nor a small gzip bomb
// can make the server hold more than limit+1 bytes. The buffer grows
// with what arrives, never with what the client declares, and grow is
// asked for the memory before each growth.
func (st *writeState) readBody(r *http.Request, limit int64, grow func(n int64) error) ([]byte, error) {
	var src io.Reader = r.Body
	if limit > 0 {
		st.raw = limitedReader{r: r.Body, n: limit + 1}
		src = &st.raw
	}
	declared := r.ContentLength
	if r.Header.Get("Content-Encoding") == "gzip" {
		var err error
		if st.gz == nil {
			st.gz, err = gzip.NewReader(src)
		} else {
			err = st.gz.Reset(src)
		}
		if err != nil {
			return st.body, err // errTooLarge, or the gzip header is bad
		}
		src = st.gz
		declared = -1 // the declared length is the compressed one
	}
	return readAll(st.body[:0], src, limit, declared, grow)
}

// minBodyExtent is the first read buffer of a body of unknown length.
const minBodyExtent = 16 << 10

// readAll appends everything from src to dst, failing with errTooLarge as
// soon as more than limit bytes (when limit > 0) have been read. The
// part of dst it fills (its extent) at most doubles what has arrived,
// and ends at declared+1 when the length is declared (one allocation of
// the right size for an honest small body, and a read that sees EOF);
// grow, when set, approves every extension first.
func readAll(dst []byte, src io.Reader, limit, declared int64, grow func(n int64) error) ([]byte, error) {
	extent := len(dst)
	for {
		if len(dst) == extent {
			next := max(2*int64(extent), minBodyExtent)
			if declared >= 0 && int64(len(dst)) <= declared {
				next = min(next, declared+1)
			}
			if limit > 0 {
				next = min(next, limit+1)
			}
			if grow != nil {
				if err := grow(next - int64(extent)); err != nil {
					return dst, err
				}
			}
			extent = int(next)
			dst = slices.Grow(dst, extent-len(dst))
		}
		n, err := src.Read(dst[len(dst):extent])
		dst = dst[:len(dst)+n]
		if limit > 0 && int64(len(dst)) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// limitedReader reads at most n bytes and then fails with errTooLarge
// (io.LimitedReader would report a clean EOF, which would let a
// truncated gzip stream look complete).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n <= 0 && err == nil {
		// The limit+1'th byte arrived: the body is over the limit.
		return n, errTooLarge
	}
	return n, err
}
