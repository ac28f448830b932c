package inputs

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// diskStat is one line of /proc/diskstats.
type diskStat struct {
	name                                            string
	reads, mergedReads, sectorsRead, readTime       uint64
	writes, mergedWrites, sectorsWritten, writeTime uint64
	inProgress, ioTime, weightedIOTime              uint64
}

// parseDiskstats reads /proc/diskstats; lines with fewer than 14 columns
// are skipped, as gopsutil does.
func parseDiskstats(data []byte, dst []diskStat) []diskStat {
	dst = dst[:0]
	var words [][]byte
	eachLine(data, func(line []byte) {
		words = fieldsOf(line, words)
		if len(words) < 14 {
			return
		}
		s := diskStat{name: string(words[2])}
		vals := [11]*uint64{&s.reads, &s.mergedReads, &s.sectorsRead, &s.readTime, &s.writes, &s.mergedWrites,
			&s.sectorsWritten, &s.writeTime, &s.inProgress, &s.ioTime, &s.weightedIOTime}
		for i, p := range vals {
			v, ok := parseU(words[3+i])
			if !ok {
				return
			}
			*p = v
		}
		dst = append(dst, s)
	})
	return dst
}

// sectorSize is the unit of /proc/diskstats sector counts, whatever the
// device's real sector size (gopsutil uses the same constant).
const sectorSize = 512

// DiskIO reports Telegraf's diskio measurement per block device (tag
// name), with io_await, io_svctm and io_util from the second collection on.
type DiskIO struct {
	env      *Env
	last     map[string]diskStat
	lastTime time.Time
	cur      []diskStat
}

// Name implements Input.
func (d *DiskIO) Name() string { return "diskio" }

// Gather implements Input.
func (d *DiskIO) Gather(ctx context.Context, acc *Accumulator) error {
	data, err := os.ReadFile(d.env.proc("diskstats"))
	if err != nil {
		return fmt.Errorf("read disk counters: %w", err)
	}
	d.cur = parseDiskstats(data, d.cur)
	now := acc.Time
	for _, s := range d.cur {
		fields := []models.Field{
			intField("reads", s.reads),
			intField("writes", s.writes),
			intField("read_bytes", s.sectorsRead*sectorSize),
			intField("write_bytes", s.sectorsWritten*sectorSize),
			intField("read_time", s.readTime),
			intField("write_time", s.writeTime),
			intField("io_time", s.ioTime),
			intField("weighted_io_time", s.weightedIOTime),
			intField("iops_in_progress", s.inProgress),
			intField("merged_reads", s.mergedReads),
			intField("merged_writes", s.mergedWrites),
		}
		if prev, ok := d.last[s.name]; ok {
			wrapped := s.reads < prev.reads || s.writes < prev.writes || s.readTime < prev.readTime ||
				s.writeTime < prev.writeTime || s.ioTime < prev.ioTime
			if !wrapped {
				rw := float64(s.reads-prev.reads) + float64(s.writes-prev.writes)
				rwTime := float64(s.readTime-prev.readTime) + float64(s.writeTime-prev.writeTime)
				ioTime := float64(s.ioTime - prev.ioTime)
				if rw > 0 {
					fields = append(fields, floatField("io_await", rwTime/rw), floatField("io_svctm", ioTime/rw))
				}
				if itv := float64(now.Sub(d.lastTime).Milliseconds()); itv > 0 {
					fields = append(fields, floatField("io_util", 100*ioTime/itv))
				}
			}
		}
		acc.Add("diskio", models.Tags{{Key: "name", Value: s.name}}, fields)
	}
	if d.last == nil {
		d.last = make(map[string]diskStat, len(d.cur))
	}
	clear(d.last)
	for _, s := range d.cur {
		d.last[s.name] = s
	}
	d.lastTime = now
	return nil
}
