package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// budget is the memory the /api/ requests may hold at once, in bytes: request bodies while
// they arrive, decoded samples, and each window's features. A request reserves before it
// allocates (an upper bound computed from sizes it already knows) and gives everything
// back when it ends, so a burst of large requests is answered 503 instead of growing the
// process until the kernel kills it.
type budget struct {
	limit int64
	used  atomic.Int64
}

// lease is one request's share of the budget. It is safe for concurrent use (a batch's
// items reserve from their own goroutines).
type lease struct {
	b    *budget
	held atomic.Int64
}

func (b *budget) lease() *lease { return &lease{b: b} }

// reserve takes n more bytes, or answers 413 when n alone is beyond the whole budget and
// 503 (with Retry-After) when the budget is in use by other requests.
func (l *lease) reserve(n int64, what string) error {
	if n <= 0 {
		return nil
	}
	if total := l.held.Load() + n; total > l.b.limit {
		return errf(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			fmt.Sprintf("the request needs %d bytes of memory (%s: %d), more than the %d-byte limit for all requests (max_memory_bytes)", total, what, n, l.b.limit))
	}
	if l.b.used.Add(n) > l.b.limit {
		l.b.used.Add(-n)
		return errf(http.StatusServiceUnavailable, codeOverloaded,
			fmt.Sprintf("%s needs %d bytes of memory and other requests hold the rest of the %d-byte limit; retry later", what, n, l.b.limit))
	}
	l.held.Add(n)
	return nil
}

// give returns n bytes reserved earlier (n ≤ what is held).
func (l *lease) give(n int64) {
	if n <= 0 {
		return
	}
	l.held.Add(-n)
	l.b.used.Add(-n)
}

// end returns everything the lease holds.
func (l *lease) end() { l.give(l.held.Load()) }

// bodyPool recycles request body buffers; buffers above maxPooledBytes are left to the GC.
var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

const (
	maxPooledBytes = 1 << 20
	// minBodyBuffer is the first buffer of a body; it doubles as the body arrives.
	minBodyBuffer = 64 << 10
)

// readBody reads the whole body within BodyReadTimeoutSeconds and MaxBodyBytes, reserving its
// buffer from the lease as it grows: a client announcing a large body but sending it
// slowly holds only what it has sent. Call release once the bytes are no longer used; it
// gives their reservation back.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, l *lease) (body []byte, release func(), err error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, nop, tooLarge(limit)
	}
	// A deadline for the whole body, so a client trickling bytes is cut off. Servers that
	// cannot set one (a test's ResponseRecorder) keep the server's own ReadTimeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.bodyReadTimeout()))
	bp := bodyPool.Get().(*[]byte)
	buf := (*bp)[:0]
	var held int64
	var once sync.Once
	release = func() {
		once.Do(func() {
			l.give(held)
			if cap(buf) <= maxPooledBytes {
				*bp = buf[:0]
				bodyPool.Put(bp)
			}
		})
	}
	// Reserve what the pooled buffer already is; grow by doubling up to the announced
	// length, and one byte past the limit so that an oversized body is seen.
	if err := l.reserve(int64(cap(buf)), "the body"); err != nil {
		return nil, release, err
	}
	held = int64(cap(buf))
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			next := max(2*int64(cap(buf)), minBodyBuffer)
			if r.ContentLength > 0 {
				next = min(next, r.ContentLength+1)
			}
			next = min(next, limit+1)
			if err := l.reserve(next-int64(cap(buf)), "the body"); err != nil {
				return nil, release, err
			}
			held += next - int64(cap(buf))
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			// net/http lifts the deadline itself once the body is in (it reads on in the
			// background to see the client go away).
			return buf, release, nil
		}
		if err != nil {
			return nil, release, s.bodyError(err)
		}
	}
}

// bodyError maps a failure to read the body.
func (s *Server) bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errf(http.StatusRequestTimeout, codeTimeout,
			fmt.Sprintf("body: not received within %s (body_read_timeout_seconds)", s.cfg.bodyReadTimeout()))
	}
	return errf(http.StatusBadRequest, codeInvalidField, "body: "+err.Error())
}

// reqBody is a request's body, read before the request took its slot, and the memory
// lease it and everything computed from it reserve from.
type reqBody struct {
	b []byte
	// release gives the body's buffer back; it may be called more than once.
	release func()
	lease   *lease
}

// withBody reads the request body before the request takes a concurrency slot (limit):
// clients that send slowly hold memory for what they sent, never a slot, so they cannot
// starve the others.
func (s *Server) withBody(h func(w http.ResponseWriter, r *http.Request, body *reqBody)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := s.mem.lease()
		defer l.end()
		b, release, err := s.readBody(w, r, l)
		defer release()
		if err != nil {
			writeError(w, err)
			return
		}
		s.limit(func(w http.ResponseWriter, r *http.Request) {
			h(w, r, &reqBody{b: b, release: release, lease: l})
		})(w, r)
	}
}
