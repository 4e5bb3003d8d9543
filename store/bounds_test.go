package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// liveCounts recounts what the meta counters claim, straight from the buckets.
func liveCounts(t *testing.T, db *DB) (fixes, fixBytes, outbox, cacheBytes uint64) {
	t.Helper()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		tx.Bucket(bucketFixes).ForEach(func(k, v []byte) error {
			fixes++
			fixBytes += recordSize(k, v)
			return nil
		})
		outbox = uint64(tx.Bucket(bucketOutbox).Stats().KeyN)
		tx.Bucket(bucketCache).ForEach(func(k, v []byte) error {
			cacheBytes += cacheEntrySize(k, len(v)-cacheHeader)
			return nil
		})
		c := readCounters(tx.Bucket(bucketMeta))
		if c.fixes != fixes || c.fixBytes != fixBytes || c.outCount != outbox {
			t.Errorf("counters %+v, buckets hold %d fixes of %d bytes and %d outbox entries", c, fixes, fixBytes, outbox)
		}
		if cb := u64(tx.Bucket(bucketMeta).Get(metaCacheBytes)); cb != cacheBytes {
			t.Errorf("cache counter %d, bucket holds %d", cb, cacheBytes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return
}

// Ensure the history's byte cap removes the oldest delivered fixes, and that the counted
// bytes match the records.
func TestRetentionBytes(t *testing.T) {
	one := recordSize(make([]byte, 16), encodeRecord(&Fix{ID: mkFix(5).ID, Receiver: "rx1", Body: mkFix(5).Body}, t0))
	db := openTest(t, Options{FixRetentionBytes: int64(5 * one), NoOutbox: true}, nil)
	if _, err := db.Commit(mkFixes(0, 8)...); err != nil {
		t.Fatal(err)
	}
	all, _ := db.Fixes(time.Time{}, 100)
	if fmt.Sprint(seqs(all)) != "[4 5 6 7 8]" {
		t.Fatalf("after the byte cap: %v", seqs(all))
	}
	if _, fb, _, _ := liveCounts(t, db); fb != 5*one {
		t.Fatalf("%d bytes of fixes kept, want %d", fb, 5*one)
	}
}

// Ensure retention waits for 1/64 of slack past its bound, then removes a run of fixes
// down to the bound in one commit.
func TestPruneInRuns(t *testing.T) {
	db := openTest(t, Options{FixRetentionCount: 640, NoOutbox: true}, nil)
	for i := 0; i < 650; i += 10 {
		if _, err := db.Commit(mkFixes(i, 10)...); err != nil {
			t.Fatal(err)
		}
	}
	if n := db.FixCount(); n != 650 {
		t.Fatalf("%d fixes within the slack, want all 650", n)
	}
	if _, err := db.Commit(mkFix(650)); err != nil {
		t.Fatal(err)
	}
	if n := db.FixCount(); n != 640 {
		t.Fatalf("%d fixes past the slack, want back to 640", n)
	}
	liveCounts(t, db)
}

// Ensure NoOutbox queues nothing, and that entries an earlier run with a broker left
// behind no longer hold back retention: they go with their fixes, counted as dropped.
func TestNoOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFixes(0, 4)...); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{NoOutbox: true, FixRetentionCount: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, _ := db.OutboxLen(); n != 4 {
		t.Fatalf("left-over outbox %d, want the 4 queued before", n)
	}
	if _, err := db.Commit(mkFixes(4, 3)...); err != nil {
		t.Fatal(err)
	}
	peek, _ := db.OutboxPeek(10)
	if fmt.Sprint(seqs(peek)) != "[3 4]" || db.Dropped() != 2 {
		t.Fatalf("outbox %v, dropped %d; want [3 4] and the 2 pruned fixes dropped", seqs(peek), db.Dropped())
	}
	if n := db.FixCount(); n != 5 {
		t.Fatalf("FixCount %d, want 5", n)
	}
	liveCounts(t, db)
}

// Ensure the cache stays under CacheMaxBytes by evicting the oldest entries first,
// counts them, and counts a key put again once.
func TestCacheBound(t *testing.T) {
	val := bytes.Repeat([]byte("v"), 1000)
	size := cacheEntrySize([]byte("key-000"), len(val))
	db := openTest(t, Options{CacheMaxBytes: int64(10 * size)}, nil)
	for i := range 25 {
		if err := db.CachePut([]byte(fmt.Sprintf("key-%03d", i)), val, 0); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if err := db.CachePut([]byte("key-001"), val, 0); err != nil { // a refresh
				t.Fatal(err)
			}
		}
	}
	if got := db.CacheBytes(); got != int64(10*size) {
		t.Fatalf("CacheBytes %d, want %d", got, 10*size)
	}
	for i := range 25 {
		_, ok, _ := db.CacheGet([]byte(fmt.Sprintf("key-%03d", i)))
		if want := i >= 15; ok != want {
			t.Errorf("key-%03d cached %v, want %v (the oldest go first)", i, ok, want)
		}
	}
	if db.CacheEvicted() != 15 {
		t.Errorf("CacheEvicted %d, want 15", db.CacheEvicted())
	}
	if err := db.CachePut([]byte("huge"), make([]byte, 11*size), 0); err == nil {
		t.Error("an entry larger than the whole cache was accepted")
	}
	liveCounts(t, db)
}

// Ensure expired entries are removed, oldest first, as later puts go on, and are not
// counted as evictions.
func TestCacheExpirySweep(t *testing.T) {
	db := openTest(t, Options{}, nil)
	now := time.Now()
	db.now = func() time.Time { return now }
	for i := range 10 {
		if err := db.CachePut([]byte(fmt.Sprintf("old-%d", i)), []byte("x"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Minute)
	if err := db.CachePut([]byte("new"), []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := db.CacheBytes(), int64(cacheEntrySize([]byte("new"), 1)); got != want {
		t.Fatalf("CacheBytes %d after expiry, want only the new entry's %d", got, want)
	}
	if db.CacheEvicted() != 0 {
		t.Errorf("expired entries counted as evictions: %d", db.CacheEvicted())
	}
	liveCounts(t, db)
}

// Ensure delayed acknowledgements are invisible at once, written by the next Commit's
// transaction, by the timer when no Commit comes, and by Close.
func TestAckDelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{AckDelay: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFixes(0, 5)...); err != nil {
		t.Fatal(err)
	}
	if err := db.OutboxAck(1, 2, 99); err != nil {
		t.Fatal(err)
	}
	peek, _ := db.OutboxPeek(10)
	n, b := db.OutboxLen()
	if fmt.Sprint(seqs(peek)) != "[3 4 5]" || n != 3 || b != int64(3*len(mkFix(0).Body)) {
		t.Fatalf("after ack: peek %v, OutboxLen %d %d", seqs(peek), n, b)
	}
	if _, _, onDisk, _ := liveCounts(t, db); onDisk != 5 {
		t.Fatalf("%d entries on disk before a commit, want 5 (the acks wait)", onDisk)
	}
	if _, err := db.Commit(mkFix(5)); err != nil {
		t.Fatal(err)
	}
	if _, _, onDisk, _ := liveCounts(t, db); onDisk != 4 {
		t.Fatalf("%d entries on disk after a commit, want 4 (3 4 5 6)", onDisk)
	}
	if err := db.OutboxAck(3); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{AckDelay: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if peek, _ := db.OutboxPeek(10); fmt.Sprint(seqs(peek)) != "[4 5 6]" {
		t.Fatalf("after Close and reopen: %v, want [4 5 6]", seqs(peek))
	}
	if err := db.OutboxAck(4); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, onDisk, _ := liveCounts(t, db); onDisk == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timer never wrote the acknowledgement")
		}
		time.Sleep(5 * time.Millisecond) // polling the file, not standing in for a signal
	}
}

// kernelWriteBytes is this process's write_bytes from /proc/self/io: what the kernel sent
// (or will send) to a disk for it.
func kernelWriteBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no write_bytes in /proc/self/io")
	return 0
}

// Ensure WrittenBytes counts what bbolt writes: no more than the kernel saw this process
// write, and most of it (the kernel adds its own few pages per sync on ext4).
func TestWrittenBytesAgreesWithTheKernel(t *testing.T) {
	db := openTest(t, Options{NoOutbox: true}, nil)
	k0, w0 := kernelWriteBytes(t), db.WrittenBytes()
	for i := 0; i < 200; i++ {
		if _, err := db.Commit(mkFixes(i*20, 20)...); err != nil {
			t.Fatal(err)
		}
	}
	k, w := kernelWriteBytes(t)-k0, db.WrittenBytes()-w0
	if k == 0 {
		t.Skip("the kernel counted no writes (a file system without a disk, e.g. tmpfs)")
	}
	t.Logf("200 commits: store counted %d bytes, kernel %d", w, k)
	if w <= 0 || w > k || w < k/2 {
		t.Errorf("store counted %d bytes written, the kernel %d", w, k)
	}
}

// Ensure a file of layout 1 (no byte counters, cache entries without order) is brought
// up to date at Open: its fix bytes counted, its cache started afresh.
func TestOpenLayout1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFixes(0, 3)...); err != nil {
		t.Fatal(err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{metaLayout, metaFixBytes, metaCacheBytes} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		// A layout-1 cache entry: expiry, then the value.
		return tx.Bucket(bucketCache).Put([]byte("k"), append(u64b(uint64(time.Now().Add(time.Hour).UnixNano())), "answer"...))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok, _ := db.CacheGet([]byte("k")); ok {
		t.Error("a layout-1 cache entry survived")
	}
	if n, fb, _, _ := liveCounts(t, db); n != 3 || fb == 0 {
		t.Errorf("after the upgrade: %d fixes, %d bytes", n, fb)
	}
}

// Ensure the file stops growing once its bounds are reached, whatever goes through it: a
// broker that never answers (the outbox at its bound), history at its bound and the
// cache at its bound, all at 1/64 of the defaults, for ten times their size in traffic.
func TestFileSizeBounded(t *testing.T) {
	const bound = 1 << 20
	db := openTest(t, Options{FixRetentionBytes: bound, OutboxMaxBytes: bound, CacheMaxBytes: bound}, nil)
	body := bytes.Repeat([]byte("p"), 180) // a packed fix
	answer := bytes.Repeat([]byte("a"), 2400)
	traffic := func(from, to int) {
		for i := from; i < to; i += 256 {
			fs := make([]Fix, 256)
			for j := range fs {
				fs[j] = Fix{ID: fmt.Sprintf("rx1:%d", (i+j)*32768), Receiver: "rx1", Time: t0.Add(time.Duration(i+j) * 65 * time.Millisecond), Body: body}
			}
			if _, err := db.Commit(fs...); err != nil {
				t.Fatal(err)
			}
			var entries []CacheEntry
			for j := range 16 {
				entries = append(entries, CacheEntry{Key: []byte(fmt.Sprintf("%032d", i+j)), Val: answer})
			}
			if err := db.CachePutMany(0, entries...); err != nil {
				t.Fatal(err)
			}
		}
	}
	traffic(0, 25_000) // 4.5 MB of fixes, 6 MB of answers
	first := db.SizeBytes()
	traffic(25_000, 50_000)
	size := db.SizeBytes()
	t.Logf("file %d bytes after the first half, %d after all", first, size)
	if size > first || size > 8<<20 {
		t.Errorf("file grew from %d to %d bytes with its bounds reached (3 MiB of data)", first, size)
	}
	if n, b := db.OutboxLen(); b > bound || n == 0 {
		t.Errorf("outbox %d fixes, %d bytes", n, b)
	}
	liveCounts(t, db)
}
