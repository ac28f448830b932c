package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herdmon/herd/internal/buildinfo"
)

// RejectedError reports a batch a server refused as bad data (a 4xx such
// as a parse error or a partial write). Retrying cannot help: the sender's
// caller logs it and drops the batch, as Telegraf does.
type RejectedError struct {
	URL    string
	Status int
	Body   string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%s rejected the batch: %d %s", e.URL, e.Status, e.Body)
}

// ErrNoServer is wrapped by Send when no URL accepted the batch (all down,
// unreachable or answering 5xx); the batch should be kept and retried.
var ErrNoServer = errors.New("no server accepted the batch")

// endpoint is one write URL and its health.
type endpoint struct {
	write     string // full write URL with query
	query     string // v1 /query URL, for CREATE DATABASE
	v2        bool
	downUntil time.Time
	backoff   time.Duration
}

// Sender posts gzip'd line protocol to the first healthy of its URLs.
type Sender struct {
	eps      []*endpoint
	client   *http.Client
	cfg      *Config
	log      *slog.Logger
	now      func() time.Time
	agent    string
	database string
}

// Endpoint health backoff: a URL that failed is skipped for 1s, doubling
// up to a minute, while other URLs are tried first.
const (
	minEndpointBackoff = time.Second
	maxEndpointBackoff = time.Minute
	// maxErrorBody bounds how much of an error response is read and logged.
	maxErrorBody = 1024
)

// NewSender builds a sender for cfg's URLs. A URL ending in /write is used
// as InfluxDB 1.x, one ending in /api/v2/write as 2.x; a bare server URL
// gets /api/v2/write when a token is configured and /write otherwise.
func NewSender(cfg *Config, log *slog.Logger) (*Sender, error) {
	s := &Sender{
		cfg:    cfg,
		log:    log,
		now:    time.Now,
		agent:  "herd-agent/" + buildinfo.Version,
		client: &http.Client{Timeout: cfg.Timeout.Duration},
	}
	for _, raw := range cfg.URLs {
		ep, err := newEndpoint(raw, cfg)
		if err != nil {
			return nil, err
		}
		s.eps = append(s.eps, ep)
	}
	if len(s.eps) == 0 {
		return nil, errors.New("no url to send to")
	}
	return s, nil
}

func newEndpoint(raw string, cfg *Config) (*endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http(s)://host[:port][/write|/api/v2/write]", raw)
	}
	path := strings.TrimRight(u.Path, "/")
	ep := &endpoint{}
	switch {
	case strings.HasSuffix(path, "/api/v2/write"):
		ep.v2 = true
	case strings.HasSuffix(path, "/write"):
	default:
		ep.v2 = cfg.Token != ""
		if ep.v2 {
			path += "/api/v2/write"
		} else {
			path += "/write"
		}
	}
	q := u.Query()
	if ep.v2 {
		bucket := cfg.Bucket
		if bucket == "" {
			bucket = cfg.Database
			if cfg.RetentionPolicy != "" {
				bucket += "/" + cfg.RetentionPolicy
			}
		}
		q.Set("bucket", bucket)
		if cfg.Organization != "" {
			q.Set("org", cfg.Organization)
		}
		q.Set("precision", "ns")
	} else {
		q.Set("db", cfg.Database)
		if cfg.RetentionPolicy != "" {
			q.Set("rp", cfg.RetentionPolicy)
		}
		qu := *u
		qu.Path = strings.TrimSuffix(path, "/write") + "/query"
		qu.RawQuery = ""
		ep.query = qu.String()
	}
	u.Path = path
	u.RawQuery = q.Encode()
	ep.write = u.String()
	return ep, nil
}

// Send delivers one gzip'd batch. It returns nil on success, a
// *RejectedError when a server refused the data, or an error wrapping
// ErrNoServer when the batch should be kept for later.
func (s *Sender) Send(ctx context.Context, gz []byte) error {
	now := s.now()
	var errs []error
	tried := false
	for pass := 0; pass < 2 && !tried; pass++ {
		for _, ep := range s.eps {
			// First pass: healthy URLs only. If every URL is cooling
			// down, the second pass tries them all anyway: the caller
			// already paces its retries.
			if pass == 0 && now.Before(ep.downUntil) {
				continue
			}
			tried = true
			err := s.post(ctx, ep, gz, true)
			if err == nil {
				ep.backoff, ep.downUntil = 0, time.Time{}
				return nil
			}
			var rej *RejectedError
			if errors.As(err, &rej) {
				return err
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %w", ErrNoServer, ctx.Err())
			}
			ep.backoff = min(max(ep.backoff*2, minEndpointBackoff), maxEndpointBackoff)
			ep.downUntil = now.Add(ep.backoff)
			errs = append(errs, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrNoServer, errors.Join(errs...))
}

func (s *Sender) post(ctx context.Context, ep *endpoint, gz []byte, mayCreate bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.write, bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", s.agent)
	s.auth(req, ep)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", redact(ep.write), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4:
		msg := strings.TrimSpace(string(body))
		if mayCreate && !ep.v2 && resp.StatusCode == http.StatusNotFound && strings.Contains(msg, "database not found") {
			// Telegraf creates its database when a server lacks it.
			if err := s.createDatabase(ctx, ep); err != nil {
				return err
			}
			return s.post(ctx, ep, gz, false)
		}
		return &RejectedError{URL: redact(ep.write), Status: resp.StatusCode, Body: msg}
	default:
		return fmt.Errorf("post %s: %s: %s", redact(ep.write), resp.Status, strings.TrimSpace(string(body)))
	}
}

func (s *Sender) auth(req *http.Request, ep *endpoint) {
	switch {
	case ep.v2 && s.cfg.Token != "":
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	case s.cfg.Username != "":
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	}
}

func (s *Sender) createDatabase(ctx context.Context, ep *endpoint) error {
	form := url.Values{"q": {fmt.Sprintf("CREATE DATABASE %q", s.cfg.Database)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.query, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", s.agent)
	s.auth(req, ep)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("create database on %s: %w", redact(ep.query), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &RejectedError{URL: redact(ep.query), Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	s.log.Info("created database", "url", redact(ep.query), "database", s.cfg.Database)
	return nil
}

// redact drops credentials from a URL before it is logged.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
