package remote

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// SSHConfig is the part of an OpenSSH client configuration (~/.ssh/config)
// that herd honours: per-host HostName, User, Port and IdentityFile, so
// an inventory that says "whitemage" reaches the machine the user's own
// `ssh whitemage` reaches. Other keywords are ignored (herd is not a
// full OpenSSH client; ProxyJump, for example, is not supported).
type SSHConfig struct {
	blocks []sshBlock
}

type sshBlock struct {
	patterns []string // Host patterns; a leading ! negates
	opts     map[string][]string
}

// HostSettings is what an SSHConfig says about one host alias. Empty
// fields were not set.
type HostSettings struct {
	HostName      string
	User          string
	Port          string
	IdentityFiles []string
}

// maxSSHConfigLines bounds what ParseSSHConfig reads from a file.
const maxSSHConfigLines = 100000

// LoadSSHConfig reads the file at p; a missing file is an empty config.
func LoadSSHConfig(p string) (*SSHConfig, error) {
	f, err := os.Open(p)
	if os.IsNotExist(err) {
		return &SSHConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	defer f.Close()
	return ParseSSHConfig(p, f)
}

// ParseSSHConfig parses OpenSSH client configuration text. Match blocks
// and Include are skipped (their options never apply), since evaluating
// them needs a real OpenSSH.
func ParseSSHConfig(name string, r io.Reader) (*SSHConfig, error) {
	// Options before the first Host apply to every host.
	c := &SSHConfig{blocks: []sshBlock{{patterns: []string{"*"}, opts: map[string][]string{}}}}
	curIdx := 0
	skipping := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if n > maxSSHConfigLines {
			return nil, fmt.Errorf("%s: more than %d lines", name, maxSSHConfigLines)
		}
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		key, val := splitSSHOption(l)
		if val == "" {
			continue
		}
		switch strings.ToLower(key) {
		case "host":
			skipping = false
			c.blocks = append(c.blocks, sshBlock{patterns: strings.Fields(val), opts: map[string][]string{}})
			curIdx = len(c.blocks) - 1
			continue
		case "match":
			skipping = true
			continue
		}
		if skipping {
			continue
		}
		k := strings.ToLower(key)
		b := &c.blocks[curIdx]
		b.opts[k] = append(b.opts[k], strings.Trim(val, `"`))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// splitSSHOption splits "Key value", "Key=value" or "Key = value".
func splitSSHOption(l string) (string, string) {
	i := strings.IndexAny(l, " \t=")
	if i < 0 {
		return l, ""
	}
	key, rest := l[:i], strings.TrimLeft(l[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return key, strings.TrimSpace(rest)
}

// Lookup returns the settings for alias. As in OpenSSH, the first value
// found for a keyword wins, except IdentityFile, which accumulates. %h
// in HostName is replaced by the alias.
func (c *SSHConfig) Lookup(alias string) HostSettings {
	var s HostSettings
	if c == nil {
		return s
	}
	for _, b := range c.blocks {
		if !matchHost(b.patterns, alias) {
			continue
		}
		first := func(k string) string {
			if v := b.opts[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		if s.HostName == "" {
			s.HostName = strings.ReplaceAll(first("hostname"), "%h", alias)
		}
		if s.User == "" {
			s.User = first("user")
		}
		if s.Port == "" {
			s.Port = first("port")
		}
		s.IdentityFiles = append(s.IdentityFiles, b.opts["identityfile"]...)
	}
	return s
}

func matchHost(patterns []string, host string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		ok, err := path.Match(p, host)
		if err != nil {
			continue
		}
		if ok && neg {
			return false
		}
		if ok {
			matched = true
		}
	}
	return matched
}
