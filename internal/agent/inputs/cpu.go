package inputs

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/herdmon/herd/internal/models"
)

// cpuTimes is one cpu line of /proc/stat, in clock ticks.
type cpuTimes struct {
	name                                                  string
	user, nice, system, idle, iowait, irq, softirq, steal float64
	guest, guestNice                                      float64
}

// total is Telegraf's totalCPUTime: guest time is already inside user and
// nice, so it is not added again.
func (t *cpuTimes) total() float64 {
	return t.user + t.system + t.nice + t.iowait + t.irq + t.softirq + t.steal + t.idle
}

// parseProcStatCPU returns the cpu lines of /proc/stat: "cpu" (renamed
// cpu-total, as Telegraf tags it) and cpuN.
func parseProcStatCPU(data []byte, dst []cpuTimes) []cpuTimes {
	dst = dst[:0]
	var words [][]byte
	eachLine(data, func(line []byte) {
		if !bytes.HasPrefix(line, []byte("cpu")) {
			return
		}
		words = fieldsOf(line, words)
		if len(words) < 5 {
			return
		}
		t := cpuTimes{name: string(words[0])}
		if t.name == "cpu" {
			t.name = "cpu-total"
		}
		vals := [10]*float64{&t.user, &t.nice, &t.system, &t.idle, &t.iowait, &t.irq, &t.softirq, &t.steal, &t.guest, &t.guestNice}
		for i, w := range words[1:] {
			if i >= len(vals) {
				break
			}
			v, ok := parseU(w)
			if !ok {
				return
			}
			*vals[i] = float64(v)
		}
		dst = append(dst, t)
	})
	return dst
}

// CPU reports Telegraf's cpu measurement: usage_* percentages per core
// (cpu=cpuN) and for the whole machine (cpu=cpu-total) over the time since
// the previous collection. The first collection only takes a sample.
type CPU struct {
	env  *Env
	last map[string]cpuTimes
	cur  []cpuTimes
}

// Name implements Input.
func (c *CPU) Name() string { return "cpu" }

func (c *CPU) sample() error {
	data, err := os.ReadFile(c.env.proc("stat"))
	if err != nil {
		return fmt.Errorf("read cpu times: %w", err)
	}
	c.cur = parseProcStatCPU(data, c.cur)
	if len(c.cur) == 0 {
		return fmt.Errorf("read cpu times: no cpu lines in %s", c.env.proc("stat"))
	}
	return nil
}

// Prime implements Primer: it records a sample without reporting.
func (c *CPU) Prime(ctx context.Context) error {
	if err := c.sample(); err != nil {
		return err
	}
	c.remember()
	return nil
}

func (c *CPU) remember() {
	if c.last == nil {
		c.last = make(map[string]cpuTimes, len(c.cur))
	}
	clear(c.last)
	for _, t := range c.cur {
		c.last[t.name] = t
	}
}

// Gather implements Input.
func (c *CPU) Gather(ctx context.Context, acc *Accumulator) error {
	if err := c.sample(); err != nil {
		return err
	}
	// Telegraf reports the cores first, then the total.
	for pass := 0; pass < 2; pass++ {
		for i := range c.cur {
			t := &c.cur[i]
			if (t.name == "cpu-total") != (pass == 1) {
				continue
			}
			prev, ok := c.last[t.name]
			if !ok {
				continue
			}
			delta := t.total() - prev.total()
			if delta <= 0 {
				// No time passed, or the counters went back (cpu hot-plug):
				// nothing meaningful to report for this core.
				continue
			}
			pct := func(now, before float64) float64 { return 100 * (now - before) / delta }
			acc.Add("cpu", models.Tags{{Key: "cpu", Value: t.name}}, []models.Field{
				floatField("usage_user", pct(t.user-t.guest, prev.user-prev.guest)),
				floatField("usage_system", pct(t.system, prev.system)),
				floatField("usage_idle", pct(t.idle, prev.idle)),
				floatField("usage_nice", pct(t.nice-t.guestNice, prev.nice-prev.guestNice)),
				floatField("usage_iowait", pct(t.iowait, prev.iowait)),
				floatField("usage_irq", pct(t.irq, prev.irq)),
				floatField("usage_softirq", pct(t.softirq, prev.softirq)),
				floatField("usage_steal", pct(t.steal, prev.steal)),
				floatField("usage_guest", pct(t.guest, prev.guest)),
				floatField("usage_guest_nice", pct(t.guestNice, prev.guestNice)),
			})
		}
	}
	c.remember()
	return nil
}
