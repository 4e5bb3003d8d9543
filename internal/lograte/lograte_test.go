package lograte

import (
	"testing"
	"time"
)

// Ensure a failure repeating 157 times a second is logged once per period, each line
// counting the occurrences it stands for, and that none is lost from the counts.
func TestLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lines, total := 0, 0
	for i := range 157 * 35 { // 35 s at 157 a second
		now := t0.Add(time.Duration(i) * time.Second / 157)
		if ok, n := l.Allow(now); ok {
			lines++
			total += n
			if lines == 1 && n != 1 {
				t.Fatalf("first line counts %d, want 1", n)
			}
		}
	}
	if lines != 4 { // at 0, 10, 20 and 30 s
		t.Fatalf("%d lines in 35 s, want 4", lines)
	}
	// The occurrences after the last line are still pending: the next line counts them.
	if ok, n := l.Allow(t0.Add(41 * time.Second)); !ok || total+n != 157*35+1 {
		t.Fatalf("counts: %d logged + %d (ok %v), want %d in all", total, n, ok, 157*35+1)
	}
	short := Limiter{Period: time.Millisecond}
	if ok, _ := short.Allow(t0); !ok {
		t.Fatal("first occurrence not logged")
	}
	if ok, n := short.Allow(t0.Add(2 * time.Millisecond)); !ok || n != 1 {
		t.Fatalf("after the period: %v %d", ok, n)
	}
}
