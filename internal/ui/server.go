package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heimdall/edged/store"
)

//go:embed web
var web embed.FS

// FixStore is what the page reads fixes from.
type FixStore interface {
	// Recent returns the newest limit fixes, oldest first.
	Recent(limit int) ([]store.Fix, error)
}

// asset is one embedded file, served with a content hash as its ETag so that a browser
// revalidates cheaply and an upgraded binary is never shadowed by a cached page.
type asset struct {
	body, gz []byte // gz is nil when compression would not pay
	ctype    string
	etag     string
}

// contentSecurityPolicy keeps the page to its own origin: it loads nothing from outside,
// which the browser then enforces too.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type server struct {
	hub    *Hub
	db     FixStore
	log    *slog.Logger
	once   sync.Once
	assets map[string]*asset
}

// Handler serves the page: GET / (the page), /ui/app.js, /ui/app.css, /ui/icon.svg,
// /ui/basemap.json (its assets), /ui/events (the live feed, text/event-stream) and
// /ui/fixes?n= (the newest n fixes, a FeatureCollection, oldest first). db may be nil (no
// fixes then). Mount it at "/" (exact) and "/ui/".
func (h *Hub) Handler(db FixStore, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{hub: h, db: db, log: log}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("method %s not allowed on %s (use GET)", r.Method, r.URL.Path))
		return
	}
	switch p := r.URL.Path; p {
	case "/ui/events":
		s.events(w, r)
	case "/ui/fixes":
		s.fixes(w, r)
	case "/", "/ui/", "/ui/index.html":
		s.asset(w, r, "index.html")
	default:
		name, ok := strings.CutPrefix(p, "/ui/")
		if !ok || name == "index.html" || !s.asset(w, r, name) {
			writeError(w, http.StatusNotFound, "not_found", "no route "+p)
		}
	}
}

// load reads the embedded files once, gzipping the large ones.
func (s *server) load() {
	s.assets = map[string]*asset{}
	_ = fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if len(body) > 4096 {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			a.gz = b.Bytes()
		}
		s.assets[strings.TrimPrefix(p, "web/")] = a
		return nil
	})
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// asset serves an embedded file; false when there is none of that name.
func (s *server) asset(w http.ResponseWriter, r *http.Request, name string) bool {
	s.once.Do(s.load)
	a, ok := s.assets[name]
	if !ok {
		return false
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}

func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(params, " ", "") != "q=0"
		}
	}
	return false
}

// events streams the live feed: the stream's geometry and the state at once, then
// waterfall frames, fixes and the state each second, until the page or the hub goes away.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	c, history, err := s.hub.join()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		if errors.Is(err, ErrTooManyClients) {
			writeError(w, http.StatusServiceUnavailable, "too_many_clients",
				fmt.Sprintf("%d status pages are live, the limit (http.max_live_clients) is %d; retry later", s.hub.Clients(), s.hub.cfg.MaxClients))
		} else {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the live feed is stopping")
		}
		return
	}
	defer s.hub.leave(c)
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // a reverse proxy must not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	write := func(evs ...[]byte) bool {
		// The server's write timeout would end the stream; each write gets its own.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		for _, ev := range evs {
			if _, err := w.Write(ev); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	hello := [][]byte{[]byte("retry: 2000\n\n")}
	if g := s.hub.geom.Load(); g != nil {
		hello = append(hello, g.meta)
		hello = append(hello, history...)
	}
	if st := s.hub.stateEvent(time.Now()); st != nil {
		hello = append(hello, st)
	}
	if !write(hello...) {
		return
	}
	batch := make([][]byte, 0, 16)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.hub.done:
			return
		case ev := <-c.ch:
			// Write what is already queued in one flush.
			batch = append(batch[:0], ev)
		more:
			for len(batch) < cap(batch) {
				select {
				case ev := <-c.ch:
					batch = append(batch, ev)
				default:
					break more
				}
			}
			if !write(batch...) {
				return
			}
		}
	}
}

// fixes answers the newest n fixes (default Config.RecentFixes), oldest first.
func (s *server) fixes(w http.ResponseWriter, r *http.Request) {
	n := s.hub.cfg.RecentFixes
	for k, v := range r.URL.Query() {
		if k != "n" || len(v) != 1 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "query parameter "+k+": unknown or repeated (fixes takes n)")
			return
		}
		i, err := strconv.Atoi(v[0])
		if err != nil || i < 1 || i > MaxRecentFixes {
			writeError(w, http.StatusBadRequest, "invalid_parameter",
				fmt.Sprintf("query parameter n: %q: want an integer from 1 to %d", v[0], MaxRecentFixes))
			return
		}
		n = i
	}
	var fixes []store.Fix
	if s.db != nil {
		var err error
		if fixes, err = s.db.Recent(n); err != nil {
			s.log.Warn("ui: reading fixes", "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "reading fixes from the store failed")
			return
		}
	}
	body := append(store.FeatureCollection(fixes, nil), '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/geo+json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]string{"error": code, "message": msg})
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
