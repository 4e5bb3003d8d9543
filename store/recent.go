package store

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Recent returns the newest limit fixes (by fix time), oldest first, rendered as Fixes
// renders them: what a display of "the last N fixes" shows, however many the store holds.
func (db *DB) Recent(limit int) ([]Fix, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: recent fixes limit %d: %w", limit, ErrInvalidArgument)
	}
	var out []Fix
	err := db.bolt.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketFixes).Cursor()
		for k, v := cur.Last(); k != nil && len(out) < limit; k, v = cur.Prev() {
			f, _, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent fixes: %w", err)
	}
	slices.Reverse(out)
	return db.render(out)
}
