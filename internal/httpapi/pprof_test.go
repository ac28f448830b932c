package httpapi

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestPprofOnlyWhenEnabled(t *testing.T) {
	off := newTestHandler(newFakeStore("db"), 0)
	on := New(Options{Store: newFakeStore("db"), Pprof: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cases := []struct {
		name string
		h    *Handler
		url  string
		code int
		want string
	}{
		{"off index", off, "/debug/pprof/", 404, "404 page not found"},
		{"off heap", off, "/debug/pprof/heap", 404, "404 page not found"},
		{"index", on, "/debug/pprof/", 200, "goroutine"},
		{"cmdline", on, "/debug/pprof/cmdline", 200, ""},
		{"goroutine text", on, "/debug/pprof/goroutine?debug=1", 200, "goroutine profile:"},
		{"unknown profile", on, "/debug/pprof/nope", 404, "Unknown profile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.h, req{method: "GET", url: tc.url})
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("got %d %.200q, want %d containing %q", w.Code, w.Body, tc.code, tc.want)
			}
		})
	}
}
