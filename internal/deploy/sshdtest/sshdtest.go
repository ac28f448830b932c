// Package sshdtest starts real OpenSSH servers (Debian's openssh-server)
// on loopback addresses for tests of herd deploy: each with its own host
// key, accepting one test client key, with a PATH chosen by the test so
// a stub systemctl can stand in for systemd.
package sshdtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHD is the OpenSSH server binary the tests run.
const SSHD = "/usr/sbin/sshd"

// Key is a generated ed25519 key pair.
type Key struct {
	PrivatePath string // OpenSSH PEM, mode 0600
	Public      ssh.PublicKey
	Signer      ssh.Signer
}

// NewKey writes a fresh key to dir/name.
func NewKey(t testing.TB, dir, name string) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".pub", ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return Key{PrivatePath: p, Public: signer.PublicKey(), Signer: signer}
}

// Options configure one server.
type Options struct {
	// IP is the loopback address to listen on, e.g. 127.0.0.2.
	IP string
	// Port to listen on; 0 picks a free one.
	Port int
	// ClientKey is the one public key allowed to log in (as root).
	ClientKey ssh.PublicKey
	// HostKey, when set, is reused (to restart a host with the same key);
	// otherwise a new one is generated.
	HostKey *Key
	// Path is the PATH of login sessions (stub commands go first).
	Path string
	// Netns, when set, is the network namespace sshd runs in, and Dial
	// how the test reaches it (from the control namespace).
	Netns string
	Dial  func(network, addr string) (net.Conn, error)
}

// Server is a running sshd.
type Server struct {
	IP      string
	Port    int
	HostKey Key
	Dir     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	opts Options
	t    testing.TB
}

// Available reports whether the OpenSSH server is installed.
func Available() bool {
	_, err := os.Stat(SSHD)
	return err == nil && os.Geteuid() == 0
}

// Start runs sshd until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if !Available() {
		t.Skip("needs root and " + SSHD + " (Debian openssh-server; make test-deps installs it)")
	}
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{IP: opts.IP, Dir: t.TempDir(), opts: opts, t: t}
	if opts.HostKey != nil {
		s.HostKey = *opts.HostKey
	} else {
		s.HostKey = NewKey(t, s.Dir, "host_ed25519")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := opts.Port
		if port == 0 {
			port = freePort(t, opts.IP)
		}
		if lastErr = s.start(port); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if opts.Port != 0 {
			break
		}
	}
	t.Fatalf("start sshd on %s: %v", opts.IP, lastErr)
	return nil
}

func freePort(t testing.TB, ip string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *Server) start(port int) error {
	auth := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(s.opts.ClientKey), 0o600); err != nil {
		return err
	}
	path := s.opts.Path
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	conf := filepath.Join(s.Dir, "sshd_config")
	text := strings.Join([]string{
		"ListenAddress " + net.JoinHostPort(s.IP, strconv.Itoa(port)),
		"HostKey " + s.HostKey.PrivatePath,
		"AuthorizedKeysFile " + auth,
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"MaxSessions 50",
		"MaxStartups 50",
		"LogLevel ERROR",
		"SetEnv PATH=" + path,
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", conf)
	if s.opts.Netns != "" {
		// ip netns exec execs sshd: the pid (and Pdeathsig) stay sshd's.
		cmd = exec.Command("ip", "netns", "exec", s.opts.Netns, SSHD, "-D", "-e", "-f", conf)
	}
	// Should the test binary die without its cleanups, sshd goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var logMu sync.Mutex
	var logLines []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logLines = append(logLines, sc.Text())
			logMu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addr := net.JoinHostPort(s.IP, strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			logMu.Lock()
			defer logMu.Unlock()
			return fmt.Errorf("sshd exited: %v: %s", err, strings.Join(logLines, "; "))
		default:
		}
		dial := func(network, addr string) (net.Conn, error) { return net.DialTimeout(network, addr, time.Second) }
		if s.opts.Dial != nil {
			dial = s.opts.Dial
		}
		if c, err := dial("tcp", addr); err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			banner, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(banner, "SSH-") {
				s.mu.Lock()
				s.cmd, s.Port = cmd, port
				s.mu.Unlock()
				go func() { <-exited }()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener, not a fixed wait
	}
	cmd.Process.Kill()
	return fmt.Errorf("sshd on %s did not answer", addr)
}

// Stop kills sshd (idempotent).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
	}
	s.cmd = nil
}

// Restart stops sshd and starts it again on the same address with the
// given host key (nil: the current one).
func (s *Server) Restart(hostKey *Key) {
	s.t.Helper()
	s.Stop()
	if hostKey != nil {
		s.HostKey = *hostKey
	}
	// The old listener may linger for a moment; retry on the same port.
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err = s.start(s.Port); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("restart sshd: %v", err)
}

// Addr is IP:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }

// KnownHostsLine is the known_hosts entry for this server.
func (s *Server) KnownHostsLine() string {
	host := s.IP
	if s.Port != 22 {
		host = "[" + s.IP + "]:" + strconv.Itoa(s.Port)
	}
	return host + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKey.Public)))
}
