package httpapi

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// servePprof serves Go's profiler under /debug/pprof/, as InfluxDB does
// with pprof-enabled: the index, cmdline, profile, symbol, trace and every
// named profile (heap, goroutine, allocs, ...).
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/"); name {
	case "":
		pprof.Index(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Handler(name).ServeHTTP(w, r)
	}
}
