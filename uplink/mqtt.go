// Package uplink publishes committed fixes from the store's outbox to an MQTT 3.1.1
// broker and keeps the receiver's availability and model topics.
//
// # Basics
//
// Topics, with the default prefix:
//
//	heimdall/<receiver_id>/fix           one fix (GeoJSON Feature) per message, QoS 1, not retained
//	heimdall/<receiver_id>/availability  "online" retained after every connect; will "offline" retained
//	heimdall/<receiver_id>/model         retained JSON {name, version, sha256, since}
//
// The pipeline commits fixes to the store, then calls Notify. Run drains the outbox in
// Seq order with at most Inflight fixes awaiting acknowledgement, and deletes an entry
// only once paho reports its PUBACK (QoS 1) or PUBCOMP (QoS 2). Run never blocks startup
// on the broker: it retries with capped exponential backoff, logging each failure's
// reason, until its context ends; then it publishes "offline" and disconnects.
//
// # Caveats
//
// Each connection uses a clean session and a fresh paho in-memory store: what was in
// flight when a connection dropped is published again from the outbox after the
// reconnect. A consumer can therefore see up to Inflight duplicates per reconnect, with
// the same fix id (and seq), and should drop them by id. Order holds for first
// deliveries.
package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/heimdall/edged/store"
)

// Outbox is what the uplink needs from the store; *store.DB satisfies it.
type Outbox interface {
	// OutboxPeekAfter returns up to max waiting fixes with Seq > afterSeq, in Seq order.
	OutboxPeekAfter(afterSeq uint64, max int) ([]store.Fix, error)
	// OutboxAck removes delivered fixes; unknown Seqs are ignored.
	OutboxAck(seqs ...uint64) error
	// OutboxLen is the number of waiting fixes and their summed body size.
	OutboxLen() (count int, bytes int64)
	// Dropped counts fixes the outbox dropped because it was full.
	Dropped() uint64
}

// ModelInfo is the retained payload of <prefix>/<receiver_id>/model.
type ModelInfo struct {
	Name    string    `json:"name"`    // registered model name
	Version string    `json:"version"` // registry version
	SHA256  string    `json:"sha256"`  // of the ONNX file, hex
	Since   time.Time `json:"since"`   // when it became active
}

// Reasons a connection attempt failed, the keys of Stats.ConnectFailures.
const (
	ReasonNotAuthorised = "not_authorised"
	ReasonTLS           = "tls"
	ReasonUnreachable   = "unreachable"
	ReasonRefused       = "refused"
	ReasonTimeout       = "timeout"
	ReasonOther         = "other"
)

// Stats are counters since New, for the metrics the daemon exports.
type Stats struct {
	Connected        bool              // a session is up and "online" was published
	Published        uint64            // fixes acknowledged by the broker and removed from the outbox
	PublishErrors    uint64            // publishes that failed (connection lost in flight, timeout)
	Connects         uint64            // successful connections
	ConnectFailures  map[string]uint64 // failed connection attempts by Reason*
	ConnectionLosses uint64            // established connections that dropped
	LastConnectError string            // the latest connect failure, "" if none
	Inflight         int               // fixes awaiting acknowledgement now
	OutboxCount      int               // fixes waiting in the outbox (in flight included)
	OutboxBytes      int64             // their summed body size
	Dropped          uint64            // fixes the full outbox dropped (from the store)
}

// MQTT is the uplink. Create it with New and run it with Run.
type MQTT struct {
	cfg      Config
	db       Outbox
	log      *slog.Logger
	url      string
	tls      *tls.Config
	password string
	topicFix string
	topicAv  string
	topicMdl string
	wake     chan struct{}
	running  atomic.Bool

	connected  atomic.Bool
	published  atomic.Uint64
	pubErrors  atomic.Uint64
	connects   atomic.Uint64
	losses     atomic.Uint64
	inflight   atomic.Int64
	mu         sync.Mutex // guards the fields below
	failures   map[string]uint64
	lastErr    string
	model      *ModelInfo
	client     mqtt.Client // current connected client, nil between sessions
	pollPeriod time.Duration
}

// New checks cfg, reads the password and TLS files, and returns an uplink that has not
// connected yet. log may be nil for silence.
func New(cfg Config, db Outbox, log *slog.Logger) (*MQTT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("%w: nil outbox", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, _ := cfg.brokerURL()
	m := &MQTT{
		cfg:        cfg,
		db:         db,
		log:        log,
		url:        u.String(),
		topicFix:   cfg.Prefix + "/" + cfg.ReceiverID + "/fix",
		topicAv:    cfg.Prefix + "/" + cfg.ReceiverID + "/availability",
		topicMdl:   cfg.Prefix + "/" + cfg.ReceiverID + "/model",
		wake:       make(chan struct{}, 1),
		failures:   map[string]uint64{},
		pollPeriod: time.Second,
	}
	switch {
	case cfg.PasswordFile != "":
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: password_file: %w", err)
		}
		m.password = strings.TrimRight(string(b), "\r\n")
	case cfg.PasswordEnv != "":
		p, ok := os.LookupEnv(cfg.PasswordEnv)
		if !ok || p == "" {
			return nil, fmt.Errorf("%w: password_env: environment variable %s is unset or empty", ErrInvalidConfig, cfg.PasswordEnv)
		}
		m.password = p
	}
	if isTLSScheme(u.Scheme) {
		t, err := cfg.TLS.build()
		if err != nil {
			return nil, err
		}
		m.tls = t
	}
	return m, nil
}

func (t TLSConfig) build() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: tls.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls.ca_file %s: no PEM certificates in it", ErrInvalidConfig, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink: tls.cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Notify wakes the drain loop; the pipeline calls it after each Commit. It never
// blocks. Without it the outbox is still polled every second.
func (m *MQTT) Notify() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Connected reports whether a session is up.
func (m *MQTT) Connected() bool { return m.connected.Load() }

// Stats returns a snapshot of the counters.
func (m *MQTT) Stats() Stats {
	count, bytes := m.db.OutboxLen()
	s := Stats{
		Connected:        m.connected.Load(),
		Published:        m.published.Load(),
		PublishErrors:    m.pubErrors.Load(),
		Connects:         m.connects.Load(),
		ConnectionLosses: m.losses.Load(),
		Inflight:         int(m.inflight.Load()),
		OutboxCount:      count,
		OutboxBytes:      bytes,
		Dropped:          m.db.Dropped(),
		ConnectFailures:  map[string]uint64{},
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.failures {
		s.ConnectFailures[k] = v
	}
	s.LastConnectError = m.lastErr
	return s
}

// PublishModel remembers info and publishes it retained on the model topic now if
// connected (waiting for the acknowledgement) and after every reconnect. It returns nil
// when not connected: the model goes out with the next connection. An error means this
// publish failed; info is still remembered for the next connection.
func (m *MQTT) PublishModel(info ModelInfo) error {
	if _, err := json.Marshal(info); err != nil {
		return fmt.Errorf("uplink: model info: %w", err)
	}
	m.mu.Lock()
	m.model = &info
	c := m.client
	m.mu.Unlock()
	if c == nil {
		return nil
	}
	return m.publishModel(c, info)
}

func (m *MQTT) publishModel(c mqtt.Client, info ModelInfo) error {
	payload, _ := json.Marshal(info)
	if err := m.waitToken(c.Publish(m.topicMdl, 1, true, payload)); err != nil {
		return fmt.Errorf("uplink: publish model to %s: %w", m.topicMdl, err)
	}
	return nil
}

func (m *MQTT) waitToken(t mqtt.Token) error {
	if !t.WaitTimeout(time.Duration(m.cfg.ConnectTimeoutSeconds) * time.Second) {
		return ErrTimeout
	}
	return t.Error()
}

// Run connects, drains the outbox and reconnects until ctx ends; then it publishes
// "offline" and disconnects, and returns nil. It returns an error only if called twice.
func (m *MQTT) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("uplink: Run called twice")
	}
	defer m.running.Store(false)
	minDelay := time.Duration(m.cfg.ReconnectMinMs) * time.Millisecond
	maxDelay := time.Duration(m.cfg.ReconnectMaxMs) * time.Millisecond
	delay := minDelay
	for ctx.Err() == nil {
		client, lost, err := m.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			reason := reasonOf(err)
			m.mu.Lock()
			m.failures[reason]++
			m.lastErr = err.Error()
			m.mu.Unlock()
			// Jitter ±20% so receivers that lost the same broker do not return in step.
			wait := time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
			m.log.Warn("uplink: connect failed", "broker", m.url, "reason", reason, "err", err, "retry_in", wait.Round(time.Millisecond))
			if !sleepCtx(ctx, wait) {
				break
			}
			delay = min(2*delay, maxDelay)
			continue
		}
		start := time.Now()
		err = m.session(ctx, client, lost)
		m.endSession(client, ctx.Err() != nil)
		if ctx.Err() != nil {
			break
		}
		m.losses.Add(1)
		m.log.Warn("uplink: connection lost; reconnecting", "broker", m.url, "err", err)
		// A connection that dropped at once (e.g. another client with our id) must not
		// make us reconnect in a tight loop: reset the backoff only after a stable one.
		if time.Since(start) > maxDelay {
			delay = minDelay
		}
		if !sleepCtx(ctx, delay) {
			break
		}
		delay = min(2*delay, maxDelay)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reasonOf classifies a connect error for Stats and logs.
func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrNotAuthorised):
		return ReasonNotAuthorised
	case errors.Is(err, ErrTLS):
		return ReasonTLS
	case errors.Is(err, ErrUnreachable):
		return ReasonUnreachable
	case errors.Is(err, ErrRefused):
		return ReasonRefused
	case errors.Is(err, ErrTimeout):
		return ReasonTimeout
	}
	return ReasonOther
}

// classify wraps a paho connect error with our sentinel.
func classify(err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
		alert     tls.AlertError
		verify    *tls.CertificateVerificationError
		netErr    net.Error
		opErr     *net.OpError
		dnsErr    *net.DNSError
	)
	switch {
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return fmt.Errorf("%w: %w", ErrNotAuthorised, err)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &recordErr), errors.As(err, &alert), errors.As(err, &verify):
		return fmt.Errorf("%w: %w", ErrTLS, err)
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion), errors.Is(err, packets.ErrorRefusedIDRejected),
		errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &dnsErr), errors.As(err, &opErr):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// connect makes one attempt: dial, CONNECT, then "online" and the model, retained.
func (m *MQTT) connect(ctx context.Context) (mqtt.Client, <-chan struct{}, error) {
	lost := make(chan struct{})
	var once sync.Once
	timeout := time.Duration(m.cfg.ConnectTimeoutSeconds) * time.Second
	o := mqtt.NewClientOptions().
		AddBroker(m.url).
		SetClientID(m.cfg.ClientID).
		SetProtocolVersion(4).   // MQTT 3.1.1
		SetCleanSession(true).   // the outbox, not the broker session, carries redelivery
		SetAutoReconnect(false). // Run reconnects, with our backoff and logging
		SetConnectRetry(false).
		SetKeepAlive(time.Duration(m.cfg.KeepaliveSeconds)*time.Second).
		SetConnectTimeout(timeout).
		SetWriteTimeout(timeout).
		SetWill(m.topicAv, "offline", 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, _ error) { once.Do(func() { close(lost) }) })
	if m.cfg.Username != "" {
		o.SetUsername(m.cfg.Username).SetPassword(m.password)
	}
	if m.tls != nil {
		o.SetTLSConfig(m.tls.Clone())
		if m.cfg.TLS.InsecureSkipVerify {
			m.log.Warn("uplink: TLS certificate verification is OFF (tls.insecure_skip_verify); anyone on the path can read and forge this connection", "broker", m.url)
		}
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// The attempt ends by itself within connect_timeout; disconnect if it succeeded.
		go func() {
			if tok.WaitTimeout(timeout) && tok.Error() == nil {
				c.Disconnect(0)
			}
		}()
		return nil, nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, nil, fmt.Errorf("connect %s as %q: %w", m.url, m.cfg.ClientID, classify(err))
	}
	if err := m.waitToken(c.Publish(m.topicAv, 1, true, "online")); err != nil {
		c.Disconnect(0)
		return nil, nil, fmt.Errorf("publish online to %s: %w", m.topicAv, err)
	}
	m.mu.Lock()
	model := m.model
	m.client = c
	m.mu.Unlock()
	if model != nil {
		if err := m.publishModel(c, *model); err != nil {
			m.log.Warn("uplink: model not published; will retry after the next reconnect", "err", err)
		}
	}
	m.connects.Add(1)
	m.connected.Store(true)
	m.log.Info("uplink: connected", "broker", m.url, "client_id", m.cfg.ClientID, "topic", m.topicFix)
	return c, lost, nil
}

// endSession publishes "offline" on a clean shutdown and closes the client.
func (m *MQTT) endSession(c mqtt.Client, shutdown bool) {
	m.connected.Store(false)
	m.mu.Lock()
	m.client = nil
	m.mu.Unlock()
	if shutdown && c.IsConnectionOpen() {
		if err := m.waitToken(c.Publish(m.topicAv, 1, true, "offline")); err != nil {
			m.log.Warn("uplink: offline not published on shutdown; the broker's will covers it", "err", err)
		}
		c.Disconnect(250)
		m.log.Info("uplink: disconnected", "broker", m.url)
		return
	}
	c.Disconnect(0)
}

type pending struct {
	seq uint64
	tok mqtt.Token
}

func done(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// session drains the outbox over one connection until ctx ends or it drops.
func (m *MQTT) session(ctx context.Context, c mqtt.Client, lost <-chan struct{}) error {
	var (
		queue  []pending // in Seq order, oldest first
		cursor uint64    // highest Seq handed to paho
		qos    = byte(m.cfg.QoS)
	)
	defer m.inflight.Store(0)
	ak := newAcker(m)
	// Flush acknowledgements before a reconnect re-reads the outbox, so fixes the broker
	// has are not sent again.
	defer ak.close()
	poll := time.NewTicker(m.pollPeriod)
	defer poll.Stop()
	// Refill only when a quarter of the window is free (or it is empty): one outbox read
	// per few acknowledgements instead of one per acknowledgement.
	refillAt := max(1, m.cfg.Inflight/4)
	for {
		if free := m.cfg.Inflight - len(queue); free >= refillAt || len(queue) == 0 {
			fixes, err := m.db.OutboxPeekAfter(cursor, free)
			if err != nil {
				// A store read error is not the broker's fault: keep the session, retry
				// on the next wake or poll.
				m.log.Error("uplink: reading the outbox", "err", err)
			}
			for _, f := range fixes {
				queue = append(queue, pending{f.Seq, c.Publish(m.topicFix, qos, false, f.Body)})
				cursor = f.Seq
			}
			m.inflight.Store(int64(len(queue)))
		}
		if len(queue) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-lost:
				return ErrConnectionLost
			case <-m.wake:
			case <-poll.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			m.finish(queue, ak)
			return ctx.Err()
		case <-lost:
			return ErrConnectionLost
		case <-queue[0].tok.Done():
			var err error
			queue, err = m.ackDone(queue, ak)
			if err != nil {
				return err
			}
		}
	}
}

// ackDone removes the completed prefix of queue and hands it to the acker.
func (m *MQTT) ackDone(queue []pending, ak *acker) ([]pending, error) {
	var seqs []uint64
	i := 0
	var failed error
	for ; i < len(queue) && done(queue[i].tok); i++ {
		if err := queue[i].tok.Error(); err != nil {
			m.pubErrors.Add(1)
			failed = fmt.Errorf("publish seq %d: %w", queue[i].seq, err)
			break
		}
		seqs = append(seqs, queue[i].seq)
	}
	ak.add(seqs)
	if failed != nil {
		// Later messages may be out already; reconnecting re-sends from the oldest
		// unacknowledged fix so order holds for first deliveries.
		return nil, failed
	}
	n := copy(queue, queue[i:])
	queue = queue[:n]
	m.inflight.Store(int64(len(queue)))
	return queue, nil
}

// finish waits briefly on shutdown for fixes in flight, so a clean stop leaves no
// duplicates behind.
func (m *MQTT) finish(queue []pending, ak *acker) {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for len(queue) > 0 {
		select {
		case <-deadline.C:
			return
		case <-queue[0].tok.Done():
			var err error
			if queue, err = m.ackDone(queue, ak); err != nil {
				return
			}
		}
	}
}

// acker deletes acknowledged fixes from the outbox in its own goroutine, so publishing
// goes on during the fsync. Acknowledgements arriving during one transaction are written
// together in the next, so the batch grows with the load.
type acker struct {
	m    *MQTT
	mu   sync.Mutex
	seqs []uint64
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newAcker(m *MQTT) *acker {
	a := &acker{m: m, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *acker) add(seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	a.mu.Lock()
	a.seqs = append(a.seqs, seqs...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *acker) run() {
	defer close(a.done)
	for {
		select {
		case <-a.wake:
			a.flush()
		case <-a.stop:
			a.flush()
			return
		}
	}
}

func (a *acker) flush() {
	a.mu.Lock()
	seqs := a.seqs
	a.seqs = nil
	a.mu.Unlock()
	if len(seqs) == 0 {
		return
	}
	if err := a.m.db.OutboxAck(seqs...); err != nil {
		// The fixes stay in the outbox and will be sent again: duplicates, not loss.
		a.m.log.Error("uplink: acknowledging delivered fixes in the outbox", "err", err)
		return
	}
	a.m.published.Add(uint64(len(seqs)))
}

// close writes what is pending and stops the goroutine.
func (a *acker) close() {
	close(a.stop)
	<-a.done
}
