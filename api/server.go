package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the local HTTP API. Its handler is safe for concurrent use.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	slots   chan struct{}       // one per /api/ request being served
	mem     *budget             // memory of the /api/ requests
	work    chan struct{}       // two per CPU: parsing and computing, in arrival order
	cache   *cache              // nil without a store
	aliases *aliases            // JSON bodies seen before → cache keys
	kit     atomic.Pointer[kit] // preprocessing for the active model
	kitMu   sync.Mutex
	now     func() time.Time
	closed  sync.Once
	// routeList is every route as "METHOD /path", for the test that holds the OpenAPI
	// document to the routes served.
	routeList []string
}

// New checks cfg, reads its token file, fills its defaults and wires deps. It starts
// nothing and touches no network. log may be nil for silence.
func New(cfg Config, deps Deps, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.BatchConcurrency == 0 {
		cfg.BatchConcurrency = runtime.GOMAXPROCS(0)
	}
	if deps.Engine == nil {
		return nil, errors.New("api: no inference engine")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		reg := prometheus.NewRegistry()
		deps.Registerer = reg
		if deps.Gatherer == nil {
			deps.Gatherer = reg
		}
	}
	if deps.Gatherer == nil {
		if g, ok := deps.Registerer.(prometheus.Gatherer); ok {
			deps.Gatherer = g
		}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		deps:    deps,
		log:     log,
		metrics: m,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		mem:     &budget{limit: cfg.MaxMemoryBytes},
		work:    make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		now:     time.Now,
	}
	if deps.DB != nil {
		s.cache = newCache(deps.DB, cfg.CacheTTL, log)
		s.aliases = newAliases()
	}
	s.handler = s.routes()
	return s, nil
}

// Config returns the configuration in effect, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx ends, then stops accepting, lets in-flight
// requests finish (for up to 2 s, then cuts them off), flushes pending cache writes and
// returns nil. It returns the listener's error if serving fails first. Call it once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       s.cfg.requestTimeout(),
		WriteTimeout:      s.cfg.requestTimeout() + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		// Requests outlive ctx: shutdown is graceful, not a cancellation.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("api: serving", "addr", ln.Addr().String(), "auth", s.cfg.Token != "")
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("api: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running after the grace period are cut off: the daemon must exit
		// promptly on SIGTERM.
		s.log.Warn("api: requests still running at shutdown; closing their connections", "grace", shutdownTimeout, "err", err)
		srv.Close()
	}
	<-errc // http.ErrServerClosed
	s.Close()
	return nil
}

// Close waits for pending cache writes to reach the store. Requests still arriving are
// answered but no longer cached. Serve calls it; callers that use only Handler should call
// it before closing the store.
func (s *Server) Close() {
	s.closed.Do(func() {
		if s.cache != nil {
			s.cache.close()
		}
	})
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(route, method string, h http.HandlerFunc, wrap ...func(http.HandlerFunc) http.HandlerFunc) {
		for _, w := range wrap {
			h = w(h)
		}
		mux.Handle(route, s.instrument(route, only(method, h)))
		s.routeList = append(s.routeList, method+" "+route)
	}
	handle("/healthz", http.MethodGet, s.healthz)
	handle("/readyz", http.MethodGet, s.readyz)
	handle("/metrics", http.MethodGet, s.metricsHandler())
	handle("/api/v1/fixes", http.MethodGet, s.fixes, s.limit)
	handle("/api/v1/predict", http.MethodPost, s.withBody(s.predict))
	handle("/api/v1/predict/batch", http.MethodPost, s.withBody(s.batch))
	handle("/api/v1/model", http.MethodGet, s.model, s.limit)
	handle("/api/v1/models", http.MethodGet, s.models, s.limit)
	handle("/api/v1/model/reload", http.MethodPost, s.reload, s.limit, s.auth)
	handle("/api/v1/model/rollback", http.MethodPost, s.rollback, s.limit, s.auth)
	handle("/api/v1/model/activate", http.MethodPost, s.activate, s.limit, s.auth)
	handle("/api/v1/openapi.json", http.MethodGet, document(OpenAPIDocument))
	handle("/api/v1/asyncapi.json", http.MethodGet, document(AsyncAPIDocument))
	handle("/api/v1/schema/{name}", http.MethodGet, schemaFile)
	if s.deps.Page != nil {
		// Read-only like /metrics: no token. The live feed's duration is its connection's life.
		mux.Handle("/{$}", s.instrument("/", only(http.MethodGet, s.deps.Page.ServeHTTP)))
		mux.Handle("/ui/", s.instrument("/ui/", s.deps.Page.ServeHTTP))
		mux.Handle("/ui/events", s.instrument("/ui/events", s.deps.Page.ServeHTTP))
		// As api/openapi.json names what the page serves under them.
		s.routeList = append(s.routeList, "GET /", "GET /ui/{asset}", "GET /ui/events", "GET /ui/fixes")
	}
	mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errf(http.StatusNotFound, codeNotFound, "no route "+r.URL.Path))
	}))
	return mux
}

// only answers other methods with 405 and an Allow header. GET routes also take HEAD.
func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
			h(w, r)
			return
		}
		allow := method
		if method == http.MethodGet {
			allow = "GET, HEAD"
		}
		w.Header().Set("Allow", allow)
		writeError(w, errf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
			fmt.Sprintf("method %s not allowed on %s (use %s)", r.Method, r.URL.Path, method)))
	}
}

// limit bounds concurrency and time: a request waits up to QueueWait for a slot, then 503.
func (s *Server) limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			t := time.NewTimer(s.cfg.QueueWait)
			select {
			case s.slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				w.Header().Set("Retry-After", "1")
				writeError(w, errf(http.StatusServiceUnavailable, codeOverloaded,
					fmt.Sprintf("%d requests in progress, the limit is %d; retry later", cap(s.slots), cap(s.slots))))
				return
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		defer func() { <-s.slots }()
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.requestTimeout())
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// startWork waits for a CPU slot. Requests parse and compute two per CPU, in the order
// they asked (a channel's waiting senders are served first in, first out), rather than
// all MaxConcurrent at once: the same throughput, but each request is done in a
// fraction of the time, so latency does not spread. Network I/O is never done holding a
// slot, so slow clients cannot hold them. Two per CPU rather than one keeps a core busy
// while the other request of its pair waits on cgo or the cache (measured: about 10% more
// throughput at the same P95 with 100 clients). The returned func gives the slot back; it may
// be called more than once.
func (s *Server) startWork(ctx context.Context) (done func(), err error) {
	select {
	case s.work <- struct{}{}:
	case <-ctx.Done():
		return func() {}, ctxError(ctx.Err())
	}
	var once sync.Once
	return func() { once.Do(func() { <-s.work }) }, nil
}

// auth requires the bearer token when one is configured.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.Token))
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" {
			h(w, r)
			return
		}
		got, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edged"`)
			writeError(w, errf(http.StatusUnauthorized, codeUnauthorized,
				"Authorization header: a bearer token is required for "+r.URL.Path))
			return
		}
		// Compare digests, so that neither the content nor the length of the token leaks.
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edged", error="invalid_token"`)
			writeError(w, errf(http.StatusUnauthorized, codeUnauthorized, "Authorization header: wrong bearer token"))
			return
		}
		h(w, r)
	}
}

func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var err error
	if s.deps.Ready != nil {
		err = s.deps.Ready()
	} else if s.deps.Engine.Active() == nil {
		err = errors.New("no model loaded")
	}
	if err != nil {
		writeError(w, errf(http.StatusServiceUnavailable, codeNotReady, err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler() http.HandlerFunc {
	if s.deps.Gatherer == nil {
		return func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errf(http.StatusServiceUnavailable, codeUnavailable, "no metrics registry configured"))
		}
	}
	h := promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
	})
	return h.ServeHTTP
}
