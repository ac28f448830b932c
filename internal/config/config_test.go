package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsAreValid(t *testing.T) {
	c, err := LoadServer(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c != NewServerConfig() {
		t.Fatalf("got %+v, want defaults %+v", c, NewServerConfig())
	}
	if c.HTTPAddr != ":8086" || c.DataDir != "./herd-data" || c.MaxBodySize != 25_000_000 {
		t.Fatalf("unexpected defaults %+v", c)
	}
}

func TestFullFile(t *testing.T) {
	c, err := LoadServer([]string{"--config", "testdata/full.toml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := ServerConfig{
		HTTPAddr: "127.0.0.1:9999", DataDir: "/var/lib/herd", MaxBodySize: 10_000_000,
		FsyncDelay: Duration(100 * time.Millisecond), HeadMaxBytes: 32 << 20,
		MemoryLimit: 512 << 20, MaxSeriesPerDatabase: 500_000, MaxSeriesTotal: 2_000_000,
		LogLevel: "debug", NoLocalAgent: true,
		MaxSelectBuckets: 5000, MaxSelectPoint: 1_000_000, QueryTimeout: Duration(30 * time.Second), PprofEnabled: true,
		MaxQueryMemory: 32 << 20, MaxQueryMemoryTotal: 128 << 20,
		MaxFieldsPerPoint: 500, MaxFieldsPerMeasurement: 2000, MaxConcurrentWriteLimit: 8, MaxEnqueuedWriteLimit: 100,
		EnqueuedWriteTimeout: Duration(2 * time.Second), MaxWriteMemory: 16 << 20, BodyReadTimeout: Duration(10 * time.Second),
		MaxQuerySize: 64 << 10, MaxQueryDepth: 20, MaxQueryTerms: 500,
		MinFreeDiskSpace: 8 << 20, DiskReserve: 4 << 20,
	}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

// TestPrecedence checks defaults < file < environment < flags, per key.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "herd.toml")
	if err := os.WriteFile(file, []byte("http-addr = \"127.0.0.1:1\"\ndata-dir = \"/from/file\"\nlog-level = \"warn\"\nmax-body-size = 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func(c ServerConfig) bool
	}{
		{"file", []string{"--config", file}, nil, func(c ServerConfig) bool {
			return c.HTTPAddr == "127.0.0.1:1" && c.DataDir == "/from/file" && c.LogLevel == "warn" && c.MaxBodySize == 1000
		}},
		{"env over file", []string{"--config", file}, map[string]string{"HERD_DATA_DIR": "/from/env", "HERD_MAX_BODY_SIZE": "2KB"}, func(c ServerConfig) bool {
			return c.HTTPAddr == "127.0.0.1:1" && c.DataDir == "/from/env" && c.MaxBodySize == 2000
		}},
		{"flag over env", []string{"--config", file, "--data-dir", "/from/flag"}, map[string]string{"HERD_DATA_DIR": "/from/env", "HERD_LOG_LEVEL": "error"}, func(c ServerConfig) bool {
			return c.DataDir == "/from/flag" && c.LogLevel == "error" && c.HTTPAddr == "127.0.0.1:1"
		}},
		{"HERD_CONFIG", nil, map[string]string{"HERD_CONFIG": file}, func(c ServerConfig) bool { return c.DataDir == "/from/file" }},
		{"env bool and duration", nil, map[string]string{"HERD_NO_LOCAL_AGENT": "true", "HERD_FSYNC_DELAY": "250ms", "HERD_HTTP_ADDR": "127.0.0.1:8087"}, func(c ServerConfig) bool {
			return c.NoLocalAgent && c.FsyncDelay == Duration(250*time.Millisecond) && c.HTTPAddr == "127.0.0.1:8087"
		}},
		{"flags only", []string{"--no-local-agent", "--http-addr", "localhost:0", "-head-max-bytes=8MiB"}, nil, func(c ServerConfig) bool {
			return c.NoLocalAgent && c.HTTPAddr == "localhost:0" && c.HeadMaxBytes == 8<<20
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadServer(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

// TestBadFiles loads every testdata/*.bad.toml and expects exactly the
// error written beside it in *.bad.err.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".toml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadServer([]string{"--config", f}, env(nil))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want a *UsageError", err)
			}
			if got, w := err.Error(), strings.TrimSpace(string(want)); got != w {
				t.Fatalf("error\n got: %s\nwant: %s", got, w)
			}
		})
	}
}

func TestBadEnvAndFlags(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"env size", nil, map[string]string{"HERD_MAX_BODY_SIZE": "big"}, `environment HERD_MAX_BODY_SIZE="big": invalid size "big"`},
		{"env bool", nil, map[string]string{"HERD_NO_LOCAL_AGENT": "perhaps"}, `environment HERD_NO_LOCAL_AGENT="perhaps"`},
		{"unknown flag", []string{"--nope"}, nil, "flag provided but not defined: -nope"},
		{"stray argument", []string{"extra"}, nil, `unexpected argument "extra"`},
		{"missing file", []string{"--config", "testdata/none.toml"}, nil, "read config: open testdata/none.toml"},
		{"negative fsync", []string{"--fsync-delay", "-1s"}, nil, "fsync-delay: must not be negative"},
		{"negative query depth", []string{"--max-query-depth", "-1"}, nil, "max-query-size, max-query-depth, max-query-terms: must not be negative, got 1048576, -1, 10000"},
		{"huge fsync", []string{"--fsync-delay", "2m"}, nil, "fsync-delay: 2m0s is longer than the 1m0s maximum"},
		{"tiny head", []string{"--head-max-bytes", "1000"}, nil, "head-max-bytes: 1000 is below the 1MiB minimum"},
		{"negative write limit", []string{"--max-concurrent-write-limit", "-1"}, nil, "max-concurrent-write-limit: must not be negative"},
		{"tiny write memory", []string{"--max-write-memory", "1000"}, nil, "max-write-memory: 1000 is below the 1MiB minimum"},
		{"empty data dir", []string{"--data-dir", ""}, nil, "data-dir: must not be empty"},
		{"bad port", []string{"--http-addr", ":99999"}, nil, `http-addr: ":99999" has an invalid port`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadServer(tc.args, env(tc.env))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want a *UsageError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	devnull, _ := os.Open(os.DevNull)
	old := os.Stderr
	os.Stderr = devnull
	defer func() { os.Stderr = old; devnull.Close() }()
	_, err := LoadServer([]string{"-h"}, env(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"0", 0, true}, {"25000000", 25_000_000, true}, {"25MB", 25_000_000, true},
		{"64MiB", 64 << 20, true}, {"1gib", 1 << 30, true}, {"512 KB", 512_000, true},
		{"10B", 10, true}, {"4k", 4096, true}, {"", 0, false}, {"-1", 0, false},
		{"MB", 0, false}, {"1.5MB", 0, false}, {"99999999999GiB", 0, false},
	}
	for _, c := range cases {
		got, err := ParseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"25MB", "64MiB", "0", "1GiB", "-3", "9223372036854775807", "kb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
