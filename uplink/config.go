package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/internal/backoff"
)

// Config is the `mqtt:` section of edged.yaml. Start from DefaultConfig and overlay the
// file: a zero QoS means QoS 0, not the default 1. An empty Broker turns the uplink off.
type Config struct {
	// Broker is the broker URL: tcp:// or mqtt:// (port 1883 if omitted), ssl://,
	// tls:// or mqtts:// (port 8883 if omitted).
	Broker string `yaml:"broker" json:"broker"`
	// ClientID is the MQTT client id; default "edged-<receiver_id>", stable across
	// restarts. Two edged with the same id knock each other off the broker.
	ClientID string `yaml:"client_id" json:"client_id"`
	// Prefix starts every topic: <prefix>/<receiver_id>/{fix,availability,model}.
	Prefix string `yaml:"prefix" json:"prefix"`
	// ReceiverID names this receiver in topics and client id. It is the top-level
	// receiver_id of edged.yaml, which the caller copies here; the section has no key of
	// its own for it, so that fix ids and topics cannot disagree.
	ReceiverID string `yaml:"-" json:"receiver_id"`
	// QoS for fixes: 0, 1 (default) or 2. At QoS 0 an outbox entry is deleted once
	// written to the socket, so a broker outage can lose what was in flight.
	QoS int `yaml:"qos" json:"qos"`
	// TLS applies to ssl://, tls:// and mqtts:// brokers.
	TLS TLSConfig `yaml:"tls" json:"tls"`
	// Username for the broker; the password comes from PasswordFile or PasswordEnv.
	Username string `yaml:"username" json:"username"`
	// PasswordFile holds the password (trailing newline ignored). A path starting with
	// $CREDENTIALS_DIRECTORY/ is in systemd's credential directory (check.Path).
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env" json:"password_env"`
	// Password exists only to be refused by Validate with a clear message, whether or not
	// the uplink is on: a password in a config file or on a command line leaks through
	// backups and ps.
	Password string `yaml:"password" json:"password"`
	// KeepaliveSeconds is the MQTT keepalive (default 30).
	KeepaliveSeconds int `yaml:"keepalive_seconds" json:"keepalive_seconds"`
	// ConnectTimeoutSeconds bounds one connection attempt (default 10).
	ConnectTimeoutSeconds int `yaml:"connect_timeout_seconds" json:"connect_timeout_seconds"`
	// ReconnectMinMs is the wait after the first failed attempt or a lost connection
	// (default 500); it doubles with each further failure and starts again from here after
	// every successful connection.
	ReconnectMinMs int `yaml:"reconnect_min_ms" json:"reconnect_min_ms"`
	// ReconnectMaxMs caps every wait, jitter included (default 3000): edged is publishing
	// again within about this long of the broker accepting connections, however long it
	// was gone.
	ReconnectMaxMs int `yaml:"reconnect_max_ms" json:"reconnect_max_ms"`
	// Inflight is how many fixes may await their PUBACK/PUBCOMP at once (default 64).
	// It is also the most duplicates a consumer can see after a reconnect.
	Inflight int `yaml:"inflight" json:"inflight"`
}

// TLSConfig configures TLS to the broker. Verification is on unless InsecureSkipVerify.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key, for brokers that
	// require one. Paths resolve like PasswordFile's.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name" json:"server_name"`
	// InsecureSkipVerify turns certificate verification off; edged warns at every
	// connect while it is set.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// Defaults filled in for zero fields (QoS excepted, see Config).
const (
	DefaultPrefix                = "heimdall"
	DefaultQoS                   = 1
	DefaultKeepaliveSeconds      = 30
	DefaultConnectTimeoutSeconds = 10
	DefaultReconnectMinMs        = 500
	DefaultReconnectMaxMs        = 3000
	DefaultInflight              = 64
)

// DefaultConfig is the configuration before the file is applied: the uplink off.
func DefaultConfig() Config {
	return Config{
		Prefix:                DefaultPrefix,
		QoS:                   DefaultQoS,
		KeepaliveSeconds:      DefaultKeepaliveSeconds,
		ConnectTimeoutSeconds: DefaultConnectTimeoutSeconds,
		ReconnectMinMs:        DefaultReconnectMinMs,
		ReconnectMaxMs:        DefaultReconnectMaxMs,
		Inflight:              DefaultInflight,
	}
}

// withDefaults fills zero fields, QoS excepted.
func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.ClientID == "" && c.ReceiverID != "" {
		c.ClientID = "edged-" + c.ReceiverID
	}
	if c.KeepaliveSeconds == 0 {
		c.KeepaliveSeconds = DefaultKeepaliveSeconds
	}
	if c.ConnectTimeoutSeconds == 0 {
		c.ConnectTimeoutSeconds = DefaultConnectTimeoutSeconds
	}
	if c.ReconnectMinMs == 0 {
		c.ReconnectMinMs = DefaultReconnectMinMs
	}
	if c.ReconnectMaxMs == 0 {
		c.ReconnectMaxMs = max(DefaultReconnectMaxMs, c.ReconnectMinMs)
	}
	if c.Inflight == 0 {
		c.Inflight = DefaultInflight
	}
	return c
}

// Largest files the section names: a PEM bundle or a password is kilobytes.
const (
	maxPasswordBytes = 64 << 10
	maxPEMBytes      = 1 << 20
)

// Enabled reports whether a broker is set.
func (c Config) Enabled() bool { return c.Broker != "" }

// retryPolicy is the reconnection schedule: from ReconnectMinMs doubling up to
// ReconnectMaxMs, each wait spread over its upper half.
func (c Config) retryPolicy() backoff.Policy {
	return backoff.Policy{
		Min:    time.Duration(c.ReconnectMinMs) * time.Millisecond,
		Max:    time.Duration(c.ReconnectMaxMs) * time.Millisecond,
		Jitter: backoff.DefaultJitter,
	}
}

// isTLSScheme reports whether paho dials TLS for this URL scheme.
func isTLSScheme(s string) bool {
	switch s {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return true
	}
	return false
}

// brokerURL parses Broker and adds the default port. Messages never show the broker's user
// information.
func (c Config) brokerURL() (*url.URL, error) {
	shown := check.RedactURL(c.Broker)
	if check.HasUserInfo(c.Broker) {
		return nil, fmt.Errorf("%q: credentials in the URL are refused (they would show in logs); set username and password_file", shown)
	}
	u, err := url.Parse(c.Broker)
	if err != nil {
		return nil, fmt.Errorf("%q: not a URL", shown)
	}
	switch {
	case u.Scheme == "tcp" || u.Scheme == "mqtt":
		if u.Port() == "" {
			u.Host += ":1883"
		}
	case isTLSScheme(u.Scheme):
		if u.Port() == "" {
			u.Host += ":8883"
		}
	default:
		return nil, fmt.Errorf("%q: scheme must be tcp://, mqtt://, ssl://, tls:// or mqtts://", shown)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", shown)
	}
	return u, nil
}

// Validate checks the section and reads the files it names (password, TLS), as New does,
// so that a missing or unusable one is a configuration error before anything connects. It
// never touches the network. With no broker only the refusal of a plain password applies.
// Errors are keyed relative to the section and match ErrInvalidConfig.
func (c Config) Validate() error {
	_, _, err := c.load()
	return err
}

// secrets is what load reads from files and the environment.
type secrets struct {
	password string
	tls      *tls.Config
}

// load checks the section and reads its secrets; New and Validate share it, so both refuse
// the same things with the same words.
func (c Config) load() (*url.URL, secrets, error) {
	l := check.NewList(ErrInvalidConfig)
	var s secrets
	if c.Password != "" {
		l.Add("password", "not accepted in the config (it would leak through backups and ps); use password_file or password_env")
	}
	if !c.Enabled() {
		return nil, s, l.Err()
	}
	c = c.withDefaults()
	u, err := c.brokerURL()
	if err != nil {
		l.Add("broker", "%v", err)
	}
	if err := check.ReceiverID(c.ReceiverID); err != nil {
		l.Add("receiver_id", "%v", err)
	}
	if strings.ContainsAny(c.Prefix, "+#\x00") || strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		l.Add("prefix", "%q: no +, # or NUL, and no leading or trailing /", c.Prefix)
	}
	if strings.ContainsAny(c.ClientID, "\x00") || len(c.ClientID) > 65535 {
		l.Add("client_id", "%q: no NUL, at most 65535 bytes", c.ClientID)
	}
	l.Int("qos", int64(c.QoS), 0, 2)
	switch {
	case c.PasswordFile != "" && c.PasswordEnv != "":
		l.Add("password_file", "set password_file or password_env, not both")
	case c.PasswordFile != "":
		b, err := check.ReadFile(c.PasswordFile, maxPasswordBytes)
		if err != nil {
			l.Add("password_file", "%v", err)
		}
		s.password = strings.TrimRight(string(b), "\r\n")
	case c.PasswordEnv != "":
		p, ok := os.LookupEnv(c.PasswordEnv)
		if !ok || p == "" {
			l.Add("password_env", "environment variable %s is unset or empty", c.PasswordEnv)
		}
		s.password = p
	}
	if (c.PasswordFile != "" || c.PasswordEnv != "") && c.Username == "" {
		l.Add("username", "required with a password (MQTT 3.1.1)")
	}
	if u != nil {
		switch tlsOn := isTLSScheme(u.Scheme); {
		case tlsOn:
			t, err := c.TLS.build()
			l.Wrap("tls", err)
			s.tls = t
		case c.TLS != TLSConfig{}:
			l.Add("tls", "set, but broker %q is not ssl://, tls:// or mqtts://", check.RedactURL(c.Broker))
		}
	}
	// paho takes whole seconds; an hour without a ping is no keepalive at all.
	l.Int("keepalive_seconds", int64(c.KeepaliveSeconds), 1, 3600)
	l.Int("connect_timeout_seconds", int64(c.ConnectTimeoutSeconds), 1, 600)
	if l.Int("reconnect_min_ms", int64(c.ReconnectMinMs), 1, 3_600_000) && c.ReconnectMaxMs < c.ReconnectMinMs {
		l.Add("reconnect_max_ms", "%d: want at least reconnect_min_ms (%d)", c.ReconnectMaxMs, c.ReconnectMinMs)
	}
	l.Int("reconnect_max_ms", int64(c.ReconnectMaxMs), 1, 3_600_000)
	// MQTT packet ids are 16 bits.
	l.Int("inflight", int64(c.Inflight), 1, 65535)
	return u, s, l.Err()
}

// build reads the TLS files; errors are keyed relative to the tls section.
func (t TLSConfig) build() (*tls.Config, error) {
	l := check.NewList(ErrInvalidConfig)
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := check.ReadFile(t.CAFile, maxPEMBytes)
		if err != nil {
			l.Add("ca_file", "%v", err)
		} else {
			c.RootCAs = x509.NewCertPool()
			if !c.RootCAs.AppendCertsFromPEM(pem) {
				l.Add("ca_file", "%s: no PEM certificates in it", t.CAFile)
			}
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		l.Add("cert_file", "tls.cert_file and tls.key_file go together")
	case t.CertFile != "":
		cert, errC := check.ReadFile(t.CertFile, maxPEMBytes)
		if errC != nil {
			l.Add("cert_file", "%v", errC)
		}
		key, errK := check.ReadFile(t.KeyFile, maxPEMBytes)
		if errK != nil {
			l.Add("key_file", "%v", errK)
		}
		if errC == nil && errK == nil {
			// X509KeyPair's errors name PEM blocks, never the key's bytes.
			if pair, err := tls.X509KeyPair(cert, key); err != nil {
				l.Add("cert_file", "%s with %s: %v", t.CertFile, t.KeyFile, err)
			} else {
				c.Certificates = []tls.Certificate{pair}
			}
		}
	}
	return c, l.Err()
}
