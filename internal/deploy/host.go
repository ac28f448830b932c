package deploy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/herdmon/herd/internal/deploy/remote"
)

// hostRun is the work on one host.
type hostRun struct {
	t    *target
	o    *Options
	rep  *reporter
	bins *binaries
	res  *HostResult

	client *remote.Client
	sudo   bool
	f      facts
	init   string // resolved: InitSystemd or InitNone
	// restartedAt is when each role's service was (re)started; zero
	// when it was left running unchanged.
	restartedAt map[string]time.Time
	deployed    bool // every task succeeded
}

// facts is what one batched command found on the host.
type facts struct {
	arch, os, uid, become string
	distro                string // PRETTY_NAME from /etc/os-release
	systemd               bool
	sums                  map[string]string // path -> sha256 of existing files
	exists                map[string]string // path -> owner of existing files and directories
	userExists            bool
	enabled, active       map[string]bool // unit name -> state
	running               map[string]bool // role -> supervisor running (init none)
	hosts                 string          // /etc/hosts content
}

// hostFailure marks the host failed with err.
type hostFailure struct{ err error }

func (h *hostRun) run(ctx context.Context) {
	start := time.Now()
	defer func() { h.res.Elapsed = time.Since(start); h.rep.step(h.t.name, "done") }()
	h.restartedAt = map[string]time.Time{}
	err := h.connect(ctx)
	if err != nil {
		h.res.Unreachable, h.res.Err = true, err
		h.rep.task(h.t.name, "unreachable", err.Error())
		return
	}
	if h.o.Uninstall {
		err = h.uninstall(ctx)
	} else {
		err = h.deploy(ctx)
	}
	if err != nil {
		h.res.Failed, h.res.Err = true, err
		h.rep.task(h.t.name, "failed", err.Error())
		return
	}
	h.deployed = true
}

func (h *hostRun) ok(msg string) {
	h.res.OK++
	h.rep.task(h.t.name, "ok", msg)
}

// apply runs cmd (unless --check) and reports what as changed once it
// succeeded.
func (h *hostRun) apply(ctx context.Context, what, cmd string) error {
	if !h.o.Check {
		if _, err := h.exec(ctx, cmd, nil); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	h.changed(what)
	return nil
}

func (h *hostRun) changed(msg string) {
	h.res.Changed++
	if h.o.Check {
		h.rep.task(h.t.name, "would change", msg)
		return
	}
	h.rep.task(h.t.name, "changed", msg)
}

func (h *hostRun) connect(ctx context.Context) error {
	h.rep.step(h.t.name, "connecting to "+h.t.login+"@"+h.t.addr+":"+h.t.port)
	c, err := remote.Dial(ctx, remote.Config{
		Addr: h.t.addr, Port: h.t.port, User: h.t.login,
		IdentityFiles:     h.t.keyFiles,
		KnownHostsFile:    h.o.KnownHostsFile,
		AcceptNewHostKeys: h.o.AcceptNewHostKeys,
		AgentSocket:       h.o.AgentSocket,
		Timeout:           h.o.ConnectTimeout,
	})
	if err != nil {
		return err
	}
	h.client = c
	return nil
}

// exec runs cmd on the host, as root (through sudo when the login user
// is not root), and fails on a non-zero exit.
func (h *hostRun) exec(ctx context.Context, cmd string, stdin io.Reader) (remote.Result, error) {
	h.rep.command(h.t.name, cmd)
	full := cmd
	if h.sudo {
		full = "sudo -n sh -c " + remote.Quote(cmd)
	}
	r, err := h.client.Run(ctx, full, stdin)
	if err != nil {
		return r, err
	}
	if r.Code != 0 {
		msg := strings.TrimSpace(string(r.Stderr))
		if msg == "" {
			msg = strings.TrimSpace(string(r.Stdout))
		}
		if len(msg) > 500 {
			msg = msg[len(msg)-500:]
		}
		return r, fmt.Errorf("%s: exit %d: %s", firstWord(cmd), r.Code, msg)
	}
	return r, nil
}

func firstWord(cmd string) string {
	if i := strings.IndexAny(cmd, " ;"); i > 0 {
		return cmd[:i]
	}
	return cmd
}

// gather runs the one read-only command that tells the plan everything
// it needs about the host.
func (h *hostRun) gather(ctx context.Context) error {
	h.rep.step(h.t.name, "gathering facts")
	p := h.t.paths
	q := remote.Quote
	var files, dirs []string
	files = append(files, p.bin(), p.supervisor(), p.userMarker())
	for _, role := range []string{roleServer, roleAgent} {
		files = append(files, p.config(role), p.unit(role))
	}
	dirs = append(dirs, p.dataDir(), p.confDir(), p.supervisorDir())
	var s strings.Builder
	fmt.Fprintf(&s, "echo \"arch $(uname -m)\"; echo \"os $(uname -s)\"\n")
	fmt.Fprintf(&s, "(. /etc/os-release && echo \"distro $PRETTY_NAME\") 2>/dev/null\n")
	fmt.Fprintf(&s, "if [ -d %s ] && command -v systemctl >/dev/null 2>&1; then echo systemd yes; fi\n", q(p.systemdDir()))
	fmt.Fprintf(&s, "for f in %s; do [ -f \"$f\" ] && echo \"sum $(sha256sum < \"$f\" | cut -c1-64) $f\"; done\n", quoteAll(files))
	fmt.Fprintf(&s, "for f in %s; do [ -e \"$f\" ] && echo \"exists $(stat -c %%U \"$f\") $f\"; done\n", quoteAll(append(files, dirs...)))
	fmt.Fprintf(&s, "id -u %s >/dev/null 2>&1 && echo user yes\n", q(h.t.user))
	fmt.Fprintf(&s, "if command -v systemctl >/dev/null 2>&1 && [ -d %s ]; then for u in %s %s; do echo \"enabled $u $(systemctl is-enabled $u 2>/dev/null)\"; echo \"active $u $(systemctl is-active $u 2>/dev/null)\"; done; fi\n",
		q(p.systemdDir()), p.unitName(roleServer), p.unitName(roleAgent))
	for _, role := range []string{roleServer, roleAgent} {
		fmt.Fprintf(&s, "[ -f %[1]s ] && kill -0 \"$(cat %[1]s)\" 2>/dev/null && echo running %[2]s\n", q(p.pidFile(role)), role)
	}
	fmt.Fprintf(&s, "echo ---hosts---; cat %s 2>/dev/null; exit 0\n", q(p.hostsFile()))
	script := s.String()
	wrapper := "echo \"uid $(id -u)\"; if [ \"$(id -u)\" = 0 ]; then echo become none; sh -c " + q(script) +
		"; elif sudo -n true 2>/dev/null; then echo become sudo; sudo -n sh -c " + q(script) +
		"; else echo become impossible; fi"
	h.rep.command(h.t.name, "gather facts (uname, sha256sum of installed files, systemctl is-enabled/is-active)")
	r, err := h.client.Run(ctx, wrapper, nil)
	if err != nil {
		return fmt.Errorf("gather facts: %w", err)
	}
	if r.Code != 0 {
		return fmt.Errorf("gather facts: exit %d: %s", r.Code, strings.TrimSpace(string(r.Stderr)))
	}
	f := facts{sums: map[string]string{}, exists: map[string]string{}, enabled: map[string]bool{}, active: map[string]bool{}, running: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(string(r.Stdout)))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var hosts strings.Builder
	inHosts := false
	for sc.Scan() {
		l := sc.Text()
		if inHosts {
			hosts.WriteString(l + "\n")
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		switch k {
		case "uid":
			f.uid = v
		case "become":
			f.become = v
		case "arch":
			f.arch = v
		case "os":
			f.os = v
		case "distro":
			f.distro = v
		case "systemd":
			f.systemd = true
		case "user":
			f.userExists = true
		case "sum":
			if sum, file, ok := strings.Cut(v, " "); ok {
				f.sums[file] = sum
			}
		case "exists":
			if owner, file, ok := strings.Cut(v, " "); ok {
				f.exists[file] = owner
			}
		case "enabled", "active":
			unit, state, _ := strings.Cut(v, " ")
			if k == "enabled" {
				f.enabled[unit] = state == "enabled"
			} else {
				f.active[unit] = state == "active"
			}
		case "running":
			f.running[v] = true
		case "---hosts---":
			inHosts = true
		}
	}
	f.hosts = hosts.String()
	h.f = f
	switch f.become {
	case "sudo":
		if h.t.become == "false" || h.t.become == "no" || h.t.become == "0" {
			return fmt.Errorf("login user %s is not root and ansible_become is false: herd needs root to install services", h.t.login)
		}
		h.sudo = true
	case "none":
	default:
		return fmt.Errorf("login user %s is not root and sudo asks for a password: allow passwordless sudo for %s (a NOPASSWD line in /etc/sudoers.d/) or log in as root; herd never handles passwords, so ansible_become_password is not supported", h.t.login, h.t.login)
	}
	return nil
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = remote.Quote(s)
	}
	return strings.Join(q, " ")
}

// resolveInit picks systemd or the supervisor, or explains why neither.
func (h *hostRun) resolveInit() error {
	switch {
	case h.t.init == InitNone:
		h.init = InitNone
	case h.f.systemd:
		h.init = InitSystemd
	case h.t.init == InitSystemd:
		return fmt.Errorf("systemd is not running on this host (%s is missing), but --init systemd was asked for", h.t.paths.systemdDir())
	default:
		return fmt.Errorf("systemd is not running on this host (%s is missing): run again with --init none to start herd under a small supervisor script (or set herd_init=none for this host)", h.t.paths.systemdDir())
	}
	return nil
}

func (h *hostRun) deploy(ctx context.Context) error {
	if err := h.gather(ctx); err != nil {
		return err
	}
	if h.f.os != "Linux" {
		return fmt.Errorf("unsupported OS %q (herd runs on Linux)", h.f.os)
	}
	if err := h.resolveInit(); err != nil {
		return err
	}
	binName, ok := archBinary(h.f.arch)
	if !ok {
		return fmt.Errorf("unsupported architecture %q (herd is built for x86_64, aarch64, armv7l and armv6l)", h.f.arch)
	}
	bin := h.bins.get(binName)
	if bin.err != nil {
		return fmt.Errorf("no herd binary for %s: %w (build it with make dist, or point --bin-dir at a directory holding %s)", h.f.arch, bin.err, binName)
	}
	via := ""
	if h.sudo {
		via = ", sudo"
	}
	h.ok(fmt.Sprintf("connected as %s%s: %s %s, init %s", h.t.login, via, first(h.f.distro, h.f.os), h.f.arch, h.init))

	p := h.t.paths
	// The system user first: the files below are owned by it.
	if h.f.userExists {
		h.ok("user " + h.t.user)
	} else {
		cmd := fmt.Sprintf("mkdir -p %s && useradd --system --home-dir %s --no-create-home --shell /usr/sbin/nologin %s && echo %s > %s",
			remote.Quote(p.confDir()), remote.Quote(p.dataDir()), h.t.user, h.t.user, remote.Quote(p.userMarker()))
		if err := h.apply(ctx, "user "+h.t.user+" (created, system account without login)", cmd); err != nil {
			return err
		}
	}
	if owner, ok := h.f.exists[p.dataDir()]; ok && owner == h.t.user {
		h.ok("directory " + p.dataDir())
	} else {
		cmd := fmt.Sprintf("install -d -m 0750 -o %s -g %s %s", h.t.user, h.t.user, remote.Quote(p.dataDir()))
		if err := h.apply(ctx, "directory "+p.dataDir(), cmd); err != nil {
			return err
		}
	}

	binChanged, err := h.ensureFile(ctx, p.bin(), bin.sum, 0o755, "root", func() (io.ReadCloser, int64, error) {
		fh, err := os.Open(bin.path)
		return fh, bin.size, err
	}, fmt.Sprintf("binary %s (%s, %.1f MB)", p.bin(), binName, float64(bin.size)/1e6))
	if err != nil {
		return err
	}
	if h.init == InitNone {
		if _, err := h.ensureText(ctx, p.supervisor(), supervisorScript, 0o755, "root", "supervisor script "+p.supervisor()); err != nil {
			return err
		}
	}

	reload := false
	type svc struct {
		role             string
		changedSomething bool
	}
	var svcs []svc
	for _, role := range h.t.roles {
		text := agentConfig(h.t)
		if role == roleServer {
			text = serverConfig(h.t)
		}
		cfgChanged, err := h.ensureText(ctx, p.config(role), text, 0o640, "root:"+h.t.user, "config "+p.config(role))
		if err != nil {
			return err
		}
		unitChanged := false
		if h.init == InitSystemd {
			unitChanged, err = h.ensureText(ctx, p.unit(role), unitFile(h.t, role), 0o644, "root", "unit "+p.unit(role))
			if err != nil {
				return err
			}
			reload = reload || unitChanged
		}
		svcs = append(svcs, svc{role, binChanged || cfgChanged || unitChanged})
	}
	if reload && !h.o.Check {
		if _, err := h.exec(ctx, "systemctl daemon-reload", nil); err != nil {
			return err
		}
	}
	for _, s := range svcs {
		if err := h.ensureRunning(ctx, s.role, s.changedSomething); err != nil {
			return err
		}
	}
	if h.o.ManageHostsFile {
		want := withHostsBlock(h.f.hosts, h.t.hostsLines)
		if want == h.f.hosts {
			h.ok("hosts block in " + p.hostsFile())
		} else {
			h.changed(fmt.Sprintf("hosts block in %s (%d names)", p.hostsFile(), len(h.t.hostsLines)))
			if !h.o.Check {
				if err := h.writeInPlace(ctx, p.hostsFile(), want); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ensureRunning enables the service and (re)starts it when something it
// depends on changed or it is not running.
func (h *hostRun) ensureRunning(ctx context.Context, role string, changed bool) error {
	p := h.t.paths
	unit := p.unitName(role)
	if h.init == InitSystemd {
		if h.f.enabled[unit] {
			h.ok("enabled " + unit)
		} else {
			if err := h.apply(ctx, "enabled "+unit, "systemctl enable "+unit); err != nil {
				return err
			}
		}
	}
	running := h.f.active[unit]
	if h.init == InitNone {
		running = h.f.running[role]
	}
	var action string
	switch {
	case !running:
		action = "started"
	case changed:
		action = "restarted"
	default:
		h.ok("running herd " + role)
		return nil
	}
	if h.o.Check {
		h.changed(action + " herd " + role)
		return nil
	}
	h.rep.step(h.t.name, "starting herd "+role)
	h.restartedAt[role] = time.Now()
	var err error
	if h.init == InitSystemd {
		_, err = h.exec(ctx, "systemctl restart "+unit, nil)
	} else {
		err = h.superviseRestart(ctx, role)
	}
	if err != nil {
		return fmt.Errorf("start herd %s: %w", role, err)
	}
	h.changed(action + " herd " + role)
	return nil
}

// superviseRestart stops the role's supervisor (if any) and starts a new
// one detached from the SSH session.
func (h *hostRun) superviseRestart(ctx context.Context, role string) error {
	p := h.t.paths
	q := remote.Quote
	log := strings.TrimSuffix(p.pidFile(role), ".pid") + ".log"
	cmd := fmt.Sprintf(`%[1]s
mkdir -p %[2]s
setsid %[3]s %[4]s %[5]s %[6]s -- %[7]s %[4]s --config %[8]s >> %[9]s 2>&1 < /dev/null &
i=0; while [ ! -s %[5]s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -s %[5]s ]`,
		stopSupervisor(p.pidFile(role)), q(p.runDir()), q(p.supervisor()), role, q(p.pidFile(role)), h.t.user, q(p.bin()), q(p.config(role)), q(log))
	_, err := h.exec(ctx, cmd, nil)
	return err
}

// stopSupervisor is shell that stops a supervisor by its pid file and
// waits (up to 10s) for it to go.
func stopSupervisor(pidFile string) string {
	q := remote.Quote(pidFile)
	return fmt.Sprintf(`if [ -f %[1]s ]; then pid=$(cat %[1]s); kill "$pid" 2>/dev/null; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; rm -f %[1]s; fi`, q)
}

// ensureText is ensureFile for generated text.
func (h *hostRun) ensureText(ctx context.Context, file, text string, mode os.FileMode, owner, what string) (bool, error) {
	sum := sha256.Sum256([]byte(text))
	return h.ensureFile(ctx, file, hex.EncodeToString(sum[:]), mode, owner, func() (io.ReadCloser, int64, error) {
		return io.NopCloser(strings.NewReader(text)), int64(len(text)), nil
	}, what)
}

// ensureFile uploads the content when the installed file's sha256
// differs from sum, atomically (temp file, then rename).
func (h *hostRun) ensureFile(ctx context.Context, file, sum string, mode os.FileMode, owner string, open func() (io.ReadCloser, int64, error), what string) (bool, error) {
	h.rep.step(h.t.name, "checking "+file)
	if h.f.sums[file] == sum {
		h.ok(what)
		return false, nil
	}
	if h.o.Check {
		h.changed(what)
		return true, nil
	}
	rc, size, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	q := remote.Quote
	tmp := file + ".herd-new"
	cmd := fmt.Sprintf("umask 077; mkdir -p %s && cat > %s && chmod %o %s && chown %s %s && mv -f %s %s",
		q(path.Dir(file)), q(tmp), mode, q(tmp), owner, q(tmp), q(tmp), q(file))
	pr := &progressReader{r: rc, size: size, fn: func(pct int) {
		h.rep.step(h.t.name, fmt.Sprintf("uploading %s %d%%", path.Base(file), pct))
	}}
	if _, err := h.exec(ctx, cmd, pr); err != nil {
		return false, fmt.Errorf("upload %s: %w", file, err)
	}
	h.changed(what)
	return true, nil
}

// writeInPlace overwrites file's content without replacing the inode:
// /etc/hosts is often a bind mount (containers) that a rename would fail
// on.
func (h *hostRun) writeInPlace(ctx context.Context, file, text string) error {
	_, err := h.exec(ctx, "cat > "+remote.Quote(file), strings.NewReader(text))
	return err
}

type progressReader struct {
	r    io.Reader
	size int64
	done int64
	fn   func(pct int)
	last int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.size > 0 {
		if pct := int(p.done * 100 / p.size); pct != p.last {
			p.last = pct
			p.fn(pct)
		}
	}
	return n, err
}

// uninstall removes everything deploy installed: services, units,
// binary, configuration, data, the user it created, the hosts block.
func (h *hostRun) uninstall(ctx context.Context) error {
	if err := h.gather(ctx); err != nil {
		return err
	}
	h.ok(fmt.Sprintf("connected as %s: %s %s", h.t.login, h.f.os, h.f.arch))
	p := h.t.paths
	do := func(what, cmd string) error { return h.apply(ctx, what, cmd) }
	var units []string
	for _, role := range []string{roleServer, roleAgent} {
		if unit := p.unitName(role); h.f.active[unit] || h.f.enabled[unit] {
			units = append(units, unit)
		}
	}
	if len(units) > 0 {
		// One call: systemd stops the units in parallel.
		if err := do("stopped and disabled "+strings.Join(units, ", "), "systemctl disable --now "+strings.Join(units, " ")); err != nil {
			return err
		}
	}
	reload := false
	for _, role := range []string{roleServer, roleAgent} {
		if h.f.running[role] {
			if err := do("stopped supervised herd "+role, stopSupervisor(p.pidFile(role))); err != nil {
				return err
			}
		}
		if _, ok := h.f.exists[p.unit(role)]; ok {
			reload = true
			if err := do("removed "+p.unit(role), "rm -f "+remote.Quote(p.unit(role))); err != nil {
				return err
			}
		}
	}
	if reload && h.f.systemd && !h.o.Check {
		if _, err := h.exec(ctx, "systemctl daemon-reload", nil); err != nil {
			return err
		}
	}
	if _, ok := h.f.exists[p.userMarker()]; ok && h.t.user != "root" {
		if err := do("removed user "+h.t.user, "userdel "+h.t.user); err != nil {
			return err
		}
	}
	remove := []string{p.bin(), p.supervisorDir(), p.confDir(), p.dataDir()}
	if h.o.KeepData {
		remove = remove[:3]
		if _, ok := h.f.exists[p.dataDir()]; ok {
			h.ok("kept " + p.dataDir() + " (--keep-data)")
		}
	}
	for _, d := range remove {
		if _, ok := h.f.exists[d]; ok {
			if err := do("removed "+d, "rm -rf "+remote.Quote(d)); err != nil {
				return err
			}
		}
	}
	if want := withHostsBlock(h.f.hosts, nil); want != h.f.hosts && strings.Contains(h.f.hosts, hostsBegin) {
		h.changed("removed hosts block from " + p.hostsFile())
		if !h.o.Check {
			if err := h.writeInPlace(ctx, p.hostsFile(), want); err != nil {
				return err
			}
		}
	}
	if h.res.Changed == 0 {
		h.ok("nothing of herd installed")
	}
	return nil
}

// binaries hashes each local binary once for all hosts.
type binaries struct {
	dir string
	mu  sync.Mutex
	m   map[string]*binInfo
}

type binInfo struct {
	path string
	sum  string
	size int64
	err  error
}

func (b *binaries) get(name string) *binInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*binInfo{}
	}
	if bi, ok := b.m[name]; ok {
		return bi
	}
	bi := &binInfo{path: filepath.Join(b.dir, name)}
	b.m[name] = bi
	f, err := os.Open(bi.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%s is missing", bi.path)
		}
		bi.err = err
		return bi
	}
	defer f.Close()
	hs := sha256.New()
	n, err := io.Copy(hs, f)
	if err != nil {
		bi.err = fmt.Errorf("read %s: %w", bi.path, err)
		return bi
	}
	bi.size, bi.sum = n, hex.EncodeToString(hs.Sum(nil))
	return bi
}
