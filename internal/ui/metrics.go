package ui

import "github.com/prometheus/client_golang/prometheus"

// metrics are the live feed's own series.
type metrics struct {
	slow    prometheus.Counter // events a page's full queue could not take
	busy    prometheus.Counter // windows or fix batches skipped because the hub was behind
	refused prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, h *Hub) (*metrics, error) {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edged_ui_events_dropped_total",
		Help: "Live-feed events not delivered, by reason: slow_page (a page's queue was full), busy (the feed's goroutine was behind; the window or fixes were not shown).",
	}, []string{"reason"})
	m := &metrics{
		slow: dropped.WithLabelValues("slow_page"),
		busy: dropped.WithLabelValues("busy"),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_ui_clients_refused_total",
			Help: "Status pages refused because the live-feed limit (http.max_live_clients) was reached.",
		}),
	}
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edged_ui_clients",
		Help: "Status pages connected to the live feed.",
	}, func() float64 { return float64(h.Clients()) })
	for _, c := range []prometheus.Collector{dropped, m.refused, clients} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
