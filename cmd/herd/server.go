package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/herdmon/herd/internal/agent"
	"github.com/herdmon/herd/internal/agent/inputs"
	"github.com/herdmon/herd/internal/buildinfo"
	"github.com/herdmon/herd/internal/config"
	"github.com/herdmon/herd/internal/httpapi"
	"github.com/herdmon/herd/internal/membudget"
	"github.com/herdmon/herd/internal/query"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/ui"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT/SIGTERM; systemd's default stop timeout is 90 s, so this
// leaves time to close the engine (which flushes the head) after it.
const shutdownTimeout = 30 * time.Second

// serverGCPercent is the server's GOGC unless the environment sets one.
const serverGCPercent = 50

// runServer is `herd server`: it loads the configuration, opens the
// storage engine, serves the InfluxDB 1.x API until SIGINT or SIGTERM,
// then stops accepting requests, lets the running ones finish and closes
// the engine.
func runServer(args []string) int {
	cfg, err := config.LoadServer(args, os.LookupEnv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "herd server: %v\n", err)
		return 2
	}
	if os.Getenv("GOGC") == "" {
		// The heap is mostly the head, whose size is configured: collect
		// at 1.5x the live heap instead of 2x, for a peak memory closer to
		// the configured one on 1 GB boards (costs a little CPU).
		debug.SetGCPercent(serverGCPercent)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(cfg.LogLevel)}))
	slog.SetDefault(log)
	budgets, err := applyMemoryLimit(&cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd server: %v\n", err)
		return 2
	}
	// After applyMemoryLimit: the derived budgets are what must fit.
	for _, w := range cfg.PlatformWarnings(buildinfo.AddressBits) {
		log.Warn("setting cannot hold on this 32-bit platform", "platform", buildinfo.Platform(), "problem", w)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		log.Error("cannot create data directory", "dir", cfg.DataDir, "err", err)
		return 1
	}
	engine, err := storage.Open(storage.Options{
		Dir:                  cfg.DataDir,
		FsyncDelay:           time.Duration(cfg.FsyncDelay),
		HeadMaxBytes:         budgets.HeadMaxBytes,
		EntryCacheBytes:      budgets.EntryCacheBytes,
		MaxSeriesPerDatabase: noLimitIfZero(cfg.MaxSeriesPerDatabase),
		MaxSeriesTotal:       budgets.MaxSeriesTotal,
		Logger:               log,

		MaxFieldsPerMeasurement: noLimitIfZero(cfg.MaxFieldsPerMeasurement),
		// 0 in the configuration turns them off; storage's 0 is its default.
		MinFreeDiskSpace: offIfZero(int64(cfg.MinFreeDiskSpace)),
		DiskReserve:      offIfZero(int64(cfg.DiskReserve)),
	})
	if err != nil {
		log.Error("cannot open storage", "dir", cfg.DataDir, "err", err)
		return 1
	}
	code := serve(cfg, budgets, engine, log)
	if err := engine.Close(); err != nil {
		log.Error("closing storage", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}

// offIfZero maps a configured size of 0 ("off") to storage's -1.
func offIfZero(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// serve runs the HTTP API until a signal or a listener failure.
func serve(cfg config.ServerConfig, budgets config.Budgets, engine *storage.Engine, log *slog.Logger) int {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.HTTPAddr, "err", err)
		return 1
	}
	handler := httpapi.New(httpapi.Options{
		Store:        engine,
		StorageStats: func() map[string]int64 { return withMemoryStats(engine.Statistics(), budgets) },
		Executor: &httpapi.MetaExecutor{Store: engine, Next: &queryExecutor{x: &query.Executor{Store: engine}, limits: query.Options{
			MaxSelectBuckets: cfg.MaxSelectBuckets, MaxPointsRead: cfg.MaxSelectPoint, Timeout: time.Duration(cfg.QueryTimeout),
			MaxQueryDepth: cfg.MaxQueryDepth}}},
		QueryLimits: httpapi.QueryLimits{MaxSize: int64(cfg.MaxQuerySize), MaxDepth: cfg.MaxQueryDepth, MaxTerms: cfg.MaxQueryTerms},
		MaxBodySize: int64(cfg.MaxBodySize),
		BindAddr:    cfg.HTTPAddr,
		Logger:      log,
		UI:          ui.New(),
		Pprof:       cfg.PprofEnabled,
		QueryMemory: membudget.NewPool(int64(cfg.MaxQueryMemory), int64(cfg.MaxQueryMemoryTotal)),

		MaxFieldsPerPoint:    cfg.MaxFieldsPerPoint,
		MaxConcurrentWrites:  cfg.MaxConcurrentWriteLimit,
		MaxEnqueuedWrites:    cfg.MaxEnqueuedWriteLimit,
		EnqueuedWriteTimeout: time.Duration(cfg.EnqueuedWriteTimeout),
		MaxWriteMemory:       int64(cfg.MaxWriteMemory),
		BodyReadTimeout:      time.Duration(cfg.BodyReadTimeout),
	})
	srv := &http.Server{
		Handler: handler,
		// Slow or idle clients must not pin memory on a 1 GB machine;
		// write bodies have their own deadline (body-read-timeout).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10, // net/http's 1 MB default, per connection, is far more than any client sends
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Tests and scripts read the real address here (with port 0 too).
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir,
		"version", buildinfo.Version, "influxdb_api", buildinfo.InfluxDBVersion, "platform", buildinfo.Platform())
	agentDone := make(chan struct{})
	agentCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	if cfg.NoLocalAgent {
		close(agentDone)
	} else {
		go func() {
			defer close(agentDone)
			runLocalAgent(agentCtx, cfg, ln.Addr(), log)
		}()
	}

	select {
	case err := <-errc:
		log.Error("http server failed", "err", err)
		return 1
	case <-ctx.Done():
	}
	stop() // a second signal kills the process the default way
	log.Info("shutting down")
	stopAgent()
	<-agentDone
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at shutdown", "err", err)
		srv.Close()
	}
	return 0
}

// noLimitIfZero maps the configuration's 0 ("no limit") to storage's
// negative, where 0 means the default.
func noLimitIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// applyMemoryLimit resolves memory-limit and every setting derived from
// it, sets the Go runtime's soft limit to it (unless GOMEMLIMIT is set:
// the runtime applies that one itself, and it is the default limit) and
// logs what was decided.
func applyMemoryLimit(cfg *config.ServerConfig, log *slog.Logger) (config.Budgets, error) {
	m := config.ReadMachine()
	goEnv := os.Getenv("GOMEMLIMIT") != ""
	if goEnv {
		if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 { // not "off"
			m.GoMemLimit = l
		}
	}
	b, source, err := cfg.ApplyMemoryLimit(m)
	if err != nil {
		return b, err
	}
	if !goEnv {
		debug.SetMemoryLimit(b.MemoryLimit)
	}
	mib := func(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }
	log.Info("memory limit", "limit", mib(b.MemoryLimit), "source", source, "ram", mib(m.MemTotal), "cgroup_max", mib(m.CgroupMax),
		"go_memory_limit", mib(debug.SetMemoryLimit(-1)), "head_max_bytes", mib(b.HeadMaxBytes), "entry_cache_bytes", mib(b.EntryCacheBytes),
		"write_memory", mib(b.WriteMemory), "query_memory", mib(b.QueryMemory), "query_memory_total", mib(b.QueryMemoryTotal),
		"max_series_total", b.MaxSeriesTotal, "max_series_per_database", cfg.MaxSeriesPerDatabase)
	return b, nil
}

// withMemoryStats adds the memory limit and its budgets to the storage
// statistics in /debug/vars, so what the server runs with can be read
// back (goMemoryLimit is the runtime's live value).
func withMemoryStats(st map[string]int64, b config.Budgets) map[string]int64 {
	st["memoryLimit"] = b.MemoryLimit
	st["goMemoryLimit"] = debug.SetMemoryLimit(-1)
	st["writeMemoryBudget"] = b.WriteMemory
	st["queryMemoryBudget"] = b.QueryMemory
	st["queryMemoryTotalBudget"] = b.QueryMemoryTotal
	return st
}

func logLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// runLocalAgent collects this host's own metrics into this server, as
// any agent would (over HTTP, into the telegraf database), so a single
// `herd server` is already a monitored host.
func runLocalAgent(ctx context.Context, cfg config.ServerConfig, addr net.Addr, log *slog.Logger) {
	acfg := agent.DefaultConfig()
	port := "8086"
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(ta.Port)
	}
	acfg.URLs = []string{"http://" + net.JoinHostPort("127.0.0.1", port)}
	acfg.BufferDir = filepath.Join(cfg.DataDir, "agent-buffer")
	env := inputs.EnvFromOS()
	alog := log.With("component", "local-agent")
	a, err := agent.New(acfg, &env, alog)
	if err != nil {
		alog.Error("local agent not started", "err", err)
		return
	}
	alog.Info("local agent started", "url", acfg.URLs[0], "database", acfg.Database, "interval", acfg.Interval.Duration)
	if err := a.Run(ctx); err != nil {
		alog.Error("local agent stopped", "err", err)
	}
}
