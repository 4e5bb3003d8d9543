package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutboxPeek returns up to max fixes waiting for upload, lowest Seq first, without
// removing them.
func (db *DB) OutboxPeek(max int) ([]Fix, error) {
	return db.OutboxPeekAfter(0, max)
}

// OutboxPeekAfter is OutboxPeek starting after Seq afterSeq, so an uploader with fixes in
// flight can read the next ones without re-reading those.
func (db *DB) OutboxPeekAfter(afterSeq uint64, max int) ([]Fix, error) {
	if max <= 0 {
		return nil, fmt.Errorf("store: outbox peek max %d: %w", max, ErrInvalidArgument)
	}
	var out []Fix
	err := db.bolt.View(func(tx *bolt.Tx) error {
		fb := tx.Bucket(bucketFixes)
		cur := tx.Bucket(bucketOutbox).Cursor()
		var k, v []byte
		if afterSeq == ^uint64(0) {
			return nil
		}
		for k, v = cur.Seek(u64b(afterSeq + 1)); k != nil && len(out) < max; k, v = cur.Next() {
			if len(v) != 20 {
				return fmt.Errorf("outbox entry %d: bad value length %d: %w", u64(k), len(v), ErrNotFound)
			}
			f, _, err := decodeRecord(v[:16], fb.Get(v[:16]))
			if err != nil {
				return fmt.Errorf("outbox entry %d: %w", u64(k), err)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: outbox peek: %w", err)
	}
	return out, nil
}

// OutboxAck removes the entries with these Seqs from the outbox (the fixes themselves
// stay, subject to retention). Unknown or already acknowledged Seqs are ignored, so a
// redelivered fix can be acknowledged twice.
func (db *DB) OutboxAck(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		ob, meta := tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
		c := readCounters(meta)
		for _, s := range seqs {
			k := u64b(s)
			v := ob.Get(k)
			if v == nil {
				continue
			}
			c.outCount--
			c.outBytes -= uint64(outboxBodyLen(v))
			if err := ob.Delete(k); err != nil {
				return err
			}
		}
		return c.write(meta)
	})
	if err != nil {
		return fmt.Errorf("store: outbox ack %d entries: %w", len(seqs), err)
	}
	return nil
}

// OutboxLen is the number of fixes waiting for upload and the sum of their body sizes.
func (db *DB) OutboxLen() (count int, bytes int64) {
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		c := readCounters(tx.Bucket(bucketMeta))
		count, bytes = int(c.outCount), int64(c.outBytes)
		return nil
	})
	return count, bytes
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
		if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= now {
			return nil
		}
		out, ok = append([]byte{}, v[8:]...), true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: cache get: %w", err)
	}
	return out, ok, nil
}

// cacheSweepEvery is how many CachePut calls pass between sweeps of expired entries.
const cacheSweepEvery = 1024

// CachePut stores val under key for ttl (Options.CacheTTL when ttl is 0). Expiry is
// checked on read; expired entries are deleted by a sweep every 1024 puts.
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
	}
	if ttl < 0 {
		return fmt.Errorf("store: cache ttl %v: %w", ttl, ErrInvalidArgument)
	}
	if ttl == 0 {
		ttl = db.opts.CacheTTL
	}
	now := db.now()
	// Sweep expired answers whenever the running count of puts crosses a multiple of
	// cacheSweepEvery.
	n := uint64(len(entries))
	after := db.cachePuts.Add(n)
	sweep := (after-n)/cacheSweepEvery != after/cacheSweepEvery
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		if sweep {
			var doomed [][]byte
			cur := b.Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) <= now.UnixNano() {
					doomed = append(doomed, k)
				}
			}
			for _, k := range doomed {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		for _, e := range entries {
			v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(e.Val)), uint64(now.Add(ttl).UnixNano()))
			if err := b.Put(append([]byte{}, e.Key...), append(v, e.Val...)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: cache put: %w", err)
	}
	return nil
}
