package store

import (
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
// flight can read the next ones without re-reading those. Bodies are rendered
// (Options.Render); if one cannot be, the fixes before it are returned with the error.
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
			if db.acks.has(u64(k)) {
				continue // delivered; the deletion is not written yet
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
	return db.render(out)
}

// OutboxLen is the number of fixes waiting for upload and the sum of their body sizes.
func (db *DB) OutboxLen() (count int, bytes int64) {
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		c := readCounters(tx.Bucket(bucketMeta))
		count, bytes = int(c.outCount), int64(c.outBytes)
		return nil
	})
	// Acknowledged entries waiting to be written are gone for readers already.
	n, b := db.acks.totals()
	return max(count-n, 0), max(bytes-int64(b), 0)
}

// OutboxOldest is when the oldest fix still waiting for upload was committed; ok is false
// when the outbox is empty. It reads past acknowledged entries whose deletion is not
// written yet, and decodes one record.
func (db *DB) OutboxOldest() (committed time.Time, ok bool, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketOutbox).Cursor()
		for k, v := cur.First(); k != nil; k, v = cur.Next() {
			if db.acks.has(u64(k)) {
				continue
			}
			if len(v) != 20 {
				return fmt.Errorf("outbox entry %d: bad value length %d: %w", u64(k), len(v), ErrNotFound)
			}
			_, c, err := decodeRecord(v[:16], tx.Bucket(bucketFixes).Get(v[:16]))
			if err != nil {
				return fmt.Errorf("outbox entry %d: %w", u64(k), err)
			}
			committed, ok = c, true
			return nil
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: outbox oldest: %w", err)
	}
	return committed, ok, nil
}
