package api

import (
	"math"
	"runtime"
	"strconv"
	"testing"
)

// Ensure parseFloat agrees bit for bit with strconv on the fast path's edges.
func TestParseFloat(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-1", "0.5", "0.49999237", "-0.000123", "123456789012345",
		"1234567890123456", "0.1e1", "1E22", "1e23", "1e-22", "1e-23", "9007199254740993", "2.5e-8",
		"1e400", "-1e-400", "0.0000000000000000000000001", "1.7976931348623157e308", "12e-3", "100e-2"} {
		want, werr := strconv.ParseFloat(s, 64)
		got, err := parseFloat([]byte(s))
		if (err == nil) != (werr == nil) || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: got %v (%v), strconv %v (%v)", s, got, err, want, werr)
		}
	}
}

// FuzzParseFloat compares parseFloat with strconv on every valid JSON number.
func FuzzParseFloat(f *testing.F) {
	for _, s := range []string{"0.49999237", "-1e-7", "123456789012345678", "5e22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := &jscan{b: []byte(s)}
		num, ok := p.number()
		if !ok || p.pos != len(s) {
			return
		}
		want, werr := strconv.ParseFloat(s, 64)
		got, err := parseFloat(num)
		if (err == nil) != (werr == nil) || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: got %v (%v), strconv %v (%v)", s, got, err, want, werr)
		}
	})
}

// Ensure a full batch decodes in memory proportional to its body, not to items × body.
func TestParseBatchMemory(t *testing.T) {
	items := make([]string, MaxBatchItems)
	for i := range items {
		items[i] = batchItemJSON(strconv.Itoa(i), burst(2048, 250e3, 0, uint64(i)))
	}
	body := batchBody(items...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, _, err := parseBatch(body)
	runtime.ReadMemStats(&after)
	if err != nil || len(got) != MaxBatchItems || len(got[99].samples) != 2048 {
		t.Fatalf("%d items, err %v", len(got), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(body)) {
		t.Errorf("decoding a %d-byte batch allocated %d bytes", len(body), alloc)
	}
}

// FuzzScanFloat: whenever the fast path takes a number, it agrees bit for bit with
// strconv, and it ends where the JSON number ends.
func FuzzScanFloat(f *testing.F) {
	for _, s := range []string{"0.49999237", "-0.000123", "1234567890123456789", "0.49966976e-3", "7", "-0", "9007199254740993"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, end, ok := scanFloat([]byte(s), 0)
		if !ok || end != len(s) {
			return
		}
		p := &jscan{b: []byte(s)}
		if _, isNum := p.number(); !isNum || p.pos != len(s) {
			t.Fatalf("%q: fast path took what is not one JSON number", s)
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: fast %v, strconv %v (%v)", s, got, want, err)
		}
	})
}
