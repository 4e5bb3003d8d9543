package api

import (
	"log/slog"
	"sync"
	"time"

	"github.com/heimdall/edged/store"
)

// cache is the predict cache: the store's bbolt cache, written behind. A put is visible to
// gets at once (from memory) and reaches bbolt in the background, so that a miss never
// waits for bbolt's fsync. At most maxCachePendingWrites writes wait at a time; beyond that
// an answer is simply not cached.
type cache struct {
	db  *store.DB
	ttl time.Duration
	log *slog.Logger

	mu      sync.Mutex
	pending map[[32]byte][]byte
	closed  bool
	writes  sync.WaitGroup
}

// maxCachePendingWrites bounds the answers waiting to be written to bbolt.
const maxCachePendingWrites = 256

func newCache(db *store.DB, ttl time.Duration, log *slog.Logger) *cache {
	return &cache{db: db, ttl: ttl, log: log, pending: make(map[[32]byte][]byte)}
}

// get returns the cached answer for key. The returned slice is shared: do not modify it.
func (c *cache) get(key [32]byte) ([]byte, bool, error) {
	c.mu.Lock()
	b, ok := c.pending[key]
	c.mu.Unlock()
	if ok {
		return b, true, nil
	}
	return c.db.CacheGet(key[:])
}

// put caches val under key. It does not wait for bbolt.
func (c *cache) put(key [32]byte, val []byte) {
	c.mu.Lock()
	if c.closed || len(c.pending) >= maxCachePendingWrites {
		c.mu.Unlock()
		return
	}
	if _, dup := c.pending[key]; dup {
		c.mu.Unlock()
		return
	}
	c.pending[key] = val
	c.writes.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.writes.Done()
		err := c.db.CachePut(key[:], val, c.ttl)
		c.mu.Lock()
		delete(c.pending, key) // once in bbolt (or failed), gets read it from there
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("api: cache write failed", "err", err)
		}
	}()
}

// close stops caching new answers and waits for pending writes.
func (c *cache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.writes.Wait()
}
