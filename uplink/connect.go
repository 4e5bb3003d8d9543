package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

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

// lostSignal is fired by paho's connection-lost handler, with paho's cause.
type lostSignal struct {
	ch   chan struct{}
	once sync.Once
	err  error
}

func newLostSignal() *lostSignal { return &lostSignal{ch: make(chan struct{})} }

func (l *lostSignal) fire(err error) {
	l.once.Do(func() {
		if err == nil {
			err = errors.New("no cause given")
		}
		l.err = err
		close(l.ch)
	})
}

// done is closed when the connection is lost.
func (l *lostSignal) done() <-chan struct{} { return l.ch }

// fired reports whether the connection was lost.
func (l *lostSignal) fired() bool {
	select {
	case <-l.ch:
		return true
	default:
		return false
	}
}

// cause is ErrConnectionLost wrapped with paho's reason; call it after done is closed.
func (l *lostSignal) cause() error { return fmt.Errorf("%w: %w", ErrConnectionLost, l.err) }

// connect makes one attempt: dial, CONNECT, then "online" and the model, retained.
func (m *MQTT) connect(ctx context.Context) (mqtt.Client, *lostSignal, error) {
	lost := newLostSignal()
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
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost.fire(err) })
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
	m.connects.Add(1)
	// A stop during this wait must not hang on the broker for connect_timeout.
	if err := waitToken(ctx, c.Publish(m.topicAv, 1, true, "online"), timeout); err != nil {
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
	m.connected.Store(true)
	m.log.Info("uplink: connected", "broker", m.url, "client_id", m.cfg.ClientID, "topic", m.topicFix)
	return c, lost, nil
}
