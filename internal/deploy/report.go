package deploy

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// HostResult is the outcome for one host, as in Ansible's PLAY RECAP.
type HostResult struct {
	Name        string
	OK          int // tasks that needed no change (or succeeded)
	Changed     int // tasks that changed something (or would, with --check)
	Unreachable bool
	Failed      bool
	// Err is why the host is unreachable or failed.
	Err     error
	Elapsed time.Duration
}

// Recap is the outcome of a whole run.
type Recap struct {
	Hosts   []*HostResult
	Elapsed time.Duration
}

// ExitCode is 0 when every host succeeded, 1 otherwise.
func (r *Recap) ExitCode() int {
	for _, h := range r.Hosts {
		if h.Failed || h.Unreachable {
			return 1
		}
	}
	return 0
}

// Print writes the PLAY RECAP block.
func (r *Recap) Print(w io.Writer) {
	width := 0
	for _, h := range r.Hosts {
		width = max(width, len(h.Name))
	}
	fmt.Fprintf(w, "\nPLAY RECAP %s\n", strings.Repeat("*", 60))
	for _, h := range r.Hosts {
		unreachable, failed := 0, 0
		if h.Unreachable {
			unreachable = 1
		}
		if h.Failed {
			failed = 1
		}
		fmt.Fprintf(w, "%-*s : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d (%.1fs)\n",
			width, h.Name, h.OK, h.Changed, unreachable, failed, h.Elapsed.Seconds())
	}
	for _, h := range r.Hosts {
		if h.Err != nil {
			fmt.Fprintf(w, "%s: %v\n", h.Name, h.Err)
		}
	}
	fmt.Fprintf(w, "total %.1fs\n", r.Elapsed.Seconds())
}

// reporter prints task results as they happen. On a terminal it also
// keeps a live block at the bottom with each host's current step (and
// upload progress), redrawn after every line.
type reporter struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	live    bool
	order   []string
	status  map[string]string
	drawn   int // lines of the live block on screen
	last    time.Time
}

func newReporter(w io.Writer, verbose, live bool, hosts []string) *reporter {
	return &reporter{w: w, verbose: verbose, live: live, order: hosts, status: map[string]string{}}
}

// task prints one result line: state is ok, changed, failed, skipping,
// unreachable or "would change" (check mode).
func (r *reporter) task(host, state, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.erase()
	fmt.Fprintf(r.w, "%-13s [%s] %s\n", state+":", host, msg)
	r.draw()
}

// command prints a command run on host (-v). Callers never pass file
// contents or secrets: uploads are shown as their destination only.
func (r *reporter) command(host, cmd string) {
	if !r.verbose {
		return
	}
	if len(cmd) > 400 {
		cmd = cmd[:400] + "…"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.erase()
	fmt.Fprintf(r.w, "  [%s] $ %s\n", host, cmd)
	r.draw()
}

// step sets host's live status; frequent updates (upload progress) are
// redrawn at most every 100ms.
func (r *reporter) step(host, s string) {
	if !r.live {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[host] = s
	if time.Since(r.last) < 100*time.Millisecond && !strings.HasPrefix(s, "done") {
		return
	}
	r.erase()
	r.draw()
}

func (r *reporter) erase() {
	if r.live && r.drawn > 0 {
		fmt.Fprintf(r.w, "\x1b[%dA\x1b[J", r.drawn)
		r.drawn = 0
	}
}

func (r *reporter) draw() {
	if !r.live {
		return
	}
	r.last = time.Now()
	n := 0
	for _, h := range r.order {
		s, ok := r.status[h]
		if !ok || strings.HasPrefix(s, "done") {
			continue
		}
		fmt.Fprintf(r.w, "  %-20s %s\n", h, s)
		n++
	}
	r.drawn = n
}

// finish clears the live block.
func (r *reporter) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.erase()
	r.live = false
}
