package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func names(hosts []*Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

func mustLoad(t *testing.T, path string) *Inventory {
	t.Helper()
	inv, err := Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return inv
}

// The seed inventory must read the same in both formats.
func TestSeed(t *testing.T) {
	for _, file := range []string{"testdata/seed.ini", "testdata/seed.yml"} {
		t.Run(file, func(t *testing.T) {
			inv := mustLoad(t, file)
			all := []string{"whitemage", "blackmage", "paladin", "machinist", "burtgang"}
			if got := names(inv.Hosts()); !reflect.DeepEqual(got, all) {
				t.Errorf("hosts = %v, want %v", got, all)
			}
			cases := map[string][]string{
				"cluster-head":    {"whitemage"},
				"cluster-workers": {"blackmage", "paladin", "machinist"},
				"pi-cluster":      {"whitemage", "blackmage", "paladin", "machinist"},
				"desktop":         {"burtgang"},
				"telegraf":        all,
				"all":             all,
				"paladin,desktop": {"paladin", "burtgang"},
			}
			for pattern, want := range cases {
				hs, err := inv.Select(pattern)
				if err != nil {
					t.Fatalf("select %q: %v", pattern, err)
				}
				if got := names(hs); !reflect.DeepEqual(got, want) {
					t.Errorf("select %q = %v, want %v", pattern, got, want)
				}
			}
			if v := inv.Vars("burtgang")["ansible_user"]; v != "monofuel" {
				t.Errorf("burtgang ansible_user = %q", v)
			}
			if _, err := inv.Select("nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
				t.Errorf("select nosuch: %v", err)
			}
			g := inv.GroupsOf("paladin")
			for _, want := range []string{"all", "cluster-workers", "pi-cluster", "telegraf"} {
				if !contains(g, want) {
					t.Errorf("GroupsOf(paladin) = %v, missing %s", g, want)
				}
			}
		})
	}
}

func TestFull(t *testing.T) {
	ini := mustLoad(t, "testdata/full.ini")
	wantHosts := []string{"ungrouped-box", "head", "pi1", "pi2", "pi3", "node01", "node02", "db-a", "db-b"}
	if got := names(ini.Hosts()); !reflect.DeepEqual(got, wantHosts) {
		t.Fatalf("hosts = %v, want %v", got, wantHosts)
	}
	checks := []struct{ host, key, want string }{
		{"head", "ansible_host", "10.0.0.1"},
		{"head", "ansible_port", "2222"},
		{"head", "ansible_user", "pi"}, // host var beats all:vars
		{"pi2", "ansible_user", "pi"},
		{"pi2", "herd_agent_interval", "5s"},
		{"pi2", "ansible_become", "true"},
		{"node02", "ansible_port", "2200"},
		{"node02", "ansible_user", "root"},
		{"db-b", "ansible_ssh_private_key_file", "~/.ssh/id with space"},
		{"ungrouped-box", "ansible_user", "root"},
	}
	for _, c := range checks {
		if got := ini.Vars(c.host)[c.key]; got != c.want {
			t.Errorf("%s %s = %q, want %q", c.host, c.key, got, c.want)
		}
	}
	if hs, _ := ini.Select("ungrouped"); !reflect.DeepEqual(names(hs), []string{"ungrouped-box"}) {
		t.Errorf("ungrouped = %v", names(hs))
	}
	if hs, _ := ini.Select("pis"); len(hs) != 8 {
		t.Errorf("pis = %v", names(hs))
	}

	y := mustLoad(t, "testdata/full.yml")
	ychecks := []struct{ host, key, want string }{
		{"head", "ansible_host", "10.0.0.1"},
		{"head", "ansible_port", "2222"},
		{"head", "ansible_user", "pi"},
		{"pi3", "herd_agent_interval", "5s"},
		{"pi3", "ansible_become", "true"},
		{"ungrouped-box", "ansible_user", "root"},
	}
	for _, c := range ychecks {
		if got := y.Vars(c.host)[c.key]; got != c.want {
			t.Errorf("yaml %s %s = %q, want %q", c.host, c.key, got, c.want)
		}
	}
}

// Child group variables beat parent group variables, host variables
// beat both.
func TestVarPrecedence(t *testing.T) {
	inv, err := ParseINI("p.ini", []byte(`
[parent:children]
child
[child]
h1
h2 x=host
[parent:vars]
x=parent
y=parent
[child:vars]
x=child
[all:vars]
x=all
z=all
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"x": "child", "y": "parent", "z": "all"}
	if got := inv.Vars("h1"); !reflect.DeepEqual(got, want) {
		t.Errorf("h1 vars = %v, want %v", got, want)
	}
	if got := inv.Vars("h2")["x"]; got != "host" {
		t.Errorf("h2 x = %q", got)
	}
}

func TestRanges(t *testing.T) {
	cases := map[string][]string{
		"pi[1:4]":        {"pi1", "pi2", "pi3", "pi4"},
		"n[08:10]":       {"n08", "n09", "n10"},
		"n[1:7:3]":       {"n1", "n4", "n7"},
		"db-[a:c].lan":   {"db-a.lan", "db-b.lan", "db-c.lan"},
		"r[1:2]c[a:b]":   {"r1ca", "r1cb", "r2ca", "r2cb"},
		"plain.host.lan": {"plain.host.lan"},
	}
	for in, want := range cases {
		got, err := expandRange(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("expandRange(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"pi[4:1]", "pi[1:x]", "pi[1]", "pi[1:4", "pi1:4]", "pi[1:999999999]", "pi[1:4:0]"} {
		if _, err := expandRange(bad); err == nil {
			t.Errorf("expandRange(%q): want error", bad)
		}
	}
}

// Errors name the file and the line.
func TestErrors(t *testing.T) {
	ini := []struct{ in, want string }{
		{"[web\nh1", "bad.ini:1: section header"},
		{"[web:kids]\nh1", "bad.ini:1: unknown section type"},
		{"[web]\nh1 novalue", `bad.ini:2: want key=value after host "h1", got "novalue"`},
		{"[web]\nh1\n[web:vars]\njustaword", "bad.ini:4: want key=value"},
		{"[web:children]\na b", "bad.ini:2: want one group name"},
		{"[web]\nh[1:x]", "bad.ini:2: range"},
		{"[web]\nh1 a=\"open", "bad.ini:2: unterminated"},
		{"[web]\nh1:99999", "bad.ini:2: invalid port"},
		{"[a:children]\nb\n[b:children]\na", "is its own descendant"},
		{"[web]\nx=1", "bad.ini:2: host line starts with a variable"},
	}
	for _, c := range ini {
		_, err := ParseINI("bad.ini", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseINI(%q) = %v, want %q", c.in, err, c.want)
		}
	}
	yml := []struct{ in, want string }{
		{"all:\n  hosts:\n    - a\n    - b", "bad.yml:3: YAML sequences are not supported"},
		{"all:\n  host:\n    a:", `bad.yml:2: group "all": unknown key "host"`},
		{"all:\n  hosts:\n    a:\n     x: 1\n    b: [1]", "bad.yml:5"},
		{"all:\n\thosts:", "bad.yml:2: tab"},
		{"all:\n  hosts: a", `bad.yml:2: group "all": hosts must be a mapping`},
		{"all:\n  vars:\n    x: &a 1", "bad.yml:3: unsupported YAML value"},
		{"all:\n  vars:\n    x:\n      y: 1", `bad.yml:3: variable "x": nested values`},
		{"all:\n  children:\n    g:\n      children:\n        g:", "cannot be a child"},
		{"all:\n  vars:\n    x: 1\n    x: 2", `bad.yml:4: duplicate key "x"`},
		{"all:\n  vars:\n    x: \"open", "bad.yml:3: unterminated"},
		{"  all:", "bad.yml:1: the document must start"},
		{"all:\n  vars:\n    x: 1\n      y: 2", "bad.yml:4: unexpected indentation"},
		{"justtext", "bad.yml:1: want 'key: value'"},
	}
	for _, c := range yml {
		_, err := ParseYAML("bad.yml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseYAML(%q) = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestLoadSniffsFormat(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "hosts")
	if err := os.WriteFile(y, []byte("# cluster\nall:\n  hosts:\n    a:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := mustLoad(t, y)
	if got := names(inv.Hosts()); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("hosts = %v", got)
	}
	i := filepath.Join(dir, "inv")
	if err := os.WriteFile(i, []byte("[g]\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv = mustLoad(t, i)
	if got := names(inv.Hosts()); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("hosts = %v", got)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: want error")
	}
}

func seeds(f *testing.F, ext string) {
	files, _ := filepath.Glob("testdata/*" + ext)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkInvariants runs every query on a parsed inventory: none may panic.
func checkInvariants(t *testing.T, inv *Inventory) {
	if len(inv.Hosts()) > MaxHosts {
		t.Fatalf("%d hosts", len(inv.Hosts()))
	}
	for _, g := range inv.GroupNames() {
		if _, err := inv.Select(g); err != nil {
			t.Fatalf("select existing group %q: %v", g, err)
		}
	}
	for _, h := range inv.Hosts() {
		inv.Vars(h.Name)
	}
}

func FuzzParseINI(f *testing.F) {
	seeds(f, ".ini")
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseINI("f.ini", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.ini") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkInvariants(t, inv)
	})
}

func FuzzParseYAML(f *testing.F) {
	seeds(f, ".yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseYAML("f.yml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkInvariants(t, inv)
	})
}
