// Package mosquittotest starts a real mosquitto broker for tests.
//
// Each Broker runs its own /usr/sbin/mosquitto process with a config file written into
// t.TempDir(), listening on free 127.0.0.1 ports. Optional pieces: a password file (made
// with mosquitto_passwd -b), a TLS listener with certificates generated in Go (a CA, a
// server certificate for 127.0.0.1/localhost, a client certificate, and a second,
// unrelated CA for "wrong CA" tests), and on-disk persistence so queued messages and
// retained topics survive Restart. The process is killed on test cleanup, even when the
// test fails. Tests skip with a clear message when mosquitto is not installed.
//
// Basic use:
//
//	b := mosquittotest.Start(t, mosquittotest.Options{})
//	opts := mqtt.NewClientOptions().AddBroker(b.URL())
package mosquittotest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// BinaryPath is where Debian installs the broker.
const BinaryPath = "/usr/sbin/mosquitto"

// passwdPath is Debian's mosquitto_passwd.
const passwdPath = "/usr/bin/mosquitto_passwd"

// Options selects what the broker offers. The zero value is a plain anonymous TCP
// listener without persistence.
type Options struct {
	// Users, when non-empty, writes a password file with these username→password pairs
	// and turns anonymous access off.
	Users map[string]string
	// TLS adds a second listener speaking TLS with a generated server certificate.
	TLS bool
	// RequireClientCert makes the TLS listener demand a client certificate signed by the
	// generated CA (see ClientCertFile/ClientKeyFile).
	RequireClientCert bool
	// Persistence keeps retained messages, persistent sessions and their queues on disk in
	// the temp dir, so they survive Stop/Restart (mosquitto saves them on SIGTERM).
	Persistence bool
	// ExtraConfig is appended verbatim to the generated mosquitto.conf.
	ExtraConfig string
}

// Broker is one running (or stopped) mosquitto process owned by a test.
type Broker struct {
	t       testing.TB
	opts    Options
	dir     string
	conf    string
	logPath string
	port    int
	tlsPort int
	certs   *Certs

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start writes a config, starts mosquitto, waits until it accepts TCP connections, and
// registers a cleanup that kills it. It calls t.Skip when mosquitto is not installed and
// t.Fatal on any other failure.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("mosquittotest: -short: skipping a test that starts a mosquitto broker")
	}
	if _, err := os.Stat(BinaryPath); err != nil {
		t.Skipf("mosquittotest: %s not found (apt-get install mosquitto): %v", BinaryPath, err)
	}
	b := &Broker{t: t, opts: opts, dir: t.TempDir()}
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	b.logPath = filepath.Join(b.dir, "mosquitto.log")
	var err error
	if opts.TLS {
		if b.certs, err = WriteCerts(filepath.Join(b.dir, "certs")); err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
	}
	t.Cleanup(b.kill)
	// Another process can take a port between our check and mosquitto's bind: then try
	// other ports.
	for attempt := 1; ; attempt++ {
		if b.port, err = testenv.RestartablePort(); err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
		if opts.TLS {
			if b.tlsPort, err = testenv.RestartablePort(); err != nil {
				t.Fatalf("mosquittotest: %v", err)
			}
		}
		if err := b.writeConfig(); err != nil {
			t.Fatalf("mosquittotest: %v", err)
		}
		err = b.start()
		if err == nil {
			return b
		}
		if attempt == 3 {
			t.Fatalf("mosquittotest: %v", err)
		}
		b.kill()
	}
}

// URL is the plain listener, e.g. "tcp://127.0.0.1:40123".
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// TLSURL is the TLS listener, e.g. "ssl://127.0.0.1:40124", or "" without Options.TLS.
func (b *Broker) TLSURL() string {
	if b.tlsPort == 0 {
		return ""
	}
	return fmt.Sprintf("ssl://127.0.0.1:%d", b.tlsPort)
}

// Port is the plain listener's TCP port.
func (b *Broker) Port() int { return b.port }

// Certs returns the generated certificate files, or nil without Options.TLS.
func (b *Broker) Certs() *Certs { return b.certs }

// Dir is the broker's private temp dir (config, log, persistence).
func (b *Broker) Dir() string { return b.dir }

// Log returns the broker's log so far (for failure messages).
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.logPath)
	return string(data)
}

// Running reports whether the process is up.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// Stop ends the broker gracefully with SIGTERM (mosquitto then saves its persistence
// file) and waits for it to exit; after 10 s it is killed. Stopping a stopped broker is a
// no-op.
func (b *Broker) Stop() {
	b.t.Helper()
	b.signalAndWait(syscall.SIGTERM, 10*time.Second)
}

// Kill ends the broker abruptly with SIGKILL (nothing is saved) and waits for it to exit.
func (b *Broker) Kill() {
	b.t.Helper()
	b.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

// Pause freezes the broker (SIGSTOP): its connections stay open and nothing is answered, as
// with a hung broker or a link that drops packets without resetting. Resume continues it;
// Stop and the test's cleanup end a paused broker too.
func (b *Broker) Pause() {
	b.t.Helper()
	b.signal(syscall.SIGSTOP)
}

// Resume continues a paused broker (SIGCONT).
func (b *Broker) Resume() {
	b.t.Helper()
	b.signal(syscall.SIGCONT)
}

func (b *Broker) signal(sig syscall.Signal) {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		b.t.Fatalf("mosquittotest: %v to a broker that is not running", sig)
	}
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("mosquittotest: %v: %v", sig, err)
	}
}

// Restart stops the broker if it runs and starts it again on the same ports with the
// same config, waiting until it accepts connections.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	if err := b.start(); err != nil {
		b.t.Fatalf("mosquittotest: restart: %v", err)
	}
}

func (b *Broker) kill() {
	b.signalAndWait(syscall.SIGKILL, 10*time.Second)
}

func (b *Broker) signalAndWait(sig syscall.Signal, grace time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	select {
	case <-b.done:
	default:
		_ = b.cmd.Process.Signal(sig)
		_ = b.cmd.Process.Signal(syscall.SIGCONT) // a paused broker must run to act on sig
		select {
		case <-b.done:
		case <-time.After(grace):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	}
	b.cmd = nil
}

func (b *Broker) start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(BinaryPath, "-c", b.conf)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: a ^C on the test does not reach the broker first, and cleanup
	// stays in our hands.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", BinaryPath, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	b.cmd, b.done = cmd, done

	ports := []int{b.port}
	if b.tlsPort != 0 {
		ports = append(ports, b.tlsPort)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ports {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-done:
				b.cmd = nil
				return fmt.Errorf("mosquitto exited before listening on %d; log:\n%s", p, b.Log())
			case <-time.After(20 * time.Millisecond): // poll interval for the port check
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("mosquitto not listening on %d after 10 s: %v; log:\n%s", p, err, b.Log())
			}
		}
	}
	select {
	case <-done: // someone else answered on our port and mosquitto could not bind
		b.cmd = nil
		return fmt.Errorf("mosquitto exited after start; log:\n%s", b.Log())
	default:
	}
	return nil
}

func (b *Broker) writeConfig() error {
	var c strings.Builder
	c.WriteString("# written by mosquittotest\n")
	c.WriteString("per_listener_settings false\n")
	if os.Geteuid() == 0 {
		// As root mosquitto would switch to the "mosquitto" user, which cannot read the
		// test's temp dir.
		name := "root"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		fmt.Fprintf(&c, "user %s\n", name)
	}
	c.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_timestamp_format %Y-%m-%dT%H:%M:%S\n")
	c.WriteString("set_tcp_nodelay true\n")
	// Generous queues: tests queue tens of thousands of QoS 1 messages for offline
	// persistent subscribers.
	c.WriteString("max_queued_messages 1000000\n")
	if len(b.opts.Users) > 0 {
		pw := filepath.Join(b.dir, "passwd")
		if err := writePasswd(pw, b.opts.Users); err != nil {
			return err
		}
		c.WriteString("allow_anonymous false\n")
		fmt.Fprintf(&c, "password_file %s\n", pw)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if b.opts.Persistence {
		pdir := filepath.Join(b.dir, "persist")
		if err := os.MkdirAll(pdir, 0o700); err != nil {
			return err
		}
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\n", pdir)
	}
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	if b.opts.TLS {
		fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.tlsPort)
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", b.certs.CAFile, b.certs.ServerCertFile, b.certs.ServerKeyFile)
		if b.opts.RequireClientCert {
			c.WriteString("require_certificate true\n")
		}
	}
	if b.opts.ExtraConfig != "" {
		c.WriteString(b.opts.ExtraConfig)
		c.WriteString("\n")
	}
	return os.WriteFile(b.conf, []byte(c.String()), 0o600)
}

func writePasswd(path string, users map[string]string) error {
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		return err
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		var out bytes.Buffer
		cmd := exec.Command(passwdPath, "-b", path, u, users[u])
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s -b %s %s: %w: %s", passwdPath, path, u, err, out.String())
		}
	}
	return nil
}
