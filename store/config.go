package store

import (
	"time"

	"github.com/heimdall/edged/configs/check"
)

// Config is the `store:` section of edged.yaml. Zero counts, sizes and durations take the
// Default… values, as in Options.
type Config struct {
	// Path of the bbolt file; empty means <state_dir>/edged.db (the caller resolves it).
	Path string `yaml:"path"`
	// RetentionFixes keeps at most this many fixes for /api/v1/fixes.
	RetentionFixes int `yaml:"retention_fixes"`
	// RetentionHours removes fixes committed longer ago than this.
	RetentionHours float64 `yaml:"retention_hours"`
	// OutboxMaxFixes and OutboxMaxBytes bound the fixes waiting for the broker; when full,
	// the oldest are dropped (counted and logged).
	OutboxMaxFixes int   `yaml:"outbox_max_fixes"`
	OutboxMaxBytes int64 `yaml:"outbox_max_bytes"`
	// CacheTTLSeconds is the predict API cache's lifetime.
	CacheTTLSeconds float64 `yaml:"cache_ttl_seconds"`
}

// Bounds of the section: past them a value is a typo (or would overflow a duration).
const (
	maxCount          = 1_000_000_000
	maxOutboxBytes    = 1 << 40
	maxRetentionHours = 100 * 365 * 24
	maxCacheTTLSecs   = 365 * 24 * 3600
)

// DefaultConfig is the section's defaults as edged.yaml shows them.
func DefaultConfig() Config {
	return Config{
		RetentionFixes:  DefaultFixRetentionCount,
		RetentionHours:  DefaultFixRetentionAge.Hours(),
		OutboxMaxFixes:  DefaultOutboxMaxCount,
		OutboxMaxBytes:  1 << 30,
		CacheTTLSeconds: DefaultCacheTTL.Seconds(),
	}
}

// Validate checks the section without opening the file. Errors are keyed relative to the
// section and match ErrInvalidOptions.
func (c Config) Validate() error {
	l := check.NewList(ErrInvalidOptions)
	l.Int("retention_fixes", int64(c.RetentionFixes), 0, maxCount)
	l.Number("retention_hours", c.RetentionHours, 0, maxRetentionHours, "hours")
	l.Int("outbox_max_fixes", int64(c.OutboxMaxFixes), 0, maxCount)
	l.Int("outbox_max_bytes", c.OutboxMaxBytes, 0, maxOutboxBytes)
	l.Number("cache_ttl_seconds", c.CacheTTLSeconds, 0, maxCacheTTLSecs, "seconds")
	return l.Err()
}

// Options is the section as Open's options.
func (c Config) Options() Options {
	return Options{
		FixRetentionCount: c.RetentionFixes,
		FixRetentionAge:   time.Duration(c.RetentionHours * float64(time.Hour)),
		OutboxMaxCount:    c.OutboxMaxFixes,
		OutboxMaxBytes:    c.OutboxMaxBytes,
		CacheTTL:          c.CacheTTL(),
	}
}

// CacheTTL is CacheTTLSeconds as a duration (the API's cache shares it).
func (c Config) CacheTTL() time.Duration {
	return time.Duration(c.CacheTTLSeconds * float64(time.Second))
}
