package inputs

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixtureTree copies testdata/<host> into a temporary directory, turning
// "%3A" in names into ":" (sysfs has names like soc:firmware and 179:2,
// which Go module zips do not allow).
func fixtureTree(t testing.TB, host string) string {
	t.Helper()
	src := filepath.Join("testdata", host)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, strings.ReplaceAll(rel, "%3A", ":"))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// fakeStatfs answers statfs from the tree's "statfs" file: lines of
// "<mount point> bsize blocks bfree bavail files ffree".
func fakeStatfs(t testing.TB, root string) func(string) (Statfs, error) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "statfs"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]Statfs{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 7 {
			continue
		}
		var v [6]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(w[len(w)-6+i], 10, 64)
		}
		m[strings.Join(w[:len(w)-6], " ")] = Statfs{Bsize: v[0], Blocks: v[1], Bfree: v[2], Bavail: v[3], Files: v[4], Ffree: v[5]}
	}
	return func(p string) (Statfs, error) {
		s, ok := m[p]
		if !ok {
			return Statfs{}, fs.ErrPermission
		}
		return s, nil
	}
}

func fixtureEnv(t testing.TB, root string) *Env {
	return &Env{
		Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"),
		Etc: filepath.Join(root, "etc"), Run: filepath.Join(root, "run"),
		PageSize: 4096, Statfs: fakeStatfs(t, root),
	}
}

var (
	t0 = time.Unix(1700000000, 0)
	t1 = t0.Add(10 * time.Second)
)

func encode(points []models.Point) string {
	var b []byte
	for i := range points {
		b = lineproto.AppendPoint(b, &points[i])
	}
	return string(b)
}

// gatherTwice runs one input against proc0 (the first sample, where the
// tree has one) and then against proc, and returns the second collection
// as line protocol: rates such as cpu usage exist only from the second.
func gatherTwice(t *testing.T, root, name string, opt Options) (string, error) {
	t.Helper()
	env := fixtureEnv(t, root)
	in, err := New(name, env, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "proc0")); err == nil {
		env.Proc = filepath.Join(root, "proc0")
		_ = in.Gather(context.Background(), &Accumulator{Time: t0})
		env.Proc = filepath.Join(root, "proc")
	}
	acc := &Accumulator{Time: t1}
	err = in.Gather(context.Background(), acc)
	return encode(acc.Points), err
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	// Whatever an input writes must be accepted by the server's parser.
	var p lineproto.Parser
	if _, err := p.Parse(nil, []byte(got), 0, 1); err != nil {
		t.Errorf("%s: output does not parse: %v", path, err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestFixtureTrees runs every host input against the fixture trees of a
// Raspberry Pi 3 (armv7, under-voltage set), a Pi 4 (arm64) and an x86
// server and compares with the golden line protocol in
// testdata/<host>/expected/<input>.out.
func TestFixtureTrees(t *testing.T) {
	for _, host := range []string{"x86", "pi3", "pi4"} {
		t.Run(host, func(t *testing.T) {
			root := fixtureTree(t, host)
			for _, name := range Default {
				if name == "docker" {
					continue // tested against a fake Engine API below
				}
				t.Run(name, func(t *testing.T) {
					got, err := gatherTwice(t, root, name, Options{})
					if err != nil {
						t.Fatalf("gather: %v", err)
					}
					checkGolden(t, filepath.Join("testdata", host, "expected", name+".out"), got)
				})
			}
		})
	}
}

func TestCPUPercentages(t *testing.T) {
	root := t.TempDir()
	env := &Env{Proc: root}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(root, "stat"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &CPU{env: env}
	write("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n")
	acc := &Accumulator{Time: t0}
	if err := c.Gather(context.Background(), acc); err != nil || len(acc.Points) != 0 {
		t.Fatalf("first gather: %v, %d points; want none", err, len(acc.Points))
	}
	// 100 ticks pass: 30 user (10 of them guest), 10 system, 60 idle.
	write("cpu  130 0 110 860 0 0 0 0 10 0\ncpu0 130 0 110 860 0 0 0 0 10 0\n")
	acc = &Accumulator{Time: t1}
	if err := c.Gather(context.Background(), acc); err != nil {
		t.Fatal(err)
	}
	got := encode(acc.Points)
	want := "cpu,cpu=cpu0 usage_guest=10,usage_guest_nice=0,usage_idle=60,usage_iowait=0,usage_irq=0,usage_nice=0,usage_softirq=0,usage_steal=0,usage_system=10,usage_user=20 1700000010000000000\n" +
		"cpu,cpu=cpu-total usage_guest=10,usage_guest_nice=0,usage_idle=60,usage_iowait=0,usage_irq=0,usage_nice=0,usage_softirq=0,usage_steal=0,usage_system=10,usage_user=20 1700000010000000000\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

func TestFormatUptime(t *testing.T) {
	f := func(up uint64, want string) {
		t.Helper()
		if got := formatUptime(up); got != want {
			t.Errorf("formatUptime(%d) = %q, want %q", up, got, want)
		}
	}
	f(0, " 0:00")
	f(59, " 0:00")
	f(3599, " 0:59")
	f(36000, "10:00")
	f(86400, "1 day,  0:00")
	f(93784, "1 day,  2:03")
	f(3*86400+4*3600+5*60, "3 days,  4:05")
}

func TestParseImage(t *testing.T) {
	f := func(image, name, version string) {
		t.Helper()
		n, v := parseImage(image)
		if n != name || v != version {
			t.Errorf("parseImage(%q) = %q, %q; want %q, %q", image, n, v, name, version)
		}
	}
	f("nginx", "nginx", "unknown")
	f("nginx:1.25", "nginx", "1.25")
	f("library/redis:7", "library/redis", "7")
	f("localhost:5000/app", "localhost:5000/app", "unknown")
	f("registry.local:5000/team/app:v2", "registry.local:5000/team/app", "v2")
}

func TestRPiVcgencmdFallback(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc", "device-tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc", "device-tree", "model"), []byte("Raspberry Pi Zero 2 W Rev 1.0\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := &Env{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"),
		LookPath: func(string) (string, error) { return "/usr/bin/vcgencmd", nil },
		Exec: func(_ context.Context, name string, args ...string) ([]byte, error) {
			if name != "/usr/bin/vcgencmd" || len(args) != 1 || args[0] != "get_throttled" {
				return nil, errors.New("unexpected command")
			}
			return []byte("throttled=0x80008\n"), nil
		}}
	acc := &Accumulator{Time: t1}
	if err := (&RPi{env: env}).Gather(context.Background(), acc); err != nil {
		t.Fatal(err)
	}
	want := `rpi,model=Raspberry\ Pi\ Zero\ 2\ W\ Rev\ 1.0 freq_capped=false,freq_capped_occurred=false,soft_temp_limit=true,soft_temp_limit_occurred=true,throttled=false,throttled_occurred=false,throttled_raw=524296i,under_voltage=false,under_voltage_occurred=false 1700000010000000000` + "\n"
	if got := encode(acc.Points); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}

	// Without vcgencmd a Pi still reports what it can, and a machine that
	// is no Pi reports nothing.
	env.LookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	acc = &Accumulator{Time: t1}
	if err := (&RPi{env: env}).Gather(context.Background(), acc); err != nil || len(acc.Points) != 0 {
		t.Errorf("no flags, no clock: got %v, %q; want nothing", err, encode(acc.Points))
	}
	acc = &Accumulator{Time: t1}
	if err := (&RPi{env: &Env{Proc: t.TempDir(), Sys: t.TempDir()}}).Gather(context.Background(), acc); err != nil || len(acc.Points) != 0 {
		t.Errorf("not a pi: got %v, %q; want nothing", err, encode(acc.Points))
	}
}

func TestParseThrottled(t *testing.T) {
	f := func(in string, want uint32, ok bool) {
		t.Helper()
		got, err := parseThrottled(in)
		if (err == nil) != ok || got != want {
			t.Errorf("parseThrottled(%q) = %#x, %v; want %#x ok=%v", in, got, err, want, ok)
		}
	}
	f("50005\n", 0x50005, true)
	f("0x50005", 0x50005, true)
	f("throttled=0x0", 0, true)
	f("throttled=", 0, false)
	f("zz", 0, false)
}

// FuzzProcParsers feeds arbitrary bytes to every parser of host files:
// none may panic, whatever the kernel (or a fixture) writes.
func FuzzProcParsers(f *testing.F) {
	for _, p := range []string{"x86/proc/stat", "pi3/proc/meminfo", "x86/proc/diskstats", "pi4/proc/net/dev",
		"x86/proc/1/mountinfo", "pi3/run/utmp", "x86/proc/200/stat", "x86/proc/loadavg", "x86/proc/uptime", "x86/proc/vmstat"} {
		data, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("1 (a) R"))
	f.Add([]byte(`\040\1\\777`))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseProcStatCPU(data, nil)
		parseProcStatKernel(data)
		parseMeminfo(data, meminfo{})
		parseDiskstats(data, nil)
		parseNetDev(data, nil)
		parseMountinfo(data)
		parseUtmp(data)
		var c procCounts
		parseProcPidStat(data, &c)
		parseVmstatSwap(data)
		_, _ = parseLoadavg(data)
		_, _ = parseUptime(data)
		_, _ = parseThrottled(string(data))
		unescapeOctal(string(data))
		parseImage(string(data))
	})
}
