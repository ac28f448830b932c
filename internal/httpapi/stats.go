package httpapi

import (
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/herdmon/herd/internal/membudget"
)

// stats are the handler's counters, named in /debug/vars as InfluxDB's
// httpd service names them so that Telegraf's inputs.influxdb reads them.
type stats struct {
	requests             atomic.Int64
	active               atomic.Int64
	requestDurationNs    atomic.Int64
	queryRequests        atomic.Int64
	queryDurationNs      atomic.Int64
	queryBytesSent       atomic.Int64
	queryTooLarge        atomic.Int64
	queryAborted         atomic.Int64 // answers cut: connection closed mid-answer
	queryBodyTimeouts    atomic.Int64 // POST forms that did not arrive within body-read-timeout
	queryTooDeep         atomic.Int64
	queryTooManyTerms    atomic.Int64
	writeRequests        atomic.Int64
	writeActive          atomic.Int64
	writeDurationNs      atomic.Int64
	writeBytesReceived   atomic.Int64
	pingRequests         atomic.Int64
	pointsWrittenOK      atomic.Int64
	pointsWrittenDropped atomic.Int64
	pointsWrittenFail    atomic.Int64
	valuesWrittenOK      atomic.Int64
	clientErrors         atomic.Int64
	serverErrors         atomic.Int64
	recoveredPanics      atomic.Int64
	// Write limits: writes refused for a turn (queue full or timeout),
	// for write memory, and bodies that arrived too slowly.
	writeThrottled      atomic.Int64
	writeMemoryRejected atomic.Int64
	writeBodyTimeouts   atomic.Int64
}

// values returns the counters under InfluxDB's names (services/httpd),
// plus herd's valuesWrittenOK.
func (s *stats) values(mem membudget.Stats) map[string]int64 {
	return map[string]int64{
		"queryMemoryBytes":     mem.Used,
		"queryMemoryPeakBytes": mem.Peak,
		"queryMemoryRejected":  mem.Rejected,
		"req":                  s.requests.Load(),
		"reqActive":            s.active.Load(),
		"reqDurationNs":        s.requestDurationNs.Load(),
		"queryReq":             s.queryRequests.Load(),
		"queryReqDurationNs":   s.queryDurationNs.Load(),
		"queryRespBytes":       s.queryBytesSent.Load(),
		"queryReqTooLarge":     s.queryTooLarge.Load(),
		"queryAborted":         s.queryAborted.Load(),
		"queryBodyTimeouts":    s.queryBodyTimeouts.Load(),
		"queryReqTooDeep":      s.queryTooDeep.Load(),
		"queryReqTooManyTerms": s.queryTooManyTerms.Load(),
		"writeReq":             s.writeRequests.Load(),
		"writeReqActive":       s.writeActive.Load(),
		"writeReqDurationNs":   s.writeDurationNs.Load(),
		"writeReqBytes":        s.writeBytesReceived.Load(),
		"pingReq":              s.pingRequests.Load(),
		"pointsWrittenOK":      s.pointsWrittenOK.Load(),
		"pointsWrittenDropped": s.pointsWrittenDropped.Load(),
		"pointsWrittenFail":    s.pointsWrittenFail.Load(),
		"valuesWrittenOK":      s.valuesWrittenOK.Load(),
		"clientError":          s.clientErrors.Load(),
		"serverError":          s.serverErrors.Load(),
		"recoveredPanics":      s.recoveredPanics.Load(),
		"authFail":             0,
		"writeThrottled":       s.writeThrottled.Load(),
		"writeMemoryRejected":  s.writeMemoryRejected.Load(),
		"writeBodyTimeouts":    s.writeBodyTimeouts.Load(),
	}
}

// serveExpvar answers /debug/vars in InfluxDB's layout: "system",
// "cmdline", "memstats", then one key per statistic.
func (h *Handler) serveExpvar(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	sys, _ := json.Marshal(map[string]any{
		"currentTime": now,
		"started":     h.started.UTC(),
		"uptime":      int64(now.Sub(h.started).Seconds()),
	})
	bind := h.bindAddr
	values := h.stats.values(h.queryMemory.Stats())
	values["writeMemoryBytes"] = h.writeMem.inUse() // a gauge: bytes held by writes in progress
	httpd, _ := json.Marshal(map[string]any{
		"name":   "httpd",
		"tags":   map[string]string{"bind": bind},
		"values": values,
	})
	var b bytes.Buffer
	b.WriteString("{\n")
	fmt.Fprintf(&b, "\"system\": %s", sys)
	if v := expvar.Get("cmdline"); v != nil {
		fmt.Fprintf(&b, ",\n\"cmdline\": %s", v.String())
	}
	if v := expvar.Get("memstats"); v != nil {
		fmt.Fprintf(&b, ",\n\"memstats\": %s", v.String())
	}
	fmt.Fprintf(&b, ",\n%q: %s", "httpd:"+bind, httpd)
	if h.storageStats != nil {
		st, _ := json.Marshal(map[string]any{"name": "storage", "tags": map[string]string{}, "values": h.storageStats()})
		fmt.Fprintf(&b, ",\n%q: %s", "storage", st)
	}
	b.WriteString("\n}\n")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// serveMetrics answers /metrics with the same counters in Prometheus's
// text format.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	v := h.stats.values(h.queryMemory.Stats())
	var b bytes.Buffer
	for _, m := range []struct{ name, key, help string }{
		{"herd_http_requests_total", "req", "HTTP requests received."},
		{"herd_http_write_requests_total", "writeReq", "Write requests received."},
		{"herd_http_query_requests_total", "queryReq", "Query requests received."},
		{"herd_http_write_bytes_total", "writeReqBytes", "Line-protocol bytes received, after decompression."},
		{"herd_points_written_total", "pointsWrittenOK", "Points written."},
		{"herd_values_written_total", "valuesWrittenOK", "Field values written."},
		{"herd_points_dropped_total", "pointsWrittenDropped", "Points dropped by partial writes."},
		{"herd_points_failed_total", "pointsWrittenFail", "Points of failed write requests."},
		{"herd_http_client_errors_total", "clientError", "Replies with a 4xx status."},
		{"herd_http_server_errors_total", "serverError", "Replies with a 5xx status."},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", m.name, m.help, m.name, m.name, v[m.key])
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}
