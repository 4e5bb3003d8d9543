package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A cache entry is key → expiry unix ns(8) + order(8) + value, and order(8) → key in the
// order bucket, so the oldest entries are found first for expiry and eviction without a
// scan.
const cacheHeader = 16

// cacheEntrySize is what an entry counts against CacheMaxBytes: both records.
func cacheEntrySize(key []byte, valLen int) uint64 {
	return uint64(2*len(key) + cacheHeader + 8 + valLen)
}

// CacheGet returns the cached value for key if present and not expired.
func (db *DB) CacheGet(key []byte) ([]byte, bool, error) {
	if len(key) == 0 || len(key) > bolt.MaxKeySize {
		return nil, false, fmt.Errorf("store: cache key length %d: %w", len(key), ErrInvalidArgument)
	}
	var (
		out []byte
		ok  bool
	)
	now := db.now().UnixNano()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCache).Get(key)
		if len(v) < cacheHeader || int64(binary.BigEndian.Uint64(v)) <= now {
			return nil
		}
		out, ok = append([]byte{}, v[cacheHeader:]...), true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: cache get: %w", err)
	}
	return out, ok, nil
}

// CachePut stores val under key for ttl (Options.CacheTTL when ttl is 0). Expiry is
// checked on read; expired entries are deleted oldest first as later puts go on, and the
// oldest entries are evicted when the cache would exceed Options.CacheMaxBytes.
func (db *DB) CachePut(key, val []byte, ttl time.Duration) error {
	return db.CachePutMany(ttl, CacheEntry{Key: key, Val: val})
}

// CacheEntry is one answer for CachePutMany.
type CacheEntry struct {
	Key, Val []byte
}

// CachePutMany stores several answers in one transaction (one fsync), with the same ttl
// rules as CachePut. A writer that queues answers uses it to keep disk syncs off the
// request path's throughput.
func (db *DB) CachePutMany(ttl time.Duration, entries ...CacheEntry) error {
	for _, e := range entries {
		if len(e.Key) == 0 || len(e.Key) > bolt.MaxKeySize {
			return fmt.Errorf("store: cache key length %d: %w", len(e.Key), ErrInvalidArgument)
		}
		if size := cacheEntrySize(e.Key, len(e.Val)); size > uint64(db.opts.CacheMaxBytes) {
			return fmt.Errorf("store: cache entry of %d bytes exceeds the cache bound of %d bytes: %w",
				size, db.opts.CacheMaxBytes, ErrInvalidArgument)
		}
	}
	if ttl < 0 {
		return fmt.Errorf("store: cache ttl %v: %w", ttl, ErrInvalidArgument)
	}
	if ttl == 0 {
		ttl = db.opts.CacheTTL
	}
	now := db.now()
	var evicted uint64
	err := db.update(func(tx *bolt.Tx) error {
		b, ob, meta := tx.Bucket(bucketCache), tx.Bucket(bucketCacheOrder), tx.Bucket(bucketMeta)
		appendOnly(ob)
		size := u64(meta.Get(metaCacheBytes))
		for _, e := range entries {
			if old := b.Get(e.Key); len(old) >= cacheHeader {
				if err := ob.Delete(old[8:cacheHeader]); err != nil {
					return err
				}
				size -= min(size, cacheEntrySize(e.Key, len(old)-cacheHeader))
			}
			order, err := ob.NextSequence()
			if err != nil {
				return err
			}
			v := make([]byte, 0, cacheHeader+len(e.Val))
			v = binary.BigEndian.AppendUint64(v, uint64(now.Add(ttl).UnixNano()))
			v = binary.BigEndian.AppendUint64(v, order)
			if err := b.Put(append([]byte{}, e.Key...), append(v, e.Val...)); err != nil {
				return err
			}
			if err := ob.Put(u64b(order), append([]byte{}, e.Key...)); err != nil {
				return err
			}
			size += cacheEntrySize(e.Key, len(e.Val))
		}
		// Oldest first: expired entries (a budget per put keeps a transaction short; with
		// one TTL for all, order is expiry order), then whatever is over the bound.
		budget := 2*len(entries) + 64
		cur := ob.Cursor()
		for k, key := cur.First(); k != nil; k, key = cur.First() {
			v := b.Get(key)
			if len(v) < cacheHeader || !bytes.Equal(v[8:cacheHeader], k) {
				v = nil // an order entry whose key was put again since: only it goes
			}
			expired := v == nil || int64(binary.BigEndian.Uint64(v)) <= now.UnixNano()
			over := size > uint64(db.opts.CacheMaxBytes)
			if !over && (!expired || budget == 0) {
				break
			}
			if !expired {
				evicted++
			}
			budget = max(budget-1, 0)
			if v != nil {
				size -= min(size, cacheEntrySize(key, len(v)-cacheHeader))
				if err := b.Delete(key); err != nil {
					return err
				}
			}
			if err := cur.Delete(); err != nil {
				return err
			}
		}
		return meta.Put(metaCacheBytes, u64b(size))
	})
	if err != nil {
		return fmt.Errorf("store: cache put: %w", err)
	}
	db.evicted.Add(evicted)
	return nil
}

// CacheBytes is the predict cache's size as counted against Options.CacheMaxBytes.
func (db *DB) CacheBytes() int64 {
	var n uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		n = u64(tx.Bucket(bucketMeta).Get(metaCacheBytes))
		return nil
	})
	return int64(n)
}
