package deploy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/deploy/inventory"
	"github.com/herdmon/herd/internal/deploy/remote"
)

func parse(t *testing.T, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.ParseINI("hosts.ini", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

const seed = `[cluster-head]
whitemage
[cluster-workers]
blackmage
paladin
machinist
[pi-cluster:children]
cluster-head
cluster-workers
[desktop]
burtgang ansible_user=monofuel
[telegraf:children]
pi-cluster
desktop
`

func roles(ts []*target) map[string]string {
	out := map[string]string{}
	for _, t := range ts {
		out[t.name] = strings.Join(t.roles, "+")
	}
	return out
}

func TestResolveRoles(t *testing.T) {
	ssh, _ := remote.ParseSSHConfig("cfg", strings.NewReader("Host paladin\n  HostName 10.0.0.7\n  User pi\n  Port 2200\n"))
	cases := []struct {
		name, inv, servers, agents string
		uninstall                  bool
		want                       map[string]string
	}{
		{"uninstall agents only", seed, "", "desktop", true, map[string]string{"burtgang": "agent"}},
		{"uninstall servers only", seed, "cluster-head", "", true, map[string]string{"whitemage": "server"}},
		{"uninstall all", seed, "", "", true, map[string]string{"whitemage": "server+agent", "blackmage": "agent", "paladin": "agent", "machinist": "agent", "burtgang": "agent"}},
		{"seed defaults", seed, "", "", false, map[string]string{"whitemage": "server+agent", "blackmage": "agent", "paladin": "agent", "machinist": "agent", "burtgang": "agent"}},
		{"agents subset", seed, "", "desktop", false, map[string]string{"whitemage": "server", "burtgang": "agent"}},
		{"explicit servers", seed, "paladin,machinist", "cluster-head", false, map[string]string{"whitemage": "agent", "paladin": "server", "machinist": "server"}},
		{"no cluster-head: first host", "[a]\nh1\nh2\n", "", "", false, map[string]string{"h1": "server+agent", "h2": "agent"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, err := resolve(Options{Inventory: parse(t, c.inv), Servers: c.servers, Agents: c.agents, Uninstall: c.uninstall, Init: InitAuto, Home: "/home/u"}, ssh)
			if err != nil {
				t.Fatal(err)
			}
			if got := roles(ts); len(got) != len(c.want) || func() bool {
				for k, v := range c.want {
					if got[k] != v {
						return true
					}
				}
				return false
			}() {
				t.Errorf("roles = %v, want %v", got, c.want)
			}
		})
	}

	ts, err := resolve(Options{Inventory: parse(t, seed), Init: InitAuto, Home: "/home/u"}, ssh)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range ts {
		switch tg.name {
		case "paladin": // from ~/.ssh/config
			if tg.addr != "10.0.0.7" || tg.login != "pi" || tg.port != "2200" {
				t.Errorf("paladin = %s@%s:%s", tg.login, tg.addr, tg.port)
			}
		case "burtgang":
			if tg.login != "monofuel" || tg.addr != "burtgang" || tg.port != "22" {
				t.Errorf("burtgang = %s@%s:%s", tg.login, tg.addr, tg.port)
			}
			if tg.keyFiles[0] != "/home/u/.ssh/id_ed25519" {
				t.Errorf("default keys = %v", tg.keyFiles)
			}
		}
		if len(tg.serverURLs) != 1 || tg.serverURLs[0] != "http://whitemage:8086" {
			t.Errorf("%s urls = %v", tg.name, tg.serverURLs)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct{ inv, servers, agents, want string }{
		{seed, "nosuch", "", `--servers: hosts.ini: no group or host named "nosuch"`},
		{seed, "", "nosuch", `--agents: hosts.ini: no group or host named "nosuch"`},
		{"[a]\nh ansible_become_password=secret\n", "", "", "ansible_become_password is not supported"},
		{"[a]\nh ansible_ssh_pass=secret\n", "", "", "ansible_ssh_pass is not supported"},
		{"[a]\nh herd_root=relative\n", "", "", "must be an absolute path"},
		{"[a]\nh herd_agent_interval=often\n", "", "", "herd_agent_interval"},
		{"[a]\nh herd_http_addr=8086\n", "", "", "herd_http_addr"},
		{"[a]\nh herd_init=upstart\n", "", "", "herd_init"},
		{"[a]\nh herd_user=bad;user\n", "", "", "herd_user"},
		{"[a]\nh ansible_become=maybe\n", "", "", "ansible_become"},
		{"[a]\nh ansible_connection=local\n", "", "", "ansible_connection=local is not supported"},
		{"", "", "", "no hosts"},
	}
	for _, c := range cases {
		_, err := resolve(Options{Inventory: parse(t, c.inv), Servers: c.servers, Agents: c.agents, Init: InitAuto}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.inv, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestHostsBlock(t *testing.T) {
	base := "127.0.0.1 localhost\n::1 localhost\n"
	withBlock := withHostsBlock(base, []string{"10.0.0.1 whitemage", "10.0.0.2 blackmage"})
	want := base + hostsBegin + "\n10.0.0.1 whitemage\n10.0.0.2 blackmage\n" + hostsEnd + "\n"
	if withBlock != want {
		t.Fatalf("add:\n%s\nwant:\n%s", withBlock, want)
	}
	if again := withHostsBlock(withBlock, []string{"10.0.0.1 whitemage", "10.0.0.2 blackmage"}); again != withBlock {
		t.Errorf("not idempotent:\n%s", again)
	}
	replaced := withHostsBlock(withBlock+"192.168.1.1 router\n", []string{"10.0.0.9 paladin"})
	if !strings.Contains(replaced, "192.168.1.1 router") || strings.Contains(replaced, "whitemage") || !strings.Contains(replaced, "10.0.0.9 paladin") {
		t.Errorf("replace:\n%s", replaced)
	}
	if removed := withHostsBlock(withBlock, nil); removed != base {
		t.Errorf("remove:\n%q", removed)
	}
}

func TestArchBinary(t *testing.T) {
	cases := map[string]string{"x86_64": "herd-linux-amd64", "aarch64": "herd-linux-arm64", "armv7l": "herd-linux-armv7", "armv6l": "herd-linux-armv6"}
	for m, want := range cases {
		if got, ok := archBinary(m); !ok || got != want {
			t.Errorf("archBinary(%s) = %s", m, got)
		}
	}
	if _, ok := archBinary("riscv64"); ok {
		t.Error("riscv64 has no binary")
	}
}

func TestTemplates(t *testing.T) {
	tg := &target{name: "pi1", roles: []string{roleAgent}, user: "herd", paths: paths{}, listenAddr: ":8086",
		serverURLs: []string{"http://head:8086"}, hostname: "pi1", interval: "10s"}
	unit := unitFile(tg, roleAgent)
	for _, want := range []string{"User=herd", "ExecStart=/usr/local/bin/herd agent --config /etc/herd/agent.toml", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/herd"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	cfg := agentConfig(tg)
	for _, want := range []string{`urls = ["http://head:8086"]`, `hostname = "pi1"`, `interval = "10s"`, `buffer_dir = "/var/lib/herd/agent-buffer"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("agent config lacks %q:\n%s", want, cfg)
		}
	}
	scfg := serverConfig(tg)
	for _, want := range []string{`http-addr = ":8086"`, `data-dir = "/var/lib/herd/server"`, "no-local-agent = true"} {
		if !strings.Contains(scfg, want) {
			t.Errorf("server config lacks %q:\n%s", want, scfg)
		}
	}
}

func TestRecap(t *testing.T) {
	r := &Recap{Hosts: []*HostResult{
		{Name: "whitemage", OK: 9, Changed: 3, Elapsed: time.Second},
		{Name: "machinist", Unreachable: true, Err: errors.New("connect: refused")},
	}}
	var b bytes.Buffer
	r.Print(&b)
	out := b.String()
	for _, want := range []string{"PLAY RECAP", "whitemage : ok=9    changed=3    unreachable=0    failed=0", "machinist : ok=0    changed=0    unreachable=1    failed=0", "machinist: connect: refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("recap lacks %q:\n%s", want, out)
		}
	}
	if r.ExitCode() != 1 {
		t.Error("exit code 0 with an unreachable host")
	}
	r.Hosts = r.Hosts[:1]
	if r.ExitCode() != 0 {
		t.Error("exit code 1 with every host ok")
	}
}

func TestApiAddr(t *testing.T) {
	for in, want := range map[string]string{":8086": "127.0.0.1:8086", "0.0.0.0:80": "127.0.0.1:80", "10.0.0.1:8086": "10.0.0.1:8086"} {
		if got := apiAddr(in); got != want {
			t.Errorf("apiAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
