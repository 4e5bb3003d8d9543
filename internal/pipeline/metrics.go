package pipeline

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/infer"
)

// Metrics are the pipeline's Prometheus series. A nil *Metrics records nothing, so tools
// such as a one-shot replay need not build a registry.
type Metrics struct {
	stageDuration *prometheus.HistogramVec
	stageErrors   *prometheus.CounterVec
	windowsTotal  prometheus.Counter
	gatedTotal    prometheus.Counter
	fixesTotal    prometheus.Counter
	predictions   *prometheus.CounterVec
}

// NewMetrics registers the pipeline's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edged_stage_duration_seconds",
			Help:    "Time one window (dsp) or one batch (infer, store) spends in a pipeline stage.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
		}, []string{"stage"}),
		stageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_stage_errors_total",
			Help: "Failures in a pipeline stage, by class.",
		}, []string{"stage", "class"}),
		windowsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_windows_total",
			Help: "Inference windows cut from the IQ stream.",
		}),
		gatedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_windows_gated_total",
			Help: "Windows whose SNR passed the signal gate and went to the model.",
		}),
		fixesTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_fixes_total",
			Help: "Fixes committed.",
		}),
		predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_model_predictions_total",
			Help: "Windows run by a model version, by result (ok, non_finite, shadow_ok, shadow_non_finite).",
		}, []string{"model", "version", "result"}),
	}
	reg.MustRegister(m.stageDuration, m.stageErrors, m.windowsTotal, m.gatedTotal, m.fixesTotal, m.predictions)
	// Failure series exist from the start, at 0, so rate() and alerts see them before the
	// first failure.
	for stage, classes := range map[string][]string{
		"dsp":   {"other"},
		"infer": {"runtime", "no_model", "ellipse", "other"},
		"store": {"other"},
	} {
		for _, class := range classes {
			m.stageErrors.WithLabelValues(stage, class)
		}
	}
	return m
}

// InitModel creates model's prediction series at 0 (for a challenger in shadow mode, its
// shadow_ results), so its non_finite count exists before the first bad window.
func (m *Metrics) InitModel(model *infer.Model, shadow bool) {
	if m == nil || model == nil {
		return
	}
	prefix := ""
	if shadow {
		prefix = "shadow_"
	}
	for _, r := range []string{"ok", "non_finite"} {
		m.predictions.WithLabelValues(model.Name, model.Version, prefix+r)
	}
}

func (m *Metrics) observeStage(stage string, t0 time.Time, err error) {
	if m == nil {
		return
	}
	m.stageDuration.WithLabelValues(stage).Observe(time.Since(t0).Seconds())
	if err != nil {
		class := "other"
		switch {
		case errors.Is(err, infer.ErrRuntime):
			class = "runtime"
		case errors.Is(err, infer.ErrNoModel):
			class = "no_model"
		}
		m.stageErrors.WithLabelValues(stage, class).Inc()
	}
}

func (m *Metrics) stageError(stage, class string) {
	if m != nil {
		m.stageErrors.WithLabelValues(stage, class).Inc()
	}
}

func (m *Metrics) windows() {
	if m != nil {
		m.windowsTotal.Inc()
	}
}

func (m *Metrics) gated() {
	if m != nil {
		m.gatedTotal.Inc()
	}
}

func (m *Metrics) fixes(n int) {
	if m != nil {
		m.fixesTotal.Add(float64(n))
	}
}

func (m *Metrics) prediction(r infer.Result) {
	if m == nil {
		return
	}
	record := func(r infer.Result, prefix string) {
		result := prefix + "ok"
		if r.Err != nil {
			result = prefix + "non_finite"
		}
		m.predictions.WithLabelValues(r.Model.Name, r.Model.Version, result).Inc()
	}
	record(r, "")
	if r.Shadow != nil {
		record(*r.Shadow, "shadow_")
	}
}
