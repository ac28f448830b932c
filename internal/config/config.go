// Package config holds the server's configuration: defaults that work
// with no file at all, then a strict TOML file, then HERD_* environment
// variables, then command-line flags, each overriding the one before.
// Errors name the file, line and key so a user can fix them at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ServerConfig is the configuration of `herd server`. Every field is a
// TOML key, an environment variable (HERD_ + the key upper-cased with
// dashes as underscores) and a flag (--key).
type ServerConfig struct {
	// HTTPAddr is where the InfluxDB-compatible API listens.
	HTTPAddr string `toml:"http-addr"`
	// DataDir holds everything the server keeps.
	DataDir string `toml:"data-dir"`
	// MaxBodySize bounds a write body after decompression (InfluxDB's
	// max-body-size); 0 disables the limit.
	MaxBodySize Size `toml:"max-body-size"`
	// FsyncDelay > 0 lets acknowledged writes wait up to this long for an
	// fsync (fewer SD-card writes; a power cut may lose that window).
	FsyncDelay Duration `toml:"fsync-delay"`
	// MemoryLimit bounds the server's memory: the Go runtime's soft limit
	// and the source of every memory setting left unset (memory.go).
	// 0: DefaultMemoryLimit (a share of the machine's RAM).
	MemoryLimit Size `toml:"memory-limit"`
	// HeadMaxBytes bounds the memory of recent, not yet flushed data
	// (0: derived from MemoryLimit).
	HeadMaxBytes Size `toml:"head-max-bytes"`
	// MinFreeDiskSpace refuses writes while the data directory's file
	// system has less free space, keeping room for flushes and
	// compactions (VictoriaMetrics' -storage.minFreeDiskSpaceBytes); 0: off.
	MinFreeDiskSpace Size `toml:"min-free-disk-space"`
	// DiskReserve is the emergency reserve file kept in the data
	// directory and deleted when the disk fills, so a flush can complete
	// (at most 1/16 of the file system); 0: none.
	DiskReserve Size `toml:"disk-reserve"`
	// MaxSeriesPerDatabase refuses new series in a database beyond it
	// (InfluxDB's max-series-per-database; 0: no limit).
	MaxSeriesPerDatabase int `toml:"max-series-per-database"`
	// MaxSeriesTotal refuses new series beyond it across all databases,
	// which any client may create (0: derived from MemoryLimit; -1: no
	// limit).
	MaxSeriesTotal int `toml:"max-series-total"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log-level"`
	// NoLocalAgent stops the server from collecting its own host's
	// metrics.
	NoLocalAgent bool `toml:"no-local-agent"`
	// MaxSelectBuckets bounds the GROUP BY time buckets of one query
	// (InfluxDB's max-select-buckets; herd defaults to 100,000 so a tiny
	// interval over a long range fails fast on a 1 GB board).
	MaxSelectBuckets int `toml:"max-select-buckets"`
	// MaxSelectPoint bounds the values one query may read (InfluxDB's
	// max-select-point); 0: no limit.
	MaxSelectPoint int64 `toml:"max-select-point"`
	// QueryTimeout ends a query running longer (InfluxDB's
	// query-timeout); 0: no limit.
	QueryTimeout Duration `toml:"query-timeout"`
	// MaxQueryMemory bounds what one /query request holds (rows, values,
	// per-series state, a non-chunked answer's bytes); 0: no limit.
	MaxQueryMemory Size `toml:"max-query-memory"`
	// MaxQueryMemoryTotal bounds what all running queries hold
	// together; 0: no limit.
	MaxQueryMemoryTotal Size `toml:"max-query-memory-total"`
	// MaxQuerySize, MaxQueryDepth and MaxQueryTerms bound a query's
	// text before it is parsed: its bytes, the nesting of parentheses and
	// subqueries, and the operands joined by operators in one statement
	// (0: the default), so that a few KB of text cannot cost minutes.
	MaxQuerySize  Size `toml:"max-query-size"`
	MaxQueryDepth int  `toml:"max-query-depth"`
	MaxQueryTerms int  `toml:"max-query-terms"`
	// PprofEnabled serves Go's profiler at /debug/pprof/ (InfluxDB's
	// pprof-enabled). Off by default: profiles expose internals and a CPU
	// profile costs a small board real time.
	PprofEnabled bool `toml:"pprof-enabled"`

	// Write limits: one client must not stall or exhaust the server.
	// MaxFieldsPerPoint refuses points with more fields (0: no limit).
	MaxFieldsPerPoint int `toml:"max-fields-per-point"`
	// MaxFieldsPerMeasurement refuses points that would give a
	// measurement more distinct field keys in one shard (0: no limit).
	MaxFieldsPerMeasurement int `toml:"max-fields-per-measurement"`
	// MaxConcurrentWriteLimit bounds the writes parsed and applied at
	// once, MaxEnqueuedWriteLimit those waiting for a turn (InfluxDB's
	// names; 0: no limit); EnqueuedWriteTimeout is how long a write waits
	// for a turn or for write memory.
	MaxConcurrentWriteLimit int      `toml:"max-concurrent-write-limit"`
	MaxEnqueuedWriteLimit   int      `toml:"max-enqueued-write-limit"`
	EnqueuedWriteTimeout    Duration `toml:"enqueued-write-timeout"`
	// MaxWriteMemory bounds the memory all writes in progress hold at
	// once (0: no limit).
	MaxWriteMemory Size `toml:"max-write-memory"`
	// BodyReadTimeout bounds how long a write body may take to arrive
	// (0: no limit).
	BodyReadTimeout Duration `toml:"body-read-timeout"`
}

// Defaults, chosen so that a server runs with no configuration at all.
const (
	DefaultHTTPAddr = ":8086"       // InfluxDB's port: Telegraf and Grafana configs work unchanged
	DefaultDataDir  = "./herd-data" // what `make run` uses; deployments pass /var/lib/herd
	DefaultLogLevel = "info"
	// DefaultMaxSelectBuckets: see ServerConfig.MaxSelectBuckets.
	DefaultMaxSelectBuckets = 100_000
	// DefaultMaxBodySize is InfluxDB's default max-body-size (25 MB).
	DefaultMaxBodySize Size = 25_000_000
	// Derived is the default of max-write-memory, max-query-memory and
	// max-query-memory-total: a share of memory-limit (DeriveBudgets),
	// set by ApplyMemoryLimit. It cannot be written in a file, a variable
	// or a flag (sizes are never negative); 0 there still means no limit.
	Derived Size = -1

	// Write limits; httpapi and storage say why these values.
	DefaultMaxFieldsPerPoint       = 10_000
	DefaultMaxFieldsPerMeasurement = 100_000
	DefaultMaxConcurrentWriteLimit = 32
	DefaultEnqueuedWriteTimeout    = Duration(5 * time.Second)
	DefaultBodyReadTimeout         = Duration(30 * time.Second)
	// DefaultMaxQuerySize is what a GET can carry (net/http's 1 MiB
	// header limit), so any query that works as a GET works as a POST.
	DefaultMaxQuerySize Size = 1 << 20
	// DefaultMaxQueryDepth: real queries nest a handful of levels.
	DefaultMaxQueryDepth = 100
	// DefaultMaxQueryTerms: a dashboard's OR over 1,000 hosts has 4,000.
	DefaultMaxQueryTerms = 10_000
	// DefaultMinFreeDiskSpace and DefaultDiskReserve match
	// storage.DefaultOptions.
	DefaultMinFreeDiskSpace Size = 16 << 20
	DefaultDiskReserve      Size = 16 << 20
	// DefaultMaxSeriesPerDatabase is InfluxDB's max-series-per-database.
	DefaultMaxSeriesPerDatabase = 1_000_000
)

// NewServerConfig returns the defaults.
func NewServerConfig() ServerConfig {
	return ServerConfig{
		HTTPAddr:    DefaultHTTPAddr,
		DataDir:     DefaultDataDir,
		MaxBodySize: DefaultMaxBodySize,
		LogLevel:    DefaultLogLevel,

		MaxSelectBuckets:    DefaultMaxSelectBuckets,
		MaxQueryMemory:      Derived,
		MaxQueryMemoryTotal: Derived,

		MaxFieldsPerPoint:       DefaultMaxFieldsPerPoint,
		MaxFieldsPerMeasurement: DefaultMaxFieldsPerMeasurement,
		MaxConcurrentWriteLimit: DefaultMaxConcurrentWriteLimit,
		EnqueuedWriteTimeout:    DefaultEnqueuedWriteTimeout,
		MaxWriteMemory:          Derived,
		BodyReadTimeout:         DefaultBodyReadTimeout,
		MaxQuerySize:            DefaultMaxQuerySize,
		MaxQueryDepth:           DefaultMaxQueryDepth,
		MaxQueryTerms:           DefaultMaxQueryTerms,

		MinFreeDiskSpace:     DefaultMinFreeDiskSpace,
		DiskReserve:          DefaultDiskReserve,
		MaxSeriesPerDatabase: DefaultMaxSeriesPerDatabase,
	}
}

// Validate reports the first setting that cannot work.
func (c *ServerConfig) Validate() error {
	if c.HTTPAddr == "" {
		return errors.New("http-addr: must not be empty")
	}
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return fmt.Errorf("http-addr: %q is not HOST:PORT: %w", c.HTTPAddr, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("http-addr: %q has an invalid port", c.HTTPAddr)
	}
	if c.DataDir == "" {
		return errors.New("data-dir: must not be empty")
	}
	if c.MaxBodySize < 0 {
		return fmt.Errorf("max-body-size: must not be negative, got %d", c.MaxBodySize)
	}
	if c.FsyncDelay < 0 {
		return fmt.Errorf("fsync-delay: must not be negative, got %s", time.Duration(c.FsyncDelay))
	}
	if c.FsyncDelay > Duration(time.Minute) {
		return fmt.Errorf("fsync-delay: %s is longer than the 1m0s maximum (acknowledged writes would wait that long)", time.Duration(c.FsyncDelay))
	}
	if c.HeadMaxBytes != 0 && c.HeadMaxBytes < 1<<20 {
		return fmt.Errorf("head-max-bytes: %d is below the 1MiB minimum", c.HeadMaxBytes)
	}
	if c.MaxQuerySize < 0 || c.MaxQueryDepth < 0 || c.MaxQueryTerms < 0 {
		return fmt.Errorf("max-query-size, max-query-depth, max-query-terms: must not be negative, got %d, %d, %d",
			c.MaxQuerySize, c.MaxQueryDepth, c.MaxQueryTerms)
	}
	if (c.MaxQueryMemory < 0 && c.MaxQueryMemory != Derived) || (c.MaxQueryMemoryTotal < 0 && c.MaxQueryMemoryTotal != Derived) {
		return fmt.Errorf("max-query-memory, max-query-memory-total: must not be negative, got %d and %d", c.MaxQueryMemory, c.MaxQueryMemoryTotal)
	}
	if c.MaxQueryMemory != Derived && c.MaxQueryMemoryTotal > 0 && c.MaxQueryMemory > c.MaxQueryMemoryTotal {
		return fmt.Errorf("max-query-memory: %d is more than max-query-memory-total %d", c.MaxQueryMemory, c.MaxQueryMemoryTotal)
	}
	for _, l := range []struct {
		key string
		v   int64
	}{
		{"max-fields-per-point", int64(c.MaxFieldsPerPoint)}, {"max-fields-per-measurement", int64(c.MaxFieldsPerMeasurement)},
		{"max-concurrent-write-limit", int64(c.MaxConcurrentWriteLimit)}, {"max-enqueued-write-limit", int64(c.MaxEnqueuedWriteLimit)},
		{"enqueued-write-timeout", int64(c.EnqueuedWriteTimeout)}, {"max-write-memory", max(int64(c.MaxWriteMemory), 0)}, // Derived: set later
		{"body-read-timeout", int64(c.BodyReadTimeout)},
		{"min-free-disk-space", int64(c.MinFreeDiskSpace)}, {"disk-reserve", int64(c.DiskReserve)},
	} {
		if l.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", l.key, l.v)
		}
	}
	if c.MaxWriteMemory > 0 && c.MaxWriteMemory < 1<<20 {
		return fmt.Errorf("max-write-memory: %d is below the 1MiB minimum (a Telegraf batch would not fit)", c.MaxWriteMemory)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < MinMemoryLimit {
		return fmt.Errorf("memory-limit: %d is below the %dMiB minimum the server needs (head, index, one query and one write); use e.g. 256MiB, or 0 for a share of the RAM",
			c.MemoryLimit, MinMemoryLimit>>20)
	}
	if c.MaxSeriesPerDatabase < 0 {
		return fmt.Errorf("max-series-per-database: must not be negative, got %d (0: no limit)", c.MaxSeriesPerDatabase)
	}
	if c.MaxSeriesTotal < -1 {
		return fmt.Errorf("max-series-total: %d is not a limit (0: derived from memory-limit, -1: no limit)", c.MaxSeriesTotal)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return nil
}

// LoadFile overlays the TOML file at path onto c. Unknown keys are
// errors, reported with the file, line and key.
func (c *ServerConfig) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return c.loadTOML(path, string(data))
}

func (c *ServerConfig) loadTOML(path, data string) error {
	md, err := toml.Decode(data, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return fmt.Errorf("%s:%d: key %q: %s", path, pe.Position.Line, pe.LastKey, pe.Message)
			}
			return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		if m := decodeErrRE.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("%s:%s: key %q: %s", path, m[1], m[2], m[3])
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return fmt.Errorf("%s:%d: unknown key %q", path, KeyLine(data, k), k.String())
	}
	return nil
}

// decodeErrRE takes apart the TOML library's type errors, which carry
// their position only in their text.
var decodeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// envPrefix starts every environment variable the server reads.
const envPrefix = "HERD_"

// LoadEnv overlays HERD_* variables onto c. lookup is os.LookupEnv in
// production and a map in tests.
func (c *ServerConfig) LoadEnv(lookup func(string) (string, bool)) error {
	fs := c.flagSet(nil)
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := lookup(name)
		if !ok {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("environment %s=%q: %v", name, v, e)
		}
	})
	return err
}

// flagSet binds every setting to a flag writing straight into c. When
// configPath is not nil, --config is registered too.
func (c *ServerConfig) flagSet(configPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet("herd server", flag.ContinueOnError)
	if configPath != nil {
		fs.StringVar(configPath, "config", "", "TOML configuration `file` (env HERD_CONFIG)")
	}
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "`HOST:PORT` of the InfluxDB-compatible HTTP API")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "`DIR` holding everything the server keeps")
	fs.Var(&c.MaxBodySize, "max-body-size", "largest write body after decompression, e.g. 25MB (0: no limit)")
	fs.Var(&c.FsyncDelay, "fsync-delay", "let acknowledged writes wait up to this long for an fsync, e.g. 100ms (0: fsync before every reply)")
	fs.Var(&c.MemoryLimit, "memory-limit", "memory the server may use, e.g. 256MiB; sets GOMEMLIMIT and sizes what is unset below (0: 40% of RAM)")
	fs.Var(&c.HeadMaxBytes, "head-max-bytes", "memory for recent (compressed) data before it is flushed to blocks, e.g. 32MiB (0: memory-limit/12)")
	fs.IntVar(&c.MaxSeriesPerDatabase, "max-series-per-database", c.MaxSeriesPerDatabase, "most series in one database (0: no limit)")
	fs.IntVar(&c.MaxSeriesTotal, "max-series-total", c.MaxSeriesTotal, "most series across all databases (0: from memory-limit, -1: no limit)")
	fs.Var(&c.MinFreeDiskSpace, "min-free-disk-space", "refuse writes while the data directory's file system has less free space, e.g. 16MiB (0: off)")
	fs.Var(&c.DiskReserve, "disk-reserve", "emergency reserve file released when the disk fills so a flush can complete, e.g. 16MiB (0: none)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.NoLocalAgent, "no-local-agent", c.NoLocalAgent, "do not collect this host's own metrics")
	fs.IntVar(&c.MaxSelectBuckets, "max-select-buckets", c.MaxSelectBuckets, "most GROUP BY time buckets one query may produce")
	fs.Int64Var(&c.MaxSelectPoint, "max-select-point", c.MaxSelectPoint, "most values one query may read (0: no limit)")
	fs.Var(&c.QueryTimeout, "query-timeout", "end queries running longer than this, e.g. 30s (0: no limit)")
	fs.Var(&c.MaxQueryMemory, "max-query-memory", "memory one query request may hold, e.g. 64MiB (default: memory-limit / 10, at most 64MiB; 0: no limit)")
	fs.Var(&c.MaxQueryMemoryTotal, "max-query-memory-total", "memory all running queries may hold together, e.g. 256MiB (default: memory-limit / 5, at most 256MiB; 0: no limit)")
	fs.Var(&c.MaxQuerySize, "max-query-size", "longest query text (q), e.g. 1MiB (0: the default)")
	fs.IntVar(&c.MaxQueryDepth, "max-query-depth", c.MaxQueryDepth, "deepest nesting of parentheses and subqueries in a query (0: the default)")
	fs.IntVar(&c.MaxQueryTerms, "max-query-terms", c.MaxQueryTerms, "most operands joined by operators in one statement (0: the default)")
	fs.BoolVar(&c.PprofEnabled, "pprof-enabled", c.PprofEnabled, "serve Go's profiler at /debug/pprof/")
	fs.IntVar(&c.MaxFieldsPerPoint, "max-fields-per-point", c.MaxFieldsPerPoint, "most fields one point may have (0: no limit)")
	fs.IntVar(&c.MaxFieldsPerMeasurement, "max-fields-per-measurement", c.MaxFieldsPerMeasurement, "most distinct field keys of a measurement in one shard (0: no limit)")
	fs.IntVar(&c.MaxConcurrentWriteLimit, "max-concurrent-write-limit", c.MaxConcurrentWriteLimit, "most writes parsed and applied at once (0: no limit)")
	fs.IntVar(&c.MaxEnqueuedWriteLimit, "max-enqueued-write-limit", c.MaxEnqueuedWriteLimit, "most writes waiting for a turn (0: no limit)")
	fs.Var(&c.EnqueuedWriteTimeout, "enqueued-write-timeout", "how long a write waits for a turn or for write memory before a 503, e.g. 5s")
	fs.Var(&c.MaxWriteMemory, "max-write-memory", "memory all writes in progress may hold at once, e.g. 64MiB (default: memory-limit / 10, at most 64MiB; 0: no limit)")
	fs.Var(&c.BodyReadTimeout, "body-read-timeout", "longest a write body may take to arrive, e.g. 30s (0: no limit)")
	return fs
}

// UsageError is a bad command line or configuration: exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// LoadServer builds the configuration from defaults, the file named by
// --config (or HERD_CONFIG), HERD_* variables and flags, in that order of
// precedence (flags win), and validates it. Every error it returns is a
// *UsageError; flag.ErrHelp is returned wrapped when -h was asked for.
func LoadServer(args []string, lookup func(string) (string, bool)) (ServerConfig, error) {
	// The flags are parsed twice: once to find --config, then again over
	// the file and environment values so that flags win.
	probe := NewServerConfig()
	var configPath string
	fs := probe.flagSet(&configPath)
	fs.SetOutput(discard{})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c := NewServerConfig()
			full := c.flagSet(new(string))
			full.SetOutput(os.Stderr)
			full.Usage()
		}
		return probe, &UsageError{err}
	}
	if fs.NArg() > 0 {
		return probe, &UsageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if configPath == "" {
		configPath, _ = lookup(envPrefix + "CONFIG")
	}

	c := NewServerConfig()
	if configPath != "" {
		if err := c.LoadFile(configPath); err != nil {
			return c, &UsageError{err}
		}
	}
	if err := c.LoadEnv(lookup); err != nil {
		return c, &UsageError{err}
	}
	final := c.flagSet(new(string))
	final.SetOutput(discard{})
	if err := final.Parse(args); err != nil {
		return c, &UsageError{err}
	}
	if err := c.Validate(); err != nil {
		return c, &UsageError{err}
	}
	return c, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
