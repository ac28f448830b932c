package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/herdmon/herd/internal/agent/inputs"
	"github.com/herdmon/herd/internal/config"
)

// Config is the agent's configuration: defaults from DefaultConfig, then a
// TOML file, then HERD_AGENT_* environment variables, then flags.
type Config struct {
	// URLs are the servers to write to, tried in order; the first healthy
	// one gets each batch.
	URLs            []string `toml:"urls"`
	Database        string   `toml:"database"`
	RetentionPolicy string   `toml:"retention_policy"`
	Username        string   `toml:"username"`
	Password        string   `toml:"password"`
	// Token, Organization and Bucket are for InfluxDB 2.x endpoints.
	Token        string `toml:"token"`
	Organization string `toml:"organization"`
	Bucket       string `toml:"bucket"`

	Interval Duration `toml:"interval"`
	Jitter   Duration `toml:"jitter"`
	Timeout  Duration `toml:"timeout"`
	// Hostname is the value of the host tag on every point.
	Hostname string `toml:"hostname"`
	// Tags are added to every point.
	Tags map[string]string `toml:"tags"`
	// Inputs names the inputs to run; empty means all.
	Inputs []string `toml:"inputs"`

	BufferDir  string   `toml:"buffer_dir"`
	BufferSize ByteSize `toml:"buffer_size"`

	Disk struct {
		IgnoreFS []string `toml:"ignore_fs"`
	} `toml:"disk"`
	Temp struct {
		ThermalZones bool `toml:"thermal_zones"`
	} `toml:"temp"`
	Docker struct {
		Endpoint string   `toml:"endpoint"`
		Timeout  Duration `toml:"timeout"`
	} `toml:"docker"`
}

// Defaults, chosen to match Telegraf where users compare the two.
const (
	DefaultDatabase   = "telegraf"         // Telegraf's default database
	DefaultInterval   = 10 * time.Second   // Telegraf's default interval
	DefaultTimeout    = 5 * time.Second    // Telegraf's default output timeout
	DefaultBufferSize = ByteSize(64 << 20) // a day of 10 s batches from a busy host, ~0.5% of a 16 GB SD card
	DefaultURL        = "http://localhost:8086"
)

// DefaultConfig returns a configuration that works with no file: it
// writes to a herd or InfluxDB on localhost.
func DefaultConfig() *Config {
	c := &Config{
		URLs:       []string{DefaultURL},
		Database:   DefaultDatabase,
		Interval:   Duration{DefaultInterval},
		Timeout:    Duration{DefaultTimeout},
		BufferSize: DefaultBufferSize,
		BufferDir:  defaultBufferDir(),
	}
	c.Disk.IgnoreFS = slices.Clone(inputs.DefaultDiskIgnoreFS)
	c.Docker.Timeout = Duration{inputs.DefaultDockerTimeout}
	return c
}

func defaultBufferDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/herd/agent-buffer"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "herd", "agent-buffer")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("herd-agent-buffer-%d", os.Getuid()))
}

// Duration is a time.Duration written as "10s" in TOML and flags.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// ByteSize is a size in bytes, written as an integer or with a unit:
// "64MiB", "512KiB", "1GiB" (or KB/MB/GB, taken as the binary units).
type ByteSize int64

// UnmarshalTOML implements toml.Unmarshaler for integers and strings.
func (s *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*s = ByteSize(x)
		return nil
	case string:
		return s.UnmarshalText([]byte(x))
	}
	return fmt.Errorf("size: want an integer or a string like \"64MiB\", got %T", v)
}

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMGkmg]i?[Bb]?)?\s*$`)

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *ByteSize) UnmarshalText(b []byte) error {
	m := sizeRE.FindStringSubmatch(string(b))
	if m == nil {
		return fmt.Errorf("size %q: want bytes or a number with KiB, MiB or GiB", b)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("size %q: %w", b, err)
	}
	shift := 0
	if m[2] != "" {
		shift = map[byte]int{'k': 10, 'm': 20, 'g': 30}[strings.ToLower(m[2])[0]]
	}
	if n > (1<<62)>>shift {
		return fmt.Errorf("size %q: too large", b)
	}
	*s = ByteSize(n << shift)
	return nil
}

// LoadFile decodes a TOML file over c. Unknown keys are errors naming the
// file, line and key.
func (c *Config) LoadFile(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	md, err := toml.Decode(string(src), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return fmt.Errorf("%s:%d: unknown key %q", path, config.KeyLine(string(src), k), k.String())
	}
	return nil
}

// envVar is one HERD_AGENT_* variable and how it sets the configuration.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func str(p func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func dur(p func(c *Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error { return p(c).UnmarshalText([]byte(v)) }
}

var envVars = []envVar{
	{"URLS", func(c *Config, v string) error { c.URLs = splitList(v); return nil }},
	{"DATABASE", str(func(c *Config) *string { return &c.Database })},
	{"RETENTION_POLICY", str(func(c *Config) *string { return &c.RetentionPolicy })},
	{"USERNAME", str(func(c *Config) *string { return &c.Username })},
	{"PASSWORD", str(func(c *Config) *string { return &c.Password })},
	{"TOKEN", str(func(c *Config) *string { return &c.Token })},
	{"ORGANIZATION", str(func(c *Config) *string { return &c.Organization })},
	{"BUCKET", str(func(c *Config) *string { return &c.Bucket })},
	{"INTERVAL", dur(func(c *Config) *Duration { return &c.Interval })},
	{"JITTER", dur(func(c *Config) *Duration { return &c.Jitter })},
	{"TIMEOUT", dur(func(c *Config) *Duration { return &c.Timeout })},
	{"HOSTNAME", str(func(c *Config) *string { return &c.Hostname })},
	{"TAGS", func(c *Config, v string) error {
		c.Tags = map[string]string{}
		for _, kv := range splitList(v) {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("tag %q: want key=value", kv)
			}
			c.Tags[k] = val
		}
		return nil
	}},
	{"INPUTS", func(c *Config, v string) error { c.Inputs = splitList(v); return nil }},
	{"BUFFER_DIR", str(func(c *Config) *string { return &c.BufferDir })},
	{"BUFFER_SIZE", func(c *Config, v string) error { return c.BufferSize.UnmarshalText([]byte(v)) }},
	{"DISK_IGNORE_FS", func(c *Config, v string) error { c.Disk.IgnoreFS = splitList(v); return nil }},
	{"TEMP_THERMAL_ZONES", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Temp.ThermalZones = b
		return err
	}},
	{"DOCKER_ENDPOINT", str(func(c *Config) *string { return &c.Docker.Endpoint })},
	{"DOCKER_TIMEOUT", dur(func(c *Config) *Duration { return &c.Docker.Timeout })},
}

// EnvPrefix starts every environment variable the agent reads.
const EnvPrefix = "HERD_AGENT_"

// LoadEnv applies HERD_AGENT_* variables from lookup (os.LookupEnv).
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	for _, e := range envVars {
		v, ok := lookup(EnvPrefix + e.name)
		if !ok {
			continue
		}
		if err := e.set(c, v); err != nil {
			return fmt.Errorf("%s%s: %w", EnvPrefix, e.name, err)
		}
	}
	return nil
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("urls: at least one url is needed")
	}
	for _, u := range c.URLs {
		if _, err := newEndpoint(u, c); err != nil {
			return fmt.Errorf("urls: %w", err)
		}
	}
	if c.Database == "" && c.Bucket == "" {
		return errors.New("database: must not be empty")
	}
	if c.Interval.Duration < 100*time.Millisecond {
		return fmt.Errorf("interval %s: want at least 100ms", c.Interval.Duration)
	}
	if c.Jitter.Duration < 0 || c.Jitter.Duration >= c.Interval.Duration {
		return fmt.Errorf("jitter %s: want 0 up to less than the interval", c.Jitter.Duration)
	}
	if c.Timeout.Duration <= 0 {
		return fmt.Errorf("timeout %s: must be positive", c.Timeout.Duration)
	}
	if c.BufferSize < 64<<10 {
		return fmt.Errorf("buffer_size %d: want at least 64KiB", c.BufferSize)
	}
	if c.BufferDir == "" {
		return errors.New("buffer_dir: must not be empty")
	}
	for _, name := range c.Inputs {
		if !slices.Contains(inputs.Default, name) {
			return fmt.Errorf("inputs: unknown input %q (known: %s)", name, strings.Join(inputs.Default, ", "))
		}
	}
	for k := range c.Tags {
		if k == "" {
			return errors.New("tags: empty tag key")
		}
	}
	return nil
}
