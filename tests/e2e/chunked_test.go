package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestChunkedQuery checks chunked=true output object by object, in the
// shape InfluxDB 1.x sends (captured from influxd 1.6): one result per
// series, long series cut at chunk_size, "partial" on what continues.
func TestChunkedQuery(t *testing.T) {
	s := startServer(t, t.TempDir(), freePort(t))
	defer s.stop(t)
	query(t, s.url, "CREATE DATABASE x")
	resp, err := http.Post(s.url+"/write?db=x&precision=s", "text/plain",
		strings.NewReader("m,cpu=cpu0 v=1 1\nm,cpu=cpu0 v=2 2\nm,cpu=cpu0 v=3 3\nm,cpu=cpu1 v=4 4\n"))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("write: %v %v", err, resp)
	}
	u := s.url + "/query?" + url.Values{"db": {"x"}, "chunked": {"true"}, "chunk_size": {"2"}, "epoch": {"s"},
		"q": {"SELECT v FROM m WHERE cpu='cpu0'; SELECT v FROM m GROUP BY cpu LIMIT 1; SELECT v FROM m WHERE cpu='x'"}}.Encode()
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1],[2,2]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[3,3]]}]}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"cpu":"cpu0"},"columns":["time","v"],"values":[[1,1]]}],"partial":true}]}
{"results":[{"statement_id":1,"series":[{"name":"m","tags":{"cpu":"cpu1"},"columns":["time","v"],"values":[[4,4]]}]}]}
{"results":[{"statement_id":2}]}
`
	if string(b) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b, want)
	}
}
