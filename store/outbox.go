package store

import (
	"fmt"

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

// OutboxAck removes the entries with these Seqs from the outbox (the fixes themselves
// stay, subject to retention). Unknown or already acknowledged Seqs are ignored, so a
// redelivered fix can be acknowledged twice.
func (db *DB) OutboxAck(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := db.update(func(tx *bolt.Tx) error {
		ob, meta := tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
		appendOnly(ob)
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
