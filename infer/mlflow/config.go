package mlflow

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/heimdall/edged/configs/check"
	"github.com/heimdall/edged/internal/backoff"
)

// Defaults, as MLflow's own Python client has them.
const (
	DefaultMaxRetries     = 5
	DefaultBackoffFactor  = 2 * time.Second
	DefaultBackoffJitter  = 1 * time.Second
	DefaultBackoffMax     = 120 * time.Second
	DefaultRequestTimeout = 120 * time.Second
)

// Config says where the tracking server is and how to talk to it. Zero
// durations and a zero MaxRetries take the defaults above.
type Config struct {
	// TrackingURI is the server's base URL, http(s)://host[:port][/prefix].
	TrackingURI string `yaml:"tracking_uri"`
	// Username and Password give HTTP basic auth when both are set; they win
	// over Token, as in MLflow.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Token is sent as "Authorization: Bearer <token>" when basic auth is not set.
	Token string `yaml:"token"`
	// InsecureTLS skips server certificate verification. Excludes ServerCertPath.
	InsecureTLS bool `yaml:"insecure_tls"`
	// ServerCertPath is a PEM CA bundle used to verify the server.
	ServerCertPath string `yaml:"server_cert_path"`
	// ClientCertPath is a PEM file holding a client certificate and its key (mTLS).
	ClientCertPath string `yaml:"client_cert_path"`
	// MaxRetries is how many times a transient failure (408, 429, 500, 502,
	// 503, 504, timeouts, refused connections) is retried; 0 means
	// DefaultMaxRetries, negative means never retry.
	MaxRetries int `yaml:"max_retries"`
	// BackoffFactor scales the exponential backoff: retry n waits up to
	// BackoffFactor·2^(n-1), capped at BackoffMax. Tests shrink it to milliseconds.
	BackoffFactor time.Duration `yaml:"backoff_factor"`
	// BackoffJitter is how much of the first wait is random; later waits keep that
	// proportion of their length (at most all of it), and the jitter stays inside
	// BackoffMax.
	BackoffJitter time.Duration `yaml:"backoff_jitter"`
	// BackoffMax caps one wait, jitter included, and one asked for by Retry-After.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// RequestTimeout is how long the client waits for the server to say
	// anything (headers, or the next bytes of a body) before giving up on an
	// attempt. It bounds silence, not the length of a large download.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// HTTPClient replaces the client built from the TLS fields (tests).
	HTTPClient *http.Client `yaml:"-"`
}

// LogValue keeps secrets out of logs: only whether they are set is shown.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tracking_uri", check.RedactURL(c.TrackingURI)),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.Bool("token_set", c.Token != ""),
		slog.Bool("insecure_tls", c.InsecureTLS),
		slog.String("server_cert_path", c.ServerCertPath),
		slog.String("client_cert_path", c.ClientCertPath),
	)
}

// String is LogValue for fmt: secrets are redacted.
func (c Config) String() string { return c.LogValue().String() }

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BackoffFactor <= 0 {
		c.BackoffFactor = DefaultBackoffFactor
	}
	if c.BackoffJitter <= 0 {
		c.BackoffJitter = DefaultBackoffJitter
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// retryPolicy is the shared backoff with this config's factor, cap and jitter.
func (c Config) retryPolicy() backoff.Policy {
	return backoff.Policy{
		Min:    c.BackoffFactor,
		Max:    max(c.BackoffMax, c.BackoffFactor),
		Jitter: min(1, float64(c.BackoffJitter)/float64(c.BackoffFactor)),
	}
}

// Validate checks the fields without touching the network or the disk. Its messages never
// show a password: a URI with user information is refused, and shown redacted.
func (c Config) Validate() error {
	if c.TrackingURI == "" {
		return fmt.Errorf("%w: tracking uri is empty", ErrInvalidConfig)
	}
	shown := check.RedactURL(c.TrackingURI)
	if check.HasUserInfo(c.TrackingURI) {
		// Credentials in the URL would end up in logs and error messages.
		return fmt.Errorf("%w: tracking uri %q must not embed credentials; use MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN", ErrInvalidConfig, shown)
	}
	u, err := url.Parse(c.TrackingURI)
	if err != nil {
		// url.Error repeats the whole URI; the redacted one is enough.
		return fmt.Errorf("%w: tracking uri %q: not a URL", ErrInvalidConfig, shown)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: tracking uri %q: want http(s)://host[:port][/path]", ErrInvalidConfig, shown)
	}
	if c.InsecureTLS && c.ServerCertPath != "" {
		return fmt.Errorf("%w: insecure_tls and server_cert_path (MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH) are mutually exclusive", ErrInvalidConfig)
	}
	return nil
}

// ConfigFromEnv reads the variables MLflow's Python client reads:
// MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD, MLFLOW_TRACKING_TOKEN,
// MLFLOW_TRACKING_INSECURE_TLS, MLFLOW_TRACKING_SERVER_CERT_PATH,
// MLFLOW_TRACKING_CLIENT_CERT_PATH, MLFLOW_HTTP_REQUEST_MAX_RETRIES,
// MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR (seconds), MLFLOW_HTTP_REQUEST_BACKOFF_JITTER
// (seconds) and MLFLOW_HTTP_REQUEST_TIMEOUT (seconds); and, like MLflow 3.x,
// the [mlflow] section of ~/.mlflow/credentials when the environment lacks
// the username or password. An unset MLFLOW_TRACKING_URI is not an error
// here (the caller may fill TrackingURI from its own config); New checks it.
func ConfigFromEnv() (Config, error) { return configFromLookup(os.LookupEnv) }

func configFromLookup(lookup func(string) (string, bool)) (Config, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	c := Config{
		TrackingURI:    get("MLFLOW_TRACKING_URI"),
		ServerCertPath: get("MLFLOW_TRACKING_SERVER_CERT_PATH"),
		ClientCertPath: get("MLFLOW_TRACKING_CLIENT_CERT_PATH"),
	}
	// Basic needs both halves; a lone username or password is ignored, as in
	// MLflow. The environment wins over ~/.mlflow/credentials (MLflow 3.x).
	u, p := get("MLFLOW_TRACKING_USERNAME"), get("MLFLOW_TRACKING_PASSWORD")
	if home := get("HOME"); home != "" && (u == "" || p == "") {
		fu, fp := readCredentialsFile(filepath.Join(home, ".mlflow", "credentials"))
		if u == "" {
			u = fu
		}
		if p == "" {
			p = fp
		}
	}
	if u != "" && p != "" {
		c.Username, c.Password = u, p
	} else {
		c.Token = get("MLFLOW_TRACKING_TOKEN")
	}
	if v := get("MLFLOW_TRACKING_INSECURE_TLS"); v != "" {
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			return Config{}, fmt.Errorf("%w: MLFLOW_TRACKING_INSECURE_TLS=%q: want true/false/1/0", ErrInvalidConfig, v)
		}
		c.InsecureTLS = b
	}
	if v := get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Config{}, fmt.Errorf("%w: MLFLOW_HTTP_REQUEST_MAX_RETRIES=%q: want a count >= 0", ErrInvalidConfig, v)
		}
		c.MaxRetries = n
		if n == 0 {
			c.MaxRetries = -1 // 0 in the environment means "no retries"
		}
	}
	for _, kv := range []struct {
		key string
		dst *time.Duration
	}{
		{"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", &c.BackoffFactor},
		{"MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", &c.BackoffJitter},
		{"MLFLOW_HTTP_REQUEST_TIMEOUT", &c.RequestTimeout},
	} {
		v := get(kv.key)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e6 {
			return Config{}, fmt.Errorf("%w: %s=%q: want seconds", ErrInvalidConfig, kv.key, v)
		}
		*kv.dst = time.Duration(f * float64(time.Second))
	}
	// The URI may come from edged's own config instead, so only a URI that
	// is set is checked here; New validates the final Config.
	probe := c
	if probe.TrackingURI == "" {
		probe.TrackingURI = "http://unset"
	}
	if err := probe.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readCredentialsFile reads mlflow_tracking_username/password from the
// [mlflow] section of MLflow's INI credentials file; a missing or unreadable
// file gives nothing, as in MLflow.
func readCredentialsFile(path string) (user, pass string) {
	b, err := check.ReadFile(path, 1<<20)
	if err != nil {
		return "", ""
	}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != "mlflow" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "mlflow_tracking_username":
			user = strings.TrimSpace(v)
		case "mlflow_tracking_password":
			pass = strings.TrimSpace(v)
		}
	}
	return user, pass
}
