package httpapi

import (
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// gzipWriters are reused: a gzip.Writer holds about 800 KB of state.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// gzipResponseWriter compresses a reply for clients that accept gzip, as
// InfluxDB's gzipFilter does for /query. Flush pushes out what has been
// compressed so far, so chunked replies still stream.
type gzipResponseWriter struct {
	http.ResponseWriter
	zw *gzip.Writer
}

func (g *gzipResponseWriter) WriteHeader(code int) {
	g.Header().Del("Content-Length")
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipResponseWriter) Write(p []byte) (int, error) { return g.zw.Write(p) }

// Unwrap gives http.ResponseController the connection's writer (write
// deadlines).
func (g *gzipResponseWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

func (g *gzipResponseWriter) Flush() {
	g.zw.Flush()
	if f, ok := g.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// withGzip calls fn with a compressing writer when r accepts gzip.
func withGzip(w http.ResponseWriter, r *http.Request, fn http.HandlerFunc) {
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		fn(w, r)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	fn(&gzipResponseWriter{ResponseWriter: w, zw: zw}, r)
	zw.Close()
	zw.Reset(nil)
	gzipWriters.Put(zw)
}
