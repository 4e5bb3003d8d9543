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
// on the broker: it retries with capped, jittered exponential backoff (reset by every
// successful connection), logging each failure's reason, until its context ends; then it
// publishes "offline" and disconnects.
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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/backoff"
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
	Published        uint64            // fixes the broker acknowledged (PUBACK/PUBCOMP); deleted from the outbox right after
	PublishErrors    uint64            // publishes that failed on a connection that stayed up (timeout)
	PublishesLost    uint64            // publishes in flight when the connection dropped (sent again from the outbox)
	Connects         uint64            // connections the broker accepted (CONNACK 0)
	Reconnects       uint64            // of those, connections after the first
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
	pubLost    atomic.Uint64
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

// New checks cfg, reads the password and TLS files (as Validate does), and returns an
// uplink that has not connected yet. log may be nil for silence.
func New(cfg Config, db Outbox, log *slog.Logger) (*MQTT, error) {
	if !cfg.Enabled() {
		return nil, fmt.Errorf("%w: broker: not set", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	u, sec, err := cfg.load()
	if err != nil {
		return nil, err
	}
	if db == nil {
		return nil, fmt.Errorf("%w: nil outbox", ErrInvalidConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MQTT{
		cfg:        cfg,
		db:         db,
		log:        log,
		url:        u.String(),
		password:   sec.password,
		tls:        sec.tls,
		topicFix:   cfg.Prefix + "/" + cfg.ReceiverID + "/fix",
		topicAv:    cfg.Prefix + "/" + cfg.ReceiverID + "/availability",
		topicMdl:   cfg.Prefix + "/" + cfg.ReceiverID + "/model",
		wake:       make(chan struct{}, 1),
		failures:   map[string]uint64{},
		pollPeriod: time.Second,
	}
	return m, nil
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
		PublishesLost:    m.pubLost.Load(),
		Connects:         m.connects.Load(),
		ConnectionLosses: m.losses.Load(),
		Inflight:         int(m.inflight.Load()),
		OutboxCount:      count,
		OutboxBytes:      bytes,
		Dropped:          m.db.Dropped(),
		ConnectFailures:  map[string]uint64{},
	}
	s.Reconnects = max(s.Connects, 1) - 1
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
	return waitToken(context.Background(), t, time.Duration(m.cfg.ConnectTimeoutSeconds)*time.Second)
}

// waitToken waits for t for at most limit, or until ctx ends.
func waitToken(ctx context.Context, t mqtt.Token, limit time.Duration) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-timer.C:
		return ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

// What a stop spends on the broker once the pipeline has drained, whatever the broker does
// (a hung one included): up to finishWait for fixes in flight (drain.go), then up to
// offlineWait for `offline` (the retained will says it anyway if this fails), then
// disconnectQuiesceMs for DISCONNECT: 2.25 s in all, however long connect_timeout_seconds is.
const (
	finishWait          = time.Second
	offlineWait         = time.Second
	disconnectQuiesceMs = 250
)

// Run connects, drains the outbox and reconnects until ctx ends; then it publishes
// "offline" and disconnects, and returns nil. It returns an error only if called twice.
func (m *MQTT) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("uplink: Run called twice")
	}
	defer m.running.Store(false)
	retry := backoff.New(m.cfg.retryPolicy())
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
			wait := retry.Fail()
			m.log.Warn("uplink: connect failed", "broker", m.url, "reason", reason, "err", err, "retry_in", wait.Round(time.Millisecond))
			if backoff.Sleep(ctx, wait) != nil {
				break
			}
			continue
		}
		// The broker is back: whatever the outage before, a drop from now on is retried
		// from the shortest wait, so a blip after a long outage costs a blip.
		retry.Reset()
		unacked, err := m.session(ctx, client, lost)
		open := client.IsConnectionOpen()
		if !open && !lost.fired() && ctx.Err() == nil {
			// paho fails the publishes in flight before it calls the lost handler with
			// the reason: wait for that reason, briefly, so the log can say it.
			select {
			case <-lost.done():
			case <-time.After(2 * time.Second):
			}
		}
		if lost.fired() {
			err = lost.cause()
		}
		m.endSession(client, ctx.Err() != nil)
		if ctx.Err() != nil {
			break
		}
		if !open || lost.fired() {
			m.pubLost.Add(uint64(unacked))
		} else if unacked > 0 {
			m.pubErrors.Add(1)
		}
		m.losses.Add(1)
		// A connection dropped at once (another client with our id, say) still waits
		// before the next attempt: no tight loop.
		wait := retry.Fail()
		m.log.Warn("uplink: connection lost; reconnecting", "broker", m.url, "err", err, "unacknowledged", unacked, "retry_in", wait.Round(time.Millisecond))
		if backoff.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// endSession publishes "offline" on a clean shutdown and closes the client.
func (m *MQTT) endSession(c mqtt.Client, shutdown bool) {
	m.connected.Store(false)
	m.mu.Lock()
	m.client = nil
	m.mu.Unlock()
	if shutdown && c.IsConnectionOpen() {
		if err := waitToken(context.Background(), c.Publish(m.topicAv, 1, true, "offline"), offlineWait); err != nil {
			m.log.Warn("uplink: offline not published on shutdown; the broker's will covers it", "err", err)
		}
		c.Disconnect(disconnectQuiesceMs)
		m.log.Info("uplink: disconnected", "broker", m.url)
		return
	}
	c.Disconnect(0)
}
