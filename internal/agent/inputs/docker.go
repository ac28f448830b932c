package inputs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/herdmon/herd/internal/models"
)

// Docker reports Telegraf's docker measurements from the Docker Engine API
// on its unix socket: docker (the engine), and per running container
// docker_container_mem, docker_container_cpu (cpu-total and per cpu),
// docker_container_net (network=total), docker_container_blkio
// (device=total), docker_container_status and docker_container_health,
// tagged engine_host, server_version, container_name, container_image,
// container_version, container_status and the container's labels.
//
// Without a socket the input reports nothing and logs nothing; a socket
// that refuses (daemon down, no permission) is an error the agent logs.
type Docker struct {
	env     *Env
	socket  string
	timeout time.Duration
	client  *http.Client
	// prev holds each container's cpu counters of the previous collection:
	// stats are asked for with one-shot=true (fast, no second sample in the
	// daemon), so usage_percent is computed against our own last sample.
	prev map[string]dockerCPUSample
}

type dockerCPUSample struct{ total, system uint64 }

// dockerMaxBody bounds a Docker API response; stats of one container are
// a few KiB, a list of hundreds of containers well under this.
const dockerMaxBody = 8 << 20

// DefaultDockerTimeout bounds each API call, as Telegraf's timeout does.
const DefaultDockerTimeout = 5 * time.Second

// NewDocker returns the docker input for endpoint ("unix:///path", a bare
// path, or "" for HOST_RUN/docker.sock).
func NewDocker(env *Env, endpoint string, timeout time.Duration) *Docker {
	sock := strings.TrimPrefix(endpoint, "unix://")
	if sock == "" {
		sock = env.run("docker.sock")
	}
	if timeout <= 0 {
		timeout = DefaultDockerTimeout
	}
	d := &Docker{env: env, socket: sock, timeout: timeout, prev: map[string]dockerCPUSample{}}
	d.client = &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var dl net.Dialer
				return dl.DialContext(ctx, "unix", d.socket)
			},
			MaxIdleConns:      2,
			IdleConnTimeout:   30 * time.Second,
			DisableKeepAlives: false,
		},
	}
	return d
}

// Name implements Input.
func (d *Docker) Name() string { return "docker" }

func (d *Docker) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("docker socket %s: %w", d.socket, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, dockerMaxBody)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return fmt.Errorf("docker GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("docker GET %s: decode: %w", path, err)
	}
	return nil
}

type dockerInfo struct {
	Name              string
	ServerVersion     string
	NCPU              int64
	NFd               int64
	Containers        int64
	ContainersRunning int64
	ContainersStopped int64
	ContainersPaused  int64
	Images            int64
	NGoroutines       int64
	NEventsListener   int64
	MemTotal          int64
}

type dockerContainer struct {
	ID     string `json:"Id"`
	Names  []string
	Image  string
	Labels map[string]string
}

type dockerCPUStats struct {
	CPUUsage struct {
		TotalUsage        uint64   `json:"total_usage"`
		PercpuUsage       []uint64 `json:"percpu_usage"`
		UsageInKernelmode uint64   `json:"usage_in_kernelmode"`
		UsageInUsermode   uint64   `json:"usage_in_usermode"`
	} `json:"cpu_usage"`
	SystemUsage    uint64 `json:"system_cpu_usage"`
	OnlineCPUs     uint32 `json:"online_cpus"`
	ThrottlingData struct {
		Periods          uint64 `json:"periods"`
		ThrottledPeriods uint64 `json:"throttled_periods"`
		ThrottledTime    uint64 `json:"throttled_time"`
	} `json:"throttling_data"`
}

type dockerBlkioEntry struct {
	Major uint64 `json:"major"`
	Minor uint64 `json:"minor"`
	Op    string `json:"op"`
	Value uint64 `json:"value"`
}

type dockerStats struct {
	CPUStats    dockerCPUStats `json:"cpu_stats"`
	PreCPUStats dockerCPUStats `json:"precpu_stats"`
	MemoryStats struct {
		Usage    uint64            `json:"usage"`
		MaxUsage uint64            `json:"max_usage"`
		Stats    map[string]uint64 `json:"stats"`
		Failcnt  uint64            `json:"failcnt"`
		Limit    uint64            `json:"limit"`
	} `json:"memory_stats"`
	Networks map[string]struct {
		RxBytes   uint64 `json:"rx_bytes"`
		RxPackets uint64 `json:"rx_packets"`
		RxErrors  uint64 `json:"rx_errors"`
		RxDropped uint64 `json:"rx_dropped"`
		TxBytes   uint64 `json:"tx_bytes"`
		TxPackets uint64 `json:"tx_packets"`
		TxErrors  uint64 `json:"tx_errors"`
		TxDropped uint64 `json:"tx_dropped"`
	} `json:"networks"`
	BlkioStats struct {
		IoServiceBytesRecursive []dockerBlkioEntry `json:"io_service_bytes_recursive"`
		IoServicedRecursive     []dockerBlkioEntry `json:"io_serviced_recursive"`
	} `json:"blkio_stats"`
}

type dockerInspect struct {
	State *struct {
		Status     string
		OOMKilled  bool
		Pid        int64
		ExitCode   int64
		StartedAt  string
		FinishedAt string
		Health     *struct {
			Status        string
			FailingStreak int64
		}
	}
}

// dockerMemStats are the memory_stats.stats keys Telegraf copies.
var dockerMemStats = []string{
	"active_anon", "active_file", "cache", "hierarchical_memory_limit", "inactive_anon", "inactive_file",
	"mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss", "rss_huge", "total_active_anon",
	"total_active_file", "total_cache", "total_inactive_anon", "total_inactive_file", "total_mapped_file",
	"total_pgfault", "total_pgmajfault", "total_pgpgin", "total_pgpgout", "total_rss", "total_rss_huge",
	"total_unevictable", "total_writeback", "unevictable", "writeback",
}

// Gather implements Input.
func (d *Docker) Gather(ctx context.Context, acc *Accumulator) error {
	if _, err := os.Stat(d.socket); errors.Is(err, fs.ErrNotExist) {
		return nil // no Docker on this host: stay quiet
	}
	defer d.client.CloseIdleConnections()
	var info dockerInfo
	if err := d.get(ctx, "/info", &info); err != nil {
		return err
	}
	engine := models.Tags{{Key: "engine_host", Value: info.Name}, {Key: "server_version", Value: info.ServerVersion}}
	acc.Add("docker", engine, []models.Field{
		models.IntegerField("n_cpus", info.NCPU),
		models.IntegerField("n_used_file_descriptors", info.NFd),
		models.IntegerField("n_containers", info.Containers),
		models.IntegerField("n_containers_running", info.ContainersRunning),
		models.IntegerField("n_containers_stopped", info.ContainersStopped),
		models.IntegerField("n_containers_paused", info.ContainersPaused),
		models.IntegerField("n_images", info.Images),
		models.IntegerField("n_goroutines", info.NGoroutines),
		models.IntegerField("n_listener_events", info.NEventsListener),
		models.IntegerField("memory_total", info.MemTotal),
	})

	var list []dockerContainer
	if err := d.get(ctx, "/containers/json", &list); err != nil {
		return err
	}
	seen := make(map[string]bool, len(list))
	var errs []error
	for _, c := range list {
		seen[c.ID] = true
		if err := d.gatherContainer(ctx, acc, &info, &c); err != nil {
			errs = append(errs, err)
		}
	}
	for id := range d.prev {
		if !seen[id] {
			delete(d.prev, id)
		}
	}
	return errors.Join(errs...)
}

// parseImage splits an image reference into name and version as
// Telegraf's docker input does: "unknown" when there is no tag, and a
// registry host's port is not taken for a tag.
func parseImage(image string) (name, version string) {
	domain, rest := "", image
	if i := strings.IndexByte(image, '/'); i >= 0 && (strings.ContainsAny(image[:i], ".:") || image[:i] == "localhost") {
		domain, rest = image[:i], image[i+1:]
	}
	version = "unknown"
	name = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		name, version = rest[:i], rest[i+1:]
	}
	if domain != "" {
		name = domain + "/" + name
	}
	return name, version
}

func (d *Docker) gatherContainer(ctx context.Context, acc *Accumulator, info *dockerInfo, c *dockerContainer) error {
	cname := ""
	for _, n := range c.Names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			cname = n
			break
		}
	}
	if cname == "" {
		return nil
	}
	id := url.PathEscape(c.ID)
	var st dockerStats
	if err := d.get(ctx, "/containers/"+id+"/stats?stream=false&one-shot=true", &st); err != nil {
		return err
	}
	var ins dockerInspect
	if err := d.get(ctx, "/containers/"+id+"/json", &ins); err != nil {
		return err
	}
	img, ver := parseImage(c.Image)
	tags := models.Tags{
		{Key: "engine_host", Value: info.Name},
		{Key: "server_version", Value: info.ServerVersion},
		{Key: "container_name", Value: cname},
		{Key: "container_image", Value: img},
		{Key: "container_version", Value: ver},
	}
	for k, v := range c.Labels {
		switch k {
		case "host", "engine_host", "server_version", "container_name", "container_image", "container_version", "container_status", "cpu", "network", "device":
			continue // a label must not shadow the tags above
		}
		tags = append(tags, models.Tag{Key: k, Value: v})
	}
	with := func(extra ...models.Tag) models.Tags {
		t := make(models.Tags, 0, len(tags)+len(extra))
		return append(append(t, tags...), extra...)
	}
	cid := models.StringField("container_id", c.ID)

	if s := ins.State; s != nil {
		tags = append(tags, models.Tag{Key: "container_status", Value: s.Status})
		fields := []models.Field{
			models.BooleanField("oomkilled", s.OOMKilled),
			models.IntegerField("pid", s.Pid),
			models.IntegerField("exitcode", s.ExitCode),
			cid,
		}
		finished, err := time.Parse(time.RFC3339Nano, s.FinishedAt)
		if err == nil && !finished.IsZero() && finished.Unix() > 0 {
			fields = append(fields, models.IntegerField("finished_at", finished.UnixNano()))
		} else {
			finished = acc.Time
		}
		if started, err := time.Parse(time.RFC3339Nano, s.StartedAt); err == nil && !started.IsZero() && started.Unix() > 0 {
			fields = append(fields, models.IntegerField("started_at", started.UnixNano()))
			up := finished.Sub(started)
			if finished.Before(started) {
				up = acc.Time.Sub(started)
			}
			fields = append(fields, models.IntegerField("uptime_ns", up.Nanoseconds()))
		}
		acc.Add("docker_container_status", with(), fields)
		if h := s.Health; h != nil {
			acc.Add("docker_container_health", with(), []models.Field{
				models.StringField("health_status", h.Status),
				models.IntegerField("failing_streak", h.FailingStreak),
			})
		}
	}

	// Memory, with docker CLI's usage: cache (v1) or inactive_file (v2)
	// excluded.
	ms := &st.MemoryStats
	mem := []models.Field{cid}
	for _, k := range dockerMemStats {
		if v, ok := ms.Stats[k]; ok {
			mem = append(mem, intField(k, v))
		}
	}
	if ms.Failcnt != 0 {
		mem = append(mem, intField("fail_count", ms.Failcnt))
	}
	usage := ms.Usage
	if v, ok := ms.Stats["cache"]; ok && v < usage {
		usage -= v
	} else if v, ok := ms.Stats["total_inactive_file"]; ok && v < usage {
		usage -= v
	} else if v := ms.Stats["inactive_file"]; v < usage {
		usage -= v
	}
	pct := 0.0
	if ms.Limit != 0 {
		pct = 100 * float64(usage) / float64(ms.Limit)
	}
	mem = append(mem, intField("limit", ms.Limit), intField("max_usage", ms.MaxUsage), intField("usage", usage), floatField("usage_percent", pct))
	acc.Add("docker_container_mem", with(), mem)

	cs := &st.CPUStats
	cpu := []models.Field{
		intField("usage_total", cs.CPUUsage.TotalUsage),
		intField("usage_in_usermode", cs.CPUUsage.UsageInUsermode),
		intField("usage_in_kernelmode", cs.CPUUsage.UsageInKernelmode),
		intField("usage_system", cs.SystemUsage),
		intField("throttling_periods", cs.ThrottlingData.Periods),
		intField("throttling_throttled_periods", cs.ThrottlingData.ThrottledPeriods),
		intField("throttling_throttled_time", cs.ThrottlingData.ThrottledTime),
		cid,
	}
	prev, ok := d.prev[c.ID]
	if !ok && st.PreCPUStats.SystemUsage != 0 {
		prev, ok = dockerCPUSample{st.PreCPUStats.CPUUsage.TotalUsage, st.PreCPUStats.SystemUsage}, true
	}
	if ok {
		cpu = append(cpu, floatField("usage_percent", dockerCPUPercent(prev, cs)))
	}
	d.prev[c.ID] = dockerCPUSample{cs.CPUUsage.TotalUsage, cs.SystemUsage}
	acc.Add("docker_container_cpu", with(models.Tag{Key: "cpu", Value: "cpu-total"}), cpu)
	percpu := cs.CPUUsage.PercpuUsage
	if cs.OnlineCPUs > 0 && int(cs.OnlineCPUs) < len(percpu) {
		percpu = percpu[:cs.OnlineCPUs]
	}
	for i, v := range percpu {
		acc.Add("docker_container_cpu", with(models.Tag{Key: "cpu", Value: "cpu" + strconv.Itoa(i)}),
			[]models.Field{intField("usage_total", v), cid})
	}

	if len(st.Networks) > 0 {
		var rxB, rxP, rxE, rxD, txB, txP, txE, txD uint64
		for _, n := range st.Networks {
			rxB += n.RxBytes
			rxP += n.RxPackets
			rxE += n.RxErrors
			rxD += n.RxDropped
			txB += n.TxBytes
			txP += n.TxPackets
			txE += n.TxErrors
			txD += n.TxDropped
		}
		acc.Add("docker_container_net", with(models.Tag{Key: "network", Value: "total"}), []models.Field{
			intField("rx_dropped", rxD), intField("rx_bytes", rxB), intField("rx_errors", rxE), intField("tx_packets", txP),
			intField("tx_dropped", txD), intField("rx_packets", rxP), intField("tx_errors", txE), intField("tx_bytes", txB), cid,
		})
	}

	sums := map[string]uint64{}
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		sums["io_service_bytes_recursive_"+strings.ToLower(e.Op)] += e.Value
	}
	for _, e := range st.BlkioStats.IoServicedRecursive {
		sums["io_serviced_recursive_"+strings.ToLower(e.Op)] += e.Value
	}
	blk := []models.Field{cid}
	for k, v := range sums {
		blk = append(blk, intField(k, v))
	}
	acc.Add("docker_container_blkio", with(models.Tag{Key: "device", Value: "total"}), blk)
	return nil
}

// dockerCPUPercent is docker CLI's (and Telegraf's) calculation: the
// container's share of the host's cpu time, times the number of cpus.
func dockerCPUPercent(prev dockerCPUSample, cs *dockerCPUStats) float64 {
	cpuDelta := float64(cs.CPUUsage.TotalUsage) - float64(prev.total)
	sysDelta := float64(cs.SystemUsage) - float64(prev.system)
	online := float64(cs.OnlineCPUs)
	if online == 0 {
		online = float64(len(cs.CPUUsage.PercpuUsage))
	}
	if sysDelta > 0 && cpuDelta > 0 {
		return cpuDelta / sysDelta * online * 100
	}
	return 0
}
