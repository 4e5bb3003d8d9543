package modelsync_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/store"
)

// Example shows the daemon's wiring: restore offline first, then poll.
func Example() {
	log := slog.Default()
	db, err := store.Open("/var/lib/edged/edged.db", store.Options{}, log)
	if err != nil {
		return
	}
	defer db.Close()
	mcfg, err := mlflow.ConfigFromEnv()
	if err != nil {
		return
	}
	client, err := mlflow.New(mcfg, log.With("component", "mlflow"))
	if err != nil {
		return
	}
	var verifier modelsync.Verifier   // ORT load + contract + smoke inference
	var activator modelsync.Activator // the engine's hot swap
	s, err := modelsync.New(modelsync.Config{
		ModelName: "heimdall-localization-onnx", Alias: "champion",
		StateDir: "/var/lib/edged", Interval: 5 * time.Minute, Keep: 3,
		StateNotFound: store.ErrNotFound,
	}, client, verifier, activator, db, log.With("component", "modelsync"))
	if err != nil {
		return
	}
	ctx := context.Background()
	if _, ok, err := s.Restore(ctx); err != nil || !ok {
		log.Warn("no installed model yet", "err", err)
	}
	go s.Run(ctx)
}
