package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/herdmon/herd/internal/models"
)

// Defaults of the write limits (see Options).
const (
	// DefaultMaxFieldsPerPoint: InfluxDB 1.x has no limit, but one
	// point with 100,000 fields cost a minute of work under the engine's
	// write lock. The widest Telegraf inputs (mysql with every option,
	// nstat, snmp tables) send a few hundred fields per point, so 10,000
	// is never met by real data and keeps one point's cost in
	// milliseconds.
	DefaultMaxFieldsPerPoint = 10_000
	// DefaultMaxConcurrentWrites bounds the writes parsed and applied at
	// once: enough to fill a group commit, few enough that a thousand
	// clients do not become a thousand busy goroutines.
	DefaultMaxConcurrentWrites = 32
	// DefaultEnqueuedWriteTimeout is how long a write waits for a slot or
	// for write memory: Telegraf's default client timeout, after which
	// the client has given up anyway (InfluxDB's 30 s kept abandoned
	// requests queued).
	DefaultEnqueuedWriteTimeout = 5 * time.Second
	// DefaultMaxWriteMemory bounds the memory all writes in progress hold
	// at once (bodies, and their parsed points). 64 MiB leaves a 1 GB
	// Raspberry Pi room for the head, queries and the rest of the system.
	DefaultMaxWriteMemory = 64 << 20
	// DefaultBodyReadTimeout bounds how long a client may take to send a
	// write body: a 25 MB body over a slow Wi-Fi link fits, a client
	// trickling bytes to hold memory does not.
	DefaultBodyReadTimeout = 30 * time.Second
)

// retryAfterSeconds is the Retry-After of a throttled write.
const retryAfterSeconds = "1"

// Errors of the write limits. The throttling texts are InfluxDB's.
var (
	errQueueFull       = errors.New("request throttled, queue full")
	errQueueTimeout    = errors.New("request throttled, exceeds timeout")
	errMemoryTimeout   = errors.New("write memory exhausted")
	errBodyReadTimeout = errors.New("timeout reading the request body")
)

// memBudget is a byte budget shared by the writes in progress: a
// request acquires bytes before its memory grows and releases them all
// when it ends. A request that outgrows the whole budget goes on only
// while it is alone, so a large body still works on an idle server
// while the total stays at most max(budget, one request).
type memBudget struct {
	size int64

	mu      sync.Mutex
	used    int64
	changed chan struct{} // closed (and replaced) when bytes are released
}

// maxAloneFactor bounds what one write may cost even alone, in
// multiples of the budget: a 25 MB body of Telegraf-like lines (about
// 130 MB parsed) still runs on an idle server with the default budget,
// while 25 MB of minimal lines ("m f=1", 23 times their size once
// parsed) are refused instead of taking a 1 GB board's memory.
const maxAloneFactor = 4

func newMemBudget(size int64) *memBudget {
	if size <= 0 {
		return nil
	}
	return &memBudget{size: size, changed: make(chan struct{})}
}

// acquire adds n bytes to the held bytes of a request, waiting until
// deadline (or ctx's end) for them. held is what the request holds
// already: a request that holds everything in use may always grow,
// which lets one request larger than the budget through on an idle
// server (and keeps a growing request from waiting on itself).
func (b *memBudget) acquire(ctx context.Context, n, held int64, deadline time.Time) error {
	if b == nil || n <= 0 {
		return nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.used+n <= b.size || b.used == held {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		wait := b.changed
		b.mu.Unlock()
		d := time.Until(deadline)
		if d <= 0 {
			return errMemoryTimeout
		}
		if timer == nil {
			timer = time.NewTimer(d)
		}
		select {
		case <-wait:
		case <-timer.C:
			return errMemoryTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *memBudget) release(n int64) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *memBudget) inUse() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// writeGate is InfluxDB's write throttler: at most cap(slots) writes
// are parsed and applied at once, at most maxQueued wait for a slot
// (0: no bound), and none waits past its deadline. A write takes its
// slot after its body has arrived, so slow clients never hold one.
type writeGate struct {
	slots     chan struct{}
	maxQueued int64
	queued    atomic.Int64
}

func newWriteGate(concurrent, queued int) *writeGate {
	if concurrent <= 0 {
		return nil
	}
	return &writeGate{slots: make(chan struct{}, concurrent), maxQueued: int64(queued)}
}

func (g *writeGate) enter(ctx context.Context, deadline time.Time) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if n := g.queued.Add(1); g.maxQueued > 0 && n > g.maxQueued {
		g.queued.Add(-1)
		return errQueueFull
	}
	defer g.queued.Add(-1)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return errQueueTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *writeGate) leave() {
	if g != nil {
		<-g.slots
	}
}

// Sizes of what parsing a body allocates besides the body itself.
const (
	pointSize = int64(unsafe.Sizeof(models.Point{}))
	fieldSize = int64(unsafe.Sizeof(models.Field{}))
)

// parseCost estimates, from above for ordinary bodies, the memory that
// parsing and writing body adds: the string copy the parser keeps, the
// WAL encoding, a point per line and a field (or tag) per '='.
func parseCost(body []byte) int64 {
	lines := int64(bytes.Count(body, []byte{'\n'})) + 1
	pairs := int64(bytes.Count(body, []byte{'='}))
	return 2*int64(len(body)) + lines*pointSize + pairs*fieldSize
}

// throttled answers a write refused by a limit that frees up by itself:
// 503 with Retry-After, as InfluxDB's throttler answers.
func (h *Handler) throttled(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	h.httpError(w, msg, http.StatusServiceUnavailable)
}

// bodyTimedOut answers a request whose body (what: "the body", "the
// query form") did not arrive within body-read-timeout: 408, and the
// connection is closed, since the rest of the body may still come.
func (h *Handler) bodyTimedOut(w http.ResponseWriter, what string) {
	w.Header().Set("Connection", "close")
	h.httpError(w, fmt.Sprintf("%v: %s did not arrive within body-read-timeout (%v) and the connection is closed; send it faster or raise body-read-timeout",
		errBodyReadTimeout, what, h.bodyTimeout), http.StatusRequestTimeout)
}

// memoryExhausted is the text of a write refused for want of memory.
func (h *Handler) memoryExhausted() string {
	return fmt.Sprintf("%v: the writes in progress hold the max-write-memory budget of %d bytes; retry later, send smaller batches or raise max-write-memory",
		errMemoryTimeout, h.writeMem.size)
}
