// Package buildinfo holds the version and commit of the binary, set at
// link time with -ldflags "-X github.com/herdmon/herd/internal/buildinfo.Version=...".
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Version is herd's own version.
var Version = "dev"

// Commit is the git commit the binary was built from.
var Commit = "unknown"

// InfluxDBVersion is the version herd reports in X-Influxdb-Version. The
// influx shell and client libraries read it to pick the protocol they
// speak, so it names the InfluxDB release whose API herd implements.
const InfluxDBVersion = "1.8.10"

// Build is the value of X-Influxdb-Build, as InfluxDB OSS sends it.
const Build = "OSS"

// Platform describes what the binary was built for: "linux/arm GOARM=6
// go1.26.8". GOARM matters on a Raspberry Pi: a GOARM=7 binary does not
// run on a Pi Zero or Pi 1 (ARMv6), so a bug report needs it.
func Platform() string {
	p := runtime.GOOS + "/" + runtime.GOARCH
	if v := ArchLevel(); v != "" {
		p += " GO" + strings.ToUpper(runtime.GOARCH) + "=" + v
	}
	return p + " " + runtime.Version()
}

// ArchLevel is the GOARM (GOARM64, GOAMD64, ...) setting the binary was
// built with, from its embedded build information, or "" when it has
// none.
func ArchLevel() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	key := "GO" + strings.ToUpper(runtime.GOARCH)
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// AddressBits is the width of a pointer: 32 on armv6/armv7 Raspberry Pi
// OS, where a process has about 3 GiB of address space whatever the RAM.
const AddressBits = strconv.IntSize
