package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/internal/testenv"
)

// Ensure the consumer prints each fix once, in order, whatever is published twice, from
// two receivers, on a real mosquitto.
func TestConsumerDropsDuplicates(t *testing.T) {
	broker := mosquittotest.Start(t, mosquittotest.Options{})
	var out testenv.Buffer
	subscribed := make(chan struct{})
	opts := options(broker.URL(), &out)
	onConnect := opts.OnConnect
	// The consumer's handler returns once the broker acknowledged its subscription: only
	// then are publishes sure to reach it.
	opts.SetOnConnectHandler(func(c mqtt.Client) { onConnect(c); close(subscribed) })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("consumer: %v", tok.Error())
	}
	defer c.Disconnect(100)
	<-subscribed

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("edged-test"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	fix := func(id string) string { return fmt.Sprintf(`{"type":"Feature","id":%q}`, id) }
	sent := []struct{ topic, payload string }{
		{"heimdall/rx1/fix", fix("rx1:0")},
		{"heimdall/rx1/fix", fix("rx1:16384")},
		{"heimdall/rx1/fix", fix("rx1:0")}, // redelivered after a reconnect
		{"heimdall/rx2/fix", fix("rx2:0")},
		{"heimdall/rx1/fix", "not json"},
		{"heimdall/rx1/fix", fix("rx1:16384")},
		{"heimdall/rx1/fix", fix("rx1:32768")},
	}
	// QoS 1 from one publisher to one subscription: in order, so the last one tells that
	// every earlier one was handled.
	for _, m := range sent {
		if tok := pub.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	want := strings.Join([]string{fix("rx1:0"), fix("rx1:16384"), fix("rx2:0"), fix("rx1:32768")}, "\n") + "\n"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "rx1:32768") {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s the consumer printed:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the consumer's output, not synchronising
	}
	if got := out.String(); got != want {
		t.Errorf("printed\n%s\nwant\n%s", got, want)
	}
}

// Ensure the README quotes this program as it is.
func TestREADMEQuotesIt(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## Integrating")
	_, block, ok2 := strings.Cut(section, "```go\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no Go block under ## Integrating")
	}
	n := 0
	for line := range strings.Lines(block) {
		if l := strings.TrimSpace(line); l != "" {
			n++
			if !strings.Contains(string(src), l) {
				t.Errorf("README line %q is not in main.go", l)
			}
		}
	}
	if n < 10 {
		t.Errorf("the README quotes %d lines", n)
	}
}
