// Package httpapi serves InfluxDB 1.x's HTTP API: /ping, /health,
// /write, /api/v2/write, /query and /debug/vars, with InfluxDB 1.8's
// status codes, headers, JSON shapes and error texts, so that Telegraf,
// Grafana, the influx shell and client libraries work unchanged.
//
// It only wires: line protocol is parsed by lineproto, statements by
// influxql, and data lives behind the Store interface (storage.Engine on
// one node). Statements other than database and retention-policy
// management are handed to a pluggable StatementExecutor.
package httpapi

import (
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/buildinfo"
	"github.com/herdmon/herd/internal/membudget"
)

// Options configures a Handler.
type Options struct {
	// Store receives writes and database/retention-policy statements.
	Store Store
	// Executor runs /query statements; nil means a MetaExecutor over Store
	// that answers every other statement "statement not supported yet".
	Executor StatementExecutor
	// MaxBodySize bounds a write body both as sent and after gzip
	// decompression (InfluxDB's max-body-size); 0 means no limit.
	MaxBodySize int64
	// BindAddr names the listener in /debug/vars ("httpd:<bind>", e.g.
	// "httpd::8086").
	BindAddr string
	// Logger receives server errors and recovered panics; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now returns the server clock, used for points without a timestamp;
	// nil means time.Now. Tests set it.
	Now func() time.Time
	// UI serves GET and HEAD requests for paths that are not API
	// endpoints (the built-in dashboard at "/"); nil means 404 for them.
	UI http.Handler
	// StorageStats, when set, adds the storage engine's counters to
	// /debug/vars under "storage".
	StorageStats func() map[string]int64
	// Pprof serves net/http/pprof at /debug/pprof/.
	Pprof bool
	// QueryMemory bounds what each /query request, and all of them
	// together, may hold (rows, values, buffered answers); nil: no bound.
	QueryMemory *membudget.Pool

	// Write limits (writelimit.go has the defaults and why). Zero means
	// no limit, except for EnqueuedWriteTimeout where it means no wait.
	//
	// MaxFieldsPerPoint refuses lines with more fields
	// (max-fields-per-point).
	MaxFieldsPerPoint int
	// MaxConcurrentWrites bounds the writes parsed and applied at once
	// (InfluxDB's max-concurrent-write-limit); MaxEnqueuedWrites those
	// waiting for a turn (max-enqueued-write-limit).
	MaxConcurrentWrites int
	MaxEnqueuedWrites   int
	// EnqueuedWriteTimeout is how long a write waits for a turn or for
	// write memory before a 503 (InfluxDB's enqueued-write-timeout).
	EnqueuedWriteTimeout time.Duration
	// MaxWriteMemory bounds the bytes all writes in progress hold at
	// once: bodies as they arrive, then an estimate of their parsed
	// points (max-write-memory).
	MaxWriteMemory int64
	// BodyReadTimeout bounds the time a write body takes to arrive
	// (body-read-timeout); the connection of a late one is closed.
	BodyReadTimeout time.Duration
	// QueryLimits bound a /query's q before it is parsed (zero fields:
	// the defaults).
	QueryLimits QueryLimits
}

// DefaultMaxBodySize is InfluxDB's default max-body-size.
const DefaultMaxBodySize = 25_000_000

// Handler is the http.Handler of the API. It is safe for concurrent use.
type Handler struct {
	storageStats func() map[string]int64
	store        Store
	exec         StatementExecutor
	maxBody      int64
	bindAddr     string
	log          *slog.Logger
	now          func() time.Time
	ui           http.Handler
	pprof        bool
	queryMemory  *membudget.Pool
	queryLimits  QueryLimits
	started      time.Time
	stats        stats

	maxFieldsPerPoint int
	writeGate         *writeGate
	writeMem          *memBudget
	enqueueTimeout    time.Duration
	bodyTimeout       time.Duration

	// writeErrLog keeps a failure of every write (a full disk) from
	// logging one line per request.
	writeErrLog logLimiter
}

// New returns a Handler for opts.
func New(opts Options) *Handler {
	h := &Handler{
		store:        opts.Store,
		exec:         opts.Executor,
		storageStats: opts.StorageStats,
		maxBody:      opts.MaxBodySize,
		bindAddr:     opts.BindAddr,
		queryMemory:  opts.QueryMemory,
		log:          opts.Logger,
		now:          opts.Now,
		ui:           opts.UI,
		pprof:        opts.Pprof,
		queryLimits:  opts.QueryLimits.withDefaults(),
		started:      time.Now(),

		maxFieldsPerPoint: opts.MaxFieldsPerPoint,
		writeGate:         newWriteGate(opts.MaxConcurrentWrites, opts.MaxEnqueuedWrites),
		writeMem:          newMemBudget(opts.MaxWriteMemory),
		enqueueTimeout:    opts.EnqueuedWriteTimeout,
		bodyTimeout:       opts.BodyReadTimeout,
	}
	if h.exec == nil {
		h.exec = &MetaExecutor{Store: opts.Store}
	}
	h.exec = &diagnosticsExecutor{h: h, next: h.exec}
	h.writeErrLog.interval = 10 * time.Second
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// ServeHTTP routes a request, adding the headers InfluxDB puts on every
// response.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.requests.Add(1)
	h.stats.active.Add(1)
	start := time.Now()
	defer func() {
		h.stats.active.Add(-1)
		h.stats.requestDurationNs.Add(time.Since(start).Nanoseconds())
	}()

	hdr := w.Header()
	hdr["X-Influxdb-Version"] = versionHeader
	hdr["X-Influxdb-Build"] = buildHeader
	rid := r.Header.Get("X-Request-Id")
	if rid == "" {
		rid = r.Header.Get("Request-Id")
	}
	if rid == "" {
		rid = newRequestID()
	}
	ridv := []string{rid}
	hdr["Request-Id"] = ridv
	hdr["X-Request-Id"] = ridv
	if origin := r.Header.Get("Origin"); origin != "" {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Methods", "DELETE, GET, OPTIONS, POST, PUT")
		hdr.Set("Access-Control-Allow-Headers", "Accept, Accept-Encoding, Authorization, Content-Length, Content-Type, X-CSRF-Token, X-HTTP-Method-Override")
		hdr.Set("Access-Control-Expose-Headers", "Date, X-InfluxDB-Version, X-InfluxDB-Build")
	}

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // the connection is closed mid-answer on purpose
			}
			h.stats.recoveredPanics.Add(1)
			h.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}
	}()

	path := r.URL.Path
	if strings.HasPrefix(path, "/debug/vars") {
		h.serveExpvar(w, r)
		return
	}
	if h.pprof && strings.HasPrefix(path, "/debug/pprof/") {
		servePprof(w, r)
		return
	}
	switch path {
	case "/ping":
		h.route(w, r, "GET, HEAD", h.servePing, nil)
	case "/health":
		h.route(w, r, "GET, HEAD", h.serveHealth, nil)
	case "/write":
		h.route(w, r, "POST, OPTIONS", nil, h.serveWriteV1)
	case "/api/v2/write":
		h.route(w, r, "POST", nil, h.serveWriteV2)
	case "/query":
		query := func(w http.ResponseWriter, r *http.Request) { withGzip(w, r, h.serveQuery) }
		h.route(w, r, "GET, POST, OPTIONS", query, query)
	case "/metrics":
		h.route(w, r, "GET", h.serveMetrics, nil)
	default:
		// The API routes above keep priority; everything else a browser
		// asks for belongs to the dashboard.
		if h.ui != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ui.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}
}

var (
	versionHeader = []string{buildinfo.InfluxDBVersion}
	buildHeader   = []string{buildinfo.Build}
	jsonHeader    = []string{"application/json"}
)

// route dispatches by method: get serves GET and HEAD, post serves POST,
// OPTIONS is answered 204 for CORS preflight where allowed, and anything
// else gets 405 with the allowed methods.
func (h *Handler) route(w http.ResponseWriter, r *http.Request, allow string, get, post http.HandlerFunc) {
	var fn http.HandlerFunc
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		fn = get
	case http.MethodPost:
		fn = post
	case http.MethodOptions:
		if strings.Contains(allow, "OPTIONS") {
			w.Header()["Content-Type"] = jsonHeader
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if fn == nil || (r.Method == http.MethodHead && !strings.Contains(allow, "HEAD")) {
		w.Header().Set("Allow", allow)
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	// InfluxDB's response writer labels every routed reply with the
	// negotiated type (JSON unless the client asks for CSV), even an
	// empty 204.
	if ct := negotiate(r); ct == contentJSON {
		w.Header()["Content-Type"] = jsonHeader
	} else {
		w.Header().Set("Content-Type", ct)
	}
	fn(w, r)
}

// Request ids are version-1 (time-based) UUIDs, as InfluxDB generates:
// the clock makes them sortable, and the random node and sequence make
// them unique across restarts and servers.
var (
	uuidNode   [6]byte
	uuidSeq    uint16
	uuidLastTS atomic.Uint64
)

func init() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	copy(uuidNode[:], b[:6])
	uuidNode[0] |= 0x01 // multicast bit: a random, not a hardware, node id
	uuidSeq = binary.BigEndian.Uint16(b[6:])&0x3fff | 0x8000
}

// uuidEpoch is 1582-10-15 in 100 ns ticks before the Unix epoch.
const uuidEpoch = 0x01B21DD213814000

func newRequestID() string {
	ts := uint64(time.Now().UnixNano()/100) + uuidEpoch
	for {
		last := uuidLastTS.Load()
		if ts <= last {
			ts = last + 1 // two ids in one tick still differ
		}
		if uuidLastTS.CompareAndSwap(last, ts) {
			break
		}
	}
	var u [16]byte
	binary.BigEndian.PutUint32(u[0:], uint32(ts))
	binary.BigEndian.PutUint16(u[4:], uint16(ts>>32))
	binary.BigEndian.PutUint16(u[6:], uint16(ts>>48)&0x0fff|0x1000)
	binary.BigEndian.PutUint16(u[8:], uuidSeq)
	copy(u[10:], uuidNode[:])
	const hexdig = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hexdig[c>>4], hexdig[c&0xf]
		j += 2
	}
	return string(s[:])
}
