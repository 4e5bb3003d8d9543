package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/store"
)

// Ensure a daemon with no broker configured says so at start and queues nothing: its
// outbox stays empty, on /metrics and in the file, while its fixes are stored.
func TestE2ENoBrokerNoOutbox(t *testing.T) {
	state, addr := t.TempDir(), testenv.FreeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
receiver_id: rx-nobroker
state_dir: %s
source:
  file: {path: "embedded:demo", pace: 0, loop: true}
fix: {print: none}
store: {commit_interval_seconds: 0.5}
http: {listen: %s}
`, state, addr))
	testenv.Eventually(t, 60*time.Second, "200 fixes committed", func() bool { return scrape(t, addr, "edged_fixes_total") >= 200 })
	if n, b := scrape(t, addr, "edged_outbox_fixes"), scrape(t, addr, "edged_outbox_bytes"); n != 0 || b != 0 {
		t.Errorf("outbox holds %g fixes, %g bytes with no broker configured", n, b)
	}
	if !strings.Contains(d.stderr.String(), "no mqtt.broker configured") {
		t.Errorf("the daemon did not say at start that nothing is queued:\n%s", d.stderr)
	}
	d.stop(t, 10*time.Second)
	db, err := store.Open(filepath.Join(state, "edged.db"), store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n, b := db.OutboxLen(); n != 0 || b != 0 {
		t.Errorf("the file's outbox holds %d fixes, %d bytes", n, b)
	}
	if n := db.FixCount(); n < 200 {
		t.Errorf("%d fixes stored, want at least the 200 counted", n)
	}
}

// Ensure the fixes the daemon publishes and serves are byte for byte the ones it computed
// (printed on stdout): the store keeps them packed and renders them when read.
func TestE2EPublishedBytesAreComputed(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "A", "-windows", "16", "-bursts", "all")
	var mu sync.Mutex
	var published []string
	subscribe(t, broker.URL(), "bytes-sub", "heimdall/rx-bytes/fix", func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		published = append(published, string(m.Payload()))
		mu.Unlock()
	})
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
receiver_id: rx-bytes
state_dir: %s
source:
  file: {path: %s, pace: 0, loop: false}
fix: {print: stdout}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s}
`, filepath.Join(dir, "state"), rec, broker.URL(), addr))
	testenv.Eventually(t, 60*time.Second, "16 fixes published", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(published) >= 16
	})
	resp, err := http.Get("http://" + addr + "/api/v1/fixes?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var fc struct{ Features []json.RawMessage }
	if err := json.Unmarshal(body, &fc); err != nil {
		t.Fatalf("fixes route: %v\n%.500s", err, body)
	}
	var served []string
	for _, f := range fc.Features {
		served = append(served, string(f))
	}
	d.stop(t, 10*time.Second)
	computed := strings.Split(strings.TrimSpace(d.stdout.String()), "\n")
	mu.Lock()
	defer mu.Unlock()
	for name, got := range map[string][]string{"published": published, "served": served} {
		sort.Strings(got)
		want := append([]string(nil), computed...)
		sort.Strings(want)
		if len(got) != 16 || len(want) != 16 {
			t.Fatalf("%d fixes %s, %d printed; want 16 each", len(got), name, len(want))
		}
		for i := range want {
			if !bytes.Equal([]byte(got[i]), []byte(want[i])) {
				t.Errorf("%s fix differs from the computed one:\n got %s\nwant %s", name, got[i], want[i])
			}
		}
	}
}
