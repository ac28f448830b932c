package deploy

import (
	"fmt"
	"strconv"
	"strings"
)

// Roles a host runs. A server host also runs an agent when it is in the
// agents group: the server's in-process agent is turned off so that the
// host tag is the inventory name, like every other host's.
const (
	roleServer = "server"
	roleAgent  = "agent"
)

// paths are where herd puts things on a host, under an optional root
// prefix (the herd_root inventory variable, for tests that give several
// hosts on one machine their own trees).
type paths struct {
	root string
}

func (p paths) at(s string) string        { return p.root + s }
func (p paths) bin() string               { return p.at("/usr/local/bin/herd") }
func (p paths) confDir() string           { return p.at("/etc/herd") }
func (p paths) config(role string) string { return p.at("/etc/herd/" + role + ".toml") }
func (p paths) dataDir() string           { return p.at("/var/lib/herd") }
func (p paths) unitName(role string) string {
	return "herd-" + role + ".service"
}
func (p paths) unit(role string) string {
	return p.at("/etc/systemd/system/" + p.unitName(role))
}
func (p paths) supervisor() string    { return p.at("/usr/local/lib/herd/supervise") }
func (p paths) supervisorDir() string { return p.at("/usr/local/lib/herd") }
func (p paths) runDir() string        { return p.at("/var/lib/herd/run") }
func (p paths) pidFile(role string) string {
	return p.at("/var/lib/herd/run/herd-" + role + ".pid")
}
func (p paths) userMarker() string { return p.at("/etc/herd/.created-user") }
func (p paths) hostsFile() string  { return p.at("/etc/hosts") }
func (p paths) systemdDir() string { return p.at("/run/systemd/system") }

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string { return strconv.Quote(s) }

func serverConfig(t *target) string {
	var b strings.Builder
	b.WriteString("# Written by herd deploy; changes are overwritten on the next deploy.\n")
	fmt.Fprintf(&b, "http-addr = %s\n", tomlString(t.listenAddr))
	fmt.Fprintf(&b, "data-dir = %s\n", tomlString(t.paths.dataDir()+"/server"))
	// The host's metrics come from its herd-agent service, tagged with
	// the inventory name like every other host.
	b.WriteString("no-local-agent = true\n")
	return b.String()
}

func agentConfig(t *target) string {
	var b strings.Builder
	b.WriteString("# Written by herd deploy; changes are overwritten on the next deploy.\n")
	quoted := make([]string, len(t.serverURLs))
	for i, u := range t.serverURLs {
		quoted[i] = tomlString(u)
	}
	fmt.Fprintf(&b, "urls = [%s]\n", strings.Join(quoted, ", "))
	fmt.Fprintf(&b, "hostname = %s\n", tomlString(t.hostname))
	fmt.Fprintf(&b, "interval = %s\n", tomlString(t.interval))
	fmt.Fprintf(&b, "buffer_dir = %s\n", tomlString(t.paths.dataDir()+"/agent-buffer"))
	return b.String()
}

// unitFile is the systemd unit of role: restarted on failure, and
// hardened (read-only system, no privilege gain, private /tmp) with only
// the data directory writable.
func unitFile(t *target, role string) string {
	desc := "herd agent: host metrics for the herd server"
	home := "read-only" // the disk input must still see mounts under /home
	if role == roleServer {
		desc = "herd server: time-series database with the InfluxDB 1.x API"
		home = "yes"
	}
	return fmt.Sprintf(`# Written by herd deploy; changes are overwritten on the next deploy.
[Unit]
Description=%s
Documentation=https://github.com/herdmon/herd
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=%s
Group=%s
ExecStart=%s %s --config %s
Restart=on-failure
RestartSec=5s
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=%s
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
ReadWritePaths=%s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`, desc, t.user, t.user, t.paths.bin(), role, t.paths.config(role), home, t.paths.dataDir())
}

// supervisorScript runs one herd role without an init system (--init
// none): it restarts herd when it fails, like systemd's
// Restart=on-failure, and stops it on SIGTERM.
//
// usage: supervise ROLE PIDFILE USER -- command...
const supervisorScript = `#!/bin/sh
# Written by herd deploy (--init none): keeps one herd role running.
# It does not start at boot: add "supervise" to rc.local or an @reboot
# cron entry, or install systemd and deploy again.
role=$1 pidfile=$2 user=$3
shift 4
child=
stop() { [ -n "$child" ] && kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; rm -f "$pidfile"; exit 0; }
trap stop TERM INT
echo $$ > "$pidfile"
while :; do
	if [ "$user" = root ] || [ "$(id -un)" = "$user" ]; then
		"$@" &
	else
		setpriv --reuid="$user" --regid="$user" --init-groups "$@" &
	fi
	child=$!
	wait "$child"
	code=$?
	child=
	[ "$code" = 0 ] && { rm -f "$pidfile"; exit 0; }
	echo "herd $role exited with $code; restarting in 5s" >&2
	sleep 5 &
	wait $!
done
`

// Markers around the block herd owns in /etc/hosts.
const (
	hostsBegin = "# BEGIN herd managed hosts (herd deploy --manage-hosts-file)"
	hostsEnd   = "# END herd managed hosts"
)

// withHostsBlock returns content with its herd block replaced by lines
// (or removed when lines is empty), leaving everything else as it was.
func withHostsBlock(content string, lines []string) string {
	var out []string
	in := false
	for _, l := range strings.Split(strings.TrimRight(content, "\n"), "\n") {
		switch {
		case strings.TrimSpace(l) == hostsBegin:
			in = true
		case in && strings.TrimSpace(l) == hostsEnd:
			in = false
		case !in:
			out = append(out, l)
		}
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	if len(lines) > 0 {
		out = append(out, hostsBegin)
		out = append(out, lines...)
		out = append(out, hostsEnd)
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}
