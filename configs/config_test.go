package configs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/internal/synth"
)

// Ensure the embedded defaults load and validate: `edged run` with no config must work.
func TestDefaultsValid(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9717" || c.MQTT.Prefix != "heimdall" || c.MQTT.QoS != 1 || c.Fix.Vertices != 64 {
		t.Errorf("defaults: %+v", c)
	}
}

// Ensure the bundled demo recording is exactly what its spec generates.
func TestDemoIsReproducible(t *testing.T) {
	var buf bytes.Buffer
	if err := synth.Generate(&buf, DemoSpec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), Demo) {
		t.Fatal("configs/demo recording differs from DemoSpec's output; run `make reference`")
	}
	if DemoSpec.FileName("D") != DemoName {
		t.Errorf("name %q vs %q", DemoSpec.FileName("D"), DemoName)
	}
}

// Ensure bad configs are refused with the key (and for unknown keys, the line) named.
func TestBadConfigNamesKey(t *testing.T) {
	cases := map[string]string{
		"receiver_id: a/b\n":                                   "receiver_id",
		"source:\n  kind: floppy\n":                            "source.kind",
		"fix:\n  confidence_level: 1.5\n":                      "fix.confidence_level",
		"mqtt:\n  broker: tcp://x:1\n  qos: 3\n":               "qos 3",
		"mqtt:\n  broker: tcp://x:1\n  password: hunter2\n":    "password: not accepted",
		"mqtt:\n  brokr: tcp://x:1\n":                          "line 2: field brokr not found",
		"gate: [1, 2]\n":                                       "line 1",
		"mlflow:\n  tracking_uri: http://x\n  model_name: m\n": "mlflow.alias",
	}
	for body, want := range cases {
		path := filepath.Join(t.TempDir(), "edged.yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}

// Ensure EDGED_* variables override keys, and an unknown one is an error.
func TestEnvOverrides(t *testing.T) {
	var c Config
	if err := applyEnv(&c, []string{"EDGED_MQTT_BROKER=tcp://10.0.0.2:1883", "EDGED_MQTT_TLS_CA_FILE=/ca.pem",
		"EDGED_SOURCE_RTLSDR_GAIN_DB=28.6", "EDGED_ORT_LIB=/x.so", "EDGED_RECEIVER_ID=rx1", "HOME=/root"}); err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "tcp://10.0.0.2:1883" || c.MQTT.TLS.CAFile != "/ca.pem" || c.Source.RTLSDR.GainDB != 28.6 || c.OnnxRuntimeLib != "/x.so" || c.ReceiverID != "rx1" {
		t.Errorf("%+v", c)
	}
	if err := applyEnv(&c, []string{"EDGED_MQTT_BROKR=x"}); err == nil || !strings.Contains(err.Error(), "EDGED_MQTT_BROKR") {
		t.Errorf("unknown env key: %v", err)
	}
	if err := applyEnv(&c, []string{"EDGED_MQTT_QOS=high"}); err == nil {
		t.Error("non-integer qos accepted")
	}
}
