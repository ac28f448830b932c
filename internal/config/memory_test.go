package config

import (
	"os"
	"strings"
	"testing"
)

const (
	mib = 1 << 20
	gib = 1 << 30
	// fortyPercentOfGiB is the default limit of a machine with 1 GiB.
	fortyPercentOfGiB Size = 429496729
)

func TestDeriveBudgets(t *testing.T) {
	cases := []struct {
		limit Size
		want  Budgets
	}{
		// A Raspberry Pi 3's default: 40% of about 906 MiB.
		{362 * mib, Budgets{MemoryLimit: 362 * mib, HeadMaxBytes: 362 * mib / 12, EntryCacheBytes: 4 * mib,
			WriteMemory: 362 * mib / 10, QueryMemory: 362 * mib / 10, QueryMemoryTotal: 362 * mib / 5, MaxSeriesTotal: 74137}},
		// The minimum: the head and cache floors apply.
		{64 * mib, Budgets{MemoryLimit: 64 * mib, HeadMaxBytes: 64 * mib / 12, EntryCacheBytes: 1 * mib,
			WriteMemory: 64 * mib / 10, QueryMemory: 64 * mib / 10, QueryMemoryTotal: 64 * mib / 5, MaxSeriesTotal: 13107}},
		{256 * mib, Budgets{MemoryLimit: 256 * mib, HeadMaxBytes: 256 * mib / 12, EntryCacheBytes: 4 * mib,
			WriteMemory: 256 * mib / 10, QueryMemory: 256 * mib / 10, QueryMemoryTotal: 256 * mib / 5, MaxSeriesTotal: 52428}},
		// A big explicit limit: the head and cache ceilings apply.
		// A large machine: the shares stop at their caps, the series
		// budget does not.
		{64 * gib, Budgets{MemoryLimit: 64 * gib, HeadMaxBytes: 32 * mib, EntryCacheBytes: 4 * mib,
			WriteMemory: 64 * mib, QueryMemory: 64 * mib, QueryMemoryTotal: 256 * mib, MaxSeriesTotal: 13421772}},
	}
	for _, tc := range cases {
		got := DeriveBudgets(tc.limit)
		if got != tc.want {
			t.Errorf("DeriveBudgets(%d MiB)\n got %+v\nwant %+v", tc.limit/mib, got, tc.want)
		}
		// The shares and the head's worst case (2.8x) leave a quarter of
		// the limit to the runtime, as Budgets documents.
		if tc.limit <= 8*gib {
			worst := float64(got.HeadMaxBytes)*2.8 + float64(got.EntryCacheBytes) + float64(got.WriteMemory) +
				float64(got.QueryMemoryTotal) + float64(got.MaxSeriesTotal)*SeriesMemoryBytes
			if worst > 0.78*float64(tc.limit) {
				t.Errorf("DeriveBudgets(%d MiB): worst case %.0f MiB is more than 78%% of the limit", tc.limit/mib, worst/mib)
			}
		}
	}
}

func TestDefaultMemoryLimit(t *testing.T) {
	cases := []struct {
		name   string
		m      Machine
		want   Size
		source string
	}{
		{"pi 3", Machine{MemTotal: 906 * mib}, 380003942 /* 40% of 906 MiB */, "40% of RAM"},
		{"256 MB board", Machine{MemTotal: 240 * mib}, 128 * mib, "40% of RAM"},
		{"64 GB server", Machine{MemTotal: 64 * gib}, 8 * gib, "40% of RAM"},
		{"RAM unknown", Machine{}, 128 * mib, "default (RAM unknown)"},
		{"cgroup lower", Machine{MemTotal: 16 * gib, CgroupMax: 512 * mib}, 384 * mib, "75% of cgroup memory.max"},
		{"cgroup higher", Machine{MemTotal: 1 * gib, CgroupMax: 4 * gib}, fortyPercentOfGiB, "40% of RAM"},
		{"tiny cgroup", Machine{MemTotal: 16 * gib, CgroupMax: 50 * mib}, MinMemoryLimit, "75% of cgroup memory.max"},
		{"GOMEMLIMIT", Machine{MemTotal: 16 * gib, GoMemLimit: 300 * mib}, 300 * mib, "GOMEMLIMIT"},
		{"tiny GOMEMLIMIT", Machine{GoMemLimit: 10 * mib}, MinMemoryLimit, "GOMEMLIMIT"},
	}
	for _, tc := range cases {
		got, source := DefaultMemoryLimit(tc.m)
		if got != tc.want || source != tc.source {
			t.Errorf("%s: DefaultMemoryLimit = %d (%s), want %d (%s)", tc.name, got, source, tc.want, tc.source)
		}
	}
}

// expectedError checks err against a table case's wantErr: with one
// wanted, err must contain it and the case is done (true); with none,
// err must be nil.
func expectedError(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

func TestApplyMemoryLimit(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		m       Machine
		head    Size
		series  int
		limit   Size
		source  string
		wantErr string
	}{
		{"all derived", nil, Machine{MemTotal: 1 * gib}, 32 * mib, int(fortyPercentOfGiB / 5 / SeriesMemoryBytes), // 1/12 is 34 MiB: capped
			fortyPercentOfGiB, "40% of RAM", ""},
		{"explicit limit", []string{"--memory-limit", "256MiB"}, Machine{MemTotal: 1 * gib}, 256 * mib / 12, 52428, 256 * mib, "memory-limit", ""},
		{"explicit head and series kept", []string{"--memory-limit", "256MiB", "--head-max-bytes", "8MiB", "--max-series-total", "1000"},
			Machine{}, 8 * mib, 1000, 256 * mib, "memory-limit", ""},
		{"no total limit", []string{"--memory-limit", "256MiB", "--max-series-total", "-1"}, Machine{}, 256 * mib / 12, 0, 256 * mib, "memory-limit", ""},
		{"head too big", []string{"--memory-limit", "64MiB", "--head-max-bytes", "40MiB"}, Machine{}, 0, 0, 0, "",
			"head-max-bytes: 41943040 is more than half of memory-limit 67108864"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadServer(tc.args, env(nil))
			if err != nil {
				t.Fatal(err)
			}
			b, source, err := c.ApplyMemoryLimit(tc.m)
			if expectedError(t, err, tc.wantErr) {
				return
			}
			if c.MemoryLimit != tc.limit || source != tc.source || c.HeadMaxBytes != tc.head || b.HeadMaxBytes != int64(tc.head) ||
				b.MaxSeriesTotal != tc.series || b.MemoryLimit != int64(tc.limit) {
				t.Fatalf("limit %d (%s), head %d/%d, series %d; want %d (%s), head %d, series %d",
					c.MemoryLimit, source, c.HeadMaxBytes, b.HeadMaxBytes, b.MaxSeriesTotal, tc.limit, tc.source, tc.head, tc.series)
			}
		})
	}
}

func TestMemorySettingsParseAndValidate(t *testing.T) {
	ok := []struct {
		name string
		args []string
		env  map[string]string
		want func(c ServerConfig) bool
	}{
		{"defaults", nil, nil, func(c ServerConfig) bool {
			return c.MemoryLimit == 0 && c.HeadMaxBytes == 0 && c.MaxSeriesPerDatabase == 1_000_000 && c.MaxSeriesTotal == 0
		}},
		{"flags", []string{"--memory-limit", "256MiB", "--max-series-per-database", "0", "--max-series-total", "50000"}, nil, func(c ServerConfig) bool {
			return c.MemoryLimit == 256*mib && c.MaxSeriesPerDatabase == 0 && c.MaxSeriesTotal == 50000
		}},
		{"env", nil, map[string]string{"HERD_MEMORY_LIMIT": "1GiB", "HERD_MAX_SERIES_TOTAL": "-1", "HERD_MAX_SERIES_PER_DATABASE": "10"}, func(c ServerConfig) bool {
			return c.MemoryLimit == gib && c.MaxSeriesTotal == -1 && c.MaxSeriesPerDatabase == 10
		}},
		{"minimum", []string{"--memory-limit", "64MiB"}, nil, func(c ServerConfig) bool { return c.MemoryLimit == MinMemoryLimit }},
	}
	for _, tc := range ok {
		c, err := LoadServer(tc.args, env(tc.env))
		if err != nil || !tc.want(c) {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
	}
	bad := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--memory-limit", "32MiB"}, nil, "memory-limit: 33554432 is below the 64MiB minimum"},
		{nil, map[string]string{"HERD_MEMORY_LIMIT": "lots"}, `environment HERD_MEMORY_LIMIT="lots": invalid size "lots"`},
		{[]string{"--max-series-per-database", "-5"}, nil, "max-series-per-database: must not be negative, got -5 (0: no limit)"},
		{[]string{"--max-series-total", "-2"}, nil, "max-series-total: -2 is not a limit (0: derived from memory-limit, -1: no limit)"},
	}
	for _, tc := range bad {
		_, err := LoadServer(tc.args, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err = %v, want %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"MemTotal:         927796 kB\nMemFree:  1 kB\n", 927796 << 10, true},
		{"MemFree: 5 kB\nMemTotal: 1024 kB\n", 1 << 20, true},
		{"MemTotal: 1024 MB\n", 0, false},
		{"MemTotal: -3 kB\n", 0, false},
		{"MemTotal: 99999999999999999 kB\n", 0, false},
		{"MemFree: 5 kB\n", 0, false},
		{"", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseMemTotal(strings.NewReader(tc.in))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMemTotal(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseCgroupMax(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"max\n", 0, true}, {"536870912\n", 512 << 20, true}, {"9223372036854771712\n", 0, true}, {"0", 0, false}, {"-1", 0, false}, {"lots", 0, false}, {"", 0, false},
	}
	for _, tc := range cases {
		got, err := ParseCgroupMax(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseCgroupMax(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	paths := []struct {
		in, prefix, want string
		ok               bool
	}{
		{"0::/system.slice/herd.service\n", "0::", "/system.slice/herd.service", true},
		{"12:memory:/x\n0::/\n", "0::", "", true},
		{"12:memory:/x\n", "0::", "", false},
		{"0::/a/../../etc\n", "0::", "", false},
		{"5:cpu:/\n4:memory:/docker/abc\n0::/\n", "memory:", "/docker/abc", true},
		{"4:memory:/docker/../x\n", "memory:", "", false},
	}
	for _, tc := range paths {
		got, ok := cgroupPath(tc.in, tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("cgroupPath(%q, %q) = %q, %v; want %q, %v", tc.in, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLowestCgroupLimit: a parent's lower limit wins over its child's.
func TestLowestCgroupLimit(t *testing.T) {
	root := t.TempDir()
	for path, limit := range map[string]string{"": "max", "/a": "1073741824", "/a/b": "2147483648", "/a/b/c": "max"} {
		if err := os.MkdirAll(root+path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+path+"/memory.max", []byte(limit+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]int64{"/a/b/c": 1 << 30, "/a": 1 << 30, "": 0, "/missing/x": 0} {
		if got := lowestCgroupLimit(root, path, "memory.max"); got != want {
			t.Errorf("lowestCgroupLimit(%q) = %d, want %d", path, got, want)
		}
	}
}

// TestReadMachine reads this machine: Linux always has MemTotal.
func TestReadMachine(t *testing.T) {
	m := ReadMachine()
	if m.MemTotal < 16<<20 {
		t.Fatalf("MemTotal = %d, want this machine's RAM", m.MemTotal)
	}
	if m.CgroupMax < 0 || m.GoMemLimit != 0 {
		t.Fatalf("ReadMachine() = %+v", m)
	}
}

func FuzzParseMemTotal(f *testing.F) {
	for _, s := range []string{"MemTotal: 927796 kB\n", "MemTotal:\n", "MemTotal: 1 kB 2\n", "x\nMemTotal: 9223372036854775807 kB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemTotal(strings.NewReader(s))
		if (err == nil) != (n > 0) {
			t.Fatalf("ParseMemTotal(%q) = %d, %v", s, n, err)
		}
		if _, err := ParseCgroupMax(s); err == nil {
			if n, _ := ParseCgroupMax(s); n < 0 {
				t.Fatalf("ParseCgroupMax(%q) = %d", s, n)
			}
		}
	})
}

// TestApplyMemoryLimitWriteAndQueryMemory: the write and query budgets
// follow memory-limit unless set, 0 still means no limit, and an explicit
// per-query limit above the derived total raises the total.
func TestApplyMemoryLimitWriteAndQueryMemory(t *testing.T) {
	cases := []struct {
		name                string
		args                []string
		write, query, total Size
		wantErr             string
	}{
		{"derived", []string{"--memory-limit", "256MiB"}, 256 * mib / 10, 256 * mib / 10, 256 * mib / 5, ""},
		{"derived, capped", []string{"--memory-limit", "8GiB"}, 64 * mib, 64 * mib, 256 * mib, ""},
		{"explicit", []string{"--memory-limit", "256MiB", "--max-write-memory", "8MiB", "--max-query-memory", "4MiB", "--max-query-memory-total", "16MiB"},
			8 * mib, 4 * mib, 16 * mib, ""},
		{"no limits", []string{"--memory-limit", "256MiB", "--max-write-memory", "0", "--max-query-memory", "0", "--max-query-memory-total", "0"}, 0, 0, 0, ""},
		{"query above derived total", []string{"--memory-limit", "256MiB", "--max-query-memory", "100MiB"}, 256 * mib / 10, 100 * mib, 100 * mib, ""},
		{"unbounded query under a derived total", []string{"--memory-limit", "256MiB", "--max-query-memory", "0"}, 256 * mib / 10, 0, 256 * mib / 5, ""},
		{"query above an explicit total", []string{"--memory-limit", "256MiB", "--max-query-memory", "100MiB", "--max-query-memory-total", "50MiB"}, 0, 0, 0,
			"max-query-memory: 104857600 is more than max-query-memory-total 52428800"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadServer(tc.args, env(nil))
			var b Budgets
			if err == nil {
				b, _, err = c.ApplyMemoryLimit(Machine{})
			}
			if expectedError(t, err, tc.wantErr) {
				return
			}
			if c.MaxWriteMemory != tc.write || c.MaxQueryMemory != tc.query || c.MaxQueryMemoryTotal != tc.total {
				t.Fatalf("write %d, query %d, total %d; want %d, %d, %d", c.MaxWriteMemory, c.MaxQueryMemory, c.MaxQueryMemoryTotal, tc.write, tc.query, tc.total)
			}
			if b.WriteMemory != int64(tc.write) || b.QueryMemory != int64(tc.query) || b.QueryMemoryTotal != int64(tc.total) {
				t.Fatalf("budgets %+v do not report the settings in effect", b)
			}
		})
	}
}
