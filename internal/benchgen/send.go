package benchgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Batch is one /write request body.
type Batch struct {
	Body   []byte
	Points int
	Values int
}

// Source fills batches in order. Next resets b and appends up to the
// source's batch size of points to b.Body; it returns io.EOF, with b
// empty, when there is nothing left. Counts totals what has been produced
// so far; it is read after the last Next.
type Source interface {
	Next(b *Batch) error
	Counts() Counts
}

// GenSource cuts a Generator's stream into batches of a fixed number of
// points.
type GenSource struct {
	Gen       *Generator
	BatchSize int
}

// Next implements Source.
func (s *GenSource) Next(b *Batch) error {
	b.Body, b.Points, b.Values = b.Body[:0], 0, 0
	if s.Gen.Done() {
		return io.EOF
	}
	b.Body, b.Points, b.Values = s.Gen.Append(b.Body, s.BatchSize)
	return nil
}

// Counts implements Source.
func (s *GenSource) Counts() Counts { return s.Gen.Counts() }

// maxLine bounds one line of a replayed file, so that a file without
// newlines cannot make the reader buffer grow without limit.
const maxLine = 1 << 20

// FileSource cuts line protocol read from R into batches of BatchSize
// lines, counting points, values (fields) and points per measurement as
// it goes. Blank lines and comments are skipped. Lines are cut at every
// newline, so a string field holding a raw newline would be split; the
// Generator never writes one.
type FileSource struct {
	BatchSize int
	br        *bufio.Reader
	counts    Counts
	line      int
}

// NewFileSource reads line protocol from r.
func NewFileSource(r io.Reader, batchSize int) *FileSource {
	return &FileSource{BatchSize: batchSize, br: bufio.NewReaderSize(r, 1<<20)}
}

// Next implements Source.
func (s *FileSource) Next(b *Batch) error {
	b.Body, b.Points, b.Values = b.Body[:0], 0, 0
	for b.Points < s.BatchSize {
		line, err := s.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("line %d: longer than %d bytes", s.line+1, maxLine)
		}
		if len(line) > 0 {
			s.line++
			m, values := LineStats(line)
			if values > 0 {
				b.Body = append(b.Body, line...)
				if line[len(line)-1] != '\n' {
					b.Body = append(b.Body, '\n')
				}
				b.Points++
				b.Values += values
				s.counts.add(m, values)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", s.line+1, err)
		}
	}
	if b.Points == 0 {
		return io.EOF
	}
	return nil
}

// Counts implements Source.
func (s *FileSource) Counts() Counts { return s.counts }

// LineStats returns the measurement of a line of line protocol and the
// number of fields it carries; 0 fields for a blank line or a comment. It
// follows the escaping rules (backslashes, quoted string fields) but does
// not validate: the server under test does that.
func LineStats(line []byte) (measurement string, fields int) {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i == len(line) || line[i] == '#' || line[i] == '\n' || line[i] == '\r' {
		return "", 0
	}
	start := i
	for i < len(line) && line[i] != ',' && line[i] != ' ' && line[i] != '\n' {
		if line[i] == '\\' {
			i++
		}
		i++
	}
	i = min(i, len(line))
	measurement = internMeasurement(line[start:i])
	// Skip the tags to the first unescaped space.
	for i < len(line) && line[i] != ' ' && line[i] != '\n' {
		if line[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(line) || line[i] != ' ' {
		return measurement, 0
	}
	i++
	fields = 1
	quoted := false
	for ; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			fields++
		case c == ' ' || c == '\n':
			return measurement, fields
		}
	}
	return measurement, fields
}

// measurementNames keeps one string per measurement name so that counting
// per measurement does not allocate per line.
var measurementNames sync.Map

func internMeasurement(b []byte) string {
	if v, ok := measurementNames.Load(string(b)); ok { // no allocation for the lookup
		return v.(string)
	}
	s := string(b)
	v, _ := measurementNames.LoadOrStore(s, s)
	return v.(string)
}

// SendConfig says where and how to send.
type SendConfig struct {
	URL     string // base URL of the server, e.g. http://127.0.0.1:8086
	DB      string
	Workers int  // concurrent writers, at least 1
	Gzip    bool // send Content-Encoding: gzip bodies
	// Timeout bounds each request; 0 means one minute.
	Timeout time.Duration
	// Progress, when set, is called about every ProgressEvery with the
	// totals so far, from a goroutine of its own.
	Progress      func(points, values int64, elapsed time.Duration)
	ProgressEvery time.Duration
	Client        *http.Client // nil: a client with Workers keep-alive connections
}

// Result is what a Send did.
type Result struct {
	Points, Values int64
	Batches        int64
	Bytes          int64 // request body bytes sent (after gzip)
	Wall           time.Duration
	// PerMeasurement counts points by measurement (from the source).
	PerMeasurement map[string]int64
}

// PointsPerSec and ValuesPerSec are the ingestion rates over the wall
// time.
func (r Result) PointsPerSec() float64 { return rate(r.Points, r.Wall) }

// ValuesPerSec is the number of field values sent per second.
func (r Result) ValuesPerSec() float64 { return rate(r.Values, r.Wall) }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// WriteError reports a /write that did not answer 204.
type WriteError struct {
	Batch  int64 // 1-based number of the batch
	Status int
	Body   string // first bytes of the response
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("write batch %d: status %d (want 204): %s", e.Batch, e.Status, e.Body)
}

func (c *SendConfig) client() *http.Client {
	if c.Client != nil {
		return c.Client
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(c.Workers, 2)
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// CreateDatabase sends CREATE DATABASE through POST /query, as Telegraf
// does on start. Any 2xx without an "error" in the body is success (a
// server that only emulates /query, like VictoriaMetrics, answers 200).
func CreateDatabase(ctx context.Context, client *http.Client, baseURL, db string) error {
	if client == nil {
		client = http.DefaultClient
	}
	form := url.Values{"q": {`CREATE DATABASE "` + strings.ReplaceAll(db, `"`, `\"`) + `"`}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/query",
		strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("create database %q: %w", db, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("create database %q: %w", db, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 || bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("create database %q: status %d: %s", db, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// Send posts every batch of src to cfg.URL's /write with cfg.Workers
// concurrent writers and returns the totals. The first failure (a
// transport error or a status other than 204) stops all writers and is
// returned; Result then holds what was acknowledged before it.
//
// Batches are produced by one goroutine, ahead of the writers by at most
// two per writer, and their buffers are reused: memory stays bounded
// whatever the data size.
func Send(ctx context.Context, cfg SendConfig, src Source) (Result, error) {
	if cfg.Workers < 1 {
		return Result{}, fmt.Errorf("workers must be at least 1, got %d", cfg.Workers)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Minute
	}
	writeURL := strings.TrimRight(cfg.URL, "/") + "/write?db=" + url.QueryEscape(cfg.DB)
	client := cfg.client()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	free := make(chan *Batch, 3*cfg.Workers)
	for range cap(free) {
		free <- &Batch{}
	}
	work := make(chan *Batch, 2*cfg.Workers)

	var (
		mu  sync.Mutex
		res Result
		seq int64
	)
	start := time.Now()

	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := writer{client: client, url: writeURL, gzip: cfg.Gzip, timeout: cfg.Timeout}
			for b := range work {
				if ctx.Err() != nil {
					free <- b
					continue // drain so the producer never blocks
				}
				mu.Lock()
				seq++
				n := seq
				mu.Unlock()
				sent, err := w.post(ctx, b, n)
				if err != nil {
					cancel(err)
				} else {
					mu.Lock()
					res.Points += int64(b.Points)
					res.Values += int64(b.Values)
					res.Batches++
					res.Bytes += int64(sent)
					mu.Unlock()
				}
				free <- b
			}
		}()
	}

	stopProgress := make(chan struct{})
	var progressDone sync.WaitGroup
	if cfg.Progress != nil {
		every := cfg.ProgressEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		progressDone.Add(1)
		go func() {
			defer progressDone.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					mu.Lock()
					p, v := res.Points, res.Values
					mu.Unlock()
					cfg.Progress(p, v, time.Since(start))
				}
			}
		}()
	}

	var srcErr error
produce:
	for ctx.Err() == nil {
		var b *Batch
		select {
		case b = <-free:
		case <-ctx.Done():
			break produce
		}
		if err := src.Next(b); err != nil {
			if !errors.Is(err, io.EOF) {
				srcErr = err
				cancel(err)
			}
			break
		}
		work <- b
	}
	close(work)
	wg.Wait()
	close(stopProgress)
	progressDone.Wait()

	res.Wall = time.Since(start)
	res.PerMeasurement = src.Counts().PerMeasurement
	if srcErr != nil {
		return res, fmt.Errorf("read batches: %w", srcErr)
	}
	// The cause is the first writer's error, or the caller's cancellation.
	return res, context.Cause(ctx)
}

// writer is one concurrent sender with its own gzip state.
type writer struct {
	client  *http.Client
	url     string
	gzip    bool
	timeout time.Duration
	zbuf    bytes.Buffer
	zw      *gzip.Writer
}

// post sends one batch and returns the body bytes sent.
func (w *writer) post(ctx context.Context, b *Batch, n int64) (int, error) {
	body := b.Body
	if w.gzip {
		w.zbuf.Reset()
		if w.zw == nil {
			// BestSpeed: the client shares the CPUs with the server under
			// test, so it should take as little as it can.
			w.zw, _ = gzip.NewWriterLevel(&w.zbuf, gzip.BestSpeed)
		} else {
			w.zw.Reset(&w.zbuf)
		}
		if _, err := w.zw.Write(body); err != nil {
			return 0, fmt.Errorf("gzip batch %d: %w", n, err)
		}
		if err := w.zw.Close(); err != nil {
			return 0, fmt.Errorf("gzip batch %d: %w", n, err)
		}
		body = w.zbuf.Bytes()
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("write batch %d: %w", n, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if w.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("write batch %d: %w", n, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, &WriteError{Batch: n, Status: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // keep the connection reusable
	return len(body), nil
}
