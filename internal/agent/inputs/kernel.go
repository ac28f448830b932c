package inputs

import (
	"context"
	"fmt"
	"os"

	"github.com/herdmon/herd/internal/models"
)

// Kernel reports Telegraf's kernel measurement from /proc/stat and
// /proc/sys/kernel/random/entropy_avail.
type Kernel struct{ env *Env }

// Name implements Input.
func (k *Kernel) Name() string { return "kernel" }

// kernelStat is the non-cpu part of /proc/stat that Telegraf reports.
type kernelStat struct {
	bootTime, ctxt, intr, forked, pageIn, pageOut uint64
	hasPage                                       bool
}

func parseProcStatKernel(data []byte) kernelStat {
	var ks kernelStat
	var words [][]byte
	eachLine(data, func(line []byte) {
		words = fieldsOf(line, words)
		if len(words) < 2 {
			return
		}
		v, _ := parseU(words[1])
		switch string(words[0]) {
		case "btime":
			ks.bootTime = v
		case "ctxt":
			ks.ctxt = v
		case "intr":
			ks.intr = v
		case "processes":
			ks.forked = v
		case "page":
			// Only very old kernels have this line.
			if len(words) >= 3 {
				ks.hasPage = true
				ks.pageIn = v
				ks.pageOut, _ = parseU(words[2])
			}
		}
	})
	return ks
}

// Gather implements Input.
func (k *Kernel) Gather(ctx context.Context, acc *Accumulator) error {
	data, err := os.ReadFile(k.env.proc("stat"))
	if err != nil {
		return fmt.Errorf("read kernel counters: %w", err)
	}
	ks := parseProcStatKernel(data)
	fields := []models.Field{
		intField("boot_time", ks.bootTime),
		intField("context_switches", ks.ctxt),
		intField("interrupts", ks.intr),
		intField("processes_forked", ks.forked),
	}
	if ea, err := readUint(k.env.proc("sys", "kernel", "random", "entropy_avail")); err == nil {
		fields = append(fields, intField("entropy_avail", ea))
	}
	if ks.hasPage {
		fields = append(fields, intField("disk_pages_in", ks.pageIn), intField("disk_pages_out", ks.pageOut))
	}
	acc.Add("kernel", nil, fields)
	return nil
}
