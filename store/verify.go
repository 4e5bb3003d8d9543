package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// bbolt's page layout (go.etcd.io/bbolt internal/common/page.go): a 16-byte header (id,
// flags, count, overflow), then count 16-byte elements. A branch element is pos, ksize,
// pgid; a leaf element is flags, pos, ksize, vsize; pos counts from the element itself. A
// bucket's value starts with its root page id and sequence (16 bytes); root 0 means the
// bucket is inline, its page inside the value.
const (
	pageFlagBranch  = 0x01
	pageFlagLeaf    = 0x02
	elementSize     = 16
	leafFlagBucket  = 0x01
	bucketHeaderLen = 16
	maxTreeDepth    = 64
)

// checkTrees reads every page the file's B+trees reach, from the root bucket in meta m,
// and checks what bbolt's consistency check does (go.etcd.io/bbolt tx_check.go): each page
// says its own id and is a branch or a leaf, lies below the high-water mark and is reached
// once, its elements and keys lie inside it, keys are in order within a page and within
// the bounds their parents set. It reads with ReadAt and checks every bound itself, so a
// garbage file makes an error here, not a panic or a fault: bbolt walks the same trees in
// goroutines of its own at open (the store syncs no freelist, so bbolt rebuilds it by that
// walk), where one bad page crashes the process.
func checkTrees(r io.ReaderAt, m meta) error {
	c := &treeChecker{r: r, pageSize: int64(m.pageSize), hwm: m.pgid, seen: make(map[uint64]bool)}
	buckets := []uint64{m.root}
	for len(buckets) > 0 {
		root := buckets[len(buckets)-1]
		buckets = buckets[:len(buckets)-1]
		if _, err := c.tree(root, nil, nil, 0, &buckets); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return nil
}

type treeChecker struct {
	r        io.ReaderAt
	pageSize int64
	hwm      uint64
	seen     map[uint64]bool
}

// tree checks the subtree at page id, whose keys must lie in [lo, hi) (nil: unbounded),
// queues the roots of the buckets its leaves hold, and returns its largest key.
func (c *treeChecker) tree(id uint64, lo, hi []byte, depth int, buckets *[]uint64) ([]byte, error) {
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d: out of bounds (high-water mark %d)", id, c.hwm)
	}
	var hdr [16]byte
	if _, err := c.r.ReadAt(hdr[:], int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	le := binary.LittleEndian
	flags, count, overflow := le.Uint16(hdr[8:]), int(le.Uint16(hdr[10:])), uint64(le.Uint32(hdr[12:]))
	switch {
	case le.Uint64(hdr[0:]) != id:
		return nil, fmt.Errorf("page %d: says it is page %d", id, le.Uint64(hdr[0:]))
	case flags != pageFlagBranch && flags != pageFlagLeaf:
		return nil, fmt.Errorf("page %d: flags %#x, want a branch or leaf page", id, flags)
	case id+overflow >= c.hwm:
		return nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, overflow, c.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p] {
			return nil, fmt.Errorf("page %d: reached twice", p)
		}
		c.seen[p] = true
	}
	page := make([]byte, int64(1+overflow)*c.pageSize)
	if _, err := c.r.ReadAt(page, int64(id)*c.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if 16+count*elementSize > len(page) {
		return nil, fmt.Errorf("page %d: %d elements do not fit it", id, count)
	}
	// span returns page[off+pos : off+pos+n] or false when it leaves the page.
	span := func(off int, pos, n uint32) ([]byte, bool) {
		start := uint64(off) + uint64(pos)
		if start+uint64(n) > uint64(len(page)) {
			return nil, false
		}
		return page[start : start+uint64(n)], true
	}
	var last []byte
	for i := range count {
		off := 16 + i*elementSize
		e := page[off : off+elementSize]
		var key, val []byte
		var ok bool
		if flags == pageFlagBranch {
			key, ok = span(off, le.Uint32(e[0:]), le.Uint32(e[4:]))
		} else {
			key, ok = span(off, le.Uint32(e[4:]), le.Uint32(e[8:]))
			if ok {
				val, ok = span(off, le.Uint32(e[4:])+le.Uint32(e[8:]), le.Uint32(e[12:]))
			}
		}
		if !ok {
			return nil, fmt.Errorf("page %d: element %d lies outside the page", id, i)
		}
		if err := keyInOrder(id, i, key, last, lo, hi); err != nil {
			return nil, err
		}
		if flags == pageFlagBranch {
			childHi := hi
			if i+1 < count {
				n := 16 + (i+1)*elementSize
				next := page[n : n+elementSize]
				if childHi, ok = span(n, le.Uint32(next[0:]), le.Uint32(next[4:])); !ok {
					return nil, fmt.Errorf("page %d: element %d lies outside the page", id, i+1)
				}
			}
			max, err := c.tree(le.Uint64(e[8:]), key, childHi, depth+1, buckets)
			if err != nil {
				return nil, err
			}
			last = max
			continue
		}
		last = key
		if le.Uint32(e[0:])&leafFlagBucket != 0 {
			if len(val) < bucketHeaderLen {
				return nil, fmt.Errorf("page %d: bucket %q: value of %d bytes", id, key, len(val))
			}
			if root := le.Uint64(val[0:]); root != 0 {
				*buckets = append(*buckets, root)
			} else if len(val) < bucketHeaderLen+16 {
				return nil, fmt.Errorf("page %d: inline bucket %q: no page in its value", id, key)
			}
		}
	}
	return last, nil
}

// keyInOrder applies bbolt's rules (tx_check.go verifyKeyOrder): the first key is not
// below the lower bound, each next key is above the previous one, and none reaches the
// upper bound.
func keyInOrder(id uint64, i int, key, prev, lo, hi []byte) error {
	switch {
	case i == 0 && lo != nil && bytes.Compare(lo, key) > 0:
		return fmt.Errorf("page %d: key %d below its parent's", id, i)
	case i > 0 && bytes.Compare(prev, key) >= 0:
		return fmt.Errorf("page %d: key %d not above key %d", id, i, i-1)
	case hi != nil && bytes.Compare(key, hi) >= 0:
		return fmt.Errorf("page %d: key %d not below the next key of its parent", id, i)
	}
	return nil
}
