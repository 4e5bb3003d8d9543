package uplink

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// sampleYAML is the uplink section as an operator writes it.
const sampleYAML = `
broker: mqtts://broker.example.org
receiver_id: roof-1
qos: 2
prefix: sdr
tls:
  ca_file: /etc/edged/ca.pem
  cert_file: /etc/edged/client.pem
  key_file: /etc/edged/client-key.pem
  server_name: broker.example.org
username: edge
password_file: /etc/edged/mqtt-password
keepalive_seconds: 20
reconnect_max_ms: 30000
inflight: 32
`

// Ensure that the yaml keys are the documented snake_case ones, that unset keys keep
// DefaultConfig's values, and that a plain password key is refused.
func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(sampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	if c.ClientID != "edged-roof-1" || c.QoS != 2 || c.Prefix != "sdr" || c.TLS.ServerName != "broker.example.org" ||
		c.KeepaliveSeconds != 20 || c.ReconnectMinMs != DefaultReconnectMinMs || c.ReconnectMaxMs != 30000 || c.Inflight != 32 {
		t.Fatalf("decoded %+v", c)
	}
	u, _ := c.brokerURL()
	if u.Host != "broker.example.org:8883" {
		t.Fatalf("default TLS port: %s", u.Host)
	}

	c = DefaultConfig()
	if err := yaml.NewDecoder(bytes.NewReader([]byte(sampleYAML + "password: hunter2\n"))).Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.PasswordFile = ""
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "password_file or password_env") {
		t.Fatalf("plain password: %v", err)
	}
}
