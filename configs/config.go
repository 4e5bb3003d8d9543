// Package configs composes edged's configuration from the sections each stage owns: it
// holds the top-level keys, the annotated defaults (edged.yaml, embedded, also the example
// operators copy), the decoding of a file over them that refuses unknown keys, EDGED_*
// environment overrides, and validation that reports every mistake at once, each with the
// file and line (or the variable) it came from. Validation never touches the network, so
// the daemon starts with its broker or MLflow down, and a typo is reported at once.
//
// Which package owns which section:
//
//	receiver_id, log_*, state_dir, onnxruntime_lib   configs
//	source                                           capture.Config
//	model                                            infer.ModelConfig
//	gate                                             dsp.GateConfig
//	fix                                              infer.FixConfig
//	store                                            store.Config
//	mqtt                                             uplink.Config
//	http                                             api.Config
//	mlflow                                           modelsync.MLflowConfig
package configs

import (
	_ "embed"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/configs/safefile"
	"github.com/heimdall/edged/dsp"
	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/infer/modelsync"
	"github.com/heimdall/edged/store"
	"github.com/heimdall/edged/uplink"
)

// Default is the annotated default configuration, embedded in the binary. It decodes to
// exactly DefaultConfig (a test holds them together).
//
//go:embed edged.yaml
var Default []byte

// Config is the whole daemon configuration. Keys are snake_case.
type Config struct {
	// ReceiverID names this receiver in fix ids and MQTT topics (check.ReceiverID).
	ReceiverID string `yaml:"receiver_id"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// StateDir holds the bbolt file and installed models. Empty means $STATE_DIRECTORY
	// (set by systemd's StateDirectory=) or /var/lib/edged.
	StateDir string `yaml:"state_dir"`
	// OnnxRuntimeLib is the ONNX Runtime library; empty: infer.FindLibrary's search.
	OnnxRuntimeLib string `yaml:"onnxruntime_lib"`

	Source capture.Config    `yaml:"source"`
	Model  infer.ModelConfig `yaml:"model"`
	Gate   dsp.GateConfig    `yaml:"gate"`
	Fix    infer.FixConfig   `yaml:"fix"`
	Store  store.Config      `yaml:"store"`
	// MQTT is the uplink; an empty broker disables it. Its receiver id is the top level's.
	MQTT   uplink.Config          `yaml:"mqtt"`
	HTTP   api.Config             `yaml:"http"`
	MLflow modelsync.MLflowConfig `yaml:"mlflow"`
}

// DefaultConfig is the configuration with no file: every section's defaults.
func DefaultConfig() Config {
	return Config{
		ReceiverID: "edged-demo",
		LogLevel:   "info",
		LogFormat:  "text",
		Source:     capture.DefaultConfig(),
		Model:      infer.DefaultModelConfig(),
		Gate:       dsp.DefaultGateConfig(),
		Fix:        infer.DefaultFixConfig(),
		Store:      store.DefaultConfig(),
		MQTT:       uplink.DefaultConfig(),
		HTTP:       api.DefaultConfig(),
		MLflow:     modelsync.DefaultMLflowConfig(),
	}
}

// Limits of the files this package reads itself.
const (
	// MaxConfigBytes bounds a config file; the annotated default is 8 KB.
	MaxConfigBytes = 1 << 20
	// maxLibraryBytes bounds onnxruntime_lib (the 1.24 library is about 20 MB).
	maxLibraryBytes = 1 << 30
)

// Load reads a config file over the defaults, applies EDGED_* environment overrides, and
// validates the result: it is the one check `edged run`, `edged check-config` and reload
// share. An empty path means the defaults alone. Every mistake is reported, joined, each as
// "where: key: problem", where is FILE:LINE, FILE (a key the file does not set) or
// "environment EDGED_…"; no message shows a secret.
func Load(path string) (Config, error) {
	return load(path, os.Environ())
}

func load(path string, env []string) (Config, error) {
	c := DefaultConfig()
	o := &origins{file: path, at: map[string]origin{}}
	var ms []*Mistake
	if path != "" {
		data, err := safefile.Read(path, MaxConfigBytes)
		if err != nil {
			return c, err
		}
		ms = append(ms, decode(data, path, &c, o)...)
	}
	ms = append(ms, applyEnv(&c, env, o)...)
	for _, e := range check.Leaves(c.Validate()) {
		ms = append(ms, o.locate(e))
	}
	// In the order an operator reads them: down the file, then the environment.
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].rank() < ms[j].rank() })
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = m
	}
	return c, errors.Join(errs...)
}

// Mistake is one configuration mistake and where it was made.
type Mistake struct {
	// Where is "FILE:LINE", "FILE" (a key the file does not set), "environment EDGED_…",
	// or empty (a key at its default, with no file).
	Where string
	// Line is the file line, or 0.
	Line int
	// Err is the mistake; a *check.Error for a key.
	Err error
}

// Error implements error.
func (m *Mistake) Error() string {
	if m.Where == "" {
		return m.Err.Error()
	}
	return m.Where + ": " + m.Err.Error()
}

// Unwrap returns Err.
func (m *Mistake) Unwrap() error { return m.Err }

// rank orders mistakes: file lines first, in order, then the environment, then the rest.
func (m *Mistake) rank() int {
	switch {
	case m.Line > 0:
		return m.Line
	case strings.HasPrefix(m.Where, "environment "):
		return math.MaxInt - 1
	}
	return math.MaxInt
}

// Validate checks every section, as its owner defines, and the top-level keys. Errors are
// keyed by their full path (see check.Leaves) without file positions; Load adds those.
func (c Config) Validate() error {
	l := check.NewList(nil)
	if err := check.ReceiverID(c.ReceiverID); err != nil {
		l.Add("receiver_id", "%v", err)
	}
	l.OneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	l.OneOf("log_format", c.LogFormat, "text", "json")
	if c.OnnxRuntimeLib != "" {
		l.File("onnxruntime_lib", c.OnnxRuntimeLib, maxLibraryBytes)
	}
	l.Wrap("source", c.Source.Validate())
	l.Wrap("model", c.Model.Validate())
	l.Wrap("gate", c.Gate.Validate())
	l.Wrap("fix", c.Fix.Validate())
	l.Wrap("store", c.Store.Validate())
	// The receiver id is the top level's, and reported there.
	for _, e := range check.Leaves(c.Uplink().Validate()) {
		if e.Key != "receiver_id" {
			l.Wrap("mqtt", e)
		}
	}
	l.Wrap("http", c.HTTP.Validate())
	l.Wrap("mlflow", c.MLflow.Validate())
	return l.Err()
}

// Uplink is the mqtt section with the top-level receiver id.
func (c Config) Uplink() uplink.Config {
	u := c.MQTT
	u.ReceiverID = c.ReceiverID
	return u
}

// API is the http section with what the API takes from other sections: the receiver id,
// the fixes' confidence level and the predict cache's lifetime.
func (c Config) API() api.Config {
	h := c.HTTP
	h.ReceiverID = c.ReceiverID
	h.ConfidenceLevel = c.Fix.ConfidenceLevel
	h.CacheTTL = c.Store.CacheTTL()
	return h
}

// ResolvedStateDir is StateDir with its defaults applied.
func (c Config) ResolvedStateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may pass several, colon-separated; ours is the first.
		d, _, _ = strings.Cut(d, ":")
		return d
	}
	return "/var/lib/edged"
}

// StorePath is the bbolt file: store.path, else <state_dir>/edged.db.
func (c Config) StorePath() string {
	if c.Store.Path != "" {
		return c.Store.Path
	}
	return filepath.Join(c.ResolvedStateDir(), "edged.db")
}

// origins remembers where each key's value came from, to put it in front of a mistake.
type origins struct {
	file string
	at   map[string]origin
}

// origin is where a key was set: a file line, or an environment variable.
type origin struct {
	where string
	line  int
}

// locate puts a mistake where its key (or, for a key the file does not set, the nearest
// enclosing section the file does set) was written.
func (o *origins) locate(e *check.Error) *Mistake {
	for k := e.Key; ; {
		if at, ok := o.at[k]; ok {
			return &Mistake{Where: at.where, Line: at.line, Err: e}
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return &Mistake{Where: o.file, Err: e}
}
