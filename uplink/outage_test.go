package uplink

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/store"
)

// outage is how long the broker is down in TestBrokerOutageThenBlip: long enough for the
// reconnect backoff to reach its cap.
const outage = 40 * time.Second

// publishLimit is how soon after the broker listens again edged must be publishing, with
// the default reconnection schedule (capped at DefaultReconnectMaxMs, 3 s).
const publishLimit = 5 * time.Second

// Ensure that with the default reconnection schedule, edged is publishing again within 5 s
// of the broker listening after a 40 s outage, and again after a restart of the broker
// 1 s after that reconnection (a blip right after an outage must not inherit the outage's
// backoff); that every fix committed meanwhile reaches a subscriber, first deliveries in
// order; that failures, losses, reconnections and publishes cut off are counted; and that
// availability follows.
func TestBrokerOutageThenBlip(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 40 s of broker outage")
	}
	// Persistence keeps the persistent subscriber's session and queue across the
	// broker restarts, so the subscriber itself loses nothing.
	b := mosquittotest.Start(t, mosquittotest.Options{Persistence: true})
	// Acknowledgements wait in memory for the next commit, as the daemon runs its store.
	db := openDB(t, store.Options{AckDelay: time.Second})
	sub := subscribe(t, b.URL(), true)
	rec := newLogRecorder()
	cfg := testConfig(b.URL())
	cfg.ReconnectMinMs, cfg.ReconnectMaxMs = DefaultReconnectMinMs, DefaultReconnectMaxMs
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

	// publishingAgain starts the broker (it is stopped and the uplink knows it) and returns
	// how long after that edged had a fix acknowledged, and when it connected.
	publishingAgain := func(what string) (took time.Duration, connectedAt time.Time) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "uplink noticing the broker is gone", func() bool { return !up.Connected() })
		before := up.Stats()
		start := time.Now() // just before mosquitto starts: the figure is an upper bound
		b.Restart()
		testenv.Eventually(t, 30*time.Second, what+": connected", func() bool { return up.Stats().Connects > before.Connects })
		connectedAt = time.Now()
		at := testenv.Eventually(t, 30*time.Second, what+": publishing", func() bool { return up.Stats().Published > before.Published })
		return at.Sub(start), connectedAt
	}

	sub.waitFor("500 fixes before the outage", 30*time.Second, func() bool { return sub.distinct() >= 500 })
	b.Stop()
	down := time.Now()
	rec.waitLogs(t, 2, slog.LevelWarn, "connect failed", 10*time.Second)
	time.Sleep(time.Until(down.Add(outage))) // the outage itself; the pipeline keeps committing
	took1, reconnected := publishingAgain("after the outage")
	t.Logf("publishing again %v after the broker started (%v outage)", took1.Round(time.Millisecond), outage)

	time.Sleep(time.Until(reconnected.Add(time.Second))) // 1 s of service, then a blip
	b.Stop()
	took2, _ := publishingAgain("after the blip")
	t.Logf("publishing again %v after the broker started (blip 1 s after reconnecting)", took2.Round(time.Millisecond))
	if took1 > publishLimit || took2 > publishLimit {
		t.Errorf("publishing again %v after the outage and %v after the blip, want both within %v", took1, took2, publishLimit)
	}

	sub.waitFor("fixes after the blip", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sub.distinct() >= committed-250
	})
	total := stopProducer()
	sub.waitFor("every committed fix", 60*time.Second, func() bool { return sub.distinct() >= total })
	// Duplicates come from edged re-sending what was in flight when a connection dropped
	// (PublishesLost, at most the in-flight window each time) and from each broker restart
	// redelivering to the persistent subscriber what it had not acknowledged, in the
	// broker's order and, on a loaded machine, in numbers edged does not control: so what
	// is checked is that nothing is lost and first deliveries are in order.
	sub.mu.Lock()
	dups := checkOrder(t, sub.fixes, seq(0, total), total)
	sub.mu.Unlock()
	st := up.Stats()
	t.Logf("%d fixes, %d duplicates at the subscriber; stats %+v", total, dups, st)
	if st.PublishesLost > uint64(2*cfg.Inflight) {
		t.Errorf("%d publishes cut off by two losses, more than twice the in-flight window %d", st.PublishesLost, cfg.Inflight)
	}
	if st.ConnectFailures[ReasonUnreachable] < 2 || st.Connects != 3 || st.Reconnects != 2 || st.ConnectionLosses != 2 {
		t.Errorf("stats %+v: want ≥2 unreachable failures, 3 connects, 2 reconnects, 2 losses", st)
	}
	// Every connection-loss line says why.
	for _, r := range rec.matching(slog.LevelWarn, "connection lost") {
		if e := attr(r, "err").String(); !strings.Contains(e, ErrConnectionLost.Error()+": ") {
			t.Errorf("connection-loss log without its cause: err=%q", e)
		}
	}

	up.stop(t)
	sub.waitFor("offline at shutdown", 10*time.Second, func() bool {
		return len(sub.avail) > 0 && sub.avail[len(sub.avail)-1] == "offline"
	})
	// Consecutive repeats are QoS 1 redeliveries of the same event; what happened is:
	// online, offline (mosquitto publishes the will as it shuts down), online after the
	// restart, the same for the blip, offline from our clean shutdown.
	sub.mu.Lock()
	var events []string
	for _, a := range sub.avail {
		if len(events) == 0 || events[len(events)-1] != a {
			events = append(events, a)
		}
	}
	raw := strings.Join(sub.avail, ",")
	sub.mu.Unlock()
	if got := strings.Join(events, ","); got != "online,offline,online,offline,online,offline" {
		t.Errorf("availability %q (raw %q), want online,offline,online,offline,online,offline", got, raw)
	}
	if n, _ := db.OutboxLen(); n != 0 {
		t.Errorf("outbox holds %d fixes after everything was delivered", n)
	}
}
