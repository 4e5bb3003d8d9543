// Package store keeps fixes, their upload outbox, the predict cache and model state in
// one bbolt file.
//
// # Basics
//
// A fix is committed once: Commit writes the fix and its outbox entry in one bbolt
// transaction and assigns it an increasing Seq. The uplink reads the outbox in Seq order
// (OutboxPeek/OutboxPeekAfter) and removes entries only once the broker acknowledged
// them (OutboxAck). Committing an ID again returns the stored fix unchanged, so a replay
// restarted from the beginning does not duplicate anything.
//
// Fixes are keyed by their time, then Seq, so Fixes(since, limit) is a range scan. The
// outbox is keyed by Seq and refers to the fix record; nothing is stored twice.
//
// # Retention and bounds
//
// Retention runs inside every Commit transaction (so it costs no goroutine and is atomic
// with the write): the oldest fixes are removed while there are more than
// FixRetentionCount of them or their commit time is older than FixRetentionAge. A fix
// still waiting in the outbox is never removed by retention, and neither is anything
// keyed after it. An idle store is not pruned until the next Commit.
//
// The outbox is bounded by OutboxMaxCount and OutboxMaxBytes (sum of bodies). When a
// Commit would exceed either, the oldest outbox entries are dropped in the same
// transaction, counted (Dropped) and logged at Warn. Their fix records stay, subject to
// retention, so the local API still shows them.
//
// # Caveats
//
// Idempotence uses an ID index that shrinks with retention: an ID committed again after
// its fix was pruned is stored again as a new fix. Durability is bbolt's: a Commit that
// returned survives SIGKILL and power loss (fsync on every transaction), which is why
// concurrent single-fix writers should use CommitBatched to share transactions.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Fix is one committed estimate.
type Fix struct {
	ID       string    // "<receiver_id>:<sample_offset>", stable across redeliveries
	Receiver string    // receiver id
	Time     time.Time // the window's first sample (UTC)
	Body     []byte    // the GeoJSON Feature, as published
	Seq      uint64    // assigned by the store at commit, increasing; 0 on input
}

// Options bound the store. Zero fields take the documented defaults.
type Options struct {
	// FixRetentionCount keeps at most this many fixes (default 100,000).
	FixRetentionCount int
	// FixRetentionAge removes fixes committed longer ago than this (default 7 days).
	FixRetentionAge time.Duration
	// OutboxMaxCount bounds the fixes waiting for upload (default 1,000,000).
	OutboxMaxCount int
	// OutboxMaxBytes bounds the summed body size waiting for upload (default 256 MiB).
	OutboxMaxBytes int64
	// CacheTTL is the predict cache lifetime when CachePut gets ttl 0 (default 3600 s,
	// as Heimdall's).
	CacheTTL time.Duration
	// LockTimeout is how long Open waits for the file lock held by another process
	// (default 1 s) before failing with ErrLocked.
	LockTimeout time.Duration
}

// Defaults used for zero Options fields.
const (
	DefaultFixRetentionCount = 100_000
	DefaultFixRetentionAge   = 7 * 24 * time.Hour
	DefaultOutboxMaxCount    = 1_000_000
	DefaultOutboxMaxBytes    = 256 << 20
	DefaultCacheTTL          = 3600 * time.Second
	DefaultLockTimeout       = time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.FixRetentionCount < 0 || o.FixRetentionAge < 0 || o.OutboxMaxCount < 0 ||
		o.OutboxMaxBytes < 0 || o.CacheTTL < 0 || o.LockTimeout < 0 {
		return o, fmt.Errorf("%w: negative value in %+v", ErrInvalidOptions, o)
	}
	if o.FixRetentionCount == 0 {
		o.FixRetentionCount = DefaultFixRetentionCount
	}
	if o.FixRetentionAge == 0 {
		o.FixRetentionAge = DefaultFixRetentionAge
	}
	if o.OutboxMaxCount == 0 {
		o.OutboxMaxCount = DefaultOutboxMaxCount
	}
	if o.OutboxMaxBytes == 0 {
		o.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o, nil
}

// Bucket names.
var (
	bucketFixes  = []byte("fixes")  // timeKey(16) → record
	bucketIDs    = []byte("ids")    // fix ID → timeKey(16)
	bucketOutbox = []byte("outbox") // seq(8) → timeKey(16) + body bytes(4)
	bucketCache  = []byte("cache")  // key → expiry unix ns(8) + value
	bucketState  = []byte("state")  // key → value
	bucketMeta   = []byte("meta")   // counters below → uint64
	allBuckets   = [][]byte{bucketFixes, bucketIDs, bucketOutbox, bucketCache, bucketState, bucketMeta}

	metaFixCount    = []byte("fix_count")
	metaOutboxCount = []byte("outbox_count")
	metaOutboxBytes = []byte("outbox_bytes")
)

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	opts Options
	log  *slog.Logger
	now  func() time.Time // for tests of age-based retention

	group commitGroup // CommitBatched callers

	dropped   atomic.Uint64
	cachePuts atomic.Uint64

	dropLogMu   sync.Mutex
	dropLogAt   time.Time
	dropPending uint64
}

// Open opens or creates the store at path. If another process holds the file it fails
// after opts.LockTimeout with ErrLocked. A file that is not a bbolt database is renamed
// to "<path>.corrupt-<UTC timestamp>" (logged at Warn) and a fresh store is created;
// nothing is deleted. log may be nil for silence.
func Open(path string, opts Options, log *slog.Logger) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := openBolt(path, opts)
	if isNotBolt(err) {
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("store: open %s: %w (and could not move it aside: %v)", path, err, rerr)
		}
		log.Warn("store: database file is not a valid bbolt file; moved it aside and started a fresh one",
			"path", path, "moved_to", aside, "err", err)
		b, err = openBolt(path, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Close()
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	return &DB{bolt: b, path: path, opts: opts, log: log, now: time.Now}, nil
}

func openBolt(path string, opts Options) (*bolt.DB, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: no file lock after %s; another edged may hold it: %w: %w",
			path, opts.LockTimeout, ErrLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return b, nil
}

func isNotBolt(err error) bool {
	return errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrVersionMismatch) ||
		errors.Is(err, bolterrors.ErrChecksum)
}

// Path is the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Close releases the file. Call it after all Commit calls returned.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	return nil
}

// SizeBytes is the size of the data in the file (bbolt's Tx.Size).
func (db *DB) SizeBytes() int64 {
	var n int64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n
}

// Dropped counts outbox entries dropped because the outbox was full, since Open.
func (db *DB) Dropped() uint64 { return db.dropped.Load() }

// GetState returns the value stored under key, or ErrNotFound.
func (db *DB) GetState(key string) ([]byte, error) {
	var out []byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketState).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("store: state %q: %w", key, ErrNotFound)
		}
		out = append([]byte{}, v...)
		return nil
	})
	return out, err
}

// PutState stores val under key (e.g. the active model version).
func (db *DB) PutState(key string, val []byte) error {
	if key == "" || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("store: state key length %d: %w", len(key), ErrInvalidArgument)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).Put([]byte(key), append([]byte{}, val...))
	})
	if err != nil {
		return fmt.Errorf("store: put state %q: %w", key, err)
	}
	return nil
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func u64b(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
