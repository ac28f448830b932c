package inventory

import (
	"fmt"
	"strings"
)

// ParseYAML parses Ansible's YAML inventory format:
//
//	all:
//	  vars: {key: value ...}
//	  hosts: {name: {var: value} ...}
//	  children: {group: {hosts, children, vars} ...}
//
// It reads the block-mapping subset of YAML such inventories use: nested
// mappings by indentation, plain and quoted scalars, empty values, {}
// and comments. Sequences, anchors, flow collections and multi-line
// scalars are errors naming the line, as is any key Ansible would not
// accept in a group.
func ParseYAML(file string, data []byte) (*Inventory, error) {
	root, err := parseYAMLTree(file, string(data))
	if err != nil {
		return nil, err
	}
	inv := newInventory(file)
	if root != nil {
		for i, name := range root.keys {
			if err := inv.yamlGroup(name, root.vals[i], nil); err != nil {
				return nil, err
			}
		}
	}
	if err := inv.finish(); err != nil {
		return nil, err
	}
	return inv, nil
}

// ynode is a YAML mapping (keys/vals) or a scalar; nil is an empty value.
type ynode struct {
	line   int
	isMap  bool
	keys   []string
	vals   []*ynode
	lines  []int // line of each key
	scalar string
}

func (inv *Inventory) yamlGroup(name string, n *ynode, parent *Group) error {
	line := 0
	if n != nil {
		line = n.line
	}
	if !validGroupName(name) {
		return &Error{inv.File, line, fmt.Sprintf("invalid group name %q", name)}
	}
	g := inv.group(name, line)
	if parent != nil {
		if name == "all" || name == parent.Name {
			return &Error{inv.File, line, fmt.Sprintf("group %q cannot be a child of %q", name, parent.Name)}
		}
		if !contains(parent.Children, name) {
			parent.Children = append(parent.Children, name)
		}
	}
	if n == nil {
		return nil
	}
	if !n.isMap {
		return &Error{inv.File, n.line, fmt.Sprintf("group %q: want a mapping with hosts, children or vars, got %q", name, n.scalar)}
	}
	for i, key := range n.keys {
		v, kl := n.vals[i], n.lines[i]
		if v != nil && !v.isMap {
			return &Error{inv.File, kl, fmt.Sprintf("group %q: %s must be a mapping, got %q", name, key, v.scalar)}
		}
		if v == nil {
			continue
		}
		switch key {
		case "hosts":
			for j, hp := range v.keys {
				hv := v.vals[j]
				vars := map[string]string{}
				if hv != nil {
					if !hv.isMap {
						return &Error{inv.File, v.lines[j], fmt.Sprintf("host %q: want a mapping of variables, got %q", hp, hv.scalar)}
					}
					if err := inv.yamlVars(hv, vars); err != nil {
						return err
					}
				}
				names, err := expandRange(hp)
				if err != nil {
					return &Error{inv.File, v.lines[j], err.Error()}
				}
				for _, hn := range names {
					if !validHostName(hn) {
						return &Error{inv.File, v.lines[j], fmt.Sprintf("invalid host name %q", hn)}
					}
					if _, err := inv.addHost(g, hn, vars, v.lines[j]); err != nil {
						return err
					}
				}
			}
		case "children":
			for j, cn := range v.keys {
				if err := inv.yamlGroup(cn, v.vals[j], g); err != nil {
					return err
				}
			}
		case "vars":
			if err := inv.yamlVars(v, g.Vars); err != nil {
				return err
			}
		default:
			return &Error{inv.File, kl, fmt.Sprintf("group %q: unknown key %q (want hosts, children or vars)", name, key)}
		}
	}
	return nil
}

func (inv *Inventory) yamlVars(n *ynode, into map[string]string) error {
	for i, k := range n.keys {
		v := n.vals[i]
		if v != nil && v.isMap {
			return &Error{inv.File, n.lines[i], fmt.Sprintf("variable %q: nested values are not supported", k)}
		}
		if v == nil {
			into[k] = ""
		} else {
			into[k] = v.scalar
		}
	}
	return nil
}

// yline is one meaningful line: its number, indentation and content
// with the comment removed.
type yline struct {
	num    int
	indent int
	text   string
}

func parseYAMLTree(file, data string) (*ynode, error) {
	var lines []yline
	docs := 0
	for i, raw := range strings.Split(data, "\n") {
		num := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		body := strings.TrimLeft(raw, " ")
		indent := len(raw) - len(body)
		if strings.HasPrefix(body, "\t") {
			return nil, &Error{file, num, "tab in indentation (YAML allows spaces only)"}
		}
		text, err := stripComment(body)
		if err != nil {
			return nil, &Error{file, num, err.Error()}
		}
		if text == "" {
			continue
		}
		if indent == 0 && (text == "---" || strings.HasPrefix(text, "--- ")) {
			if docs++; docs > 1 || len(lines) > 0 {
				return nil, &Error{file, num, "more than one YAML document"}
			}
			if rest := strings.TrimSpace(text[3:]); rest != "" {
				return nil, &Error{file, num, fmt.Sprintf("unexpected %q after ---", rest)}
			}
			continue
		}
		if indent == 0 && text == "..." {
			break
		}
		lines = append(lines, yline{num, indent, text})
	}
	if len(lines) == 0 {
		return nil, nil
	}
	if lines[0].indent != 0 {
		return nil, &Error{file, lines[0].num, "the document must start at column 1"}
	}
	p := &yparser{file: file, lines: lines}
	n, err := p.mapping(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(lines) {
		return nil, &Error{file, lines[p.pos].num, "unexpected indentation"}
	}
	return n, nil
}

type yparser struct {
	file  string
	lines []yline
	pos   int
}

// mapping parses the block mapping whose keys sit at column indent.
func (p *yparser) mapping(indent int) (*ynode, error) {
	n := &ynode{isMap: true, line: p.lines[p.pos].num}
	seen := map[string]bool{}
	for p.pos < len(p.lines) {
		l := p.lines[p.pos]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, &Error{p.file, l.num, "unexpected indentation"}
		}
		fail := func(format string, args ...any) error {
			return &Error{p.file, l.num, fmt.Sprintf(format, args...)}
		}
		if strings.HasPrefix(l.text, "- ") || l.text == "-" {
			return nil, fail("YAML sequences are not supported in an inventory (hosts, children and vars are mappings)")
		}
		key, rest, err := splitKey(l.text)
		if err != nil {
			return nil, fail("%v", err)
		}
		if seen[key] {
			return nil, fail("duplicate key %q", key)
		}
		seen[key] = true
		p.pos++
		var val *ynode
		if rest == "" {
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				val, err = p.mapping(p.lines[p.pos].indent)
				if err != nil {
					return nil, err
				}
			}
		} else {
			val, err = scalar(rest, l.num)
			if err != nil {
				return nil, fail("%v", err)
			}
			if p.pos < len(p.lines) && p.lines[p.pos].indent > indent {
				return nil, &Error{p.file, p.lines[p.pos].num, "unexpected indentation (multi-line values are not supported)"}
			}
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, val)
		n.lines = append(n.lines, l.num)
	}
	return n, nil
}

// splitKey splits "key: value" (the key possibly quoted).
func splitKey(s string) (key, rest string, err error) {
	if s[0] == '"' || s[0] == '\'' {
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return "", "", fmt.Errorf("unterminated %c quote", s[0])
		}
		key, s = s[1:end+1], s[end+2:]
		if !strings.HasPrefix(s, ":") {
			return "", "", fmt.Errorf("want ':' after key %q", key)
		}
		return key, strings.TrimSpace(s[1:]), nil
	}
	i := strings.Index(s, ": ")
	if i < 0 {
		if strings.HasSuffix(s, ":") {
			i = len(s) - 1
		} else {
			return "", "", fmt.Errorf("want 'key: value', got %q", s)
		}
	}
	key = strings.TrimSpace(s[:i])
	if key == "" {
		return "", "", fmt.Errorf("empty key in %q", s)
	}
	if strings.ContainsAny(key[:1], "&*!|>%@`{[?") {
		return "", "", fmt.Errorf("unsupported YAML syntax %q", key)
	}
	return key, strings.TrimSpace(s[i+1:]), nil
}

// scalar parses a value on the same line as its key.
func scalar(s string, line int) (*ynode, error) {
	switch {
	case s == "{}":
		return &ynode{isMap: true, line: line}, nil
	case s == "~" || s == "null" || s == "Null" || s == "NULL":
		return nil, nil
	case s[0] == '"':
		if len(s) < 2 || s[len(s)-1] != '"' {
			return nil, fmt.Errorf("unterminated \" quote")
		}
		v, err := unescapeDouble(s[1 : len(s)-1])
		if err != nil {
			return nil, err
		}
		return &ynode{scalar: v, line: line}, nil
	case s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return nil, fmt.Errorf("unterminated ' quote")
		}
		return &ynode{scalar: strings.ReplaceAll(s[1:len(s)-1], "''", "'"), line: line}, nil
	case strings.ContainsAny(s[:1], "{[&*!|>%@`"):
		return nil, fmt.Errorf("unsupported YAML value %q (flow collections, anchors, tags and block scalars are not read)", s)
	}
	return &ynode{scalar: s, line: line}, nil
}

func unescapeDouble(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", fmt.Errorf("trailing backslash")
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '"', '/':
			b.WriteByte(s[i])
		default:
			return "", fmt.Errorf("unsupported escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// stripComment removes a # comment (at the start or after a space,
// outside quotes) and trailing spaces.
func stripComment(s string) (string, error) {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			// Quotes only open at the start of a key or value.
			if i == 0 || s[i-1] == ' ' {
				quote = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimRight(s[:i], " \t"), nil
		}
	}
	if quote != 0 {
		return "", fmt.Errorf("unterminated %c quote", quote)
	}
	return strings.TrimRight(s, " \t"), nil
}
