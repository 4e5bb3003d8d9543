package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Ensure that without jitter the waits double from Min and stop at Max, and that no
// failures means no wait.
func TestPolicy_DelayDoublesToTheCap(t *testing.T) {
	p := Policy{Min: 250 * time.Millisecond, Max: 2 * time.Second}
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}
	for n, w := range want {
		if got := p.Delay(n); got != w {
			t.Errorf("Delay(%d) = %v, want %v", n, got, w)
		}
	}
	if got := p.Delay(1 << 30); got != p.Max {
		t.Errorf("Delay(2^30) = %v, want the cap %v", got, p.Max)
	}
	if got := p.Delay(-1); got != 0 {
		t.Errorf("Delay(-1) = %v, want 0", got)
	}
}

// Ensure jittered waits stay in [(1−Jitter)·d, d], never above the cap, and are spread
// (receivers that failed together must not retry in step).
func TestPolicy_JitterInsideTheCap(t *testing.T) {
	p := Policy{Min: time.Second, Max: 3 * time.Second, Jitter: 0.5}
	for n := 1; n <= 6; n++ {
		d := min(time.Second<<(n-1), p.Max)
		lo, hi := d, time.Duration(0)
		for range 2000 {
			w := p.Delay(n)
			if w > p.Max {
				t.Fatalf("Delay(%d) = %v, above the cap %v", n, w, p.Max)
			}
			if w < d/2 || w > d {
				t.Fatalf("Delay(%d) = %v, outside [%v, %v]", n, w, d/2, d)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		// 2000 uniform draws over [d/2, d] cover more than 80 % of it unless the jitter
		// is broken (the chance otherwise is below 1e-90).
		if hi-lo < d/2*8/10 {
			t.Errorf("Delay(%d) ranged over [%v, %v] only, want spread over [%v, %v]", n, lo, hi, d/2, d)
		}
	}
}

// Ensure a success resets the schedule: the wait after it is about Min, however many
// failures came before.
func TestBackoff_ResetAfterSuccess(t *testing.T) {
	b := New(Policy{Min: 100 * time.Millisecond, Max: 10 * time.Second})
	var last time.Duration
	for range 10 {
		last = b.Fail()
	}
	if last != 10*time.Second || b.Failures() != 10 {
		t.Fatalf("after 10 failures: wait %v, failures %d", last, b.Failures())
	}
	b.Reset()
	if b.Failures() != 0 {
		t.Errorf("Failures() = %d after Reset", b.Failures())
	}
	if w := b.Fail(); w != 100*time.Millisecond {
		t.Errorf("first wait after Reset = %v, want Min", w)
	}
}

func TestPolicy_Validate(t *testing.T) {
	for _, tc := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{Min: time.Second, Max: time.Second}, true},
		{Policy{Min: time.Millisecond, Max: time.Minute, Jitter: 1}, true},
		{Policy{Min: 0, Max: time.Second}, false},
		{Policy{Min: -time.Second, Max: time.Second}, false},
		{Policy{Min: 2 * time.Second, Max: time.Second}, false},
		{Policy{Min: time.Second, Max: time.Second, Jitter: -0.1}, false},
		{Policy{Min: time.Second, Max: time.Second, Jitter: 1.5}, false},
	} {
		err := tc.p.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidPolicy)) {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

// Ensure Sleep returns the context's error when it ends first, and nil after a full wait.
func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep 1 ms = %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Errorf("Sleep 0 = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep 0 on an ended context = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep cut short = %v, want context.Canceled", err)
	}
}
