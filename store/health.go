package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// writeHealth follows the store's write transactions: whether the last one reached the
// disk, and since when they have been failing. A full disk makes every commit fail while
// the rest of the daemon runs on; readiness and metrics read this to say so.
type writeHealth struct {
	mu     sync.Mutex
	err    error     // the last failure; nil once a write succeeds
	since  time.Time // when the current run of failures began
	failed uint64    // failures in the current run

	diskFull, other atomic.Uint64 // every failure since Open, by kind
}

// record notes a write transaction's outcome. Only failures to write the file count: a
// caller's invalid input (ErrInvalidFix…) says nothing about the disk.
func (h *writeHealth) record(err error, now time.Time) {
	if err != nil && !isWriteError(err) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.err, h.failed = nil, 0
		return
	}
	if isDiskFull(err) {
		h.diskFull.Add(1)
	} else {
		h.other.Add(1)
	}
	if h.failed == 0 {
		h.since = now
	}
	h.err = err
	h.failed++
}

// WriteErr is nil when the store's last write transaction reached the disk; otherwise it
// says how many have failed since when, and why, wrapping ErrDiskFull when the file
// system is full and ErrWrite for another write failure.
func (db *DB) WriteErr() error {
	h := &db.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return nil
	}
	kind := ErrWrite
	if isDiskFull(h.err) {
		kind = ErrDiskFull
	}
	return fmt.Errorf("%w: %d writes failed since %s, the last: %v", kind, h.failed, h.since.UTC().Format(time.RFC3339), h.err)
}

// WriteFailures counts the write transactions that failed since Open: diskFull for lack of
// space (ENOSPC, EDQUOT), other for any other error writing the file.
func (db *DB) WriteFailures() (diskFull, other uint64) {
	return db.health.diskFull.Load(), db.health.other.Load()
}

// isDiskFull says whether err means the file system (or the quota) is full. bbolt formats
// some of its errors with %s, so the message is checked as well as the chain.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error())
}

// isWriteError says whether err came from writing the file rather than from the caller's
// input: an errno, or bbolt's resize and sync failures.
func isWriteError(err error) bool {
	var errno syscall.Errno
	msg := err.Error()
	return errors.As(err, &errno) || isDiskFull(err) ||
		strings.Contains(msg, "file resize error") || strings.Contains(msg, "file sync error") ||
		strings.Contains(msg, "input/output error") || strings.Contains(msg, "read-only file system")
}
