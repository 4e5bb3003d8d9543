package api

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/store"
)

// Defaults used for zero Config fields.
const (
	DefaultListen          = "127.0.0.1:9717"
	DefaultMaxBodyBytes    = 8 << 20
	DefaultMaxSamples      = 4 << 20
	DefaultMaxConcurrent   = 64
	DefaultQueueWait       = 250 * time.Millisecond
	DefaultRequestTimeout  = 30 * time.Second
	DefaultCacheTTL        = 3600 * time.Second
	DefaultConfidenceLevel = 0.95
	DefaultReceiverID      = "edged"
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

// Config tunes the API. Zero fields take the Default… values above.
type Config struct {
	// Listen is the address Serve's caller should listen on (default 127.0.0.1:9717, local
	// only). Serve itself takes a listener; Listen is validated here so that a typo is a
	// configuration error, not a failure at start.
	Listen string `yaml:"listen"`
	// Token, when not empty, is the bearer token the mutating routes (model reload and
	// rollback) require. The caller reads it from a file or credential.
	Token string `yaml:"-"`
	// MaxBodyBytes bounds every request body (default 8 MiB); larger bodies get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxSamples bounds the IQ samples of one predict input or batch item (default 4 Mi).
	MaxSamples int `yaml:"max_samples"`
	// MaxConcurrent bounds the /api/ requests being served at once (default 64).
	MaxConcurrent int `yaml:"max_concurrent"`
	// QueueWait is how long a request waits for a free slot before 503 (default 250 ms).
	QueueWait time.Duration `yaml:"queue_wait"`
	// BatchConcurrency bounds the items of one batch processed at once (default GOMAXPROCS).
	BatchConcurrency int `yaml:"batch_concurrency"`
	// RequestTimeout bounds the work on one request (default 30 s); past it the answer is 503.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// CacheTTL is how long a predict answer stays cached (default 3600 s, as Heimdall's).
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// ReceiverID goes into every fix's id and properties (default "edged").
	ReceiverID string `yaml:"receiver_id"`
	// ConfidenceLevel is the probability inside each fix's ellipse (default 0.95).
	ConfidenceLevel float64 `yaml:"confidence_level"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	c, _ := Config{}.withDefaults()
	return c
}

func (c Config) withDefaults() (Config, error) {
	if c.MaxBodyBytes < 0 || c.MaxSamples < 0 || c.MaxConcurrent < 0 || c.QueueWait < 0 ||
		c.BatchConcurrency < 0 || c.RequestTimeout < 0 || c.CacheTTL < 0 {
		return c, fmt.Errorf("api: negative limit in config")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c, fmt.Errorf("api: listen %q: %w", c.Listen, err)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxSamples == 0 {
		c.MaxSamples = DefaultMaxSamples
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
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
		return c, fmt.Errorf("api: confidence_level %v: must be in (0,1)", c.ConfidenceLevel)
	}
	return c, nil
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
