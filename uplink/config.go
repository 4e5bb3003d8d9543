package uplink

import (
	"fmt"
	"net/url"
	"strings"
)

// Config is the `uplink:` section of edged.yaml. Start from DefaultConfig and overlay the
// file: a zero QoS means QoS 0, not the default 1.
type Config struct {
	// Broker is the broker URL: tcp:// or mqtt:// (port 1883 if omitted), ssl://,
	// tls:// or mqtts:// (port 8883 if omitted).
	Broker string `yaml:"broker" json:"broker"`
	// ClientID is the MQTT client id; default "edged-<receiver_id>", stable across
	// restarts. Two edged with the same id knock each other off the broker.
	ClientID string `yaml:"client_id" json:"client_id"`
	// Prefix starts every topic: <prefix>/<receiver_id>/{fix,availability,model}.
	Prefix string `yaml:"prefix" json:"prefix"`
	// ReceiverID names this receiver in topics and client id.
	ReceiverID string `yaml:"receiver_id" json:"receiver_id"`
	// QoS for fixes: 0, 1 (default) or 2. At QoS 0 an outbox entry is deleted once
	// written to the socket, so a broker outage can lose what was in flight.
	QoS int `yaml:"qos" json:"qos"`
	// TLS applies to ssl://, tls:// and mqtts:// brokers.
	TLS TLSConfig `yaml:"tls" json:"tls"`
	// Username for the broker; the password comes from PasswordFile or PasswordEnv.
	Username string `yaml:"username" json:"username"`
	// PasswordFile holds the password (trailing newline ignored).
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env" json:"password_env"`
	// Password exists only to be refused by Validate with a clear message: a password in
	// a config file or on a command line leaks through backups and ps.
	Password string `yaml:"password" json:"password"`
	// KeepaliveSeconds is the MQTT keepalive (default 30).
	KeepaliveSeconds int `yaml:"keepalive_seconds" json:"keepalive_seconds"`
	// ConnectTimeoutSeconds bounds one connection attempt (default 10).
	ConnectTimeoutSeconds int `yaml:"connect_timeout_seconds" json:"connect_timeout_seconds"`
	// ReconnectMinMs is the first retry delay after a failed connect (default 1000).
	ReconnectMinMs int `yaml:"reconnect_min_ms" json:"reconnect_min_ms"`
	// ReconnectMaxMs caps the doubling retry delay (default 60000, rtl_433's cap).
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
	// require one.
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
	DefaultReconnectMinMs        = 1000
	DefaultReconnectMaxMs        = 60000
	DefaultInflight              = 64
)

// DefaultConfig is the configuration before the file is applied.
func DefaultConfig() Config {
	return Config{
		Broker:                "tcp://localhost:1883",
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

// isTLSScheme reports whether paho dials TLS for this URL scheme.
func isTLSScheme(s string) bool {
	switch s {
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		return true
	}
	return false
}

// brokerURL parses Broker and adds the default port.
func (c Config) brokerURL() (*url.URL, error) {
	u, err := url.Parse(c.Broker)
	if err != nil {
		return nil, fmt.Errorf("%w: broker %q: %v", ErrInvalidConfig, c.Broker, err)
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
		return nil, fmt.Errorf("%w: broker %q: scheme must be tcp://, mqtt://, ssl://, tls:// or mqtts://", ErrInvalidConfig, c.Broker)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: broker %q: no host", ErrInvalidConfig, c.Broker)
	}
	return u, nil
}

// topicSafe rejects what would break or widen a topic.
func topicSafe(key, v string) error {
	if strings.ContainsAny(v, "+#\x00") {
		return fmt.Errorf("%w: %s %q: must not contain +, # or NUL", ErrInvalidConfig, key, v)
	}
	return nil
}

// Validate checks the config without any I/O (files are read by New).
func (c Config) Validate() error {
	c = c.withDefaults()
	u, err := c.brokerURL()
	if err != nil {
		return err
	}
	if c.ReceiverID == "" {
		return fmt.Errorf("%w: receiver_id is required", ErrInvalidConfig)
	}
	if strings.Contains(c.ReceiverID, "/") {
		return fmt.Errorf("%w: receiver_id %q: must not contain /", ErrInvalidConfig, c.ReceiverID)
	}
	if err := topicSafe("receiver_id", c.ReceiverID); err != nil {
		return err
	}
	if err := topicSafe("prefix", c.Prefix); err != nil {
		return err
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/") {
		return fmt.Errorf("%w: prefix %q: no leading or trailing /", ErrInvalidConfig, c.Prefix)
	}
	if c.QoS < 0 || c.QoS > 2 {
		return fmt.Errorf("%w: qos %d: must be 0, 1 or 2", ErrInvalidConfig, c.QoS)
	}
	if c.Password != "" {
		return fmt.Errorf("%w: password: not accepted in the config; use password_file or password_env", ErrInvalidConfig)
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		return fmt.Errorf("%w: password_file and password_env: set one, not both", ErrInvalidConfig)
	}
	if (c.PasswordFile != "" || c.PasswordEnv != "") && c.Username == "" {
		return fmt.Errorf("%w: username is required with a password (MQTT 3.1.1)", ErrInvalidConfig)
	}
	tlsSet := c.TLS != TLSConfig{}
	if tlsSet && !isTLSScheme(u.Scheme) {
		return fmt.Errorf("%w: tls is set but broker %q is not ssl://, tls:// or mqtts://", ErrInvalidConfig, c.Broker)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return fmt.Errorf("%w: tls.cert_file and tls.key_file go together", ErrInvalidConfig)
	}
	if c.KeepaliveSeconds < 0 || c.ConnectTimeoutSeconds < 0 {
		return fmt.Errorf("%w: keepalive_seconds and connect_timeout_seconds must be positive", ErrInvalidConfig)
	}
	if c.ReconnectMinMs < 0 || c.ReconnectMaxMs < c.ReconnectMinMs {
		return fmt.Errorf("%w: reconnect_min_ms %d, reconnect_max_ms %d: need 0 < min ≤ max", ErrInvalidConfig, c.ReconnectMinMs, c.ReconnectMaxMs)
	}
	if c.Inflight < 1 || c.Inflight > 65535 {
		return fmt.Errorf("%w: inflight %d: must be 1…65535", ErrInvalidConfig, c.Inflight)
	}
	return nil
}
