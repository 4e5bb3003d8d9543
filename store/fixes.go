package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// timeKey orders fixes by time, then Seq: 8 bytes of UnixNano with the sign bit flipped
// (so negative times sort first), then 8 bytes of Seq, both big-endian.
func timeKey(t time.Time, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano())^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func keyTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k)^(1<<63))).UTC()
}

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k[8:16]) }

// A fix record: commit time unix ns (8), uvarint len + ID, uvarint len + receiver, body.
func encodeRecord(f *Fix, committed time.Time) []byte {
	v := make([]byte, 0, 8+2*binary.MaxVarintLen16+len(f.ID)+len(f.Receiver)+len(f.Body))
	v = binary.BigEndian.AppendUint64(v, uint64(committed.UnixNano()))
	v = binary.AppendUvarint(v, uint64(len(f.ID)))
	v = append(v, f.ID...)
	v = binary.AppendUvarint(v, uint64(len(f.Receiver)))
	v = append(v, f.Receiver...)
	return append(v, f.Body...)
}

// decodeRecord copies everything out of v (bbolt memory is only valid inside the tx).
func decodeRecord(k, v []byte) (Fix, time.Time, error) {
	bad := fmt.Errorf("store: corrupt fix record at key %x: %w", k, ErrNotFound)
	if len(k) != 16 || len(v) < 8 {
		return Fix{}, time.Time{}, bad
	}
	committed := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
	v = v[8:]
	id, v, ok := lenPrefixed(v)
	if !ok {
		return Fix{}, time.Time{}, bad
	}
	rx, v, ok := lenPrefixed(v)
	if !ok {
		return Fix{}, time.Time{}, bad
	}
	return Fix{
		ID:       string(id),
		Receiver: string(rx),
		Time:     keyTime(k),
		Body:     append([]byte{}, v...),
		Seq:      keySeq(k),
	}, committed, nil
}

func lenPrefixed(v []byte) (field, rest []byte, ok bool) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) {
		return nil, nil, false
	}
	return v[w : w+int(n)], v[w+int(n):], true
}

// recordSize is what a fix record counts against FixRetentionBytes.
func recordSize(k, v []byte) uint64 { return uint64(len(k) + len(v)) }

// recordID reads only the ID of a record (for retention).
func recordID(v []byte) []byte {
	if len(v) < 8 {
		return nil
	}
	id, _, _ := lenPrefixed(v[8:])
	return id
}

// minTime and maxTime bound what fits in UnixNano.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func (db *DB) validate(fixes []Fix) error {
	for i := range fixes {
		f := &fixes[i]
		switch {
		case f.ID == "":
			return fmt.Errorf("store: fix %d: empty ID: %w", i, ErrInvalidFix)
		case len(f.ID) > 1<<16:
			return fmt.Errorf("store: fix %q: ID of %d bytes: %w", f.ID[:64], len(f.ID), ErrInvalidFix)
		case f.Time.IsZero() || f.Time.Before(minTime) || f.Time.After(maxTime):
			return fmt.Errorf("store: fix %q: time %v out of range: %w", f.ID, f.Time, ErrInvalidFix)
		case int64(len(f.Body)) > db.opts.OutboxMaxBytes:
			return fmt.Errorf("store: fix %q: body of %d bytes exceeds the outbox bound of %d bytes: %w",
				f.ID, len(f.Body), db.opts.OutboxMaxBytes, ErrInvalidFix)
		}
	}
	return nil
}

// Commit stores fixes and their outbox entries in one transaction and returns them with
// Seq assigned (and Time in UTC). A fix whose ID is already stored is not written again:
// the stored fix (with its original Seq, and its body as stored, not rendered) is
// returned in its place. When Commit returns nil the fixes are on disk. Committing a
// slice is much faster than one fix per call, and writes far fewer bytes.
func (db *DB) Commit(fixes ...Fix) ([]Fix, error) {
	if len(fixes) == 0 {
		return nil, nil
	}
	if err := db.validate(fixes); err != nil {
		return nil, err
	}
	if out, ok, err := db.allStored(fixes); err != nil || ok {
		return out, err
	}
	var (
		out     []Fix
		dropped uint64
	)
	err := db.update(func(tx *bolt.Tx) error {
		if err := db.carryAcks(tx); err != nil {
			return err
		}
		out = make([]Fix, len(fixes))
		var err error
		dropped, err = db.commitTx(tx, fixes, out)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: commit %d fixes: %w", len(fixes), err)
	}
	if dropped > 0 {
		db.noteDropped(dropped)
	}
	return out, nil
}

// allStored returns the stored fixes if every ID is stored already: a replay restarted
// from the beginning then costs a read transaction per batch instead of a write and its
// fsync.
func (db *DB) allStored(fixes []Fix) ([]Fix, bool, error) {
	out := make([]Fix, len(fixes))
	ok := true
	err := db.bolt.View(func(tx *bolt.Tx) error {
		fb, ib := tx.Bucket(bucketFixes), tx.Bucket(bucketIDs)
		for i := range fixes {
			k := ib.Get([]byte(fixes[i].ID))
			if k == nil {
				ok = false
				return nil
			}
			f, _, err := decodeRecord(k, fb.Get(k))
			if err != nil {
				return fmt.Errorf("fix %q: %w", fixes[i].ID, err)
			}
			out[i] = f
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: commit %d fixes: %w", len(fixes), err)
	}
	return out, ok, nil
}

// CommitBatched is Commit for many concurrent callers, each with few fixes: calls that
// arrive while a transaction is being written wait and are then written together in the
// next one (group commit, no added delay), so N waiting callers share one fsync. Prefer
// Commit with a slice when one goroutine has several fixes.
func (db *DB) CommitBatched(fixes ...Fix) ([]Fix, error) {
	if len(fixes) == 0 {
		return nil, nil
	}
	if err := db.validate(fixes); err != nil {
		return nil, err
	}
	req := &commitReq{fixes: fixes, done: make(chan struct{})}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.leading {
		g.mu.Unlock()
		<-req.done
		return req.out, req.err
	}
	// No transaction in progress: this caller writes the queue, and keeps writing what
	// queued up meanwhile until the queue is empty.
	g.leading = true
	for len(g.queue) > 0 {
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		db.commitGroup(batch)
		g.mu.Lock()
	}
	g.leading = false
	g.mu.Unlock()
	return req.out, req.err
}

// commitReq is one CommitBatched call waiting for its group.
type commitReq struct {
	fixes []Fix
	out   []Fix
	err   error
	done  chan struct{} // closed when out and err are set
}

// commitGroup serialises CommitBatched callers.
type commitGroup struct {
	mu      sync.Mutex
	queue   []*commitReq
	leading bool
}

func (db *DB) commitGroup(batch []*commitReq) {
	var dropped uint64
	err := db.update(func(tx *bolt.Tx) error {
		dropped = 0
		if err := db.carryAcks(tx); err != nil {
			return err
		}
		for _, r := range batch {
			r.out = make([]Fix, len(r.fixes))
			d, err := db.commitTx(tx, r.fixes, r.out)
			if err != nil {
				return err
			}
			dropped += d
		}
		return nil
	})
	if err != nil {
		// One request may have spoiled the group: give each its own transaction so
		// only that one fails.
		for _, r := range batch {
			r.out, r.err = db.Commit(r.fixes...)
		}
	} else if dropped > 0 {
		db.noteDropped(dropped)
	}
	for _, r := range batch {
		close(r.done)
	}
}

type counters struct {
	fixes, fixBytes, outCount, outBytes uint64
}

func readCounters(meta *bolt.Bucket) counters {
	return counters{u64(meta.Get(metaFixCount)), u64(meta.Get(metaFixBytes)), u64(meta.Get(metaOutboxCount)), u64(meta.Get(metaOutboxBytes))}
}

func (c counters) write(meta *bolt.Bucket) error {
	for _, kv := range [...]struct {
		k []byte
		v uint64
	}{{metaFixCount, c.fixes}, {metaFixBytes, c.fixBytes}, {metaOutboxCount, c.outCount}, {metaOutboxBytes, c.outBytes}} {
		if err := meta.Put(kv.k, u64b(kv.v)); err != nil {
			return err
		}
	}
	return nil
}

// appendOnly marks buckets whose keys mostly arrive in order (time, Seq, and IDs that
// count samples), so bbolt fills their pages instead of splitting them half-empty:
// fewer pages to write per commit and to keep on disk.
func appendOnly(bs ...*bolt.Bucket) {
	for _, b := range bs {
		b.FillPercent = 1
	}
}

func (db *DB) commitTx(tx *bolt.Tx, fixes []Fix, out []Fix) (dropped uint64, err error) {
	fb, ib, ob, meta := tx.Bucket(bucketFixes), tx.Bucket(bucketIDs), tx.Bucket(bucketOutbox), tx.Bucket(bucketMeta)
	appendOnly(fb, ib, ob)
	c := readCounters(meta)
	now := db.now()
	for i := range fixes {
		f := fixes[i]
		if k := ib.Get([]byte(f.ID)); k != nil {
			stored, _, err := decodeRecord(k, fb.Get(k))
			if err != nil {
				return 0, fmt.Errorf("fix %q: %w", f.ID, err)
			}
			out[i] = stored
			continue
		}
		seq, err := fb.NextSequence()
		if err != nil {
			return 0, err
		}
		f.Seq, f.Time = seq, f.Time.UTC()
		k := timeKey(f.Time, seq)
		rec := encodeRecord(&f, now)
		if err := fb.Put(k, rec); err != nil {
			return 0, fmt.Errorf("fix %q: %w", f.ID, err)
		}
		if err := ib.Put([]byte(f.ID), k); err != nil {
			return 0, fmt.Errorf("fix %q: %w", f.ID, err)
		}
		c.fixes++
		c.fixBytes += recordSize(k, rec)
		if !db.opts.NoOutbox {
			ov := binary.BigEndian.AppendUint32(append([]byte{}, k...), uint32(len(f.Body)))
			if err := ob.Put(u64b(seq), ov); err != nil {
				return 0, fmt.Errorf("fix %q: %w", f.ID, err)
			}
			c.outCount++
			c.outBytes += uint64(len(f.Body))
		}
		f.Body = append([]byte{}, f.Body...) // the caller may reuse its buffer
		out[i] = f
	}
	// Bound the outbox: drop the oldest entries (lowest Seq) until both limits hold.
	oc := ob.Cursor()
	for c.outCount > uint64(db.opts.OutboxMaxCount) || c.outBytes > uint64(db.opts.OutboxMaxBytes) {
		k, v := oc.First()
		if k == nil {
			break
		}
		if err := oc.Delete(); err != nil {
			return 0, err
		}
		c.outCount--
		c.outBytes -= uint64(outboxBodyLen(v))
		dropped++
	}
	pruned, err := db.prune(fb, ib, ob, &c, now, 2*len(fixes)+db.opts.FixRetentionCount/pruneSlack+64)
	if err != nil {
		return 0, err
	}
	return dropped + pruned, c.write(meta)
}

func outboxBodyLen(v []byte) uint32 {
	if len(v) != 20 {
		return 0
	}
	return binary.BigEndian.Uint32(v[16:])
}

// pruneSlack is how far past a retention bound (1/64 of it) the history may grow before
// prune runs; it then goes back down to the bound. Removing a run of fixes at once frees
// whole pages, where removing one or two per commit would rewrite the oldest leaves of two
// buckets and their parents at every commit.
const pruneSlack = 64

// prune removes the oldest fixes that are over the count, bytes or age bound and no
// longer in the outbox, once one of the bounds is exceeded by its slack. It stops at the
// first fix that must stay, and after budget fixes, so a transaction stays short; the
// budget exceeds the inflow, so it catches up. With NoOutbox an outbox entry left by an
// earlier run does not keep its fix: it is deleted with it and counted in dropped.
func (db *DB) prune(fb, ib, ob *bolt.Bucket, c *counters, now time.Time, budget int) (dropped uint64, err error) {
	maxCount, maxBytes := uint64(db.opts.FixRetentionCount), uint64(db.opts.FixRetentionBytes)
	cutoff := now.Add(-db.opts.FixRetentionAge).UnixNano()
	cur := fb.Cursor()
	k, v := cur.First()
	if k == nil {
		return 0, nil
	}
	oldest := committedAt(v)
	if c.fixes <= maxCount+maxCount/pruneSlack && c.fixBytes <= maxBytes+maxBytes/pruneSlack &&
		oldest >= cutoff-int64(db.opts.FixRetentionAge/pruneSlack) {
		return 0, nil
	}
	var doomed [][]byte
	n, size := c.fixes, c.fixBytes
	for ; k != nil && len(doomed) < budget; k, v = cur.Next() {
		if n <= maxCount && size <= maxBytes && committedAt(v) >= cutoff {
			break
		}
		if ov := ob.Get(k[8:16]); ov != nil {
			if !db.opts.NoOutbox {
				break // still waiting for upload
			}
			if err := ob.Delete(k[8:16]); err != nil {
				return 0, err
			}
			c.outCount--
			c.outBytes -= uint64(outboxBodyLen(ov))
			dropped++
		}
		if id := recordID(v); id != nil {
			if err := ib.Delete(id); err != nil {
				return 0, err
			}
		}
		doomed = append(doomed, k)
		n--
		size -= min(size, recordSize(k, v))
	}
	// Deleting after the scan: a bbolt cursor may skip an item when deleting while
	// iterating.
	for _, k := range doomed {
		if err := fb.Delete(k); err != nil {
			return 0, err
		}
	}
	c.fixes, c.fixBytes = n, size
	return dropped, nil
}

// committedAt is a record's commit time in unix ns (math.MaxInt64 for a short record, so
// it never looks old).
func committedAt(v []byte) int64 {
	if len(v) < 8 {
		return math.MaxInt64
	}
	return int64(binary.BigEndian.Uint64(v))
}

func (db *DB) noteDropped(n uint64) {
	total := db.dropped.Add(n)
	// One Warn per minute at most: during a long outage with a full outbox every Commit
	// drops, and a line per Commit would flood the journal.
	db.dropLogMu.Lock()
	defer db.dropLogMu.Unlock()
	db.dropPending += n
	if now := time.Now(); db.dropLogAt.IsZero() || now.Sub(db.dropLogAt) >= time.Minute {
		db.log.Warn("store: dropped the oldest fixes waiting for upload (outbox full, or no broker configured and retention reached them)",
			"dropped", db.dropPending, "dropped_total", total,
			"outbox_max_count", db.opts.OutboxMaxCount, "outbox_max_bytes", db.opts.OutboxMaxBytes)
		db.dropLogAt, db.dropPending = now, 0
	}
}

// Fixes returns up to limit fixes with Time ≥ since, oldest first.
func (db *DB) Fixes(since time.Time, limit int) ([]Fix, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("store: fixes limit %d: %w", limit, ErrInvalidArgument)
	}
	if since.Before(minTime) {
		since = minTime
	}
	if since.After(maxTime) {
		return nil, nil
	}
	var out []Fix
	err := db.bolt.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketFixes).Cursor()
		for k, v := cur.Seek(timeKey(since, 0)); k != nil && len(out) < limit; k, v = cur.Next() {
			f, _, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: fixes since %v: %w", since, err)
	}
	return db.render(out)
}

// render turns stored bodies into what readers get, outside any transaction (rendering a
// packed fix draws its ring). On a failure it returns the fixes before the bad one.
func (db *DB) render(fixes []Fix) ([]Fix, error) {
	if db.opts.Render == nil {
		return fixes, nil
	}
	for i := range fixes {
		body, err := db.opts.Render(fixes[i].Body)
		if err != nil {
			return fixes[:i], fmt.Errorf("store: fix %q (seq %d) cannot be rendered: %w", fixes[i].ID, fixes[i].Seq, err)
		}
		fixes[i].Body = body
	}
	return fixes, nil
}

// FixCount is the number of fixes stored (delivered or not).
func (db *DB) FixCount() int {
	var n uint64
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		n = readCounters(tx.Bucket(bucketMeta)).fixes
		return nil
	})
	return int(n)
}
