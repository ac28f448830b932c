//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herdmon/herd/internal/buildinfo"
)

// The influx shell of Debian's influxdb-client package (InfluxDB 1.x's
// cmd/influx), run against a real herd server: the README promises it
// works unchanged. Every expected output below is what the same shell
// prints against InfluxDB 1.6.7 (Debian influxdb) loaded with the same
// points, except the version herd reports.

// shellPoints are written with precision=s. 1767225600 is
// 2026-01-01T00:00:00Z.
const shellPoints = `m,host=a v=1.5,n=3i,s="x y",ok=true 1767225600
m,host=b v=2.5,n=4i,s="z",ok=false 1767225610
`

// influxShell returns the path of the influx shell. Without it the test
// is skipped, except under CI, where it fails: the suite must not pass by
// skipping what it claims to check (make test-deps installs it).
func influxShell(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("influx")
	if err != nil {
		msg := "influx shell not installed: run `make test-deps` (installs the Debian package influxdb-client)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// startShellServer starts herd with databases db (holding shellPoints)
// and other, and returns it with its port.
func startShellServer(t *testing.T) (*server, string) {
	t.Helper()
	s := startServer(t, t.TempDir(), freePort(t))
	t.Cleanup(func() { s.stop(t) })
	query(t, s.url, "CREATE DATABASE db")
	query(t, s.url, "CREATE DATABASE other")
	write(t, s.url+"/write?db=db&precision=s", shellPoints)
	_, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	return s, port
}

func write(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write %s: %s", url, resp.Status)
	}
}

// TestInfluxShellExecute runs `influx -execute` (the shell's
// non-interactive mode) and compares stdout, stderr and the exit status.
func TestInfluxShellExecute(t *testing.T) {
	bin := influxShell(t)
	s, port := startShellServer(t)

	// One result past the shell's chunk size (it asks for chunked=true
	// with the server's default of 10000 rows a chunk), so that the
	// shell joins a series cut across chunks.
	const bigN = 10050
	var big, bigCSV strings.Builder
	bigCSV.WriteString("name,time,v\n")
	for i := 0; i < bigN; i++ {
		fmt.Fprintf(&big, "big v=%di %d\n", i, 1767225600+i)
		fmt.Fprintf(&bigCSV, "big,%d,%d\n", int64(1767225600+i)*1e9, i)
	}
	write(t, s.url+"/write?db=db&precision=s", big.String())

	run := func(name string, args []string, wantOut, wantErr string, wantCode int) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"-host", "127.0.0.1", "-port", port}, args...)...)
			cmd.WaitDelay = 5 * time.Second
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("influx %q did not finish within 30s; stdout:\n%s\nstderr:\n%s", args, &stdout, &stderr)
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("influx %q: %v", args, err)
			}
			if stdout.String() != wantOut {
				t.Errorf("influx %q stdout:\n%s\nwant:\n%s", args, &stdout, wantOut)
			}
			if stderr.String() != wantErr {
				t.Errorf("influx %q stderr:\n%s\nwant:\n%s", args, &stderr, wantErr)
			}
			if code != wantCode {
				t.Errorf("influx %q exit status %d, want %d", args, code, wantCode)
			}
		})
	}

	run("show databases", []string{"-execute", "SHOW DATABASES"}, `name: databases
name
----
db
other
`, "", 0)
	run("select", []string{"-database", "db", "-execute", "SELECT * FROM m"}, `name: m
time                host n ok    s   v
----                ---- - --    -   -
1767225600000000000 a    3 true  x y 1.5
1767225610000000000 b    4 false z   2.5
`, "", 0)
	run("precision rfc3339", []string{"-database", "db", "-precision", "rfc3339", "-execute", "SELECT * FROM m"}, `name: m
time                 host n ok    s   v
----                 ---- - --    -   -
2026-01-01T00:00:00Z a    3 true  x y 1.5
2026-01-01T00:00:10Z b    4 false z   2.5
`, "", 0)
	run("precision ms", []string{"-database", "db", "-precision", "ms", "-execute", "SELECT v FROM m WHERE host = 'b'"}, `name: m
time          v
----          -
1767225610000 2.5
`, "", 0)
	run("format json", []string{"-database", "db", "-format", "json", "-execute", "SELECT * FROM m"},
		`{"results":[{"series":[{"name":"m","columns":["time","host","n","ok","s","v"],"values":[[1767225600000000000,"a",3,true,"x y",1.5],[1767225610000000000,"b",4,false,"z",2.5]]}]}]}
`, "", 0)
	run("format json empty", []string{"-database", "db", "-format", "json", "-execute", "SELECT * FROM m WHERE host = 'nobody'"},
		`{"results":[{}]}
`, "", 0)
	run("format csv", []string{"-database", "db", "-format", "csv", "-execute", "SELECT * FROM m"}, `name,time,host,n,ok,s,v
m,1767225600000000000,a,3,true,x y,1.5
m,1767225610000000000,b,4,false,z,2.5
`, "", 0)
	run("format csv group by", []string{"-database", "db", "-format", "csv", "-precision", "rfc3339", "-execute", "SELECT mean(v) FROM m GROUP BY host"}, `name,tags,time,mean
m,host=a,1970-01-01T00:00:00Z,1.5
name,tags,time,mean
m,host=b,1970-01-01T00:00:00Z,2.5
`, "", 0)
	run("two statements", []string{"-database", "db", "-execute", "SHOW MEASUREMENTS; SHOW FIELD KEYS FROM m"}, `name: measurements
name
----
big
m

name: m
fieldKey fieldType
-------- ---------
n        integer
ok       boolean
s        string
v        float
`, "", 0)
	run("chunked result", []string{"-database", "db", "-format", "csv", "-execute", "SELECT v FROM big"}, bigCSV.String(), "", 0)

	run("unknown database", []string{"-database", "nodb", "-execute", "SELECT * FROM m"},
		"ERR: database not found: nodb\n", "database not found: nodb\n", 1)
	const parseErr = "error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"
	run("bad query", []string{"-database", "db", "-execute", "SELEC * FROM m"},
		"ERR: "+parseErr+"\n", parseErr+"\n", 1)
	run("no database", []string{"-execute", "SELECT * FROM m"}, `ERR: database name required
Warning: It is possible this error is due to not setting a database.
Please set a database with the command "use <database>".
`, "database name required\n", 1)
}

// TestInfluxShellInteractive types commands into the shell on a
// terminal, as a person does, and reads what it prints back.
func TestInfluxShellInteractive(t *testing.T) {
	bin := influxShell(t)
	_, port := startShellServer(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	versionOut, err := exec.CommandContext(ctx, bin, "-version").Output()
	if err != nil {
		t.Fatalf("influx -version: %v", err)
	}
	shellVersion := strings.TrimSpace(string(versionOut)) // "InfluxDB shell version: 1.6.7~rc0"
	if !strings.HasPrefix(shellVersion, "InfluxDB shell version: ") {
		t.Fatalf("influx -version printed %q", versionOut)
	}
	t.Log(shellVersion)

	cmd := exec.CommandContext(ctx, bin, "-host", "127.0.0.1", "-port", port)
	// A terminal the shell's line editor supports (it falls back to
	// plain line reading for an empty or "dumb" TERM).
	cmd.Env = append(os.Environ(), "TERM=xterm")
	term := startTerminal(t, cmd)

	const prompt = "> "
	const within = 15 * time.Second
	banner := fmt.Sprintf("Connected to http://127.0.0.1:%s version %s\n%s\n", port, buildinfo.InfluxDBVersion, shellVersion)
	term.waitText(t, within, "banner and prompt", func(s string) bool { return strings.HasSuffix(s, "\n"+prompt) })
	if got := term.text(); got != banner+prompt {
		t.Fatalf("the shell started with:\n%s\nwant:\n%s", got, banner+prompt)
	}

	// command types line at the prompt and returns what the shell
	// printed before its next prompt.
	command := func(line string) string {
		t.Helper()
		start := len(term.text()) - len(prompt) // where the prompt line starts
		term.typeLine(t, line)
		echo := prompt + line + "\n"
		s := term.waitText(t, within, fmt.Sprintf("the answer to %q", line), func(s string) bool {
			rest := s[start:]
			return strings.HasPrefix(rest, echo) && strings.HasSuffix(rest, "\n"+prompt)
		})
		return s[start+len(echo) : len(s)-len(prompt)]
	}

	for _, step := range []struct{ line, want string }{
		{"SHOW DATABASES", "name: databases\nname\n----\ndb\nother\n"},
		{"USE db", "Using database db\n"},
		{"SELECT * FROM m", `name: m
time                host n ok    s   v
----                ---- - --    -   -
1767225600000000000 a    3 true  x y 1.5
1767225610000000000 b    4 false z   2.5
`},
		{"precision rfc3339", ""},
		{"SELECT * FROM m", `name: m
time                 host n ok    s   v
----                 ---- - --    -   -
2026-01-01T00:00:00Z a    3 true  x y 1.5
2026-01-01T00:00:10Z b    4 false z   2.5
`},
		{"SELECT v FROM m WHERE host = 'b'", `name: m
time                 v
----                 -
2026-01-01T00:00:10Z 2.5
`},
		// The shell writes through /write.
		{`INSERT shell,host=c v=3.5,s="typed" 1767225620000000000`, ""},
		{"SELECT * FROM shell", `name: shell
time                 host s     v
----                 ---- -     -
2026-01-01T00:00:20Z c    typed 3.5
`},
		// USE checks the name against SHOW DATABASES.
		{"USE nodb", "ERR: Database nodb doesn't exist. Run SHOW DATABASES for a list of existing databases.\nDB does not exist!\n"},
		{"SELEC 1", "ERR: error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1\n"},
	} {
		if got := command(step.line); got != step.want {
			t.Errorf("%q printed:\n%s\nwant:\n%s", step.line, got, step.want)
		}
	}

	start := len(term.text()) - len(prompt)
	term.typeLine(t, "exit")
	if err := term.wait(t, within); err != nil {
		t.Fatalf("the shell exited with %v after exit; transcript:\n%s", err, term.text())
	}
	if got := term.text()[start:]; got != prompt+"exit\n" {
		t.Errorf("after exit the shell printed %q, want %q", got, prompt+"exit\n")
	}
}
