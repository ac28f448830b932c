package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The memory limit and what is derived from it. One number, memory-limit,
// bounds the server; every memory setting the user leaves unset is a
// share of it (Budgets), and the Go runtime's soft limit is set to it so
// the collector works harder instead of the heap growing past it.
const (
	// MinMemoryLimit is the smallest memory-limit accepted: below it the
	// shares are too small for the head to hold one flush's worth of a
	// few hundred series plus one query and one write.
	MinMemoryLimit Size = 64 << 20
	// defaultMemoryShare of the machine's RAM is the default limit. A
	// Raspberry Pi 3 shows about 900 MiB: 40% (about 360 MiB) leaves the
	// rest to the OS, sshd, the local agent and, above all, the page
	// cache that block files are read through (herd's real query cache).
	defaultMemoryShare = 0.40
	// cgroupMemoryShare of a cgroup's memory.max (a container or systemd
	// MemoryMax=) is the most the default may take: that allowance is
	// herd's own, but the page cache, stacks and binary are charged to it
	// too, and exceeding it is an OOM kill, not a slowdown.
	cgroupMemoryShare = 0.75
	// minDefaultMemoryLimit and maxDefaultMemoryLimit clamp the default:
	// 128 MiB is plenty for a few hosts and stays workable on 256 MB
	// boards; past 8 GiB the head and caches gain nothing, so a large
	// machine's RAM stays with its other work unless asked for.
	minDefaultMemoryLimit Size = 128 << 20
	maxDefaultMemoryLimit Size = 8 << 30
	// SeriesMemoryBytes is what the series limit counts per series. The
	// index and the block tables keep 250-510 bytes per series for
	// Telegraf's keys (about 120 bytes; BenchmarkSeriesMemory in
	// internal/storage: 253 B at 100k series, 508 B at 10k); 1 KiB
	// leaves room for longer keys, unique tags and the collector's
	// headroom.
	SeriesMemoryBytes = 1 << 10
)

// Budgets are the memory settings derived from one memory limit. Each
// share is a worst case that does not coincide with the others for
// long: the head is bounded by HeadMaxBytes but, with Go's per-object
// overhead and a frozen head beside a new one during a flush, may reach
// about 2.8 times it (23% of the limit); series 20%, queries 20%,
// writes 10%, the entry cache at most 1.6%; the remaining quarter is for the
// runtime, goroutine stacks, connection buffers, flushes and
// compactions.
type Budgets struct {
	MemoryLimit int64
	// HeadMaxBytes: the head is flushed when it holds this much. At most
	// 32 MiB: a crash replays up to this much WAL.
	HeadMaxBytes int64
	// EntryCacheBytes: decoded block index entries kept for queries. At
	// most 4 MiB (today's fixed size): a dashboard's entries fit, and the
	// cache's own accounting undercounts: in tests/e2e's GROUP BY * over
	// 100k series, 16 MiB of cache cost 85 MiB more peak RSS than 4 MiB.
	EntryCacheBytes int64
	// WriteMemory: write bodies in flight, all requests together (at
	// most 64 MiB).
	WriteMemory int64
	// QueryMemory: one query; QueryMemoryTotal: all running queries (at
	// most 64 and 256 MiB).
	QueryMemory, QueryMemoryTotal int64
	// MaxSeriesTotal: series across all databases.
	MaxSeriesTotal int
}

// The derived shares stop growing at these sizes: a larger head only
// lengthens the WAL replay after a crash (32 MiB replays in a few
// seconds) and flushes already write large sequential blocks; a write or
// query needing more than these is one a user should be told about (they
// can raise the setting), not one a large machine should absorb silently.
const (
	maxDerivedHead             = 32 << 20
	maxDerivedWriteMemory      = 64 << 20
	maxDerivedQueryMemory      = 64 << 20
	maxDerivedQueryMemoryTotal = 256 << 20
)

// DeriveBudgets returns the shares of limit (see Budgets).
func DeriveBudgets(limit Size) Budgets {
	l := int64(limit)
	query := l / 5
	return Budgets{
		MemoryLimit:      l,
		HeadMaxBytes:     clamp(l/12, 4<<20, maxDerivedHead),
		EntryCacheBytes:  clamp(l/64, 1<<20, 4<<20),
		WriteMemory:      min(l/10, maxDerivedWriteMemory),
		QueryMemory:      min(query/2, maxDerivedQueryMemory),
		QueryMemoryTotal: min(query, maxDerivedQueryMemoryTotal),
		MaxSeriesTotal:   int(min(l/5/SeriesMemoryBytes, 1<<31-1)),
	}
}

func clamp(v, lo, hi int64) int64 { return min(max(v, lo), hi) }

// Machine is what bounds this process's memory from outside; 0 means
// unknown or unset.
type Machine struct {
	// MemTotal is /proc/meminfo's MemTotal, in bytes.
	MemTotal int64
	// CgroupMax is the cgroup v2 memory.max of this process, in bytes.
	CgroupMax int64
	// GoMemLimit is the runtime's soft limit when GOMEMLIMIT is set.
	GoMemLimit int64
}

// DefaultMemoryLimit is the memory-limit used when none is configured:
// an explicit GOMEMLIMIT, else 40% of the RAM clamped to [128 MiB,
// 8 GiB], lowered to 75% of a cgroup limit, and never below
// MinMemoryLimit. source says which rule decided, for the start-up log.
func DefaultMemoryLimit(m Machine) (limit Size, source string) {
	if m.GoMemLimit > 0 {
		return Size(max(m.GoMemLimit, int64(MinMemoryLimit))), "GOMEMLIMIT"
	}
	limit, source = minDefaultMemoryLimit, "default (RAM unknown)"
	if m.MemTotal > 0 {
		limit = Size(clamp(int64(float64(m.MemTotal)*defaultMemoryShare), int64(minDefaultMemoryLimit), int64(maxDefaultMemoryLimit)))
		source = "40% of RAM"
	}
	if m.CgroupMax > 0 {
		if c := Size(float64(m.CgroupMax) * cgroupMemoryShare); c < limit {
			limit, source = c, "75% of cgroup memory.max"
		}
	}
	return max(limit, MinMemoryLimit), source
}

// ApplyMemoryLimit resolves the memory settings: memory-limit when unset
// (DefaultMemoryLimit), then every derived setting left at 0 (unset).
// It returns the effective budgets and where the limit came from, and an
// error when explicit settings cannot fit in the limit.
func (c *ServerConfig) ApplyMemoryLimit(m Machine) (Budgets, string, error) {
	source := "memory-limit"
	if c.MemoryLimit == 0 {
		c.MemoryLimit, source = DefaultMemoryLimit(m)
	}
	b := DeriveBudgets(c.MemoryLimit)
	if c.HeadMaxBytes == 0 {
		c.HeadMaxBytes = Size(b.HeadMaxBytes)
	}
	if 2*c.HeadMaxBytes > c.MemoryLimit {
		return b, source, fmt.Errorf("head-max-bytes: %d is more than half of memory-limit %d (a flush holds two heads): lower it or raise memory-limit",
			c.HeadMaxBytes, c.MemoryLimit)
	}
	b.HeadMaxBytes = int64(c.HeadMaxBytes)
	if c.MaxSeriesTotal == 0 {
		c.MaxSeriesTotal = b.MaxSeriesTotal
	}
	b.MaxSeriesTotal = max(c.MaxSeriesTotal, 0) // -1: no limit
	if c.MaxWriteMemory == Derived {
		c.MaxWriteMemory = Size(b.WriteMemory)
	}
	b.WriteMemory = int64(c.MaxWriteMemory)
	if c.MaxQueryMemory == Derived {
		c.MaxQueryMemory = Size(b.QueryMemory)
	}
	if c.MaxQueryMemoryTotal == Derived {
		// An explicit per-query limit above the derived total raises the
		// total: the user asked for one query of that size.
		c.MaxQueryMemoryTotal = Size(max(b.QueryMemoryTotal, int64(c.MaxQueryMemory)))
	}
	if c.MaxQueryMemoryTotal != 0 && c.MaxQueryMemory > c.MaxQueryMemoryTotal {
		return b, source, fmt.Errorf("max-query-memory: %d is more than max-query-memory-total %d: lower it or raise the total",
			c.MaxQueryMemory, c.MaxQueryMemoryTotal)
	}
	b.QueryMemory, b.QueryMemoryTotal = int64(c.MaxQueryMemory), int64(c.MaxQueryMemoryTotal)
	return b, source, nil
}

// ReadMachine reads MemTotal from /proc/meminfo and this process's
// cgroup v2 memory.max; what cannot be read is 0.
func ReadMachine() Machine {
	var m Machine
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.MemTotal, _ = ParseMemTotal(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		// cgroup v2 (Raspberry Pi OS, current distributions) names its
		// limit memory.max; v1 (older Docker hosts) memory.limit_in_bytes.
		if path, ok := cgroupPath(string(b), "0::"); ok {
			m.CgroupMax = lowestCgroupLimit("/sys/fs/cgroup", path, "memory.max")
		} else if path, ok := cgroupPath(string(b), "memory:"); ok {
			m.CgroupMax = lowestCgroupLimit("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes")
		}
	}
	return m
}

// ParseMemTotal returns the MemTotal line of /proc/meminfo in bytes.
func ParseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("meminfo: MemTotal %q is not \"<n> kB\"", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb <= 0 || kb > 1<<40 {
			return 0, fmt.Errorf("meminfo: MemTotal %q is not a size", f[0])
		}
		return kb << 10, nil
	}
	return 0, errors.New("meminfo: no MemTotal line")
}

// ParseCgroupMax reads a cgroup v2 memory.max or v1
// memory.limit_in_bytes: bytes, or no limit, returned as 0 ("max" in v2,
// a page-rounded 2^63-1 in v1).
func ParseCgroupMax(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("memory.max: %q is neither bytes nor \"max\"", s)
	}
	if n >= 1<<62 {
		return 0, nil
	}
	return n, nil
}

// cgroupPath finds the path of the hierarchy whose line in
// /proc/self/cgroup has the given prefix after its number ("0::" is the
// unified v2 hierarchy, "memory:" v1's memory controller).
func cgroupPath(s, prefix string) (string, bool) {
	for line := range strings.SplitSeq(s, "\n") {
		_, rest, _ := strings.Cut(line, ":")
		if prefix != "0::" {
			line = rest
		}
		if p, ok := strings.CutPrefix(line, prefix); ok && strings.HasPrefix(p, "/") && !strings.Contains(p, "..") {
			return strings.TrimSuffix(p, "/"), true
		}
	}
	return "", false
}

// lowestCgroupLimit returns the lowest limit in file of the cgroup at
// path and its ancestors (a parent's limit applies to its children), 0
// when none is set.
func lowestCgroupLimit(root, path, file string) int64 {
	var lowest int64
	for {
		if b, err := os.ReadFile(root + path + "/" + file); err == nil {
			if n, _ := ParseCgroupMax(string(b)); n > 0 && (lowest == 0 || n < lowest) {
				lowest = n
			}
		}
		if path == "" {
			return lowest
		}
		path = path[:strings.LastIndexByte(path, '/')]
	}
}
