// Package rtltcptest runs an rtl_tcp server inside a test's process that speaks the real
// protocol (osmocom rtl-sdr, src/rtl_tcp.c): on every connection the 12-byte greeting
// ("RTL0", tuner type and gain count, big-endian), then 5-byte commands from the client
// (one code byte, a big-endian u32), and interleaved unsigned 8-bit I/Q at the sample rate
// in real time, in 20 ms chunks. A set-sample-rate command (0x02) changes the rate.
//
// A test can take the server away (Stop: connections reset, new ones refused) and bring it
// back on the same address (Listen), or stall it (Pause: connections stay open, nothing is
// sent, as a dongle that stops delivering). FirstWrite says when samples flowed again.
//
//	srv := rtltcptest.Start(t, rtltcptest.Options{})
//	src, _ := capture.NewRTLTCP(srv.Addr(), cfg, nil)
package rtltcptest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// Options shapes the server. The zero value streams 250 kS/s from an R820T with 29 gains.
type Options struct {
	// RateHz is the sample rate streamed until the client sets one (default 250000).
	RateHz uint32
	// TunerType and GainCount go into the greeting (default 5, R820T, and 29).
	TunerType, GainCount uint32
	// Payload, when set, is cu8 I/Q streamed in a loop (a recording) instead of noise.
	Payload []byte
}

// Command is one 5-byte command a client sent.
type Command struct {
	Code  byte
	Value uint32
}

// Server is one rtl_tcp server owned by a test.
type Server struct {
	t    testing.TB
	opts Options
	addr string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	cmds   []Command
	wg     sync.WaitGroup
	rateHz atomic.Uint32

	paused     atomic.Bool
	mark       atomic.Int64 // unix ns of the last Listen or Resume
	firstWrite atomic.Int64 // unix ns of the first sample write after mark; 0 before it
	sent       atomic.Uint64
	accepted   atomic.Uint64
}

// New reserves an address on 127.0.0.1 (a port below the ephemeral range, so it can be
// bound again after Stop) without listening yet: a server that is down when its client
// starts. Listen brings it up. The server is stopped when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.RateHz == 0 {
		opts.RateHz = 250000
	}
	if opts.TunerType == 0 {
		opts.TunerType = 5
	}
	if opts.GainCount == 0 {
		opts.GainCount = 29
	}
	port, err := testenv.RestartablePort()
	if err != nil {
		t.Fatalf("rtltcptest: %v", err)
	}
	s := &Server{t: t, opts: opts, addr: fmt.Sprintf("127.0.0.1:%d", port), conns: map[net.Conn]struct{}{}}
	s.rateHz.Store(opts.RateHz)
	t.Cleanup(func() {
		s.Stop()
		s.wg.Wait()
	})
	return s
}

// Start is New then Listen.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(t, opts)
	s.Listen()
	return s
}

// Addr is host:port, the same across Stop and Listen.
func (s *Server) Addr() string { return s.addr }

// Listen starts accepting connections on Addr; when it returns, connections are accepted.
// It fails the test if the port cannot be bound again within 5 s.
func (s *Server) Listen() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("rtltcptest: listen %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // the old socket may linger a moment
	}
	s.mu.Lock()
	if s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		s.t.Fatal("rtltcptest: Listen while listening")
	}
	s.ln = ln
	s.setMark()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(ln)
}

// Stop closes the listener and every connection: clients see their connection reset and
// new ones refused. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
}

// Pause stalls the server: connections stay open (and new ones are greeted) but no sample
// is sent until Resume.
func (s *Server) Pause() { s.paused.Store(true) }

// Resume ends a Pause.
func (s *Server) Resume() {
	s.setMark()
	s.paused.Store(false)
}

func (s *Server) setMark() {
	s.firstWrite.Store(0)
	s.mark.Store(time.Now().UnixNano())
}

// FirstWrite is when samples were first written to a client after the last Listen or
// Resume; zero until then.
func (s *Server) FirstWrite() time.Time {
	if ns := s.firstWrite.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// SentBytes counts the sample bytes written so far, over every connection.
func (s *Server) SentBytes() uint64 { return s.sent.Load() }

// Accepted counts the connections accepted so far.
func (s *Server) Accepted() uint64 { return s.accepted.Load() }

// Commands returns the commands received so far, over every connection, in order.
func (s *Server) Commands() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Command(nil), s.cmds...)
}

func (s *Server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ln != ln { // stopped meanwhile
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted.Add(1)
		s.wg.Add(2)
		go s.commands(c)
		go s.stream(c)
	}
}

// commands reads the client's 5-byte commands until the connection ends.
func (s *Server) commands(c net.Conn) {
	defer s.wg.Done()
	var b [5]byte
	for {
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		cmd := Command{Code: b[0], Value: binary.BigEndian.Uint32(b[1:])}
		if cmd.Code == 0x02 && cmd.Value > 0 {
			s.rateHz.Store(cmd.Value)
		}
		s.mu.Lock()
		s.cmds = append(s.cmds, cmd)
		s.mu.Unlock()
	}
}

// stream sends the greeting, then noise around the ADC's midpoint (or the payload) in real
// time.
func (s *Server) stream(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	hdr := []byte("RTL0")
	hdr = binary.BigEndian.AppendUint32(hdr, s.opts.TunerType)
	hdr = binary.BigEndian.AppendUint32(hdr, s.opts.GainCount)
	if _, err := c.Write(hdr); err != nil {
		return
	}
	const tick = 20 * time.Millisecond
	rng := rand.New(rand.NewPCG(1, 1))
	t := time.NewTicker(tick)
	defer t.Stop()
	var chunk []byte
	pos := 0
	for range t.C {
		if s.paused.Load() {
			continue
		}
		n := int(uint64(s.rateHz.Load()) * 2 * uint64(tick) / uint64(time.Second))
		if cap(chunk) < n {
			chunk = make([]byte, n)
		}
		chunk = chunk[:n]
		for i := range chunk {
			if len(s.opts.Payload) > 0 {
				chunk[i] = s.opts.Payload[pos]
				pos = (pos + 1) % len(s.opts.Payload)
			} else {
				chunk[i] = byte(125 + rng.IntN(5))
			}
		}
		// A client that does not keep up blocks this write; the ticker drops the ticks
		// meanwhile, so those samples are lost, as rtl_tcp drops buffers it cannot send.
		if _, err := c.Write(chunk); err != nil {
			return
		}
		s.sent.Add(uint64(n))
		s.firstWrite.CompareAndSwap(0, time.Now().UnixNano())
	}
}
