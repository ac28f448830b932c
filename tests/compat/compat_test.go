// Package compat runs the same InfluxQL queries against herd's query
// engine and a real InfluxDB 1.x (Debian package influxdb, started here
// on a loopback port) loaded with the same data, and requires the same
// answers.
package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/lineproto"
	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/query"
	"github.com/herdmon/herd/internal/storage"
	"github.com/herdmon/herd/internal/testutil"
)

// base is the start of the generated data: a fixed time so that answers
// do not depend on when the test runs.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// dataset writes deterministic monitoring-like data as line protocol.
func dataset() []byte {
	r := rand.New(rand.NewSource(7))
	var b strings.Builder
	hosts := []string{"pi1", "pi2", "pi3", "server"}
	for step := 0; step < 180; step++ {
		t := base.Add(time.Duration(step) * 10 * time.Second).UnixNano()
		for hi, h := range hosts {
			if h == "pi3" && step%7 == 3 {
				continue // a gap
			}
			region := "home"
			if hi >= 2 {
				region = "lab"
			}
			for c := 0; c < 2; c++ {
				fmt.Fprintf(&b, "cpu,host=%s,region=%s,cpu=cpu%d usage_idle=%.3f,usage_user=%.3f %d\n",
					h, region, c, 60+r.Float64()*40, r.Float64()*30, t)
			}
			fmt.Fprintf(&b, "mem,host=%s used=%di,available_percent=%.2f,active=%t %d\n",
				h, 400_000_000+int64(step)*1000*int64(hi+1)+int64(r.Intn(5000)), 30+r.Float64()*20, step%3 == 0, t)
			fmt.Fprintf(&b, "net,host=%s,interface=eth0 bytes_recv=%di,err_in=%di %d\n",
				h, int64(step)*int64(1000+hi*100)+int64(r.Intn(10)), int64(step/50), t)
		}
		if step%30 == 0 {
			fmt.Fprintf(&b, "event,host=pi1 text=\"boot %d\",level=%di %d\n", step, step%4, t)
		}
	}
	return []byte(b.String())
}

// tsbsBase is the start of the TSBS-like data set (TSBS's default
// start time).
var tsbsBase = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)

// tsbsDataset writes data shaped like TSBS's devops "cpu" measurement:
// ten tags per host, ten int64 usage_* fields, 12 hours at 20 s steps.
func tsbsDataset() []byte {
	r := rand.New(rand.NewSource(11))
	var b strings.Builder
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
		"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	const hosts = 8
	vals := make([][]int64, hosts)
	for h := range vals {
		vals[h] = make([]int64, len(fields))
		for f := range fields {
			vals[h][f] = r.Int63n(100)
		}
	}
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	for step := 0; step < 12*180; step++ {
		t := tsbsBase.Add(time.Duration(step) * 20 * time.Second).UnixNano()
		for h := 0; h < hosts; h++ {
			fmt.Fprintf(&b, "cpu,hostname=host_%d,region=%s,datacenter=%s%c,rack=%d,os=Ubuntu16.04LTS,arch=x64,team=%s,service=%d,service_version=%d,service_environment=%s ",
				h, regions[h%3], regions[h%3], 'a'+byte(h%2), h*7%10, []string{"SF", "NYC", "LON", "CHI"}[h%4], h%5, h%2, []string{"production", "staging", "test"}[h%3])
			for f := range fields {
				v := vals[h][f] + r.Int63n(11) - 5
				v = max(0, min(100, v))
				vals[h][f] = v
				if f > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%s=%di", fields[f], v)
			}
			fmt.Fprintf(&b, " %d\n", t)
		}
	}
	return []byte(b.String())
}

func influxQuery(t *testing.T, u, db, q string) []byte {
	resp, err := http.PostForm(u+"/query", url.Values{"q": {q}, "db": {db}, "epoch": {"ns"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// herdAnswer runs q on herd's engine and encodes it as InfluxDB's JSON
// with epoch=ns.
// influxQueryAt returns influxd's answer and a time within the same
// second as the now() influxd used, asking again when its answer
// straddled a second boundary.
func influxQueryAt(t *testing.T, u, db, q string) (time.Time, []byte) {
	t.Helper()
	for range 5 {
		before := time.Now()
		want := influxQuery(t, u, db, q)
		if time.Now().Truncate(time.Second).Equal(before.Truncate(time.Second)) {
			return before, want
		}
	}
	t.Fatalf("influxd took over a second five times for %s", q)
	return time.Time{}, nil
}

func herdAnswer(ex *query.Executor, db, q string, now time.Time) []byte {
	stmts, err := influxql.ParseQuery(q)
	if err != nil {
		b, _ := json.Marshal(map[string]string{"error": "error parsing query: " + err.Error()})
		return b
	}
	type result struct {
		StatementID int    `json:"statement_id"`
		Series      []any  `json:"series,omitempty"`
		Err         string `json:"error,omitempty"`
	}
	var results []result
	for i, st := range stmts.Statements {
		rows, err := ex.Execute(context.Background(), st, query.Options{Database: db, Now: now})
		r := result{StatementID: i}
		if err != nil {
			r.Err = err.Error()
		}
		for _, row := range rows {
			m := map[string]any{"columns": row.Columns}
			if row.Name != "" {
				m["name"] = row.Name
			}
			if len(row.Tags) > 0 {
				m["tags"] = row.Tags
			}
			var vals [][]any
			for _, v := range row.Values {
				cp := append([]any(nil), v...)
				if ts, ok := cp[0].(time.Time); ok {
					cp[0] = ts.UnixNano()
				}
				vals = append(vals, cp)
			}
			m["values"] = vals
			r.Series = append(r.Series, m)
		}
		results = append(results, r)
		if err != nil {
			break
		}
	}
	b, _ := json.Marshal(map[string]any{"results": results})
	return b
}

// loadInfluxDB creates db in the real InfluxDB and writes data to it. A
// fresh influxd may answer /ping before its meta store takes a database:
// retry until the write is accepted.
func loadInfluxDB(t *testing.T, u, db string, data []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.PostForm(u+"/query", url.Values{"q": {"CREATE DATABASE " + db}}); err == nil {
			r.Body.Close()
		}
		resp, err := http.Post(u+"/write?db="+db, "text/plain", bytes.NewReader(data))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 204 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("write to influxdb: %v %v", err, resp)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadHerd creates db in herd's engine and writes data to it.
func loadHerd(t testing.TB, e *storage.Engine, db string, data []byte) {
	t.Helper()
	if err := e.CreateDatabase(db); err != nil {
		t.Fatal(err)
	}
	var p lineproto.Parser
	pts, err := p.Parse(nil, data, time.Now().UnixNano(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteBatch(&models.Batch{Database: db, Points: pts}); err != nil {
		t.Fatal(err)
	}
}

func TestDifferentialAgainstInfluxDB(t *testing.T) {
	u := testutil.StartInfluxDB(t)
	sets := []struct {
		db      string
		data    []byte
		queries []string
	}{
		{"compat", dataset(), append(append(append([]string(nil), queries...), subqueryQueries...), intoQueries...)},
		{"tsbs", tsbsDataset(), tsbsQueries},
	}
	// Two herd engines get the same data: one keeps it in its head
	// (recent, unflushed data), the other flushes it to block files, so
	// reads go through chunks and their summaries. Every query must
	// answer on both as InfluxDB does.
	engines := make([]*storage.Engine, 2)
	for i := range engines {
		e, err := storage.Open(storage.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		engines[i] = e
	}
	for _, set := range sets {
		loadInfluxDB(t, u, set.db, set.data)
		for _, e := range engines {
			loadHerd(t, e, set.db, set.data)
		}
	}
	if err := engines[1].Flush(); err != nil {
		t.Fatal(err)
	}
	phases := []string{"head", "blocks"}
	execs := []*query.Executor{{Store: engines[0]}, {Store: engines[1]}}
	total, failures := 0, [2]int{}
	for _, set := range sets {
		for _, q := range set.queries {
			total++
			// A query without an upper time bound ends at now(): herd
			// gets influxd's now, known to the second, so that a GROUP BY
			// time bucket does not differ because a minute went by
			// during the run.
			now, want := influxQueryAt(t, u, set.db, q)
			for i, ex := range execs {
				got := herdAnswer(ex, set.db, q, now)
				if !sameJSON(got, want) {
					failures[i]++
					t.Errorf("%s: query %s\n got: %.1500s\nwant: %.1500s", phases[i], q, got, want)
				}
			}
		}
	}
	st := engines[1].Statistics()
	t.Logf("%d queries; differ: %d on head data, %d on block data (%d chunks read, %d answered from summaries)",
		total, failures[0], failures[1], st["chunksRead"], st["chunksSummarized"])
	if st["chunksRead"] == 0 || st["chunksSummarized"] == 0 {
		t.Errorf("block data: %d chunks read and %d summarized: both paths must be covered", st["chunksRead"], st["chunksSummarized"])
	}
}

// sameJSON compares two answers, numbers to 1e-9 relative. InfluxDB
// returns points of different series with the same timestamp in an order
// that varies from run to run (herd orders them by series key), so rows
// with equal times are compared as a set.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	normalizeTies(x)
	normalizeTies(y)
	return closeEnough(x, y)
}

func normalizeTies(v any) {
	switch n := v.(type) {
	case map[string]any:
		if vals, ok := n["values"].([]any); ok {
			sort.SliceStable(vals, func(i, j int) bool {
				ri, _ := vals[i].([]any)
				rj, _ := vals[j].([]any)
				if len(ri) == 0 || len(rj) == 0 || !reflect.DeepEqual(ri[0], rj[0]) {
					return false
				}
				bi, _ := json.Marshal(ri)
				bj, _ := json.Marshal(rj)
				return string(bi) < string(bj)
			})
		}
		for _, c := range n {
			normalizeTies(c)
		}
	case []any:
		for _, c := range n {
			normalizeTies(c)
		}
	}
}

func closeEnough(x, y any) bool {
	switch a := x.(type) {
	case float64:
		b, ok := y.(float64)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
	case []any:
		b, ok := y.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !closeEnough(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := y.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !closeEnough(v, b[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(x, y)
}

// TestDumpDatasets writes the generated data sets as line protocol into
// $COMPAT_DUMP_DIR (compat.lp, tsbs.lp), for loading into an InfluxDB by
// hand when investigating a difference.
func TestDumpDatasets(t *testing.T) {
	dir := os.Getenv("COMPAT_DUMP_DIR")
	if dir == "" {
		t.Skip("COMPAT_DUMP_DIR not set")
	}
	for name, data := range map[string][]byte{"compat.lp": dataset(), "tsbs.lp": tsbsDataset()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
