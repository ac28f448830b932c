// Package inputs holds the agent's collectors, one file per input. Each
// input reads the host's /proc, /sys, /etc and /run under roots taken from
// Env, so tests run against fixture trees and the agent can watch its host
// from inside a container. Measurement, tag and field names, types and
// units follow Telegraf's, so dashboards written for Telegraf keep working.
package inputs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdmon/herd/internal/models"
)

// Env says where an input finds the host: the roots of /proc, /sys, /etc
// and /run, and the few system calls that cannot be redirected by a path.
type Env struct {
	Proc, Sys, Etc, Run string
	// MountPrefix is where the host's root filesystem is mounted when the
	// agent runs in a container (HOST_MOUNT_PREFIX); it is stripped from
	// the disk input's path tag and added before statfs.
	MountPrefix string
	// PageSize converts page counts (/proc/vmstat) to bytes.
	PageSize int
	// Statfs reports the usage of a mounted filesystem.
	Statfs func(path string) (Statfs, error)
	// LookPath and Exec run helper programs (vcgencmd); nil disables them.
	LookPath func(name string) (string, error)
	Exec     func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Log receives warnings an input wants a person to see.
	Log *slog.Logger
}

// Statfs is the part of statfs(2) the disk input needs.
type Statfs struct {
	Bsize                 uint64
	Blocks, Bfree, Bavail uint64
	Files, Ffree          uint64
}

// EnvFromOS returns the roots from HOST_PROC, HOST_SYS, HOST_ETC, HOST_RUN
// and HOST_MOUNT_PREFIX (the variables gopsutil and Telegraf read), with
// the real system calls.
func EnvFromOS() Env {
	get := func(key, def string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		return def
	}
	return Env{
		Proc:        get("HOST_PROC", "/proc"),
		Sys:         get("HOST_SYS", "/sys"),
		Etc:         get("HOST_ETC", "/etc"),
		Run:         get("HOST_RUN", "/run"),
		MountPrefix: os.Getenv("HOST_MOUNT_PREFIX"),
		PageSize:    os.Getpagesize(),
		Statfs:      realStatfs,
		LookPath:    lookPath,
		Exec:        execOutput,
		Log:         slog.Default(),
	}
}

func realStatfs(path string) (Statfs, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Statfs{}, err
	}
	return Statfs{
		Bsize: uint64(st.Bsize), Blocks: uint64(st.Blocks), Bfree: uint64(st.Bfree),
		Bavail: uint64(st.Bavail), Files: uint64(st.Files), Ffree: uint64(st.Ffree),
	}, nil
}

func (e *Env) proc(p ...string) string { return filepath.Join(append([]string{e.Proc}, p...)...) }
func (e *Env) sys(p ...string) string  { return filepath.Join(append([]string{e.Sys}, p...)...) }
func (e *Env) run(p ...string) string  { return filepath.Join(append([]string{e.Run}, p...)...) }

func (e *Env) logger() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Input is one collector. Gather adds the points of one collection to acc;
// inputs that compute rates keep the previous sample between calls, so an
// Input is used by one goroutine at a time.
type Input interface {
	Name() string
	Gather(ctx context.Context, acc *Accumulator) error
}

// Primer is an input whose values are deltas between two samples (cpu).
// Prime takes the first sample so that the next Gather reports values.
type Primer interface {
	Prime(ctx context.Context) error
}

// Accumulator collects the points of one collection cycle. All points of a
// cycle carry the cycle's time, so a batch resent after a failure
// overwrites itself on the server rather than duplicating.
type Accumulator struct {
	Time   time.Time
	Points []models.Point
}

// Add appends a point with the cycle's time. Tags are sorted here; fields
// are sorted by key so that output is deterministic.
func (a *Accumulator) Add(measurement string, tags models.Tags, fields []models.Field) {
	if len(fields) == 0 {
		return
	}
	tags.Sort()
	sort.Slice(fields, func(i, j int) bool { return fields[i].Key < fields[j].Key })
	a.Points = append(a.Points, models.Point{Measurement: measurement, Tags: tags, Fields: fields, Time: a.Time.UnixNano()})
}

// Default lists the inputs the agent runs when the configuration names
// none: every input; those without data on a host (rpi, docker) stay quiet.
var Default = []string{"cpu", "mem", "swap", "system", "disk", "diskio", "kernel", "processes", "net", "temp", "rpi", "docker"}

// Options are the per-input settings of the configuration.
type Options struct {
	// DiskIgnoreFS lists filesystem types the disk input skips.
	DiskIgnoreFS []string
	// TempThermalZones adds /sys/class/thermal zones to hwmon sensors.
	TempThermalZones bool
	// DockerEndpoint is the Docker Engine API socket, unix:///path or a
	// bare path; empty means HOST_RUN/docker.sock.
	DockerEndpoint string
	// DockerTimeout bounds each Docker API call.
	DockerTimeout time.Duration
}

// DefaultDiskIgnoreFS is Telegraf's default ignore_fs list.
var DefaultDiskIgnoreFS = []string{"tmpfs", "devtmpfs", "devfs", "iso9660", "overlay", "aufs", "squashfs"}

// ErrUnknownInput is returned by New for a name it does not know.
var ErrUnknownInput = errors.New("unknown input")

// New builds the input called name.
func New(name string, env *Env, opt Options) (Input, error) {
	switch name {
	case "cpu":
		return &CPU{env: env}, nil
	case "mem":
		return &Mem{env: env}, nil
	case "swap":
		return &Swap{env: env}, nil
	case "system":
		return &System{env: env}, nil
	case "disk":
		ign := opt.DiskIgnoreFS
		if ign == nil {
			ign = DefaultDiskIgnoreFS
		}
		return &Disk{env: env, IgnoreFS: ign}, nil
	case "diskio":
		return &DiskIO{env: env}, nil
	case "kernel":
		return &Kernel{env: env}, nil
	case "processes":
		return &Processes{env: env}, nil
	case "net":
		return &Net{env: env}, nil
	case "temp":
		return &Temp{env: env, ThermalZones: opt.TempThermalZones}, nil
	case "rpi":
		return &RPi{env: env}, nil
	case "docker":
		return NewDocker(env, opt.DockerEndpoint, opt.DockerTimeout), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownInput, name)
}

// Helpers shared by the inputs.

// readTrim reads a small file and trims white space and NUL bytes (device
// tree strings end in NUL).
func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return string(bytes.Trim(b, " \t\r\n\x00")), nil
}

func readUint(path string) (uint64, error) {
	s, err := readTrim(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 10, 64)
}

// intField stores an unsigned counter as an integer field, as Telegraf's
// InfluxDB output does by default (influx_uint_support = false), clipping
// values above the int64 range.
func intField(key string, v uint64) models.Field {
	if v > math.MaxInt64 {
		v = math.MaxInt64
	}
	return models.IntegerField(key, int64(v))
}

// floatField stores a float, replacing NaN and infinities (which line
// protocol rejects) with 0.
func floatField(key string, v float64) models.Field {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return models.FloatField(key, v)
}

// fieldsOf splits a line into white-space separated words without
// allocating a string per word.
func fieldsOf(line []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if j > i {
			dst = append(dst, line[i:j])
		}
		i = j
	}
	return dst
}

// parseU parses a decimal unsigned integer from bytes; bad input gives 0
// and false.
func parseU(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// eachLine calls fn for every line of data, without the newline.
func eachLine(data []byte, fn func(line []byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fn(data)
			return
		}
		fn(data[:i])
		data = data[i+1:]
	}
}
