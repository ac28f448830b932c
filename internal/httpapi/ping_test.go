package httpapi

import (
	"errors"
	"testing"
)

// unhealthyStore is a Store whose health check reports a problem.
type unhealthyStore struct {
	*fakeStore
	problem error
}

func (s *unhealthyStore) Health() error { return s.problem }

// TestHealthReportsTheStoresProblem: /health answers 503 "fail" with the
// store's problem as the message while the store reports one (a full
// disk: every write fails), and 200 "pass" again once it is gone; /ping
// stays 204 (the server is up and answers queries).
func TestHealthReportsTheStoresProblem(t *testing.T) {
	st := &unhealthyStore{fakeStore: newFakeStore("db"), problem: errors.New("disk full in /data (0 bytes free): wal append: no space left on device")}
	h := newTestHandler(st, 0)
	for _, tc := range []struct {
		name    string
		problem error
		code    int
		body    string
	}{
		{"failing", st.problem, 503, `{"checks":[],"message":"disk full in /data (0 bytes free): wal append: no space left on device","name":"influxdb","status":"fail","version":"1.8.10"}`},
		{"recovered", nil, 200, `{"checks":[],"message":"ready for queries and writes","name":"influxdb","status":"pass","version":"1.8.10"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st.problem = tc.problem
			w := do(h, req{method: "GET", url: "/health"})
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tc.code, tc.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if w := do(h, req{method: "GET", url: "/ping"}); w.Code != 204 {
				t.Fatalf("ping: %d", w.Code)
			}
		})
	}
}
