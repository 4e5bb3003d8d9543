package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/store"
)

// Defaults used for zero Config fields.
const (
	DefaultListen          = "127.0.0.1:9717"
	DefaultMaxBodyBytes    = 16 << 20 // Heimdall's largest batch, 100 × 2048 samples from json.dumps, is 9.06 MB
	DefaultMaxMemoryBytes  = 64 << 20
	DefaultBodyReadTimeout = 10 * time.Second
	DefaultMaxSamples      = 4 << 20
	DefaultMaxConcurrent   = 64
	DefaultQueueWait       = 250 * time.Millisecond
	DefaultRequestTimeout  = 30 * time.Second
	DefaultCacheTTL        = 3600 * time.Second
	DefaultConfidenceLevel = 0.95
	DefaultReceiverID      = "edged"
	// DefaultMaxLiveClients is how many status pages may follow the live feed at once.
	DefaultMaxLiveClients = 8
)

// Limits of the routes.
const (
	// DefaultFixesLimit is how many fixes /api/v1/fixes returns without ?limit=.
	DefaultFixesLimit = 100
	// MaxFixesLimit is the largest ?limit= /api/v1/fixes accepts.
	MaxFixesLimit = 10000
	// MaxBatchItems is the most items one batch may hold (Heimdall's limit).
	MaxBatchItems = 100
)

const (
	shutdownTimeout   = 2 * time.Second
	readHeaderTimeout = 10 * time.Second
	maxSampleRateHz   = 100e6 // above any SDR edged reads
)

// Config is the `http:` section of edged.yaml, plus what the caller fills in from other
// sections (the fields without a yaml key). Zero fields take the Default… values above.
type Config struct {
	// Listen is the address Serve's caller should listen on (default 127.0.0.1:9717, local
	// only). Serve itself takes a listener; Listen is validated here so that a typo is a
	// configuration error, not a failure at start.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token the mutating routes (model reload and rollback)
	// require; New reads it into Token. A path starting with $CREDENTIALS_DIRECTORY/ is in
	// systemd's credential directory (check.Path).
	TokenFile string `yaml:"token_file"`
	// AllowUnauthenticatedMutations lets a Listen address other hosts can reach go
	// without a token. Without it such an address needs TokenFile (or Token).
	AllowUnauthenticatedMutations bool `yaml:"allow_unauthenticated_mutations"`
	// MaxBodyBytes bounds every request body (default 16 MiB); larger bodies get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxMemoryBytes bounds the memory all /api/ requests hold at once: bodies as they
	// arrive, decoded samples, features (default 64 MiB). A request that would go past it
	// gets 503 with Retry-After; one that needs more than all of it, 413. It must be at
	// least 4 × MaxBodyBytes, so that a body at the limit can be decoded.
	MaxMemoryBytes int64 `yaml:"max_memory_bytes"`
	// BodyReadTimeoutSeconds is how long a client has to send its whole body (default
	// 10 s); the request takes a concurrency slot only after, so slow senders cannot hold
	// slots.
	BodyReadTimeoutSeconds float64 `yaml:"body_read_timeout_seconds"`
	// MaxConcurrent bounds the /api/ requests being served at once (default 64).
	MaxConcurrent int `yaml:"max_concurrent"`
	// RequestTimeoutSeconds bounds the work on one request (default 30 s); past it the
	// answer is 503.
	RequestTimeoutSeconds float64 `yaml:"request_timeout_seconds"`
	// MaxLiveClients bounds the status pages (GET /) following the live feed at once
	// (default 8); one more gets 503 and retries. The status page is Deps.Page's; the
	// bound is here because it is a property of this listener.
	MaxLiveClients int `yaml:"max_live_clients"`

	// Token, when not empty, is the bearer token the mutating routes require. New sets it
	// from TokenFile; tests and embedders may set it directly.
	Token string `yaml:"-"`
	// MaxSamples bounds the IQ samples of one predict input or batch item (default 4 Mi).
	MaxSamples int `yaml:"-"`
	// QueueWait is how long a request waits for a free slot before 503 (default 250 ms).
	QueueWait time.Duration `yaml:"-"`
	// BatchConcurrency bounds the items of one batch processed at once (default GOMAXPROCS).
	BatchConcurrency int `yaml:"-"`
	// CacheTTL is how long a predict answer stays cached (default 3600 s, as Heimdall's);
	// edged.yaml's store.cache_ttl_seconds.
	CacheTTL time.Duration `yaml:"-"`
	// ReceiverID goes into every fix's id and properties (default "edged"); edged.yaml's
	// top-level receiver_id.
	ReceiverID string `yaml:"-"`
	// ConfidenceLevel is the probability inside each fix's ellipse (default 0.95);
	// edged.yaml's fix.confidence_level.
	ConfidenceLevel float64 `yaml:"-"`
	// Vertices is the number of vertices of each fix's ellipse polygon (0: infer's
	// default); edged.yaml's fix.vertices.
	Vertices int `yaml:"-"`
}

// Bounds of the section: past them a value is a typo, not a tuning.
const (
	maxBodyBytesLimit     = 1 << 30
	maxMemoryBytesLimit   = 1 << 40
	maxConcurrentLimit    = 100_000
	maxRequestTimeoutSecs = 3600
	maxTokenBytes         = 4096
	maxLiveClientsLimit   = 1000
)

// DefaultConfig is the section's defaults as edged.yaml shows them; the fields without a
// key stay zero (New fills them).
func DefaultConfig() Config {
	return Config{Listen: DefaultListen, MaxBodyBytes: DefaultMaxBodyBytes, MaxMemoryBytes: DefaultMaxMemoryBytes,
		BodyReadTimeoutSeconds: DefaultBodyReadTimeout.Seconds(), MaxConcurrent: DefaultMaxConcurrent,
		RequestTimeoutSeconds: DefaultRequestTimeout.Seconds(), MaxLiveClients: DefaultMaxLiveClients}
}

// Validate checks the section and reads the token file, as New does, without touching the
// network. Errors are keyed relative to the section.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c Config) withDefaults() (Config, error) {
	l := check.NewList(nil)
	l.Int("max_body_bytes", c.MaxBodyBytes, 0, maxBodyBytesLimit)
	l.Int("max_concurrent", int64(c.MaxConcurrent), 0, maxConcurrentLimit)
	l.Number("request_timeout_seconds", c.RequestTimeoutSeconds, 0, maxRequestTimeoutSecs, "seconds (0: the default)")
	l.Int("max_live_clients", int64(c.MaxLiveClients), 0, maxLiveClientsLimit)
	l.Int("max_memory_bytes", c.MaxMemoryBytes, 0, maxMemoryBytesLimit)
	l.Number("body_read_timeout_seconds", c.BodyReadTimeoutSeconds, 0, maxRequestTimeoutSecs, "seconds (0: the default)")
	if c.MaxSamples < 0 || c.QueueWait < 0 || c.BatchConcurrency < 0 || c.CacheTTL < 0 || c.Vertices < 0 {
		l.Add("", "api: negative limit in config: max samples %d, queue wait %v, batch concurrency %d, cache TTL %v",
			c.MaxSamples, c.QueueWait, c.BatchConcurrency, c.CacheTTL)
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	loopback, err := checkListen(c.Listen)
	if err != nil {
		l.Add("listen", "%v", err)
	}
	if tok, err := c.BearerToken(); err != nil {
		l.Add("token_file", "%v", err)
	} else {
		c.Token = tok
	}
	if err == nil && !loopback && c.Token == "" && c.TokenFile == "" && !c.AllowUnauthenticatedMutations {
		l.Add("listen", "%q is reachable from other hosts, and anyone there could reload or roll back the model: "+
			"set token_file to a file holding a bearer token (systemd: $CREDENTIALS_DIRECTORY/http-token), "+
			"or allow_unauthenticated_mutations: true", c.Listen)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxMemoryBytes == 0 {
		c.MaxMemoryBytes = max(DefaultMaxMemoryBytes, 4*c.MaxBodyBytes)
	}
	if c.MaxMemoryBytes < 4*c.MaxBodyBytes {
		l.Add("max_memory_bytes", "%d is less than 4 × max_body_bytes (%d): a body at the limit could never be decoded", c.MaxMemoryBytes, 4*c.MaxBodyBytes)
	}
	if c.BodyReadTimeoutSeconds == 0 {
		c.BodyReadTimeoutSeconds = DefaultBodyReadTimeout.Seconds()
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = DefaultMaxSamples
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.MaxLiveClients == 0 {
		c.MaxLiveClients = DefaultMaxLiveClients
	}
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	if c.RequestTimeoutSeconds == 0 {
		c.RequestTimeoutSeconds = DefaultRequestTimeout.Seconds()
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.ReceiverID == "" {
		c.ReceiverID = DefaultReceiverID
	}
	if c.ConfidenceLevel == 0 {
		c.ConfidenceLevel = DefaultConfidenceLevel
	}
	if !(c.ConfidenceLevel > 0 && c.ConfidenceLevel < 1) {
		l.Add("", "api: confidence level %v: must be in (0,1)", c.ConfidenceLevel)
	}
	return c, l.Err()
}

// BearerToken is the token the mutating routes require: read from TokenFile (trimmed) when
// it is set, else Token. A client of the API (`edged model`) reads it the same way.
func (c Config) BearerToken() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	b, err := check.ReadFile(c.TokenFile, maxTokenBytes)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", c.TokenFile)
	}
	return tok, nil
}

// bodyReadTimeout is BodyReadTimeoutSeconds as a duration.
func (c Config) bodyReadTimeout() time.Duration {
	return time.Duration(c.BodyReadTimeoutSeconds * float64(time.Second))
}

// requestTimeout is RequestTimeoutSeconds as a duration.
func (c Config) requestTimeout() time.Duration {
	return time.Duration(c.RequestTimeoutSeconds * float64(time.Second))
}

// checkListen checks a host:port to listen on without resolving anything, and says whether
// only this host can reach it. The host is empty (every address), an IP address, or
// "localhost"; any other name is refused, since which addresses it listens on would depend
// on DNS.
func checkListen(addr string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:9717", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false, fmt.Errorf("%q: want a port from 0 to 65535", addr)
	}
	switch {
	case host == "localhost":
		return true, nil
	case host == "":
		return false, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, fmt.Errorf("%q: want an IP address or localhost as the host", addr)
	}
	return ip.IsLoopback(), nil
}

// Deps are what the API serves from. Engine is required; the rest may be nil.
type Deps struct {
	// Engine runs predictions; its active model is the one predict uses.
	Engine *infer.Engine
	// DB serves /api/v1/fixes and holds the predict cache; nil makes fixes 503 and turns
	// the cache off.
	DB *store.DB
	// Gatherer is scraped by /metrics. Nil uses Registerer if it is also a Gatherer.
	Gatherer prometheus.Gatherer
	// Registerer receives the API's own metrics. Nil keeps them on a private registry,
	// which /metrics then serves.
	Registerer prometheus.Registerer
	// Ready reports readiness: nil means ready. Nil Ready means ready once a model is active.
	Ready func() error
	// Models manages installed models. Nil serves the engine's active model and answers
	// reload, rollback and activate with 503.
	Models ModelManager
	// Page serves the status page: GET / and everything under /ui/. Nil leaves them 404.
	Page http.Handler
}

// ModelManager is what the API needs from the daemon's model management (sync, install,
// rollback). Its methods are called concurrently from request goroutines.
type ModelManager interface {
	// Active describes the model in use.
	Active() ModelInfo
	// List describes every installed model, the active one included.
	List() ([]ModelInfo, error)
	// Reload reloads the model from its source (file or registry) and swaps it in if it
	// verifies. It returns when the new model is active or the attempt failed.
	Reload(ctx context.Context) error
	// Rollback makes the previously active model active again. It returns an error
	// wrapping ErrNoRollback when there is none.
	Rollback(ctx context.Context) error
	// Activate makes an installed version active. It returns an error wrapping
	// ErrUnknownVersion when that version is not installed, ErrNoRollback when there are
	// no installed versions to choose from (model sync is off).
	Activate(ctx context.Context, version string) error
	// Registry describes the registry target the models follow; ok is false when model
	// sync is off.
	Registry() (info RegistryInfo, ok bool)
}

// RegistryInfo says which version the model registry names and why it is not the active
// one, if it is not.
type RegistryInfo struct {
	// Follows is the followed alias or stage as a model URI (models:/name@alias).
	Follows string `json:"follows"`
	// Target is the version the registry named at the last poll that reached it ("" if
	// none has yet).
	Target string `json:"target"`
	// Divergence is why Target is not active: rolled_back, pinned, failed_verification,
	// failed_download, failed_install, not_ready or pending; empty when it is active.
	Divergence string `json:"divergence,omitempty"`
	// RollbackTarget is the version a rollback would activate, empty when none.
	RollbackTarget string `json:"rollback_target,omitempty"`
}

// ModelInfo describes one installed model.
type ModelInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	// Since is when the model became active, or in a list when a registry version was
	// installed; omitted when unknown.
	Since  time.Time `json:"since,omitzero"`
	Active bool      `json:"active"`
	// Source is where it came from: "mlflow" (a version installed from the registry),
	// "config" (model.path), "embedded" (the reference model), or "engine" (no manager).
	Source string `json:"source"`
}
