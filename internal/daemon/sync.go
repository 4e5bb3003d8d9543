package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/store"
)

// syncer is model sync as the manager uses it (infer/modelsync).
type syncer interface {
	Run(ctx context.Context) error
	SyncOnce(ctx context.Context) (bool, error)
	Restore(ctx context.Context) (installed, bool, error)
	List() ([]installed, error)
	Rollback(ctx context.Context) error
}

type installed struct {
	Name, Version, SHA256 string
	Since                 time.Time
}

func (mm *modelManager) startSync(cfg configs.Config, stateDir string, db *store.DB, reg *prometheus.Registry) error {
	return errors.New("model sync is not built into this edged yet")
}
