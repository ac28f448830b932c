package ui_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/herdmon/herd/internal/httpapi"
	"github.com/herdmon/herd/internal/ui"
)

// TestMountedUnderAPI checks how httpapi mounts the dashboard: API paths
// keep priority, browsers get the dashboard at "/", other paths stay 404.
func TestMountedUnderAPI(t *testing.T) {
	dash := ui.NewFS(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>herd dashboard")}})
	api := httpapi.New(httpapi.Options{UI: dash})
	cases := []struct {
		method, path string
		status       int
		bodyHas      string
	}{
		{"GET", "/", 200, "herd dashboard"},
		{"HEAD", "/", 200, ""},
		{"GET", "/ping", 204, ""},
		{"GET", "/write", 405, ""},
		{"GET", "/no/such/page", 404, "404 page not found"},
		{"POST", "/", 404, "404 page not found"},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.bodyHas) {
			t.Errorf("%s %s: %d %.60q, want %d with %q", c.method, c.path, rec.Code, rec.Body.String(), c.status, c.bodyHas)
		}
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Header().Get("Cache-Control") == "" {
		t.Error("dashboard response lost its Cache-Control header")
	}
}
