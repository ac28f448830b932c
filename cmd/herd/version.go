package main

import (
	"fmt"

	"github.com/herdmon/herd/internal/buildinfo"
)

func runVersion(args []string) int {
	fmt.Printf("herd %s (commit %s, InfluxDB API %s, %s)\n", buildinfo.Version, buildinfo.Commit, buildinfo.InfluxDBVersion, buildinfo.Platform())
	return 0
}
