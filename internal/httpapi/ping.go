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

// healthBody is InfluxDB 1.8's /health reply (json.Marshal of a map, so
// its keys are sorted).
var healthBody, _ = json.Marshal(map[string]any{
	"name":    "influxdb",
	"message": "ready for queries and writes",
	"status":  "pass",
	"checks":  []string{},
	"version": buildinfo.InfluxDBVersion,
})

// serveHealth answers GET /health.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write(healthBody)
}
