package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseINI parses Ansible's INI inventory format: [group], [group:vars]
// and [group:children] sections, host lines with key=value variables and
// an optional :port, host ranges (pi[1:4], node[01:10:2], db-[a:c]),
// comments starting with # or ;. Hosts before the first section are
// ungrouped. file names the input in errors.
func ParseINI(file string, data []byte) (*Inventory, error) {
	inv := newInventory(file)
	const (
		secHosts = iota
		secVars
		secChildren
	)
	cur, kind := inv.groups["ungrouped"], secHosts
	for i, raw := range strings.Split(string(data), "\n") {
		line := i + 1
		l := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		fail := func(format string, args ...any) error {
			return &Error{file, line, fmt.Sprintf(format, args...)}
		}
		if l[0] == '[' {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				return nil, fail("section header %q has no closing ]", l)
			}
			if rest := strings.TrimSpace(l[end+1:]); rest != "" && rest[0] != '#' && rest[0] != ';' {
				return nil, fail("unexpected %q after section header", rest)
			}
			name, suffix, hasSuffix := strings.Cut(l[1:end], ":")
			name = strings.TrimSpace(name)
			if !validGroupName(name) {
				return nil, fail("invalid group name %q", name)
			}
			kind = secHosts
			if hasSuffix {
				switch strings.TrimSpace(suffix) {
				case "vars":
					kind = secVars
				case "children":
					kind = secChildren
				default:
					return nil, fail("unknown section type %q in [%s] (want :vars or :children)", suffix, l[1:end])
				}
			}
			cur = inv.group(name, line)
			continue
		}
		switch kind {
		case secVars:
			k, v, ok := strings.Cut(l, "=")
			k = strings.TrimSpace(k)
			if !ok || !validVarName(k) {
				return nil, fail("want key=value in [%s:vars], got %q", cur.Name, l)
			}
			val, err := unquote(strings.TrimSpace(v))
			if err != nil {
				return nil, fail("%s: %v", k, err)
			}
			cur.Vars[k] = val
		case secChildren:
			toks, err := tokenize(l)
			if err != nil {
				return nil, fail("%v", err)
			}
			if len(toks) != 1 || !validGroupName(toks[0]) {
				return nil, fail("want one group name in [%s:children], got %q", cur.Name, l)
			}
			child := toks[0]
			if child == cur.Name || child == "all" {
				return nil, fail("group %q cannot be a child of %q", child, cur.Name)
			}
			inv.group(child, line)
			if !contains(cur.Children, child) {
				cur.Children = append(cur.Children, child)
			}
		default:
			if err := inv.hostLine(cur, l, line); err != nil {
				return nil, err
			}
		}
	}
	if err := inv.finish(); err != nil {
		return nil, err
	}
	return inv, nil
}

// hostLine adds the hosts of one INI host line to g.
func (inv *Inventory) hostLine(g *Group, l string, line int) error {
	fail := func(format string, args ...any) error {
		return &Error{inv.File, line, fmt.Sprintf(format, args...)}
	}
	toks, err := tokenize(l)
	if err != nil {
		return fail("%v", err)
	}
	if len(toks) == 0 {
		return nil
	}
	pattern := toks[0]
	if strings.Contains(pattern, "=") {
		return fail("host line starts with a variable %q (host name missing?)", pattern)
	}
	vars := map[string]string{}
	// name:port, but not a bare IPv6 address (several colons).
	// A colon inside a range (pi[1:4]) is not a port.
	outside := pattern[strings.LastIndexByte(pattern, ']')+1:]
	if i := strings.LastIndexByte(pattern, ':'); i > 0 && i >= len(pattern)-len(outside) && strings.Count(outside, ":") == 1 {
		port := pattern[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fail("invalid port %q in %q", port, pattern)
		}
		vars["ansible_port"] = port
		pattern = pattern[:i]
	}
	for _, t := range toks[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok || !validVarName(k) {
			return fail("want key=value after host %q, got %q", pattern, t)
		}
		vars[k] = v
	}
	names, err := expandRange(pattern)
	if err != nil {
		return fail("%v", err)
	}
	for _, name := range names {
		if !validHostName(name) {
			return fail("invalid host name %q", name)
		}
		if _, err := inv.addHost(g, name, vars, line); err != nil {
			return err
		}
	}
	return nil
}

// tokenize splits a line at whitespace like a shell: quotes group, and
// a # at the start of a token starts a comment.
func tokenize(l string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(l) {
				i++
				cur.WriteByte(l[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				toks = append(toks, cur.String())
				cur.Reset()
				in = false
			}
		case c == '#' && !in:
			return toks, nil
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if in {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// unquote strips one pair of matching quotes from a [group:vars] value.
func unquote(v string) (string, error) {
	if len(v) >= 1 && (v[0] == '"' || v[0] == '\'') {
		if len(v) < 2 || v[len(v)-1] != v[0] {
			return "", fmt.Errorf("unterminated %c quote", v[0])
		}
		return v[1 : len(v)-1], nil
	}
	return v, nil
}

func validGroupName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || strings.ContainsRune("[]:=#;,\"'", r) {
			return false
		}
	}
	return true
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func validHostName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || strings.ContainsRune("[]=#;,\"'/\\", r) {
			return false
		}
	}
	return true
}

// expandRange expands Ansible host ranges: [1:4], [01:10] (zero padded
// to the width of the start), [1:10:2] (a step) and [a:f]; several
// ranges in one pattern multiply.
func expandRange(p string) ([]string, error) {
	open := strings.IndexByte(p, '[')
	if open < 0 {
		if strings.IndexByte(p, ']') >= 0 {
			return nil, fmt.Errorf("unbalanced ] in %q", p)
		}
		return []string{p}, nil
	}
	end := strings.IndexByte(p[open:], ']')
	if end < 0 {
		return nil, fmt.Errorf("unbalanced [ in %q", p)
	}
	end += open
	head, body, tail := p[:open], p[open+1:end], p[end+1:]
	parts := strings.Split(body, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, fmt.Errorf("range [%s] in %q: want [start:end] or [start:end:step]", body, p)
	}
	step := 1
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("range [%s] in %q: bad step %q", body, p, parts[2])
		}
		step = n
	}
	var items []string
	lo, hi := parts[0], parts[1]
	if a, err1 := strconv.Atoi(lo); err1 == nil {
		b, err2 := strconv.Atoi(hi)
		if err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("range [%s] in %q: bad bounds", body, p)
		}
		if (b-a)/step+1 > MaxHosts {
			return nil, fmt.Errorf("range [%s] in %q: more than %d hosts", body, p, MaxHosts)
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' {
			width = len(lo)
		}
		for n := a; n <= b; n += step {
			items = append(items, fmt.Sprintf("%0*d", width, n))
		}
	} else if len(lo) == 1 && len(hi) == 1 && isLetter(lo[0]) && isLetter(hi[0]) && lo[0] <= hi[0] {
		for c := int(lo[0]); c <= int(hi[0]); c += step {
			items = append(items, string(rune(c)))
		}
	} else {
		return nil, fmt.Errorf("range [%s] in %q: bounds must be numbers or single letters", body, p)
	}
	rest, err := expandRange(tail)
	if err != nil {
		return nil, err
	}
	if len(items)*len(rest) > MaxHosts {
		return nil, fmt.Errorf("pattern %q expands to more than %d hosts", p, MaxHosts)
	}
	out := make([]string, 0, len(items)*len(rest))
	for _, it := range items {
		for _, r := range rest {
			out = append(out, head+it+r)
		}
	}
	return out, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
