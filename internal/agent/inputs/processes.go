package inputs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/herdmon/herd/internal/models"
)

// Processes reports Telegraf's processes measurement: processes by state
// and the total thread count, from /proc/<pid>/stat.
type Processes struct{ env *Env }

// Name implements Input.
func (p *Processes) Name() string { return "processes" }

// procCounts are the Linux fields of Telegraf's processes input.
type procCounts struct {
	blocked, zombies, stopped, running, sleeping, total, unknown int64
	dead, paging, totalThreads, idle, parked                     int64
}

// parseProcPidStat adds one /proc/<pid>/stat to c; it reports false when
// the line is malformed.
func parseProcPidStat(data []byte, c *procCounts) bool {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 > len(data) {
		return false
	}
	var buf [24][]byte
	w := fieldsOf(data[i+2:], buf[:0])
	if len(w) < 18 || len(w[0]) == 0 {
		return false
	}
	switch w[0][0] {
	case 'R':
		c.running++
	case 'S':
		c.sleeping++
	case 'D':
		c.blocked++
	case 'Z':
		c.zombies++
	case 'X':
		c.dead++
	case 'T', 't':
		c.stopped++
	case 'W':
		c.paging++
	case 'I':
		c.idle++
	case 'P':
		c.parked++
	default:
		c.unknown++
	}
	c.total++
	// num_threads is field 20 of stat, the 18th after the command.
	if n, ok := parseU(w[17]); ok {
		c.totalThreads += int64(n)
	}
	return true
}

// Gather implements Input.
func (p *Processes) Gather(ctx context.Context, acc *Accumulator) error {
	dir, err := os.Open(p.env.Proc)
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("list processes: %w", err)
	}
	var c procCounts
	buf := make([]byte, 1024)
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		data, err := readSmall(filepath.Join(p.env.Proc, n, "stat"), buf)
		if err != nil {
			// The process ended between listing and reading.
			continue
		}
		parseProcPidStat(data, &c)
	}
	fields := []models.Field{
		models.IntegerField("blocked", c.blocked),
		models.IntegerField("zombies", c.zombies),
		models.IntegerField("stopped", c.stopped),
		models.IntegerField("running", c.running),
		models.IntegerField("sleeping", c.sleeping),
		models.IntegerField("total", c.total),
		models.IntegerField("unknown", c.unknown),
		models.IntegerField("dead", c.dead),
		models.IntegerField("paging", c.paging),
		models.IntegerField("total_threads", c.totalThreads),
		models.IntegerField("idle", c.idle),
	}
	if c.parked > 0 {
		fields = append(fields, models.IntegerField("parked", c.parked))
	}
	acc.Add("processes", nil, fields)
	return nil
}

// readSmall reads a small file into buf without allocating a new slice
// per file; /proc/<pid>/stat lines are well under 1 KiB.
func readSmall(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, err
	}
	return buf[:n], nil
}
