package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Marker files beside the database. Each is empty; only its existence means something.
const (
	// dirtySuffix exists while a process has the store open; found at Open, it says the
	// previous run did not stop cleanly, so the file gets bbolt's consistency check.
	dirtySuffix = ".dirty"
	// openingSuffix exists while Open reads the file through code that runs in bbolt's own
	// goroutines (its consistency check, and the freelist scan of a file opened without a
	// synced freelist), where a panic or a fault on a garbage page cannot be recovered.
	// Found at Open, it says that reading killed the previous process, so the file is moved
	// aside without reading it again: a crash at start must not become a crash loop.
	openingSuffix = ".opening"
)

// maxCheckErrors bounds how many consistency errors are kept for the message.
const maxCheckErrors = 5

// Open opens or creates the store at path. If another process holds the file it fails
// after opts.LockTimeout with ErrLocked. Any other failure to open an existing file (not a
// bbolt file, truncated, a panic or memory fault inside bbolt while reading it, or, after
// a run that did not stop cleanly, a failed consistency check) moves the file to
// "<path>.corrupt-<UTC timestamp>", logs it at Error and starts a fresh store; MovedAside
// says where it went. Nothing is deleted. log may be nil for silence.
func Open(path string, opts Options, log *slog.Logger) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := open(path, opts, log)
	var aside string
	if err != nil && !errors.Is(err, ErrLocked) && exists(path) {
		aside = path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w (and could not move it aside: %v)", err, rerr)
		}
		// The markers described the file that moved; the fresh one starts clean.
		os.Remove(path + dirtySuffix)
		os.Remove(path + openingSuffix)
		log.Error("store: database file unusable; moved it aside and started a fresh one",
			"path", path, "moved_to", aside, "err", err)
		db, err = open(path, opts, log)
	}
	if err != nil {
		return nil, err
	}
	db.movedAside = aside
	return db, nil
}

// MovedAside is where Open moved an unusable database file, or "" when it opened the file
// it found (or created a new one).
func (db *DB) MovedAside() string { return db.movedAside }

// open checks an existing file before bbolt opens it for writing (verify): bbolt's own
// walk of the file at open runs in a goroutine of its own, and on a bad page it panics or
// faults there, where nothing can recover; what verify accepts, that walk accepts too. What
// bbolt still does is guarded (a panic, or a fault in this goroutine, becomes an error).
//
// A bbolt handle that failed is not closed: after a panic bbolt may still have a goroutine
// reading its mapping. The mapping and a descriptor are leaked instead, once, on the way
// to moving the file aside.
func open(path string, opts Options, log *slog.Logger) (*DB, error) {
	if exists(path + openingSuffix) {
		if exists(path) {
			return nil, fmt.Errorf("store: open %s: %w: reading it at the previous start did not finish (it crashed the process)", path, ErrCorrupt)
		}
		os.Remove(path + openingSuffix) // the file it was about is gone
	}
	if err := touch(path + openingSuffix); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := verify(path, opts, exists(path+dirtySuffix)); err != nil {
			os.Remove(path + openingSuffix)
			return nil, err
		}
	}
	b, err := openBolt(path, opts)
	if err != nil {
		os.Remove(path + openingSuffix)
		return nil, err
	}
	db := &DB{bolt: b, path: path, opts: opts, log: log, now: time.Now, pageSize: int64(b.Info().PageSize)}
	if err := guard(func() error { return db.update(db.initTx) }); err != nil {
		os.Remove(path + openingSuffix) // b stays open: see above
		return nil, fmt.Errorf("store: init %s: %w", path, err)
	}
	if err := touch(path + dirtySuffix); err != nil {
		b.Close()
		os.Remove(path + openingSuffix)
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := os.Remove(path + openingSuffix); err != nil {
		b.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// openBolt opens path for writing with the store's options, guarded like verify.
func openBolt(path string, opts Options) (*bolt.DB, error) {
	var b *bolt.DB
	err := guard(func() (err error) {
		b, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout: opts.LockTimeout,
			// The freelist is rebuilt by a scan at open instead of written at every commit:
			// after an outbox drains it lists thousands of pages, and writing it each time
			// would cost more than the fixes themselves.
			NoFreelistSync: true,
			FreelistType:   bolt.FreelistMapType,
		})
		return err
	})
	return b, classify(path, opts, err)
}

// verify checks an existing file under the write lock, before bbolt opens it for writing:
// as long as its meta page says, and every tree page well formed (checkTrees). After an
// unclean stop it also runs bbolt's consistency check, read-only.
func verify(path string, opts Options, unclean bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	// Lock before reading: a file another edged is writing is never judged.
	if err := lockFile(f, opts.LockTimeout); err != nil {
		f.Close()
		return classify(path, opts, err)
	}
	m, ok, err := checkMeta(f)
	if err == nil && ok {
		err = checkTrees(f, m)
	}
	if err != nil || !ok || !unclean {
		// No valid meta page: bbolt refuses the file itself, as not bbolt.
		f.Close()
		return classify(path, opts, err)
	}
	// bbolt locks the file it opens; handing it this one (already locked, so its shared
	// lock converts ours) keeps another process out in between. It closes it.
	var b *bolt.DB
	err = guard(func() (err error) {
		b, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout,
			OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil }})
		return err
	})
	if err != nil {
		return classify(path, opts, err)
	}
	defer b.Close()
	if err := checkConsistency(b); err != nil {
		return fmt.Errorf("store: open %s: %w", path, err)
	}
	return nil
}

// classify names an open failure: locked, corrupt, or other.
func classify(path string, opts Options, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLocked), errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("store: open %s: no file lock after %s; another edged may hold it: %w", path, opts.LockTimeout, ErrLocked)
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("store: open %s: %w", path, err)
	case isNotBolt(err):
		return fmt.Errorf("store: open %s: %w: %w", path, ErrCorrupt, err)
	}
	return fmt.Errorf("store: open %s: %w", path, err)
}

// checkConsistency runs bbolt's consistency check (every page reachable once, keys
// ordered, nothing freed twice).
func checkConsistency(b *bolt.DB) error {
	var found []string
	n := 0
	err := guard(func() error {
		return b.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				if n++; len(found) < maxCheckErrors {
					found = append(found, err.Error())
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("%w: consistency check: %w", ErrCorrupt, err)
	}
	if n > 0 {
		return fmt.Errorf("%w: consistency check after an unclean stop found %d problems: %s", ErrCorrupt, n, strings.Join(found, "; "))
	}
	return nil
}

// guard runs fn, turning a panic or a memory fault (an mmap read past the end of a
// truncated file) into an error. Faults become panics only in this goroutine.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt panicked reading it: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

// lockFile takes the exclusive flock bbolt takes for writing, polling until timeout.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return ErrLocked
		}
		time.Sleep(50 * time.Millisecond) // bbolt polls its lock the same way
	}
}

// bbolt's on-disk meta page (go.etcd.io/bbolt internal/common: page header, then Meta).
const (
	pageHeaderSize  = 16
	metaMagic       = 0xED0CDAED
	metaVersion     = 2
	metaChecksumOff = 56 // magic, version, page size, flags (4 each), root (16), freelist, pgid, txid (8 each)
	metaSize        = metaChecksumOff + 8
	noFreelist      = ^uint64(0) // common.PgidNoFreelist: the freelist is not written (NoFreelistSync)
)

type meta struct {
	pageSize                 uint32
	root, freelist, pgid, tx uint64
}

// checkMeta refuses a file shorter than its own meta page says: bbolt maps the file and
// would fault reading a page past its end (a database truncated by a full disk or a
// half-finished copy). It returns the meta page bbolt would use; ok is false when neither
// is valid (bbolt then refuses the file itself).
func checkMeta(f *os.File) (m meta, ok bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return meta{}, false, err
	}
	m0, ok0 := readMeta(f, 0)
	off := int64(os.Getpagesize())
	if ok0 {
		off = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(f, off)
	m = m0
	switch {
	case ok0 && ok1 && m1.tx > m0.tx, !ok0 && ok1:
		m = m1
	case !ok0 && !ok1:
		return meta{}, false, nil
	}
	need := int64(m.pgid) * int64(m.pageSize)
	if m.pgid > 1<<40 || need > fi.Size() {
		return m, true, fmt.Errorf("%w: truncated: its meta page says %d pages of %d bytes (%d bytes), the file has %d", ErrCorrupt, m.pgid, m.pageSize, need, fi.Size())
	}
	if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != noFreelist) {
		return m, true, fmt.Errorf("%w: meta page points past the last page %d (root %d, freelist %d)", ErrCorrupt, m.pgid, m.root, m.freelist)
	}
	return m, true, nil
}

// readMeta reads and validates the meta page at off (magic, version, checksum).
func readMeta(r io.ReaderAt, off int64) (meta, bool) {
	var b [metaSize]byte
	if _, err := r.ReadAt(b[:], off+pageHeaderSize); err != nil {
		return meta{}, false
	}
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(b[:metaChecksumOff])
	if le.Uint32(b[0:]) != metaMagic || le.Uint32(b[4:]) != metaVersion || h.Sum64() != le.Uint64(b[metaChecksumOff:]) {
		return meta{}, false
	}
	m := meta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), pgid: le.Uint64(b[40:]), tx: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 {
		return meta{}, false
	}
	return m, true
}

func isNotBolt(err error) bool {
	return errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrVersionMismatch) ||
		errors.Is(err, bolterrors.ErrChecksum)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// touch creates an empty marker file.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
