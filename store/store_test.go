package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

var t0 = time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)

func mkFix(i int) Fix {
	return Fix{
		ID:       fmt.Sprintf("rx1:%d", i*1000),
		Receiver: "rx1",
		Time:     t0.Add(time.Duration(i) * time.Second),
		Body:     []byte(fmt.Sprintf(`{"type":"Feature","id":"rx1:%09d"}`, i*1000)),
	}
}

func mkFixes(from, n int) []Fix {
	out := make([]Fix, n)
	for i := range out {
		out[i] = mkFix(from + i)
	}
	return out
}

func openTest(t testing.TB, opts Options, log *slog.Logger) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "edged.db"), opts, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(fixes []Fix) []string {
	out := make([]string, len(fixes))
	for i, f := range fixes {
		out[i] = f.ID
	}
	return out
}

func seqs(fixes []Fix) []uint64 {
	out := make([]uint64, len(fixes))
	for i, f := range fixes {
		out[i] = f.Seq
	}
	return out
}

// Ensure that Commit assigns increasing Seqs and that the outbox returns fixes in order
// with their bodies, and forgets them only when acknowledged.
func TestCommitAndOutbox(t *testing.T) {
	db := openTest(t, Options{}, nil)
	in := mkFixes(0, 5)
	in[2].Time = in[2].Time.In(time.FixedZone("CET", 3600))
	got, err := db.Commit(in...)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range got {
		if f.Seq != uint64(i+1) || f.ID != in[i].ID || !bytes.Equal(f.Body, in[i].Body) {
			t.Fatalf("committed[%d] = %+v", i, f)
		}
		if f.Time.Location() != time.UTC || !f.Time.Equal(in[i].Time) {
			t.Fatalf("committed[%d].Time = %v, want %v in UTC", i, f.Time, in[i].Time)
		}
	}
	if n, b := db.OutboxLen(); n != 5 || b != int64(5*len(in[0].Body)) {
		t.Fatalf("OutboxLen = %d, %d", n, b)
	}
	peek, err := db.OutboxPeek(3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(peek)) != "[1 2 3]" || !bytes.Equal(peek[1].Body, in[1].Body) || peek[1].Receiver != "rx1" {
		t.Fatalf("OutboxPeek(3) = %+v", peek)
	}
	after, err := db.OutboxPeekAfter(3, 10)
	if err != nil || fmt.Sprint(seqs(after)) != "[4 5]" {
		t.Fatalf("OutboxPeekAfter(3) = %v, %v", seqs(after), err)
	}
	if err := db.OutboxAck(2, 1, 99); err != nil {
		t.Fatal(err)
	}
	if err := db.OutboxAck(2); err != nil { // again: a redelivery
		t.Fatal(err)
	}
	peek, _ = db.OutboxPeek(10)
	if fmt.Sprint(seqs(peek)) != "[3 4 5]" {
		t.Fatalf("after ack: %v", seqs(peek))
	}
	if n, _ := db.OutboxLen(); n != 3 {
		t.Fatalf("OutboxLen after ack = %d", n)
	}
	all, err := db.Fixes(time.Time{}, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("Fixes = %d, %v; acked fixes must stay in history", len(all), err)
	}
}

// Ensure that committing an ID again, in the same call or later, even after delivery,
// returns the first Seq and adds nothing to the outbox.
func TestCommitIdempotent(t *testing.T) {
	db := openTest(t, Options{}, nil)
	a := mkFix(1)
	got, err := db.Commit(a, mkFix(2), a)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 1 || got[1].Seq != 2 || got[2].Seq != 1 {
		t.Fatalf("seqs %v, want [1 2 1]", seqs(got))
	}
	if err := db.OutboxAck(1); err != nil {
		t.Fatal(err)
	}
	changed := a
	changed.Body = []byte("something else")
	again, err := db.Commit(changed, mkFix(3))
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Seq != 1 || !bytes.Equal(again[0].Body, a.Body) || again[1].Seq != 3 {
		t.Fatalf("recommit = %+v", again)
	}
	// All stored already: answered from a read transaction.
	only, err := db.Commit(changed, mkFix(2))
	if err != nil || fmt.Sprint(seqs(only)) != "[1 2]" || !bytes.Equal(only[0].Body, a.Body) {
		t.Fatalf("recommit of stored fixes = %+v, %v", only, err)
	}
	peek, _ := db.OutboxPeek(10)
	if fmt.Sprint(ids(peek)) != "[rx1:2000 rx1:3000]" {
		t.Fatalf("outbox %v", ids(peek))
	}
	if n := db.FixCount(); n != 3 {
		t.Fatalf("FixCount = %d, want 3", n)
	}
}

// Ensure that bad input is refused with ErrInvalidFix/ErrInvalidArgument and writes nothing.
func TestBadInput(t *testing.T) {
	db := openTest(t, Options{OutboxMaxBytes: 100}, nil)
	noID, noTime, big := mkFix(1), mkFix(2), mkFix(3)
	noID.ID = ""
	noTime.Time = time.Time{}
	big.Body = make([]byte, 101)
	for name, f := range map[string]Fix{"no id": noID, "no time": noTime, "too big": big} {
		if _, err := db.Commit(mkFix(9), f); !errors.Is(err, ErrInvalidFix) {
			t.Errorf("%s: err = %v, want ErrInvalidFix", name, err)
		}
	}
	if n, _ := db.OutboxLen(); n != 0 {
		t.Fatalf("a refused batch wrote %d fixes", n)
	}
	if _, err := db.Fixes(time.Time{}, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Fixes limit 0: %v", err)
	}
	if _, err := db.OutboxPeek(0); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("OutboxPeek 0: %v", err)
	}
	if _, _, err := db.CacheGet(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("CacheGet nil: %v", err)
	}
	if err := db.CachePut([]byte("k"), nil, -time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("CachePut negative ttl: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{OutboxMaxCount: -1}, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("negative option: %v", err)
	}
}

// Ensure that Fixes is ordered by fix time whatever the commit order, and honours since
// and limit.
func TestFixesByTime(t *testing.T) {
	db := openTest(t, Options{}, nil)
	if _, err := db.Commit(mkFix(5), mkFix(1), mkFix(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFix(2), mkFix(4)); err != nil {
		t.Fatal(err)
	}
	all, err := db.Fixes(time.Time{}, 10)
	if err != nil || fmt.Sprint(ids(all)) != "[rx1:1000 rx1:2000 rx1:3000 rx1:4000 rx1:5000]" {
		t.Fatalf("Fixes = %v, %v", ids(all), err)
	}
	some, _ := db.Fixes(t0.Add(2*time.Second), 2)
	if fmt.Sprint(ids(some)) != "[rx1:2000 rx1:3000]" {
		t.Fatalf("Fixes(since 2s, 2) = %v", ids(some))
	}
}

// Ensure that a full outbox drops its oldest entries first, by count and by bytes, counts
// and logs them, and loses nothing else.
func TestOutboxBoundsDropOldest(t *testing.T) {
	var lb testenv.Buffer
	log := slog.New(slog.NewTextHandler(&lb, nil))
	body := len(mkFix(0).Body)
	db := openTest(t, Options{OutboxMaxCount: 10, OutboxMaxBytes: int64(8 * body)}, log)
	if _, err := db.Commit(mkFixes(0, 6)...); err != nil {
		t.Fatal(err)
	}
	if db.Dropped() != 0 {
		t.Fatalf("Dropped = %d before the bound", db.Dropped())
	}
	// 6 + 5 = 11 fixes: over 8 bodies' worth of bytes, so the 3 oldest go.
	if _, err := db.Commit(mkFixes(6, 5)...); err != nil {
		t.Fatal(err)
	}
	peek, _ := db.OutboxPeek(100)
	if fmt.Sprint(seqs(peek)) != "[4 5 6 7 8 9 10 11]" {
		t.Fatalf("outbox after byte bound = %v", seqs(peek))
	}
	if db.Dropped() != 3 {
		t.Fatalf("Dropped = %d, want 3", db.Dropped())
	}
	if s := lb.String(); !strings.Contains(s, "level=WARN") || !strings.Contains(s, "dropped=3") {
		t.Fatalf("no Warn with the count: %q", s)
	}
	if n, b := db.OutboxLen(); n != 8 || b != int64(8*body) {
		t.Fatalf("OutboxLen = %d, %d", n, b)
	}
	all, _ := db.Fixes(time.Time{}, 100)
	if len(all) != 11 {
		t.Fatalf("dropped outbox entries must keep their fix records: %d fixes", len(all))
	}

	db2 := openTest(t, Options{OutboxMaxCount: 4}, nil)
	for i := 0; i < 10; i++ {
		if _, err := db2.Commit(mkFix(i)); err != nil {
			t.Fatal(err)
		}
	}
	peek, _ = db2.OutboxPeek(100)
	if fmt.Sprint(seqs(peek)) != "[7 8 9 10]" || db2.Dropped() != 6 {
		t.Fatalf("count bound: outbox %v, dropped %d", seqs(peek), db2.Dropped())
	}
}

// Ensure that retention removes the oldest delivered fixes by count and by age, never a
// fix still in the outbox, and forgets their IDs.
func TestRetention(t *testing.T) {
	db := openTest(t, Options{FixRetentionCount: 5, FixRetentionAge: time.Hour}, nil)
	if _, err := db.Commit(mkFixes(0, 8)...); err != nil {
		t.Fatal(err)
	}
	if n := db.FixCount(); n != 8 {
		t.Fatalf("undelivered fixes were pruned: %d left", n)
	}
	if err := db.OutboxAck(1, 2, 3, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFix(8)); err != nil { // retention runs on commit
		t.Fatal(err)
	}
	all, _ := db.Fixes(time.Time{}, 100)
	if fmt.Sprint(seqs(all)) != "[5 6 7 8 9]" {
		t.Fatalf("after count retention: %v", seqs(all))
	}
	// The pruned ID is forgotten: committing it again stores it anew.
	again, _ := db.Commit(mkFix(0))
	if again[0].Seq != 10 {
		t.Fatalf("recommit of a pruned ID got seq %d", again[0].Seq)
	}

	// Age: an hour later everything delivered goes, the undelivered stays.
	if err := db.OutboxAck(5, 6, 7, 8, 9, 10); err != nil {
		t.Fatal(err)
	}
	db.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := db.Commit(mkFix(20)); err != nil {
		t.Fatal(err)
	}
	all, _ = db.Fixes(time.Time{}, 100)
	if fmt.Sprint(ids(all)) != "[rx1:20000]" {
		t.Fatalf("after age retention: %v", ids(all))
	}
}

// Ensure that the cache returns what was put until the TTL (default 3600 s) passes.
func TestCache(t *testing.T) {
	db := openTest(t, Options{}, nil)
	now := time.Now()
	db.now = func() time.Time { return now }
	if _, ok, err := db.CacheGet([]byte("k")); ok || err != nil {
		t.Fatalf("empty cache: %v %v", ok, err)
	}
	if err := db.CachePut([]byte("k"), []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := db.CachePut([]byte("short"), []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := db.CacheGet([]byte("k")); !ok || string(v) != "v1" {
		t.Fatalf("CacheGet = %q %v", v, ok)
	}
	now = now.Add(59 * time.Minute)
	if _, ok, _ := db.CacheGet([]byte("short")); ok {
		t.Fatal("entry with 1 min TTL alive after 59 min")
	}
	if _, ok, _ := db.CacheGet([]byte("k")); !ok {
		t.Fatal("entry with default TTL expired after 59 min")
	}
	now = now.Add(2 * time.Minute)
	if _, ok, _ := db.CacheGet([]byte("k")); ok {
		t.Fatal("entry with default TTL alive after 61 min")
	}
}

// Ensure that state round-trips, survives reopening, and a missing key is ErrNotFound.
func TestStateAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetState("active_model"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing state: %v", err)
	}
	if err := db.PutState("active_model", []byte("v7")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(mkFixes(0, 3)...); err != nil {
		t.Fatal(err)
	}
	if db.SizeBytes() <= 0 {
		t.Fatal("SizeBytes not positive")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.GetState("active_model"); err != nil || string(v) != "v7" {
		t.Fatalf("state after reopen: %q %v", v, err)
	}
	got, _ := db.Commit(mkFix(3), mkFix(0))
	if got[0].Seq != 4 || got[1].Seq != 1 {
		t.Fatalf("after reopen seqs %v, want [4 1]", seqs(got))
	}
	if n, _ := db.OutboxLen(); n != 4 {
		t.Fatalf("OutboxLen after reopen = %d", n)
	}
}

// Ensure that a second opener fails with ErrLocked and a message naming the file.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.db")
	db, err := Open(path, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(path, Options{LockTimeout: 50 * time.Millisecond}, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another edged") {
		t.Fatalf("second Open: %v", err)
	}
}

// Ensure that a file that is not bbolt is moved aside, not deleted, with an Error, and a
// fresh store works.
func TestOpenCorruptMovesAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edged.db")
	junk := bytes.Repeat([]byte("this is not a bbolt file\n"), 1000)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	var lb testenv.Buffer
	db, err := Open(path, Options{}, slog.New(slog.NewTextHandler(&lb, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved-aside files: %v", aside)
	}
	if data, _ := os.ReadFile(aside[0]); !bytes.Equal(data, junk) {
		t.Fatal("moved-aside file changed")
	}
	if s := lb.String(); !strings.Contains(s, "level=ERROR") || !strings.Contains(s, aside[0]) {
		t.Fatalf("no loud log naming the new name: %q", s)
	}
	if _, err := db.Commit(mkFix(1)); err != nil {
		t.Fatal(err)
	}
}

// Ensure that concurrent CommitBatched callers all get distinct Seqs and all land.
func TestCommitBatchedConcurrent(t *testing.T) {
	db := openTest(t, Options{}, nil)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	seen := make(chan uint64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				got, err := db.CommitBatched(mkFix(w*each + i))
				if err != nil {
					errs <- err
					return
				}
				seen <- got[0].Seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(seen)
	for err := range errs {
		t.Fatal(err)
	}
	uniq := map[uint64]bool{}
	for s := range seen {
		uniq[s] = true
	}
	if len(uniq) != workers*each {
		t.Fatalf("%d distinct seqs, want %d", len(uniq), workers*each)
	}
	if n, _ := db.OutboxLen(); n != workers*each {
		t.Fatalf("OutboxLen = %d", n)
	}
}

// Ensure CachePutMany stores every answer in one call and each reads back with its value.
func TestCachePutMany(t *testing.T) {
	db := openTest(t, Options{}, nil)
	var entries []CacheEntry
	for i := range 100 {
		entries = append(entries, CacheEntry{Key: []byte(fmt.Sprintf("key-%03d", i)), Val: []byte(fmt.Sprintf("answer %d", i))})
	}
	if err := db.CachePutMany(time.Hour, entries...); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got, ok, err := db.CacheGet(e.Key)
		if err != nil || !ok || string(got) != string(e.Val) {
			t.Fatalf("%s: %q %v %v", e.Key, got, ok, err)
		}
	}
	if err := db.CachePutMany(time.Hour, CacheEntry{Key: nil, Val: []byte("x")}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty key: %v", err)
	}
}

// Ensure OutboxOldest reports the commit time of the oldest fix still in the outbox, moves
// on when that one is acknowledged, and says so when the outbox is empty.
func TestOutboxOldest(t *testing.T) {
	db := openTest(t, Options{}, nil)
	if _, ok, err := db.OutboxOldest(); ok || err != nil {
		t.Fatalf("empty outbox: ok %v, err %v", ok, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db.now = func() time.Time { return t0 }
	first, err := db.Commit(mkFixes(0, 2)...)
	if err != nil {
		t.Fatal(err)
	}
	db.now = func() time.Time { return t0.Add(time.Minute) }
	if _, err := db.Commit(mkFixes(2, 1)...); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := db.OutboxOldest(); !ok || err != nil || !got.Equal(t0) {
		t.Errorf("OutboxOldest = %v, %v, %v; want %v", got, ok, err, t0)
	}
	if err := db.OutboxAck(first[0].Seq, first[1].Seq); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := db.OutboxOldest(); !ok || err != nil || !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("after acknowledging the first two: %v, %v, %v; want %v", got, ok, err, t0.Add(time.Minute))
	}
}
