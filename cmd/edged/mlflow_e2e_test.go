package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
)

// Ensure the daemon follows an MLflow alias: a new version is verified, installed and
// serving within a poll, fixes carry it, the model topic shows it; a version whose checksum
// tag is wrong is refused while the current one keeps serving; and a restart with MLflow
// unreachable comes up ready on the last installed version.
func TestE2EModelSyncFromMLflow(t *testing.T) {
	fake := mlflowtest.New(t)
	v1 := fake.AddVersion("edged-beacon", mlflowtest.ONNXVersion(reference.Model))
	fake.SetAlias("edged-beacon", "champion", v1)
	broker := mosquittotest.Start(t, mosquittotest.Options{})

	var mu sync.Mutex
	var modelTopic string
	fixVersions := map[string]int{}
	changed := make(chan struct{}, 256)
	subscribe(t, broker.URL(), "sync-sub", "heimdall/rx-sync/#", func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		var v struct {
			Name, Version string
			Properties    struct {
				Model        string `json:"model"`
				ModelVersion string `json:"model_version"`
			} `json:"properties"`
		}
		json.Unmarshal(m.Payload(), &v)
		switch {
		case strings.HasSuffix(m.Topic(), "/model"):
			modelTopic = v.Name + "@" + v.Version
		case strings.HasSuffix(m.Topic(), "/fix"):
			fixVersions[v.Properties.Model+"@"+v.Properties.ModelVersion]++
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	})

	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("%s: not within 60 s (model topic %q, fixes %v)", what, modelTopic, fixVersions)
			}
		}
	}
	state, addr := t.TempDir(), testenv.FreeAddr(t)
	conf := fmt.Sprintf(`
receiver_id: rx-sync
state_dir: %s
source:
  file: {pace: 4}
fix: {print: none}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s}
mlflow: {tracking_uri: %s, model_name: edged-beacon, alias: champion, interval_seconds: 1}
`, state, broker.URL(), addr, fake.URL)
	d := startDaemon(t, conf, "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")

	waitUntil("version 1 announced", func() bool { return modelTopic == "edged-beacon@1" })
	waitUntil("fixes from version 1", func() bool { return fixVersions["edged-beacon@1"] > 0 })

	// A version whose checksum tag lies is downloaded, refused and counted; v1 keeps serving.
	good := mlflowtest.ONNXVersion(reference.Model)
	lying := good
	lying.Layout, lying.Tags = mlflowtest.Layout3x, map[string]string{"edged.sha256": strings.Repeat("0", 64)}
	v2 := fake.AddVersion("edged-beacon", lying)
	fake.SetAlias("edged-beacon", "champion", v2)
	testenv.Eventually(t, 30*time.Second, "checksum failure counted", func() bool {
		return scrape(t, addr, `edged_model_sync_failures_total{reason="checksum"}`) >= 1
	})
	mu.Lock()
	before := fixVersions["edged-beacon@1"]
	mu.Unlock()
	waitUntil("v1 still serving", func() bool { return fixVersions["edged-beacon@1"] > before+2 && modelTopic == "edged-beacon@1" })

	// The publisher fixes the tag: the next poll installs v2 (3.x logged-model layout).
	fake.SetTag("edged-beacon", v2, "edged.sha256", good.Tags["edged.sha256"])
	waitUntil("version 2 announced", func() bool { return modelTopic == "edged-beacon@2" })
	waitUntil("fixes from version 2", func() bool { return fixVersions["edged-beacon@2"] > 0 })

	// A model saved with ONNX external data (as mlflow.onnx does): the sidecar is synced
	// beside model.onnx and ONNX Runtime finds it there.
	ext := map[string][]byte{"MLmodel": mlflowtest.MLmodel(0)}
	for _, f := range []string{"model.onnx", "0c9f2a3e-2b1d-11ef-9a1b-0242ac120002"} {
		b, err := os.ReadFile(filepath.Join("testdata", "external_data", f))
		if err != nil {
			t.Fatal(err)
		}
		ext[f] = b
	}
	v3 := fake.AddVersion("edged-beacon", mlflowtest.Version{Files: ext, Tags: mlflowtest.ONNXVersion(ext["model.onnx"]).Tags})
	fake.SetAlias("edged-beacon", "champion", v3)
	waitUntil("version 3 (external data) announced", func() bool { return modelTopic == "edged-beacon@3" })
	waitUntil("fixes from version 3", func() bool { return fixVersions["edged-beacon@3"] > 0 })
	if _, err := os.Stat(filepath.Join(state, "models", "edged-beacon", "3", "0c9f2a3e-2b1d-11ef-9a1b-0242ac120002")); err != nil {
		t.Errorf("sidecar not installed: %v", err)
	}
	d.stop(t, 5*time.Second)

	// MLflow gone: edged restarts on the last installed version (v3), from disk, and is ready.
	fake.Close()
	startDaemon(t, conf)
	testenv.Eventually(t, 30*time.Second, "ready on v2 offline", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		resp, err = http.Get("http://" + addr + "/api/v1/model")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"version":"3"`) && strings.Contains(string(b), `"edged-beacon"`)
	})
}

// Ensure the offline model commands work on the state directory with the daemon stopped:
// sync installs and records the followed version, list shows it, rollback and activate move
// the record, and a bad version is refused.
func TestE2EModelCommands(t *testing.T) {
	fake := mlflowtest.New(t)
	v1 := fake.AddVersion("edged-beacon", mlflowtest.ONNXVersion(reference.Model))
	fake.SetAlias("edged-beacon", "champion", v1)
	conf := filepath.Join(t.TempDir(), "edged.yaml")
	os.WriteFile(conf, []byte(fmt.Sprintf("state_dir: %s\nmlflow: {tracking_uri: %s, model_name: edged-beacon, alias: champion}\n", t.TempDir(), fake.URL)), 0o644)
	run := func(cmd string, args ...string) string {
		t.Helper()
		out, stderr, err := edged(t, append([]string{"model", cmd, "-config", conf}, args...)...)
		if err != nil {
			t.Fatalf("model %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	if out := run("sync"); !strings.Contains(out, "version 1") {
		t.Errorf("sync: %s", out)
	}
	v3x := mlflowtest.ONNXVersion(reference.Model)
	v3x.Layout = mlflowtest.Layout3x
	v2 := fake.AddVersion("edged-beacon", v3x)
	fake.SetAlias("edged-beacon", "champion", v2)
	if out := run("sync"); !strings.Contains(out, "version 2") {
		t.Errorf("second sync: %s", out)
	}
	active := func() string { return listedVersions(t, run("list")) }
	if got := active(); got != "1 *2" {
		t.Errorf("list after two syncs: %q, want \"1 *2\"", got)
	}
	if out := run("rollback"); out != "rolled_back: active edged-beacon version 1 (before: edged-beacon version 2)\n" {
		t.Errorf("rollback printed %q", out)
	}
	if got := active(); got != "*1 2" {
		t.Errorf("list after rollback: %q", got)
	}
	if out := run("list"); !strings.Contains(out, "registry: models:/edged-beacon@champion names version 2, not active: rolled_back\n") {
		t.Errorf("list does not say why version 2 is not active:\n%s", out)
	}
	run("activate", "2")
	if got := active(); got != "1 *2" {
		t.Errorf("list after activate 2: %q", got)
	}
	if _, stderr, err := edged(t, "model", "activate", "-config", conf, "9"); err == nil || !strings.Contains(stderr, "9") {
		t.Errorf("activate 9: %v %s", err, stderr)
	}
}

// listedVersions returns the versions a `model list` table shows, the active one marked
// with *, e.g. "1 *2".
func listedVersions(t *testing.T, table string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != "ACTIVE NAME VERSION SOURCE SHA256 INSTALLED" {
		t.Fatalf("not a model table:\n%s", table)
	}
	var vs []string
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "registry:"), strings.HasPrefix(line, "rollback target:"), strings.HasPrefix(line, "model sync is off"):
		case len(f) == 6 && f[0] == "*":
			vs = append(vs, "*"+f[2])
		case len(f) == 5:
			vs = append(vs, f[1])
		default:
			t.Fatalf("unexpected line %q in:\n%s", line, table)
		}
	}
	return strings.Join(vs, " ")
}
