package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/api"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/uplink"
)

// CredentialPath resolves a path written as $CREDENTIALS_DIRECTORY/NAME, where systemd's
// LoadCredential= puts secrets, so the config need not hard-code the unit's name.
func CredentialPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "$CREDENTIALS_DIRECTORY/"); ok {
		if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
			return filepath.Join(dir, rest)
		}
	}
	return p
}

// StateDirMode is the state directory's mode when edged creates it: the store and the
// models are the service's own (the unit's StateDirectoryMode is stricter still).
const StateDirMode = 0o750

// StateDir creates the state directory, parents included, as `edged run` does, and returns
// it with the path of the bbolt store (store.path, or edged.db inside it). The `edged
// model` commands call it too, so that they work on a host where the daemon never ran.
func StateDir(cfg configs.Config) (dir, dbPath string, err error) {
	dir = cfg.ResolvedStateDir()
	if err := os.MkdirAll(dir, StateDirMode); err != nil {
		return "", "", fmt.Errorf("state_dir: %w", err)
	}
	dbPath = cfg.Store.Path
	if dbPath == "" {
		dbPath = filepath.Join(dir, "edged.db")
	}
	return dir, dbPath, nil
}

// uplinkConfig is the mqtt section with the top-level receiver id and credential paths
// resolved.
func uplinkConfig(cfg configs.Config) (uplink.Config, error) {
	u := cfg.MQTT
	u.ReceiverID = cfg.ReceiverID
	u.PasswordFile = CredentialPath(u.PasswordFile)
	u.TLS.KeyFile = CredentialPath(u.TLS.KeyFile)
	return u, u.Validate()
}

func (d *Daemon) apiConfig() (api.Config, error) {
	cfg := d.config()
	c := api.Config{
		Listen:          cfg.HTTP.Listen,
		MaxBodyBytes:    cfg.HTTP.MaxBodyBytes,
		MaxConcurrent:   cfg.HTTP.MaxConcurrent,
		RequestTimeout:  time.Duration(cfg.HTTP.RequestTimeoutSecs * float64(time.Second)),
		CacheTTL:        time.Duration(cfg.Store.CacheTTLSeconds * float64(time.Second)),
		ReceiverID:      cfg.ReceiverID,
		ConfidenceLevel: cfg.Fix.ConfidenceLevel,
	}
	if cfg.HTTP.TokenFile != "" {
		b, err := os.ReadFile(CredentialPath(cfg.HTTP.TokenFile))
		if err != nil {
			return c, fmt.Errorf("http.token_file: %w", err)
		}
		c.Token = strings.TrimSpace(string(b))
		if c.Token == "" {
			return c, fmt.Errorf("http.token_file: %s is empty", cfg.HTTP.TokenFile)
		}
	}
	return c, nil
}

// newUplinkCollector exports the uplink's counters at scrape time.
func newUplinkCollector(m *uplink.MQTT) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return collectorFunc{
		descs: []*prometheus.Desc{
			d("edged_mqtt_connected", "1 while connected to the broker with online published."),
			d("edged_mqtt_published_total", "Fixes the broker acknowledged."),
			d("edged_mqtt_publish_errors_total", "Publishes that failed in flight (they stay in the outbox)."),
			d("edged_mqtt_connects_total", "Successful connections to the broker."),
			d("edged_mqtt_connect_failures_total", "Failed connection attempts, by reason.", "reason"),
			d("edged_mqtt_connection_losses_total", "Established connections that dropped."),
			d("edged_mqtt_inflight_fixes", "Fixes awaiting the broker's acknowledgement."),
		},
		collect: func(ds []*prometheus.Desc, ch chan<- prometheus.Metric) {
			s := m.Stats()
			up := 0.0
			if s.Connected {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(ds[0], prometheus.GaugeValue, up)
			ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(s.Published))
			ch <- prometheus.MustNewConstMetric(ds[2], prometheus.CounterValue, float64(s.PublishErrors))
			ch <- prometheus.MustNewConstMetric(ds[3], prometheus.CounterValue, float64(s.Connects))
			for _, r := range []string{uplink.ReasonNotAuthorised, uplink.ReasonTLS, uplink.ReasonUnreachable, uplink.ReasonRefused, uplink.ReasonTimeout, uplink.ReasonOther} {
				ch <- prometheus.MustNewConstMetric(ds[4], prometheus.CounterValue, float64(s.ConnectFailures[r]), r)
			}
			ch <- prometheus.MustNewConstMetric(ds[5], prometheus.CounterValue, float64(s.ConnectionLosses))
			ch <- prometheus.MustNewConstMetric(ds[6], prometheus.GaugeValue, float64(s.Inflight))
		},
	}
}
