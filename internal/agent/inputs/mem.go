package inputs

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/herdmon/herd/internal/models"
)

// meminfo holds /proc/meminfo values in bytes (HugePages_* are counts),
// keyed by the kernel's names.
type meminfo map[string]uint64

// parseMeminfo reads "Key:   123 kB" lines; kB values become bytes.
func parseMeminfo(data []byte, m meminfo) {
	var words [][]byte
	eachLine(data, func(line []byte) {
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return
		}
		words = fieldsOf(line[i+1:], words)
		if len(words) == 0 {
			return
		}
		v, ok := parseU(words[0])
		if !ok {
			return
		}
		if len(words) > 1 && string(words[1]) == "kB" {
			v *= 1024
		}
		m[string(line[:i])] = v
	})
}

func readMeminfo(env *Env) (meminfo, error) {
	data, err := os.ReadFile(env.proc("meminfo"))
	if err != nil {
		return nil, fmt.Errorf("read memory info: %w", err)
	}
	m := make(meminfo, 64)
	parseMeminfo(data, m)
	if m["MemTotal"] == 0 {
		return nil, fmt.Errorf("read memory info: no MemTotal in %s", env.proc("meminfo"))
	}
	return m, nil
}

// Mem reports Telegraf's mem measurement with gopsutil's Linux semantics:
// cached includes SReclaimable, used = total - available.
type Mem struct{ env *Env }

// Name implements Input.
func (m *Mem) Name() string { return "mem" }

// Gather implements Input.
func (m *Mem) Gather(ctx context.Context, acc *Accumulator) error {
	mi, err := readMeminfo(m.env)
	if err != nil {
		return err
	}
	total := mi["MemTotal"]
	cached := mi["Cached"] + mi["SReclaimable"]
	avail, ok := mi["MemAvailable"]
	if !ok {
		// Kernels before 3.14: gopsutil's simple estimate.
		avail = cached + mi["MemFree"]
	}
	used := total - min(avail, total)
	fields := []models.Field{
		intField("total", total),
		intField("available", avail),
		intField("used", used),
		floatField("used_percent", 100*float64(used)/float64(total)),
		floatField("available_percent", 100*float64(avail)/float64(total)),
		intField("active", mi["Active"]),
		intField("buffered", mi["Buffers"]),
		intField("cached", cached),
		intField("commit_limit", mi["CommitLimit"]),
		intField("committed_as", mi["Committed_AS"]),
		intField("dirty", mi["Dirty"]),
		intField("free", mi["MemFree"]),
		intField("high_free", mi["HighFree"]),
		intField("high_total", mi["HighTotal"]),
		intField("huge_pages_free", mi["HugePages_Free"]),
		intField("huge_page_size", mi["Hugepagesize"]),
		intField("huge_pages_total", mi["HugePages_Total"]),
		intField("inactive", mi["Inactive"]),
		intField("low_free", mi["LowFree"]),
		intField("low_total", mi["LowTotal"]),
		intField("mapped", mi["Mapped"]),
		intField("page_tables", mi["PageTables"]),
		intField("shared", mi["Shmem"]),
		intField("slab", mi["Slab"]),
		intField("sreclaimable", mi["SReclaimable"]),
		intField("sunreclaim", mi["SUnreclaim"]),
		intField("swap_cached", mi["SwapCached"]),
		intField("swap_free", mi["SwapFree"]),
		intField("swap_total", mi["SwapTotal"]),
		intField("vmalloc_chunk", mi["VmallocChunk"]),
		intField("vmalloc_total", mi["VmallocTotal"]),
		intField("vmalloc_used", mi["VmallocUsed"]),
		intField("write_back_tmp", mi["WritebackTmp"]),
		intField("write_back", mi["Writeback"]),
	}
	acc.Add("mem", nil, fields)
	return nil
}

// Swap reports Telegraf's swap measurement: sizes from /proc/meminfo (the
// same numbers sysinfo(2) gives gopsutil), in and out from the pswpin and
// pswpout page counters of /proc/vmstat, in bytes.
type Swap struct{ env *Env }

// Name implements Input.
func (s *Swap) Name() string { return "swap" }

// Gather implements Input.
func (s *Swap) Gather(ctx context.Context, acc *Accumulator) error {
	mi, err := readMeminfo(s.env)
	if err != nil {
		return err
	}
	total, free := mi["SwapTotal"], mi["SwapFree"]
	used := total - min(free, total)
	pct := 0.0
	if total != 0 {
		pct = 100 * float64(used) / float64(total)
	}
	vm, err := os.ReadFile(s.env.proc("vmstat"))
	if err != nil {
		return fmt.Errorf("read swap counters: %w", err)
	}
	in, out := parseVmstatSwap(vm)
	page := uint64(s.env.PageSize)
	if page == 0 {
		page = 4096
	}
	acc.Add("swap", nil, []models.Field{
		intField("total", total),
		intField("used", used),
		intField("free", free),
		floatField("used_percent", pct),
		intField("in", in*page),
		intField("out", out*page),
	})
	return nil
}

func parseVmstatSwap(data []byte) (in, out uint64) {
	var words [][]byte
	eachLine(data, func(line []byte) {
		words = fieldsOf(line, words)
		if len(words) != 2 {
			return
		}
		switch string(words[0]) {
		case "pswpin":
			in, _ = parseU(words[1])
		case "pswpout":
			out, _ = parseU(words[1])
		}
	})
	return in, out
}
