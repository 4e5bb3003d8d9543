// Command fixconsumer is the smallest useful consumer of edged's fixes: it subscribes to
// every receiver's fix topic and prints each fix once, as one line of GeoJSON. A fix can
// arrive twice (edged publishes again what was in flight when a connection dropped), always
// with the same id, so a consumer drops the ids it has seen; remembering the last 100,000
// is far more than the at most mqtt.inflight (64) a reconnect can repeat.
//
//	go run ./examples/fixconsumer tcp://localhost:1883
//
// The README's "Integrating" section quotes it.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: fixconsumer tcp://broker:1883")
	}
	c := mqtt.NewClient(options(os.Args[1], os.Stdout))
	if t := c.Connect(); t.Wait() && t.Error() != nil {
		log.Fatal(t.Error())
	}
	select {}
}

// options subscribes to every receiver's fixes at each connection, writing each fix once to w.
func options(broker string, w io.Writer) *mqtt.ClientOptions {
	seen, order := map[string]bool{}, []string{} // the last 100,000 fix ids
	return mqtt.NewClientOptions().AddBroker(broker).SetClientID("fixconsumer").SetOnConnectHandler(func(c mqtt.Client) {
		t := c.Subscribe("heimdall/+/fix", 1, func(_ mqtt.Client, m mqtt.Message) {
			var fix struct{ ID string }
			if json.Unmarshal(m.Payload(), &fix) != nil || seen[fix.ID] {
				return // not a fix, or a redelivery of one already printed
			}
			if seen[fix.ID], order = true, append(order, fix.ID); len(order) > 100_000 {
				delete(seen, order[0])
				order = order[1:]
			}
			fmt.Fprintf(w, "%s\n", m.Payload())
		})
		// paho runs this handler on its own goroutine: waiting for the broker's SUBACK here
		// is safe, and a refused subscription is said rather than met with silence.
		if t.Wait() && t.Error() != nil {
			log.Printf("subscribe: %v", t.Error())
		}
	})
}
