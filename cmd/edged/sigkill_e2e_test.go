package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/store"
)

// Ensure edged killed with SIGKILL at 5 random points of a replay, and restarted each time,
// delivers every fix it committed, and its bbolt file opens every time.
func TestE2ESIGKILLLosesNoCommittedFix(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "G", "-windows", "40", "-bursts", "all")

	var mu sync.Mutex
	delivered := map[string]bool{}
	subscribe(t, broker.URL(), "kill-sub", "heimdall/rx-kill/fix", func(_ mqtt.Client, m mqtt.Message) {
		var f struct{ ID string }
		json.Unmarshal(m.Payload(), &f)
		mu.Lock()
		delivered[f.ID] = true
		mu.Unlock()
	})

	state, addr := filepath.Join(dir, "state"), testenv.FreeAddr(t)
	// Commits every 0.25 s (the default gathers 5 s) so that the kills land between and
	// during commits of the 2.6 s recording, with acknowledgements still in memory.
	conf := fmt.Sprintf("receiver_id: rx-kill\nstate_dir: %s\nsource:\n  file: {path: %s, pace: 1, loop: false}\nfix: {print: none}\nstore: {commit_interval_seconds: 0.25}\nmqtt: {broker: %s, reconnect_min_ms: 100}\nhttp: {listen: %s}\n",
		state, rec, broker.URL(), addr)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("kill points from seed %d", seed)
	for k := range 5 {
		d := startDaemon(t, conf)
		// Kill somewhere inside the 2.6 s recording, once it has started committing.
		testenv.Eventually(t, 30*time.Second, "first fixes", func() bool { return scrape(t, addr, "edged_fixes_total") > 0 })
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond) // a random kill point, not synchronisation
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		d.done <- nil
		db, err := store.Open(filepath.Join(state, "edged.db"), store.Options{}, nil)
		if err != nil {
			t.Fatalf("after kill %d the bbolt file does not open: %v", k+1, err)
		}
		db.Close()
	}
	// A last run to the end of the recording, then a clean stop: the outbox must empty.
	d := startDaemon(t, conf)
	testenv.Eventually(t, 60*time.Second, "recording finished and outbox empty", func() bool {
		return strings.Contains(d.stderr.String(), "recording finished") && scrape(t, addr, "edged_outbox_fixes") == 0 &&
			scrape(t, addr, "edged_mqtt_connected") == 1
	})
	d.stop(t, 5*time.Second)

	db, err := store.Open(filepath.Join(state, "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	committed, err := db.Fixes(time.Time{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(committed) != 40 {
		t.Errorf("%d fixes committed, want one per bursted window (40)", len(committed))
	}
	testenv.Eventually(t, 10*time.Second, "every committed fix delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range committed {
			if !delivered[f.ID] {
				return false
			}
		}
		return true
	})
}
