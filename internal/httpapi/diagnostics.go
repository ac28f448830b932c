package httpapi

import (
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/buildinfo"
)

// diagnosticsExecutor answers SHOW DIAGNOSTICS and SHOW STATS from the
// server's own counters, in InfluxDB's layout (one series per module,
// one row), and hands every other statement to next.
type diagnosticsExecutor struct {
	h    *Handler
	next StatementExecutor
}

// ExecuteStatement implements StatementExecutor.
func (d *diagnosticsExecutor) ExecuteStatement(ectx *ExecutionContext, stmt influxql.Statement) error {
	switch s := stmt.(type) {
	case *influxql.ShowDiagnosticsStatement:
		return d.send(ectx, d.diagnostics(), s.Module)
	case *influxql.ShowStatsStatement:
		return d.send(ectx, d.stats(), s.Module)
	}
	return d.next.ExecuteStatement(ectx, stmt)
}

// module is one series of SHOW STATS or SHOW DIAGNOSTICS.
type module struct {
	name   string
	tags   map[string]string
	values map[string]any
}

func (d *diagnosticsExecutor) send(ectx *ExecutionContext, mods []module, only string) error {
	res := &Result{}
	for _, m := range mods {
		if only != "" && !strings.EqualFold(only, m.name) {
			continue
		}
		row := &Row{Name: m.name, Tags: m.tags}
		for k := range m.values {
			row.Columns = append(row.Columns, k)
		}
		sort.Strings(row.Columns)
		vals := make([]any, len(row.Columns))
		for i, c := range row.Columns {
			vals[i] = m.values[c]
		}
		row.Values = [][]any{vals}
		res.Series = append(res.Series, row)
	}
	if len(res.Series) == 0 {
		return nil
	}
	return ectx.Send(res)
}

func (d *diagnosticsExecutor) diagnostics() []module {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	return []module{
		{name: "build", values: map[string]any{"Branch": "", "Build Time": "", "Commit": buildinfo.Commit,
			"Version": buildinfo.InfluxDBVersion, "herd": buildinfo.Version}},
		{name: "network", values: map[string]any{"hostname": host}},
		{name: "runtime", values: map[string]any{"GOARCH": runtime.GOARCH, "GOMAXPROCS": runtime.GOMAXPROCS(0),
			"GOOS": runtime.GOOS, "version": runtime.Version()}},
		{name: "system", values: map[string]any{"PID": os.Getpid(), "currentTime": now.Format(time.RFC3339Nano),
			"started": d.h.started.UTC().Format(time.RFC3339Nano), "uptime": now.Sub(d.h.started).Round(time.Second).String()}},
	}
}

func (d *diagnosticsExecutor) stats() []module {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mods := []module{{name: "runtime", values: map[string]any{
		"Alloc": ms.Alloc, "Frees": ms.Frees, "HeapAlloc": ms.HeapAlloc, "HeapIdle": ms.HeapIdle,
		"HeapInUse": ms.HeapInuse, "HeapObjects": ms.HeapObjects, "HeapReleased": ms.HeapReleased,
		"HeapSys": ms.HeapSys, "Lookups": ms.Lookups, "Mallocs": ms.Mallocs, "NumGC": ms.NumGC,
		"NumGoroutine": runtime.NumGoroutine(), "PauseTotalNs": ms.PauseTotalNs, "Sys": ms.Sys,
		"TotalAlloc": ms.TotalAlloc,
	}}}
	httpd := module{name: "httpd", tags: map[string]string{"bind": d.h.bindAddr}, values: map[string]any{}}
	for k, v := range d.h.stats.values(d.h.queryMemory.Stats()) {
		httpd.values[k] = v
	}
	mods = append(mods, httpd)
	if d.h.storageStats != nil {
		st := module{name: "storage", values: map[string]any{}}
		for k, v := range d.h.storageStats() {
			st.values[k] = v
		}
		mods = append(mods, st)
	}
	return mods
}
