package modelsync

import (
	"log/slog"
	"strings"
	"time"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/infer/mlflow"
)

// MLflowConfig is the `mlflow:` section of edged.yaml: which registry and model to follow,
// and how often. Credentials and TLS are not keys: they come from MLflow's own environment
// variables (mlflow.ConfigFromEnv). An empty TrackingURI turns model sync off.
type MLflowConfig struct {
	// TrackingURI is the tracking server, http(s)://host[:port][/prefix], without
	// credentials.
	TrackingURI string `yaml:"tracking_uri"`
	// ModelName is the registered model to follow.
	ModelName string `yaml:"model_name"`
	// Alias or Stage selects the version; set exactly one.
	Alias string `yaml:"alias"`
	Stage string `yaml:"stage"`
	// IntervalSeconds is the time between polls.
	IntervalSeconds float64 `yaml:"interval_seconds"`
	// Keep is how many installed versions stay on disk for rollback.
	Keep int `yaml:"keep"`
	// MaxDownloadBytes bounds what one version's artifacts may declare; 0 is a quarter of
	// the space free on the state directory's filesystem (Config.MaxDownloadBytes).
	MaxDownloadBytes int64 `yaml:"max_download_bytes"`
	// RequireChecksum refuses a version without an edged.sha256 tag (default true).
	RequireChecksum bool `yaml:"require_checksum"`
}

// Bounds of the section.
const (
	// maxIntervalSeconds: a week between polls is as good as never.
	maxIntervalSeconds = 7 * 24 * 3600
	maxKeep            = 100
	maxDownloadBytes   = 1 << 50
)

// DefaultMLflowConfig is the section's defaults: sync off; when on, a poll every 5 minutes
// and 3 versions kept.
func DefaultMLflowConfig() MLflowConfig {
	return MLflowConfig{IntervalSeconds: DefaultInterval.Seconds(), Keep: DefaultKeep, RequireChecksum: true}
}

// Enabled reports whether a tracking server is set.
func (c MLflowConfig) Enabled() bool { return c.TrackingURI != "" }

// Validate checks the section and builds the MLflow client as the daemon does (reading
// MLflow's environment variables and certificate files), without touching the network.
// With sync off nothing is checked. Errors are keyed relative to the section; none shows a
// password.
func (c MLflowConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	l := check.NewList(ErrInvalidConfig)
	if mc, err := mlflow.ConfigFromEnv(); err != nil {
		l.Add("", "%v", err) // an MLFLOW_* variable, not a key
	} else {
		mc.TrackingURI = c.TrackingURI
		if _, err := mlflow.New(mc, nil); err != nil {
			l.Add("tracking_uri", "%v", err)
		}
	}
	switch {
	case c.ModelName == "":
		l.Add("model_name", "missing")
	case strings.ContainsAny(c.ModelName, "/\\\x00") || c.ModelName == "." || c.ModelName == "..":
		// It names the directory the versions are installed in.
		l.Add("model_name", "%q: cannot be a directory name", c.ModelName)
	}
	if (c.Alias == "") == (c.Stage == "") {
		l.Add("alias", "set exactly one of alias and stage")
	}
	l.Positive("interval_seconds", c.IntervalSeconds, maxIntervalSeconds, "seconds")
	l.Int("keep", int64(c.Keep), 1, maxKeep)
	l.Int("max_download_bytes", c.MaxDownloadBytes, 0, maxDownloadBytes)
	return l.Err()
}

// Client builds the MLflow client: the section's tracking URI wins over
// MLFLOW_TRACKING_URI; credentials, TLS and retries come from MLflow's own variables, as
// MLflow's client reads them.
func (c MLflowConfig) Client(log *slog.Logger) (*mlflow.Client, error) {
	mc, err := mlflow.ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	mc.TrackingURI = c.TrackingURI
	return mlflow.New(mc, log)
}

// Sync is the section as New's Config, installing under stateDir/models/.
func (c MLflowConfig) Sync(stateDir string, stateNotFound error) Config {
	return Config{
		ModelName: c.ModelName, Alias: c.Alias, Stage: c.Stage, StateDir: stateDir,
		Interval: time.Duration(c.IntervalSeconds * float64(time.Second)), Keep: c.Keep,
		StateNotFound: stateNotFound, MaxDownloadBytes: c.MaxDownloadBytes, AllowMissingChecksum: !c.RequireChecksum,
	}
}
