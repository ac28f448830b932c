package inputs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/herdmon/herd/internal/models"
)

// mount is one line of /proc/<pid>/mountinfo.
type mount struct {
	devID      string // major:minor
	mountPoint string
	opts       string
	fstype     string
	source     string
}

// parseMountinfo reads proc(5) mountinfo lines: "id parent maj:min root
// mountpoint opts [optional...] - fstype source superopts".
func parseMountinfo(data []byte) []mount {
	var out []mount
	var words [][]byte
	eachLine(data, func(line []byte) {
		words = fieldsOf(line, words)
		sep := -1
		for i := 6; i < len(words); i++ {
			if string(words[i]) == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(words) {
			return
		}
		out = append(out, mount{
			devID:      string(words[2]),
			mountPoint: unescapeOctal(string(words[4])),
			opts:       string(words[5]),
			fstype:     string(words[sep+1]),
			source:     unescapeOctal(string(words[sep+2])),
		})
	})
	return out
}

// unescapeOctal undoes the \ooo escapes the kernel writes for spaces,
// tabs, newlines and backslashes in paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 || s[0] > '3' {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// Disk reports Telegraf's disk measurement: usage per mounted filesystem,
// tagged path, device, fstype and mode, skipping the filesystem types in
// IgnoreFS and filesystems of size 0 (proc, sysfs, cgroup...).
type Disk struct {
	env      *Env
	IgnoreFS []string
}

// Name implements Input.
func (d *Disk) Name() string { return "disk" }

// Gather implements Input.
func (d *Disk) Gather(ctx context.Context, acc *Accumulator) error {
	data, err := os.ReadFile(d.env.proc("1", "mountinfo"))
	if err != nil {
		data, err = os.ReadFile(d.env.proc("self", "mountinfo"))
		if err != nil {
			return fmt.Errorf("list mounts: %w", err)
		}
	}
	if d.env.Statfs == nil {
		return fmt.Errorf("disk usage: no statfs")
	}
	for _, m := range parseMountinfo(data) {
		if slices.Contains(d.IgnoreFS, m.fstype) {
			continue
		}
		st, err := d.env.Statfs(filepath.Join(d.env.MountPrefix, m.mountPoint))
		if err != nil || st.Blocks == 0 {
			// Unreadable mounts (permissions, stale NFS) and pseudo
			// filesystems are skipped, as Telegraf does.
			continue
		}
		total := st.Blocks * st.Bsize
		free := st.Bavail * st.Bsize
		used := (st.Blocks - min(st.Bfree, st.Blocks)) * st.Bsize
		usedPct := 0.0
		if used+free > 0 {
			usedPct = 100 * float64(used) / float64(used+free)
		}
		fields := []models.Field{
			intField("total", total),
			intField("free", free),
			intField("used", used),
			floatField("used_percent", usedPct),
			intField("inodes_total", st.Files),
			intField("inodes_free", st.Ffree),
		}
		if st.Files >= st.Ffree {
			iused := st.Files - st.Ffree
			ipct := 0.0
			if st.Files > 0 {
				ipct = 100 * float64(iused) / float64(st.Files)
			}
			fields = append(fields, intField("inodes_used", iused), floatField("inodes_used_percent", ipct))
		}
		mode := "rw"
		for _, o := range strings.Split(m.opts, ",") {
			if o == "ro" {
				mode = "ro"
			}
		}
		path := m.mountPoint
		if d.env.MountPrefix != "" {
			path = strings.TrimPrefix(path, d.env.MountPrefix)
			if path == "" {
				path = "/"
			}
		}
		acc.Add("disk", models.Tags{
			{Key: "path", Value: path},
			{Key: "device", Value: strings.ReplaceAll(d.device(m), "/dev/", "")},
			{Key: "fstype", Value: m.fstype},
			{Key: "mode", Value: mode},
		}, fields)
	}
	return nil
}

// device resolves /dev/root (what a Raspberry Pi's root filesystem is
// mounted from) to the real block device through sysfs, as gopsutil does.
func (d *Disk) device(m mount) string {
	if m.source != "/dev/root" {
		return m.source
	}
	data, err := os.ReadFile(d.env.sys("dev", "block", m.devID, "uevent"))
	if err != nil {
		return m.source
	}
	dev := m.source
	eachLine(data, func(line []byte) {
		if v, ok := bytes.CutPrefix(line, []byte("DEVNAME=")); ok && len(v) > 0 {
			dev = "/dev/" + string(v)
		}
	})
	return dev
}
