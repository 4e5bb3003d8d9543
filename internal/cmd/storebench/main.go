// Command storebench fills an edged store as the daemon would and reports what it cost on
// disk: the file's size against the live data it holds, and the bytes written per fix.
//
//	storebench -db /tmp/edged.db -fixes 1000000            # default retention, no broker
//	storebench -db /tmp/edged.db -fixes 1000000 -outbox    # a broker that never answers
//	storebench -db /tmp/edged.db -cache 100000             # predict answers, 2.4 KB each
//
// Fixes are real ones (infer.NewFeature around the reference beacons, packed as the
// pipeline packs them), committed -batch at a time like the pipeline's group commit, with
// the store's default bounds. The figures go to stdout as `name value unit` lines.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/geo"
	"github.com/heimdall/edged/store"
)

func main() {
	path := flag.String("db", "", "bbolt `FILE` to fill (created if missing)")
	fixes := flag.Int("fixes", 0, "fixes to commit")
	batch := flag.Int("batch", 38, "fixes per commit (38: 5 s of the demo at real time)")
	outbox := flag.Bool("outbox", false, "queue every fix for a broker that never acknowledges (outbox at its bound)")
	cache := flag.Int("cache", 0, "predict answers to cache")
	receiver := flag.String("receiver-id", "storebench", "receiver id of the fixes")
	flag.Parse()
	if err := run(*path, *fixes, *batch, *outbox, *cache, *receiver); err != nil {
		fmt.Fprintln(os.Stderr, "storebench:", err)
		os.Exit(1)
	}
}

func run(path string, nFixes, batch int, outbox bool, nCache int, receiver string) error {
	if path == "" || nFixes < 0 || batch < 1 || nCache < 0 {
		return errors.New("want -db FILE, -fixes ≥ 0, -batch ≥ 1, -cache ≥ 0")
	}
	db, err := store.Open(path, store.Options{NoOutbox: !outbox, Render: infer.Unpack}, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	templates, jsonBytes, err := fixTemplates(receiver)
	if err != nil {
		return err
	}
	k0, w0 := kernelWriteBytes(), db.WrittenBytes()
	start := time.Now()
	base := time.Now().Add(-time.Duration(nFixes) * 65 * time.Millisecond)
	for i := 0; i < nFixes; i += batch {
		fs := make([]store.Fix, 0, batch)
		for j := i; j < min(i+batch, nFixes); j++ {
			off := uint64(j) * 32768
			fs = append(fs, store.Fix{ID: receiver + ":" + strconv.FormatUint(off, 10), Receiver: receiver,
				Time: base.Add(time.Duration(j) * 65 * time.Millisecond), Body: templates[j%len(templates)]})
		}
		if _, err := db.Commit(fs...); err != nil {
			return err
		}
	}
	if nFixes > 0 {
		k, w := kernelWriteBytes()-k0, db.WrittenBytes()-w0
		fmt.Printf("fixes_committed %d fixes\n", nFixes)
		fmt.Printf("fix_json_bytes %d bytes\n", jsonBytes)
		fmt.Printf("fix_packed_bytes %d bytes\n", len(templates[0]))
		fmt.Printf("commit_seconds %.1f s\n", time.Since(start).Seconds())
		fmt.Printf("written_per_fix_store %.0f bytes\n", float64(w)/float64(nFixes))
		if k > 0 {
			fmt.Printf("written_per_fix_kernel %.0f bytes\n", float64(k)/float64(nFixes))
		}
	}
	if nCache > 0 {
		if err := fillCache(db, nCache, jsonBytes); err != nil {
			return err
		}
		fmt.Printf("cache_answers_put %d answers\n", nCache)
		fmt.Printf("cache_bytes %d bytes\n", db.CacheBytes())
		fmt.Printf("cache_evictions %d answers\n", db.CacheEvicted())
	}
	n, b := db.OutboxLen()
	fmt.Printf("fixes_kept %d fixes\n", db.FixCount())
	fmt.Printf("outbox %d fixes %d bytes\n", n, b)
	if err := db.Close(); err != nil {
		return err
	}
	live, err := liveBytes(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("file_bytes %d bytes\n", fi.Size())
	fmt.Printf("live_bytes %d bytes\n", live)
	fmt.Printf("file_over_live %.2f x\n", float64(fi.Size())/float64(live))
	return nil
}

// fixTemplates packs fixes the reference model would give for its eight beacons over a
// range of SNRs; returns them and the JSON size of the first.
func fixTemplates(receiver string) ([][]byte, int, error) {
	rng := rand.New(rand.NewPCG(14, 14))
	model := &infer.Model{Name: "edged-reference-beacon", Version: "1"}
	var out [][]byte
	jsonBytes := 0
	for i := range 256 {
		snr := 10 + rng.Float64()*30
		se := min(max(50e3*math.Pow(10, -snr/20), 25), 50e3)
		cov, err := geo.FromSigmas(se, 0.6*se, 0.3)
		if err != nil {
			return nil, 0, err
		}
		r := infer.Result{Estimate: infer.Estimate{LatDeg: 45.4642 + rng.Float64(), LonDeg: 9.19 + rng.Float64(), Cov: cov,
			Confidence: rng.Float64(), HasConfidence: true}, Model: model}
		w := infer.Window{ReceiverID: receiver, Time: time.Now().UTC(), CenterFreqHz: 433.92e6, SampleRateHz: 250e3,
			SampleOffset: uint64(i) * 32768, Seq: uint64(i) * 2}
		w.Measure.SNRDB = snr
		f, err := infer.NewFeature(w, r, infer.FixOptions{})
		if err != nil {
			return nil, 0, err
		}
		p, err := f.Pack()
		if err != nil {
			return nil, 0, err
		}
		if i == 0 {
			j, _ := f.Marshal()
			jsonBytes = len(j)
		}
		out = append(out, p)
	}
	return out, jsonBytes, nil
}

// fillCache puts n answers of size bytes, 32 at a time as the API's cache writer does
// under load, keyed like the API (a SHA-256).
func fillCache(db *store.DB, n, size int) error {
	val := make([]byte, size)
	for i := 0; i < n; i += 32 {
		var entries []store.CacheEntry
		for j := i; j < min(i+32, n); j++ {
			k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(j)))
			entries = append(entries, store.CacheEntry{Key: k[:], Val: val})
		}
		if err := db.CachePutMany(0, entries...); err != nil {
			return err
		}
	}
	return nil
}

// liveBytes is every key and value in the file, the data it has to hold.
func liveBytes(path string) (int64, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	var n int64
	err = b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			n += int64(len(name))
			var kv int64
			err := bk.ForEach(func(k, v []byte) error {
				kv += int64(len(k) + len(v))
				return nil
			})
			s := bk.Stats()
			fmt.Printf("bucket_%s %d keys %d bytes %d pages %d bytes_in_pages\n", name, s.KeyN, kv,
				s.BranchPageN+s.LeafPageN+s.BranchOverflowN+s.LeafOverflowN, s.BranchInuse+s.LeafInuse)
			n += kv
			return err
		})
	})
	return n, err
}

// kernelWriteBytes is this process's write_bytes from /proc/self/io (0 if unknown).
func kernelWriteBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
