// Package backoff is the one retry schedule edged's stages share (capture, uplink, the
// daemon, the MLflow client): capped exponential waits with the jitter inside the cap, a
// reset after each success, and a sleep that ends with its context.
//
// # Basics
//
// The wait after n consecutive failures is d = min(Min·2^(n−1), Max), less a random part of
// up to Jitter·d. So no wait is longer than Max, jitter included, and clients that lost the
// same server together do not come back in step. With Jitter 0.5 this is the "equal
// jitter" of https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
// A success resets the count, so the first failure after a good connection waits about
// Min again, however long the outage before it was.
//
// # Caveats
//
// Max bounds how long a client can stay away after its server is back: a stage that must
// recover within T seconds of its server's return needs Max < T less the time one attempt
// takes. A short Max costs a failed attempt every Max while the server is down.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// ErrInvalidPolicy is returned by Policy.Validate.
var ErrInvalidPolicy = errors.New("backoff: invalid policy")

// DefaultJitter spreads waits over their upper half.
const DefaultJitter = 0.5

// Policy is a capped exponential schedule. The zero Jitter means no randomness (tests).
type Policy struct {
	// Min is the wait after the first failure, before jitter.
	Min time.Duration
	// Max caps every wait, jitter included.
	Max time.Duration
	// Jitter is the fraction of each wait drawn at random, in [0, 1]: a wait d becomes
	// uniform in [(1−Jitter)·d, d].
	Jitter float64
}

// Validate checks 0 < Min ≤ Max and 0 ≤ Jitter ≤ 1.
func (p Policy) Validate() error {
	switch {
	case p.Min <= 0:
		return fmt.Errorf("%w: minimum wait %v must be positive", ErrInvalidPolicy, p.Min)
	case p.Max < p.Min:
		return fmt.Errorf("%w: maximum wait %v is below the minimum %v", ErrInvalidPolicy, p.Max, p.Min)
	case !(p.Jitter >= 0 && p.Jitter <= 1):
		return fmt.Errorf("%w: jitter %v must be in [0, 1]", ErrInvalidPolicy, p.Jitter)
	}
	return nil
}

// Delay is the wait before the next attempt after failures consecutive failures: 0 for
// none, else min(Min·2^(failures−1), Max) less up to Jitter of it.
func (p Policy) Delay(failures int) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := p.Min
	for i := 1; i < failures && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if j := min(max(p.Jitter, 0), 1); j > 0 && d > 0 {
		d -= time.Duration(j * rand.Float64() * float64(d))
	}
	return d
}

// Backoff counts consecutive failures under a Policy. It is not safe for concurrent use:
// each retry loop owns one.
type Backoff struct {
	policy   Policy
	failures int
}

// New returns a Backoff with no failures counted.
func New(p Policy) *Backoff { return &Backoff{policy: p} }

// Policy is the schedule b follows.
func (b *Backoff) Policy() Policy { return b.policy }

// Fail counts a failure and returns how long to wait before the next attempt.
func (b *Backoff) Fail() time.Duration {
	if b.failures < math.MaxInt32 {
		b.failures++
	}
	return b.policy.Delay(b.failures)
}

// Reset forgets the failures after a success: the next failure waits about Min.
func (b *Backoff) Reset() { b.failures = 0 }

// Failures is the number of consecutive failures counted since the last Reset.
func (b *Backoff) Failures() int { return b.failures }

// Sleep waits d, or less if ctx ends first; it then returns ctx.Err(). A d of zero or less
// returns at once, with ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
