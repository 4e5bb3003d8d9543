package configs

import (
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/uplink"
)

// writeConfig writes body as a config file and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ensure the annotated edged.yaml, the stages' DefaultConfigs and a marshalled copy of them
// are one and the same configuration, and that it validates: `edged run` with no config
// must work, and the file operators copy must tell the truth.
func TestDefaultsRoundTrip(t *testing.T) {
	want := DefaultConfig()
	var fromFile Config
	o := &origins{at: map[string]origin{}}
	if errs := decode(Default, "edged.yaml", &fromFile, o); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if !reflect.DeepEqual(fromFile, want) {
		t.Errorf("edged.yaml decodes to\n%+v\nDefaultConfig is\n%+v", fromFile, want)
	}
	out, err := yaml.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if errs := decode(out, "marshalled", &back, &origins{at: map[string]origin{}}); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("marshalled defaults decode to\n%+v", back)
	}
	// Every key of the schema is in the annotated file, so it documents all of them.
	for key := range leafKeys(reflect.TypeOf(Config{}), "") {
		// mqtt.password exists only to be refused; the file says so in a comment.
		if _, ok := o.at[key]; !ok && key != "mqtt.password" {
			t.Errorf("key %s is missing from edged.yaml", key)
		}
	}
	c, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != "127.0.0.1:9717" || c.MQTT.Prefix != "heimdall" || c.MQTT.QoS != 1 || c.Fix.Vertices != 64 {
		t.Errorf("defaults: %+v", c)
	}
}

// leafKeys lists the yaml paths of every scalar field under t.
func leafKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for name, idx := range yamlFields(t) {
		f := t.FieldByIndex(idx)
		key := prefix + name
		if f.Type.Kind() == reflect.Struct {
			for k := range leafKeys(f.Type, key+".") {
				out[k] = true
			}
		} else {
			out[key] = true
		}
	}
	return out
}

// Ensure a file that sets every key to its default, and one that sets none, still load:
// the schema of existing files is unchanged.
func TestExistingFilesStayValid(t *testing.T) {
	for name, body := range map[string]string{
		"annotated": string(Default),
		"empty":     "",
		"comments":  "# nothing\n",
		"partial":   "receiver_id: rooftop-1\nsource:\n  kind: rtl_tcp\n  rtl_tcp: {address: 'sdr.lan:1234', gain_mode: manual, gain_db: 28.6}\nfix:\n  print: none\n",
		"anchors":   "source:\n  rtl_tcp: &t {center_freq_hz: 868300000, sample_rate_hz: 1024000}\n  rtlsdr:\n    <<: *t\n    device: ':00000001'\n",
		"nulls":     "mqtt:\nhttp:\n  listen:\n",
	} {
		if _, err := load(writeConfig(t, body), nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Ensure a mistake names the file, the line, the key and what would be accepted, for
// mistakes of decoding and of validation alike.
func TestMistakeNamesFileLineAndKey(t *testing.T) {
	cases := []struct{ body, want string }{
		{"receiver_id: a/b\n", ":1: receiver_id: \"a/b\": want letters"},
		{"source:\n  kind: floppy\n", ":2: source.kind: \"floppy\": want file, rtl_tcp or rtlsdr"},
		{"source:\n  rtlsdr:\n    gain_mode: manul\n", ":3: source.rtlsdr.gain_mode: \"manul\": want auto or manual"},
		{"fix:\n  confidence_level: 1.5\n", ":2: fix.confidence_level: 1.5"},
		{"mqtt:\n  broker: tcp://x:1\n  qos: 3\n", ":3: mqtt.qos: 3: want 0 to 2"},
		{"mqtt:\n  broker: tcp://x:1\n  password: hunter2\n", ":3: mqtt.password: not accepted"},
		{"mqtt:\n  password: hunter2\n", ":2: mqtt.password: not accepted"},
		{"mqtt:\n  brokr: tcp://x:1\n", ":2: mqtt.brokr: unknown key (known here: broker, client_id"},
		{"mqtt:\n  receiver_id: rx\n", ":2: mqtt.receiver_id: not a key: the receiver id is the top-level receiver_id"},
		{"gate: [1, 2]\n", ":1: gate: want a mapping of keys, got a list"},
		{"store:\n  retention_fixes: lots\n", ":2: store.retention_fixes: want a whole number, got \"lots\""},
		{"fix:\n  vertices: 12\n  vertices: 13\n", ":3: fix.vertices: set twice (first on line 2)"},
		{"mlflow:\n  tracking_uri: http://x\n  model_name: m\n", ":1: mlflow.alias: set exactly one of alias and stage"},
		{"source:\n  stall_timeout_seconds: .nan\n", ":2: source.stall_timeout_seconds: NaN"},
	}
	for _, tc := range cases {
		path := writeConfig(t, tc.body)
		_, err := load(path, nil)
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q:\n err = %v\nwant %q", tc.body, err, path+tc.want)
		}
	}
}

// Ensure every mistake of a file is reported, not just the first.
func TestEveryMistakeAtOnce(t *testing.T) {
	path := writeConfig(t, "log_level: loud\nfix:\n  vertices: 3\n  print: paper\nstore:\n  retention_hours: -1\nmqtt:\n  brokr: x\n")
	_, err := load(path, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{":1: log_level", ":3: fix.vertices", ":4: fix.print", ":6: store.retention_hours", ":8: mqtt.brokr"} {
		if !strings.Contains(err.Error(), path+want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 5 {
		t.Errorf("%d mistakes reported, want 5:\n%v", n, err)
	}
}

// Ensure EDGED_* variables override keys, and a mistake they make names the variable and
// the key but not the value (it may be a secret).
func TestEnvOverrides(t *testing.T) {
	c, err := load("", []string{"EDGED_MQTT_BROKER=ssl://10.0.0.2:8883", "EDGED_SOURCE_RTLSDR_GAIN_DB=28.6",
		"EDGED_RECEIVER_ID=rx1", "HOME=/root", "EDGED_CONFIG=/ignored", "EDGED_MQTT_TLS_SERVER_NAME=b.lan"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "ssl://10.0.0.2:8883" || c.MQTT.TLS.ServerName != "b.lan" || c.Source.RTLSDR.GainDB != 28.6 || c.ReceiverID != "rx1" {
		t.Errorf("%+v", c)
	}
	for env, want := range map[string]string{
		"EDGED_MQTT_BROKR=x":                              "environment EDGED_MQTT_BROKR: no such config key",
		"EDGED_MQTT_RECEIVER_ID=x":                        "environment EDGED_MQTT_RECEIVER_ID: no such config key",
		"EDGED_MQTT_QOS=high":                             "environment EDGED_MQTT_QOS: mqtt.qos: want a whole number",
		"EDGED_STORE_RETENTION_FIXES=-1":                  "environment EDGED_STORE_RETENTION_FIXES: store.retention_fixes: -1",
		"EDGED_HTTP_LISTEN=bogus":                         "environment EDGED_HTTP_LISTEN: http.listen: \"bogus\": want host:port",
		"EDGED_SOURCE_STALL_TIMEOUT_SECONDS=NaN":          "environment EDGED_SOURCE_STALL_TIMEOUT_SECONDS: source.stall_timeout_seconds: NaN",
		"EDGED_HTTP_MAX_BODY_BYTES=-1":                    "environment EDGED_HTTP_MAX_BODY_BYTES: http.max_body_bytes: -1",
		"EDGED_ORT_LIB=/nonexistent/libort.so":            "environment EDGED_ORT_LIB: onnxruntime_lib: open /nonexistent/libort.so",
		"EDGED_RECEIVER_ID=" + strings.Repeat("r", 1<<20): "environment EDGED_RECEIVER_ID: receiver_id: \"rrrr",
	} {
		_, err := load("", []string{env})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: err = %.300v, want %q", env, err, want)
		}
	}
	_, err = load("", []string{"EDGED_MQTT_PASSWORD=hunter2"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "environment EDGED_MQTT_PASSWORD: mqtt.password: not accepted") {
		t.Errorf("password from the environment: %v", err)
	}
}

// Ensure stage sentinels survive composition, so callers can still classify.
func TestStageSentinelsSurvive(t *testing.T) {
	_, err := load(writeConfig(t, "source: {rtlsdr: {direct_sampling: x}}\nmqtt: {broker: 'ftp://h', password: p}\n"), nil)
	if !errors.Is(err, capture.ErrBadConfig) || !errors.Is(err, uplink.ErrInvalidConfig) {
		t.Errorf("sentinels lost: %v", err)
	}
}

// Ensure configs imports no internal/ package, in its code or its tests: it composes the
// stages' configurations and nothing else.
func TestImportsNoInternal(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "/internal/") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
