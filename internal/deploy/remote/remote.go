// Package remote runs commands on hosts over SSH with the standard Go
// SSH stack: keys from ~/.ssh and the ssh-agent, host aliases from
// ~/.ssh/config, and host keys checked against known_hosts. A host key
// is never ignored: an unknown one is refused unless the caller accepts
// new keys (OpenSSH's StrictHostKeyChecking=accept-new), a changed one
// is always refused.
package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Config says how to reach one host.
type Config struct {
	// Addr is the host name or IP address to connect to.
	Addr string
	// Port defaults to 22.
	Port string
	// User defaults to the local user name.
	User string
	// IdentityFiles are private keys to offer, in order. Keys that need
	// a passphrase are skipped (load them into ssh-agent instead).
	IdentityFiles []string
	// KnownHostsFile is checked and, with AcceptNewHostKeys, appended to.
	KnownHostsFile string
	// AcceptNewHostKeys trusts and records a host key seen for the first
	// time. A key that differs from a recorded one is refused regardless.
	AcceptNewHostKeys bool
	// AgentSocket is the ssh-agent socket (SSH_AUTH_SOCK); empty: none.
	AgentSocket string
	// Timeout bounds connecting and the SSH handshake (default 10s).
	Timeout time.Duration
}

// UnknownHostKeyError is returned when a host's key is in no
// known_hosts entry and new keys are not accepted.
type UnknownHostKeyError struct {
	Host        string // as in known_hosts: host or [host]:port
	KeyType     string
	Fingerprint string // SHA256:...
}

func (e *UnknownHostKeyError) Error() string {
	return fmt.Sprintf("unknown host key for %s: %s %s; check it, then run again with --accept-new-host-keys to trust and record it",
		e.Host, e.KeyType, e.Fingerprint)
}

// ChangedHostKeyError is returned when a host presents a key other than
// the one recorded for it: possibly a man-in-the-middle attack, possibly
// a reinstalled host. It is never accepted automatically.
type ChangedHostKeyError struct {
	Host        string
	KeyType     string
	Fingerprint string
	File        string
	Line        int
}

func (e *ChangedHostKeyError) Error() string {
	return fmt.Sprintf("HOST KEY CHANGED for %s: it now presents %s %s, which differs from %s:%d; this may be a man-in-the-middle attack. If the host was reinstalled, remove the old entry (ssh-keygen -R %s) and run again",
		e.Host, e.KeyType, e.Fingerprint, e.File, e.Line, e.Host)
}

// Client is a connection to one host.
type Client struct {
	c     *ssh.Client
	agent net.Conn
}

// knownHostsMu serialises appends to known_hosts by parallel dials.
var knownHostsMu sync.Mutex

// Dial connects and authenticates.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Port == "" {
		cfg.Port = "22"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.User == "" {
		cfg.User = currentUser()
	}
	hostport := net.JoinHostPort(cfg.Addr, cfg.Port)

	var methods []ssh.AuthMethod
	var agentConn net.Conn
	if cfg.AgentSocket != "" {
		if c, err := net.Dial("unix", cfg.AgentSocket); err == nil {
			agentConn = c
			methods = append(methods, ssh.PublicKeysCallback(agent.NewClient(c).Signers))
		}
	}
	var signers []ssh.Signer
	var keyNotes []string
	for _, f := range cfg.IdentityFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if !os.IsNotExist(err) {
				keyNotes = append(keyNotes, fmt.Sprintf("%s: %v", f, err))
			}
			continue
		}
		s, err := ssh.ParsePrivateKey(data)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				keyNotes = append(keyNotes, f+" needs a passphrase (add it to ssh-agent)")
			} else {
				keyNotes = append(keyNotes, fmt.Sprintf("%s: %v", f, err))
			}
			continue
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		methods = append(methods, ssh.PublicKeys(signers...))
	}
	closeAgent := func() {
		if agentConn != nil {
			agentConn.Close()
		}
	}
	if len(methods) == 0 {
		closeAgent()
		msg := "no SSH key: none of the identity files exist and no ssh-agent is running"
		if len(keyNotes) > 0 {
			msg += " (" + strings.Join(keyNotes, "; ") + ")"
		}
		return nil, errors.New(msg)
	}

	hkcb, algos, err := hostKeyCallback(cfg, hostport)
	if err != nil {
		closeAgent()
		return nil, err
	}
	sshCfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              methods,
		HostKeyCallback:   hkcb,
		HostKeyAlgorithms: algos,
		Timeout:           cfg.Timeout,
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		closeAgent()
		return nil, fmt.Errorf("connect %s: %w", hostport, err)
	}
	// The handshake has its own deadline: a host that accepts TCP but
	// never speaks SSH must not hang the deploy.
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, hostport, sshCfg)
	if err != nil {
		conn.Close()
		closeAgent()
		var uk *UnknownHostKeyError
		var ck *ChangedHostKeyError
		if errors.As(err, &uk) {
			return nil, uk
		}
		if errors.As(err, &ck) {
			return nil, ck
		}
		if strings.Contains(err.Error(), "unable to authenticate") && len(keyNotes) > 0 {
			return nil, fmt.Errorf("ssh %s@%s: %w (%s)", cfg.User, hostport, err, strings.Join(keyNotes, "; "))
		}
		return nil, fmt.Errorf("ssh %s@%s: %w", cfg.User, hostport, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{c: ssh.NewClient(c, chans, reqs), agent: agentConn}, nil
}

// hostKeyCallback checks keys against cfg.KnownHostsFile. It also
// returns the key algorithms already recorded for the host, so the
// server is asked for the key type we know rather than offering another
// type that would look like a changed key.
func hostKeyCallback(cfg Config, hostport string) (ssh.HostKeyCallback, []string, error) {
	if cfg.KnownHostsFile == "" {
		return nil, nil, errors.New("no known_hosts file given")
	}
	knownHostsMu.Lock()
	if _, err := os.Stat(cfg.KnownHostsFile); os.IsNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(cfg.KnownHostsFile), 0o700); err == nil {
			if f, err := os.OpenFile(cfg.KnownHostsFile, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				f.Close()
			}
		}
	}
	kh, err := knownhosts.New(cfg.KnownHostsFile)
	knownHostsMu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts: %w", err)
	}
	algos := knownAlgorithms(kh, hostport)
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := kh(hostname, remote, key)
		var ke *knownhosts.KeyError
		if err == nil || !errors.As(err, &ke) {
			return err
		}
		host := knownhosts.Normalize(hostname)
		fp := ssh.FingerprintSHA256(key)
		if len(ke.Want) > 0 {
			w := ke.Want[0]
			return &ChangedHostKeyError{Host: host, KeyType: key.Type(), Fingerprint: fp, File: w.Filename, Line: w.Line}
		}
		if !cfg.AcceptNewHostKeys {
			return &UnknownHostKeyError{Host: host, KeyType: key.Type(), Fingerprint: fp}
		}
		return appendKnownHost(cfg.KnownHostsFile, host, key)
	}
	return cb, algos, nil
}

func appendKnownHost(file, host string, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	// Follow the file's style: Debian's OpenSSH hashes host names
	// (HashKnownHosts yes), so names are not readable from the file.
	if existing, err := os.ReadFile(file); err == nil && hashedKnownHosts(existing) {
		host = knownhosts.HashHostname(host)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	if _, err := f.WriteString(knownhosts.Line([]string{host}, key) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("record host key: %w", err)
	}
	return f.Close()
}

// hashedKnownHosts reports whether a known_hosts file's entries hash
// their host names.
func hashedKnownHosts(data []byte) bool {
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			return strings.HasPrefix(l, "|1|")
		}
	}
	return false
}

// probeKey matches no real host key; checking it makes knownhosts list
// the keys it does know for a host.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

func knownAlgorithms(kh ssh.HostKeyCallback, hostport string) []string {
	remote, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		remote = &net.TCPAddr{IP: net.IPv4zero}
	}
	var ke *knownhosts.KeyError
	if !errors.As(kh(hostport, remote, probeKey), &ke) {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	for _, k := range ke.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return out
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// Close ends the connection.
func (c *Client) Close() error {
	if c.agent != nil {
		c.agent.Close()
	}
	return c.c.Close()
}

// maxOutput bounds the stdout and stderr kept from one command.
const maxOutput = 4 << 20

// Result is a finished command.
type Result struct {
	Stdout, Stderr []byte
	// Code is the exit status (-1 when the command died from a signal).
	Code int
}

// Run runs cmd (a shell command line) with stdin (may be nil). A command
// that ran and exited non-zero is not an error: look at Result.Code. The
// error reports a broken connection or ctx ending.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	s, err := c.c.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("new session: %w", err)
	}
	defer s.Close()
	var out, errb limitedBuffer
	s.Stdout, s.Stderr, s.Stdin = &out, &errb, stdin
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case <-ctx.Done():
		s.Close()
		return Result{}, ctx.Err()
	case err = <-done:
	}
	r := Result{Stdout: out.b.Bytes(), Stderr: errb.b.Bytes()}
	var ee *ssh.ExitError
	var em *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitStatus()
		if ee.Signal() != "" {
			r.Code = -1
		}
	case errors.As(err, &em):
		r.Code = -1
	default:
		return r, fmt.Errorf("run: %w", err)
	}
	return r, nil
}

// DialTCP opens a TCP connection from the remote host to addr, through
// the SSH connection (like ssh -L): herd reaches a server's API on the
// host's loopback without it being exposed to the deploying machine.
func (c *Client) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	return c.c.DialContext(ctx, "tcp", addr)
}

type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
