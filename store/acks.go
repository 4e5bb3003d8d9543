package store

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pendingAcks are broker acknowledgements not yet written: with Options.AckDelay they wait
// for the next Commit's transaction, which deletes their outbox entries along with its own
// writes, instead of costing a transaction (and some 20 KB written) of their own. Readers
// see them as gone already. A crash forgets them: those fixes are sent again (duplicates
// with the same ids, never a loss).
type pendingAcks struct {
	mu    sync.Mutex
	seqs  map[uint64]uint32 // seq → body bytes, as its outbox entry counts them
	bytes uint64
	since time.Time   // when the oldest pending acknowledgement arrived
	timer *time.Timer // writes them if no Commit has after AckDelay
	done  bool        // Close ran: write at once
}

// OutboxAck removes the entries with these Seqs from the outbox (the fixes themselves
// stay, subject to retention). Unknown or already acknowledged Seqs are ignored, so a
// redelivered fix can be acknowledged twice. With Options.AckDelay the removal is
// written by the next Commit, or after AckDelay, or at Close; until then the entries are
// no longer read or counted.
//
// No bbolt call is made with pendingAcks.mu held: a Commit takes it inside its write
// transaction.
func (db *DB) OutboxAck(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	a := &db.acks
	a.mu.Lock()
	immediate := db.opts.AckDelay <= 0 || a.done
	a.mu.Unlock()
	if immediate {
		return db.writeAcks(seqs, nil)
	}
	// Only entries that exist are remembered, with their size for OutboxLen.
	found := make(map[uint64]uint32, len(seqs))
	err := db.bolt.View(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		for _, s := range seqs {
			if v := ob.Get(u64b(s)); v != nil {
				found[s] = outboxBodyLen(v)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: outbox ack %d entries: %w", len(seqs), err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for s, n := range found {
		if _, ok := a.seqs[s]; ok {
			continue
		}
		if a.seqs == nil {
			a.seqs = map[uint64]uint32{}
		}
		if len(a.seqs) == 0 {
			a.since = time.Now()
		}
		a.seqs[s] = n
		a.bytes += uint64(n)
	}
	if len(a.seqs) > 0 && a.timer == nil && !a.done {
		a.timer = time.AfterFunc(db.opts.AckDelay, db.ackTimer)
	}
	return nil
}

// ackTimer writes the pending acknowledgements once the oldest has waited AckDelay with no
// Commit to carry it (an idle stream, a finished recording).
func (db *DB) ackTimer() {
	a := &db.acks
	a.mu.Lock()
	a.timer = nil
	if len(a.seqs) == 0 || a.done {
		a.mu.Unlock()
		return
	}
	if wait := db.opts.AckDelay - time.Since(a.since); wait > 0 {
		a.timer = time.AfterFunc(wait, db.ackTimer)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	if err := db.flushAcks(); err != nil {
		db.log.Error("store: writing acknowledged fixes out of the outbox", "err", err)
		a.mu.Lock()
		if a.timer == nil && !a.done {
			a.timer = time.AfterFunc(db.opts.AckDelay, db.ackTimer)
		}
		a.mu.Unlock()
	}
}

// snapshot lists the pending acknowledgements.
func (a *pendingAcks) snapshot() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	seqs := make([]uint64, 0, len(a.seqs))
	for s := range a.seqs {
		seqs = append(seqs, s)
	}
	return seqs
}

// forget drops acknowledgements a committed transaction wrote.
func (a *pendingAcks) forget(seqs []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range seqs {
		a.bytes -= uint64(a.seqs[s])
		delete(a.seqs, s)
	}
	if len(a.seqs) > 0 {
		a.since = time.Now()
	}
}

// flushAcks writes every pending acknowledgement in a transaction of its own.
func (db *DB) flushAcks() error {
	seqs := db.acks.snapshot()
	if len(seqs) == 0 {
		return nil
	}
	return db.writeAcks(seqs, &db.acks)
}

// closeAcks writes what is pending and makes later acknowledgements immediate.
func (db *DB) closeAcks() error {
	a := &db.acks
	a.mu.Lock()
	a.done = true
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	return db.flushAcks()
}

// writeAcks deletes these outbox entries in one transaction, then forgets them from
// pending if it is set.
func (db *DB) writeAcks(seqs []uint64, pending *pendingAcks) error {
	err := db.update(func(tx *bolt.Tx) error {
		if pending != nil {
			tx.OnCommit(func() { pending.forget(seqs) })
		}
		return deleteAcked(tx, seqs)
	})
	if err != nil {
		return fmt.Errorf("store: outbox ack %d entries: %w", len(seqs), err)
	}
	return nil
}

// deleteAcked removes acknowledged outbox entries and updates the outbox counters.
func deleteAcked(tx *bolt.Tx, seqs []uint64) error {
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
}

// carryAcks deletes the pending acknowledgements in a Commit's transaction; they are
// forgotten once it committed, and stay pending if it fails.
func (db *DB) carryAcks(tx *bolt.Tx) error {
	seqs := db.acks.snapshot()
	if len(seqs) == 0 {
		return nil
	}
	tx.OnCommit(func() { db.acks.forget(seqs) })
	return deleteAcked(tx, seqs)
}

// has reports whether seq's acknowledgement waits to be written.
func (a *pendingAcks) has(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.seqs[seq]
	return ok
}

// totals is how many acknowledgements wait and their entries' body bytes.
func (a *pendingAcks) totals() (count int, bytes uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seqs), a.bytes
}
