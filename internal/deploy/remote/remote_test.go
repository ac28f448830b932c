package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdmon/herd/internal/deploy/sshdtest"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"plain/path-1.2": "plain/path-1.2",
		"":               "''",
		"a b":            "'a b'",
		"it's":           `'it'\''s'`,
		"$(rm -rf /)":    "'$(rm -rf /)'",
	}
	for in, want := range cases {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSSHConfig(t *testing.T) {
	text := `
# comment
IdentityFile ~/.ssh/global
Host whitemage wm
  HostName 10.0.0.1
  User pi
  Port=2222
Host *.lan !bad.lan
  User lanuser
  IdentityFile "~/.ssh/lan key"
Match host foo
  User matched
Host *
  User fallback
  HostName %h.example
`
	c, err := ParseSSHConfig("config", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		alias string
		want  HostSettings
	}{
		{"wm", HostSettings{HostName: "10.0.0.1", User: "pi", Port: "2222", IdentityFiles: []string{"~/.ssh/global"}}},
		{"x.lan", HostSettings{HostName: "x.lan.example", User: "lanuser", IdentityFiles: []string{"~/.ssh/global", "~/.ssh/lan key"}}},
		{"bad.lan", HostSettings{HostName: "bad.lan.example", User: "fallback", IdentityFiles: []string{"~/.ssh/global"}}},
		{"foo", HostSettings{HostName: "foo.example", User: "fallback", IdentityFiles: []string{"~/.ssh/global"}}},
	}
	for _, c2 := range cases {
		got := c.Lookup(c2.alias)
		if fmt.Sprint(got) != fmt.Sprint(c2.want) {
			t.Errorf("Lookup(%s) = %+v, want %+v", c2.alias, got, c2.want)
		}
	}
}

func FuzzSSHConfig(f *testing.F) {
	f.Add("Host a\n HostName b\n User c\nPort 1\nIdentityFile x\nMatch all\nUser y\nHost [")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSSHConfig("f", strings.NewReader(s))
		if err != nil {
			return
		}
		c.Lookup("a")
		c.Lookup("")
	})
}

// A real OpenSSH server: run, exit codes, stdin, tunnels, and the three
// host-key cases.
func TestRealSSH(t *testing.T) {
	dir := t.TempDir()
	client := sshdtest.NewKey(t, dir, "id_ed25519")
	srv := sshdtest.Start(t, sshdtest.Options{IP: "127.0.0.1", ClientKey: client.Public})
	orig := srv.HostKey
	kh := filepath.Join(dir, "known_hosts")
	cfg := Config{
		Addr: srv.IP, Port: fmt.Sprint(srv.Port), User: "root",
		IdentityFiles:  []string{filepath.Join(dir, "missing"), client.PrivatePath},
		KnownHostsFile: kh,
	}
	ctx := context.Background()

	_, err := Dial(ctx, cfg)
	var uk *UnknownHostKeyError
	if !errors.As(err, &uk) {
		t.Fatalf("unknown host: got %v", err)
	}
	if want := ssh.FingerprintSHA256(srv.HostKey.Public); uk.Fingerprint != want || !strings.Contains(err.Error(), "--accept-new-host-keys") {
		t.Fatalf("unknown host error %q, want fingerprint %s and the flag", err, want)
	}

	cfg.AcceptNewHostKeys = true
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("accept new: %v", err)
	}
	data, _ := os.ReadFile(kh)
	if strings.TrimSpace(string(data)) != srv.KnownHostsLine() {
		t.Fatalf("known_hosts = %q, want %q", data, srv.KnownHostsLine())
	}
	r, err := c.Run(ctx, "cat; echo err >&2; exit 3", strings.NewReader("hello"))
	if err != nil || string(r.Stdout) != "hello" || string(r.Stderr) != "err\n" || r.Code != 3 {
		t.Fatalf("run = %+v, %v", r, err)
	}

	// A tunnel to a listener on the remote side.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.Write([]byte("tunnelled\n"))
			conn.Close()
		}
	}()
	tc, err := c.DialTCP(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(tc).ReadString('\n')
	tc.Close()
	if line != "tunnelled\n" {
		t.Fatalf("tunnel read %q", line)
	}
	c.Close()

	// Known now: accepted without the flag.
	cfg.AcceptNewHostKeys = false
	c, err = Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("known host: %v", err)
	}
	c.Close()

	// The host now presents another key: refused, even with the flag.
	other := sshdtest.NewKey(t, dir, "other_host")
	srv.Restart(&other)
	cfg.AcceptNewHostKeys = true
	_, err = Dial(ctx, cfg)
	var ck *ChangedHostKeyError
	if !errors.As(err, &ck) || ck.Fingerprint != ssh.FingerprintSHA256(other.Public) {
		t.Fatalf("changed key: got %v", err)
	}

	// No usable key at all.
	cfg.IdentityFiles = []string{filepath.Join(dir, "missing")}
	if _, err := Dial(ctx, cfg); err == nil || !strings.Contains(err.Error(), "no SSH key") {
		t.Fatalf("no key: %v", err)
	}

	// The original key back, and the client key held by an ssh-agent
	// only.
	srv.Restart(&orig)
	keyring := agent.NewKeyring()
	priv, err := ssh.ParseRawPrivateKey(mustRead(t, client.PrivatePath))
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	al, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	go func() {
		for {
			conn, err := al.Accept()
			if err != nil {
				return
			}
			go agent.ServeAgent(keyring, conn)
		}
	}()
	c, err = Dial(ctx, Config{Addr: cfg.Addr, Port: cfg.Port, User: "root", KnownHostsFile: kh, AgentSocket: sock})
	if err != nil {
		t.Fatalf("agent auth: %v", err)
	}
	c.Close()

	// A known_hosts file with hashed names gets a hashed entry, which
	// then matches.
	hashed := filepath.Join(dir, "known_hosts_hashed")
	if err := os.WriteFile(hashed, []byte(knownhosts.Line([]string{knownhosts.HashHostname("other.example")}, other.Public)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hcfg := Config{Addr: cfg.Addr, Port: cfg.Port, User: "root", KnownHostsFile: hashed, AgentSocket: sock, AcceptNewHostKeys: true}
	if c, err = Dial(ctx, hcfg); err != nil {
		t.Fatalf("accept into hashed file: %v", err)
	}
	c.Close()
	lines := strings.Split(strings.TrimSpace(string(mustRead(t, hashed))), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "|1|") {
		t.Fatalf("hashed known_hosts = %q", lines)
	}
	hcfg.AcceptNewHostKeys = false
	c, err = Dial(ctx, hcfg)
	if err != nil {
		t.Fatalf("hashed entry does not match: %v", err)
	}
	if r, err := c.Run(ctx, "true", nil); err != nil || r.Code != 0 {
		t.Fatalf("run over agent auth: %+v %v", r, err)
	}
	c.Close()
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
