package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/backoff"
)

// rtlTCPServer is an in-process rtl_tcp server speaking the real protocol on 127.0.0.1. Each
// accepted connection gets the greeting and is then handed to the test's handler.
type rtlTCPServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// startRTLTCPServer serves handlers in order: connection i gets handlers[min(i, len-1)].
func startRTLTCPServer(t *testing.T, handlers ...func(c net.Conn)) *rtlTCPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rtlTCPServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			h := handlers[min(i, len(handlers)-1)]
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				hdr := []byte{'R', 'T', 'L', '0', 0, 0, 0, 5, 0, 0, 0, 29} // R820T, 29 gains
				if _, err := c.Write(hdr); err != nil {
					return
				}
				h(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rtlTCPServer) addr() string { return s.ln.Addr().String() }

// drainCommands reads the client's commands in the background so writes never block on them.
func drainCommands(c net.Conn) { go io.Copy(io.Discard, c) }

// stream writes the byte v until the connection fails.
func stream(c net.Conn, v byte) {
	chunk := bytes.Repeat([]byte{v}, 4096)
	for {
		if _, err := c.Write(chunk); err != nil {
			return
		}
	}
}

func TestRTLTCP_CommandBytesAndSamples(t *testing.T) {
	// Written out by hand from rtl_tcp.c's command table, not computed by the code under test.
	want := []byte{
		0x02, 0x00, 0x03, 0xd0, 0x90, // sample rate 250000
		0x01, 0x19, 0xdd, 0x18, 0x00, // frequency 433920000
		0x05, 0xff, 0xff, 0xff, 0xfd, // ppm -3
		0x03, 0x00, 0x00, 0x00, 0x01, // gain mode manual
		0x04, 0x00, 0x00, 0x01, 0xf0, // gain 49.6 dB = 496 tenths
		0x08, 0x00, 0x00, 0x00, 0x01, // RTL AGC on
		0x09, 0x00, 0x00, 0x00, 0x02, // direct sampling Q branch
		0x0a, 0x00, 0x00, 0x00, 0x01, // offset tuning on
		0x0e, 0x00, 0x00, 0x00, 0x01, // bias tee on
	}
	got := make(chan []byte, 1)
	srv := startRTLTCPServer(t, func(c net.Conn) {
		b := make([]byte, len(want))
		if _, err := io.ReadFull(c, b); err != nil {
			got <- nil
			return
		}
		got <- b
		// Samples split mid-sample: 0/255 (rail), then 127,128 across two writes.
		c.Write([]byte{0, 255, 127})
		c.Write([]byte{128, 10})
		io.Copy(io.Discard, c)
	})
	cfg := RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3, GainMode: GainManual, GainDB: 49.6,
		PPM: -3, AGC: true, BiasTee: true, DirectSampling: DirectSamplingQ, OffsetTuning: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := DialRTLTCP(ctx, srv.addr(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("commands\n got % x\nwant % x", b, want)
	}
	if h := s.(interface{ Header() *RTLTCPHeader }).Header(); h == nil || h.TunerType != 5 || h.GainCount != 29 {
		t.Errorf("header = %+v, want tuner 5 with 29 gains", h)
	}
	var samples []complex64
	buf := make([]complex64, 16)
	for len(samples) < 2 {
		n, err := s.Read(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, buf[:n]...)
	}
	if samples[0] != complex(-1, 1) || samples[1] != complex(-0.5/127.5, 0.5/127.5) {
		t.Errorf("samples = %v", samples)
	}
	if st := s.Stats(); st.Delivered != 2 || st.Overload != 1 {
		t.Errorf("Stats = %+v, want 2 delivered, 1 overloaded", st)
	}
	if info := s.Info(); !info.Live || info.Name != "rtl_tcp:"+srv.addr() || info.Format != FormatCU8 {
		t.Errorf("Info = %+v", info)
	}
}

func TestRTLTCP_AutoGainCommands(t *testing.T) {
	got := rtlTCPCommands(Tuning{CenterFreqHz: 868.3e6, SampleRateHz: 1024e3})
	want := []byte{
		0x02, 0x00, 0x0f, 0xa0, 0x00, // 1024000
		0x01, 0x33, 0xc1, 0x34, 0xe0, // 868300000
		0x05, 0, 0, 0, 0,
		0x03, 0, 0, 0, 0, // auto gain: no 0x04
		0x08, 0, 0, 0, 0,
		0x09, 0, 0, 0, 0,
		0x0a, 0, 0, 0, 0,
		0x0e, 0, 0, 0, 0,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("commands\n got % x\nwant % x", got, want)
	}
}

// readUntil reads until a sample equal to v arrives and returns the time it did.
func readUntil(t *testing.T, ctx context.Context, s Source, v complex64) {
	t.Helper()
	buf := make([]complex64, 1024)
	for {
		n, err := s.Read(ctx, buf)
		if err != nil {
			t.Fatalf("Read while waiting for %v: %v", v, err)
		}
		for _, x := range buf[:n] {
			if x == v {
				return
			}
		}
	}
}

var (
	firstConnValue  = complex(cu8Table[0x10], cu8Table[0x10])
	secondConnValue = complex(cu8Table[0x20], cu8Table[0x20])
)

// TestRTLTCP_RecoversFromStall: the first server connection sends a little and then goes
// silent without closing; the client must give up on it after StallTimeout, reconnect, get
// the second connection's samples and count the silence as lost.
func TestRTLTCP_RecoversFromStall(t *testing.T) {
	release := make(chan struct{})
	srv := startRTLTCPServer(t,
		func(c net.Conn) {
			drainCommands(c)
			c.Write(bytes.Repeat([]byte{0x10}, 2000))
			<-release // stall: connection open, nothing sent
		},
		func(c net.Conn) { drainCommands(c); stream(c, 0x20) },
	)
	defer close(release)
	const rate, stall = 250e3, 200 * time.Millisecond
	cfg := RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: rate}, StallTimeout: stall,
		Retry: backoff.Policy{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	s, err := NewRTLTCP(srv.addr(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	readUntil(t, ctx, s, firstConnValue)
	readUntil(t, ctx, s, secondConnValue)
	st := s.Stats()
	if min := uint64(stall.Seconds() * rate); st.Lost < min || st.Lost > uint64(5*rate) {
		t.Errorf("Lost = %d, want at least the stall timeout's worth (%d) and less than 5 s worth", st.Lost, min)
	}
	if st.Delivered < 1000 {
		t.Errorf("Delivered = %d, want the first connection's 1000 samples and more", st.Delivered)
	}
}

// TestRTLTCP_RecoversFromDrop: the first connection closes after a few samples; the client
// reconnects and counts the reconnection gap as lost.
func TestRTLTCP_RecoversFromDrop(t *testing.T) {
	srv := startRTLTCPServer(t,
		func(c net.Conn) { drainCommands(c); c.Write(bytes.Repeat([]byte{0x10}, 2000)) },
		func(c net.Conn) { drainCommands(c); stream(c, 0x20) },
	)
	cfg := RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 2.4e6},
		Retry: backoff.Policy{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond}}
	s, err := NewRTLTCP(srv.addr(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	readUntil(t, ctx, s, firstConnValue)
	readUntil(t, ctx, s, secondConnValue)
	if st := s.Stats(); st.Lost == 0 || st.Lost > uint64(5*2.4e6) {
		t.Errorf("Lost = %d, want the reconnection gap counted (more than 0, under 5 s worth)", st.Lost)
	}
}

func TestRTLTCP_NotAServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = DialRTLTCP(ctx, ln.Addr().String(), RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3}}, nil)
	if !errors.Is(err, ErrNotRTLTCP) {
		t.Fatalf("err = %v, want ErrNotRTLTCP", err)
	}
}

// TestRTLTCP_ServerDownKeepsRetrying: with nothing listening, Read keeps retrying until ctx
// ends and Close unblocks it.
func TestRTLTCP_ServerDownKeepsRetrying(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here now
	cfg := RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3}, Retry: backoff.Policy{Min: time.Millisecond, Max: 5 * time.Millisecond}}
	if _, err := DialRTLTCP(context.Background(), addr, cfg, nil); err == nil {
		t.Fatal("DialRTLTCP to a closed port succeeded")
	}
	s, err := NewRTLTCP(addr, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx, make([]complex64, 8)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read = %v, want DeadlineExceeded", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(context.Background(), make([]complex64, 8))
		errc <- err
	}()
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Read during Close = %v, want ErrClosed", err)
	}
}

func TestRTLTCP_BadConfig(t *testing.T) {
	for _, tc := range []struct {
		addr string
		cfg  RTLTCPConfig
	}{
		{"nohostport", RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3}}},
		{"127.0.0.1:1234", RTLTCPConfig{Tuning: Tuning{SampleRateHz: 250e3}}},
		{"127.0.0.1:1234", RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8}}},
		{"127.0.0.1:1234", RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3, GainMode: "loud"}}},
		{"127.0.0.1:1234", RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3, DirectSampling: 3}}},
	} {
		if _, err := NewRTLTCP(tc.addr, tc.cfg, nil); !errors.Is(err, ErrBadConfig) {
			t.Errorf("NewRTLTCP(%s, %+v) err = %v, want ErrBadConfig", tc.addr, tc.cfg.Tuning, err)
		}
	}
}

func TestLossClock(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLossClock(1000, t0) // 1 kS/s, 10 s windows
	// Nine seconds on time, then a window that closes 1 s short.
	for i := 1; i <= 9; i++ {
		if lost := l.observe(1000, t0.Add(time.Duration(i)*time.Second)); lost != 0 {
			t.Fatalf("lost %d inside the first window", lost)
		}
	}
	if lost := l.observe(0, t0.Add(10*time.Second)); lost != 1000 {
		t.Errorf("window 1 lost = %d, want 1000", lost)
	}
	// A window within tolerance (1 % short) counts nothing.
	if lost := l.observe(9900, t0.Add(20*time.Second)); lost != 0 {
		t.Errorf("window 2 lost = %d, want 0 (within tolerance)", lost)
	}
	// A surplus is never banked as credit against the next window.
	l.observe(20000, t0.Add(30*time.Second))
	if lost := l.observe(5000, t0.Add(40*time.Second)); lost != 5000 {
		t.Errorf("window 4 lost = %d, want 5000", lost)
	}
	if gapSamples(1500*time.Millisecond, 2.4e6) != 3600000 || gapSamples(-time.Second, 1) != 0 {
		t.Error("gapSamples is wrong")
	}
}

// TestRTLTCP_CancelThenContinue: cancelling one Read must not disturb the connection; the
// next Read gets the server's samples without a reconnect. Close unblocks a waiting Read.
func TestRTLTCP_CancelThenContinue(t *testing.T) {
	send := make(chan []byte)
	srv := startRTLTCPServer(t, func(c net.Conn) {
		drainCommands(c)
		for b := range send {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	defer close(send)
	cfg := RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 1e8, SampleRateHz: 250e3}, StallTimeout: time.Hour}
	s, err := DialRTLTCP(context.Background(), srv.addr(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	buf := make([]complex64, 8)
	go func() {
		_, err := s.Read(ctx, buf)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want Canceled", err)
	}
	send <- []byte{0x10, 0x10}
	n, err := s.Read(context.Background(), buf)
	if err != nil || n != 1 || buf[0] != firstConnValue {
		t.Fatalf("Read after a cancelled one = %d, %v (%v)", n, err, buf[:n])
	}
	if st := s.Stats(); st.Lost != 0 {
		t.Errorf("Lost = %d without any reconnect", st.Lost)
	}
	go func() {
		_, err := s.Read(context.Background(), buf)
		errc <- err
	}()
	s.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Read during Close = %v, want ErrClosed", err)
	}
}
