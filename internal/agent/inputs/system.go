package inputs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/herdmon/herd/internal/models"
)

// System reports Telegraf's system measurement: load averages, cpu and
// user counts, uptime in seconds and uptime_format ("3 days,  4:05").
// Telegraf writes these as three points at one time; herd writes one point
// with the same fields, which the server stores identically.
type System struct{ env *Env }

// Name implements Input.
func (s *System) Name() string { return "system" }

// Gather implements Input.
func (s *System) Gather(ctx context.Context, acc *Accumulator) error {
	la, err := os.ReadFile(s.env.proc("loadavg"))
	if err != nil {
		return fmt.Errorf("read load average: %w", err)
	}
	load, err := parseLoadavg(la)
	if err != nil {
		return fmt.Errorf("parse %s: %w", s.env.proc("loadavg"), err)
	}
	up, err := os.ReadFile(s.env.proc("uptime"))
	if err != nil {
		return fmt.Errorf("read uptime: %w", err)
	}
	uptime, err := parseUptime(up)
	if err != nil {
		return fmt.Errorf("parse %s: %w", s.env.proc("uptime"), err)
	}
	logical, physical := s.cpuCounts()
	fields := []models.Field{
		floatField("load1", load[0]),
		floatField("load5", load[1]),
		floatField("load15", load[2]),
		models.IntegerField("n_cpus", int64(logical)),
		models.IntegerField("n_physical_cpus", int64(physical)),
		intField("uptime", uptime),
		models.StringField("uptime_format", formatUptime(uptime)),
	}
	// Like Telegraf, leave the user counts out when there is no utmp
	// (systemd hosts without utmp support); report other errors.
	if data, err := os.ReadFile(s.env.run("utmp")); err == nil {
		users, unique := parseUtmp(data)
		fields = append(fields, models.IntegerField("n_users", int64(users)), models.IntegerField("n_unique_users", int64(unique)))
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.env.logger().Warn("read logged-in users", "err", err)
	}
	acc.Add("system", nil, fields)
	return nil
}

func parseLoadavg(data []byte) ([3]float64, error) {
	var out [3]float64
	w := strings.Fields(string(data))
	if len(w) < 3 {
		return out, fmt.Errorf("want 3 load averages, got %q", data)
	}
	for i := range out {
		v, err := strconv.ParseFloat(w[i], 64)
		if err != nil {
			return out, fmt.Errorf("load average %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

// parseUptime returns the whole seconds of /proc/uptime's first number.
func parseUptime(data []byte) (uint64, error) {
	w := strings.Fields(string(data))
	if len(w) == 0 {
		return 0, fmt.Errorf("empty uptime")
	}
	v, err := strconv.ParseFloat(w[0], 64)
	if err != nil || v < 0 || v > 1e15 {
		return 0, fmt.Errorf("bad uptime %q", w[0])
	}
	return uint64(v), nil
}

// formatUptime is Telegraf's uptime_format: "[N day[s], ]HH:MM" with the
// hour padded by a space.
func formatUptime(up uint64) string {
	var b strings.Builder
	days := up / 86400
	if days != 0 {
		s := ""
		if days > 1 {
			s = "s"
		}
		fmt.Fprintf(&b, "%d day%s, ", days, s)
	}
	minutes := up / 60
	fmt.Fprintf(&b, "%2d:%02d", (minutes/60)%24, minutes%60)
	return b.String()
}

// cpuCounts follows gopsutil: logical cpus are the processor lines of
// /proc/cpuinfo (else the cpuN lines of /proc/stat); physical cores are the
// distinct sibling lists in sysfs topology (else distinct physical/core id
// pairs of cpuinfo, else the logical count).
func (s *System) cpuCounts() (logical, physical int) {
	info, _ := os.ReadFile(s.env.proc("cpuinfo"))
	var phys, core string
	pairs := map[string]bool{}
	eachLine(info, func(line []byte) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		switch string(bytes.TrimSpace(k)) {
		case "processor":
			logical++
		case "physical id":
			phys = string(bytes.TrimSpace(v))
		case "core id":
			core = string(bytes.TrimSpace(v))
			pairs[phys+"/"+core] = true
		}
	})
	if logical == 0 {
		stat, _ := os.ReadFile(s.env.proc("stat"))
		eachLine(stat, func(line []byte) {
			if len(line) > 3 && bytes.HasPrefix(line, []byte("cpu")) && line[3] >= '0' && line[3] <= '9' {
				logical++
			}
		})
	}
	for _, name := range []string{"core_cpus_list", "thread_siblings_list"} {
		files, _ := filepath.Glob(s.env.sys("devices", "system", "cpu", "cpu[0-9]*", "topology", name))
		lists := map[string]bool{}
		for _, f := range files {
			if v, err := readTrim(f); err == nil && v != "" {
				lists[v] = true
			}
		}
		if len(lists) > 0 {
			return logical, len(lists)
		}
	}
	if len(pairs) > 0 {
		return logical, len(pairs)
	}
	return logical, logical
}

// utmp record layout on Linux (glibc, the same on 32- and 64-bit ABIs:
// ut_tv is two int32 there): type at 0, user name at 44, 384 bytes each.
const (
	utmpSize        = 384
	utmpUserOffset  = 44
	utmpUserLen     = 32
	utmpUserProcess = 7
)

// parseUtmp counts USER_PROCESS records and the distinct user names among
// them, as gopsutil's host.Users and Telegraf's n_unique_users do.
func parseUtmp(data []byte) (users, unique int) {
	seen := map[string]bool{}
	for len(data) >= utmpSize {
		rec := data[:utmpSize]
		data = data[utmpSize:]
		if int16(binary.LittleEndian.Uint16(rec)) != utmpUserProcess {
			continue
		}
		name := rec[utmpUserOffset : utmpUserOffset+utmpUserLen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		users++
		if !seen[string(name)] {
			seen[string(name)] = true
			unique++
		}
	}
	return users, unique
}
