package uplink

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/store"
)

// outage is how long the broker is down in TestBrokerOutage (the issue asks for 30 s).
const outage = 30 * time.Second

// Ensure that with the broker stopped for 30 s in the middle of a stream of commits and
// restarted on the same port, every fix reaches a subscriber, first deliveries in
// order, duplicates only within the in-flight window; failed reconnects are counted;
// and availability reads online, offline (the will, as the broker goes down), online
// after the restart, and offline at shutdown.
func TestBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s of broker outage")
	}
	// Persistence keeps the persistent subscriber's session and queue across the
	// broker restart, so the subscriber itself loses nothing.
	b := mosquittotest.Start(t, mosquittotest.Options{Persistence: true})
	// Acknowledgements wait in memory for the next commit, as the daemon runs its store.
	db := openDB(t, store.Options{AckDelay: time.Second})
	sub := subscribe(t, b.URL(), true)
	rec := newLogRecorder()
	cfg := testConfig(b.URL())
	cfg.ReconnectMaxMs = 2000
	up := startUplink(t, cfg, db, slog.New(rec))

	// The producer commits 5 fixes every 40 ms (125/s, a busy pipeline) until stopped.
	var (
		mu        sync.Mutex
		committed int
	)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			n := committed
			mu.Unlock()
			if _, err := db.Commit(fixes(n, 5)...); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			committed += 5
			mu.Unlock()
			up.Notify()
		}
	}()
	stopProducer := func() int {
		select {
		case <-stopped:
		default:
			close(stop)
			<-stopped
		}
		mu.Lock()
		defer mu.Unlock()
		return committed
	}
	t.Cleanup(func() { stopProducer() })

	sub.waitFor("500 fixes before the outage", 30*time.Second, func() bool { return sub.distinct() >= 500 })
	b.Stop()
	down := time.Now()
	rec.waitLogs(t, 2, slog.LevelWarn, "connect failed", 10*time.Second)
	if up.Connected() {
		t.Fatal("Connected() during the outage")
	}
	// The outage itself: the pipeline keeps committing meanwhile.
	time.Sleep(time.Until(down.Add(outage)))
	mu.Lock()
	duringOutage := committed
	mu.Unlock()
	b.Restart()
	t.Logf("broker down %v; %d fixes committed by then", time.Since(down).Round(time.Millisecond), duringOutage)
	rec.waitLogs(t, 2, slog.LevelInfo, "uplink: connected", 30*time.Second)
	sub.waitFor("fixes after the restart", 60*time.Second, func() bool { return sub.distinct() >= duringOutage+250 })
	total := stopProducer()
	sub.waitFor("every committed fix", 60*time.Second, func() bool { return sub.distinct() >= total })

	sub.mu.Lock()
	dups := checkOrder(t, sub.fixes, seq(0, total), cfg.Inflight)
	sub.mu.Unlock()
	st := up.Stats()
	t.Logf("%d fixes, %d duplicates; stats %+v", total, dups, st)
	if dups > cfg.Inflight {
		t.Errorf("%d duplicates after one reconnect, more than the in-flight window %d", dups, cfg.Inflight)
	}
	if st.ConnectFailures[ReasonUnreachable] < 2 || st.Connects != 2 || st.ConnectionLosses != 1 {
		t.Errorf("stats %+v: want ≥2 unreachable failures, 2 connects, 1 loss", st)
	}

	up.stop(t)
	sub.waitFor("offline at shutdown", 10*time.Second, func() bool {
		return len(sub.avail) > 0 && sub.avail[len(sub.avail)-1] == "offline"
	})
	// Consecutive repeats are QoS 1 redeliveries of the same event; what happened is:
	// online, offline (mosquitto publishes the will as it shuts down), online after the
	// restart, offline from our clean shutdown.
	sub.mu.Lock()
	var events []string
	for _, a := range sub.avail {
		if len(events) == 0 || events[len(events)-1] != a {
			events = append(events, a)
		}
	}
	raw := strings.Join(sub.avail, ",")
	sub.mu.Unlock()
	if got := strings.Join(events, ","); got != "online,offline,online,offline" {
		t.Errorf("availability %q (raw %q), want online,offline,online,offline", got, raw)
	}
	if n, _ := db.OutboxLen(); n != 0 {
		t.Errorf("outbox holds %d fixes after everything was delivered", n)
	}
}
