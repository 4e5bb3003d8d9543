package uplink

import (
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/store"
)

// Ensure Run returns within its shutdown budget (finishWait + offlineWait + the DISCONNECT
// quiesce) when the broker hangs with fixes in flight, however long ConnectTimeoutSeconds
// is: a stop under systemd must not depend on the broker.
func TestStopWithHungBroker(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	db := openDB(t, store.Options{})
	cfg := testConfig(broker.URL())
	cfg.ConnectTimeoutSeconds = 60
	r := startUplink(t, cfg, db, nil)
	commit(t, db, fixes(0, 10))
	r.Notify()
	testenv.Eventually(t, 30*time.Second, "first fixes acknowledged", func() bool { return r.Stats().Published == 10 })

	broker.Pause()
	commit(t, db, fixes(10, 10))
	r.Notify()
	testenv.Eventually(t, 30*time.Second, "fixes in flight", func() bool { return r.Stats().Inflight > 0 })
	start := time.Now()
	r.cancel()
	<-r.done
	took := time.Since(start)
	budget := finishWait + offlineWait + disconnectQuiesceMs*time.Millisecond
	t.Logf("Run returned %v after cancel with a hung broker (budget %v)", took.Round(time.Millisecond), budget)
	// A margin for a loaded machine; before the budget this took 2 s + ConnectTimeoutSeconds.
	if took > budget+3*time.Second {
		t.Errorf("Run returned %v after cancel, budget %v", took, budget)
	}
	if n := r.Stats().OutboxCount; n == 0 {
		t.Errorf("outbox empty after a stop with fixes unacknowledged")
	}
}
