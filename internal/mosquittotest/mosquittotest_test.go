package mosquittotest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

func connect(t *testing.T, url string, mod func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("mqt-" + t.Name()).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if mod != nil {
		mod(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// retained reads the retained message on topic with a fresh subscription.
func retained(t *testing.T, c mqtt.Client, topic string) string {
	t.Helper()
	got := make(chan string, 1)
	tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case s := <-got:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("no retained message on %s", topic)
		return ""
	}
}

// Ensure that a plain broker accepts clients, and that Restart keeps the port and, with
// persistence, the retained messages.
func TestStartRestartPersistence(t *testing.T) {
	b := Start(t, Options{Persistence: true})
	if !strings.HasPrefix(b.URL(), "tcp://127.0.0.1:") || b.TLSURL() != "" {
		t.Fatalf("URL %q TLSURL %q", b.URL(), b.TLSURL())
	}
	c, err := connect(t, b.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish("mqt/retained", 1, true, "kept"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	c.Disconnect(100)

	port := b.Port()
	b.Stop()
	if b.Running() {
		t.Fatal("Running after Stop")
	}
	if _, err := net.DialTimeout("tcp", b.URL()[len("tcp://"):], time.Second); err == nil {
		t.Fatal("port still accepts connections after Stop")
	}
	b.Restart()
	if b.Port() != port || !b.Running() {
		t.Fatalf("after Restart: port %d (was %d), running %v", b.Port(), port, b.Running())
	}
	c2, err := connect(t, b.URL(), func(o *mqtt.ClientOptions) { o.SetClientID("mqt-second") })
	if err != nil {
		t.Fatal(err)
	}
	if got := retained(t, c2, "mqt/retained"); got != "kept" {
		t.Fatalf("retained after restart = %q, want kept", got)
	}
}

// Ensure that the TLS listener verifies against the generated CA, is refused by a client
// trusting only the unrelated CA, and that passwords are enforced.
func TestTLSAndPasswords(t *testing.T) {
	b := Start(t, Options{TLS: true, Users: map[string]string{"alice": "s3cret"}})
	certs := b.Certs()
	pool := func(file string) *x509.CertPool {
		pem, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(pem) {
			t.Fatalf("no certs in %s", file)
		}
		return p
	}
	good := func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(&tls.Config{RootCAs: pool(certs.CAFile), ServerName: "127.0.0.1"})
		o.SetUsername("alice").SetPassword("s3cret")
	}
	if _, err := connect(t, b.TLSURL(), good); err != nil {
		t.Fatalf("TLS with the right CA and password: %v", err)
	}
	_, err := connect(t, b.TLSURL(), func(o *mqtt.ClientOptions) {
		good(o)
		o.SetTLSConfig(&tls.Config{RootCAs: pool(certs.OtherCAFile), ServerName: "127.0.0.1"})
	})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("TLS with the unrelated CA: got %v, want x509.UnknownAuthorityError", err)
	}
	_, err = connect(t, b.URL(), func(o *mqtt.ClientOptions) { o.SetUsername("alice").SetPassword("wrong") })
	if !errors.Is(err, packets.ErrorRefusedNotAuthorised) && !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
		t.Fatalf("wrong password: got %v, want a refusal", err)
	}
}
