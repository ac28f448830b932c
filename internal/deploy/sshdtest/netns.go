package sshdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Net is a private network for test hosts: one network namespace per
// host (its own address, its own port 22) joined by veth pairs to a
// bridge in another namespace, plus a control namespace from which the
// deployer runs. Nothing is added to the machine's own namespace, so
// test traffic never leaves these namespaces.
type Net struct {
	name   string // prefix of every namespace and interface name
	subnet string // "10.a.b." (a /24)
	hosts  int
}

// NetAvailable reports whether network namespaces can be made here
// (root, the ip command, a kernel that allows it).
func NetAvailable() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false
	}
	probe := fmt.Sprintf("herdprobe%d", os.Getpid())
	if exec.Command("ip", "netns", "add", probe).Run() != nil {
		return false
	}
	exec.Command("ip", "netns", "del", probe).Run()
	return true
}

// NewNet creates the bridge, the control namespace and n host
// namespaces; they are deleted when the test ends.
func NewNet(t testing.TB, n int) *Net {
	t.Helper()
	pid := os.Getpid()
	nw := &Net{
		name:   fmt.Sprintf("hd%d", pid%1000000),
		subnet: fmt.Sprintf("10.%d.%d.", 200+pid%50, pid/50%250),
		hosts:  n,
	}
	t.Cleanup(nw.Delete)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	lan := nw.name + "-lan"
	run("netns", "add", lan)
	run("-n", lan, "link", "add", "br0", "type", "bridge")
	run("-n", lan, "link", "set", "br0", "up")
	attach := func(ns string, i int, ip string) {
		a, b := fmt.Sprintf("%sa%d", nw.name, i), fmt.Sprintf("%sb%d", nw.name, i)
		run("netns", "add", ns)
		// Created in the lan namespace, so nothing touches the machine's own.
		run("-n", lan, "link", "add", a, "type", "veth", "peer", "name", b, "netns", ns)
		run("-n", lan, "link", "set", a, "master", "br0", "up")
		run("-n", ns, "link", "set", b, "name", "eth0")
		run("-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
		run("-n", ns, "link", "set", "lo", "up")
	}
	attach(nw.ControlNS(), 0, nw.ControlIP())
	for i := 1; i <= n; i++ {
		attach(nw.HostNS(i), i, nw.HostIP(i))
	}
	return nw
}

// HostNS is the namespace of host i (1-based).
func (nw *Net) HostNS(i int) string { return fmt.Sprintf("%s-h%d", nw.name, i) }

// HostIP is host i's address.
func (nw *Net) HostIP(i int) string { return fmt.Sprintf("%s%d", nw.subnet, i) }

// ControlNS is where the deployer (and the test's own queries) run.
func (nw *Net) ControlNS() string { return nw.name + "-ctl" }

// ControlIP is the control namespace's address.
func (nw *Net) ControlIP() string { return nw.subnet + "254" }

// Command runs name in the control namespace.
func (nw *Net) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", nw.ControlNS(), name}, args...)...)
}

// Dial connects to addr from the control namespace: the socket is made
// on a thread moved into that namespace and moved back afterwards. (Were
// the thread left to die instead, children it had started would get
// their Pdeathsig.)
func (nw *Net) Dial(network, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, err}
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open("/run/netns/"+nw.ControlNS(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := net.Dial(network, addr)
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and exits with this goroutine
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// Delete removes every namespace (idempotent). Processes still inside
// keep running: stop them first.
func (nw *Net) Delete() {
	exec.Command("ip", "netns", "del", nw.name+"-lan").Run()
	exec.Command("ip", "netns", "del", nw.ControlNS()).Run()
	for i := 1; i <= nw.hosts; i++ {
		exec.Command("ip", "netns", "del", nw.HostNS(i)).Run()
	}
}
