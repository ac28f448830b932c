package httpapi

import (
	"context"
	"net/http"
	"time"
)

// checkEvery is how many series and rows an answer's encoding goes
// between looks at its statement's context: a look costs tens of
// nanoseconds, a row about a hundred, and 256 rows take well under a
// millisecond, so a timeout or KILL QUERY ends the encoding at once.
const checkEvery = 256

// encodeCheck ends the encoding of a statement's answer whose context
// ended (its query-timeout or KILL QUERY). A nil check never ends it.
type encodeCheck struct {
	ctx context.Context
	n   int
}

// interruptedError carries the cause of a context that ended an
// encoding, apart from the encoder's own errors.
type interruptedError struct{ cause error }

func (e *interruptedError) Error() string { return e.cause.Error() }
func (e *interruptedError) Unwrap() error { return e.cause }

// tick counts one series or row and, every checkEvery, returns an
// *interruptedError if the context ended.
func (c *encodeCheck) tick() error {
	if c == nil {
		return nil
	}
	c.n++
	if c.n%checkEvery != 0 {
		return nil
	}
	return c.now()
}

// now returns an *interruptedError if the context ended.
func (c *encodeCheck) now() error {
	if c == nil || c.ctx.Err() == nil {
		return nil
	}
	return &interruptedError{cause: context.Cause(c.ctx)}
}

// writeGrace is how long the answer of a statement whose context ended
// may still take to be written: enough for its error to reach a client
// that reads, short enough that one that does not cannot hold the
// statement.
const writeGrace = time.Second

// writeGuard bounds the writes of a statement's answer by its context:
// once the context ends (its timeout or KILL QUERY), a write blocked on
// a client that does not read fails writeGrace later. bind, release and
// end are called by the request's goroutine only.
type writeGuard struct {
	rc    *http.ResponseController
	stop  func() bool
	ran   chan struct{}
	fired bool // a write deadline was set, and must be cleared at the end
}

func newWriteGuard(w http.ResponseWriter) *writeGuard {
	return &writeGuard{rc: http.NewResponseController(w)}
}

// bind ties the writes from now on to ctx.
func (g *writeGuard) bind(ctx context.Context) {
	g.release()
	ran := make(chan struct{})
	g.ran = ran
	g.stop = context.AfterFunc(ctx, func() {
		defer close(ran)
		// Not every ResponseWriter has a connection (tests).
		_ = g.rc.SetWriteDeadline(time.Now().Add(writeGrace))
	})
}

// release unties the writes from the bound context; once it returns,
// no deadline is set for that context any more.
func (g *writeGuard) release() {
	if g == nil || g.stop == nil {
		return
	}
	if !g.stop() {
		<-g.ran // it ran, or is running: wait for its deadline to be set
		g.fired = true
	}
	g.stop, g.ran = nil, nil
}

// end releases the guard and clears a deadline it set, so that the next
// request on the connection is not cut by it.
func (g *writeGuard) end() {
	g.release()
	if g.fired {
		_ = g.rc.SetWriteDeadline(time.Time{})
		g.fired = false
	}
}
