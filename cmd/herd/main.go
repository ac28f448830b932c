// Command herd is the one binary of the herd monitoring cluster: the
// time-series server, the host agent, the deployer and the benchmarks.
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand. run gets the arguments after the subcommand
// name and returns the process exit code: 0 success, 1 failure, 2 bad
// usage or configuration.
type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{
	"server":  {"run the time-series server (InfluxDB 1.x API) and dashboard", runServer},
	"agent":   {"collect host metrics and ship them to the server", runAgent},
	"deploy":  {"install herd on the hosts of an Ansible inventory over SSH", runDeploy},
	"bench":   {"load generators for benchmarks", runBench},
	"version": {"print the version", runVersion},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "herd: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(cmd.run(os.Args[2:]))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: herd <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'herd <command> -h' for the flags of a command.")
}
