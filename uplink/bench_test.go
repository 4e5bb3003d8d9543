package uplink

import (
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/store"
)

// BenchmarkDrain drains a 100,000-fix backlog (~600-byte bodies) to a local mosquitto at
// QoS 1 with the default in-flight window, per iteration, and reports fixes/s.
func BenchmarkDrain(b *testing.B) {
	const backlog = 100_000
	broker := mosquittotest.Start(b, mosquittotest.Options{})
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := openDB(b, store.Options{})
		for j := 0; j < backlog; j += 1000 {
			commit(b, db, fixes(j, 1000))
		}
		w := watch(db)
		cfg := testConfig(broker.URL())
		b.StartTimer()
		start := time.Now()
		up := startUplink(b, cfg, w, nil)
		w.waitLen(b, 0, 5*time.Minute)
		total += time.Since(start)
		b.StopTimer()
		up.stop(b)
		if st := up.Stats(); st.Published != backlog {
			b.Fatalf("published %d, want %d", st.Published, backlog)
		}
	}
	b.ReportMetric(float64(backlog*b.N)/total.Seconds(), "fixes/s")
}
