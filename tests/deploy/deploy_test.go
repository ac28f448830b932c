// Package deploy_test runs `herd deploy` against real OpenSSH servers on
// loopback addresses. Each test host has its own root directory (the
// herd_root inventory variable) and a stub systemctl on its PATH that
// really starts the herd processes, so the deployed agents' points
// really reach the deployed server.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/deploy/sshdtest"
	"golang.org/x/crypto/ssh"
)

// herdBin is the herd binary under test, built once by TestMain; it
// both runs `herd deploy` and is what gets deployed.
var herdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herd-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	herdBin = filepath.Join(dir, "herd")
	cmd := exec.Command("go", "build", "-o", herdBin, "../../cmd/herd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build herd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stubSystemctl stands in for systemd on a test host: it runs a unit's
// ExecStart in the background (really starting herd), records enabled
// units and every start, and stops processes by their pid files.
const stubSystemctl = `#!/bin/sh
R=__ROOT__
S=$R/stub
mkdir -p $S/enabled $S/pids
echo "$*" >> $S/calls
cmd=$1 unit=$2
[ "$unit" = --now ] && unit=$3
pidf=$S/pids/$unit
alive() { [ -f $pidf ] && kill -0 $(cat $pidf) 2>/dev/null; }
stop() {
	if alive; then
		pid=$(cat $pidf); kill $pid
		i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
	fi
	rm -f $pidf
}
start() {
	line=$(sed -n 's/^ExecStart=//p' $R/etc/systemd/system/$unit)
	[ -n "$line" ] || { echo "Unit $unit not found." >&2; exit 5; }
	setsid sh -c "exec $line" >> $S/$unit.log 2>&1 < /dev/null &
	echo $! > $pidf
	echo $unit >> $S/starts
}
case $cmd in
daemon-reload) ;;
enable) touch $S/enabled/$unit ;;
disable)
	shift; now=
	[ "$1" = --now ] && { now=1; shift; }
	for unit in "$@"; do pidf=$S/pids/$unit; [ -n "$now" ] && stop; rm -f $S/enabled/$unit; done ;;
is-enabled) if [ -f $S/enabled/$unit ]; then echo enabled; else echo disabled; exit 1; fi ;;
is-active) if alive; then echo active; else echo inactive; exit 3; fi ;;
start) alive || start ;;
restart) stop; start ;;
stop) stop ;;
*) echo "stub systemctl: unsupported $cmd" >&2; exit 1 ;;
esac
`

// stubUname reports the architecture in $R/stub/arch when that file
// exists (to test a host whose binary is missing), else the real one.
const stubUname = `#!/bin/sh
if [ "$1" = -m ] && [ -f __ROOT__/stub/arch ]; then cat __ROOT__/stub/arch; exit 0; fi
exec /bin/uname "$@"
`

// stubID and stubSudo let a root login pretend to be another user
// (when $R/stub/nonroot exists) so that the sudo path runs: every
// command must then come through sudo -n. With $R/stub/sudo-password,
// sudo wants a password, as an unconfigured sudo does.
const stubID = `#!/bin/sh
if [ "$*" = -u ] && [ -f __ROOT__/stub/nonroot ] && [ -z "$HERD_STUB_SUDO" ]; then echo 1000; exit 0; fi
exec /usr/bin/id "$@"
`

const stubSudo = `#!/bin/sh
[ "$1" = -n ] || { echo "stub sudo: want -n" >&2; exit 1; }
shift
if [ -f __ROOT__/stub/sudo-password ]; then echo "sudo: a password is required" >&2; exit 1; fi
echo "$*" >> __ROOT__/stub/sudo-calls
HERD_STUB_SUDO=1 exec "$@"
`

type testHost struct {
	name string
	root string
	sshd *sshdtest.Server
}

type cluster struct {
	t        *testing.T
	dir      string
	home     string
	binDir   string
	hosts    []*testHost
	httpAddr string
	extra    string // more inventory lines
	yaml     bool   // write the inventory in YAML
	// nw, when network namespaces work here, gives every host its own
	// namespace (address, port 22); nil: sshd on loopback ports.
	nw   *sshdtest.Net
	vars map[string]map[string]string
}

// loopbackNet is the 127.x.y.0/24 the test hosts live in; a per-process
// choice keeps parallel test runs from colliding.
func loopbackNet() string {
	return fmt.Sprintf("127.%d.%d.", 10+os.Getpid()%200, os.Getpid()/200%250+1)
}

func newCluster(t *testing.T, names ...string) *cluster {
	t.Helper()
	if !sshdtest.Available() {
		t.Skip("needs root and " + sshdtest.SSHD + " (Debian openssh-server; make test-deps installs it)")
	}
	c := &cluster{t: t, dir: t.TempDir(), vars: map[string]map[string]string{}}
	c.home = filepath.Join(c.dir, "home")
	c.binDir = filepath.Join(c.dir, "dist")
	for _, d := range []string{filepath.Join(c.home, ".ssh"), c.binDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, herdBin, filepath.Join(c.binDir, "herd-linux-amd64"))
	key := sshdtest.NewKey(t, filepath.Join(c.home, ".ssh"), "id_ed25519")
	prefix := loopbackNet()
	if os.Getenv("HERD_DEPLOY_LOOPBACK") == "" && sshdtest.NetAvailable() {
		c.nw = sshdtest.NewNet(t, len(names))
	}
	for i, name := range names {
		h := &testHost{name: name, root: filepath.Join(c.dir, "hosts", name)}
		stub := filepath.Join(h.root, "stub", "bin")
		for _, d := range []string{stub, filepath.Join(h.root, "run", "systemd", "system"), filepath.Join(h.root, "etc")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(stub, "systemctl"), strings.ReplaceAll(stubSystemctl, "__ROOT__", h.root), 0o755)
		writeFile(t, filepath.Join(stub, "uname"), strings.ReplaceAll(stubUname, "__ROOT__", h.root), 0o755)
		writeFile(t, filepath.Join(stub, "id"), strings.ReplaceAll(stubID, "__ROOT__", h.root), 0o755)
		writeFile(t, filepath.Join(stub, "sudo"), strings.ReplaceAll(stubSudo, "__ROOT__", h.root), 0o755)
		writeFile(t, filepath.Join(h.root, "etc", "hosts"), "127.0.0.1 localhost\n", 0o644)
		opts := sshdtest.Options{
			IP:        prefix + strconv.Itoa(i+1),
			ClientKey: key.Public,
			Path:      stub + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		}
		if c.nw != nil {
			opts.IP, opts.Port, opts.Netns, opts.Dial = c.nw.HostIP(i+1), 22, c.nw.HostNS(i+1), c.nw.Dial
		}
		h.sshd = sshdtest.Start(t, opts)
		t.Cleanup(func() { killHerd(h.root) })
		c.hosts = append(c.hosts, h)
	}
	if c.nw != nil {
		// The server host has a namespace of its own: InfluxDB's port is free.
		c.httpAddr = c.hosts[0].sshd.IP + ":8086"
		t.Logf("test hosts in network namespaces %s.. (%s)", c.nw.ControlNS(), c.hosts[0].sshd.IP)
		return c
	}
	l, err := net.Listen("tcp", c.hosts[0].sshd.IP+":0")
	if err != nil {
		t.Fatal(err)
	}
	c.httpAddr = l.Addr().String()
	l.Close()
	return c
}

// killHerd stops every herd process a test host's stub started.
func killHerd(root string) {
	pids, _ := filepath.Glob(filepath.Join(root, "stub", "pids", "*"))
	more, _ := filepath.Glob(filepath.Join(root, "var", "lib", "herd", "run", "*.pid"))
	for _, p := range append(pids, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			// Each was started with setsid: its process group is its pid,
			// and holds the supervisor's herd child too.
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (c *cluster) host(name string) *testHost {
	for _, h := range c.hosts {
		if h.name == name {
			return h
		}
	}
	c.t.Fatalf("no host %s", name)
	return nil
}

// inventory writes the seed inventory with the names mapped to the test
// hosts through ansible_host and ansible_port.
func (c *cluster) inventory() string {
	if c.yaml {
		return c.yamlInventory()
	}
	var b strings.Builder
	line := func(name string) {
		h := c.host(name)
		fmt.Fprintf(&b, "%s ansible_host=%s ansible_port=%d ansible_user=root herd_root=%s", name, h.sshd.IP, h.sshd.Port, h.root)
		for k, v := range c.vars[name] {
			fmt.Fprintf(&b, " %s=%s", k, v)
		}
		b.WriteString("\n")
	}
	b.WriteString("[cluster-head]\n")
	line(c.hosts[0].name)
	b.WriteString("[cluster-workers]\n")
	for _, h := range c.hosts[1:] {
		line(h.name)
	}
	b.WriteString(c.extra)
	fmt.Fprintf(&b, `[pi-cluster:children]
cluster-head
cluster-workers
[telegraf:children]
pi-cluster
[all:vars]
herd_user=root
herd_agent_interval=1s
[cluster-head:vars]
herd_http_addr=%s
`, c.httpAddr)
	p := filepath.Join(c.dir, "inventory.ini")
	writeFile(c.t, p, b.String(), 0o644)
	return p
}

// yamlInventory is the same inventory in Ansible's YAML format.
func (c *cluster) yamlInventory() string {
	var b strings.Builder
	hostBlock := func(name string) {
		h := c.host(name)
		fmt.Fprintf(&b, "        %s:\n          ansible_host: %s\n          ansible_port: %d\n          ansible_user: root\n          herd_root: \"%s\"\n", name, h.sshd.IP, h.sshd.Port, h.root)
		for k, v := range c.vars[name] {
			fmt.Fprintf(&b, "          %s: %s\n", k, v)
		}
	}
	b.WriteString("# the seed inventory, in YAML\nall:\n  vars:\n    herd_user: root\n    herd_agent_interval: 1s\n  children:\n")
	fmt.Fprintf(&b, "    cluster-head:\n      vars:\n        herd_http_addr: '%s'\n      hosts:\n", c.httpAddr)
	hostBlock(c.hosts[0].name)
	b.WriteString("    cluster-workers:\n      hosts:\n")
	for _, h := range c.hosts[1:] {
		hostBlock(h.name)
	}
	b.WriteString("    pi-cluster:\n      children:\n        cluster-head:\n        cluster-workers:\n")
	b.WriteString("    telegraf:\n      children:\n        pi-cluster: {}\n")
	p := filepath.Join(c.dir, "inventory.yml")
	writeFile(c.t, p, b.String(), 0o644)
	return p
}

type result struct {
	code    int
	out     string
	elapsed time.Duration
}

// recapLine returns host's PLAY RECAP numbers.
func (r result) recap(t *testing.T, host string) (ok, changed, unreachable, failed int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(host) + `\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)
	m := re.FindStringSubmatch(r.out)
	if m == nil {
		t.Fatalf("no recap line for %s in:\n%s", host, r.out)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return n(m[1]), n(m[2]), n(m[3]), n(m[4])
}

func (c *cluster) deploy(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"deploy", "-i", c.inventory(), "--bin-dir", c.binDir, "--verify-timeout", "30s"}, args...)
	cmd := exec.CommandContext(ctx, herdBin, full...)
	if c.nw != nil {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.nw.ControlNS(), herdBin}, full...)...)
	}
	cmd.Env = []string{"HOME=" + c.home, "USER=root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	r := result{out: out.String(), elapsed: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("herd deploy: %v\n%s", err, r.out)
	}
	c.t.Logf("herd %s: exit %d in %s\n%s", strings.Join(args, " "), r.code, r.elapsed.Round(time.Millisecond), r.out)
	return r
}

// starts is how often the stub started each unit on host.
func (h *testHost) starts() map[string]int {
	data, _ := os.ReadFile(filepath.Join(h.root, "stub", "starts"))
	out := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		out[l]++
	}
	return out
}

func (h *testHost) exists(p string) bool {
	_, err := os.Stat(filepath.Join(h.root, p))
	return err == nil
}

// points asks the deployed server for host's herd_agent points.
func (c *cluster) points(t *testing.T, host string) int64 {
	t.Helper()
	q := fmt.Sprintf("SELECT count(cycles) FROM herd_agent WHERE host = '%s'", host)
	client := http.DefaultClient
	if c.nw != nil {
		client = &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return c.nw.Dial(network, addr)
		}}}
	}
	resp, err := client.Get("http://" + c.httpAddr + "/query?" + url.Values{"db": {"telegraf"}, "q": {q}}.Encode())
	if err != nil {
		t.Fatalf("query server: %v", err)
	}
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Results) == 0 || len(r.Results[0].Series) == 0 {
		return 0
	}
	n, _ := r.Results[0].Series[0].Values[0][1].(float64)
	return int64(n)
}

func TestDeploy(t *testing.T) {
	c := newCluster(t, "whitemage", "blackmage", "paladin")
	wm, bm, pa := c.host("whitemage"), c.host("blackmage"), c.host("paladin")
	// paladin's login is not root: everything goes through sudo.
	writeFile(t, filepath.Join(pa.root, "stub", "nonroot"), "", 0o644)

	// Host keys never seen: refused, with each fingerprint and the flag.
	r := c.deploy()
	if r.code != 1 {
		t.Fatalf("unknown host keys: exit %d, want 1", r.code)
	}
	for _, h := range c.hosts {
		fp := ssh.FingerprintSHA256(h.sshd.HostKey.Public)
		if !strings.Contains(r.out, fp) {
			t.Errorf("output lacks %s's fingerprint %s", h.name, fp)
		}
		if _, _, unreachable, _ := r.recap(t, h.name); unreachable != 1 {
			t.Errorf("%s: want unreachable", h.name)
		}
	}
	if !strings.Contains(r.out, "--accept-new-host-keys") {
		t.Error("output does not name --accept-new-host-keys")
	}

	// --check with the keys accepted: says what it would do, does nothing.
	r = c.deploy("--check", "--accept-new-host-keys")
	if r.code != 0 {
		t.Fatalf("check: exit %d", r.code)
	}
	if _, changed, _, _ := r.recap(t, "whitemage"); changed == 0 || !strings.Contains(r.out, "would change") {
		t.Errorf("check reports no changes")
	}
	for _, h := range c.hosts {
		if h.exists("usr/local/bin/herd") || h.exists("etc/herd") || len(h.starts()) > 0 {
			t.Errorf("%s: --check changed something", h.name)
		}
	}

	// First deploy: the keys are known now, no flag needed.
	r = c.deploy()
	if r.code != 0 {
		t.Fatalf("first deploy: exit %d", r.code)
	}
	t.Logf("MEASURE first deploy of 3 hosts: %s", r.elapsed.Round(time.Millisecond))
	for _, h := range c.hosts {
		if _, changed, _, failed := r.recap(t, h.name); changed == 0 || failed != 0 {
			t.Errorf("%s: changed=%d failed=%d", h.name, changed, failed)
		}
		if !strings.Contains(r.out, "points from host="+h.name) {
			t.Errorf("%s: no verification line", h.name)
		}
		if n := c.points(t, h.name); n == 0 {
			t.Errorf("%s: no points on the server", h.name)
		}
		for _, f := range []string{"usr/local/bin/herd", "etc/herd/agent.toml", "etc/systemd/system/herd-agent.service", "stub/enabled/herd-agent.service"} {
			if !h.exists(f) {
				t.Errorf("%s: %s missing", h.name, f)
			}
		}
	}
	if calls, _ := os.ReadFile(filepath.Join(pa.root, "stub", "sudo-calls")); !strings.Contains(string(calls), "sh -c") {
		t.Errorf("paladin: nothing ran through sudo: %q", calls)
	}
	if _, err := os.Stat(filepath.Join(bm.root, "stub", "sudo-calls")); err == nil {
		t.Error("blackmage logs in as root but used sudo")
	}
	if !wm.exists("etc/herd/server.toml") || bm.exists("etc/herd/server.toml") {
		t.Error("server config on the wrong hosts")
	}
	unit, _ := os.ReadFile(filepath.Join(wm.root, "etc/systemd/system/herd-server.service"))
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	startsBefore := map[string]map[string]int{}
	for _, h := range c.hosts {
		startsBefore[h.name] = h.starts()
	}

	// Second run: nothing changes, nothing restarts.
	r = c.deploy()
	t.Logf("MEASURE no-change rerun of 3 hosts: %s", r.elapsed.Round(time.Millisecond))
	if r.code != 0 {
		t.Fatalf("rerun: exit %d", r.code)
	}
	for _, h := range c.hosts {
		if _, changed, _, _ := r.recap(t, h.name); changed != 0 {
			t.Errorf("%s: rerun changed %d", h.name, changed)
		}
		if fmt.Sprint(h.starts()) != fmt.Sprint(startsBefore[h.name]) {
			t.Errorf("%s: rerun restarted: %v -> %v", h.name, startsBefore[h.name], h.starts())
		}
	}

	// A config change on one host restarts only that host's agent.
	c.vars["paladin"] = map[string]string{"herd_agent_interval": "2s"}
	r = c.deploy()
	if r.code != 0 {
		t.Fatalf("config change: exit %d", r.code)
	}
	if _, changed, _, _ := r.recap(t, "paladin"); changed != 2 { // config + restart
		t.Errorf("paladin: changed=%d, want 2", changed)
	}
	if got := pa.starts()["herd-agent.service"]; got != startsBefore["paladin"]["herd-agent.service"]+1 {
		t.Errorf("paladin agent starts = %d", got)
	}
	for _, h := range []*testHost{wm, bm} {
		if fmt.Sprint(h.starts()) != fmt.Sprint(startsBefore[h.name]) {
			t.Errorf("%s restarted for paladin's change", h.name)
		}
	}

	// A new binary is uploaded everywhere and every service restarts.
	f, err := os.OpenFile(filepath.Join(c.binDir, "herd-linux-amd64"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a new build"))
	f.Close()
	r = c.deploy()
	if r.code != 0 {
		t.Fatalf("new binary: exit %d", r.code)
	}
	if got := wm.starts(); got["herd-server.service"] != 2 || got["herd-agent.service"] != 2 {
		t.Errorf("whitemage starts after new binary = %v", got)
	}
	if !strings.Contains(r.out, "changed:      [blackmage] binary") {
		t.Errorf("no binary upload reported for blackmage")
	}

	// A host whose architecture has no binary fails clearly, so does a
	// non-root login whose sudo wants a password; the others are
	// unaffected.
	writeFile(t, filepath.Join(pa.root, "stub", "arch"), "aarch64\n", 0o644)
	writeFile(t, filepath.Join(bm.root, "stub", "nonroot"), "", 0o644)
	writeFile(t, filepath.Join(bm.root, "stub", "sudo-password"), "", 0o644)
	r = c.deploy()
	for _, f := range []string{filepath.Join(pa.root, "stub", "arch"), filepath.Join(bm.root, "stub", "nonroot"), filepath.Join(bm.root, "stub", "sudo-password")} {
		os.Remove(f)
	}
	if r.code != 1 || !strings.Contains(r.out, "herd-linux-arm64 is missing") {
		t.Errorf("missing arm64 binary: exit %d", r.code)
	}
	if !strings.Contains(r.out, "sudo asks for a password") || !strings.Contains(r.out, "NOPASSWD") {
		t.Errorf("sudo with a password: no hint")
	}
	for host, want := range map[string]int{"paladin": 1, "blackmage": 1, "whitemage": 0} {
		if _, _, _, failed := r.recap(t, host); failed != want {
			t.Errorf("%s: failed=%d, want %d", host, failed, want)
		}
	}

	// A changed host key is refused, even with --accept-new-host-keys;
	// an unreachable host is reported while the others succeed.
	oldKey := bm.sshd.HostKey
	newKey := sshdtest.NewKey(t, c.dir, "new_host_key")
	bm.sshd.Restart(&newKey)
	c.extra = fmt.Sprintf("machinist ansible_host=%s ansible_port=1 ansible_user=root\n", bm.sshd.IP)
	r = c.deploy("--accept-new-host-keys", "--agents", "pi-cluster")
	c.extra = ""
	if r.code != 1 {
		t.Errorf("changed key + unreachable: exit %d, want 1", r.code)
	}
	if !strings.Contains(r.out, "HOST KEY CHANGED") || !strings.Contains(r.out, ssh.FingerprintSHA256(newKey.Public)) {
		t.Errorf("changed host key not reported")
	}
	for host, want := range map[string][2]int{"blackmage": {1, 0}, "machinist": {1, 0}, "whitemage": {0, 0}, "paladin": {0, 0}} {
		if _, _, unreachable, failed := r.recap(t, host); unreachable != want[0] || failed != want[1] {
			t.Errorf("%s: unreachable=%d failed=%d, want %v", host, unreachable, failed, want)
		}
	}
	bm.sshd.Restart(&oldKey)

	// Uninstall removes everything and stops every process.
	r = c.deploy("--uninstall")
	if r.code != 0 {
		t.Fatalf("uninstall: exit %d", r.code)
	}
	for _, h := range c.hosts {
		for _, f := range []string{"usr/local/bin/herd", "etc/herd", "var/lib/herd", "etc/systemd/system/herd-agent.service", "stub/enabled/herd-agent.service"} {
			if h.exists(f) {
				t.Errorf("%s: %s left after uninstall", h.name, f)
			}
		}
		pids, _ := filepath.Glob(filepath.Join(h.root, "stub", "pids", "*"))
		if len(pids) > 0 {
			t.Errorf("%s: processes left: %v", h.name, pids)
		}
	}
	r = c.deploy("--uninstall")
	for _, h := range c.hosts {
		if _, changed, _, _ := r.recap(t, h.name); changed != 0 {
			t.Errorf("%s: second uninstall changed %d", h.name, changed)
		}
	}
}

// Without systemd the deploy stops with a hint; with --init none herd
// runs under the supervisor script, and --manage-hosts-file writes the
// names into a marked /etc/hosts block. Uninstall undoes both. The
// inventory is YAML here.
func TestInitNoneAndHostsFile(t *testing.T) {
	c := newCluster(t, "whitemage", "blackmage")
	c.yaml = true
	for _, h := range c.hosts {
		if err := os.RemoveAll(filepath.Join(h.root, "run", "systemd")); err != nil {
			t.Fatal(err)
		}
	}
	r := c.deploy("--accept-new-host-keys")
	if r.code != 1 || !strings.Contains(r.out, "systemd is not running on this host") || !strings.Contains(r.out, "--init none") {
		t.Fatalf("no systemd: exit %d, want 1 and a hint to --init none", r.code)
	}

	r = c.deploy("--init", "none", "--manage-hosts-file")
	if r.code != 0 {
		t.Fatalf("--init none: exit %d", r.code)
	}
	t.Logf("MEASURE first deploy of 2 hosts with --init none: %s", r.elapsed.Round(time.Millisecond))
	wm := c.host("whitemage")
	for _, h := range c.hosts {
		if n := c.points(t, h.name); n == 0 {
			t.Errorf("%s: no points on the server", h.name)
		}
		if !h.exists("var/lib/herd/run/herd-agent.pid") || !h.exists("usr/local/lib/herd/supervise") {
			t.Errorf("%s: supervisor not running", h.name)
		}
		hosts, _ := os.ReadFile(filepath.Join(h.root, "etc", "hosts"))
		if !strings.HasPrefix(string(hosts), "127.0.0.1 localhost\n") || !strings.Contains(string(hosts), wm.sshd.IP+" whitemage") {
			t.Errorf("%s: hosts file:\n%s", h.name, hosts)
		}
	}
	if !wm.exists("var/lib/herd/run/herd-server.pid") {
		t.Error("server supervisor not running")
	}

	// The supervisor restarts herd when it dies (as Restart=on-failure).
	bm := c.host("blackmage")
	sup := readPid(t, filepath.Join(bm.root, "var/lib/herd/run/herd-agent.pid"))
	child := waitChild(t, sup, 0)
	syscall.Kill(child, syscall.SIGKILL)
	if again := waitChild(t, sup, child); again == child {
		t.Errorf("supervisor did not restart the agent")
	}

	// -v shows the commands, never the files' contents.
	r = c.deploy("--init", "none", "--manage-hosts-file", "-v")
	for _, h := range c.hosts {
		if _, changed, _, _ := r.recap(t, h.name); changed != 0 {
			t.Errorf("%s: rerun changed %d", h.name, changed)
		}
	}
	if !strings.Contains(r.out, "] $ GET http://") || strings.Contains(r.out, "urls = [") {
		t.Errorf("-v output shows no commands, or file contents")
	}

	r = c.deploy("--uninstall", "--keep-data")
	if r.code != 0 {
		t.Fatalf("uninstall: exit %d", r.code)
	}
	for _, h := range c.hosts {
		hosts, _ := os.ReadFile(filepath.Join(h.root, "etc", "hosts"))
		if string(hosts) != "127.0.0.1 localhost\n" {
			t.Errorf("%s: hosts after uninstall: %q", h.name, hosts)
		}
		if !h.exists("var/lib/herd") || h.exists("usr/local/lib/herd") || h.exists("etc/herd") {
			t.Errorf("%s: --keep-data: data removed or other files left", h.name)
		}
	}
	r = c.deploy("--uninstall")
	for _, h := range c.hosts {
		if h.exists("var/lib/herd") {
			t.Errorf("%s: data left after uninstall", h.name)
		}
	}
	// The server is gone: its port refuses connections.
	dial := func(network, addr string) (net.Conn, error) { return net.DialTimeout(network, addr, time.Second) }
	if c.nw != nil {
		dial = c.nw.Dial
	}
	if conn, err := dial("tcp", c.httpAddr); err == nil {
		conn.Close()
		t.Error("server still listening after uninstall")
	}
}

// Bad usage and bad inventories exit 2 before any host is touched.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ini")
	writeFile(t, bad, "[web]\nh1 novalue\n", 0o644)
	pw := filepath.Join(dir, "pw.ini")
	writeFile(t, pw, "[web]\nh1 ansible_become_password=hunter2\n", 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "-i INVENTORY is required"},
		{[]string{"deploy", "-i", filepath.Join(dir, "missing.ini")}, "missing.ini"},
		{[]string{"deploy", "-i", bad}, "bad.ini:2: want key=value"},
		{[]string{"deploy", "-i", pw}, "ansible_become_password is not supported"},
		{[]string{"deploy", "-i", bad, "--forks", "0"}, "--forks"},
		{[]string{"deploy", "-i", bad, "--keep-data"}, "--keep-data only applies with --uninstall"},
		{[]string{"deploy", "-i", pw, "--init", "upstart"}, ""},
	}
	for _, c := range cases {
		out, err := exec.Command(herdBin, c.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("herd %v: %v, want exit 2 and %q:\n%s", c.args, err, c.want, out)
		}
		if strings.Contains(string(out), "hunter2") {
			t.Errorf("herd %v shows the password", c.args)
		}
	}
}

func readPid(t *testing.T, p string) int {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitChild polls /proc until parent has a child other than not, for up
// to 20s (the supervisor waits 5s before a restart).
func waitChild(t *testing.T, parent, not int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, st := range stats {
			data, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
			i := bytes.LastIndexByte(data, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(data[i+1:]))
			if len(f) < 2 || f[1] != strconv.Itoa(parent) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			comm := string(data[bytes.IndexByte(data, '(')+1 : i])
			if pid != not && comm == "herd" {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond) // polling /proc, not a fixed wait
	}
	t.Fatalf("no herd child of %d (other than %d)", parent, not)
	return 0
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data), 0o755)
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
