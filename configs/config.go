// Package configs holds edged's configuration: the YAML schema, its embedded defaults
// (edged.yaml, also the annotated example operators copy), EDGED_* environment overrides, and
// validation that never touches the network, so the daemon starts with its broker or MLflow
// down and a typo is reported at once, with its line.
package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heimdall/edged/infer"
	"github.com/heimdall/edged/uplink"
)

// Default is the annotated default configuration, embedded in the binary.
//
//go:embed edged.yaml
var Default []byte

// Config is the whole daemon configuration. Keys are snake_case.
type Config struct {
	ReceiverID string `yaml:"receiver_id"`
	LogLevel   string `yaml:"log_level"`
	LogFormat  string `yaml:"log_format"`
	// StateDir holds the bbolt file and installed models. Empty means $STATE_DIRECTORY
	// (set by systemd's StateDirectory=) or /var/lib/edged.
	StateDir       string `yaml:"state_dir"`
	OnnxRuntimeLib string `yaml:"onnxruntime_lib"`

	Source Source `yaml:"source"`
	Model  Model  `yaml:"model"`
	Gate   Gate   `yaml:"gate"`
	Fix    Fix    `yaml:"fix"`
	Store  Store  `yaml:"store"`
	// MQTT is the uplink; an empty broker disables it. receiver_id comes from the top level.
	MQTT   uplink.Config `yaml:"mqtt"`
	HTTP   HTTP          `yaml:"http"`
	MLflow MLflow        `yaml:"mlflow"`
}

// Source selects and tunes the IQ source.
type Source struct {
	// Kind is file, rtl_tcp or rtlsdr.
	Kind                string  `yaml:"kind"`
	StallTimeoutSeconds float64 `yaml:"stall_timeout_seconds"`
	File                File    `yaml:"file"`
	RTLTCP              RTLTCP  `yaml:"rtl_tcp"`
	RTLSDR              RTLSDR  `yaml:"rtlsdr"`
}

// File is a recording replayed as if live.
type File struct {
	// Path of the recording; "embedded:demo" is the bundled synthetic recording.
	Path         string  `yaml:"path"`
	Format       string  `yaml:"format"`
	SampleRateHz float64 `yaml:"sample_rate_hz"`
	CenterFreqHz float64 `yaml:"center_freq_hz"`
	Pace         float64 `yaml:"pace"`
	Loop         bool    `yaml:"loop"`
}

// Tuning is what every radio source shares.
type Tuning struct {
	CenterFreqHz float64 `yaml:"center_freq_hz"`
	SampleRateHz float64 `yaml:"sample_rate_hz"`
	// GainMode is auto or manual.
	GainMode   string  `yaml:"gain_mode"`
	GainDB     float64 `yaml:"gain_db"`
	PPM        int     `yaml:"ppm"`
	BiasTee    bool    `yaml:"bias_tee"`
	DigitalAGC bool    `yaml:"digital_agc"`
	// DirectSampling is off, i or q.
	DirectSampling string `yaml:"direct_sampling"`
	OffsetTuning   bool   `yaml:"offset_tuning"`
}

// RTLTCP is an rtl_tcp server.
type RTLTCP struct {
	Address string `yaml:"address"`
	Tuning  `yaml:",inline"`
}

// RTLSDR is a local dongle.
type RTLSDR struct {
	// Device is an index ("0") or a serial (":00000001" or "serial=00000001").
	Device string `yaml:"device"`
	Tuning `yaml:",inline"`
}

// Model selects the model and how it runs.
type Model struct {
	// Path of an .onnx file; empty means the embedded reference model (unless MLflow sync
	// has installed one).
	Path string `yaml:"path"`
	// ContractFile is a JSON contract for models without edged.contract metadata.
	ContractFile     string `yaml:"contract_file"`
	OverrideContract bool   `yaml:"override_contract"`
	IntraOpThreads   int    `yaml:"intra_op_threads"`
	Optimization     string `yaml:"optimization"`
	MaxBatch         int    `yaml:"max_batch"`
	// Challenger runs beside the model: Split of windows, or every window in shadow mode.
	Challenger Challenger `yaml:"challenger"`
}

// Challenger is an A/B test.
type Challenger struct {
	Path string `yaml:"path"`
	// Split is the fraction of windows (chosen by window id) the challenger answers.
	Split float64 `yaml:"split"`
	// Mode is ab or shadow.
	Mode string `yaml:"mode"`
}

// Gate is the signal gate.
type Gate struct {
	SNRDB float64 `yaml:"snr_db"`
}

// Fix shapes each fix's ellipse.
type Fix struct {
	// Print is stdout (each fix as a line of JSON) or none.
	Print           string  `yaml:"print"`
	ConfidenceLevel float64 `yaml:"confidence_level"`
	Vertices        int     `yaml:"vertices"`
}

// Store is the bbolt file.
type Store struct {
	// Path of the bbolt file; empty means <state_dir>/edged.db.
	Path            string  `yaml:"path"`
	RetentionFixes  int     `yaml:"retention_fixes"`
	RetentionHours  float64 `yaml:"retention_hours"`
	OutboxMaxFixes  int     `yaml:"outbox_max_fixes"`
	OutboxMaxBytes  int64   `yaml:"outbox_max_bytes"`
	CacheTTLSeconds float64 `yaml:"cache_ttl_seconds"`
}

// HTTP is the local API.
type HTTP struct {
	Listen string `yaml:"listen"`
	// TokenFile holds a bearer token required by mutating routes; empty means none.
	TokenFile          string  `yaml:"token_file"`
	MaxBodyBytes       int64   `yaml:"max_body_bytes"`
	MaxConcurrent      int     `yaml:"max_concurrent"`
	RequestTimeoutSecs float64 `yaml:"request_timeout_seconds"`
}

// MLflow is model sync. An empty TrackingURI disables it.
type MLflow struct {
	TrackingURI     string  `yaml:"tracking_uri"`
	ModelName       string  `yaml:"model_name"`
	Alias           string  `yaml:"alias"`
	Stage           string  `yaml:"stage"`
	IntervalSeconds float64 `yaml:"interval_seconds"`
	Keep            int     `yaml:"keep"`
}

// Load reads a config file over the embedded defaults, then applies EDGED_* environment
// overrides. An empty path means the defaults alone.
func Load(path string) (Config, error) {
	var c Config
	if err := decode(Default, "embedded defaults", &c); err != nil {
		return Config{}, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, err
		}
		if err := decode(data, path, &c); err != nil {
			return Config{}, err
		}
	}
	if err := applyEnv(&c, os.Environ()); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decode refuses unknown keys: yaml.v3 names the key and its line.
func decode(data []byte, name string, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: it is valid and changes nothing.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// applyEnv maps EDGED_<SECTION>_<KEY>=value onto the matching yaml key, e.g.
// EDGED_MQTT_BROKER or EDGED_RECEIVER_ID. EDGED_ORT_LIB is ONNX Runtime's library path.
func applyEnv(c *Config, env []string) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "EDGED_") {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(k, "EDGED_"))
		if key == "ort_lib" {
			c.OnnxRuntimeLib = v
			continue
		}
		if key == "config" {
			continue
		}
		if !setByPath(reflect.ValueOf(c).Elem(), key, v) {
			return fmt.Errorf("environment %s: no such config key (or value %q does not fit it)", k, v)
		}
	}
	return nil
}

// setByPath finds the field whose yaml path, joined by underscores, equals key.
func setByPath(v reflect.Value, key, val string) bool {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if name == "" && f.Anonymous {
			if setByPath(fv, key, val) {
				return true
			}
			continue
		}
		switch {
		case fv.Kind() == reflect.Struct && strings.HasPrefix(key, name+"_"):
			if setByPath(fv, strings.TrimPrefix(key, name+"_"), val) {
				return true
			}
		case key == name:
			return setScalar(fv, val)
		}
	}
	return false
}

func setScalar(v reflect.Value, s string) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false
		}
		v.SetFloat(f)
	default:
		return false
	}
	return true
}

// Validate checks the config without any I/O beyond reading files it names. Errors name
// the key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.ReceiverID == "" || strings.ContainsAny(c.ReceiverID, "/#+ ") {
		bad("receiver_id", "%q: must be non-empty, without / # + or spaces (it is an MQTT topic level)", c.ReceiverID)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", "%q: want text or json", c.LogFormat)
	}
	switch c.Source.Kind {
	case "file":
		if c.Source.File.Path == "" {
			bad("source.file.path", "missing")
		}
		if c.Source.File.Pace < 0 {
			bad("source.file.pace", "%g: must be ≥ 0", c.Source.File.Pace)
		}
	case "rtl_tcp":
		if c.Source.RTLTCP.Address == "" {
			bad("source.rtl_tcp.address", "missing")
		}
	case "rtlsdr":
	default:
		bad("source.kind", "%q: want file, rtl_tcp or rtlsdr", c.Source.Kind)
	}
	if c.Source.StallTimeoutSeconds <= 0 {
		bad("source.stall_timeout_seconds", "must be > 0")
	}
	if c.Model.Optimization != "" {
		switch c.Model.Optimization {
		case "all", "extended", "basic", "disable":
		default:
			bad("model.optimization", "%q: want all, extended, basic or disable", c.Model.Optimization)
		}
	}
	if ch := c.Model.Challenger; ch.Path != "" {
		if ch.Split < 0 || ch.Split > 1 {
			bad("model.challenger.split", "%g: must be in [0,1]", ch.Split)
		}
		if ch.Mode != "ab" && ch.Mode != "shadow" {
			bad("model.challenger.mode", "%q: want ab or shadow", ch.Mode)
		}
	}
	if c.Model.ContractFile != "" {
		if _, err := c.Model.LoadContract(); err != nil {
			bad("model.contract_file", "%v", err)
		}
	}
	if c.Fix.Print != "stdout" && c.Fix.Print != "none" {
		bad("fix.print", "%q: want stdout or none", c.Fix.Print)
	}
	if p := c.Fix.ConfidenceLevel; !(p > 0 && p < 1) {
		bad("fix.confidence_level", "%g: must be in (0,1)", p)
	}
	if c.Fix.Vertices < 8 || c.Fix.Vertices > 1024 {
		bad("fix.vertices", "%d: must be in [8,1024]", c.Fix.Vertices)
	}
	if math.IsNaN(c.Gate.SNRDB) {
		bad("gate.snr_db", "NaN")
	}
	if c.MQTT.Broker != "" {
		m := c.MQTT
		m.ReceiverID = c.ReceiverID
		if err := m.Validate(); err != nil {
			bad("mqtt", "%v", err)
		}
	}
	if c.HTTP.Listen == "" {
		bad("http.listen", "missing")
	}
	if c.MLflow.TrackingURI != "" {
		if c.MLflow.ModelName == "" {
			bad("mlflow.model_name", "missing")
		}
		if (c.MLflow.Alias == "") == (c.MLflow.Stage == "") {
			bad("mlflow.alias", "set exactly one of mlflow.alias and mlflow.stage")
		}
	}
	return errors.Join(errs...)
}

// LoadContract reads the configured contract file, if any.
func (m Model) LoadContract() (*infer.Contract, error) {
	if m.ContractFile == "" {
		return nil, nil
	}
	data, err := readSmallFile(m.ContractFile, 1<<20)
	if err != nil {
		return nil, err
	}
	c, err := infer.ParseContract(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.ContractFile, err)
	}
	return &c, nil
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

// readSmallFile reads a regular file of at most limit bytes: a contract named by mistake as
// a device or a huge file is an error, not a hang.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, fi.Size(), limit)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
