package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/herdmon/herd/internal/buildinfo"
)

// servePing answers GET|HEAD /ping: 204, or with ?verbose=true 200 and
// {"version":"..."}, as InfluxDB does.
func (h *Handler) servePing(w http.ResponseWriter, r *http.Request) {
	h.stats.pingRequests.Add(1)
	verbose := r.URL.Query().Get("verbose")
	if verbose != "" && verbose != "0" && verbose != "false" {
		b, _ := json.Marshal(map[string]string{"version": buildinfo.InfluxDBVersion})
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HealthChecker is a Store that can tell whether it accepts writes (the
// storage engine: not while its disk is full).
type HealthChecker interface {
	// Health returns nil when healthy, else the problem, for operators.
	Health() error
}

// healthReply is InfluxDB's /health body (json.Marshal of a map, so its
// keys are sorted): InfluxDB 1.8 always answers 200 "pass"; herd, which
// can know that writes fail, answers as InfluxDB 2 does when unhealthy:
// 503 with "status":"fail" and a message naming the problem, so load
// balancers and monitoring see it.
func healthReply(problem error) []byte {
	status, message := "pass", "ready for queries and writes"
	if problem != nil {
		status, message = "fail", problem.Error()
	}
	b, _ := json.Marshal(map[string]any{
		"name":    "influxdb",
		"message": message,
		"status":  status,
		"checks":  []string{},
		"version": buildinfo.InfluxDBVersion,
	})
	return b
}

// healthBody is the healthy reply, built once.
var healthBody = healthReply(nil)

// serveHealth answers GET /health.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	if hc, ok := h.store.(HealthChecker); ok {
		if err := hc.Health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write(healthReply(err))
			return
		}
	}
	w.WriteHeader(http.StatusOK)
	w.Write(healthBody)
}
