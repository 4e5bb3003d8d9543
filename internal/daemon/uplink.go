package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heimdall/edged/uplink"
)

// Labels of edged_mqtt_publish_errors_total.
const (
	publishLostConnection = "connection_lost" // in flight when the connection dropped
	publishFailed         = "error"           // failed on a connection that stayed up
)

// newUplinkCollector exports the uplink's counters at scrape time. Every label value of a
// failure counter is exported from the start, at 0, so rate() and alerts see the series
// before the first failure.
func newUplinkCollector(m *uplink.MQTT) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return collectorFunc{
		descs: []*prometheus.Desc{
			d("edged_mqtt_connected", "1 while connected to the broker with online published."),
			d("edged_mqtt_published_total", "Fixes the broker acknowledged."),
			d("edged_mqtt_publish_errors_total", "Publishes that did not complete, by reason: connection_lost (in flight when the connection dropped) or error; the fixes stay in the outbox and go out again.", "reason"),
			d("edged_mqtt_connects_total", "Successful connections to the broker."),
			d("edged_mqtt_connect_failures_total", "Failed connection attempts, by reason.", "reason"),
			d("edged_mqtt_connection_losses_total", "Established connections that dropped."),
			d("edged_mqtt_inflight_fixes", "Fixes awaiting the broker's acknowledgement."),
			d("edged_mqtt_reconnects_total", "Successful connections to the broker after the first."),
		},
		collect: func(ds []*prometheus.Desc, ch chan<- prometheus.Metric) {
			s := m.Stats()
			up := 0.0
			if s.Connected {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(ds[0], prometheus.GaugeValue, up)
			ch <- prometheus.MustNewConstMetric(ds[1], prometheus.CounterValue, float64(s.Published))
			ch <- prometheus.MustNewConstMetric(ds[2], prometheus.CounterValue, float64(s.PublishesLost), publishLostConnection)
			ch <- prometheus.MustNewConstMetric(ds[2], prometheus.CounterValue, float64(s.PublishErrors), publishFailed)
			ch <- prometheus.MustNewConstMetric(ds[3], prometheus.CounterValue, float64(s.Connects))
			for _, r := range []string{uplink.ReasonNotAuthorised, uplink.ReasonTLS, uplink.ReasonUnreachable, uplink.ReasonRefused, uplink.ReasonTimeout, uplink.ReasonOther} {
				ch <- prometheus.MustNewConstMetric(ds[4], prometheus.CounterValue, float64(s.ConnectFailures[r]), r)
			}
			ch <- prometheus.MustNewConstMetric(ds[5], prometheus.CounterValue, float64(s.ConnectionLosses))
			ch <- prometheus.MustNewConstMetric(ds[6], prometheus.GaugeValue, float64(s.Inflight))
			ch <- prometheus.MustNewConstMetric(ds[7], prometheus.CounterValue, float64(s.Reconnects))
		},
	}
}
