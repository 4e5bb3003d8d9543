package daemon

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/mlflow"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/store"
)

// NewSyncer builds MLflow model sync from the config (modelsync.MLflowConfig: credentials
// and TLS from MLflow's own environment variables), models under <state_dir>/models/. The
// `edged model` commands use it with a verifier and activator of their own.
func NewSyncer(cfg configs.Config, v modelsync.Verifier, a modelsync.Activator, st modelsync.State, log *slog.Logger) (*modelsync.Syncer, error) {
	client, err := cfg.MLflow.Client(log.With("component", "mlflow"))
	if err != nil {
		return nil, err
	}
	return modelsync.New(cfg.MLflow.Sync(cfg.ResolvedStateDir(), store.ErrNotFound), client, v, a, st, log.With("component", "modelsync"))
}

func (mm *modelManager) startSync(cfg configs.Config, db *store.DB, reg *prometheus.Registry) error {
	s, err := NewSyncer(cfg, Verifier{Load: mm.loadWith}, activator{mm}, db, mm.log)
	if err != nil {
		return err
	}
	mm.syncer = s
	reg.MustRegister(newSyncCollector(s))
	return nil
}

func (mm *modelManager) loadWith(src infer.Source) (*infer.Model, error) {
	mm.mu.Lock()
	cfg := mm.cfg
	mm.mu.Unlock()
	return mm.load(src, cfg)
}

// Verifier accepts a downloaded version only if ONNX Runtime loads it, it matches its
// contract, and a smoke inference on a window of noise answers finite numbers.
type Verifier struct {
	Load func(infer.Source) (*infer.Model, error)
}

// Verify implements modelsync.Verifier.
func (v Verifier) Verify(ctx context.Context, dir string, mv mlflow.ModelVersion) (modelsync.Installed, error) {
	entry, err := modelsync.EntryFile(dir)
	if err != nil {
		return modelsync.Installed{}, err
	}
	m, err := v.Load(infer.Source{Path: filepath.Join(dir, filepath.FromSlash(entry)), Name: mv.Name, Version: mv.Version})
	if err != nil {
		return modelsync.Installed{}, err
	}
	defer m.Close()
	if err := smokeTest(m); err != nil {
		return modelsync.Installed{}, err
	}
	return modelsync.Installed{}, nil
}

type activator struct{ mm *modelManager }

// Activate loads an installed version and swaps it in; the current model keeps serving if
// loading fails.
func (a activator) Activate(ctx context.Context, in modelsync.Installed) error {
	mm := a.mm
	m, err := mm.loadWith(infer.Source{Path: in.EntryPath(), Name: in.Name, Version: in.Version})
	if err != nil {
		return err
	}
	if mm.engine == nil {
		// At startup (Restore) there is no engine yet: this model starts it.
		mm.engine = infer.NewEngine(m)
		return nil
	}
	mm.activate(m, originMLflow)
	return nil
}

// newSyncCollector exports sync attempts and failures by reason, and whether (and why) the
// active version differs from the one the registry names.
func newSyncCollector(s *modelsync.Syncer) prometheus.Collector {
	return collectorFunc{
		descs: []*prometheus.Desc{
			prometheus.NewDesc("edged_model_sync_attempts_total", "MLflow sync polls that ran.", nil, nil),
			prometheus.NewDesc("edged_model_sync_installs_total", "Sync polls that installed and activated a new version.", nil, nil),
			prometheus.NewDesc("edged_model_sync_failures_total", "Failed sync polls, by reason.", []string{"reason"}, nil),
			prometheus.NewDesc("edged_model_sync_last_success_timestamp_seconds", "When a sync poll last succeeded (0: never).", nil, nil),
			prometheus.NewDesc("edged_model_sync_diverged", "1 while the active model is not the version the registry's alias or stage names, "+
				"for the reason why (rolled_back, pinned, failed_verification, failed_download, failed_install, not_ready, pending); 0 otherwise.", []string{"reason"}, nil),
			prometheus.NewDesc("edged_model_sync_target_version", "The version the registry's alias or stage named at the last poll that reached it (0: unknown).", nil, nil),
		},
		collect: func(ds []*prometheus.Desc, ch chan<- prometheus.Metric) {
			st := s.Stats()
			ch <- prometheus.MustNewConstMetric(ds[0], prometheus.CounterValue, float64(st.Attempts))
			ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(st.Installs))
			// Every reason at 0 before its first failure, so that rate() and alerts see it.
			for _, r := range modelsync.FailureReasons() {
				ch <- prometheus.MustNewConstMetric(ds[2], prometheus.CounterValue, float64(st.Failures[r]), r)
			}
			last := 0.0
			if !st.LastSuccess.IsZero() {
				last = float64(st.LastSuccess.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(ds[3], prometheus.GaugeValue, last)
			for _, r := range modelsync.DivergenceReasons() {
				v := 0.0
				if st.Divergence == r {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(ds[4], prometheus.GaugeValue, v, r)
			}
			target, _ := strconv.ParseFloat(st.TargetVersion, 64) // MLflow versions are integers
			ch <- prometheus.MustNewConstMetric(ds[5], prometheus.GaugeValue, target)
		},
	}
}
