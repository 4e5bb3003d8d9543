package modelsync_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heimdall/edged/infer/mlflow/mlflowtest"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/store"
)

var _ modelsync.State = (*store.DB)(nil)

// TestRestartWithBboltStore is the daemon's restart path: the active version
// lives in bbolt, the store is closed and reopened, MLflow is gone.
func TestRestartWithBboltStore(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "edged.db")
	db, err := store.Open(dbPath, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, modelsync.Config{Alias: "champion", StateDir: dir}, nil)
	cfg := modelsync.Config{ModelName: name, Alias: "champion", StateDir: dir, StateNotFound: store.ErrNotFound}
	s, err := modelsync.New(cfg, nil, r.ver, r.act, db, nil) // no client: offline only
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Restore(context.Background()); ok || err != nil {
		t.Fatalf("first start Restore = %v, %v; want nothing, no error", ok, err)
	}

	withClient := r.buildWithState(t, cfg, r.srv.URL, db)
	r.srv.SetAlias(name, "champion", r.addVersion(1, mlflowtest.Layout2x))
	if ch, err := withClient.SyncOnce(context.Background()); !ch || err != nil {
		t.Fatalf("SyncOnce = %v, %v", ch, err)
	}
	r.srv.SetAlias(name, "champion", r.addVersion(2, mlflowtest.Layout3x))
	if ch, err := withClient.SyncOnce(context.Background()); !ch || err != nil {
		t.Fatalf("SyncOnce = %v, %v", ch, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r.srv.Close()

	db, err = store.Open(dbPath, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r.act = &fakeActivator{}
	s, err = modelsync.New(cfg, nil, r.ver, r.act, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := s.Restore(context.Background())
	if err != nil || !ok || m.Version != "2" || r.act.serving() != "2" {
		t.Fatalf("Restore after restart = %+v, %v, %v", m, ok, err)
	}
	if err := s.Rollback(context.Background()); err != nil || r.act.serving() != "1" {
		t.Errorf("offline Rollback: %v, serving %q", err, r.act.serving())
	}
}
