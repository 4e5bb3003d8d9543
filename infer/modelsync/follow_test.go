package modelsync_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/store"
)

// follow reports the syncer's view: "active target reason".
func follow(s *modelsync.Syncer) string {
	st := s.Stats()
	return st.ActiveVersion + " " + st.TargetVersion + " " + st.Divergence
}

// Ensure that a rollback holds only while the alias names the version rolled back from:
// alias 1 → 2, rollback to 1, alias → 3 goes live, alias back → 2 ends on 2 (from disk),
// with the divergence reported in between and one log line per change.
func TestRollbackHoldsUntilTheAliasMoves(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	ctx := context.Background()
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if got := follow(r.sync); got != "2 2 " {
		t.Fatalf("after alias → 2: %q", got)
	}

	before := r.logs.String()
	if err := r.sync.Rollback(ctx); err != nil || r.act.serving() != "1" {
		t.Fatalf("Rollback: %v, serving %q", err, r.act.serving())
	}
	if got := follow(r.sync); got != "1 2 rolled_back" {
		t.Errorf("after rollback: %q, want active 1, target 2, rolled_back", got)
	}
	r.mustSync(t, false) // the alias still names 2: held
	if got := follow(r.sync); got != "1 2 rolled_back" || r.act.serving() != "1" {
		t.Errorf("poll after rollback: %q, serving %q", got, r.act.serving())
	}
	logged := strings.TrimPrefix(r.logs.String(), before)
	if n := strings.Count(logged, `msg="active model differs from the registry's target"`); n != 1 ||
		!strings.Contains(logged, "target=2 active=1 reason=rolled_back") {
		t.Errorf("want one divergence line naming target 2, active 1, rolled_back; got:\n%s", logged)
	}

	r.srv.SetAlias(name, "champion", r.addVersion(3, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if got := follow(r.sync); got != "3 3 " || r.act.serving() != "3" {
		t.Errorf("after alias → 3: %q, serving %q", got, r.act.serving())
	}
	if !strings.Contains(r.logs.String(), `msg="registry names another version; the operator's hold is lifted"`) {
		t.Error("no log line for the lifted hold")
	}

	downloads := r.srv.Hits(mlflowtest.RouteArtifactFile)
	r.srv.SetAlias(name, "champion", "2")
	r.mustSync(t, true)
	if got := follow(r.sync); got != "2 2 " || r.act.serving() != "2" {
		t.Errorf("after alias back → 2: %q, serving %q; want 2", got, r.act.serving())
	}
	if r.srv.Hits(mlflowtest.RouteArtifactFile) != downloads {
		t.Error("version 2 was downloaded again although it is on disk")
	}
	// The served history is 1, 3 under 2.
	if err := r.sync.Rollback(ctx); err != nil || r.act.serving() != "3" {
		t.Errorf("Rollback from 2: %v, serving %q; want 3, the last that served", err, r.act.serving())
	}
}

// Ensure a second rollback goes further back, not forth, and that the served-history stack
// survives a restart without the network (bbolt state, no MLflow client).
func TestSecondRollbackGoesFurtherBack(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, modelsync.Config{Alias: "champion", StateDir: dir}, nil)
	cfg := modelsync.Config{ModelName: name, Alias: "champion", StateDir: dir, StateNotFound: store.ErrNotFound, Keep: 5}
	online := r.buildWithState(t, cfg, r.srv.URL, db)
	for seed := byte(1); seed <= 4; seed++ {
		r.srv.SetAlias(name, "champion", r.addVersion(seed, mlflowtest.Layout2x))
		if ch, err := online.SyncOnce(context.Background()); !ch || err != nil {
			t.Fatalf("sync %d: %v %v", seed, ch, err)
		}
	}
	if err := online.Rollback(context.Background()); err != nil || r.act.serving() != "3" {
		t.Fatalf("first rollback: %v, serving %q", err, r.act.serving())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r.srv.Close()

	// Restart, offline: the second rollback goes to 2, the third to 1, then no further.
	db, err = store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r.act = &fakeActivator{}
	s, err := modelsync.New(cfg, nil, r.ver, r.act, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok, err := s.Restore(context.Background()); err != nil || !ok || m.Version != "3" {
		t.Fatalf("Restore = %v %v %v", m.Version, ok, err)
	}
	if got := follow(s); got != "3 4 rolled_back" {
		t.Errorf("restored view %q, want the hold on 4 kept across the restart", got)
	}
	for _, want := range []string{"2", "1"} {
		if err := s.Rollback(context.Background()); err != nil || r.act.serving() != want {
			t.Fatalf("rollback: %v, serving %q, want %s", err, r.act.serving(), want)
		}
	}
	if err := s.Rollback(context.Background()); !errors.Is(err, modelsync.ErrNoPrevious) || r.act.serving() != "1" {
		t.Errorf("rollback past the first version: %v, serving %q", err, r.act.serving())
	}
	if got := follow(s); got != "1 4 rolled_back" {
		t.Errorf("after three rollbacks %q, want the hold still on the alias's 4", got)
	}
}

// Ensure keep never deletes the active version nor the rollback target, whatever the order
// of syncs and rollbacks (keep 2, three versions).
func TestKeepNeverDeletesTheRollbackTarget(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion", Keep: 2}, nil)
	ctx := context.Background()
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if err := r.sync.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Now 1 serves and 1 is also what a rollback from 3 must reach.
	r.srv.SetAlias(name, "champion", r.addVersion(3, mlflowtest.Layout2x))
	r.mustSync(t, true)
	if got := onDisk(t, r.sync); got != "1,3" {
		t.Errorf("on disk %s, want 1,3 (active 3, rollback target 1; 2 rolled back from)", got)
	}
	if err := r.sync.Rollback(ctx); err != nil || r.act.serving() != "1" {
		t.Errorf("Rollback: %v, serving %q; want 1", err, r.act.serving())
	}

	// Keep 1 still keeps the rollback target beside the active version.
	r1 := newRig(t, modelsync.Config{Alias: "champion", Keep: 1}, nil)
	for seed := byte(1); seed <= 3; seed++ {
		r1.srv.SetAlias(name, "champion", r1.addVersion(seed, mlflowtest.Layout2x))
		r1.mustSync(t, true)
	}
	if got := onDisk(t, r1.sync); got != "2,3" {
		t.Errorf("keep 1: on disk %s, want 2,3", got)
	}
}

// Ensure the divergence reason says why the target is not active, is kept across polls
// without flapping, and is stored with the state.
func TestDivergenceReasons(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	ctx := context.Background()
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)

	v2 := r.addVersion(2, mlflowtest.Layout2x)
	r.srv.SetAlias(name, "champion", v2)
	r.srv.SetStatus(name, v2, mlflow.StatusPendingRegistration)
	r.mustSync(t, false)
	if got := follow(r.sync); got != "1 2 not_ready" {
		t.Errorf("pending registration: %q", got)
	}

	r.srv.SetStatus(name, v2, mlflow.StatusReady)
	r.ver.fail(errors.New("smoke inference: NaN"))
	for range 2 {
		if _, err := r.sync.SyncOnce(ctx); err == nil {
			t.Fatal("sync of a refused version succeeded")
		}
		if got := follow(r.sync); got != "1 2 failed_verification" {
			t.Errorf("refused by the verifier: %q", got)
		}
	}
	if n := strings.Count(r.logs.String(), "reason=failed_verification"); n != 1 {
		t.Errorf("%d divergence lines for two failed polls, want 1", n)
	}

	r.srv.Fail(mlflowtest.RouteArtifactFile, 500, -1)
	r.ver.fail(nil)
	r.sync.SyncOnce(ctx)
	if got := follow(r.sync); got != "1 2 failed_download" {
		t.Errorf("the target then failed to download: %q", got)
	}
	r.srv.ClearFaults()
	r.mustSync(t, true)
	if got := follow(r.sync); got != "2 2 " {
		t.Errorf("installed: %q", got)
	}
	if !strings.Contains(r.logs.String(), `msg="active model is the registry's target again"`) {
		t.Error("no log line for the end of the divergence")
	}

	if err := r.sync.Activate(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	r.mustSync(t, false)
	if got := follow(r.sync); got != "1 2 pinned" {
		t.Errorf("activated by hand: %q", got)
	}

	// A new alias target that cannot be fetched lifts the hold and says so.
	v3 := r.addVersion(3, mlflowtest.Layout2x)
	r.srv.SetAlias(name, "champion", v3)
	r.srv.Fail(mlflowtest.RouteArtifactFile, 500, -1)
	r.sync.SyncOnce(ctx)
	if got := follow(r.sync); got != "1 3 failed_download" {
		t.Errorf("new target unreachable: %q", got)
	}

	// A restart reads the same view from the state.
	s := r.build(t, modelsync.Config{ModelName: name, Alias: "champion", StateDir: r.dir, StateNotFound: errMissing}, r.srv.URL, nil)
	if _, _, err := s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := follow(s); got != "1 3 failed_download" {
		t.Errorf("after a restart: %q", got)
	}
}

// Ensure an operator's switch before the registry was ever asked holds on the version left,
// and that the state format before holds (a skip list) still loads as a hold.
func TestHoldWithoutKnownTarget(t *testing.T) {
	r := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	ctx := context.Background()
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	r.mustSync(t, true)
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout2x))
	r.mustSync(t, true)

	// Rewrite the record as the previous format stored it: no target, a skip list.
	key := "modelsync/" + name
	old, _ := r.state.GetState(key)
	rec := strings.Replace(string(old), `"target":"2"`, `"skip":["2"]`, 1)
	if rec == string(old) {
		t.Fatalf("record has no target to rewrite: %s", old)
	}
	r.state.PutState(key, []byte(strings.Replace(rec, `"active":{"name":"edge-detector","version":"2"`, `"active":{"name":"edge-detector","version":"1"`, 1)))
	r.act = &fakeActivator{}
	s := r.build(t, modelsync.Config{ModelName: name, Alias: "champion", StateDir: r.dir, StateNotFound: errMissing}, r.srv.URL, nil)
	if _, err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := follow(s); got != "1 2 pinned" {
		t.Errorf("skip list from the old format: %q, want a hold on 2", got)
	}

	// Fresh state, offline switch: the hold stands for the version left.
	r2 := newRig(t, modelsync.Config{Alias: "champion"}, nil)
	r2.srv.SetAlias(name, "champion", r2.addVersion(1, mlflowtest.Layout2x))
	r2.mustSync(t, true)
	r2.srv.SetAlias(name, "champion", r2.addVersion(2, mlflowtest.Layout2x))
	r2.mustSync(t, true)
	r2.state.PutState(key, []byte(strings.Replace(mustGet(t, r2.state, key), `"target":"2"`, `"target":""`, 1)))
	if err := r2.sync.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r2.mustSync(t, false)
	if got := follow(r2.sync); got != "1 2 rolled_back" {
		t.Errorf("rollback before any known target: %q", got)
	}
}

func mustGet(t *testing.T, s *memState, key string) string {
	t.Helper()
	b, err := s.GetState(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
