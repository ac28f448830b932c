// Package buildinfo holds the version and commit of the binary, set at
// link time with -ldflags "-X github.com/herdmon/herd/internal/buildinfo.Version=...".
package buildinfo

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
