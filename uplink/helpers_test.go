package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/store"
)

var t0 = time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)

// pad makes bodies about 600 bytes, the size of a real fix.
var pad = strings.Repeat("x", 540)

func fix(i int) store.Fix {
	id := fmt.Sprintf("rx1:%d", i)
	return store.Fix{
		ID:       id,
		Receiver: "rx1",
		Time:     t0.Add(time.Duration(i) * time.Millisecond),
		Body:     []byte(fmt.Sprintf(`{"type":"Feature","id":%q,"properties":{"pad":%q}}`, id, pad)),
	}
}

func fixes(from, n int) []store.Fix {
	out := make([]store.Fix, n)
	for i := range out {
		out[i] = fix(from + i)
	}
	return out
}

// fixIndex is i for the body of fix(i).
func fixIndex(t testing.TB, body []byte) int {
	var f struct{ ID string }
	if err := json.Unmarshal(body, &f); err != nil || !strings.HasPrefix(f.ID, "rx1:") {
		t.Errorf("unexpected fix body %.80q: %v", body, err)
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(f.ID, "rx1:"))
	return n
}

func openDB(t testing.TB, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "edged.db"), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func commit(t testing.TB, db *store.DB, fs []store.Fix) {
	t.Helper()
	if _, err := db.Commit(fs...); err != nil {
		t.Fatal(err)
	}
}

// testConfig is a fast-retrying config for broker URL.
func testConfig(url string) Config {
	c := DefaultConfig()
	c.Broker = url
	c.ReceiverID = "rx1"
	c.ReconnectMinMs = 50
	c.ReconnectMaxMs = 400
	c.ConnectTimeoutSeconds = 5
	c.KeepaliveSeconds = 5
	return c
}

// running is an uplink whose Run goroutine the test owns.
type running struct {
	*MQTT
	cancel context.CancelFunc
	done   chan struct{}
}

// stop cancels Run and waits for it to return (publishing "offline").
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of cancel")
	}
}

func startUplink(t testing.TB, cfg Config, db Outbox, log *slog.Logger) *running {
	t.Helper()
	m, err := New(cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{MQTT: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// subscriber records every message on <prefix>/rx1/# in arrival order.
type subscriber struct {
	t      testing.TB
	client mqtt.Client
	mu     sync.Mutex
	fixes  []int    // fix indexes as they arrived, duplicates included
	avail  []string // availability payloads as they arrived
	model  []string
	wake   chan struct{}
}

// subscribe connects a QoS 1 subscriber. With persistent, it uses a fixed client id and
// a persistent session (clean session false) and reconnects by itself, so the broker
// queues for it across its own restarts (with mosquitto persistence).
func subscribe(t testing.TB, url string, persistent bool) *subscriber {
	t.Helper()
	s := &subscriber{t: t, wake: make(chan struct{}, 1)}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		switch {
		case strings.HasSuffix(m.Topic(), "/fix"):
			s.fixes = append(s.fixes, fixIndex(t, m.Payload()))
		case strings.HasSuffix(m.Topic(), "/availability"):
			s.avail = append(s.avail, string(m.Payload()))
		case strings.HasSuffix(m.Topic(), "/model"):
			s.model = append(s.model, string(m.Payload()))
		}
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("test-subscriber").
		SetCleanSession(!persistent).SetAutoReconnect(persistent).SetConnectRetry(false).
		SetMaxReconnectInterval(200 * time.Millisecond).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(handler).SetOrderMatters(true)
	s.client = mqtt.NewClient(o)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := s.client.Subscribe("heimdall/rx1/#", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

// waitFor waits until cond (called with s.mu held) holds, failing after timeout.
func (s *subscriber) waitFor(what string, timeout time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		n, av := len(s.fixes), fmt.Sprint(s.avail)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.wake:
		case <-deadline.C:
			s.t.Fatalf("timed out after %v waiting for %s (%d fix messages, availability %s)", timeout, what, n, av)
		}
	}
}

// distinct counts distinct fix indexes received. Call with s.mu held.
func (s *subscriber) distinct() int {
	seen := map[int]bool{}
	for _, i := range s.fixes {
		seen[i] = true
	}
	return len(seen)
}

// checkOrder checks that the first deliveries are exactly want, in order, and that every
// duplicate is within window of the newest fix delivered so far. It returns the number
// of duplicates.
func checkOrder(t testing.TB, got, want []int, window int) int {
	t.Helper()
	seen := map[int]bool{}
	var first []int
	dups, newest := 0, -1
	for _, i := range got {
		if seen[i] {
			dups++
			if newest-i >= window {
				t.Errorf("duplicate of fix %d after fix %d: outside the in-flight window %d", i, newest, window)
			}
			continue
		}
		seen[i] = true
		first = append(first, i)
		newest = max(newest, i)
	}
	if len(first) != len(want) {
		t.Fatalf("%d distinct fixes delivered, want %d", len(first), len(want))
	}
	for k := range want {
		if first[k] != want[k] {
			t.Fatalf("first deliveries out of order at %d: got fix %d, want %d (around %v)", k, first[k], want[k], first[max(0, k-3):min(len(first), k+3)])
		}
	}
	return dups
}

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// logRecorder is a slog handler that keeps records for assertions.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	wake    chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{wake: make(chan struct{}, 1)} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// matching returns records at level with msg containing substr.
func (l *logRecorder) matching(level slog.Level, substr string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// waitLogs waits until at least n records match.
func (l *logRecorder) waitLogs(t testing.TB, n int, level slog.Level, substr string, timeout time.Duration) []slog.Record {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if rs := l.matching(level, substr); len(rs) >= n {
			return rs
		}
		select {
		case <-l.wake:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %d %v logs containing %q; have %d", n, level, substr, len(l.matching(level, substr)))
		}
	}
}

// proxy is a TCP proxy to the broker whose connections the test can cut, to drop the
// uplink's connection without stopping the broker (so the broker publishes the will).
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	swallow atomic.Bool // drop everything the broker sends (PUBACKs included)
}

func newProxy(t testing.TB, b *mosquittotest.Broker) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	target := fmt.Sprintf("127.0.0.1:%d", b.Port())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 && !p.swallow.Load() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) url() string { return "tcp://" + p.ln.Addr().String() }

// cut closes every proxied connection abruptly.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// watchedDB wraps the store to wake waiters after every OutboxAck, so tests wait on an
// event, not a poll.
type watchedDB struct {
	*store.DB
	acked chan struct{}
}

func watch(db *store.DB) *watchedDB { return &watchedDB{DB: db, acked: make(chan struct{}, 1)} }

func (w *watchedDB) OutboxAck(seqs ...uint64) error {
	err := w.DB.OutboxAck(seqs...)
	select {
	case w.acked <- struct{}{}:
	default:
	}
	return err
}

// waitLen waits until the outbox holds at most n fixes.
func (w *watchedDB) waitLen(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if c, _ := w.OutboxLen(); c <= n {
			return
		}
		select {
		case <-w.acked:
		case <-deadline.C:
			c, _ := w.OutboxLen()
			t.Fatalf("outbox still holds %d fixes after %v, want ≤ %d", c, timeout, n)
		}
	}
}
