package api

import (
	"log/slog"
	"sync"
	"time"

	"github.com/heimdall/edged/internal/lograte"
	"github.com/heimdall/edged/store"
)

// maxCachePendingWrites bounds the answers waiting to be written to bbolt.
const maxCachePendingWrites = 256

// cache is the predict cache: the store's bbolt cache, written behind. A put is visible to
// gets at once (from memory) and reaches bbolt from one writer goroutine, so that a miss
// never waits for bbolt's fsync and concurrent misses do not pile up on bbolt's writer
// lock. At most maxCachePendingWrites answers wait; beyond that an answer is simply not
// cached.
type cache struct {
	db  *store.DB
	ttl time.Duration
	log *slog.Logger

	mu      sync.Mutex
	pending map[[32]byte][]byte
	queue   chan cacheEntry
	started bool
	closed  bool
	done    chan struct{} // closed when the writer has drained the queue
	// failLog keeps a write failure that repeats (a full disk) to one line per 10 s.
	failLog lograte.Limiter
}

type cacheEntry struct {
	key [32]byte
	val []byte
}

func newCache(db *store.DB, ttl time.Duration, log *slog.Logger) *cache {
	return &cache{db: db, ttl: ttl, log: log, pending: make(map[[32]byte][]byte),
		queue: make(chan cacheEntry, maxCachePendingWrites), done: make(chan struct{})}
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
	defer c.mu.Unlock()
	if _, dup := c.pending[key]; dup || c.closed {
		return
	}
	select {
	case c.queue <- cacheEntry{key, val}:
		c.pending[key] = val
	default: // the writer is behind: do not cache this one
		return
	}
	if !c.started {
		c.started = true
		go c.writer()
	}
}

// cacheFlushEvery is how long the writer gathers answers before one bbolt transaction: a
// disk sync per answer cost a tenth of the CPU under load, and pending answers are served
// from memory meanwhile.
const cacheFlushEvery = 20 * time.Millisecond

// writer writes queued answers to bbolt until close, gathering up to cacheFlushEvery or
// 128 answers per transaction: one fsync per batch instead of per answer.
func (c *cache) writer() {
	defer close(c.done)
	batch := make([]cacheEntry, 0, 128)
	entries := make([]store.CacheEntry, 0, 128)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for e := range c.queue {
		batch = append(batch[:0], e)
		timer.Reset(cacheFlushEvery)
	gather:
		for len(batch) < cap(batch) {
			select {
			case more, ok := <-c.queue:
				if !ok {
					break gather
				}
				batch = append(batch, more)
			case <-timer.C:
				break gather
			}
		}
		entries = entries[:0]
		for i := range batch {
			entries = append(entries, store.CacheEntry{Key: batch[i].key[:], Val: batch[i].val})
		}
		err := c.db.CachePutMany(c.ttl, entries...)
		c.mu.Lock()
		for _, b := range batch {
			delete(c.pending, b.key) // now in bbolt (or failed): gets read it from there
		}
		c.mu.Unlock()
		if err != nil {
			if ok, n := c.failLog.Allow(time.Now()); ok {
				c.log.Warn("api: cache write failed", "answers", len(batch), "err", err, "failures", n)
			}
		}
	}
}

// close stops caching new answers and waits until the queued ones are written.
func (c *cache) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.queue)
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.done
	}
}
