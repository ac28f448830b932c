package httpapi

import (
	"strings"
	"testing"
)

func TestShowDiagnosticsAndStats(t *testing.T) {
	h := New(Options{Store: newFakeStore(), BindAddr: ":8086", StorageStats: func() map[string]int64 { return map[string]int64{"flushes": 3} }})
	cases := []struct{ q, want string }{
		{"SHOW DIAGNOSTICS", `"name":"runtime","columns":["GOARCH","GOMAXPROCS","GOOS","version"]`},
		{"SHOW DIAGNOSTICS", `"name":"build"`},
		{"SHOW STATS", `"name":"httpd","tags":{"bind":":8086"}`},
		{"SHOW STATS", `"name":"storage","columns":["flushes"],"values":[[3]]`},
		{"SHOW STATS FOR 'storage'", `{"results":[{"statement_id":0,"series":[{"name":"storage","columns":["flushes"],"values":[[3]]}]}]}`},
	}
	for _, c := range cases {
		w := do(h, req{method: "GET", url: "/query?q=" + urlEscape(c.q)})
		if w.Code != 200 || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s\nwant to contain %s", c.q, w.Code, w.Body.String(), c.want)
		}
	}
}
