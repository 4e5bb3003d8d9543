package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
)

// daemonUnderTest is `edged run` started by a test, killed on cleanup.
type daemonUnderTest struct {
	cmd            *exec.Cmd
	stdout, stderr *testenv.Buffer
	done           chan error
}

func startDaemon(t *testing.T, config string, env ...string) *daemonUnderTest {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemonUnderTest{stdout: new(testenv.Buffer), stderr: new(testenv.Buffer), done: make(chan error, 1)}
	d.cmd = exec.Command(edgedBin, "run", "-config", path)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM first, so the binary exits normally and writes its coverage counters
		// (make cover); SIGKILL when it does not stop in time.
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("edged stderr:\n%s", d.stderr)
		}
	})
	return d
}

// stop sends SIGTERM and waits, failing if edged takes longer than limit or exits non-zero.
func (d *daemonUnderTest) stop(t *testing.T, limit time.Duration) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Errorf("edged exited with %v after SIGTERM", err)
		}
	case <-time.After(limit):
		t.Errorf("edged still running %v after SIGTERM", limit)
	}
}

// subscribe connects a QoS 1 subscriber to broker for topic, as an upstream consumer would,
// and disconnects it when the test ends. Every message is validated against its schema in
// api/schema before fn sees it; a message that is not valid fails the test.
func subscribe(t *testing.T, broker, clientID, topic string, fn mqtt.MessageHandler) {
	t.Helper()
	var mu sync.Mutex
	var invalid []string
	// Registered first, so it runs after the disconnect below: no message comes later.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range invalid {
			t.Errorf("MQTT: %s", e)
		}
	})
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(clientID))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	check := func(c mqtt.Client, m mqtt.Message) {
		var err error
		switch {
		case strings.HasSuffix(m.Topic(), "/fix"):
			err = schemas.Validate("schema/fix.json", "mqtt", m.Payload())
		case strings.HasSuffix(m.Topic(), "/availability"):
			err = schemas.ValidateValue("schema/availability.json", "mqtt", string(m.Payload()))
		case strings.HasSuffix(m.Topic(), "/model"):
			err = schemas.Validate("schema/model-message.json", "mqtt", m.Payload())
		default:
			err = fmt.Errorf("a topic edged does not document")
		}
		if err != nil {
			mu.Lock()
			invalid = append(invalid, fmt.Sprintf("%s: %v\n%.300s", m.Topic(), err, m.Payload()))
			mu.Unlock()
		}
		fn(c, m)
	}
	if tok := c.Subscribe(topic, 1, check); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
}

// Ensure the daemon publishes every fix of a recording to heimdall/<receiver_id>/fix on a
// real mosquitto, announces itself online and its model (retained), serves its probes, and
// says offline when stopped.
func TestE2EDaemonMQTT(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "F", "-windows", "12", "-bursts", "odd")

	var mu sync.Mutex
	fixes := map[string]bool{}
	var availability []string
	var modelTopic []byte
	got := make(chan struct{}, 64)
	subscribe(t, broker.URL(), "e2e-sub", "heimdall/rx-e2e/#", func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(m.Topic(), "/fix"):
			var f struct{ ID string }
			json.Unmarshal(m.Payload(), &f)
			fixes[f.ID] = true
		case strings.HasSuffix(m.Topic(), "/availability"):
			availability = append(availability, string(m.Payload()))
		case strings.HasSuffix(m.Topic(), "/model"):
			modelTopic = append([]byte(nil), m.Payload()...)
		}
		got <- struct{}{}
	})

	httpAddr := testenv.FreeAddr(t)
	d := startDaemon(t, fmt.Sprintf(`
receiver_id: rx-e2e
state_dir: %s
source:
  file: {path: %s, pace: 0, loop: false}
fix: {print: none}
mqtt: {broker: %s, reconnect_min_ms: 100}
http: {listen: %s}
`, filepath.Join(dir, "state"), rec, broker.URL(), httpAddr))

	want := 6 // windows 1, 3, 5, 7, 9, 11
	deadline := time.After(60 * time.Second)
	for {
		mu.Lock()
		n, online, model := len(fixes), len(availability) > 0 && availability[len(availability)-1] == "online", modelTopic != nil
		mu.Unlock()
		if n >= want && online && model {
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("after 60 s: %d fixes of %d, availability %v, model topic %v", n, want, availability, model)
		}
	}
	for k := 1; k < 12; k += 2 {
		if id := fmt.Sprintf("rx-e2e:%d", k*16384); !fixes[id] {
			t.Errorf("fix %s not received (got %v)", id, fixes)
		}
	}
	var mi struct{ Name, Version, SHA256 string }
	if err := json.Unmarshal(modelTopic, &mi); err != nil || mi.Name != "edged-reference-beacon" || len(mi.SHA256) != 64 {
		t.Errorf("model topic %s (%v)", modelTopic, err)
	}
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
	d.stop(t, 5*time.Second)
	deadline = time.After(10 * time.Second)
	for {
		mu.Lock()
		last := availability[len(availability)-1]
		mu.Unlock()
		if last == "offline" {
			break
		}
		select {
		case <-got:
		case <-deadline:
			t.Fatalf("availability never went offline: %v", availability)
		}
	}
}

// Ensure `edged replay -mqtt` publishes every fix of a recording and returns once the
// broker has them all.
func TestE2EReplayToMQTT(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	dir := t.TempDir()
	rec := synthesize(t, dir, "-beacon", "H", "-windows", "9", "-bursts", "odd")
	var mu sync.Mutex
	got := map[string]bool{}
	subscribe(t, broker.URL(), "replay-sub", "heimdall/rx-replay/fix", func(_ mqtt.Client, m mqtt.Message) {
		var f struct{ ID string }
		json.Unmarshal(m.Payload(), &f)
		mu.Lock()
		got[f.ID] = true
		mu.Unlock()
	})
	if _, stderr, err := edged(t, "replay", "-receiver-id", "rx-replay", "-mqtt", broker.URL(), rec); err != nil {
		t.Fatalf("replay: %v\n%s", err, stderr)
	}
	// replay returned after PUBACKs; the subscriber's copies may still be in flight.
	testenv.Eventually(t, 10*time.Second, "4 fixes at the subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 4
	})
}
