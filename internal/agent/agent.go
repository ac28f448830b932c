// Package agent is herd's host agent: a scheduler that runs the inputs at
// aligned intervals, a batcher that encodes each collection as gzip'd line
// protocol, a sender that posts batches to the first healthy server, and a
// bounded disk buffer that keeps batches while no server accepts them.
//
// Data flow and why it never blocks collection:
//
//	tick ─▶ gather inputs ─▶ encode+gzip ─▶ queue (memory, 16 batches) ─▶ sender ─▶ HTTP
//	                                  └─ queue full, or sender degraded ─▶ disk buffer ─▶ replay
//
// While every send succeeds nothing touches the disk (SD cards wear). Once
// a send fails the sender is "degraded": the failed batch and every batch
// after it go to the disk buffer, which is replayed in order, with
// backoff, until it is empty again.
//
// The agent never imports server packages: it speaks HTTP like any client.
package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/agent/inputs"
	"github.com/herdmon/herd/internal/buildinfo"
	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

// Tuning constants.
const (
	// queueLen batches wait in memory for the sender; beyond that (a slow
	// server) batches go to disk rather than block collection.
	queueLen = 16
	// Retry backoff while no server accepts: 1s doubling to 30s, so a
	// returning server is found quickly without hammering a dead one.
	minRetry = time.Second
	maxRetry = 30 * time.Second
	// OnceCPUWait separates the two cpu samples of --once, long enough
	// for the tick counters (100 Hz) to move.
	OnceCPUWait = 500 * time.Millisecond
)

// Stats are the agent's own counters, reported as measurement herd_agent.
type Stats struct {
	Cycles, Gathered, Sent, Dropped, Rejected, SendErrors atomic.Int64
	GatherNanos                                           atomic.Int64
}

// Agent runs the inputs and delivers their points.
type Agent struct {
	cfg    *Config
	env    *inputs.Env
	log    *slog.Logger
	inputs []inputs.Input
	tags   models.Tags // host and global tags, sorted

	sender   *Sender
	buf      *Buffer
	queue    chan batch
	degraded atomic.Bool

	// Stats are exported for tests and the herd_agent measurement.
	Stats Stats

	// ReleaseAfter, when > 0, calls ReleaseStartupMemory once after that
	// many collections (the first send included), when everything that
	// only start-up needs has run. The herd command sets it; tests leave
	// it off.
	ReleaseAfter int64

	errMu   sync.Mutex
	lastErr map[string]string

	gz    *gzip.Writer
	lp    []byte
	zbuf  bytes.Buffer
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool
}

type batch struct {
	points int
	gz     []byte
}

// New builds an agent from a validated configuration. env says where the
// inputs find the host (inputs.EnvFromOS for the real one).
func New(cfg *Config, env *inputs.Env, log *slog.Logger) (*Agent, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &Agent{cfg: cfg, env: env, log: log, lastErr: map[string]string{}, now: time.Now, sleep: sleepCtx,
		queue: make(chan batch, queueLen)}
	names := cfg.Inputs
	if len(names) == 0 {
		names = inputs.Default
	}
	opt := inputs.Options{
		DiskIgnoreFS:     cfg.Disk.IgnoreFS,
		TempThermalZones: cfg.Temp.ThermalZones,
		DockerEndpoint:   cfg.Docker.Endpoint,
		DockerTimeout:    cfg.Docker.Timeout.Duration,
	}
	for _, n := range names {
		in, err := inputs.New(n, env, opt)
		if err != nil {
			return nil, err
		}
		a.inputs = append(a.inputs, in)
	}
	host := cfg.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: %w (set hostname in the config)", err)
		}
		host = h
	}
	a.tags = models.Tags{{Key: "host", Value: host}}
	for k, v := range cfg.Tags {
		if k != "host" {
			a.tags = append(a.tags, models.Tag{Key: k, Value: v})
		}
	}
	a.tags.Sort()
	a.gz, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return a, nil
}

// Prime takes the first sample of inputs that report deltas (cpu).
func (a *Agent) Prime(ctx context.Context) {
	for _, in := range a.inputs {
		if p, ok := in.(inputs.Primer); ok {
			a.noteErr(in.Name(), p.Prime(ctx))
		}
	}
}

// Gather runs every input once with time t and returns their points with
// the host and global tags added (an input's own tag of the same name
// wins). Input errors are logged when they change, never fatal.
func (a *Agent) Gather(ctx context.Context, t time.Time) []models.Point {
	start := time.Now()
	acc := &inputs.Accumulator{Time: t}
	for _, in := range a.inputs {
		a.noteErr(in.Name(), in.Gather(ctx, acc))
	}
	for i := range acc.Points {
		acc.Points[i].Tags = a.withTags(acc.Points[i].Tags)
	}
	a.Stats.GatherNanos.Store(int64(time.Since(start)))
	a.Stats.Gathered.Add(int64(len(acc.Points)))
	return acc.Points
}

func (a *Agent) withTags(own models.Tags) models.Tags {
	out := make(models.Tags, 0, len(own)+len(a.tags))
	out = append(out, own...)
	for _, t := range a.tags {
		if own.Get(t.Key) == "" {
			out = append(out, t)
		}
	}
	out.Sort()
	return out
}

// noteErr logs an input's error when it differs from the last one, and
// its recovery, so a broken input logs once rather than every interval.
func (a *Agent) noteErr(name string, err error) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	prev := a.lastErr[name]
	switch {
	case err != nil && err.Error() != prev:
		a.log.Warn("input failed", "input", name, "err", err)
		a.lastErr[name] = err.Error()
	case err == nil && prev != "":
		a.log.Info("input recovered", "input", name)
		delete(a.lastErr, name)
	}
}

// selfPoint is the agent's own health as measurement herd_agent.
func (a *Agent) selfPoint(t time.Time) models.Point {
	var pts int
	var bytes, bufDropped int64
	if a.buf != nil {
		_, pts, bytes, bufDropped = a.buf.Stats()
	}
	fields := []models.Field{
		models.IntegerField("buffer_bytes", bytes),
		models.IntegerField("cycles", a.Stats.Cycles.Load()),
		models.IntegerField("buffered", int64(pts)),
		models.IntegerField("dropped", a.Stats.Dropped.Load()+bufDropped),
		models.IntegerField("gather_time_ns", a.Stats.GatherNanos.Load()),
		models.IntegerField("gathered", a.Stats.Gathered.Load()),
		models.IntegerField("rejected", a.Stats.Rejected.Load()),
		models.IntegerField("rss_bytes", selfRSS()),
		models.IntegerField("send_errors", a.Stats.SendErrors.Load()),
		models.IntegerField("sent", a.Stats.Sent.Load()),
	}
	return models.Point{Measurement: "herd_agent", Tags: a.withTags(models.Tags{{Key: "version", Value: buildinfo.Version}}),
		Fields: fields, Time: t.UnixNano()}
}

// selfRSS reads the agent's resident set size from the real /proc (not
// HOST_PROC: it is this process, not the watched host).
func selfRSS() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	w := strings.Fields(string(data))
	if len(w) < 2 {
		return 0
	}
	n, _ := strconv.ParseInt(w[1], 10, 64)
	return n * int64(os.Getpagesize())
}

// Once gathers once, with two cpu samples OnceCPUWait apart so the cpu
// percentages exist, and writes line protocol to w (like telegraf --test).
func (a *Agent) Once(ctx context.Context, w io.Writer) error {
	a.Prime(ctx)
	if !a.sleep(ctx, OnceCPUWait) {
		return ctx.Err()
	}
	points := a.Gather(ctx, a.now())
	if len(points) == 0 {
		return errors.New("no input produced data")
	}
	var b []byte
	for i := range points {
		b = lineproto.AppendPoint(b, &points[i])
	}
	_, err := w.Write(b)
	return err
}

// encode serializes points as gzip'd line protocol into a new slice.
func (a *Agent) encode(points []models.Point) []byte {
	a.lp = a.lp[:0]
	for i := range points {
		a.lp = lineproto.AppendPoint(a.lp, &points[i])
	}
	a.zbuf.Reset()
	a.gz.Reset(&a.zbuf)
	a.gz.Write(a.lp)
	a.gz.Close()
	return bytes.Clone(a.zbuf.Bytes())
}

// Run collects at every interval until ctx ends, delivering in the
// background. It returns nil on a clean stop.
func (a *Agent) Run(ctx context.Context) error {
	buf, err := OpenBuffer(a.cfg.BufferDir, int64(a.cfg.BufferSize))
	if err != nil {
		return fmt.Errorf("open disk buffer: %w", err)
	}
	a.buf = buf
	defer buf.Close()
	sender, err := NewSender(a.cfg, a.log)
	if err != nil {
		return err
	}
	a.sender = sender
	if buf.Discarded > 0 {
		a.log.Warn("disk buffer had damaged records (torn write or bad sector); kept the good ones", "bytes_discarded", buf.Discarded)
	}
	if n := buf.Len(); n > 0 {
		a.degraded.Store(true)
		a.log.Info("replaying buffered batches", "batches", n)
	}

	sendCtx, stopSend := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.sendLoop(sendCtx)
	}()

	a.Prime(ctx)
	interval := a.cfg.Interval.Duration
	for {
		// Align to the interval like Telegraf's round_interval: every
		// host collects at :00, :10, :20..., so their points line up.
		now := a.now()
		tick := now.Truncate(interval).Add(interval)
		wait := tick.Sub(now)
		if j := a.cfg.Jitter.Duration; j > 0 {
			wait += rand.N(j)
		}
		if !a.sleep(ctx, wait) {
			break
		}
		points := a.Gather(ctx, tick)
		cycle := a.Stats.Cycles.Add(1)
		points = append(points, a.selfPoint(tick))
		a.enqueue(batch{points: len(points), gz: a.encode(points)})
		if cycle == a.ReleaseAfter {
			if n, err := ReleaseStartupMemory(); err != nil {
				a.log.Debug("release start-up memory", "err", err, "bytes", n)
			}
		}
	}
	// Stop: let the sender finish its current request, then save what is
	// still queued.
	stopSend()
	<-done
	a.flushQueueToDisk()
	return nil
}

// enqueue hands a batch to the sender without ever waiting for it.
func (a *Agent) enqueue(b batch) {
	if !a.degraded.Load() {
		select {
		case a.queue <- b:
			return
		default:
			// The sender is stuck on a slow server. Move the queued
			// (older) batches to disk first so the buffer stays in
			// collection order; only the batch in flight can end up
			// behind newer ones, and timestamps make that harmless.
			a.log.Warn("sender is slow; buffering on disk")
			a.degraded.Store(true)
			a.flushQueueToDisk()
		}
	}
	a.toDisk(b)
}

func (a *Agent) toDisk(b batch) {
	dropped, err := a.buf.Append(b.points, b.gz)
	if dropped > 0 {
		a.log.Warn("disk buffer full: dropped oldest points", "points", dropped)
	}
	if err != nil {
		// The buffer counted the batch as dropped.
		a.log.Error("buffer batch on disk", "err", err)
	}
}

func (a *Agent) flushQueueToDisk() {
	for {
		select {
		case b := <-a.queue:
			a.toDisk(b)
		default:
			return
		}
	}
}

// deliver sends one batch and says whether it is done with (sent or
// rejected) or must be kept.
func (a *Agent) deliver(ctx context.Context, gz []byte, points int) (done bool) {
	err := a.sender.Send(ctx, gz)
	var rej *RejectedError
	switch {
	case err == nil:
		a.Stats.Sent.Add(int64(points))
		return true
	case errors.As(err, &rej):
		a.log.Error("server rejected a batch; dropping it", "err", err, "points", points)
		a.Stats.Rejected.Add(int64(points))
		return true
	default:
		a.Stats.SendErrors.Add(1)
		if !a.degraded.Load() {
			a.log.Warn("no server accepts writes; buffering on disk", "err", err)
		}
		return false
	}
}

// replayBatch bounds how much is read from disk per replay round.
const replayBatch = 1 << 20

func (a *Agent) sendLoop(ctx context.Context) {
	retry := time.Duration(0)
	backoff := func() bool {
		retry = min(max(retry*2, minRetry), maxRetry)
		return a.sleep(ctx, retry)
	}
	for ctx.Err() == nil {
		if a.buf.Len() > 0 {
			a.flushQueueToDisk() // keep order: older disk data goes first
			recs, err := a.buf.Peek(replayBatch)
			if err != nil {
				a.log.Error("read disk buffer", "err", err)
				if len(recs) == 0 {
					// An unreadable oldest segment must not stall
					// delivery forever: give it up, counted as dropped.
					a.log.Warn("dropping unreadable buffer segment", "points", a.buf.SkipHead())
				}
			}
			ok := true
			for _, r := range recs {
				if !a.deliver(ctx, r.Payload, r.Points) {
					ok = false
					break
				}
				a.buf.Ack(r.Seq)
			}
			if !ok || err != nil {
				if !backoff() {
					return
				}
				continue
			}
			if retry > 0 {
				a.log.Info("server accepts writes again; buffer replayed")
			}
			retry = 0
			continue
		}
		a.degraded.Store(false)
		select {
		case <-ctx.Done():
			return
		case b := <-a.queue:
			if a.degraded.Load() || a.buf.Len() > 0 {
				a.toDisk(b)
				continue
			}
			if !a.deliver(ctx, b.gz, b.points) {
				a.degraded.Store(true)
				a.toDisk(b)
				if !backoff() {
					return
				}
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
