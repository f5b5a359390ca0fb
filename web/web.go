// Package web is kfgate's console: the agents' desk and the supervisors'
// board, as plain ES modules, CSS and one HTML page in static/, embedded
// in the binary. There is no build step: the files are served as written.
//
// Caching: every asset is served under /assets/<version>/, where the
// version is a hash of all the files; index.html (never cached, checked by
// its ETag) names that version, so a new binary changes every asset URL
// and the browser may keep an asset for a year (immutable). Each file is
// gzip-compressed once, at the first request.
package web

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
	"strings"
	"sync"
)

//go:embed static
var files embed.FS

// CSP is the console's Content-Security-Policy: its own scripts and
// styles only (no inline script), media from its own API, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// asset is one file, ready to serve.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

type site struct {
	version string
	index   asset
	assets  map[string]asset // by path under static/
}

var load = sync.OnceValue(func() *site {
	s := &site{assets: map[string]asset{}}
	all := sha256.New()
	_ = fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		all.Write([]byte(p))
		all.Write(b)
		s.assets[strings.TrimPrefix(p, "static/")] = newAsset(p, b)
		return nil
	})
	s.version = hex.EncodeToString(all.Sum(nil))[:12]
	idx := s.assets["index.html"]
	delete(s.assets, "index.html")
	s.index = newAsset("index.html", bytes.ReplaceAll(idx.body, []byte("{{ASSETS}}"), []byte("/assets/"+s.version)))
	return s
})

func newAsset(name string, b []byte) asset {
	sum := sha256.Sum256(b)
	a := asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	a.ctype = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		a.ctype = "text/javascript; charset=utf-8"
	case ".html":
		a.ctype = "text/html; charset=utf-8"
	case ".css":
		a.ctype = "text/css; charset=utf-8"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if buf.Len() < len(b) {
		a.gz = buf.Bytes()
	}
	return a
}

// Version is the current assets' version (the /assets/<version>/ part).
func Version() string { return load().version }

// Size returns the total uncompressed and gzip-compressed size of the
// JavaScript and CSS.
func Size() (raw, gz int) {
	for name, a := range load().assets {
		if ext := path.Ext(name); ext == ".js" || ext == ".css" {
			raw += len(a.body)
			if a.gz != nil {
				gz += len(a.gz)
			} else {
				gz += len(a.body)
			}
		}
	}
	return raw, gz
}

// Handler serves GET / (the page) and GET /assets/<version>/<file>.
func Handler() http.Handler {
	s := load()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == "/" {
			h.Set("Cache-Control", "no-cache")
			serve(w, r, s.index)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/assets/")
		version, name, _ := strings.Cut(rest, "/")
		a, found := s.assets[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		if version == s.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			// A page of another version (a replica not yet upgraded, or
			// already): serve what there is, but let nobody keep it.
			h.Set("Cache-Control", "no-cache")
		}
		serve(w, r, a)
	})
}

func serve(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}
