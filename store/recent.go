package store

import (
	"bytes"
	"encoding/json"
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

// FeatureCollection splices fixes' stored GeoJSON bodies into one FeatureCollection, without
// decoding and re-encoding them. A body that is not valid JSON is left out and handed to
// skipped, when skipped is not nil.
func FeatureCollection(fixes []Fix, skipped func(Fix)) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	n := 0
	for _, f := range fixes {
		if !json.Valid(f.Body) {
			if skipped != nil {
				skipped(f)
			}
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(f.Body)
		n++
	}
	b.WriteString("]}")
	return b.Bytes()
}
