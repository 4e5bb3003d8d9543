package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
)

// edgedEnv runs the binary with extra environment variables.
func edgedEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(edgedBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// installedDirs lists the version directories under the state's models/<name>/.
func installedDirs(t *testing.T, state, name string) string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(state, "models", name))
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, e := range ents {
		if e.IsDir() {
			vs = append(vs, e.Name())
		}
	}
	return strings.Join(vs, ",")
}

// Ensure the running daemon follows the registry after a rollback, through the model
// commands talking to its API with a systemd-credential token: alias 1 → 2, rollback to 1
// (the divergence gauge and a log line say rolled_back), alias → 3 goes live, alias back → 2
// ends on 2. With keep: 2 the rollback target is never pruned; exactly one version is
// active although every version has the same bytes; activate works while the daemon runs;
// and `model list` prints the same table (and JSON) running and stopped.
func TestE2EModelSyncFollowsRegistry(t *testing.T) {
	fake := mlflowtest.New(t)
	const name = "edged-beacon"
	addAndPoint := func() string {
		v := fake.AddVersion(name, mlflowtest.ONNXVersion(reference.Model))
		fake.SetAlias(name, "champion", v)
		return v
	}
	addAndPoint()

	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "http-token"), []byte("tok-e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CREDENTIALS_DIRECTORY=" + creds, "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0"}
	state, addr := t.TempDir(), testenv.FreeAddr(t)
	conf := fmt.Sprintf(`
receiver_id: rx-follow
state_dir: %s
source:
  file: {pace: 4}
fix: {print: none}
http: {listen: %s, token_file: $CREDENTIALS_DIRECTORY/http-token}
mlflow: {tracking_uri: %s, model_name: %s, alias: champion, interval_seconds: 3600, keep: 2}
`, state, addr, fake.URL, name)
	d := startDaemon(t, conf, env...)
	confPath := d.cmd.Args[len(d.cmd.Args)-1]

	model := func(args ...string) string {
		t.Helper()
		out, stderr, err := edgedEnv(t, env, append([]string{"model", args[0], "-config", confPath}, args[1:]...)...)
		if err != nil {
			t.Fatalf("model %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	// activeVersion is the active registry version ("" while the embedded model, also
	// version 1, serves).
	activeVersion := func() string {
		var v struct {
			Models []struct {
				Name, Version, Source string
				Active                bool
			}
		}
		resp, err := http.Get("http://" + addr + "/api/v1/models")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&v)
		var active []string
		for _, m := range v.Models {
			if m.Active {
				active = append(active, m.Source+":"+m.Name+"@"+m.Version)
			}
		}
		if len(active) != 1 {
			t.Errorf("/api/v1/models marks %d versions active (%v), want exactly one", len(active), active)
			return ""
		}
		v1, ok := strings.CutPrefix(active[0], "mlflow:"+name+"@")
		if !ok {
			return ""
		}
		return v1
	}
	diverged := func(reason string) float64 {
		return scrape(t, addr, `edged_model_sync_diverged{reason="`+reason+`"}`)
	}
	testenv.Eventually(t, 60*time.Second, "version 1 from the first poll", func() bool { return activeVersion() == "1" })
	lintSyncMetrics(t, addr)

	addAndPoint()
	model("sync")
	if v := activeVersion(); v != "2" {
		t.Fatalf("after alias → 2: active %s", v)
	}

	// Without the token the API refuses; with it (read from $CREDENTIALS_DIRECTORY) it rolls back.
	if _, stderr, err := edged(t, "model", "rollback", "-config", confPath); err == nil || !strings.Contains(stderr, "http.token_file") {
		t.Errorf("rollback without the credential: %v %s", err, stderr)
	}
	if out := model("rollback"); out != "rolled_back: active edged-beacon version 1 (before: edged-beacon version 2)\n" {
		t.Errorf("rollback printed %q", out)
	}
	model("sync") // the alias still names 2: held
	if v := activeVersion(); v != "1" {
		t.Errorf("after rollback and a poll: active %s, want 1", v)
	}
	if g, tv := diverged("rolled_back"), scrape(t, addr, "edged_model_sync_target_version"); g != 1 || tv != 2 {
		t.Errorf("after rollback: diverged{rolled_back} = %v, target_version = %v; want 1 and 2", g, tv)
	}
	if logs := d.stderr.String(); !strings.Contains(logs, `msg="active model differs from the registry's target"`) ||
		!strings.Contains(logs, "target=2 active=1 reason=rolled_back") {
		t.Errorf("no divergence log line naming target 2, active 1, rolled_back")
	}
	if got := listedVersions(t, model("list")); got != "*1 2" {
		t.Errorf("list after rollback: %q", got)
	}

	addAndPoint() // 3
	model("sync")
	if v := activeVersion(); v != "3" {
		t.Errorf("after alias → 3: active %s, want 3", v)
	}
	for _, r := range []string{"rolled_back", "pinned", "failed_verification", "failed_download", "failed_install", "not_ready", "pending"} {
		if g := diverged(r); g != 0 {
			t.Errorf("alias → 3 is active, but diverged{%s} = %v", r, g)
		}
	}
	// keep: 2 — the active version and the rollback target (1); 2, rolled back from, goes.
	if got := installedDirs(t, state, name); got != "1,3" {
		t.Errorf("on disk after alias → 3 with keep 2: %s, want 1,3", got)
	}

	fake.SetAlias(name, "champion", "2")
	model("sync")
	if v := activeVersion(); v != "2" {
		t.Errorf("after alias back → 2: active %s, want 2", v)
	}
	if got := installedDirs(t, state, name); got != "2,3" {
		t.Errorf("on disk after alias → 2 with keep 2: %s, want 2,3 (3 is the rollback target)", got)
	}

	// activate through the API while the daemon runs: pinned until the alias moves.
	if out := model("activate", "3"); out != "activated: active edged-beacon version 3 (before: edged-beacon version 2)\n" {
		t.Errorf("activate printed %q", out)
	}
	if v, g := activeVersion(), diverged("pinned"); v != "3" || g != 1 {
		t.Errorf("after activate 3: active %s, diverged{pinned} %v", v, g)
	}
	if _, stderr, err := edgedEnv(t, env, "model", "activate", "-config", confPath, "1"); err == nil || !strings.Contains(stderr, "404") || !strings.Contains(stderr, "not installed") {
		t.Errorf("activate a pruned version: %v %s", err, stderr)
	}

	running, runningJSON := model("list"), model("list", "-json")
	d.stop(t, 10*time.Second)
	stopped, stoppedJSON := model("list"), model("list", "-json")
	if running != stopped {
		t.Errorf("model list differs:\nwhile running:\n%s\nstopped:\n%s", running, stopped)
	}
	if runningJSON != stoppedJSON {
		t.Errorf("model list -json differs:\nwhile running:\n%s\nstopped:\n%s", runningJSON, stoppedJSON)
	}
	if !strings.Contains(stopped, "registry: models:/edged-beacon@champion names version 2, not active: pinned\nrollback target: 2\n") {
		t.Errorf("list footer:\n%s", stopped)
	}
}

// lintSyncMetrics checks the model sync series with promlint (what `promtool check metrics`
// runs) and that every failure and divergence reason is exported before it ever happens.
func lintSyncMetrics(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	problems, err := promlint.New(bytes.NewReader(b)).Lint()
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "edged_model_sync_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	for _, series := range []string{
		`edged_model_sync_failures_total{reason="checksum"} 0`, `edged_model_sync_failures_total{reason="network"} 0`,
		`edged_model_sync_diverged{reason="rolled_back"} 0`, `edged_model_sync_diverged{reason="failed_verification"} 0`,
		`edged_model_sync_target_version 1`,
	} {
		if !bytes.Contains(b, []byte("\n"+series+"\n")) {
			t.Errorf("series %s missing from the scrape", series)
		}
	}
}

// Ensure the model commands work on a host where edged never ran: no state directory yet.
// list exits 0 and shows the model the daemon would serve, the state directory is created
// with the daemon's permissions, and the commands that need the registry say what is wrong.
func TestE2EModelListFreshHost(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "var", "lib", "edged")
	out, stderr, err := edgedEnv(t, []string{"EDGED_STATE_DIR=" + state}, "model", "list")
	if err != nil {
		t.Fatalf("model list on a fresh host: %v\n%s", err, stderr)
	}
	if got := listedVersions(t, out); got != "*1" || !strings.Contains(out, "embedded") || !strings.HasSuffix(out, "model sync is off (mlflow.tracking_uri is not set)\n") {
		t.Errorf("fresh list:\n%s", out)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("state directory: %v, mode %v; want 0750 as edged run creates it", err, fi.Mode().Perm())
	}

	// With MLflow configured and not reachable, list still answers from disk.
	state2 := filepath.Join(root, "other", "state")
	env := []string{"EDGED_STATE_DIR=" + state2, "EDGED_MLFLOW_TRACKING_URI=http://127.0.0.1:1", "EDGED_MLFLOW_MODEL_NAME=m", "EDGED_MLFLOW_ALIAS=champion"}
	out, stderr, err = edgedEnv(t, env, "model", "list")
	if err != nil || !strings.Contains(out, "registry: models:/m@champion not reached yet\nrollback target: none\n") {
		t.Errorf("fresh list with MLflow configured: %v\n%s%s", err, out, stderr)
	}
	if _, stderr, err := edgedEnv(t, env, "model", "rollback"); err == nil || !strings.Contains(stderr, "no previous version") {
		t.Errorf("rollback on a fresh host: %v %s", err, stderr)
	}
}

// Ensure the commands give up on a daemon whose API accepts connections and never answers.
func TestE2EModelCommandTimesOut(t *testing.T) {
	state := t.TempDir()
	db, err := store.Open(filepath.Join(state, "edged.db"), store.Options{}, nil) // a "running daemon" holds the lock
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	env := []string{"EDGED_STATE_DIR=" + state, "EDGED_HTTP_LISTEN=" + ln.Addr().String()}
	done := make(chan error, 1)
	var stderr string
	go func() {
		var err error
		_, stderr, err = edgedEnv(t, env, "model", "list", "-timeout", "1s")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(stderr, "does not answer") || !strings.Contains(stderr, "Timeout") {
			t.Errorf("list against a silent API: %v %s", err, stderr)
		}
	case <-time.After(60 * time.Second): // a failure detector, far above the 1 s asked for
		t.Fatal("edged model list still waiting on a silent API after 60 s")
	}
}
