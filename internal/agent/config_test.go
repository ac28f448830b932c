package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/herdmon/herd/internal/config"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFile(t *testing.T) {
	c := DefaultConfig()
	if err := c.LoadFile("testdata/good.toml"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.Database != "metrics" || c.Interval.Duration != 30*time.Second || c.BufferSize != 8<<20 ||
		c.Tags["rack"] != "shelf-2" || c.Hostname != "pi-01" || len(c.Inputs) != 3 {
		t.Errorf("loaded %+v", c)
	}
}

func TestLoadFileUnknownKey(t *testing.T) {
	err := DefaultConfig().LoadFile("testdata/unknown-key.bad.toml")
	if err == nil || err.Error() != `testdata/unknown-key.bad.toml:7: unknown key "disk.ignore_fss"` {
		t.Fatalf("got %v", err)
	}
}

func TestLoadFileSyntaxError(t *testing.T) {
	path := t.TempDir() + "/x.toml"
	writeFile(t, path, "urls = [\"a\"]\ninterval = \n")
	err := DefaultConfig().LoadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2:") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadEnv(t *testing.T) {
	env := map[string]string{
		"HERD_AGENT_URLS":        "http://a:8086, http://b:8086",
		"HERD_AGENT_INTERVAL":    "5s",
		"HERD_AGENT_TAGS":        "rack=1,room=attic",
		"HERD_AGENT_BUFFER_SIZE": "1MiB",
	}
	c := DefaultConfig()
	if err := c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if len(c.URLs) != 2 || c.URLs[1] != "http://b:8086" || c.Interval.Duration != 5*time.Second || c.Tags["room"] != "attic" || c.BufferSize != 1<<20 {
		t.Errorf("got %+v", c)
	}
	bad := func(k, v string) {
		t.Helper()
		err := DefaultConfig().LoadEnv(func(key string) (string, bool) { return v, key == k })
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: got %v, want an error naming the variable", k, v, err)
		}
	}
	bad("HERD_AGENT_INTERVAL", "often")
	bad("HERD_AGENT_BUFFER_SIZE", "lots")
	bad("HERD_AGENT_TAGS", "novalue")
}

func TestValidate(t *testing.T) {
	f := func(mod func(c *Config), want string) {
		t.Helper()
		c := DefaultConfig()
		mod(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	f(func(c *Config) { c.URLs = nil }, "urls")
	f(func(c *Config) { c.URLs = []string{"ftp://x"} }, "urls")
	f(func(c *Config) { c.Interval.Duration = 0 }, "interval")
	f(func(c *Config) { c.Jitter.Duration = time.Minute }, "jitter")
	f(func(c *Config) { c.BufferSize = 10 }, "buffer_size")
	f(func(c *Config) { c.Inputs = []string{"gpu"} }, "unknown input")
}

func TestByteSize(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		var s ByteSize
		if err := s.UnmarshalText([]byte(in)); err != nil || int64(s) != want {
			t.Errorf("%q = %d, %v; want %d", in, s, err, want)
		}
	}
	f("65536", 65536)
	f("64MiB", 64<<20)
	f("512KiB", 512<<10)
	f("1GB", 1<<30)
	f("2 mib", 2<<20)
}

// FuzzConfigText: the size parser and the unknown-key line finder never
// panic on any input.
func FuzzConfigText(f *testing.F) {
	f.Add("64MiB", "[disk]\nignore_fss = 1\n")
	f.Add("99999999999999999999GiB", "")
	f.Add(" 12 kb ", "[[x]]\n a = [")
	f.Fuzz(func(t *testing.T, size, src string) {
		var s ByteSize
		if err := s.UnmarshalText([]byte(size)); err == nil && s < 0 {
			t.Fatalf("%q parsed to negative %d", size, s)
		}
		config.KeyLine(src, toml.Key{"disk", "ignore_fss"})
		config.KeyLine(src, toml.Key{"x"})
		config.KeyLine(src, nil)
	})
}
