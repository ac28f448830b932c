// Package ui serves herd's built-in web dashboard: the files that web/
// builds into internal/ui/dist, embedded in the binary with go:embed.
//
// Built files are not committed. A binary built without them (go build on
// a machine without Node) serves a page at "/" that says how to build the
// dashboard, so `go build ./...` and `go test ./...` work from a fresh clone.
//
// Caching: the build names every asset after a hash of its content and
// puts it under assets/, so those are served as immutable for a year;
// index.html, the only file that names them, is revalidated on every load
// (ETag, 304). Text is gzip-compressed once, on first request, and kept:
// on a Pi the whole dashboard costs a few hundred KiB of memory and no
// repeated CPU.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var embedded embed.FS

// IndexFile is the page the dashboard starts from; without it in the
// file system, Handler serves FallbackPage.
const IndexFile = "index.html"

// AssetsDir holds the content-hashed files that index.html references.
const AssetsDir = "assets"

// Headers sent with the dashboard's responses.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheRevalid   = "no-cache"
	// The dashboard loads nothing from elsewhere (it must work offline),
	// so the policy allows only this server. uPlot sets element styles
	// from script, which 'unsafe-inline' for styles covers.
	contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'"
)

// minGzipSize: smaller files are sent as they are; the gzip header and
// the decoding cost more than they save.
const minGzipSize = 512

// Handler serves the dashboard's files. It is safe for concurrent use.
type Handler struct {
	files map[string]*file // by URL path ("/", "/assets/app-HASH.js")
}

type file struct {
	name      string // for ServeContent's type detection
	data      []byte
	etag      string
	ctype     string
	cache     string
	gzipOnce  sync.Once
	gz        []byte // nil: not worth compressing
	gzEtag    string
	isIndex   bool
	compress  bool
	immutable bool
}

// New returns the Handler of the dashboard embedded in this binary.
func New() *Handler {
	sub, err := fs.Sub(embedded, "dist")
	if err != nil { // cannot happen: "dist" is a valid path
		panic(err)
	}
	return NewFS(sub)
}

// Built reports whether the embedded dashboard was built (has an
// index.html) rather than being the placeholder of a build without Node.
func Built() bool {
	_, err := fs.Stat(embedded, "dist/"+IndexFile)
	return err == nil
}

// NewFS returns a Handler serving the dashboard in fsys: IndexFile at "/"
// and every file under AssetsDir at "/assets/...". Other files are not
// served. Unreadable files are skipped.
func NewFS(fsys fs.FS) *Handler {
	h := &Handler{files: map[string]*file{}}
	if data, err := fs.ReadFile(fsys, IndexFile); err == nil {
		h.files["/"] = newFile(IndexFile, data, cacheRevalid)
	} else {
		h.files["/"] = newFile(IndexFile, []byte(FallbackPage), "no-store")
	}
	h.files["/"].isIndex = true
	_ = fs.WalkDir(fsys, AssetsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil
		}
		f := newFile(p, data, cacheImmutable)
		f.immutable = true
		h.files["/"+p] = f
		return nil
	})
	return h
}

func newFile(name string, data []byte, cache string) *file {
	sum := sha256.Sum256(data)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	return &file{
		name:     name,
		data:     data,
		etag:     `"` + hex.EncodeToString(sum[:12]) + `"`,
		ctype:    ctype,
		cache:    cache,
		compress: len(data) >= minGzipSize && compressible(ctype),
	}
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") ||
		strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") ||
		strings.Contains(ctype, "svg")
}

// gzipped returns the compressed body, or nil where compression does not
// pay.
func (f *file) gzipped() []byte {
	f.gzipOnce.Do(func() {
		if !f.compress {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(f.data)
		zw.Close()
		if buf.Len() < len(f.data) {
			f.gz = buf.Bytes()
			f.gzEtag = strings.TrimSuffix(f.etag, `"`) + `-gzip"`
		}
	})
	return f.gz
}

// ServeHTTP answers GET and HEAD for "/", "/index.html" and the assets;
// 404 for other paths, so mistyped API paths still get a plain 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/"+IndexFile {
		p = "/"
	}
	f := h.files[p]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.ctype)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("X-Content-Type-Options", "nosniff")
	if f.isIndex {
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Referrer-Policy", "same-origin")
	}
	body, etag := f.data, f.etag
	if f.compress {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			if gz := f.gzipped(); gz != nil {
				body, etag = gz, f.gzEtag
				hdr.Set("Content-Encoding", "gzip")
			}
		}
	}
	hdr.Set("Etag", etag)
	if hdr.Get("Content-Encoding") != "" && r.Header.Get("Range") == "" {
		// ServeContent leaves the length out when the body is encoded
		// (for handlers that compress on the fly); ours is known.
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	// The zero time leaves out Last-Modified: embedded files have none,
	// and the ETag is the validator.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip parses an Accept-Encoding header: gzip (or *) listed
// without q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.ToLower(params), " ", "")
		if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
			return false
		}
		return true
	}
	return false
}

// GzipSize returns the number of bytes the dashboard's files take as
// served to a browser that accepts gzip: the measure of the bundle budget.
func (h *Handler) GzipSize() int {
	n := 0
	for _, f := range h.files {
		if gz := f.gzipped(); gz != nil {
			n += len(gz)
		} else {
			n += len(f.data)
		}
	}
	return n
}

// FallbackPage is served at "/" by a binary built without the dashboard.
const FallbackPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>herd — dashboard not built</title>
<style>
:root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.5}
body{max-width:42rem;margin:3rem auto;padding:0 1rem}
code,pre{font-family:ui-monospace,monospace;background:rgba(127,127,127,.15);border-radius:4px;padding:.1em .3em}
pre{padding:.75em 1em;overflow-x:auto}
</style></head>
<body>
<h1>herd is running; its dashboard was not built into this binary</h1>
<p>This <code>herd</code> was compiled without the web dashboard (it was built
with <code>go build</code> on a machine without Node.js). The InfluxDB API on
this port works: <code>/write</code>, <code>/query</code>, <code>/ping</code>.</p>
<p>To get the dashboard, build herd from its source tree with Node.js 18 or newer installed:</p>
<pre>make ui build     # npm ci + esbuild into internal/ui/dist, then bin/herd
# or by hand:
cd web &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd .. &amp;&amp; go build ./cmd/herd</pre>
<p><code>make run</code> and <code>make dist</code> always build it in.</p>
</body></html>
`
