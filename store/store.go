// Package store keeps fixes, their upload outbox, the predict cache and model state in
// one bbolt file.
//
// # Basics
//
// A fix is committed once: Commit writes the fix and its outbox entry in one bbolt
// transaction and assigns it an increasing Seq. The uplink reads the outbox in Seq order
// (OutboxPeek/OutboxPeekAfter) and removes entries only once the broker acknowledged
// them (OutboxAck). Committing an ID again returns the stored fix unchanged, so a replay
// restarted from the beginning does not duplicate anything. With NoOutbox (no broker
// configured) Commit queues nothing.
//
// Fixes are keyed by their time, then Seq, so Fixes(since, limit) is a range scan. The
// outbox is keyed by Seq and refers to the fix record; nothing is stored twice. A body is
// stored as given (the pipeline gives a packed fix, see infer.Feature.Pack) and readers get
// it through Options.Render.
//
// # Retention and bounds
//
// Retention runs inside every Commit transaction (so it costs no goroutine and is atomic
// with the write): the oldest fixes are removed while there are more than
// FixRetentionCount of them, their records sum to more than FixRetentionBytes, or their
// commit time is older than FixRetentionAge. A fix still waiting in the outbox is never
// removed by retention, and neither is anything keyed after it (unless NoOutbox: with no
// uplink to wait for, a left-over outbox entry protects nothing). An idle store is not
// pruned until the next Commit.
//
// The outbox is bounded by OutboxMaxCount and OutboxMaxBytes (sum of bodies). When a
// Commit would exceed either, the oldest outbox entries are dropped in the same
// transaction, counted (Dropped) and logged at Warn. Their fix records stay, subject to
// retention, so the local API still shows them.
//
// The predict cache is bounded by CacheMaxBytes: a put beyond it evicts the oldest entries
// first, and expired entries are removed oldest first as puts go on.
//
// # Writes
//
// bbolt copies every page a transaction touches and fsyncs twice per transaction, so the
// bytes written to disk depend far more on the number of transactions than on the data:
// callers batch (Commit with a slice, CommitBatched, CachePutMany), and with AckDelay
// broker acknowledgements ride the next Commit's transaction. The freelist is not written
// at each commit (bbolt's NoFreelistSync; it is rebuilt by a scan at Open), and
// append-only buckets fill their pages. WrittenBytes counts what the store wrote.
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
	// FixRetentionBytes bounds the summed size of the fix records kept (default 64 MiB).
	FixRetentionBytes int64
	// OutboxMaxCount bounds the fixes waiting for upload (default 500,000).
	OutboxMaxCount int
	// OutboxMaxBytes bounds the summed body size waiting for upload (default 64 MiB).
	OutboxMaxBytes int64
	// NoOutbox makes Commit queue nothing for upload: for a daemon with no broker
	// configured, whose outbox would otherwise fill to its bounds for nobody.
	NoOutbox bool
	// CacheTTL is the predict cache lifetime when CachePut gets ttl 0 (default 3600 s,
	// as Heimdall's).
	CacheTTL time.Duration
	// CacheMaxBytes bounds the predict cache's keys and values; beyond it the oldest
	// entries are evicted first (default 32 MiB).
	CacheMaxBytes int64
	// AckDelay lets OutboxAck keep acknowledgements in memory for up to this long, so the
	// next Commit deletes them in its own transaction instead of one of their own; Close
	// writes what is left. A crash forgets them: those fixes are published again (same
	// ids). 0 writes each OutboxAck at once.
	AckDelay time.Duration
	// LockTimeout is how long Open waits for the file lock held by another process
	// (default 1 s) before failing with ErrLocked.
	LockTimeout time.Duration
	// Render turns a stored fix body into the body readers get (Fixes, OutboxPeek);
	// nil returns bodies as stored. The daemon stores packed fixes and renders them
	// with infer.Unpack.
	Render func(stored []byte) ([]byte, error)
}

// Defaults used for zero Options fields. With them the file stays under 256 MB whatever
// the traffic: fixes (history and outbox overlap) at most 128 MiB, the cache 32 MiB, the
// ID and outbox indexes about 10 %, and bbolt's free pages, which it reuses.
const (
	DefaultFixRetentionCount = 100_000
	DefaultFixRetentionAge   = 7 * 24 * time.Hour
	DefaultFixRetentionBytes = 64 << 20
	DefaultOutboxMaxCount    = 500_000
	DefaultOutboxMaxBytes    = 64 << 20
	DefaultCacheTTL          = 3600 * time.Second
	DefaultCacheMaxBytes     = 32 << 20
	DefaultLockTimeout       = time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.FixRetentionCount < 0 || o.FixRetentionAge < 0 || o.FixRetentionBytes < 0 || o.OutboxMaxCount < 0 ||
		o.OutboxMaxBytes < 0 || o.CacheTTL < 0 || o.CacheMaxBytes < 0 || o.AckDelay < 0 || o.LockTimeout < 0 {
		return o, fmt.Errorf("%w: negative value in %+v", ErrInvalidOptions, o)
	}
	if o.FixRetentionCount == 0 {
		o.FixRetentionCount = DefaultFixRetentionCount
	}
	if o.FixRetentionAge == 0 {
		o.FixRetentionAge = DefaultFixRetentionAge
	}
	if o.FixRetentionBytes == 0 {
		o.FixRetentionBytes = DefaultFixRetentionBytes
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
	if o.CacheMaxBytes == 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	return o, nil
}

// Bucket names.
var (
	bucketFixes      = []byte("fixes")       // timeKey(16) → record
	bucketIDs        = []byte("ids")         // fix ID → timeKey(16)
	bucketOutbox     = []byte("outbox")      // seq(8) → timeKey(16) + body bytes(4)
	bucketCache      = []byte("cache")       // key → expiry unix ns(8) + order(8) + value
	bucketCacheOrder = []byte("cache_order") // order(8) → key, oldest first
	bucketState      = []byte("state")       // key → value
	bucketMeta       = []byte("meta")        // counters below → uint64
	allBuckets       = [][]byte{bucketFixes, bucketIDs, bucketOutbox, bucketCache, bucketCacheOrder, bucketState, bucketMeta}

	metaFixCount    = []byte("fix_count")
	metaFixBytes    = []byte("fix_bytes")
	metaOutboxCount = []byte("outbox_count")
	metaOutboxBytes = []byte("outbox_bytes")
	metaCacheBytes  = []byte("cache_bytes")
	metaLayout      = []byte("layout")
)

// layoutVersion 2 added fix_bytes and the cache's order index; a file of layout 1 gets
// them at Open (its cache is emptied, its fix bytes counted once).
const layoutVersion = 2

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	bolt     *bolt.DB
	path     string
	opts     Options
	log      *slog.Logger
	now      func() time.Time // for tests of age-based retention
	pageSize int64

	group commitGroup // CommitBatched callers
	acks  pendingAcks // OutboxAck with AckDelay

	dropped atomic.Uint64
	evicted atomic.Uint64
	written atomic.Int64

	movedAside string      // where Open moved an unusable file, or ""
	health     writeHealth // whether writes reach the disk

	dropLogMu   sync.Mutex
	dropLogAt   time.Time
	dropPending uint64
}

// initTx creates the buckets and brings an older layout up to date.
func (db *DB) initTx(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if u64(meta.Get(metaLayout)) >= layoutVersion {
		return nil
	}
	var fixBytes uint64
	if err := tx.Bucket(bucketFixes).ForEach(func(k, v []byte) error {
		fixBytes += recordSize(k, v)
		return nil
	}); err != nil {
		return err
	}
	if err := meta.Put(metaFixBytes, u64b(fixBytes)); err != nil {
		return err
	}
	// Layout 1's cache entries have no order: start the cache afresh.
	if err := tx.DeleteBucket(bucketCache); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketCache); err != nil {
		return err
	}
	if err := meta.Put(metaCacheBytes, u64b(0)); err != nil {
		return err
	}
	return meta.Put(metaLayout, u64b(layoutVersion))
}

// update runs fn in a write transaction and counts what its commit writes: bbolt writes
// every page the transaction allocated (each dirty page goes to a fresh place), then the
// meta page.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		tx.OnCommit(func() {
			s := tx.Stats()
			db.written.Add(s.GetPageAlloc() + db.pageSize)
		})
		return fn(tx)
	})
	db.health.record(err, time.Now())
	return err
}

// Path is the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Close writes the acknowledgements still pending and releases the file. Call it after all
// Commit calls returned.
func (db *DB) Close() error {
	ackErr := db.closeAcks()
	// Every transaction has been synced: the next Open need not check the file.
	if err := os.Remove(db.path + dirtySuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		db.log.Warn("store: clean-stop marker not removed; the next start checks the file", "err", err)
	}
	if err := db.bolt.Close(); err != nil {
		return errors.Join(ackErr, fmt.Errorf("store: close %s: %w", db.path, err))
	}
	return ackErr
}

// SizeBytes is the size of the file on disk.
func (db *DB) SizeBytes() int64 {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// WrittenBytes counts the bytes the store wrote to its file since Open: what wears an SD
// card.
func (db *DB) WrittenBytes() int64 { return db.written.Load() }

// Dropped counts outbox entries dropped, since Open: because the outbox was full, or
// (NoOutbox) because retention removed their fix.
func (db *DB) Dropped() uint64 { return db.dropped.Load() }

// Options returns the options in effect, defaults filled in.
func (db *DB) Options() Options { return db.opts }

// CacheEvicted counts predict cache entries evicted to stay under CacheMaxBytes, since
// Open.
func (db *DB) CacheEvicted() uint64 { return db.evicted.Load() }

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
	err := db.update(func(tx *bolt.Tx) error {
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
