package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herdmon/herd/internal/deploy"
	"github.com/herdmon/herd/internal/deploy/inventory"
)

// runDeploy is `herd deploy`: read the inventory, install or update herd
// on every host over SSH, verify the agents report, print a recap. Exit
// code 1 when any host failed or was unreachable, 2 for bad usage.
func runDeploy(args []string) int {
	fs := flag.NewFlagSet("herd deploy", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: herd deploy -i INVENTORY [--servers GROUP] [--agents GROUP] [--check] [--uninstall] [--bin-dir DIR] [--forks N] [--accept-new-host-keys] [flags]\n\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nThe inventory is Ansible's (INI or YAML). See docs/deploy.md.")
	}
	var (
		invPath   = fs.String("i", "", "Ansible inventory `file` (INI or YAML)")
		servers   = fs.String("servers", "", "`group` (or host) that runs herd server (default "+deploy.DefaultServersGroup+", else the first host)")
		agents    = fs.String("agents", "", "`group` (or host) that runs herd agent (default all)")
		check     = fs.Bool("check", false, "show what would change, change nothing")
		uninstall = fs.Bool("uninstall", false, "remove everything herd deploy installed (services, binary, config, data)")
		keepData  = fs.Bool("keep-data", false, "with --uninstall: keep /var/lib/herd (the server's data, the agents' buffers)")
		binDir    = fs.String("bin-dir", "dist", "`directory` with herd-linux-{amd64,arm64,armv7,armv6} (make dist)")
		forks     = fs.Int("forks", deploy.DefaultForks, "hosts handled in parallel")
		acceptNew = fs.Bool("accept-new-host-keys", false, "trust and record host keys seen for the first time (a changed key is always refused)")
		initSys   = fs.String("init", deploy.InitAuto, "service manager: auto (systemd, else an error), systemd, or none (a supervisor script)")
		hostsFile = fs.Bool("manage-hosts-file", false, "write the cluster's names into /etc/hosts inside a marked block")
		verbose   = fs.Bool("v", false, "show the commands run on the hosts")
		verifyT   = fs.Duration("verify-timeout", deploy.DefaultVerifyTimeout, "how long to wait for each agent's first points (0: skip verification)")
		connectT  = fs.Duration("connect-timeout", 10*time.Second, "SSH connect and handshake timeout")
		known     = fs.String("known-hosts", "", "known_hosts `file` (default ~/.ssh/known_hosts)")
	)
	fs.StringVar(invPath, "inventory", "", "same as -i")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "herd deploy: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *invPath == "" {
		fmt.Fprintln(os.Stderr, "herd deploy: -i INVENTORY is required")
		fs.Usage()
		return 2
	}
	if *keepData && !*uninstall {
		fmt.Fprintln(os.Stderr, "herd deploy: --keep-data only applies with --uninstall")
		return 2
	}
	if *forks < 1 {
		fmt.Fprintln(os.Stderr, "herd deploy: --forks must be at least 1")
		return 2
	}
	inv, err := inventory.Load(*invPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd deploy: %v\n", err)
		return 2
	}
	vt := *verifyT
	if vt == 0 {
		vt = -1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	recap, err := deploy.Run(ctx, deploy.Options{
		Inventory:         inv,
		Servers:           *servers,
		Agents:            *agents,
		BinDir:            *binDir,
		Check:             *check,
		Uninstall:         *uninstall,
		KeepData:          *keepData,
		Forks:             *forks,
		AcceptNewHostKeys: *acceptNew,
		Init:              *initSys,
		ManageHostsFile:   *hostsFile,
		Verbose:           *verbose,
		VerifyTimeout:     vt,
		KnownHostsFile:    *known,
		AgentSocket:       os.Getenv("SSH_AUTH_SOCK"),
		ConnectTimeout:    *connectT,
		Out:               os.Stdout,
		Live:              isTerminal(os.Stdout),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd deploy: %v\n", err)
		var ue *deploy.UsageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return recap.ExitCode()
}

// isTerminal reports whether f is a character device (a terminal), where
// the live per-host display can redraw itself.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
