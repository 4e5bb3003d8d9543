package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// secret is the password the mistakes below hide in URLs, keys and variables: no message
// may show it.
const secret = "s3cretPW"

// exitCode runs edged with env added and returns its exit status and stderr. A command that
// does not exit within a minute is killed and fails the test: a bad configuration must be
// refused before the daemon opens anything it could wait on.
func exitCode(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, edgedBin, args...)
	cmd.Env = caseEnv(os.Environ(), env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("edged %s still running after a minute; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatal(err)
	return -1, ""
}

// caseEnv is base with a case's variables applied: NAME=VALUE sets, a bare NAME unsets (the
// Makefile exports EDGED_ORT_LIB, which would override a case's own onnxruntime_lib).
func caseEnv(base, env []string) []string {
	out := make([]string, 0, len(base)+len(env))
	drop := map[string]bool{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop[name] = true
	}
	for _, kv := range base {
		if name, _, _ := strings.Cut(kv, "="); !drop[name] {
			out = append(out, kv)
		}
	}
	for _, kv := range env {
		if strings.Contains(kv, "=") {
			out = append(out, kv)
		}
	}
	return out
}

// Ensure every configuration mistake, one or more per key family, from a file or the
// environment, is refused by `edged check-config` and by `edged run` alike: exit 78, the
// same one-line message naming the key (and the file and line, or the variable), and no
// secret in it. run must refuse before it opens a source, a broker or a registry.
func TestE2EConfigMistakesSameFromCheckConfigAndRun(t *testing.T) {
	dir := t.TempDir()
	emptyToken := filepath.Join(dir, "empty-token")
	os.WriteFile(emptyToken, []byte("\n"), 0o600)
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte(secret), 0o600)
	cases := []struct {
		name, yaml string
		env        []string
		want       string // in the message, after "FILE" or "environment VAR"
	}{
		{"receiver id", "receiver_id: a/b\n", nil, `:1: receiver_id: "a/b": want letters`},
		{"huge receiver id", "receiver_id: " + strings.Repeat("r", 200_000) + "\n", nil, ":1: receiver_id: \"rrrr"},
		{"log level", "log_level: loud\n", nil, `:1: log_level: "loud": want debug, info, warn or error`},
		{"log format", "log_format: xml\n", nil, `:1: log_format: "xml": want text or json`},
		{"ort library", "onnxruntime_lib: /nonexistent/libonnxruntime.so\n", []string{"EDGED_ORT_LIB"}, ":1: onnxruntime_lib: open /nonexistent/libonnxruntime.so"},
		{"unknown key", "sourse: {kind: file}\n", nil, ":1: sourse: unknown key"},
		{"syntax", "source: [1, 2\n", nil, ": yaml: line"},
		{"section type", "gate: [1, 2]\n", nil, ":1: gate: want a mapping of keys, got a list"},
		{"source kind", "source:\n  kind: floppy\n", nil, `:2: source.kind: "floppy": want file, rtl_tcp or rtlsdr`},
		{"stall timeout", "source:\n  stall_timeout_seconds: 0\n", nil, ":2: source.stall_timeout_seconds: 0: want a number above 0"},
		{"stall timeout NaN (env)", "", []string{"EDGED_SOURCE_STALL_TIMEOUT_SECONDS=NaN"}, "environment EDGED_SOURCE_STALL_TIMEOUT_SECONDS: source.stall_timeout_seconds: NaN"},
		{"missing recording", "source:\n  file: {path: /nonexistent/rec_433.92M_250k.cu8}\n", nil, ":2: source.file.path: open recording: open /nonexistent/rec_433.92M_250k.cu8"},
		{"file format", "source:\n  file: {format: cs64}\n", nil, `:2: source.file.format: unknown sample format "cs64"`},
		{"pace", "source:\n  file:\n    pace: -1\n", nil, ":3: source.file.pace: -1"},
		{"rtl_tcp address", "source:\n  kind: rtl_tcp\n  rtl_tcp: {address: nohostport}\n", nil, `:3: source.rtl_tcp.address: "nohostport": want host:port`},
		{"rtl_tcp gain mode", "source:\n  rtl_tcp:\n    gain_mode: loud\n", nil, `:3: source.rtl_tcp.gain_mode: "loud": want auto or manual`},
		{"gain mode typo", "source:\n  kind: rtlsdr\n  rtlsdr:\n    gain_mode: manul\n", nil, `:4: source.rtlsdr.gain_mode: "manul": want auto or manual`},
		{"direct sampling", "source:\n  rtlsdr: {direct_sampling: x}\n", nil, `:2: source.rtlsdr.direct_sampling: "x": want off, i or q`},
		{"device", "source:\n  rtlsdr: {device: first}\n", nil, `:2: source.rtlsdr.device: "first": want an index`},
		{"rtl2832 rate", "source:\n  rtlsdr: {sample_rate_hz: 500000}\n", nil, ":2: source.rtlsdr.sample_rate_hz: 500000: the RTL2832 takes"},
		{"ppm", "source:\n  rtlsdr: {ppm: 100000}\n", nil, ":2: source.rtlsdr.ppm: 100000"},
		{"model path", "model:\n  path: /nonexistent/model.onnx\n", nil, ":2: model.path: open /nonexistent/model.onnx"},
		{"contract file", "model:\n  contract_file: /nonexistent/contract.json\n", nil, ":2: model.contract_file: open /nonexistent/contract.json"},
		{"threads", "model:\n  intra_op_threads: 100000\n", nil, ":2: model.intra_op_threads: 100000"},
		{"optimization", "model:\n  optimization: fast\n", nil, `:2: model.optimization: "fast": want`},
		{"challenger mode", "model:\n  challenger: {mode: abc}\n", nil, `:2: model.challenger.mode: "abc": want ab or shadow`},
		{"challenger split", "model:\n  challenger:\n    split: 2\n", nil, ":3: model.challenger.split: 2"},
		{"gate", "gate:\n  snr_db: .inf\n", nil, ":2: gate.snr_db: +Inf"},
		{"fix print", "fix:\n  print: paper\n", nil, `:2: fix.print: "paper": want stdout or none`},
		{"confidence", "fix:\n  confidence_level: 1.5\n", nil, ":2: fix.confidence_level: 1.5"},
		{"vertices", "fix:\n  vertices: 3\n", nil, ":2: fix.vertices: 3: want 8 to 1024"},
		{"retention (env)", "", []string{"EDGED_STORE_RETENTION_FIXES=-1"}, "environment EDGED_STORE_RETENTION_FIXES: store.retention_fixes: -1"},
		{"retention hours", "store:\n  retention_hours: 1e12\n", nil, ":2: store.retention_hours: 1e+12"},
		{"cache ttl", "store:\n  cache_ttl_seconds: -5\n", nil, ":2: store.cache_ttl_seconds: -5"},
		{"broker scheme", "mqtt:\n  broker: http://h\n", nil, `:2: mqtt.broker: "http://h": scheme must be`},
		{"broker credentials", "mqtt:\n  broker: tcp://edge:" + secret + "@127.0.0.1:1883\n", nil, `:2: mqtt.broker: "tcp://xxxxx@127.0.0.1:1883": credentials in the URL are refused`},
		{"password key, no broker", "mqtt:\n  password: " + secret + "\n", nil, ":2: mqtt.password: not accepted"},
		{"password (env)", "", []string{"EDGED_MQTT_PASSWORD=" + secret}, "environment EDGED_MQTT_PASSWORD: mqtt.password: not accepted"},
		{"password file", "mqtt: {broker: 'tcp://127.0.0.1:1', username: edged, password_file: /nonexistent/pw}\n", nil, ":1: mqtt.password_file: open /nonexistent/pw"},
		{"credential dir", "mqtt: {broker: 'tcp://127.0.0.1:1', username: edged, password_file: $CREDENTIALS_DIRECTORY/mqtt-password}\n", []string{"CREDENTIALS_DIRECTORY="}, ":1: mqtt.password_file: $CREDENTIALS_DIRECTORY/mqtt-password: CREDENTIALS_DIRECTORY is not set"},
		{"tls ca", "mqtt:\n  broker: ssl://127.0.0.1:1\n  tls: {ca_file: /nonexistent/ca.pem}\n", nil, ":3: mqtt.tls.ca_file: open /nonexistent/ca.pem"},
		{"tls ca not PEM", "mqtt:\n  broker: ssl://127.0.0.1:1\n  tls:\n    ca_file: " + notPEM + "\n", nil, ":4: mqtt.tls.ca_file: " + notPEM + ": no PEM certificates"},
		{"qos", "mqtt:\n  broker: tcp://127.0.0.1:1\n  qos: 3\n", nil, ":3: mqtt.qos: 3: want 0 to 2"},
		{"mqtt receiver_id", "mqtt:\n  receiver_id: rx\n", nil, ":2: mqtt.receiver_id: not a key: the receiver id is the top-level receiver_id"},
		{"listen (env)", "", []string{"EDGED_HTTP_LISTEN=bogus"}, `environment EDGED_HTTP_LISTEN: http.listen: "bogus": want host:port`},
		{"open listen", "http:\n  listen: 0.0.0.0:0\n", nil, `:2: http.listen: "0.0.0.0:0" is reachable from other hosts`},
		{"token file", "http:\n  token_file: /nonexistent/token\n", nil, ":2: http.token_file: open /nonexistent/token"},
		{"empty token", "http:\n  token_file: " + emptyToken + "\n", nil, ":2: http.token_file: " + emptyToken + " is empty"},
		{"body limit (env)", "", []string{"EDGED_HTTP_MAX_BODY_BYTES=-1"}, "environment EDGED_HTTP_MAX_BODY_BYTES: http.max_body_bytes: -1"},
		{"request timeout", "http:\n  request_timeout_seconds: 1e9\n", nil, ":2: http.request_timeout_seconds: 1e+09"},
		{"tracking uri credentials", "mlflow: {tracking_uri: 'htps://edge:" + secret + "@127.0.0.1:18849', model_name: m, alias: a}\n", nil, `:1: mlflow.tracking_uri: invalid mlflow config: tracking uri "htps://xxxxx@127.0.0.1:18849" must not embed credentials`},
		{"tracking uri scheme", "mlflow: {tracking_uri: 'ftp://h', model_name: m, alias: a}\n", nil, `:1: mlflow.tracking_uri: invalid mlflow config: tracking uri "ftp://h": want http(s)`},
		{"alias or stage", "mlflow:\n  tracking_uri: http://127.0.0.1:1\n  model_name: m\n", nil, ":1: mlflow.alias: set exactly one of alias and stage"},
		{"interval", "mlflow: {tracking_uri: 'http://127.0.0.1:1', model_name: m, alias: a, interval_seconds: -1}\n", nil, ":1: mlflow.interval_seconds: -1"},
		{"keep", "mlflow: {tracking_uri: 'http://127.0.0.1:1', model_name: m, stage: Production, keep: 0}\n", nil, ":1: mlflow.keep: 0: want 1 to 100"},
	}
	if len(cases) < 30 {
		t.Fatalf("%d cases; the contract is at least 30", len(cases))
	}
	prefix := regexp.MustCompile(`^edged (check-config|run): `)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%02d.yaml", i))
			// state_dir keeps a daemon that wrongly starts off the shared /var/lib/edged.
			if err := os.WriteFile(path, []byte("state_dir: "+dir+"\n"+tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if !strings.HasPrefix(want, "environment ") {
				// The file's first line is state_dir: the case's lines are one further down.
				want = shiftLine(path+want, path)
			}
			codeCheck, errCheck := exitCode(t, tc.env, "check-config", path)
			codeRun, errRun := exitCode(t, tc.env, "run", "-config", path)
			msgCheck := prefix.ReplaceAllString(strings.TrimSpace(errCheck), "")
			msgRun := prefix.ReplaceAllString(strings.TrimSpace(errRun), "")
			if codeCheck != 78 || codeRun != 78 {
				t.Errorf("exit %d from check-config, %d from run; want 78 from both", codeCheck, codeRun)
			}
			if msgCheck != msgRun {
				t.Errorf("messages differ:\ncheck-config: %.400s\nrun:          %.400s", msgCheck, msgRun)
			}
			if !strings.Contains(msgCheck, want) || strings.Contains(msgCheck, "\n") {
				t.Errorf("message %.400q\nwant one line containing %q", msgCheck, want)
			}
			if strings.Contains(errCheck+errRun, secret) {
				t.Errorf("the secret is echoed: %.400s", errCheck+errRun)
			}
		})
	}
}

// shiftLine adds one to the line number after path in want: the test file starts with a
// state_dir line the case's YAML does not count.
func shiftLine(want, path string) string {
	rest, ok := strings.CutPrefix(want, path+":")
	if !ok {
		return want
	}
	var line int
	if n, _ := fmt.Sscanf(rest, "%d:", &line); n != 1 {
		return want
	}
	return fmt.Sprintf("%s:%d%s", path, line+1, strings.TrimPrefix(rest, fmt.Sprint(line)))
}

// Ensure `edged check-config` on the typo an operator really makes, `gain_mode: manul`,
// exits 78 with one line naming the file, the line, the key and the allowed values.
func TestE2ECheckConfigGainModeTypo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.yaml")
	os.WriteFile(path, []byte("receiver_id: rooftop-1\nsource:\n  kind: rtlsdr\n  rtlsdr:\n    device: \"0\"\n    gain_mode: manul\n"), 0o644)
	code, stderr := exitCode(t, nil, "check-config", path)
	want := fmt.Sprintf("edged check-config: %s:6: source.rtlsdr.gain_mode: \"manul\": want auto or manual\n", path)
	if code != 78 || stderr != want {
		t.Errorf("exit %d, stderr %q\nwant exit 78, %q", code, stderr, want)
	}
}

// Ensure -h on every command and subcommand prints its usage and exits 0.
func TestE2EHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"run", "-h"}, {"replay", "-h"}, {"synth", "-h"}, {"model", "-h"},
		{"model", "inspect", "-h"}, {"model", "list", "-h"}, {"model", "sync", "-h"},
		{"model", "activate", "-h"}, {"model", "rollback", "-h"}, {"check-config", "-h"},
		{"devices", "-h"}, {"version", "-h"}, {"run", "-help"}, {"model", "list", "--help"},
	} {
		out, stderr, err := edged(t, args...)
		if err != nil || !strings.Contains(out+stderr, "usage: edged") {
			t.Errorf("edged %s: err %v, output %q", strings.Join(args, " "), err, out+stderr)
		}
	}
}
