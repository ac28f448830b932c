package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// discardWriter is a ResponseWriter that keeps only the status, so the
// benchmark measures the handler rather than httptest's recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// telegrafBody is a batch like Telegraf's: 1000 cpu points of 10 float
// fields with nanosecond timestamps, 10,000 values.
func telegrafBody(points int) []byte {
	var b bytes.Buffer
	for i := range points {
		fmt.Fprintf(&b, "cpu,cpu=cpu%d,host=raspberrypi-%02d usage_user=%d.25,usage_system=1.5,usage_idle=96.125,usage_nice=0,usage_iowait=0.5,usage_irq=0,usage_softirq=0.125,usage_steal=0,usage_guest=0,usage_guest_nice=0 %d\n",
			i%4, i%100, i%50, 1690000000000000000+int64(i)*10_000_000_000)
	}
	return b.Bytes()
}

// BenchmarkWriteHandler measures the whole /write path (routing,
// headers, body read, parse, batch) with a store that does nothing.
func BenchmarkWriteHandler(b *testing.B) {
	for _, c := range []struct{ gzipped, limits bool }{{false, false}, {true, false}, {false, true}} {
		gzipped := c.gzipped
		name := fmt.Sprintf("gzip=%v", gzipped)
		opts := Options{Store: nopStore{}, MaxBodySize: DefaultMaxBodySize, Logger: discardLogger()}
		if c.limits {
			// The server's defaults: what the limits cost a normal write.
			name += "/limits=default"
			opts.MaxFieldsPerPoint, opts.MaxConcurrentWrites = DefaultMaxFieldsPerPoint, DefaultMaxConcurrentWrites
			opts.EnqueuedWriteTimeout, opts.MaxWriteMemory = DefaultEnqueuedWriteTimeout, DefaultMaxWriteMemory
			opts.BodyReadTimeout = DefaultBodyReadTimeout
		}
		b.Run(name, func(b *testing.B) {
			const points = 1000
			body := telegrafBody(points)
			if gzipped {
				body = gz(b, string(body))
			}
			h := New(opts)
			rd := bytes.NewReader(body)
			r, _ := http.NewRequest("POST", "/write?db=db", io.NopCloser(rd))
			r.ContentLength = int64(len(body))
			if gzipped {
				r.Header.Set("Content-Encoding", "gzip")
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for range b.N {
				rd.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, r)
				if w.code != http.StatusNoContent {
					b.Fatalf("status %d", w.code)
				}
			}
			b.StopTimer()
			perPoint := float64(b.Elapsed().Nanoseconds()) / float64(b.N*points)
			b.ReportMetric(perPoint, "ns/point")
			b.ReportMetric(1e9/perPoint*10, "values/s")
		})
	}
}

func BenchmarkQueryShowDatabases(b *testing.B) {
	h := New(Options{Store: newFakeStore("telegraf", "tsbs"), Logger: discardLogger()})
	r, _ := http.NewRequest("GET", "/query?q="+strings.ReplaceAll("SHOW DATABASES", " ", "+"), nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for range b.N {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkWriteHandlerParallel runs the write path from GOMAXPROCS
// goroutines, as concurrent Telegraf agents would.
func BenchmarkWriteHandlerParallel(b *testing.B) {
	const points = 1000
	body := telegrafBody(points)
	h := New(Options{Store: nopStore{}, MaxBodySize: DefaultMaxBodySize, Logger: discardLogger()})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		r, _ := http.NewRequest("POST", "/write?db=db", io.NopCloser(rd))
		r.ContentLength = int64(len(body))
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			rd.Reset(body)
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != http.StatusNoContent {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
	perPoint := float64(b.Elapsed().Nanoseconds()) / float64(b.N*points)
	b.ReportMetric(perPoint, "ns/point")
	b.ReportMetric(1e9/perPoint*10, "values/s")
}
