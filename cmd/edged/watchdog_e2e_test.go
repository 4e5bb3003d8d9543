package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heimdall/edged/capture/rtltcptest"
	"github.com/heimdall/edged/internal/testenv"
)

// notifySocket listens where systemd would, collecting sd_notify datagrams.
func notifySocket(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

// waitFor reads notifications until one contains want, or fails after limit.
func waitFor(t *testing.T, msgs <-chan string, want string, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from edged within %v", want, limit)
		}
	}
}

// Ensure a stalled source makes edged not-ready and stops its systemd watchdog pings, and
// that pings and readiness come back when samples flow again.
func TestE2EWatchdogFollowsSamples(t *testing.T) {
	srv := rtltcptest.Start(t, rtltcptest.Options{RateHz: 250000})
	sock, msgs := notifySocket(t)
	httpAddr := testenv.FreeAddr(t)
	startDaemon(t, fmt.Sprintf(`
receiver_id: rx-wd
state_dir: %s
source:
  kind: rtl_tcp
  stall_timeout_seconds: 1
  rtl_tcp: {address: %s}
fix: {print: none}
http: {listen: %s}
`, t.TempDir(), srv.Addr(), httpAddr), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=600000")

	ready := func() int {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, msgs, "READY=1", 30*time.Second)
	waitFor(t, msgs, "WATCHDOG=1", 5*time.Second)
	if code := ready(); code != 200 {
		t.Errorf("readyz %d while samples flow", code)
	}

	srv.Pause()
	// Once the stall is noticed, pings stop: a 4 s window with none proves it.
	quiet := time.After(15 * time.Second)
	lastPing := time.Now()
	for time.Since(lastPing) < 4*time.Second {
		select {
		case m := <-msgs:
			if strings.Contains(m, "WATCHDOG=1") {
				lastPing = time.Now()
			}
		case <-time.After(100 * time.Millisecond):
		case <-quiet:
			t.Fatal("watchdog pings continued for 15 s after the source stalled")
		}
	}
	if code := ready(); code != 503 {
		t.Errorf("readyz %d while stalled, want 503", code)
	}

	srv.Resume()
	waitFor(t, msgs, "WATCHDOG=1", 30*time.Second)
	if code := ready(); code != 200 {
		t.Errorf("readyz %d after the source resumed", code)
	}
}

// Ensure a daemon configured for a dongle that is not there keeps running, reports
// not-ready with the reason, and keeps retrying.
func TestE2EDaemonWithoutDongle(t *testing.T) {
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, fmt.Sprintf("receiver_id: rx-nodongle\nstate_dir: %s\nsource: {kind: rtlsdr}\nhttp: {listen: %s}\n", t.TempDir(), addr))
	testenv.Eventually(t, 30*time.Second, "readyz answering 503", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	testenv.Eventually(t, 30*time.Second, "retries logged", func() bool {
		return strings.Count(d.stderr.String(), "no RTL-SDR device found") >= 2
	})
	select {
	case err := <-d.done:
		t.Fatalf("edged exited without a dongle: %v", err)
	default:
	}
}
