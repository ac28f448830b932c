// Package inventory reads Ansible inventories (the INI and the YAML
// format) unchanged, so a cluster already described for Ansible can be
// deployed by herd without a second list of hosts.
//
// Only the structure Ansible's own inventory plugins accept is read:
// groups, children, host and group variables, host ranges. Anything else
// is an error naming the file and line, never a silent guess.
package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MaxHosts bounds the hosts one inventory may expand to, so that a range
// like pi[1:99999999] is an error instead of an out-of-memory crash.
const MaxHosts = 10000

// Inventory is a parsed inventory: hosts in the order they first appear,
// and groups with their members, children and variables.
type Inventory struct {
	// File is the path the inventory was read from, for messages.
	File string

	hosts  []*Host
	byName map[string]*Host
	groups map[string]*Group
	order  []string // group names in order of first appearance
}

// Host is one inventory host with the variables set on it directly.
type Host struct {
	Name string
	// Vars are the variables on the host line (INI) or under the host
	// (YAML); group variables are merged in by Inventory.Vars.
	Vars map[string]string
	// Line is where the host first appears.
	Line int
}

// Group is one inventory group.
type Group struct {
	Name     string
	Hosts    []string // direct members, in order
	Children []string // child groups, in order
	Vars     map[string]string
	Line     int
}

// Error is a syntax or structure error at a place in an inventory file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

func newInventory(file string) *Inventory {
	inv := &Inventory{File: file, byName: map[string]*Host{}, groups: map[string]*Group{}}
	inv.group("all", 0)
	inv.group("ungrouped", 0)
	return inv
}

// Load reads the inventory at path: YAML when the name ends in .yml or
// .yaml or the content starts like YAML (a document marker or a "key:"
// line), INI otherwise.
func Load(path string) (*Inventory, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	if looksYAML(path, data) {
		return ParseYAML(path, data)
	}
	return ParseINI(path, data)
}

func looksYAML(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		return true
	case ".ini", ".cfg":
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		return l == "---" || (strings.HasSuffix(l, ":") && !strings.HasPrefix(l, "["))
	}
	return false
}

// group returns the group called name, creating it.
func (inv *Inventory) group(name string, line int) *Group {
	g, ok := inv.groups[name]
	if !ok {
		g = &Group{Name: name, Vars: map[string]string{}, Line: line}
		inv.groups[name] = g
		inv.order = append(inv.order, name)
	}
	return g
}

// addHost adds name to group g (creating the host on first sight) and
// overlays vars onto the host's own variables.
func (inv *Inventory) addHost(g *Group, name string, vars map[string]string, line int) (*Host, error) {
	h, ok := inv.byName[name]
	if !ok {
		if len(inv.hosts) >= MaxHosts {
			return nil, &Error{inv.File, line, fmt.Sprintf("more than %d hosts", MaxHosts)}
		}
		h = &Host{Name: name, Vars: map[string]string{}, Line: line}
		inv.byName[name] = h
		inv.hosts = append(inv.hosts, h)
	}
	for k, v := range vars {
		h.Vars[k] = v
	}
	if g != nil && g.Name != "all" && !contains(g.Hosts, name) {
		g.Hosts = append(g.Hosts, name)
	}
	return h, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// finish checks the group graph for cycles and puts hosts that are in no
// group other than all into ungrouped, as Ansible does.
func (inv *Inventory) finish() error {
	for _, name := range inv.order {
		if err := inv.checkCycle(name, map[string]bool{}); err != nil {
			return err
		}
	}
	grouped := map[string]bool{}
	for _, g := range inv.groups {
		if g.Name == "all" || g.Name == "ungrouped" {
			continue
		}
		for _, h := range g.Hosts {
			grouped[h] = true
		}
	}
	ug := inv.groups["ungrouped"]
	for _, h := range inv.hosts {
		if !grouped[h.Name] && !contains(ug.Hosts, h.Name) {
			ug.Hosts = append(ug.Hosts, h.Name)
		}
	}
	return nil
}

func (inv *Inventory) checkCycle(name string, path map[string]bool) error {
	if path[name] {
		g := inv.groups[name]
		return &Error{inv.File, g.Line, fmt.Sprintf("group %q is its own descendant", name)}
	}
	path[name] = true
	defer delete(path, name)
	for _, c := range inv.groups[name].Children {
		if err := inv.checkCycle(c, path); err != nil {
			return err
		}
	}
	return nil
}

// Hosts returns every host in order of first appearance.
func (inv *Inventory) Hosts() []*Host { return inv.hosts }

// Host returns the host called name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.byName[name]
	return h, ok
}

// Group returns the group called name.
func (inv *Inventory) Group(name string) (*Group, bool) {
	g, ok := inv.groups[name]
	return g, ok
}

// GroupNames returns the group names in order of first appearance,
// including the implicit all and ungrouped.
func (inv *Inventory) GroupNames() []string { return append([]string(nil), inv.order...) }

// Select returns the hosts matched by pattern: a comma- or colon-
// separated list of group or host names ("all" is every host), in
// inventory order without duplicates. A name that is neither a group
// nor a host is an error.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	want := map[string]bool{}
	for _, name := range strings.FieldsFunc(pattern, func(r rune) bool { return r == ',' || r == ':' }) {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if name == "all" || name == "*" {
			for _, h := range inv.hosts {
				want[h.Name] = true
			}
			continue
		}
		if _, ok := inv.groups[name]; ok {
			for _, h := range inv.members(name, map[string]bool{}) {
				want[h] = true
			}
			continue
		}
		if _, ok := inv.byName[name]; ok {
			want[name] = true
			continue
		}
		return nil, fmt.Errorf("%s: no group or host named %q (groups: %s)", inv.File, name, strings.Join(inv.userGroups(), ", "))
	}
	var out []*Host
	for _, h := range inv.hosts {
		if want[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}

func (inv *Inventory) userGroups() []string {
	var out []string
	for _, n := range inv.order {
		if n != "all" && n != "ungrouped" {
			out = append(out, n)
		}
	}
	return out
}

// members returns the hosts of group name and its descendants.
func (inv *Inventory) members(name string, seen map[string]bool) []string {
	if seen[name] {
		return nil
	}
	seen[name] = true
	g := inv.groups[name]
	out := append([]string(nil), g.Hosts...)
	for _, c := range g.Children {
		out = append(out, inv.members(c, seen)...)
	}
	return out
}

// GroupsOf returns the names of every group host belongs to, directly or
// through children, "all" included.
func (inv *Inventory) GroupsOf(host string) []string {
	var out []string
	for _, name := range inv.order {
		if name == "all" || contains(inv.members(name, map[string]bool{}), host) {
			out = append(out, name)
		}
	}
	return out
}

// Vars returns the variables of host merged as Ansible does: the all
// group's, then each group's from the outermost parent to the innermost
// child (ties by name), then the host's own.
func (inv *Inventory) Vars(host string) map[string]string {
	depth := map[string]int{}
	var walk func(name string, d int)
	walk = func(name string, d int) {
		if old, ok := depth[name]; ok && old >= d {
			return
		}
		depth[name] = d
		for _, c := range inv.groups[name].Children {
			walk(c, d+1)
		}
	}
	for _, name := range inv.order {
		if name != "all" {
			walk(name, 1)
		}
	}
	groups := inv.GroupsOf(host)
	sort.SliceStable(groups, func(i, j int) bool {
		di, dj := depth[groups[i]], depth[groups[j]]
		if groups[i] == "all" {
			di = -1
		}
		if groups[j] == "all" {
			dj = -1
		}
		if di != dj {
			return di < dj
		}
		return groups[i] < groups[j]
	})
	out := map[string]string{}
	for _, g := range groups {
		for k, v := range inv.groups[g].Vars {
			out[k] = v
		}
	}
	if h, ok := inv.byName[host]; ok {
		for k, v := range h.Vars {
			out[k] = v
		}
	}
	return out
}
