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
qos: 2
prefix: sdr
tls:
  server_name: broker.example.org
username: edge
password_env: EDGED_TEST_MQTT_PASSWORD
keepalive_seconds: 20
reconnect_max_ms: 30000
inflight: 32
`

// Ensure that the yaml keys are the documented snake_case ones, that unset keys keep
// DefaultConfig's values, that a plain password key is refused, and that receiver_id is not
// a key of the section (the caller sets it from edged.yaml's top level).
func TestConfigYAML(t *testing.T) {
	t.Setenv("EDGED_TEST_MQTT_PASSWORD", "pw")
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(sampleYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	c.ReceiverID = "roof-1"
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
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "password_file or password_env") ||
		strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("plain password: %v", err)
	}
	// Refused with the uplink off too: the key is never accepted.
	if err := (Config{Password: "hunter2"}).Validate(); err == nil || !strings.Contains(err.Error(), "password: not accepted") {
		t.Fatalf("plain password, no broker: %v", err)
	}

	dec = yaml.NewDecoder(strings.NewReader("receiver_id: roof-1\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Fatal("receiver_id accepted as a key of the section")
	}
}
