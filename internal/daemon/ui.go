package daemon

import (
	"net/url"

	"github.com/heimdall/edged/internal/ui"
)

// uiStatus gathers the status page's state panel from the daemon's parts. The hub calls it
// once a second while a page is open.
func (d *Daemon) uiStatus() ui.Status {
	cfg := d.config()
	st := ui.Status{ReceiverID: cfg.ReceiverID, Version: d.opts.Version, TokenRequired: cfg.HTTP.TokenFile != ""}
	if err := d.Ready(); err != nil {
		st.NotReady = err.Error()
	}
	src := d.srcStat.stats()
	st.Source = ui.SourceStatus{Name: src.name, Live: src.live, Ended: d.sourceEnded.Load(),
		Delivered: src.Delivered, Dropped: src.Dropped, Lost: src.Lost, Overload: src.Overload}

	if m := d.models.engine.Active(); m != nil {
		info := d.models.Active()
		st.Model = ui.ModelStatus{Name: m.Name, Version: m.Version, Origin: info.Source, Since: info.Since}
		if c, split, shadow := d.models.engine.Challenger(); c != nil {
			mode := "ab"
			if shadow {
				mode = "shadow"
			}
			st.Model.Challenger = &ui.ChallengerStatus{Name: c.Name, Version: c.Version, Split: split, Mode: mode}
		}
	}

	if d.mqtt != nil {
		u := d.mqtt.Stats()
		st.Uplink = ui.UplinkStatus{Enabled: true, Broker: redactURL(cfg.MQTT.Broker), Connected: u.Connected,
			OutboxFixes: u.OutboxCount, OutboxBytes: u.OutboxBytes, Published: u.Published, LastError: u.LastConnectError}
	} else if d.db != nil {
		n, b := d.db.OutboxLen()
		st.Uplink = ui.UplinkStatus{OutboxFixes: n, OutboxBytes: b}
	}

	if s := d.models.syncer; s != nil {
		ss := s.Stats()
		follows := cfg.MLflow.ModelName + "@" + cfg.MLflow.Alias
		if cfg.MLflow.Alias == "" {
			follows = cfg.MLflow.ModelName + " (" + cfg.MLflow.Stage + ")"
		}
		st.Sync = ui.SyncStatus{Enabled: true, Follows: follows, LastAttempt: ss.LastAttempt,
			LastSuccess: ss.LastSuccess, LastError: ss.LastError}
	}
	return st
}

// redactURL drops a password from a broker URL before it is shown.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
