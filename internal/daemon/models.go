package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/internal/pipeline"
	"github.com/heimdall/edged/models/reference"
	"github.com/heimdall/edged/store"
	"github.com/heimdall/edged/uplink"
)

// Where the active model came from (the source of api.ModelInfo, the origin label of
// edged_model_info).
const (
	originConfig   = "config"   // model.path
	originMLflow   = "mlflow"   // an installed registry version
	originEmbedded = "embedded" // the reference model inside the binary
)

// modelManager owns the engine's models: where they come from (a configured file, MLflow
// sync, or the embedded reference), verification before anything is swapped in, reload,
// rollback, and the retained MQTT model topic.
type modelManager struct {
	log     *slog.Logger
	engine  *infer.Engine
	metrics *pipeline.Metrics
	syncer  *modelsync.Syncer

	mu      sync.Mutex
	cfg     configs.Config
	since   time.Time
	origin  string // originConfig, originMLflow or originEmbedded
	restart func()

	onActivate func(uplink.ModelInfo)
	reloads    *prometheus.CounterVec
	info       *prometheus.GaugeVec
}

func newModelManager(cfg configs.Config, db *store.DB, reg *prometheus.Registry, log *slog.Logger) (*modelManager, error) {
	mm := &modelManager{log: log, cfg: cfg, metrics: pipeline.NewMetrics(reg)}
	mm.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_model_reloads_total",
		Help: "Model activations, by result (ok, error).",
	}, []string{"result"})
	mm.info = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "edged_model_info",
		Help: "The model in use (value 1), by name, version, sha256 and origin.",
	}, []string{"name", "version", "sha256", "origin"})
	reg.MustRegister(mm.reloads, mm.info)
	mm.reloads.WithLabelValues("ok")
	mm.reloads.WithLabelValues("error")

	if cfg.MLflow.Enabled() {
		if err := mm.startSync(cfg, db, reg); err != nil {
			return nil, configErr(fmt.Errorf("mlflow: %w", err))
		}
	}

	var first *infer.Model
	var err error
	switch {
	case cfg.Model.Path != "":
		first, err = mm.load(infer.Source{Path: cfg.Model.Path}, cfg)
		mm.origin = originConfig
	case mm.syncer != nil:
		// Offline-first: the last installed version, from disk, with MLflow unreachable.
		var inst modelsync.Installed
		var ok bool
		inst, ok, err = mm.syncer.Restore(context.Background())
		if err == nil && ok {
			first = mm.engineActive()
			mm.origin = originMLflow
			log.Info("restored synced model", "name", inst.Name, "version", inst.Version)
		}
	}
	if err != nil {
		return nil, configErr(err)
	}
	if first == nil {
		if first, err = mm.load(infer.Source{Data: reference.Model}, cfg); err != nil {
			return nil, err
		}
		mm.origin = originEmbedded
	}
	if mm.engine == nil {
		mm.engine = infer.NewEngine(first)
	}
	mm.since = time.Now().UTC()
	if err := mm.setChallenger(cfg); err != nil {
		return nil, configErr(err)
	}
	return mm, nil
}

func (mm *modelManager) engineActive() *infer.Model {
	if mm.engine == nil {
		return nil
	}
	return mm.engine.Active()
}

func (mm *modelManager) load(src infer.Source, cfg configs.Config) (*infer.Model, error) {
	opts, err := cfg.Model.Options()
	if err != nil {
		return nil, err
	}
	return infer.Load(src, opts)
}

func (mm *modelManager) setChallenger(cfg configs.Config) error {
	ch := cfg.Model.Challenger
	if ch.Path == "" {
		mm.engine.SetChallenger(nil, 0, false)
		return nil
	}
	m, err := mm.load(infer.Source{Path: ch.Path}, cfg)
	if err != nil {
		return fmt.Errorf("model.challenger.path: %w", err)
	}
	if !reflect.DeepEqual(m.Contract.Preprocess, mm.engine.Active().Contract.Preprocess) {
		m.Close()
		return errors.New("model.challenger.path: its preprocessing differs from the champion's; an A/B test needs the same features")
	}
	mm.engine.SetChallenger(m, ch.Split, ch.Mode == "shadow")
	mm.metrics.InitModel(m, ch.Mode == "shadow")
	mm.log.Info("challenger active", "name", m.Name, "version", m.Version, "split", ch.Split, "mode", ch.Mode)
	return nil
}

// smokeTest runs the model once on the features of a window of deterministic noise: the
// outputs must be finite, or the model is refused before it serves.
func smokeTest(m *infer.Model) error {
	p := m.Contract.Preprocess
	fe, err := dsp.NewFrontend(p)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	iq := make([]complex64, p.WindowSamples)
	for i := range iq {
		iq[i] = complex(float32(rng.NormFloat64()*0.01), float32(rng.NormFloat64()*0.01))
	}
	feat := make([]float32, m.FeatureLen())
	if _, err := fe.Features(iq, feat); err != nil {
		return fmt.Errorf("smoke test features: %w", err)
	}
	_, errs, err := m.Predict(context.Background(), [][]float32{feat})
	if err != nil {
		return fmt.Errorf("smoke test: %w", err)
	}
	if errs[0] != nil {
		return fmt.Errorf("smoke test: %w", errs[0])
	}
	return nil
}

// activate swaps m in. A model whose preprocessing differs needs a new pipeline.
func (mm *modelManager) activate(m *infer.Model, origin string) {
	old := mm.engine.Active()
	if !mm.engine.Swap(m) {
		mm.log.Warn("A/B test ended: the challenger's preprocessing differs from the new model's", "name", m.Name, "version", m.Version)
	}
	mm.mu.Lock()
	mm.since, mm.origin = time.Now().UTC(), origin
	restart := mm.restart
	mm.mu.Unlock()
	mm.reloads.WithLabelValues("ok").Inc()
	mm.log.Info("model active", "name", m.Name, "version", m.Version, "sha256", m.SHA256, "origin", origin)
	if !reflect.DeepEqual(old.Contract.Preprocess, m.Contract.Preprocess) && restart != nil {
		restart()
	}
	mm.announce()
}

// announce publishes the active model on the metrics and the retained MQTT topic.
func (mm *modelManager) announce() {
	m := mm.engine.Active()
	mm.mu.Lock()
	since, origin := mm.since, mm.origin
	mm.mu.Unlock()
	mm.info.Reset()
	mm.info.WithLabelValues(m.Name, m.Version, m.SHA256, origin).Set(1)
	mm.metrics.InitModel(m, false)
	if mm.onActivate != nil {
		mm.onActivate(uplink.ModelInfo{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Since: since})
	}
}

// reload re-reads the model the config names (SIGHUP, POST /api/v1/model/reload).
func (mm *modelManager) reload(ctx context.Context, cfg configs.Config) error {
	mm.mu.Lock()
	mm.cfg = cfg
	mm.mu.Unlock()
	var (
		m   *infer.Model
		err error
	)
	switch {
	case cfg.Model.Path != "":
		m, err = mm.load(infer.Source{Path: cfg.Model.Path}, cfg)
		if err == nil {
			err = smokeTest(m)
		}
		if err == nil {
			mm.activate(m, originConfig)
		}
	case mm.syncer != nil:
		_, err = mm.syncer.SyncOnce(ctx)
	default:
		m, err = mm.load(infer.Source{Data: reference.Model}, cfg)
		if err == nil {
			mm.activate(m, originEmbedded)
		}
	}
	if err != nil {
		mm.reloads.WithLabelValues("error").Inc()
		if m != nil {
			m.Close()
		}
		return err
	}
	return mm.setChallenger(cfg)
}

func (mm *modelManager) runSync(ctx context.Context) {
	if mm.syncer == nil {
		return
	}
	if err := mm.syncer.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		mm.log.Error("model sync stopped", "err", err)
	}
}

func (mm *modelManager) close() {
	if mm.engine == nil {
		return
	}
	if ch, _, _ := mm.engine.Challenger(); ch != nil {
		ch.Close()
	}
	mm.engine.Active().Close()
}

// The api.ModelManager side.

func (mm *modelManager) Active() api.ModelInfo {
	m := mm.engine.Active()
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return api.ModelInfo{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Since: mm.since, Active: true, Source: mm.origin}
}

func (mm *modelManager) List() ([]api.ModelInfo, error) {
	active := mm.Active()
	if mm.syncer == nil {
		return []api.ModelInfo{active}, nil
	}
	inst, err := mm.syncer.List()
	if err != nil {
		return nil, err
	}
	return modelRows(active, inst), nil
}

// modelRows lists the installed versions, oldest first, and marks the active one: the
// version the engine serves when it came from the registry, decided by name and version,
// never by bytes (two versions may have identical files). An active model that is not an
// installed version (the embedded one, a configured file) comes first.
func modelRows(active api.ModelInfo, inst []modelsync.Installed) []api.ModelInfo {
	out := make([]api.ModelInfo, 0, len(inst)+1)
	seen := false
	for _, in := range inst {
		isActive := active.Source == originMLflow && in.Name == active.Name && in.Version == active.Version
		seen = seen || isActive
		out = append(out, api.ModelInfo{Name: in.Name, Version: in.Version, SHA256: in.SHA256, Since: in.Since, Active: isActive, Source: originMLflow})
	}
	if !seen {
		out = append([]api.ModelInfo{active}, out...)
	}
	return out
}

// registryInfo is the syncer's recorded view for the API.
func registryInfo(st modelsync.Status) api.RegistryInfo {
	return api.RegistryInfo{Follows: st.Follows, Target: st.Target, Divergence: st.Divergence, RollbackTarget: st.RollbackTarget}
}

func (mm *modelManager) Registry() (api.RegistryInfo, bool) {
	if mm.syncer == nil {
		return api.RegistryInfo{}, false
	}
	st, err := mm.syncer.Status()
	if err != nil {
		mm.log.Warn("read model sync state", "err", err)
		return api.RegistryInfo{}, false
	}
	return registryInfo(st), true
}

func (mm *modelManager) Activate(ctx context.Context, version string) error {
	if mm.syncer == nil {
		return fmt.Errorf("%w: activating a version needs MLflow sync; none is installed", api.ErrNoRollback)
	}
	err := mm.syncer.Activate(ctx, version)
	if errors.Is(err, modelsync.ErrNotInstalled) {
		return fmt.Errorf("%w: %w", api.ErrUnknownVersion, err)
	}
	return err
}

func (mm *modelManager) Reload(ctx context.Context) error {
	mm.mu.Lock()
	cfg := mm.cfg
	mm.mu.Unlock()
	return mm.reload(ctx, cfg)
}

func (mm *modelManager) Rollback(ctx context.Context) error {
	if mm.syncer == nil {
		return fmt.Errorf("%w: rollback needs MLflow sync; no earlier version is installed", api.ErrNoRollback)
	}
	err := mm.syncer.Rollback(ctx)
	if errors.Is(err, modelsync.ErrNoPrevious) {
		return fmt.Errorf("%w: %w", api.ErrNoRollback, err)
	}
	return err
}

// newStoreCollector exports the store's size, what it wrote, its outbox (with the age of
// the oldest unsent fix) and its cache, and the bounds of the last two.
func newStoreCollector(db *store.DB) prometheus.Collector {
	return collectorFunc{
		descs: []*prometheus.Desc{
			prometheus.NewDesc("edged_store_size_bytes", "Size of the bbolt file on disk.", nil, nil),
			prometheus.NewDesc("edged_store_written_bytes_total", "Bytes the store wrote to its file (pages and meta pages of every transaction): what wears an SD card.", nil, nil),
			prometheus.NewDesc("edged_outbox_fixes", "Fixes committed and not yet acknowledged by the broker.", nil, nil),
			prometheus.NewDesc("edged_outbox_bytes", "Bytes of fixes in the outbox, as stored.", nil, nil),
			prometheus.NewDesc("edged_outbox_dropped_total", "Fixes dropped from the outbox, oldest first, because it was full (or, with no broker, because retention reached them).", nil, nil),
			prometheus.NewDesc("edged_store_cache_bytes", "Bytes of the predict cache, as counted against store.cache_max_bytes.", nil, nil),
			prometheus.NewDesc("edged_store_cache_evictions_total", "Predict cache entries evicted before expiry to stay under store.cache_max_bytes.", nil, nil),
			prometheus.NewDesc("edged_outbox_oldest_age_seconds", "How long ago the oldest fix still waiting for the broker was committed; 0 when the outbox is empty.", nil, nil),
			// The bounds, so that alerts and dashboards compare the gauges above with them.
			prometheus.NewDesc("edged_outbox_limit_fixes", "store.outbox_max_fixes: beyond it the oldest waiting fixes are dropped.", nil, nil),
			prometheus.NewDesc("edged_outbox_limit_bytes", "store.outbox_max_bytes: beyond it the oldest waiting fixes are dropped.", nil, nil),
			prometheus.NewDesc("edged_store_cache_limit_bytes", "store.cache_max_bytes: beyond it the oldest cached answers are evicted.", nil, nil),
			prometheus.NewDesc("edged_store_moved_aside_total", "Database files found unusable at start (corrupt, truncated, failed consistency check) and moved aside for a fresh store.", nil, nil),
			prometheus.NewDesc("edged_store_write_errors_total", "Store write transactions that failed to reach the disk, by reason (disk_full, io); each loses what it carried.", []string{"reason"}, nil),
			prometheus.NewDesc("edged_store_writable", "1 while the store's last write reached the disk, 0 while writes fail (a full disk, say).", nil, nil),
		},
		collect: func(descs []*prometheus.Desc, ch chan<- prometheus.Metric) {
			n, b := db.OutboxLen()
			ch <- prometheus.MustNewConstMetric(descs[0], prometheus.GaugeValue, float64(db.SizeBytes()))
			ch <- prometheus.MustNewConstMetric(descs[1], prometheus.CounterValue, float64(db.WrittenBytes()))
			ch <- prometheus.MustNewConstMetric(descs[2], prometheus.GaugeValue, float64(n))
			ch <- prometheus.MustNewConstMetric(descs[3], prometheus.GaugeValue, float64(b))
			ch <- prometheus.MustNewConstMetric(descs[4], prometheus.CounterValue, float64(db.Dropped()))
			ch <- prometheus.MustNewConstMetric(descs[5], prometheus.GaugeValue, float64(db.CacheBytes()))
			ch <- prometheus.MustNewConstMetric(descs[6], prometheus.CounterValue, float64(db.CacheEvicted()))
			age := 0.0
			if oldest, ok, err := db.OutboxOldest(); err == nil && ok {
				age = max(0, time.Since(oldest).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(descs[7], prometheus.GaugeValue, age)
			o := db.Options()
			ch <- prometheus.MustNewConstMetric(descs[8], prometheus.GaugeValue, float64(o.OutboxMaxCount))
			ch <- prometheus.MustNewConstMetric(descs[9], prometheus.GaugeValue, float64(o.OutboxMaxBytes))
			ch <- prometheus.MustNewConstMetric(descs[10], prometheus.GaugeValue, float64(o.CacheMaxBytes))
			moved := 0.0
			if db.MovedAside() != "" {
				moved = 1
			}
			ch <- prometheus.MustNewConstMetric(descs[11], prometheus.CounterValue, moved)
			full, other := db.WriteFailures()
			ch <- prometheus.MustNewConstMetric(descs[12], prometheus.CounterValue, float64(full), "disk_full")
			ch <- prometheus.MustNewConstMetric(descs[12], prometheus.CounterValue, float64(other), "io")
			writable := 1.0
			if db.WriteErr() != nil {
				writable = 0
			}
			ch <- prometheus.MustNewConstMetric(descs[13], prometheus.GaugeValue, writable)
		},
	}
}

// collectorFunc is a collector read at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func([]*prometheus.Desc, chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(c.descs, ch) }

// StoppedModels describes the models as `edged run` would start with them, for `edged model
// list` while the daemon is stopped: the same rows and registry view GET /api/v1/models
// answers. s is nil when model sync is off. A configured or embedded model is loaded (with
// ONNX Runtime) to learn its name and version, as the daemon does.
func StoppedModels(cfg configs.Config, s *modelsync.Syncer) ([]api.ModelInfo, *api.RegistryInfo, error) {
	var (
		inst     []modelsync.Installed
		reg      *api.RegistryInfo
		recorded string
	)
	if s != nil {
		st, err := s.Status()
		if err != nil {
			return nil, nil, err
		}
		info := registryInfo(st)
		reg, recorded = &info, st.Active.Version
		if inst, err = s.List(); err != nil {
			return nil, nil, err
		}
	}
	// The daemon's start: model.path, else the recorded version when it is on disk, else
	// the embedded model.
	if cfg.Model.Path == "" && recorded != "" {
		for _, in := range inst {
			if in.Version == recorded {
				return modelRows(api.ModelInfo{Name: in.Name, Version: in.Version, SHA256: in.SHA256, Active: true, Source: originMLflow}, inst), reg, nil
			}
		}
	}
	src, origin := infer.Source{Data: reference.Model}, originEmbedded
	if cfg.Model.Path != "" {
		src, origin = infer.Source{Path: cfg.Model.Path}, originConfig
	}
	m, err := (&modelManager{}).load(src, cfg)
	if err != nil {
		return nil, nil, configErr(err)
	}
	active := api.ModelInfo{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Active: true, Source: origin}
	m.Close()
	return modelRows(active, inst), reg, nil
}
