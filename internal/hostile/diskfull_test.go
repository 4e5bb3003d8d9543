package hostile

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileDiskFull fills the file system the daemon's state directory is on (a tmpfs
// of its own): /readyz must turn 503 saying the store's disk is full, the metrics must
// count the failed writes, the failing commit must be logged at most once every 10 s with
// its count, fixes committed before must stay served, and once space is freed the daemon
// must be ready again.
func TestHostileDiskFull(t *testing.T) {
	state := t.TempDir()
	if err := syscall.Mount("tmpfs", state, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("SKIPPED: cannot mount a tmpfs to fill up (%v); run as root", err)
	}
	t.Cleanup(func() { syscall.Unmount(state, syscall.MNT_DETACH) })
	// A commit per window with fixes: the failure repeats several times a second.
	d := startDaemon(t, "receiver_id: rx\nfix: {print: none}\nstore: {commit_interval_seconds: 0}\n", "EDGED_STATE_DIR="+state)
	waitFor(t, "a fix committed", func() bool { return d.metric("edged_fixes_total") > 0 })

	d.check(t, "disk full under the state directory", func() error {
		filler := filepath.Join(state, "filler")
		if err := fillUp(filler); err != nil {
			return err
		}
		start := time.Now()
		var body string
		if !poll(func() bool {
			var code int
			code, body = d.get("/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "store") && strings.Contains(body, "disk full")
		}) {
			return fmt.Errorf("/readyz never said the disk is full: %.300s", body)
		}
		// Many failures, few lines: at most one per 10 s since the first.
		if !poll(func() bool { return d.metric(`edged_store_write_errors_total{reason="disk_full"}`) >= 20 }) {
			return fmt.Errorf("edged_store_write_errors_total{reason=\"disk_full\"} = %g, want 20 failures counted", d.metric(`edged_store_write_errors_total{reason="disk_full"}`))
		}
		if v := d.metric("edged_store_writable"); v != 0 {
			return fmt.Errorf("edged_store_writable = %g while the disk is full", v)
		}
		lines := strings.Count(d.stderr.String(), `msg="commit failed; fixes not stored"`)
		if most := 1 + int(time.Since(start)/(10*time.Second)) + 1; lines == 0 || lines > most {
			return fmt.Errorf("%d commit-failure lines in %s (%g failures), want 1 to %d", lines, time.Since(start).Round(time.Second),
				d.metric(`edged_store_write_errors_total{reason="disk_full"}`), most)
		}
		if !strings.Contains(d.stderr.String(), "failures=") {
			return errors.New("the commit-failure line does not count the failures")
		}
		if code, body := d.get("/api/v1/fixes"); code != http.StatusOK || !strings.Contains(body, `"Feature"`) {
			return fmt.Errorf("fixes committed before the disk filled: %d %.200s", code, body)
		}
		if err := os.Remove(filler); err != nil {
			return err
		}
		if !poll(func() bool { code, _ := d.get("/readyz"); return code == http.StatusOK }) {
			_, body := d.get("/readyz")
			return fmt.Errorf("not ready again after space was freed: %.300s", body)
		}
		return nil
	})
}

// fillUp writes zeros to path until the file system is full.
func fillUp(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// poll checks cond until it holds or hangAfter passes.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(hangAfter)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // polling an external process: no event to wait on
	}
	return true
}

// waitFor fails the test unless cond holds within hangAfter.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("%s: not within %s", what, hangAfter)
	}
}
