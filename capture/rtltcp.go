package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// rtl_tcp command codes (osmocom rtl-sdr src/rtl_tcp.c): one byte, then a big-endian u32.
const (
	rtltcpSetFreq           = 0x01
	rtltcpSetSampleRate     = 0x02
	rtltcpSetGainMode       = 0x03
	rtltcpSetGain           = 0x04
	rtltcpSetFreqCorrection = 0x05
	rtltcpSetAGCMode        = 0x08
	rtltcpSetDirectSampling = 0x09
	rtltcpSetOffsetTuning   = 0x0a
	rtltcpSetBiasTee        = 0x0e
)

// RTLTCPConfig configures an rtl_tcp client.
type RTLTCPConfig struct {
	// Tuning is sent to the server on every (re)connection, so a restarted server or one
	// another client retuned is put back in our state.
	Tuning
	// StallTimeout is how long without a byte counts as a stall and forces a reconnect
	// (default 2 s; rtl_433 uses 1.5 s for USB).
	StallTimeout time.Duration
	// DialTimeout bounds connecting and the greeting (default 5 s).
	DialTimeout time.Duration
	// Retry spaces reconnection attempts; zero fields take DefaultRetry's. Samples reset
	// it, so the first reconnection after a good stream waits about Retry.Min.
	Retry backoff.Policy
}

// withDefaults fills zero fields.
func (c RTLTCPConfig) withDefaults() RTLTCPConfig {
	if c.StallTimeout <= 0 {
		c.StallTimeout = 2 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	c.Retry = retryPolicy(c.Retry)
	return c
}

// RTLTCPHeader is the 12-byte greeting an rtl_tcp server sends: "RTL0", tuner type, and the
// number of gain steps the tuner has.
type RTLTCPHeader struct {
	TunerType uint32
	GainCount uint32
}

// rtlTCPCommands encodes the commands that put a server into tuning t, in the order they are
// sent.
func rtlTCPCommands(t Tuning) []byte {
	var b []byte
	cmd := func(code byte, v uint32) {
		b = append(b, code)
		b = binary.BigEndian.AppendUint32(b, v)
	}
	boolean := func(v bool) uint32 {
		if v {
			return 1
		}
		return 0
	}
	cmd(rtltcpSetSampleRate, uint32(math.Round(t.SampleRateHz)))
	cmd(rtltcpSetFreq, uint32(math.Round(t.CenterFreqHz)))
	cmd(rtltcpSetFreqCorrection, uint32(int32(t.PPM)))
	if t.GainMode == GainManual {
		cmd(rtltcpSetGainMode, 1)
		// rtl_tcp passes tenths of a dB to rtlsdr_set_tuner_gain, which picks the nearest step.
		cmd(rtltcpSetGain, uint32(int32(math.Round(t.GainDB*10))))
	} else {
		cmd(rtltcpSetGainMode, 0)
	}
	cmd(rtltcpSetAGCMode, boolean(t.AGC))
	cmd(rtltcpSetDirectSampling, uint32(t.DirectSampling))
	cmd(rtltcpSetOffsetTuning, boolean(t.OffsetTuning))
	cmd(rtltcpSetBiasTee, boolean(t.BiasTee))
	return b
}

// rtlTCP is an rtl_tcp client source. It connects lazily in Read and reconnects after a drop
// or a stall, counting the gap as lost samples.
type rtlTCP struct {
	addr string
	cfg  RTLTCPConfig
	log  *slog.Logger
	info Info
	cmds []byte

	// Read's state; only Read touches it.
	conn       net.Conn
	raw        []byte
	carry      int // 0 or 1 byte of a sample split across reads, kept at raw[0]
	retry      *backoff.Backoff
	retryIn    time.Duration // wait before the next connection attempt
	lastData   time.Time
	gapPending bool
	loss       *lossClock

	// mu guards live, the connection Close must shut to unblock Read, and lastErr.
	mu       sync.Mutex
	live     net.Conn
	lastErr  error
	header   atomic.Pointer[RTLTCPHeader]
	restarts atomic.Uint64

	stats  counters
	closed atomic.Bool
	life   lifetime
}

// NewRTLTCP returns an rtl_tcp client for addr ("host:port") that connects on the first Read
// and reconnects with capped backoff whenever the connection drops or stalls, so the daemon
// can start while the server is down. It checks cfg but does no I/O.
func NewRTLTCP(addr string, cfg RTLTCPConfig, log *slog.Logger) (Source, error) {
	return newRTLTCP(addr, cfg, log)
}

// DialRTLTCP connects to an rtl_tcp server once and fails if that first attempt fails (for
// one-shot commands); later drops are recovered from as with NewRTLTCP.
func DialRTLTCP(ctx context.Context, addr string, cfg RTLTCPConfig, log *slog.Logger) (Source, error) {
	s, err := newRTLTCP(addr, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newRTLTCP(addr string, cfg RTLTCPConfig, log *slog.Logger) (*rtlTCP, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("rtl_tcp %q: %w: address: %w", addr, ErrBadConfig, err)
	}
	if err := cfg.Tuning.Validate(); err != nil {
		return nil, fmt.Errorf("rtl_tcp %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	return &rtlTCP{
		addr: addr,
		cfg:  cfg,
		log:  log,
		cmds: rtlTCPCommands(cfg.Tuning),
		info: Info{
			Name:         "rtl_tcp:" + addr,
			CenterFreqHz: cfg.CenterFreqHz,
			SampleRateHz: cfg.SampleRateHz,
			Start:        time.Now().UTC(),
			Live:         true,
			Format:       FormatCU8,
		},
		raw:   make([]byte, 1+2*fileChunkSamples),
		retry: backoff.New(cfg.Retry),
		life:  newLifetime(),
	}, nil
}

func (s *rtlTCP) Info() Info   { return s.info }
func (s *rtlTCP) Stats() Stats { return s.stats.snapshot() }

// Restarts counts the connections dropped after a stall or a failure to reconnect.
func (s *rtlTCP) Restarts() uint64 { return s.restarts.Load() }

// Err is why samples are not flowing (the last connection or read failure), nil once they
// flow again.
func (s *rtlTCP) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *rtlTCP) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// Header returns the greeting of the current or last server, or nil before the first
// connection.
func (s *rtlTCP) Header() *RTLTCPHeader { return s.header.Load() }

// Close ends the connection and unblocks Read.
func (s *rtlTCP) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.life.end()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		return s.live.Close()
	}
	return nil
}

// connect dials, checks the greeting and sends the tuning. It is one attempt, no retry.
func (s *rtlTCP) connect(ctx context.Context) error {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("rtl_tcp %s: %w", s.addr, err)
	}
	var stop func()
	fail := func(err error) error {
		stop()
		conn.Close()
		return fmt.Errorf("rtl_tcp %s: %w", s.addr, err)
	}
	conn.SetDeadline(time.Now().Add(s.cfg.DialTimeout))
	stop = interruptOnDone(ctx, conn)
	var hdr [12]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return fail(fmt.Errorf("reading the 12-byte greeting: %w", err))
	}
	if string(hdr[:4]) != "RTL0" {
		return fail(fmt.Errorf("%w (greeting starts %q, want \"RTL0\")", ErrNotRTLTCP, hdr[:4]))
	}
	h := &RTLTCPHeader{TunerType: binary.BigEndian.Uint32(hdr[4:8]), GainCount: binary.BigEndian.Uint32(hdr[8:12])}
	if _, err := conn.Write(s.cmds); err != nil {
		return fail(fmt.Errorf("sending tuning commands: %w", err))
	}
	stop()
	if err := ctx.Err(); err != nil {
		conn.Close()
		return err
	}
	conn.SetDeadline(time.Time{})
	s.header.Store(h)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		conn.Close()
		return ErrClosed
	}
	s.live = conn
	s.mu.Unlock()
	s.conn, s.carry = conn, 0
	s.log.Info("rtl_tcp connected", "addr", s.addr, "tuner_type", h.TunerType, "gain_steps", h.GainCount)
	return nil
}

// drop closes the current connection after a failure and arms gap accounting. It counts
// as a failure: a server that accepts and hangs up at once is retried with backoff, not in
// a tight loop.
func (s *rtlTCP) drop(reason string, err error) {
	s.retryIn = s.retry.Fail()
	s.restarts.Add(1)
	s.log.Warn("rtl_tcp connection lost, reconnecting", "addr", s.addr, "reason", reason, "err", err, "retry_in", s.retryIn)
	s.conn.Close()
	s.mu.Lock()
	s.live = nil
	s.lastErr = err
	s.mu.Unlock()
	s.conn = nil
	s.gapPending = !s.lastData.IsZero()
}

// Read returns the next samples, reconnecting as often as needed; it returns only with
// samples, ctx's error, or ErrClosed.
func (s *rtlTCP) Read(ctx context.Context, buf []complex64) (int, error) {
	if len(buf) == 0 {
		return 0, ctx.Err()
	}
	for {
		if s.closed.Load() {
			return 0, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if s.conn == nil {
			if err := s.life.sleep(ctx, s.retryIn); err != nil {
				return 0, err
			}
			if err := s.connect(ctx); err != nil {
				if ctx.Err() != nil || s.closed.Load() {
					continue
				}
				s.retryIn = s.retry.Fail()
				s.setErr(err)
				s.log.Warn("rtl_tcp connect failed", "addr", s.addr, "err", err, "attempt", s.retry.Failures(), "retry_in", s.retryIn)
				continue
			}
		}
		n, err := s.readOnce(ctx, buf)
		if n > 0 {
			return n, nil
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if s.closed.Load() {
			return 0, ErrClosed
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.drop("stall", fmt.Errorf("%w (%v)", ErrStalled, s.cfg.StallTimeout))
		} else {
			s.drop("dropped", err)
		}
	}
}

// readOnce does one socket read with the stall deadline and converts whole samples.
func (s *rtlTCP) readOnce(ctx context.Context, buf []complex64) (int, error) {
	conn := s.conn
	conn.SetReadDeadline(time.Now().Add(s.cfg.StallTimeout))
	stop := interruptOnDone(ctx, conn)
	want := min(len(buf), fileChunkSamples) * 2
	got, err := conn.Read(s.raw[s.carry:want])
	stop()
	if got == 0 {
		return 0, err
	}
	now := time.Now()
	total := s.carry + got
	n, ov, _ := Convert(buf, s.raw[:total], FormatCU8)
	s.carry = total - 2*n
	if s.carry == 1 {
		s.raw[0] = s.raw[total-1]
	}
	if n == 0 {
		return 0, nil
	}
	s.account(n, ov, now)
	return n, nil
}

// account updates the counters for n samples that arrived at now.
func (s *rtlTCP) account(n, ov int, now time.Time) {
	if s.retry.Failures() > 0 {
		s.retry.Reset()
		s.setErr(nil)
	}
	if s.loss == nil {
		s.loss = newLossClock(s.cfg.SampleRateHz, now)
	}
	if s.gapPending {
		// The stream was gone from the last byte of the old connection to the first byte of
		// this one; the radio kept sampling, so that whole gap is lost.
		gap := now.Sub(s.lastData)
		s.stats.lost.Add(gapSamples(gap, s.cfg.SampleRateHz))
		s.loss.restart(now)
		s.gapPending = false
		s.log.Info("rtl_tcp samples flowing again", "addr", s.addr, "gap", gap)
	} else if lost := s.loss.observe(uint64(n), now); lost > 0 {
		s.stats.lost.Add(lost)
	}
	s.lastData = now
	s.stats.delivered.Add(uint64(n))
	s.stats.overload.Add(uint64(ov))
}

// interruptOnDone makes a blocked read or write on conn return when ctx ends. The returned
// stop must be called before the next deadline is set; it waits for an interruption already
// under way, so a late one can never cut short the next read.
func interruptOnDone(ctx context.Context, conn net.Conn) (stop func()) {
	fired := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return sync.OnceFunc(func() {
		if !cancel() {
			<-fired
		}
	})
}
