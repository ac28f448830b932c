//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// A pseudo-terminal from /dev/ptmx with plain syscalls, so that no
// module is added for the one test that needs a terminal: programs such
// as the influx shell read commands line by line only from a terminal
// (from a pipe they read all of stdin as one query).

// openPTY returns the controlling side of a new pseudo-terminal, for the
// test to read and write, and the terminal side, to be the child's
// stdin, stdout and stderr. The terminal is cols columns by rows rows.
func openPTY(cols, rows uint16) (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	// Control, not Fd: Fd would switch ptm to blocking mode and lose
	// read deadlines and Close unblocking a pending Read.
	rc, err := ptm.SyscallConn()
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			var unlock int32
			if err = ioctl(fd, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
				err = fmt.Errorf("unlock pty: %w", err)
				return
			}
			if err = ioctl(fd, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
				err = fmt.Errorf("pty number: %w", err)
			}
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		return nil, nil, err
	}
	ws := struct{ rows, cols, x, y uint16 }{rows, cols, 0, 0}
	if err := ioctl(pts.Fd(), syscall.TIOCSWINSZ, unsafe.Pointer(&ws)); err != nil {
		ptm.Close()
		pts.Close()
		return nil, nil, fmt.Errorf("set pty size: %w", err)
	}
	return ptm, pts, nil
}

func ioctl(fd, req uintptr, arg unsafe.Pointer) error {
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// terminal is a process running on a pseudo-terminal, with everything it
// has printed so far.
type terminal struct {
	cmd  *exec.Cmd
	ptm  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done closes

	mu  sync.Mutex
	out bytes.Buffer // raw output, as a terminal would receive it
}

// startTerminal runs cmd (made with exec.CommandContext, so that a hung
// program is killed) as the session leader of a new 200x50 terminal.
func startTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	ptm, pts, err := openPTY(200, 50)
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		ptm.Close()
		pts.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	pts.Close() // the child has its own copies; EIO on ptm once it exits
	term := &terminal{cmd: cmd, ptm: ptm, done: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		// What the child wrote just before exiting is still in the
		// pty's buffer: let the reader drain it (it stops at EIO).
		select {
		case <-readDone:
		case <-time.After(5 * time.Second):
		}
		term.err = err
		close(term.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-term.done
		ptm.Close()
	})
	return term
}

var (
	// toColumn1 moves the cursor to the start of the line, as a line
	// editor does before it redraws the prompt and what was typed.
	toColumn1 = regexp.MustCompile(`\x1b\[1?G`)
	// ansiCSI matches the other control sequences a line editor prints
	// (cursor moves, erase to end of line, mode switches).
	ansiCSI = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)
)

// text is the output so far as a reader of the screen sees it, line by
// line: control sequences and carriage returns removed. A line the
// editor redrew from its start keeps only its last drawing.
func (term *terminal) text() string {
	term.mu.Lock()
	raw := term.out.String()
	term.mu.Unlock()
	raw = toColumn1.ReplaceAllString(raw, "\r")
	raw = ansiCSI.ReplaceAllString(raw, "")
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			l = l[j+1:]
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// waitText waits until cond accepts the screen text, and fails the test
// with the transcript if it does not within the deadline or the process
// exits first.
func (term *terminal) waitText(t *testing.T, within time.Duration, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s := term.text()
		if cond(s) {
			return s
		}
		select {
		case <-tick.C:
		case <-term.done:
			if s := term.text(); cond(s) {
				return s
			}
			t.Fatalf("%s: the program exited (%v) first; transcript:\n%s", what, term.err, term.text())
		case <-deadline.C:
			t.Fatalf("%s: not within %v; transcript:\n%s", what, within, term.text())
		}
	}
}

// typeLine types line and Enter (a carriage return, as a keyboard sends).
func (term *terminal) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := term.ptm.Write([]byte(line + "\r")); err != nil {
		t.Fatalf("type %q: %v", line, err)
	}
}

// wait waits for the process to exit and returns its exit status.
func (term *terminal) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-term.done:
		var ee *exec.ExitError
		if term.err != nil && !errors.As(term.err, &ee) {
			t.Fatalf("%s: %v", term.cmd.Path, term.err)
		}
		return term.err
	case <-time.After(within):
		t.Fatalf("%s did not exit within %v; transcript:\n%s", term.cmd.Path, within, term.text())
		return nil
	}
}
