// Package deploy installs herd on the hosts of an Ansible inventory over
// plain SSH: the right binary for each host's architecture, the
// configuration, a system user and a systemd unit (or a small supervisor
// where there is no systemd), then checks that every agent's first
// points reach the server.
//
// Every step is idempotent: it first looks (one batched command per
// host), then changes only what differs, and restarts a service only when
// its binary, configuration or unit changed. Hosts run in parallel; one
// failing host never stops the others. deploy never imports the server's
// packages: it speaks SSH to the hosts and HTTP to the server like any
// client.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/herdmon/herd/internal/deploy/inventory"
	"github.com/herdmon/herd/internal/deploy/remote"
)

// Init systems herd can install into.
const (
	InitAuto    = "auto"    // systemd when the host runs it, else an error suggesting --init none
	InitSystemd = "systemd" // require systemd
	InitNone    = "none"    // the supervisor script, started in the background
)

// Defaults.
const (
	DefaultForks         = 10
	DefaultServersGroup  = "cluster-head"
	DefaultHTTPAddr      = ":8086"
	DefaultAgentInterval = "10s"
	DefaultUser          = "herd"
	// DefaultVerifyTimeout covers an agent's first aligned collection
	// (up to one 10s interval) plus its send, with room for a slow Pi.
	DefaultVerifyTimeout = 60 * time.Second
)

// Options are the settings of one `herd deploy` run.
type Options struct {
	Inventory *inventory.Inventory
	// Servers and Agents select hosts by group or host name; empty means
	// the defaults (cluster-head or the first host; all hosts).
	Servers, Agents string
	// BinDir holds herd-linux-{amd64,arm64,armv7,armv6} (make dist).
	BinDir    string
	Check     bool
	Uninstall bool
	// KeepData makes Uninstall leave /var/lib/herd (the server's data and
	// the agents' buffers) in place.
	KeepData          bool
	Forks             int
	AcceptNewHostKeys bool
	// Init is InitAuto, InitSystemd or InitNone.
	Init            string
	ManageHostsFile bool
	Verbose         bool
	// VerifyTimeout bounds the wait for each agent's first points; 0
	// means DefaultVerifyTimeout, negative skips verification.
	VerifyTimeout time.Duration

	// SSH settings; zero values mean the user's: ~/.ssh/known_hosts,
	// ~/.ssh/config, ~/.ssh/id_{ed25519,ecdsa,rsa}, $SSH_AUTH_SOCK.
	Home           string
	KnownHostsFile string
	SSHConfigFile  string
	AgentSocket    string
	ConnectTimeout time.Duration

	// Out receives progress and the recap; Live redraws a per-host status
	// block (for terminals).
	Out  io.Writer
	Live bool
}

// UsageError is a problem with the options or inventory as a whole (exit
// code 2), found before any host is touched.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// target is one host with everything resolved.
type target struct {
	name       string
	roles      []string // roleServer and/or roleAgent, server first
	addr, port string
	login      string
	keyFiles   []string
	become     string // "", "true", "false" from ansible_become
	paths      paths
	user       string // system user the services run as
	listenAddr string // server role: http-addr
	serverURLs []string
	hostname   string // agent role: host tag
	interval   string
	init       string
	hostsLines []string // --manage-hosts-file
}

func (t *target) has(role string) bool {
	for _, r := range t.roles {
		if r == role {
			return true
		}
	}
	return false
}

// Run deploys (or checks, or uninstalls) every selected host and returns
// the recap. The error is a *UsageError for bad options; host failures
// are in the recap.
func Run(ctx context.Context, o Options) (*Recap, error) {
	start := time.Now()
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Forks <= 0 {
		o.Forks = DefaultForks
	}
	if o.Init == "" {
		o.Init = InitAuto
	}
	switch o.Init {
	case InitAuto, InitSystemd, InitNone:
	default:
		return nil, &UsageError{fmt.Errorf("--init %q: want auto, systemd or none", o.Init)}
	}
	if o.VerifyTimeout == 0 {
		o.VerifyTimeout = DefaultVerifyTimeout
	}
	if o.Home == "" {
		o.Home, _ = os.UserHomeDir()
	}
	if o.KnownHostsFile == "" {
		o.KnownHostsFile = filepath.Join(o.Home, ".ssh", "known_hosts")
	}
	if o.SSHConfigFile == "" {
		o.SSHConfigFile = filepath.Join(o.Home, ".ssh", "config")
	}
	if o.BinDir == "" {
		o.BinDir = "dist"
	}
	sshCfg, err := remote.LoadSSHConfig(o.SSHConfigFile)
	if err != nil {
		return nil, &UsageError{err}
	}
	targets, err := resolve(o, sshCfg)
	if err != nil {
		return nil, &UsageError{err}
	}

	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.name
	}
	rep := newReporter(o.Out, o.Verbose, o.Live, names)
	mode := "deploy"
	switch {
	case o.Uninstall && o.Check:
		mode = "uninstall (check: nothing is changed)"
	case o.Uninstall:
		mode = "uninstall"
	case o.Check:
		mode = "deploy (check: nothing is changed)"
	}
	var servers []string
	for _, t := range targets {
		if t.has(roleServer) {
			servers = append(servers, t.name)
		}
	}
	where := "server on " + strings.Join(servers, ", ")
	if len(servers) == 0 {
		where = "no server"
	}
	fmt.Fprintf(o.Out, "herd %s: %d hosts, %s, forks %d\n\n", mode, len(targets), where, o.Forks)

	bins := &binaries{dir: o.BinDir}
	runs := make([]*hostRun, len(targets))
	sem := make(chan struct{}, o.Forks)
	var wg sync.WaitGroup
	for i, t := range targets {
		runs[i] = &hostRun{t: t, o: &o, rep: rep, bins: bins, res: &HostResult{Name: t.name}}
		wg.Add(1)
		go func(h *hostRun) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			h.run(ctx)
		}(runs[i])
	}
	wg.Wait()

	if !o.Check && !o.Uninstall && o.VerifyTimeout > 0 {
		verify(ctx, runs, rep, o.VerifyTimeout)
	}
	for _, h := range runs {
		if h.client != nil {
			h.client.Close()
		}
	}
	rep.finish()
	recap := &Recap{Elapsed: time.Since(start)}
	for _, h := range runs {
		recap.Hosts = append(recap.Hosts, h.res)
	}
	recap.Print(o.Out)
	return recap, nil
}

// resolve turns the inventory and options into targets, checking
// everything that can be checked without connecting.
func resolve(o Options, sshCfg *remote.SSHConfig) ([]*target, error) {
	inv := o.Inventory
	if inv == nil || len(inv.Hosts()) == 0 {
		return nil, errors.New("the inventory has no hosts")
	}
	var serverHosts []*inventory.Host
	var err error
	// --uninstall touches only what was named: --agents alone must not
	// also uninstall the default server, and --servers alone no agents.
	uninstallAgentsOnly := o.Uninstall && o.Servers == "" && o.Agents != ""
	uninstallServersOnly := o.Uninstall && o.Agents == "" && o.Servers != ""
	switch {
	case uninstallAgentsOnly:
	case o.Servers != "":
		serverHosts, err = inv.Select(o.Servers)
	default:
		if _, ok := inv.Group(DefaultServersGroup); ok {
			serverHosts, err = inv.Select(DefaultServersGroup)
		} else {
			serverHosts = inv.Hosts()[:1]
		}
	}
	if err != nil {
		return nil, fmt.Errorf("--servers: %w", err)
	}
	if len(serverHosts) == 0 && !uninstallAgentsOnly {
		return nil, fmt.Errorf("--servers %q selects no host", o.Servers)
	}
	var agentHosts []*inventory.Host
	if !uninstallServersOnly {
		agents := o.Agents
		if agents == "" {
			agents = "all"
		}
		agentHosts, err = inv.Select(agents)
		if err != nil {
			return nil, fmt.Errorf("--agents: %w", err)
		}
	}
	isServer, isAgent := map[string]bool{}, map[string]bool{}
	for _, h := range serverHosts {
		isServer[h.Name] = true
	}
	for _, h := range agentHosts {
		isAgent[h.Name] = true
	}

	var targets []*target
	byName := map[string]*target{}
	for _, h := range inv.Hosts() {
		if !isServer[h.Name] && !isAgent[h.Name] {
			continue
		}
		t, err := newTarget(o, inv, h, sshCfg)
		if err != nil {
			return nil, err
		}
		if isServer[h.Name] {
			t.roles = append(t.roles, roleServer)
		}
		if isAgent[h.Name] {
			t.roles = append(t.roles, roleAgent)
		}
		targets = append(targets, t)
		byName[h.Name] = t
	}

	// Agents write to every server; the URL uses the address agents can
	// reach the server at (herd_server_url overrides it).
	var urls []string
	for _, h := range serverHosts {
		s := byName[h.Name]
		if u := inv.Vars(h.Name)["herd_server_url"]; u != "" {
			urls = append(urls, u)
			continue
		}
		_, port, _ := net.SplitHostPort(s.listenAddr)
		urls = append(urls, "http://"+net.JoinHostPort(s.addr, port))
	}
	var hostsLines []string
	if o.ManageHostsFile {
		for _, t := range targets {
			if net.ParseIP(t.addr) != nil && t.addr != t.name {
				hostsLines = append(hostsLines, t.addr+" "+t.name)
			}
		}
	}
	for _, t := range targets {
		t.serverURLs = urls
		t.hostsLines = hostsLines
	}
	return targets, nil
}

// Inventory variables herd reads besides Ansible's connection ones.
var herdVars = []string{"herd_root", "herd_user", "herd_http_addr", "herd_server_url", "herd_hostname", "herd_agent_interval", "herd_init"}

func newTarget(o Options, inv *inventory.Inventory, h *inventory.Host, sshCfg *remote.SSHConfig) (*target, error) {
	v := inv.Vars(h.Name)
	where := fmt.Sprintf("%s: host %s", inv.File, h.Name)
	for _, k := range []string{"ansible_become_password", "ansible_become_pass", "ansible_password", "ansible_ssh_pass", "ansible_ssh_password"} {
		if _, ok := v[k]; ok {
			return nil, fmt.Errorf("%s: %s is not supported: herd never handles passwords. Use an SSH key (ssh-copy-id) and passwordless sudo for the login user (a NOPASSWD line in /etc/sudoers.d/)", where, k)
		}
	}
	switch c := v["ansible_connection"]; c {
	case "", "ssh", "smart", "paramiko":
	default:
		return nil, fmt.Errorf("%s: ansible_connection=%s is not supported: herd deploys over SSH only (for this machine itself use ansible_host=127.0.0.1 and an SSH key)", where, c)
	}
	ssh := sshCfg.Lookup(h.Name)
	t := &target{
		name:       h.Name,
		addr:       first(v["ansible_host"], ssh.HostName, h.Name),
		port:       first(v["ansible_port"], ssh.Port, "22"),
		login:      first(v["ansible_user"], ssh.User),
		become:     strings.ToLower(v["ansible_become"]),
		paths:      paths{root: strings.TrimRight(v["herd_root"], "/")},
		user:       first(v["herd_user"], DefaultUser),
		listenAddr: first(v["herd_http_addr"], DefaultHTTPAddr),
		hostname:   first(v["herd_hostname"], h.Name),
		interval:   first(v["herd_agent_interval"], DefaultAgentInterval),
		init:       first(v["herd_init"], o.Init),
	}
	if t.login == "" {
		t.login = os.Getenv("USER")
	}
	if t.login == "" {
		t.login = "root"
	}
	if t.paths.root != "" && !strings.HasPrefix(t.paths.root, "/") {
		return nil, fmt.Errorf("%s: herd_root %q must be an absolute path", where, t.paths.root)
	}
	if _, _, err := net.SplitHostPort(t.listenAddr); err != nil {
		return nil, fmt.Errorf("%s: herd_http_addr %q is not HOST:PORT", where, t.listenAddr)
	}
	if d, err := time.ParseDuration(t.interval); err != nil || d <= 0 {
		return nil, fmt.Errorf("%s: herd_agent_interval %q is not a duration like 10s", where, t.interval)
	}
	switch t.init {
	case InitAuto, InitSystemd, InitNone:
	default:
		return nil, fmt.Errorf("%s: herd_init %q: want auto, systemd or none", where, t.init)
	}
	switch t.become {
	case "", "true", "yes", "1", "false", "no", "0":
	default:
		return nil, fmt.Errorf("%s: ansible_become %q is not a boolean", where, t.become)
	}
	if !validName(t.user) {
		return nil, fmt.Errorf("%s: herd_user %q is not a valid user name", where, t.user)
	}
	// Keys: the inventory's, else ~/.ssh/config's, else OpenSSH's defaults.
	files := ssh.IdentityFiles
	if k := v["ansible_ssh_private_key_file"]; k != "" {
		files = []string{k}
	}
	if len(files) == 0 {
		for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			files = append(files, filepath.Join(o.Home, ".ssh", n))
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "~/") {
			f = filepath.Join(o.Home, f[2:])
		}
		t.keyFiles = append(t.keyFiles, f)
	}
	return t, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// archBinary maps `uname -m` to the make dist file name.
func archBinary(machine string) (string, bool) {
	switch machine {
	case "x86_64", "amd64":
		return "herd-linux-amd64", true
	case "aarch64", "arm64", "armv8l":
		return "herd-linux-arm64", true
	case "armv7l", "armv7":
		return "herd-linux-armv7", true
	case "armv6l", "armv6":
		return "herd-linux-armv6", true
	}
	return "", false
}
