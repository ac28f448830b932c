package config

import (
	"strings"
	"testing"
)

// TestPlatformWarnings: on a 32-bit platform every memory setting that
// cannot be reached in about 3 GiB of address space, alone or together,
// and every "no limit" that the address space turns into a crash, is
// named with what to do; the defaults and 64-bit platforms get none.
func TestPlatformWarnings(t *testing.T) {
	cases := []struct {
		name string
		bits int
		edit func(*ServerConfig)
		want []string // one substring per expected warning, in order
	}{
		{"defaults on 32 bits", 32, func(*ServerConfig) {}, nil},
		{"defaults on 64 bits", 64, func(*ServerConfig) {}, nil},
		{"huge head on 64 bits", 64, func(c *ServerConfig) { c.MemoryLimit, c.HeadMaxBytes = 32<<30, 8<<30 }, nil},
		{"huge memory limit and head", 32, func(c *ServerConfig) { c.MemoryLimit, c.HeadMaxBytes = 10<<30, 4<<30 },
			[]string{"memory-limit: 10GiB is more than a 32-bit process can address (about 3GiB)",
				"head-max-bytes: 4GiB is more than a 32-bit process can address (about 3GiB)",
				"head-max-bytes + max-query-memory-total + max-write-memory: 4416MiB together"}},
		{"series limits", 32, func(c *ServerConfig) { c.MaxSeriesPerDatabase, c.MaxSeriesTotal = 4_000_000, -1 },
			[]string{"max-series-per-database: 4000000 series need about 4000000KiB of index memory (1024 bytes a series)",
				"max-series-total: -1 means no limit on series"}},
		{"series limits within reach", 32, func(c *ServerConfig) { c.MaxSeriesPerDatabase, c.MaxSeriesTotal = 2_000_000, 2_000_000 }, nil},
		{"one query above the address space", 32, func(c *ServerConfig) {
			c.MaxQueryMemory = 3<<30 + 1
			c.MaxQueryMemoryTotal = 0
		},
			[]string{"max-query-memory: 3221225473 bytes is more than", "max-query-memory-total: 0 means no limit"}},
		{"no write limit", 32, func(c *ServerConfig) { c.MaxWriteMemory = 0 },
			[]string{"max-write-memory: 0 means no limit on the memory of writes in progress"}},
		{"each fits, the sum does not", 32, func(c *ServerConfig) {
			c.MemoryLimit, c.HeadMaxBytes, c.MaxQueryMemoryTotal, c.MaxWriteMemory = 3<<30, 1<<30, 2<<30, 512<<20
		}, []string{"head-max-bytes + max-query-memory-total + max-write-memory: 3584MiB together is more than"}},
		{"the sum at exactly the address space", 32, func(c *ServerConfig) {
			c.MemoryLimit, c.HeadMaxBytes, c.MaxQueryMemoryTotal, c.MaxWriteMemory = 3<<30, 1<<30, 1<<30, 1<<30
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := NewServerConfig()
			tc.edit(&c)
			// As the server does: derived settings resolved first, for a
			// 1 GiB board.
			if _, _, err := c.ApplyMemoryLimit(Machine{MemTotal: 1 << 30}); err != nil {
				t.Fatal(err)
			}
			got := c.PlatformWarnings(tc.bits)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d warnings, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
				}
				if !strings.Contains(got[i], "; ") {
					t.Errorf("warning %d = %q says no remedy", i, got[i])
				}
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   Size
		want string
	}{{3 << 30, "3GiB"}, {1536 << 20, "1536MiB"}, {3<<30 + 1, "3221225473 bytes"}, {64 << 10, "64KiB"}, {1000, "1000 bytes"}, {0, "0 bytes"}} {
		if got := formatSize(tc.in); got != tc.want {
			t.Errorf("formatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPlatformWarningsDefaultOnLargeBoard: a Pi 4/5 with 8 GB on a
// 32-bit (LPAE) kernel sees about 7.8 GiB, so the default memory-limit
// (40% of RAM) is above what its process can address: the operator is
// told to set one, while a 64-bit build on the same board is not.
func TestPlatformWarningsDefaultOnLargeBoard(t *testing.T) {
	for _, bits := range []int{32, 64} {
		c := NewServerConfig()
		if _, _, err := c.ApplyMemoryLimit(Machine{MemTotal: 7800 << 20}); err != nil {
			t.Fatal(err)
		}
		got := c.PlatformWarnings(bits)
		if want := bits == 32; (len(got) == 1 && strings.HasPrefix(got[0], "memory-limit: ")) != want || (!want && len(got) != 0) {
			t.Errorf("%d bits, default memory-limit %d: warnings %q", bits, c.MemoryLimit, got)
		}
	}
}
