// Package benchgen generates realistic devops monitoring data for
// benchmarks and sends it to an InfluxDB 1.x compatible /write endpoint.
//
// The data is shaped like TSBS's devops use case (N hosts with region,
// datacenter, rack, os and arch tags) but uses Telegraf's measurement and
// field names (cpu, mem, disk, diskio, net, system, processes, kernel,
// swap), so it looks to a server exactly like a fleet of Telegraf agents
// with their default inputs reporting every 10 s. Values move like real
// machines: percentages derived from jiffy counts, bounded random walks,
// monotonic counters and mostly-constant fields. Everything is
// deterministic from the seed: the same Config yields the same bytes,
// however the output is cut into batches.
package benchgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// DefaultInterval is Telegraf's default collection interval.
const DefaultInterval = 10 * time.Second

// Config says what data a Generator produces.
type Config struct {
	Hosts    int           // number of hosts, at least 1
	Start    time.Time     // first timestamp, truncated to Interval
	Interval time.Duration // time between two reports of a host; DefaultInterval if 0
	Steps    int           // reports per host (timestamps), at least 1
	Seed     uint64        // same seed, same data
}

// StepsFor returns how many reports of one host cover span at interval
// (at least 1).
func StepsFor(span, interval time.Duration) int {
	if interval <= 0 {
		interval = DefaultInterval
	}
	n := int(span / interval)
	if n < 1 {
		n = 1
	}
	return n
}

// RecentStart returns the start time that makes steps reports end at
// now: data that is recent, because some servers (VictoriaMetrics) drop
// samples older than their retention.
func RecentStart(now time.Time, steps int, interval time.Duration) time.Time {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return now.Add(-time.Duration(steps) * interval).Truncate(interval)
}

// Generator produces line protocol for a Config. It is not safe for
// concurrent use: generation is one ordered stream, so that its bytes do
// not depend on how many goroutines consume it.
type Generator struct {
	cfg      Config
	hosts    []*host
	step     int    // current report index
	hostIdx  int    // host being rendered
	seriesIx int    // next series of that host
	ts       []byte // " <timestamp>\n" of the current step, pre-rendered
	tsNanos  int64
	counts   Counts
}

// Counts totals what a Generator or a file source has produced.
type Counts struct {
	Points int64
	Values int64
	// PerMeasurement counts points by measurement name, so that a
	// benchmark can check what a server holds (e.g. count(usage_idle) on
	// cpu).
	PerMeasurement map[string]int64
}

func (c *Counts) add(measurement string, values int) {
	if c.PerMeasurement == nil {
		c.PerMeasurement = make(map[string]int64)
	}
	c.Points++
	c.Values += int64(values)
	c.PerMeasurement[measurement]++
}

// NewGenerator validates cfg and builds the hosts. Hosts and their static
// attributes (tags, core count, memory and disk sizes) depend on the seed
// only.
func NewGenerator(cfg Config) (*Generator, error) {
	if cfg.Hosts < 1 {
		return nil, fmt.Errorf("hosts must be at least 1, got %d", cfg.Hosts)
	}
	if cfg.Steps < 1 {
		return nil, fmt.Errorf("steps must be at least 1, got %d", cfg.Steps)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("interval must be positive, got %v", cfg.Interval)
	}
	cfg.Start = cfg.Start.Truncate(cfg.Interval)
	g := &Generator{cfg: cfg, hosts: make([]*host, cfg.Hosts)}
	for i := range g.hosts {
		g.hosts[i] = newHost(i, cfg.Seed, cfg.Start)
	}
	g.setStep(0)
	return g, nil
}

// SeriesPerHost returns the number of points each host reports per
// interval for the given host (it depends on its core count).
func (g *Generator) SeriesPerHost(i int) int { return len(g.hosts[i].series) }

// Done reports whether every point has been generated.
func (g *Generator) Done() bool { return g.step >= g.cfg.Steps }

// Counts returns what has been generated so far.
func (g *Generator) Counts() Counts { return g.counts }

// End returns the timestamp after the last report.
func (g *Generator) End() time.Time {
	return g.cfg.Start.Add(time.Duration(g.cfg.Steps) * g.cfg.Interval)
}

func (g *Generator) setStep(step int) {
	g.step = step
	g.tsNanos = g.cfg.Start.Add(time.Duration(step) * g.cfg.Interval).UnixNano()
	g.ts = append(g.ts[:0], ' ')
	g.ts = strconv.AppendInt(g.ts, g.tsNanos, 10)
	g.ts = append(g.ts, '\n')
}

// Append appends up to maxPoints lines of line protocol to dst and
// returns the extended slice and the number of points and values
// appended. It returns fewer points only when the data is exhausted.
// Points come in time order: every host's report for one timestamp, then
// the next timestamp.
func (g *Generator) Append(dst []byte, maxPoints int) (out []byte, points, values int) {
	for points < maxPoints && g.step < g.cfg.Steps {
		h := g.hosts[g.hostIdx]
		if g.seriesIx == 0 {
			h.advance(g.step)
		}
		s := &h.series[g.seriesIx]
		dst = append(dst, s.prefix...)
		dst = h.render(dst, s)
		dst = append(dst, g.ts...)
		g.counts.add(s.measurement, s.values)
		points++
		values += s.values
		g.seriesIx++
		if g.seriesIx == len(h.series) {
			g.seriesIx = 0
			g.hostIdx++
			if g.hostIdx == len(g.hosts) {
				g.hostIdx = 0
				g.setStep(g.step + 1)
			}
		}
	}
	return dst, points, values
}

// TSBS-like tag values.
var (
	regions = []struct {
		name string
		dcs  []string
	}{
		{"us-east-1", []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"}},
		{"us-west-1", []string{"us-west-1a", "us-west-1b"}},
		{"us-west-2", []string{"us-west-2a", "us-west-2b", "us-west-2c"}},
		{"eu-west-1", []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
		{"eu-central-1", []string{"eu-central-1a", "eu-central-1b"}},
		{"ap-southeast-1", []string{"ap-southeast-1a", "ap-southeast-1b"}},
		{"ap-southeast-2", []string{"ap-southeast-2a", "ap-southeast-2b"}},
		{"ap-northeast-1", []string{"ap-northeast-1a", "ap-northeast-1c"}},
		{"sa-east-1", []string{"sa-east-1a", "sa-east-1b", "sa-east-1c"}},
	}
	oses   = []string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}
	arches = []string{"x64", "x86"}
	// Mostly 4-core machines, like a Raspberry Pi fleet with some bigger
	// boxes.
	coreChoices = []int{2, 4, 4, 4, 8}
	memChoices  = []int64{1 << 30, 2 << 30, 4 << 30, 4 << 30, 8 << 30}
	diskChoices = []int64{16e9, 32e9, 32e9, 64e9, 128e9}
)

// Series kinds: which render function fills the fields of a series.
const (
	kCPU = iota
	kMem
	kDisk
	kDiskIO
	kNet
	kSystem
	kUptime
	kProcesses
	kKernel
	kSwap
	kSwapIO
)

// series is one point a host reports every interval.
type series struct {
	kind        uint8
	idx         uint8  // core (0 = cpu-total), mount, device or interface index
	prefix      []byte // "measurement,tags " pre-rendered
	measurement string
	values      int // fields per point
}

// Field counts per kind; they must match the render functions (a test
// checks it).
var kindValues = [...]int{
	kCPU: 10, kMem: 34, kDisk: 8, kDiskIO: 11, kNet: 8, kSystem: 5,
	kUptime: 1, kProcesses: 11, kKernel: 5, kSwap: 4, kSwapIO: 2,
}

var kindMeasurement = [...]string{
	kCPU: "cpu", kMem: "mem", kDisk: "disk", kDiskIO: "diskio", kNet: "net",
	kSystem: "system", kUptime: "system", kProcesses: "processes",
	kKernel: "kernel", kSwap: "swap", kSwapIO: "swap",
}

// The block devices, mounts and interfaces of a Raspberry Pi.
var (
	mounts = []struct{ device, fstype, path string }{
		{"mmcblk0p2", "ext4", "/"},
		{"mmcblk0p1", "vfat", "/boot"},
	}
	blockDevices = []string{"mmcblk0", "mmcblk0p1", "mmcblk0p2"}
	interfaces   = []string{"eth0", "wlan0"}
)

const (
	userHZ        = 100 // jiffies per second, as /proc/stat counts
	pageSize      = 4096
	sectorSize    = 512
	bootSizeB     = 256 << 20
	swapTotalB    = 100 << 20 // dphys-swapfile's default on Raspberry Pi OS
	inodeRatio    = 16384     // bytes per inode, mkfs.ext4's default
	cpuStates     = 5         // user, system, nice, iowait, softirq
	kernelThreads = 60        // kernel threads, which ps counts as idle processes
)

// host is the state of one simulated machine.
type host struct {
	rng    *rand.Rand
	series []series
	cores  int

	// cpu: per core the share of time in each busy state, walking; the
	// jiffies of the current interval are derived from it.
	cpuShare [][cpuStates]float64
	cpuJif   [][cpuStates + 1]int64 // busy states then idle; index 0 = total
	cpuTotal []int64                // jiffies of the interval per row

	// mem
	memTotal                          int64
	usedF, cachedF, buffF             float64
	memUsed, memCached, memBuf        int64
	active, inactive, committed       int64
	dirty, mapped, pageTables, shared int64
	sreclaim, sunreclaim, vmallocUsed int64
	commitLimit                       int64

	// disk per mount
	diskTotal, diskUsed, diskReserved [2]int64
	inodesTotal, inodesUsed           [2]int64

	// diskio per partition (index 1, 2); the whole device (0) is their sum
	readRate, writeRate                   [3]float64
	reads, writes, readBytes, writeBytes  [3]int64
	readTime, writeTime, ioTime, weighted [3]int64
	mergedReads, mergedWrites, inProgress [3]int64

	// net per interface
	rxRate, txRate         [2]float64
	bytesRecv, bytesSent   [2]int64
	packetsRecv, packetsTx [2]int64
	dropIn                 [2]int64

	// system
	load1, load5, load15 float64
	users                int64
	uptime               int64
	bootTime             int64

	// processes
	procTotal, threads, running, blocked, zombies int64

	// kernel
	ctxt, intr, forks int64
	ctxtRate          float64

	// swap
	swapUsed, swapIn, swapOut int64
}

func newHost(i int, seed uint64, start time.Time) *host {
	// One stream per host, so that a host's data does not depend on how
	// many hosts there are.
	h := &host{rng: rand.New(rand.NewPCG(seed, uint64(i)+0x9e3779b97f4a7c15))}
	r := h.rng
	region := regions[r.IntN(len(regions))]
	baseTags := models.Tags{
		{Key: "arch", Value: arches[r.IntN(len(arches))]},
		{Key: "datacenter", Value: region.dcs[r.IntN(len(region.dcs))]},
		{Key: "host", Value: "host_" + strconv.Itoa(i)},
		{Key: "os", Value: oses[r.IntN(len(oses))]},
		{Key: "rack", Value: strconv.Itoa(r.IntN(100))},
		{Key: "region", Value: region.name},
	}
	h.cores = coreChoices[r.IntN(len(coreChoices))]

	add := func(kind, idx int, extra ...models.Tag) {
		tags := append(append(models.Tags{}, baseTags...), extra...)
		tags.Sort()
		m := kindMeasurement[kind]
		prefix := models.AppendSeriesKey(nil, m, tags)
		h.series = append(h.series, series{
			kind: uint8(kind), idx: uint8(idx), prefix: append(prefix, ' '),
			measurement: m, values: kindValues[kind],
		})
	}
	add(kCPU, 0, models.Tag{Key: "cpu", Value: "cpu-total"})
	for c := 0; c < h.cores; c++ {
		add(kCPU, c+1, models.Tag{Key: "cpu", Value: "cpu" + strconv.Itoa(c)})
	}
	add(kMem, 0)
	for m, mt := range mounts {
		add(kDisk, m, models.Tag{Key: "device", Value: mt.device}, models.Tag{Key: "fstype", Value: mt.fstype},
			models.Tag{Key: "mode", Value: "rw"}, models.Tag{Key: "path", Value: mt.path})
	}
	for d, name := range blockDevices {
		add(kDiskIO, d, models.Tag{Key: "name", Value: name})
	}
	for n, name := range interfaces {
		add(kNet, n, models.Tag{Key: "interface", Value: name})
	}
	add(kSystem, 0)
	add(kUptime, 0)
	add(kProcesses, 0)
	add(kKernel, 0)
	add(kSwap, 0)
	add(kSwapIO, 0)

	// cpu: a per-host busyness level, spread over cores.
	h.cpuShare = make([][cpuStates]float64, h.cores)
	busy := 0.02 + 0.4*r.Float64()*r.Float64()
	for c := range h.cpuShare {
		s := &h.cpuShare[c]
		s[0] = busy * (0.5 + r.Float64()) // user
		s[1] = s[0] * (0.2 + 0.3*r.Float64())
		s[2] = 0.002 * r.Float64() // nice
		s[3] = 0.01 * r.Float64()  // iowait
		s[4] = 0.005 * r.Float64() // softirq
	}
	h.cpuJif = make([][cpuStates + 1]int64, h.cores+1)
	h.cpuTotal = make([]int64, h.cores+1)

	// mem: total is what the kernel reports, a little under the RAM size.
	ram := memChoices[r.IntN(len(memChoices))]
	h.memTotal = (ram - ram/16 - int64(r.IntN(64))*pageSize) / pageSize * pageSize
	h.usedF = 0.15 + 0.4*r.Float64()
	h.cachedF = 0.1 + 0.3*r.Float64()
	h.buffF = 0.01 + 0.03*r.Float64()
	h.commitLimit = h.memTotal/2 + swapTotalB
	h.pageTables = pages(2<<20 + int64(r.IntN(4<<20)))
	h.shared = pages(8<<20 + int64(r.IntN(32<<20)))
	h.sreclaim = pages(16<<20 + int64(r.IntN(32<<20)))
	h.sunreclaim = pages(8<<20 + int64(r.IntN(16<<20)))
	h.vmallocUsed = pages(8<<20 + int64(r.IntN(8<<20)))
	h.derivedMem()

	// disk
	h.diskTotal[0] = diskChoices[r.IntN(len(diskChoices))] / pageSize * pageSize
	h.diskReserved[0] = h.diskTotal[0] / 20
	h.diskUsed[0] = pages(int64(float64(h.diskTotal[0]) * (0.1 + 0.5*r.Float64())))
	h.inodesTotal[0] = h.diskTotal[0] / inodeRatio
	h.inodesUsed[0] = 60000 + int64(r.IntN(100000))
	h.diskTotal[1] = bootSizeB
	h.diskUsed[1] = pages(48<<20 + int64(r.IntN(16<<20)))
	// vfat has no inodes: df reports 0 of 0.

	// diskio: the root partition is busy, /boot almost idle.
	for d := 1; d < 3; d++ {
		scale := 1.0
		if blockDevices[d] == "mmcblk0p1" {
			scale = 0.001
		}
		h.readRate[d] = scale * (0.5 + 5*r.Float64())
		h.writeRate[d] = scale * (1 + 10*r.Float64())
		h.reads[d] = int64(scale * float64(10000+r.IntN(100000)))
		h.writes[d] = int64(scale * float64(10000+r.IntN(500000)))
		h.readBytes[d] = h.reads[d] * 8 * sectorSize * 4
		h.writeBytes[d] = h.writes[d] * 8 * sectorSize * 2
		h.readTime[d] = h.reads[d] * 2
		h.writeTime[d] = h.writes[d] * 6
		h.ioTime[d] = (h.readTime[d] + h.writeTime[d]) * 3 / 4
		h.weighted[d] = h.readTime[d] + h.writeTime[d]
		h.mergedReads[d] = h.reads[d] / 8
		h.mergedWrites[d] = h.writes[d] / 3
	}
	h.sumDiskIO()

	// net: eth0 carries the traffic, wlan0 only chatter.
	h.rxRate[0] = 2000 + 50000*r.Float64()
	h.txRate[0] = 1000 + 30000*r.Float64()
	h.rxRate[1] = 50 + 100*r.Float64()
	h.txRate[1] = 20 + 50*r.Float64()
	for n := range 2 {
		h.bytesRecv[n] = int64(h.rxRate[n] * 86400 * r.Float64())
		h.bytesSent[n] = int64(h.txRate[n] * 86400 * r.Float64())
		h.packetsRecv[n] = h.bytesRecv[n] / 600
		h.packetsTx[n] = h.bytesSent[n] / 400
	}

	// system: booted some days before the start.
	h.uptime = int64(3600 + r.IntN(30*86400))
	h.bootTime = start.Unix() - h.uptime
	h.load1 = busy * float64(h.cores)
	h.load5, h.load15 = h.load1, h.load1
	h.users = int64(r.IntN(3))

	h.procTotal = int64(150 + r.IntN(150))
	h.threads = h.procTotal*2 + int64(r.IntN(200))
	h.ctxtRate = 500 + 4000*r.Float64()
	h.ctxt = int64(h.ctxtRate * float64(h.uptime))
	h.intr = h.ctxt / 2
	h.forks = h.uptime / 10
	h.swapUsed = pages(int64(r.IntN(8 << 20)))
	return h
}

func pages(b int64) int64 { return b / pageSize * pageSize }

// walk moves v by a normal step of sigma, reflected into [lo, hi].
func (h *host) walk(v, sigma, lo, hi float64) float64 {
	v += h.rng.NormFloat64() * sigma
	if v < lo {
		v = lo + (lo - v)
	}
	if v > hi {
		v = hi - (v - hi)
	}
	return math.Min(math.Max(v, lo), hi)
}

// drift changes an integer gauge rarely (probability p) by up to ±step
// pages, keeping it within [lo, hi]: the mostly-constant fields of real
// machines.
func (h *host) drift(v int64, p float64, step, lo, hi int64) int64 {
	if h.rng.Float64() >= p {
		return v
	}
	v += (h.rng.Int64N(2*step+1) - step) / pageSize * pageSize
	return min(max(v, lo), hi)
}

// advance moves the host's state to report step.
func (h *host) advance(step int) {
	r := h.rng
	if step > 0 {
		h.uptime += 10
	}
	// cpu: jiffies per core for 10 s; idle takes the rest, so each row's
	// percentages sum to 100 as Telegraf's do.
	clear(h.cpuJif[0][:])
	h.cpuTotal[0] = 0
	for c := range h.cpuShare {
		s := &h.cpuShare[c]
		s[0] = h.walk(s[0], 0.02, 0.002, 0.85)
		s[1] = h.walk(s[1], 0.008, 0.001, 0.3)
		s[2] = h.walk(s[2], 0.0005, 0, 0.01)
		s[3] = h.walk(s[3], 0.003, 0, 0.1)
		s[4] = h.walk(s[4], 0.001, 0, 0.05)
		total := int64(10*userHZ) + int64(r.IntN(5)) - 2
		j := &h.cpuJif[c+1]
		rest := total
		for k := range cpuStates {
			j[k] = min(int64(s[k]*float64(total)+r.Float64()), rest)
			rest -= j[k]
		}
		j[cpuStates] = rest
		h.cpuTotal[c+1] = total
		for k := range j {
			h.cpuJif[0][k] += j[k]
		}
		h.cpuTotal[0] += total
	}
	busy := 1 - float64(h.cpuJif[0][cpuStates])/float64(h.cpuTotal[0])

	// mem
	h.usedF = h.walk(h.usedF, 0.004, 0.08, 0.85)
	h.cachedF = h.walk(h.cachedF, 0.002, 0.03, 0.5)
	h.buffF = h.walk(h.buffF, 0.0003, 0.005, 0.05)
	h.dirty = pages(int64(r.IntN(2 << 20)))
	h.pageTables = h.drift(h.pageTables, 0.1, 64<<10, 1<<20, 16<<20)
	h.shared = h.drift(h.shared, 0.05, 1<<20, 1<<20, 64<<20)
	h.sreclaim = h.drift(h.sreclaim, 0.2, 256<<10, 4<<20, 128<<20)
	h.sunreclaim = h.drift(h.sunreclaim, 0.1, 64<<10, 4<<20, 64<<20)
	h.vmallocUsed = h.drift(h.vmallocUsed, 0.01, 64<<10, 4<<20, 32<<20)
	h.derivedMem()

	// disk: / fills slowly (logs), with an occasional cleanup; /boot is
	// constant.
	h.diskUsed[0] += int64(r.IntN(6)) * pageSize
	if r.IntN(2000) == 0 {
		h.diskUsed[0] -= pages(int64(r.IntN(64 << 20)))
	}
	h.diskUsed[0] = min(max(h.diskUsed[0], h.diskTotal[0]/20), h.diskTotal[0]-h.diskReserved[0])
	if r.IntN(30) == 0 {
		h.inodesUsed[0] += int64(r.IntN(21)) - 8
	}

	// diskio: counters grow by a rate that walks.
	for d := 1; d < 3; d++ {
		scale := 1.0
		if d == 1 {
			scale = 0.001
		}
		h.readRate[d] = h.walk(h.readRate[d], 0.3*scale, 0, 50*scale)
		h.writeRate[d] = h.walk(h.writeRate[d], 0.5*scale, 0.1*scale, 80*scale)
		dr := poisson(r, h.readRate[d]*10)
		dw := poisson(r, h.writeRate[d]*10)
		h.reads[d] += dr
		h.writes[d] += dw
		h.readBytes[d] += dr * int64(8+r.IntN(56)) * sectorSize
		h.writeBytes[d] += dw * int64(8+r.IntN(24)) * sectorSize
		rt := dr * int64(1+r.IntN(3))
		wt := dw * int64(2+r.IntN(10))
		h.readTime[d] += rt
		h.writeTime[d] += wt
		h.ioTime[d] += min(rt+wt, 10000)
		h.weighted[d] += rt + wt + int64(r.IntN(5))
		h.mergedReads[d] += dr / 8
		h.mergedWrites[d] += dw / 3
		h.inProgress[d] = 0
		if d == 2 && r.IntN(50) == 0 {
			h.inProgress[d] = 1
		}
	}
	h.sumDiskIO()

	// net
	for n := range 2 {
		h.rxRate[n] = h.walk(h.rxRate[n], h.rxRate[n]*0.05+1, 10, 10e6)
		h.txRate[n] = h.walk(h.txRate[n], h.txRate[n]*0.05+1, 5, 10e6)
		rx := int64(h.rxRate[n] * (10 + r.Float64()))
		tx := int64(h.txRate[n] * (10 + r.Float64()))
		h.bytesRecv[n] += rx
		h.bytesSent[n] += tx
		h.packetsRecv[n] += rx/int64(300+r.IntN(900)) + 1
		h.packetsTx[n] += tx/int64(200+r.IntN(800)) + 1
		if r.IntN(500) == 0 {
			h.dropIn[n]++
		}
	}

	// system: load follows the cpu with /proc/loadavg's decay factors.
	target := busy*float64(h.cores) + math.Abs(r.NormFloat64())*0.2
	h.load1 += (target - h.load1) * (1 - math.Exp(-10.0/60))
	h.load5 += (h.load1 - h.load5) * (1 - math.Exp(-10.0/300))
	h.load15 += (h.load1 - h.load15) * (1 - math.Exp(-10.0/900))
	if r.IntN(1000) == 0 {
		h.users = int64(r.IntN(4))
	}

	// processes
	if r.IntN(4) == 0 {
		h.procTotal = min(max(h.procTotal+int64(r.IntN(7))-3, 120), 600)
		h.threads = min(max(h.threads+int64(r.IntN(15))-7, h.procTotal), 3000)
	}
	h.running = int64(r.IntN(h.cores/2 + 2))
	h.blocked = 0
	if r.IntN(20) == 0 {
		h.blocked = 1
	}
	if r.IntN(5000) == 0 {
		h.zombies = int64(r.IntN(2))
	}

	// kernel
	h.ctxtRate = h.walk(h.ctxtRate, 50, 200, 20000)
	h.ctxt += int64(h.ctxtRate*10) + int64(r.IntN(100))
	h.intr += int64(h.ctxtRate*5) + int64(r.IntN(100))
	h.forks += int64(r.IntN(20))

	// swap: mostly still; a page-in or page-out now and then.
	if r.IntN(200) == 0 {
		d := int64(r.IntN(64)) * pageSize
		if r.IntN(2) == 0 {
			h.swapOut += d
			h.swapUsed = min(h.swapUsed+d, swapTotalB)
		} else {
			h.swapIn += d
			h.swapUsed = max(h.swapUsed-d, 0)
		}
	}
}

// derivedMem sets the byte counts that follow from the walking shares.
func (h *host) derivedMem() {
	h.memUsed = pages(int64(h.usedF * float64(h.memTotal)))
	h.memCached = pages(int64(h.cachedF * float64(h.memTotal)))
	h.memBuf = pages(int64(h.buffF * float64(h.memTotal)))
	// Keep free positive: used + cached + buffers never reach total.
	if over := h.memUsed + h.memCached + h.memBuf - (h.memTotal - h.memTotal/50); over > 0 {
		h.memCached = max(h.memCached-over, 0)
	}
	h.active = pages(h.memUsed*3/5 + h.memCached/3)
	h.inactive = pages(h.memCached/2 + h.memUsed/5)
	h.committed = pages(h.memUsed*3/2 + h.shared)
	h.mapped = pages(h.memCached / 4)
}

// sumDiskIO makes the whole device's counters the sum of its partitions.
func (h *host) sumDiskIO() {
	h.reads[0] = h.reads[1] + h.reads[2]
	h.writes[0] = h.writes[1] + h.writes[2]
	h.readBytes[0] = h.readBytes[1] + h.readBytes[2]
	h.writeBytes[0] = h.writeBytes[1] + h.writeBytes[2]
	h.readTime[0] = h.readTime[1] + h.readTime[2]
	h.writeTime[0] = h.writeTime[1] + h.writeTime[2]
	h.ioTime[0] = max(h.ioTime[1], h.ioTime[2])
	h.weighted[0] = h.weighted[1] + h.weighted[2]
	h.mergedReads[0] = h.mergedReads[1] + h.mergedReads[2]
	h.mergedWrites[0] = h.mergedWrites[1] + h.mergedWrites[2]
	h.inProgress[0] = h.inProgress[1] + h.inProgress[2]
}

// poisson draws a Poisson-like count with the given mean: exact for
// small means, normal approximation above.
func poisson(r *rand.Rand, mean float64) int64 {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(int64(mean+r.NormFloat64()*math.Sqrt(mean)+0.5), 0)
	}
	l := math.Exp(-mean)
	var k int64
	for p := r.Float64(); p > l; p *= r.Float64() {
		k++
	}
	return k
}

func pct(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

// Field appenders: key carries the separator (",key=") so a line is a
// plain sequence of appends. Floats use the shortest form that reads back
// bit for bit, as lineproto.AppendFieldValue does.
// Zeros are frequent (idle counters, guest time) and skip the formatter.
func appendFloat(dst []byte, key string, v float64) []byte {
	dst = append(dst, key...)
	if v == 0 && !math.Signbit(v) {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

func appendInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	if v == 0 {
		return append(dst, '0', 'i')
	}
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, 'i')
}

// render appends the fields of series s, in alphabetical order (as SHOW
// FIELD KEYS lists them).
func (h *host) render(dst []byte, s *series) []byte {
	i := int(s.idx)
	switch s.kind {
	case kCPU:
		j, t := &h.cpuJif[i], h.cpuTotal[i]
		dst = appendFloat(dst, "usage_guest=", 0)
		dst = appendFloat(dst, ",usage_guest_nice=", 0)
		dst = appendFloat(dst, ",usage_idle=", pct(j[cpuStates], t))
		dst = appendFloat(dst, ",usage_iowait=", pct(j[3], t))
		dst = appendFloat(dst, ",usage_irq=", 0)
		dst = appendFloat(dst, ",usage_nice=", pct(j[2], t))
		dst = appendFloat(dst, ",usage_softirq=", pct(j[4], t))
		dst = appendFloat(dst, ",usage_steal=", 0)
		dst = appendFloat(dst, ",usage_system=", pct(j[1], t))
		dst = appendFloat(dst, ",usage_user=", pct(j[0], t))
	case kMem:
		free := h.memTotal - h.memUsed - h.memCached - h.memBuf
		avail := free + h.memCached*9/10 + h.memBuf + h.sreclaim/2
		avail = min(avail, h.memTotal)
		swapFree := swapTotalB - h.swapUsed
		dst = appendInt(dst, "active=", h.active)
		dst = appendInt(dst, ",available=", avail)
		dst = appendFloat(dst, ",available_percent=", pct(avail, h.memTotal))
		dst = appendInt(dst, ",buffered=", h.memBuf)
		dst = appendInt(dst, ",cached=", h.memCached)
		dst = appendInt(dst, ",commit_limit=", h.commitLimit)
		dst = appendInt(dst, ",committed_as=", h.committed)
		dst = appendInt(dst, ",dirty=", h.dirty)
		dst = appendInt(dst, ",free=", free)
		dst = appendInt(dst, ",high_free=", 0)
		dst = appendInt(dst, ",high_total=", 0)
		dst = appendInt(dst, ",huge_page_size=", 2<<20)
		dst = appendInt(dst, ",huge_pages_free=", 0)
		dst = appendInt(dst, ",huge_pages_total=", 0)
		dst = appendInt(dst, ",inactive=", h.inactive)
		dst = appendInt(dst, ",low_free=", 0)
		dst = appendInt(dst, ",low_total=", 0)
		dst = appendInt(dst, ",mapped=", h.mapped)
		dst = appendInt(dst, ",page_tables=", h.pageTables)
		dst = appendInt(dst, ",shared=", h.shared)
		dst = appendInt(dst, ",slab=", h.sreclaim+h.sunreclaim)
		dst = appendInt(dst, ",sreclaimable=", h.sreclaim)
		dst = appendInt(dst, ",sunreclaim=", h.sunreclaim)
		dst = appendInt(dst, ",swap_cached=", 0)
		dst = appendInt(dst, ",swap_free=", swapFree)
		dst = appendInt(dst, ",swap_total=", swapTotalB)
		dst = appendInt(dst, ",total=", h.memTotal)
		dst = appendInt(dst, ",used=", h.memUsed)
		dst = appendFloat(dst, ",used_percent=", pct(h.memUsed, h.memTotal))
		dst = appendInt(dst, ",vmalloc_chunk=", 0)
		dst = appendInt(dst, ",vmalloc_total=", 1<<30)
		dst = appendInt(dst, ",vmalloc_used=", h.vmallocUsed)
		dst = appendInt(dst, ",write_back=", 0)
		dst = appendInt(dst, ",write_back_tmp=", 0)
	case kDisk:
		used := h.diskUsed[i]
		free := h.diskTotal[i] - used - h.diskReserved[i]
		inFree := h.inodesTotal[i] - h.inodesUsed[i]
		dst = appendInt(dst, "free=", free)
		dst = appendInt(dst, ",inodes_free=", inFree)
		dst = appendInt(dst, ",inodes_total=", h.inodesTotal[i])
		dst = appendInt(dst, ",inodes_used=", h.inodesUsed[i])
		dst = appendFloat(dst, ",inodes_used_percent=", pct(h.inodesUsed[i], h.inodesTotal[i]))
		dst = appendInt(dst, ",total=", h.diskTotal[i])
		dst = appendInt(dst, ",used=", used)
		// Telegraf's used_percent is used/(used+free), like df.
		dst = appendFloat(dst, ",used_percent=", pct(used, used+free))
	case kDiskIO:
		dst = appendInt(dst, "io_time=", h.ioTime[i])
		dst = appendInt(dst, ",iops_in_progress=", h.inProgress[i])
		dst = appendInt(dst, ",merged_reads=", h.mergedReads[i])
		dst = appendInt(dst, ",merged_writes=", h.mergedWrites[i])
		dst = appendInt(dst, ",read_bytes=", h.readBytes[i])
		dst = appendInt(dst, ",read_time=", h.readTime[i])
		dst = appendInt(dst, ",reads=", h.reads[i])
		dst = appendInt(dst, ",weighted_io_time=", h.weighted[i])
		dst = appendInt(dst, ",write_bytes=", h.writeBytes[i])
		dst = appendInt(dst, ",write_time=", h.writeTime[i])
		dst = appendInt(dst, ",writes=", h.writes[i])
	case kNet:
		dst = appendInt(dst, "bytes_recv=", h.bytesRecv[i])
		dst = appendInt(dst, ",bytes_sent=", h.bytesSent[i])
		dst = appendInt(dst, ",drop_in=", h.dropIn[i])
		dst = appendInt(dst, ",drop_out=", 0)
		dst = appendInt(dst, ",err_in=", 0)
		dst = appendInt(dst, ",err_out=", 0)
		dst = appendInt(dst, ",packets_recv=", h.packetsRecv[i])
		dst = appendInt(dst, ",packets_sent=", h.packetsTx[i])
	case kSystem:
		// /proc/loadavg has two decimals.
		dst = appendFloat(dst, "load1=", math.Round(h.load1*100)/100)
		dst = appendFloat(dst, ",load15=", math.Round(h.load15*100)/100)
		dst = appendFloat(dst, ",load5=", math.Round(h.load5*100)/100)
		dst = appendInt(dst, ",n_cpus=", int64(h.cores))
		dst = appendInt(dst, ",n_users=", h.users)
	case kUptime:
		// Telegraf reports uptime as a separate counter point.
		dst = appendInt(dst, "uptime=", h.uptime)
	case kProcesses:
		idle := int64(kernelThreads)
		sleeping := h.procTotal - h.running - h.blocked - h.zombies - idle
		dst = appendInt(dst, "blocked=", h.blocked)
		dst = appendInt(dst, ",dead=", 0)
		dst = appendInt(dst, ",idle=", idle)
		dst = appendInt(dst, ",paging=", 0)
		dst = appendInt(dst, ",running=", h.running)
		dst = appendInt(dst, ",sleeping=", sleeping)
		dst = appendInt(dst, ",stopped=", 0)
		dst = appendInt(dst, ",total=", h.procTotal)
		dst = appendInt(dst, ",total_threads=", h.threads)
		dst = appendInt(dst, ",unknown=", 0)
		dst = appendInt(dst, ",zombies=", h.zombies)
	case kKernel:
		dst = appendInt(dst, "boot_time=", h.bootTime)
		dst = appendInt(dst, ",context_switches=", h.ctxt)
		dst = appendInt(dst, ",entropy_avail=", 256)
		dst = appendInt(dst, ",interrupts=", h.intr)
		dst = appendInt(dst, ",processes_forked=", h.forks)
	case kSwap:
		dst = appendInt(dst, "free=", swapTotalB-h.swapUsed)
		dst = appendInt(dst, ",total=", swapTotalB)
		dst = appendInt(dst, ",used=", h.swapUsed)
		dst = appendFloat(dst, ",used_percent=", pct(h.swapUsed, swapTotalB))
	case kSwapIO:
		// Telegraf's swap input reports in/out as a separate counter point.
		dst = appendInt(dst, "in=", h.swapIn)
		dst = appendInt(dst, ",out=", h.swapOut)
	}
	return dst
}
