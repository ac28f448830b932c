package query

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/herdmon/herd/internal/models"
	"github.com/herdmon/herd/internal/storage"
)

// benchStart is the start of the benchmark data: TSBS's default.
var benchStart = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	benchHosts = 10
	benchSteps = 8640 // one day at 10 s
)

var benchFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

var (
	benchOnce sync.Once
	benchEng  *storage.Engine
	benchErr  error
)

// benchEngine loads a TSBS devops-shaped data set (10 hosts, a day at
// 10 s, ten int64 usage_* fields: 864,000 values) once, flushed to
// blocks as most data is.
func benchEngine(b *testing.B) *storage.Engine {
	benchOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			benchErr = err
			return
		}
		e, err := storage.Open(storage.Options{Dir: dir})
		if err != nil {
			benchErr = err
			return
		}
		if err := e.CreateDatabase("bench"); err != nil {
			benchErr = err
			return
		}
		r := rand.New(rand.NewSource(1))
		for step := 0; step < benchSteps; step += 360 {
			var pts []models.Point
			for s := step; s < step+360 && s < benchSteps; s++ {
				t := benchStart.Add(time.Duration(s) * 10 * time.Second).UnixNano()
				for h := 0; h < benchHosts; h++ {
					tags := models.Tags{{Key: "datacenter", Value: fmt.Sprintf("dc%d", h%3)},
						{Key: "hostname", Value: fmt.Sprintf("host_%d", h)}, {Key: "region", Value: fmt.Sprintf("r%d", h%2)}}
					fs := make([]models.Field, len(benchFields))
					for i, f := range benchFields {
						fs[i] = models.IntegerField(f, r.Int63n(101))
					}
					pts = append(pts, models.Point{Measurement: "cpu", Tags: tags, Fields: fs, Time: t})
				}
			}
			if err := e.WriteBatch(&models.Batch{Database: "bench", Points: pts}); err != nil {
				benchErr = err
				return
			}
		}
		benchErr = e.Flush()
		benchEng = e
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchEng
}

func benchQuery(b *testing.B, q string) {
	benchQueryAt(b, q, benchStart.Add(24*time.Hour))
}

// benchQueryAt runs q with now() at now.
func benchQueryAt(b *testing.B, q string, now time.Time) {
	e := benchEngine(b)
	stmt, err := influxql.ParseStatement(q)
	if err != nil {
		b.Fatal(err)
	}
	x := &Executor{Store: e}
	opt := Options{Database: "bench", Now: now}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows, err := x.Execute(context.Background(), stmt, opt)
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) == 0 {
			b.Fatal("no rows")
		}
	}
}

// The Grafana panel a dashboard of Pis shows most: one host's CPU idle,
// 6 hours in 1-minute buckets (2,160 points).
func BenchmarkQueryGrafanaPanel(b *testing.B) {
	benchQuery(b, `SELECT mean("usage_idle") FROM "autogen"."cpu" WHERE ("hostname" =~ /^host_1$/) AND time >= 1451606400000ms and time <= 1451627999000ms GROUP BY time(1m), "hostname" fill(null)`)
}

// The same over every host (21,600 points).
func BenchmarkQueryGrafanaAllHosts(b *testing.B) {
	benchQuery(b, `SELECT mean("usage_idle") FROM "cpu" WHERE time >= 1451606400000ms and time <= 1451627999000ms GROUP BY time(1m), "hostname" fill(null)`)
}

func BenchmarkQuerySingleGroupby111(b *testing.B) {
	benchQuery(b, `SELECT max(usage_user) from cpu where (hostname = 'host_7') and time >= '2016-01-01T05:17:37Z' and time < '2016-01-01T06:17:37Z' group by time(1m)`)
}

func BenchmarkQuerySingleGroupby518(b *testing.B) {
	benchQuery(b, `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait) from cpu where (hostname = 'host_1' or hostname = 'host_5' or hostname = 'host_0' or hostname = 'host_2' or hostname = 'host_6' or hostname = 'host_4' or hostname = 'host_3' or hostname = 'host_7') and time >= '2016-01-01T02:04:11Z' and time < '2016-01-01T03:04:11Z' group by time(1m)`)
}

func BenchmarkQueryCPUMaxAll8(b *testing.B) {
	benchQuery(b, `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (hostname = 'host_1' or hostname = 'host_2' or hostname = 'host_3' or hostname = 'host_4' or hostname = 'host_5' or hostname = 'host_6' or hostname = 'host_7' or hostname = 'host_0') and time >= '2016-01-01T03:12:00Z' and time < '2016-01-01T11:12:00Z' group by time(1h)`)
}

func BenchmarkQueryDoubleGroupby1(b *testing.B) {
	benchQuery(b, `SELECT mean(usage_user) from cpu where time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1h),hostname`)
}

func BenchmarkQueryDoubleGroupbyAll(b *testing.B) {
	benchQuery(b, `SELECT mean(usage_user),mean(usage_system),mean(usage_idle),mean(usage_nice),mean(usage_iowait),mean(usage_irq),mean(usage_softirq),mean(usage_steal),mean(usage_guest),mean(usage_guest_nice) from cpu where time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z' group by time(1h),hostname`)
}

func BenchmarkQueryHighCPUAll(b *testing.B) {
	benchQuery(b, `SELECT * from cpu where usage_user > 90.0 and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z'`)
}

func BenchmarkQueryHighCPU1(b *testing.B) {
	benchQuery(b, `SELECT * from cpu where usage_user > 90.0 and (hostname = 'host_3') and time >= '2016-01-01T00:00:00Z' and time < '2016-01-01T12:00:00Z'`)
}

func BenchmarkQueryLastpoint(b *testing.B) {
	benchQuery(b, `SELECT * from cpu group by "hostname" order by time desc limit 1`)
}

// Lastpoint over data ten years old, as TSBS's data sets are.
func BenchmarkQueryLastpointOldData(b *testing.B) {
	benchQueryAt(b, `SELECT * from cpu group by "hostname" order by time desc limit 1`, benchStart.AddDate(10, 0, 0))
}

func BenchmarkQueryGroupbyOrderbyLimit(b *testing.B) {
	benchQuery(b, `SELECT max(usage_user) from cpu WHERE time < '2016-01-01T07:33:00Z' group by time(1m) order by time desc limit 5`)
}

func mkdirTemp() (string, error) { return os.MkdirTemp("", "herd-query-bench") }
