package store

import "errors"

// These errors can occur when opening a store.
var (
	// ErrLocked means another process (probably another edged) holds the file lock.
	ErrLocked = errors.New("database file is locked")
	// ErrInvalidOptions means an Options field is out of range.
	ErrInvalidOptions = errors.New("invalid store options")
	// ErrCorrupt means the file is not a usable bbolt database: truncated, not bbolt at
	// all, unreadable, or failing its consistency check. Open moves such a file aside.
	ErrCorrupt = errors.New("database file is corrupt")
)

// These errors can occur on reads and writes.
var (
	// ErrNotFound means the key (state, fix) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidFix means a fix given to Commit lacks an ID or time, or is too large.
	ErrInvalidFix = errors.New("invalid fix")
	// ErrInvalidArgument means a key, limit or TTL is out of range.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrDiskFull means writes fail because the file system holding the store is full
	// (DB.WriteErr).
	ErrDiskFull = errors.New("disk full")
	// ErrWrite means writes to the store's file fail for another reason (DB.WriteErr).
	ErrWrite = errors.New("store writes failing")
)
