package capture

import (
	"context"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// DefaultRetry spaces a live source's reconnections and reopenings: from 250 ms up to 2 s,
// so a source is delivering again within about 2 s of its server or device coming back
// however long it was gone (capped, jittered; backoff has the details).
var DefaultRetry = backoff.Policy{Min: 250 * time.Millisecond, Max: 2 * time.Second, Jitter: backoff.DefaultJitter}

// retryPolicy is p with DefaultRetry's values where p has zeros.
func retryPolicy(p backoff.Policy) backoff.Policy {
	if p.Min <= 0 {
		p.Min = DefaultRetry.Min
	}
	if p.Max <= 0 {
		p.Max = max(DefaultRetry.Max, p.Min)
	}
	if p.Jitter == 0 {
		p.Jitter = DefaultRetry.Jitter
	}
	return p
}

// lifetime ends when a source is closed, so that a retry wait, a pacing delay or a slow
// open ends with it: Close may be called concurrently with Read to unblock it.
type lifetime struct {
	ctx context.Context
	end context.CancelFunc
}

func newLifetime() lifetime {
	ctx, end := context.WithCancel(context.Background())
	return lifetime{ctx: ctx, end: end}
}

// bind returns a context that ends with ctx or with the source, whichever ends first.
func (l lifetime) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// sleep waits d. It returns ErrClosed if the source closes first, ctx.Err() if ctx ends
// first.
func (l lifetime) sleep(ctx context.Context, d time.Duration) error {
	bctx, release := l.bind(ctx)
	defer release()
	if backoff.Sleep(bctx, d) == nil {
		return nil
	}
	if l.ctx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}
