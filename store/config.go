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
	// RetentionBytes bounds the stored fixes' size (about 250 bytes each, packed).
	RetentionBytes int64 `yaml:"retention_bytes"`
	// OutboxMaxFixes and OutboxMaxBytes bound the fixes waiting for the broker; when full,
	// the oldest are dropped (counted and logged).
	OutboxMaxFixes int   `yaml:"outbox_max_fixes"`
	OutboxMaxBytes int64 `yaml:"outbox_max_bytes"`
	// CommitIntervalSeconds gathers fixes for this long and commits them in one
	// transaction (the pipeline's group commit), and lets broker acknowledgements wait two
	// intervals for a commit to carry them. A power cut loses at most this many seconds of
	// fixes, none of them published or printed yet. Unlike the other fields, 0 is not the
	// default: it commits every batch at once.
	CommitIntervalSeconds float64 `yaml:"commit_interval_seconds"`
	// CacheTTLSeconds is the predict API cache's lifetime.
	CacheTTLSeconds float64 `yaml:"cache_ttl_seconds"`
	// CacheMaxBytes bounds the predict cache; the oldest answers are evicted first.
	CacheMaxBytes int64 `yaml:"cache_max_bytes"`
}

// Bounds of the section: past them a value is a typo (or would overflow a duration).
const (
	maxCount          = 1_000_000_000
	maxBytes          = 1 << 40
	maxCommitInterval = 60 // seconds: longer would lose more than a minute to a power cut
	maxRetentionHours = 100 * 365 * 24
	maxCacheTTLSecs   = 365 * 24 * 3600
)

// DefaultCommitInterval is the default group-commit interval: at the demo's 7.6 fixes/s,
// 5 s of fixes per transaction writes less than their JSON's size per fix (README: SD
// cards).
const DefaultCommitInterval = 5 * time.Second

// DefaultConfig is the section's defaults as edged.yaml shows them.
func DefaultConfig() Config {
	return Config{
		RetentionFixes:        DefaultFixRetentionCount,
		RetentionHours:        DefaultFixRetentionAge.Hours(),
		RetentionBytes:        DefaultFixRetentionBytes,
		OutboxMaxFixes:        DefaultOutboxMaxCount,
		OutboxMaxBytes:        DefaultOutboxMaxBytes,
		CommitIntervalSeconds: DefaultCommitInterval.Seconds(),
		CacheTTLSeconds:       DefaultCacheTTL.Seconds(),
		CacheMaxBytes:         DefaultCacheMaxBytes,
	}
}

// Validate checks the section without opening the file. Errors are keyed relative to the
// section and match ErrInvalidOptions.
func (c Config) Validate() error {
	l := check.NewList(ErrInvalidOptions)
	l.Int("retention_fixes", int64(c.RetentionFixes), 0, maxCount)
	l.Number("retention_hours", c.RetentionHours, 0, maxRetentionHours, "hours")
	l.Int("retention_bytes", c.RetentionBytes, 0, maxBytes)
	l.Int("outbox_max_fixes", int64(c.OutboxMaxFixes), 0, maxCount)
	l.Int("outbox_max_bytes", c.OutboxMaxBytes, 0, maxBytes)
	l.Number("commit_interval_seconds", c.CommitIntervalSeconds, 0, maxCommitInterval, "seconds")
	l.Number("cache_ttl_seconds", c.CacheTTLSeconds, 0, maxCacheTTLSecs, "seconds")
	l.Int("cache_max_bytes", c.CacheMaxBytes, 0, maxBytes)
	return l.Err()
}

// Options is the section as Open's options; acknowledgements wait up to two commit
// intervals for a commit to carry them.
func (c Config) Options() Options {
	return Options{
		FixRetentionCount: c.RetentionFixes,
		FixRetentionAge:   time.Duration(c.RetentionHours * float64(time.Hour)),
		FixRetentionBytes: c.RetentionBytes,
		OutboxMaxCount:    c.OutboxMaxFixes,
		OutboxMaxBytes:    c.OutboxMaxBytes,
		AckDelay:          2 * c.CommitInterval(),
		CacheTTL:          c.CacheTTL(),
		CacheMaxBytes:     c.CacheMaxBytes,
	}
}

// CommitInterval is CommitIntervalSeconds as a duration (the pipeline's group commit).
func (c Config) CommitInterval() time.Duration {
	return time.Duration(c.CommitIntervalSeconds * float64(time.Second))
}

// CacheTTL is CacheTTLSeconds as a duration (the API's cache shares it).
func (c Config) CacheTTL() time.Duration {
	return time.Duration(c.CacheTTLSeconds * float64(time.Second))
}
