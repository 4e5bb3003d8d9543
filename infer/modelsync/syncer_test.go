package modelsync_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/internal/testenv"
)

const name = "edge-detector"

var errMissing = errors.New("state: not found")

// memState is an in-memory State that reports missing keys as errMissing.
type memState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memState) GetState(k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, fmt.Errorf("get %q: %w", k, errMissing)
	}
	return bytes.Clone(v), nil
}

func (s *memState) PutState(k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[k] = bytes.Clone(v)
	return nil
}

// fakeVerifier checks what a real one would rely on: the staged directory
// holds the entry file and its sidecar.
type fakeVerifier struct {
	mu    sync.Mutex
	err   error
	calls []string // staged dirs
}

func (v *fakeVerifier) Verify(ctx context.Context, dir string, mv mlflow.ModelVersion) (modelsync.Installed, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls = append(v.calls, dir)
	if v.err != nil {
		return modelsync.Installed{}, v.err
	}
	entry, err := modelsync.EntryFile(dir)
	if err != nil {
		return modelsync.Installed{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, entry)); err != nil {
		return modelsync.Installed{}, err
	}
	return modelsync.Installed{}, nil
}

func (v *fakeVerifier) fail(err error) { v.mu.Lock(); v.err = err; v.mu.Unlock() }

// fakeActivator stands for the hot swap: it holds the serving model.
type fakeActivator struct {
	mu      sync.Mutex
	err     error
	current modelsync.Installed
	n       int
	notify  chan string // if set, receives each activated version
}

func (a *fakeActivator) Activate(ctx context.Context, m modelsync.Installed) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	b, err := os.ReadFile(m.EntryPath())
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.SHA256 {
		return fmt.Errorf("activator: sha mismatch")
	}
	a.current = m
	a.n++
	if a.notify != nil {
		a.notify <- m.Version
	}
	return nil
}

func (a *fakeActivator) serving() string { a.mu.Lock(); defer a.mu.Unlock(); return a.current.Version }
func (a *fakeActivator) fail(err error)  { a.mu.Lock(); a.err = err; a.mu.Unlock() }

// files returns a model directory: MLmodel naming model.onnx, the ONNX bytes
// and an external-data sidecar named like uuid1, all distinct per seed.
func files(seed byte) map[string][]byte {
	return map[string][]byte{
		"MLmodel":                              []byte("artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.16.1\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\nmlflow_version: 2.14.1\n"),
		"model.onnx":                           bytes.Repeat([]byte{0x08, seed}, 3000),
		"0c9f2a3e-2b1d-11ef-9a1b-0242ac120002": bytes.Repeat([]byte{seed, 1, 2, 3}, 20000),
		"conda.yaml":                           []byte("name: mlflow-env\n"),
		"requirements.txt":                     []byte("onnx==1.16.1\n"),
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

type rig struct {
	srv   *mlflowtest.Server
	dir   string
	ver   *fakeVerifier
	act   *fakeActivator
	state *memState
	logs  *testenv.Buffer
	sync  *modelsync.Syncer
}

func clientConfig(uri string) mlflow.Config {
	return mlflow.Config{
		TrackingURI: uri, MaxRetries: 1,
		BackoffFactor: time.Millisecond, BackoffJitter: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
	}
}

func newRig(t *testing.T, cfg modelsync.Config, ccfg func(*mlflow.Config)) *rig {
	t.Helper()
	r := &rig{srv: mlflowtest.New(t), ver: &fakeVerifier{}, act: &fakeActivator{}, state: &memState{}, logs: &testenv.Buffer{}}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	r.dir = cfg.StateDir
	cfg.ModelName = name
	cfg.StateNotFound = errMissing
	r.sync = r.build(t, cfg, r.srv.URL, ccfg)
	return r
}

func (r *rig) build(t *testing.T, cfg modelsync.Config, uri string, ccfg func(*mlflow.Config)) *modelsync.Syncer {
	t.Helper()
	return r.buildWith(t, cfg, uri, ccfg, r.state)
}

func (r *rig) buildWithState(t *testing.T, cfg modelsync.Config, uri string, st modelsync.State) *modelsync.Syncer {
	t.Helper()
	return r.buildWith(t, cfg, uri, nil, st)
}

func (r *rig) buildWith(t *testing.T, cfg modelsync.Config, uri string, ccfg func(*mlflow.Config), st modelsync.State) *modelsync.Syncer {
	t.Helper()
	mc := clientConfig(uri)
	if ccfg != nil {
		ccfg(&mc)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := mlflow.New(mc, log)
	if err != nil {
		t.Fatal(err)
	}
	s, err := modelsync.New(cfg, c, r.ver, r.act, st, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *rig) mustSync(t *testing.T, wantChanged bool) {
	t.Helper()
	changed, err := r.sync.SyncOnce(context.Background())
	if err != nil || changed != wantChanged {
		t.Fatalf("SyncOnce = %v, %v; want changed=%v", changed, err, wantChanged)
	}
}

// addVersion publishes a version with a correct edged.sha256 tag.
func (r *rig) addVersion(seed byte, layout mlflowtest.Layout) string {
	fs := files(seed)
	return r.srv.AddVersion(name, mlflowtest.Version{Files: fs, Layout: layout, Tags: map[string]string{modelsync.TagSHA256: sha(fs["model.onnx"])}})
}

func noStaging(t *testing.T, stateDir string) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(stateDir, "models"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".staging-") {
			t.Errorf("staging directory left behind: %s", e.Name())
		}
	}
}

func checkInstalled(t *testing.T, stateDir, version string, seed byte) {
	t.Helper()
	for p, want := range files(seed) {
		got, err := os.ReadFile(filepath.Join(stateDir, "models", name, version, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("version %s file %s: %d bytes, err %v; want %d bytes", version, p, len(got), err, len(want))
		}
	}
}

func TestSyncInstallsNewVersionUnderAlias(t *testing.T) {
	for _, layout := range []mlflowtest.Layout{mlflowtest.Layout2x, mlflowtest.Layout3x} {
		t.Run(fmt.Sprintf("layout%d", layout), func(t *testing.T) {
			r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
			v1 := r.addVersion(1, layout)
			r.srv.SetAlias(name, "champion", v1)

			r.mustSync(t, true)
			if r.act.serving() != "1" {
				t.Fatalf("serving %q, want 1", r.act.serving())
			}
			checkInstalled(t, r.dir, "1", 1)
			noStaging(t, r.dir)
			if len(r.ver.calls) != 1 || !strings.Contains(r.ver.calls[0], string(filepath.Separator)+".staging-") ||
				filepath.Dir(r.ver.calls[0]) != filepath.Join(r.dir, "models") {
				t.Errorf("verifier saw %v, want one staging dir under models/", r.ver.calls)
			}

			// Up to date: nothing downloaded, nothing activated.
			hits := r.srv.Hits(mlflowtest.RouteArtifactFile)
			r.mustSync(t, false)
			if r.srv.Hits(mlflowtest.RouteArtifactFile) != hits || r.act.n != 1 {
				t.Errorf("an up-to-date sync downloaded or activated again")
			}

			v2 := r.addVersion(2, layout)
			r.srv.SetAlias(name, "champion", v2)
			r.mustSync(t, true)
			if r.act.serving() != "2" {
				t.Fatalf("serving %q, want 2", r.act.serving())
			}
			checkInstalled(t, r.dir, "2", 2)
			m, ok, err := r.sync.Active()
			if err != nil || !ok || m.Version != "2" || m.EntryFile != "model.onnx" || m.SHA256 != sha(files(2)["model.onnx"]) ||
				m.Dir != filepath.Join(r.dir, "models", name, "2") {
				t.Errorf("Active = %+v, %v, %v", m, ok, err)
			}
			st := r.sync.Stats()
			if st.Attempts != 3 || st.Successes != 3 || st.Installs != 2 || len(st.Failures) != 0 || st.ActiveVersion != "2" {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestSyncFaultsKeepCurrentModel(t *testing.T) {
	cases := []struct {
		name   string
		reason string
		set    func(r *rig)
		clear  func(r *rig)
	}{
		{"registry 500s", modelsync.ReasonServer,
			func(r *rig) { r.srv.Fail(mlflowtest.RouteAlias, 500, -1) }, func(r *rig) { r.srv.ClearFaults() }},
		{"download 500s", modelsync.ReasonServer,
			func(r *rig) { r.srv.Fail(mlflowtest.RouteArtifactFile, 500, -1) }, func(r *rig) { r.srv.ClearFaults() }},
		{"hanging server", modelsync.ReasonTimeout,
			func(r *rig) { r.srv.Hang(mlflowtest.RouteArtifactFile) }, func(r *rig) { r.srv.ClearFaults() }},
		{"hanging registry", modelsync.ReasonTimeout,
			func(r *rig) { r.srv.Hang(mlflowtest.RouteAlias) }, func(r *rig) { r.srv.ClearFaults() }},
		{"truncated download", modelsync.ReasonDownload,
			func(r *rig) { r.srv.TruncateDownloads(1000) }, func(r *rig) { r.srv.ClearFaults() }},
		{"size differs from listing", modelsync.ReasonSize,
			func(r *rig) {
				r.srv.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, req *http.Request) {
					io.WriteString(w, `{"files": [{"path": "model.onnx", "is_dir": false, "file_size": 7}]}`)
				})
			}, func(r *rig) { r.srv.ClearFaults() }},
		{"path traversal in listing", modelsync.ReasonModelDir,
			func(r *rig) {
				r.srv.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, req *http.Request) {
					io.WriteString(w, `{"files": [{"path": "../../x", "is_dir": false, "file_size": 6000}]}`)
				})
			}, func(r *rig) { r.srv.ClearFaults() }},
		{"no edged.sha256 tag", modelsync.ReasonChecksum,
			func(r *rig) { r.srv.SetTag(name, "2", modelsync.TagSHA256, "") },
			func(r *rig) { r.srv.SetTag(name, "2", modelsync.TagSHA256, sha(files(2)["model.onnx"])) }},
		{"listing declares more than the disk", modelsync.ReasonSize,
			func(r *rig) {
				r.srv.Override(mlflowtest.RouteArtifactList, func(w http.ResponseWriter, req *http.Request) {
					io.WriteString(w, `{"files": [{"path": "model.onnx", "is_dir": false, "file_size": 1099511627776}]}`)
				})
			}, func(r *rig) { r.srv.ClearFaults() }},
		{"wrong edged.sha256", modelsync.ReasonChecksum,
			func(r *rig) { r.srv.SetTag(name, "2", modelsync.TagSHA256, strings.Repeat("ab", 32)) },
			func(r *rig) { r.srv.SetTag(name, "2", modelsync.TagSHA256, sha(files(2)["model.onnx"])) }},
		{"wrong sidecar sha256 tag", modelsync.ReasonChecksum,
			func(r *rig) {
				r.srv.SetTag(name, "2", "sha256.0c9f2a3e-2b1d-11ef-9a1b-0242ac120002", strings.Repeat("cd", 32))
			},
			func(r *rig) {
				r.srv.SetTag(name, "2", "sha256.0c9f2a3e-2b1d-11ef-9a1b-0242ac120002", sha(files(2)["0c9f2a3e-2b1d-11ef-9a1b-0242ac120002"]))
			}},
		{"verifier refuses (ORT load or contract)", modelsync.ReasonVerify,
			func(r *rig) { r.ver.fail(errors.New("onnx runtime: protobuf parsing failed")) }, func(r *rig) { r.ver.fail(nil) }},
		{"activation refused", modelsync.ReasonActivate,
			func(r *rig) { r.act.fail(errors.New("swap refused")) }, func(r *rig) { r.act.fail(nil) }},
		{"bad credentials", modelsync.ReasonAuth,
			func(r *rig) { r.srv.RequireBasicAuth("edge", "other-password") }, func(r *rig) { r.srv.ClearFaults() }},
		{"alias missing", modelsync.ReasonNotFound,
			func(r *rig) { r.srv.DeleteAlias(name, "champion") }, func(r *rig) { r.srv.SetAlias(name, "champion", "2") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, modelsync.Config{Alias: "champion"}, func(c *mlflow.Config) {
				c.Username, c.Password = "edge", "pw-do-not-log"
				if tc.reason == modelsync.ReasonTimeout {
					// Short enough to keep the test fast, long enough for a loaded CI box.
					c.RequestTimeout = 500 * time.Millisecond
				}
			})
			r.srv.RequireBasicAuth("edge", "pw-do-not-log")
			r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
			r.mustSync(t, true)
			r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout2x))
			before := r.logs.String()

			tc.set(r)
			changed, err := r.sync.SyncOnce(context.Background())
			if err == nil || changed {
				t.Fatalf("SyncOnce under fault = %v, %v; want an error", changed, err)
			}
			if got := modelsync.Reason(err); got != tc.reason {
				t.Errorf("reason %q, want %q (err %v)", got, tc.reason, err)
			}
			if r.act.serving() != "1" {
				t.Errorf("serving %q during the fault, want 1", r.act.serving())
			}
			if m, _, _ := r.sync.Active(); m.Version != "1" {
				t.Errorf("state says %q is active, want 1", m.Version)
			}
			st := r.sync.Stats()
			if st.Failures[tc.reason] != 1 || st.Attempts != 2 || st.Successes != 1 {
				t.Errorf("stats %+v", st)
			}
			noStaging(t, r.dir)
			if tc.reason != modelsync.ReasonActivate {
				if _, err := os.Stat(filepath.Join(r.dir, "models", name, "2")); err == nil {
					t.Errorf("a rejected version was installed")
				}
			}
			logged := strings.TrimPrefix(r.logs.String(), before)
			if n := strings.Count(logged, "level=WARN"); n != 1 || !strings.Contains(logged, "reason="+tc.reason) {
				t.Errorf("want exactly one WARN with reason=%s, got:\n%s", tc.reason, logged)
			}
			if strings.Contains(r.logs.String(), "pw-do-not-log") {
				t.Errorf("password in logs")
			}

			tc.clear(r)
			r.srv.RequireBasicAuth("edge", "pw-do-not-log")
			r.mustSync(t, true)
			if r.act.serving() != "2" {
				t.Errorf("serving %q after the fault cleared, want 2", r.act.serving())
			}
			checkInstalled(t, r.dir, "2", 2)
		})
	}
}

func TestRestoreOffline(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout3x))
	r.mustSync(t, true)
	url := r.srv.URL
	r.srv.Close() // the listener is gone: connections are refused

	// A restart: new activator, same state and disk, MLflow unreachable.
	r.act = &fakeActivator{}
	cfg := modelsync.Config{ModelName: name, Alias: "champion", StateDir: r.dir, StateNotFound: errMissing}
	s := r.build(t, cfg, url, nil)
	m, ok, err := s.Restore(context.Background())
	if err != nil || !ok || m.Version != "2" || r.act.serving() != "2" {
		t.Fatalf("Restore = %+v, %v, %v; serving %q", m, ok, err, r.act.serving())
	}
	_, err = s.SyncOnce(context.Background())
	if modelsync.Reason(err) != modelsync.ReasonNetwork || r.act.serving() != "2" {
		t.Errorf("offline sync: reason %q (%v), serving %q", modelsync.Reason(err), err, r.act.serving())
	}

	// A damaged active copy falls back to the newest intact one.
	if err := os.WriteFile(filepath.Join(r.dir, "models", name, "2", "model.onnx"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.act = &fakeActivator{}
	s = r.build(t, cfg, url, nil)
	m, ok, err = s.Restore(context.Background())
	if err != nil || !ok || m.Version != "1" || r.act.serving() != "1" {
		t.Errorf("Restore with damaged v2 = %+v, %v, %v", m, ok, err)
	}

	// Nothing installed: not an error.
	empty := r.build(t, modelsync.Config{ModelName: name, StateDir: t.TempDir(), StateNotFound: errMissing}, url, nil)
	if _, ok, err := empty.Restore(context.Background()); ok || err != nil {
		t.Errorf("empty Restore = %v, %v", ok, err)
	}
}

func TestStageFollowTakesNewest(t *testing.T) {
	r := newRig(t, modelsync.Config{Stage: "Production"}, nil)
	for seed := byte(1); seed <= 3; seed++ {
		r.addVersion(seed, mlflowtest.Layout3x)
	}
	r.srv.SetStage(name, "1", "Production")
	r.srv.SetStage(name, "3", "Production")
	r.mustSync(t, true)
	if r.act.serving() != "3" {
		t.Errorf("serving %q, want 3", r.act.serving())
	}
	checkInstalled(t, r.dir, "3", 3)
}

func TestNotReadyIsSkipped(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	v := r.addVersion(1, mlflowtest.Layout2x)
	r.srv.SetAlias(name, "champion", v)
	r.srv.SetStatus(name, v, mlflow.StatusPendingRegistration)
	r.mustSync(t, false)
	if r.act.n != 0 || r.srv.Hits(mlflowtest.RouteArtifactFile) != 0 {
		t.Errorf("a PENDING version was downloaded or activated")
	}
	r.srv.SetStatus(name, v, mlflow.StatusReady)
	r.mustSync(t, true)
}

func TestPruneRollbackActivate(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion", Keep: 2}, nil)
	ctx := context.Background()
	for seed := byte(1); seed <= 4; seed++ {
		r.srv.SetAlias(name, "champion", r.addVersion(seed, mlflowtest.Layout2x))
		r.mustSync(t, true)
	}
	list, err := r.sync.List()
	if err != nil || len(list) != 2 || list[0].Version != "3" || list[1].Version != "4" {
		t.Fatalf("List after 4 installs with Keep 2 = %+v, %v", list, err)
	}

	if err := r.sync.Rollback(ctx); err != nil || r.act.serving() != "3" {
		t.Fatalf("Rollback: %v, serving %q", err, r.act.serving())
	}
	// The alias still names 4, but the operator rolled back from it.
	r.mustSync(t, false)
	if r.act.serving() != "3" {
		t.Errorf("sync undid the rollback: serving %q", r.act.serving())
	}
	if err := r.sync.Activate(ctx, "4"); err != nil || r.act.serving() != "4" {
		t.Errorf("Activate 4: %v, serving %q", err, r.act.serving())
	}
	if err := r.sync.Activate(ctx, "1"); !errors.Is(err, modelsync.ErrNotInstalled) {
		t.Errorf("Activate pruned version: %v", err)
	}
	if err := r.sync.Activate(ctx, "../4"); !errors.Is(err, modelsync.ErrNotInstalled) {
		t.Errorf("Activate ../4: %v", err)
	}

	// A new version under the alias is picked up again. Pruning keeps the
	// active version and the one that served before it (4, activated by hand
	// over 5), not the newest numbers.
	r.srv.SetAlias(name, "champion", r.addVersion(5, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if err := r.sync.Activate(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	r.srv.SetAlias(name, "champion", r.addVersion(6, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if got := onDisk(t, r.sync); got != "4,6" {
		t.Errorf("on disk %v, want 4,6", got)
	}
	if err := r.sync.Rollback(ctx); err != nil || r.act.serving() != "4" {
		t.Errorf("Rollback to 4: %v, serving %q", err, r.act.serving())
	}
	// 5, 3, 2 and 1 served earlier but are pruned: nothing further back.
	if err := r.sync.Rollback(ctx); !errors.Is(err, modelsync.ErrNoPrevious) || r.act.serving() != "4" {
		t.Errorf("Rollback past the pruned versions: %v, serving %q", err, r.act.serving())
	}
}

// onDisk lists the installed versions, comma-separated.
func onDisk(t *testing.T, s *modelsync.Syncer) string {
	t.Helper()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.Version)
	}
	return strings.Join(got, ",")
}

func TestEntryFile(t *testing.T) {
	cases := []struct {
		mlmodel string
		files   []string
		want    string
		err     error
	}{
		{"", []string{"model.onnx"}, "model.onnx", nil},
		{"flavors:\n  onnx:\n    data: net/custom.onnx\n", []string{"net/custom.onnx"}, "net/custom.onnx", nil},
		{"flavors:\n  python_function: {}\n", []string{"model.onnx"}, "model.onnx", nil},
		{"flavors:\n  onnx:\n    data: ../../etc/passwd\n", nil, "", modelsync.ErrBadModelDir},
		{"flavors:\n  onnx:\n    data: /etc/passwd\n", nil, "", modelsync.ErrBadModelDir},
		{"flavors: [unclosed\n", []string{"model.onnx"}, "", modelsync.ErrBadModelDir},
		{"flavors:\n  onnx:\n    data: missing.onnx\n", []string{"model.onnx"}, "", modelsync.ErrBadModelDir},
	}
	for i, tc := range cases {
		dir := t.TempDir()
		if tc.mlmodel != "" {
			os.WriteFile(filepath.Join(dir, "MLmodel"), []byte(tc.mlmodel), 0o644)
		}
		for _, f := range tc.files {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
			os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
		}
		got, err := modelsync.EntryFile(dir)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("case %d: %q, %v; want %q, %v", i, got, err, tc.want, tc.err)
		}
	}
}

// nilState answers nil, nil for missing keys, as some stores do.
type nilState struct{ memState }

func (s *nilState) GetState(k string) ([]byte, error) {
	v, err := s.memState.GetState(k)
	if errors.Is(err, errMissing) {
		return nil, nil
	}
	return v, err
}

func TestStateTolerance(t *testing.T) {
	srv := mlflowtest.New(t)
	c, _ := mlflow.New(clientConfig(srv.URL), nil)
	fs := files(1)
	srv.SetAlias(name, "a", srv.AddVersion(name, mlflowtest.Version{Files: fs, Tags: map[string]string{modelsync.TagSHA256: sha(fs["model.onnx"])}}))
	act := &fakeActivator{}
	s, err := modelsync.New(modelsync.Config{ModelName: name, Alias: "a", StateDir: t.TempDir()}, c, &fakeVerifier{}, act, &nilState{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := s.SyncOnce(context.Background()); !ch || err != nil {
		t.Fatalf("SyncOnce with nil-for-missing state: %v %v", ch, err)
	}

	// Without the tag the version is refused, unless the operator allows it.
	srv.SetAlias(name, "a", srv.AddVersion(name, mlflowtest.Version{Files: files(2)}))
	if _, err := s.SyncOnce(context.Background()); modelsync.Reason(err) != modelsync.ReasonChecksum || !strings.Contains(err.Error(), "require_checksum") {
		t.Fatalf("untagged version: %v", err)
	}
	lax, _ := modelsync.New(modelsync.Config{ModelName: name, Alias: "a", StateDir: t.TempDir(), AllowMissingChecksum: true}, c, &fakeVerifier{}, act, &nilState{}, nil)
	if ch, err := lax.SyncOnce(context.Background()); !ch || err != nil {
		t.Fatalf("untagged version with allow_missing_checksum: %v %v", ch, err)
	}

	// Any other state error is a failure, not "absent".
	broken := &brokenState{}
	s, _ = modelsync.New(modelsync.Config{ModelName: name, Alias: "a", StateDir: t.TempDir(), StateNotFound: errMissing}, c, &fakeVerifier{}, act, broken, nil)
	if _, err := s.SyncOnce(context.Background()); modelsync.Reason(err) != modelsync.ReasonState {
		t.Errorf("broken state: %v", err)
	}

	for _, cfg := range []modelsync.Config{
		{StateDir: "x"}, {ModelName: "m"}, {ModelName: "../m", StateDir: "x"}, {ModelName: "m", StateDir: "x", Alias: "a", Stage: "Production"},
		{ModelName: "m", StateDir: "x", Keep: -1},
	} {
		if _, err := modelsync.New(cfg, c, &fakeVerifier{}, act, broken, nil); !errors.Is(err, modelsync.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}

type brokenState struct{}

func (brokenState) GetState(string) ([]byte, error) { return nil, errors.New("disk on fire") }
func (brokenState) PutState(string, []byte) error   { return errors.New("disk on fire") }

func TestRunStopsWithContext(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion", Interval: time.Hour}, nil)
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.act.notify = make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.sync.Run(ctx) }()
	if v := <-r.act.notify; v != "1" {
		t.Errorf("Run's first poll activated %q, want 1", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestReinstallsFromDiskAndReplacesPartialCopies: an installed version the
// alias returns to is activated without downloading; a directory without an
// install record (a crash between rename and record) is replaced.
func TestReinstallsFromDiskAndReplacesPartialCopies(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout2x))
	r.mustSync(t, true)

	hits := r.srv.Hits(mlflowtest.RouteArtifactFile)
	r.srv.SetAlias(name, "champion", "1")
	r.mustSync(t, true)
	if r.act.serving() != "1" || r.srv.Hits(mlflowtest.RouteArtifactFile) != hits {
		t.Errorf("serving %q, downloads %d → %d; want 1 from disk", r.act.serving(), hits, r.srv.Hits(mlflowtest.RouteArtifactFile))
	}

	junk := filepath.Join(r.dir, "models", name, "3")
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(junk, "model.onnx"), []byte("half"), 0o644)
	os.MkdirAll(filepath.Join(r.dir, "models", ".staging-crashed"), 0o755)
	r.srv.SetAlias(name, "champion", r.addVersion(3, mlflowtest.Layout3x))
	r.mustSync(t, true)
	checkInstalled(t, r.dir, "3", 3)
	noStaging(t, r.dir)
}

func TestUntrustedTLSIsClassified(t *testing.T) {
	srv := mlflowtest.NewTLS(t)
	srv.SetAlias(name, "a", srv.AddVersion(name, mlflowtest.Version{Files: files(1)}))
	cfg := clientConfig(srv.URL)
	cfg.MaxRetries = -1
	c, _ := mlflow.New(cfg, nil)
	s, _ := modelsync.New(modelsync.Config{ModelName: name, Alias: "a", StateDir: t.TempDir(), StateNotFound: errMissing}, c, &fakeVerifier{}, &fakeActivator{}, &memState{}, nil)
	if _, err := s.SyncOnce(context.Background()); modelsync.Reason(err) != modelsync.ReasonTLS {
		t.Errorf("reason %q for %v, want tls", modelsync.Reason(err), err)
	}
}

// TestOperatorNotBlockedBySlowDownload: a rollback goes through while a sync
// is stuck downloading from a hanging server.
func TestOperatorNotBlockedBySlowDownload(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	for seed := byte(1); seed <= 2; seed++ {
		r.srv.SetAlias(name, "champion", r.addVersion(seed, mlflowtest.Layout2x))
		r.mustSync(t, true)
	}
	r.srv.SetAlias(name, "champion", r.addVersion(3, mlflowtest.Layout2x))
	started := make(chan struct{}, 1)
	r.srv.Override(mlflowtest.RouteArtifactFile, func(w http.ResponseWriter, req *http.Request) {
		select {
		case started <- struct{}{}:
		default:
		}
		<-req.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	synced := make(chan error, 1)
	go func() { _, err := r.sync.SyncOnce(ctx); synced <- err }()
	<-started

	rolled := make(chan error, 1)
	go func() { rolled <- r.sync.Rollback(context.Background()) }()
	select {
	case err := <-rolled:
		if err != nil || r.act.serving() != "1" {
			t.Errorf("Rollback during a download: %v, serving %q", err, r.act.serving())
		}
	case <-time.After(10 * time.Second): // a failure detector, not synchronisation
		t.Error("Rollback blocked behind a hanging download")
	}
	cancel()
	if err := <-synced; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sync: %v", err)
	}
	if st := r.sync.Stats(); len(st.Failures) != 0 {
		t.Errorf("a cancelled sync counted as a failure: %+v", st.Failures)
	}
	noStaging(t, r.dir)
	if r.act.serving() != "1" {
		t.Errorf("serving %q after the cancelled sync, want 1", r.act.serving())
	}
}
