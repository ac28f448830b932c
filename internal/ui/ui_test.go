package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

var testJS = strings.Repeat("console.log('herd dashboard');\n", 100)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":              {Data: []byte(`<!doctype html><script src="assets/app-ABC123.js"></script>` + strings.Repeat(" ", 600))},
		"assets/app-ABC123.js":    {Data: []byte(testJS)},
		"assets/tiny-DEF456.css":  {Data: []byte("body{}")},
		"assets/icon-0A1B2C3.svg": {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"secret.txt":              {Data: []byte("not served")},
	}
}

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerRoutes(t *testing.T) {
	h := NewFS(testFS())
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		ctype, cache, enc  string
		bodyHas            string
	}{
		{"index", "GET", "/", nil, 200, "text/html; charset=utf-8", "no-cache", "", "app-ABC123.js"},
		{"index by name", "GET", "/index.html", nil, 200, "text/html; charset=utf-8", "no-cache", "", "app-ABC123.js"},
		{"asset", "GET", "/assets/app-ABC123.js", nil, 200, "text/javascript; charset=utf-8", cacheImmutable, "", "herd dashboard"},
		{"asset gzip", "GET", "/assets/app-ABC123.js", map[string]string{"Accept-Encoding": "br, gzip"}, 200, "text/javascript; charset=utf-8", cacheImmutable, "gzip", "herd dashboard"},
		{"gzip refused", "GET", "/assets/app-ABC123.js", map[string]string{"Accept-Encoding": "gzip;q=0"}, 200, "text/javascript; charset=utf-8", cacheImmutable, "", "herd dashboard"},
		{"small file not compressed", "GET", "/assets/tiny-DEF456.css", map[string]string{"Accept-Encoding": "gzip"}, 200, "text/css; charset=utf-8", cacheImmutable, "", "body{}"},
		{"svg", "GET", "/assets/icon-0A1B2C3.svg", nil, 200, "image/svg+xml", cacheImmutable, "", "<svg"},
		{"head", "HEAD", "/", nil, 200, "text/html; charset=utf-8", "no-cache", "", ""},
		{"unknown path", "GET", "/nope", nil, 404, "text/plain; charset=utf-8", "", "", "404 page not found"},
		{"file outside assets", "GET", "/secret.txt", nil, 404, "text/plain; charset=utf-8", "", "", "404"},
		{"traversal", "GET", "/assets/../secret.txt", nil, 404, "text/plain; charset=utf-8", "", "", "404"},
		{"post", "POST", "/", nil, 405, "text/plain; charset=utf-8", "", "", "Method Not Allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := get(t, h, c.method, c.path, c.hdr)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
			if got := res.Header.Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q, want %q", got, c.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != c.cache {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if got := res.Header.Get("Content-Encoding"); got != c.enc {
				t.Errorf("Content-Encoding %q, want %q", got, c.enc)
			}
			if c.status == 200 && c.method == "GET" && res.Header.Get("Content-Length") == "" {
				t.Error("no Content-Length")
			}
			var body io.Reader = res.Body
			if c.enc == "gzip" {
				zr, err := gzip.NewReader(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(c.bodyHas)) {
				t.Errorf("body %.80q does not contain %q", b, c.bodyHas)
			}
			if c.method == "HEAD" && len(b) != 0 {
				t.Errorf("HEAD sent a body of %d bytes", len(b))
			}
		})
	}
}

func TestHandlerRevalidation(t *testing.T) {
	h := NewFS(testFS())
	first := get(t, h, "GET", "/", nil)
	etag := first.Header.Get("Etag")
	if etag == "" {
		t.Fatal("no ETag on index.html")
	}
	if first.Header.Get("Content-Security-Policy") == "" {
		t.Error("no Content-Security-Policy on index.html")
	}
	again := get(t, h, "GET", "/", map[string]string{"If-None-Match": etag})
	if again.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", again.StatusCode)
	}
	// The gzip variant is a different representation with its own tag.
	gz := get(t, h, "GET", "/assets/app-ABC123.js", map[string]string{"Accept-Encoding": "gzip"})
	plain := get(t, h, "GET", "/assets/app-ABC123.js", nil)
	if gz.Header.Get("Etag") == plain.Header.Get("Etag") {
		t.Error("gzip and identity responses share an ETag")
	}
	if !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary %q lacks Accept-Encoding", gz.Header.Get("Vary"))
	}
}

func TestFallbackWithoutBuild(t *testing.T) {
	h := NewFS(fstest.MapFS{".keep": {}})
	res := get(t, h, "GET", "/", nil)
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(b), "npm run build") {
		t.Fatalf("status %d, body %.200q: want the how-to-build page", res.StatusCode, b)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("fallback Cache-Control %q: a browser must not keep it once the real dashboard is built", got)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                    false,
		"gzip":                true,
		"GZIP":                true,
		"deflate, gzip;q=1.0": true,
		"gzip;q=0":            false,
		"gzip; q=0.000":       false,
		"*":                   true,
		"br":                  false,
		"identity, gzip;q=.5": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// TestBundleBudget keeps the embedded dashboard under 200 KiB as sent
// gzipped (index.html and every asset), the budget of issue 5. A build
// without Node has no dashboard to measure; under CI that is a failure,
// since `make test` builds it first.
func TestBundleBudget(t *testing.T) {
	if !Built() {
		if os.Getenv("CI") != "" {
			t.Fatal("internal/ui/dist has no index.html: run `make ui` (make test does) before go test")
		}
		t.Skip("dashboard not built (no Node here); `make ui` builds it")
	}
	const budget = 200 << 10
	n := New().GzipSize()
	t.Logf("dashboard bundle: %d bytes gzipped (%.1f KiB of %d KiB)", n, float64(n)/1024, budget>>10)
	if n >= budget {
		t.Fatalf("dashboard bundle is %d bytes gzipped, over the %d-byte budget", n, budget)
	}
}

func BenchmarkServeAsset(b *testing.B) {
	h := NewFS(testFS())
	req := httptest.NewRequest("GET", "/assets/app-ABC123.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
