package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heimdall/edged/internal/testenv"
)

// filledDB makes a cleanly closed store holding n fixes and returns its path.
func filledDB(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 500 {
		if _, err := db.Commit(mkFixes(i, min(500, n-i))...); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(path + dirtySuffix) {
		t.Fatal("a clean Close left the dirty marker")
	}
	return path
}

// openExpectMovedAside opens path, which must be moved aside (bytes unchanged) with an
// Error log naming why, and checks the fresh store takes a commit.
func openExpectMovedAside(t *testing.T, path, why string) {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lb testenv.Buffer
	db, err := Open(path, Options{}, slog.New(slog.NewTextHandler(&lb, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	aside := db.MovedAside()
	if aside == "" || !strings.HasPrefix(aside, path+".corrupt-") {
		t.Fatalf("MovedAside = %q", aside)
	}
	if got, _ := os.ReadFile(aside); !bytes.Equal(got, before) {
		t.Fatal("the moved-aside file is not the file that was there")
	}
	if s := lb.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, aside) || !strings.Contains(s, why) {
		t.Fatalf("log does not say %q at ERROR naming %s: %s", why, aside, s)
	}
	if n := db.FixCount(); n != 0 {
		t.Fatalf("fresh store holds %d fixes", n)
	}
	if _, err := db.Commit(mkFix(1)); err != nil {
		t.Fatalf("fresh store: %v", err)
	}
}

// Ensure that truncated files, which panicked inside bbolt's open ("invalid freelist page")
// or killed the process with a memory fault, are moved aside.
func TestOpenTruncatedMovesAside(t *testing.T) {
	for name, size := range map[string]func(int64) int64{
		"half":  func(n int64) int64 { return n / 2 },
		"8KiB":  func(int64) int64 { return 8 << 10 },
		"1page": func(int64) int64 { return 4096 + 100 },
	} {
		t.Run(name, func(t *testing.T) {
			path := filledBig(t)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, size(fi.Size())); err != nil {
				t.Fatal(err)
			}
			openExpectMovedAside(t, path, "corrupt")
		})
	}
}

// filledBig is a store big enough that half of it loses pages in use.
func filledBig(t *testing.T) string { return filledDB(t, 20000) }

// Ensure that valid meta pages followed by garbage (a panic inside bbolt's open) are
// moved aside.
func TestOpenGarbageAfterMetaMovesAside(t *testing.T) {
	path := filledBig(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 2 * 4096; i < len(data); i++ {
		data[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	openExpectMovedAside(t, path, "corrupt")
}

// zeroFixesRoot overwrites the root page of the fixes bucket with zeros: bbolt's open does
// not read that page, so only reading the fixes (or a consistency check) finds it.
func zeroFixesRoot(t *testing.T, path string) {
	t.Helper()
	root, pageSize := bucketRoot(t, path, bucketFixes)
	writePage(t, path, root, pageSize, make([]byte, pageSize))
}

// bucketRoot is a bucket's root page id and the file's page size.
func bucketRoot(t *testing.T, path string, bucket []byte) (root int64, pageSize int) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true}) // read-only: no freelist written
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx *bolt.Tx) error {
		root, pageSize = int64(tx.Bucket(bucket).RootPage()), tx.DB().Info().PageSize
		return nil
	})
	if root < 2 {
		t.Fatalf("bucket %s root page %d: want a page of its own", bucket, root)
	}
	return root, pageSize
}

func writePage(t *testing.T, path string, id int64, pageSize int, page []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(page, id*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
}

// misorderLeaf makes the second key of the fixes bucket's first leaf page sort before the
// first: every page still reads, so only bbolt's consistency check (key order) finds it.
// Layout from go.etcd.io/bbolt internal/common: a 16-byte page header (id, flags, count,
// overflow), then 16-byte elements; a branch element is pos, ksize, pgid, a leaf element
// flags, pos, ksize, vsize, with pos relative to the element.
func misorderLeaf(t *testing.T, path string) {
	t.Helper()
	id, pageSize := bucketRoot(t, path, bucketFixes)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for {
		page := data[id*int64(pageSize):]
		switch flags := le.Uint16(page[8:]); flags {
		case 0x01: // branch: follow the first child
			id = int64(le.Uint64(page[16+8:]))
			continue
		case 0x02: // leaf
			if le.Uint16(page[10:]) < 2 {
				t.Fatal("first leaf holds fewer than 2 keys")
			}
			elem := 16 + 16 // the second element
			key := elem + int(le.Uint32(page[elem+4:]))
			if page[key] == 0 {
				t.Fatal("the key already starts with 0")
			}
			page[key] = 0
			writePage(t, path, id, pageSize, page[:pageSize])
			return
		default:
			t.Fatalf("page %d has flags %#x", id, flags)
		}
	}
}

// Ensure that a damaged page is found at any start, by the read of every page, and moves
// the file aside.
func TestOpenDamagedPageMovesAside(t *testing.T) {
	path := filledBig(t)
	zeroFixesRoot(t, path)
	openExpectMovedAside(t, path, "corrupt")
}

// Ensure that keys out of order, which every page still reads, move the file aside at any
// start: bbolt's walk at open (the store syncs no freelist) checks key order and panics in
// a goroutine nothing can recover, so the store's own check must find them first.
func TestOpenMisorderedKeysMoveAside(t *testing.T) {
	for _, unclean := range []bool{false, true} {
		path := filledBig(t)
		misorderLeaf(t, path)
		if unclean {
			if err := touch(path + dirtySuffix); err != nil {
				t.Fatal(err)
			}
		}
		openExpectMovedAside(t, path, "not above key 0")
	}
}

// Ensure that a healthy store left open by a killed process is checked and kept.
func TestOpenUncleanStopHealthyKept(t *testing.T) {
	path := filledBig(t)
	if err := touch(path + dirtySuffix); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.MovedAside() != "" {
		t.Fatalf("a healthy file was moved aside to %s", db.MovedAside())
	}
	if n := db.FixCount(); n != 20000 {
		t.Fatalf("%d fixes after the check, want 20000", n)
	}
	if exists(path + openingSuffix) {
		t.Fatal("checking marker left behind")
	}
}

// Ensure that a check that killed the previous start is not run again: the file is moved
// aside at once, so a crash at start cannot become a crash loop.
func TestOpenCheckThatCrashedMovesAside(t *testing.T) {
	path := filledBig(t)
	for _, m := range []string{dirtySuffix, openingSuffix} {
		if err := touch(path + m); err != nil {
			t.Fatal(err)
		}
	}
	openExpectMovedAside(t, path, "did not finish")
	if exists(path+openingSuffix) || exists(path+dirtySuffix) {
		t.Fatal("markers left after the fresh store's clean Close")
	}
}

// Ensure that a locked file is never judged or moved, even when it looks truncated.
func TestOpenLockedNotMoved(t *testing.T) {
	path := filledBig(t)
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(path, Options{LockTimeout: 100 * time.Millisecond}, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Fatalf("a locked file was moved: %v", m)
	}
}

// Ensure that guard turns a memory fault (reading a mapping past the end of its file, what
// bbolt does on a truncated database) into an error instead of killing the process.
func TestGuardRecoversFault(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "short"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	m, err := syscall.Mmap(int(f.Fd()), 0, 4*page, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	var b byte
	err = guard(func() error {
		b = m[3*page] // past the end of the file: SIGBUS
		return nil
	})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "invalid memory address") {
		t.Fatalf("guard = %v (read %d), want ErrCorrupt naming the fault", err, b)
	}
	if err := guard(func() error { panic("boom") }); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("guard(panic) = %v", err)
	}
}

// Ensure that random damage to a store's pages never crashes Open: each damaged file either
// opens or is moved aside, and one that opens serves a read of every fix and a commit.
func TestOpenRandomDamage(t *testing.T) {
	clean := filledDB(t, 3000)
	orig, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := 4096
	pages := len(orig) / pageSize
	rng := rand.New(rand.NewPCG(9, 9))
	moved := 0
	for i := range 60 {
		data := bytes.Clone(orig)
		// A few bytes in a few pages past the two meta pages.
		for range 1 + rng.IntN(4) {
			p := 2 + rng.IntN(pages-2)
			for range 1 + rng.IntN(8) {
				data[p*pageSize+rng.IntN(pageSize)] = byte(rng.Uint32())
			}
		}
		path := filepath.Join(t.TempDir(), "edged.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, Options{}, nil)
		if err != nil {
			t.Fatalf("damage %d: %v", i, err)
		}
		if db.MovedAside() != "" {
			moved++
		} else {
			db.Fixes(time.Time{}, 5000)
		}
		if _, err := db.Commit(mkFix(100000 + i)); err != nil {
			t.Errorf("damage %d: commit after open: %v", i, err)
		}
		db.Close()
	}
	t.Logf("%d of 60 damaged files moved aside", moved)
}
