package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// What edged tells systemd through sd_notify (sd_notify(3)); each is a no-op outside
// systemd (no NOTIFY_SOCKET):
//   - READY=1 once the model is loaded and the first window went through the pipeline;
//   - STATUS= the source, model and uplink in one line (`systemctl status edged`), sent again
//     whenever one of them changes;
//   - RELOADING=1 ... READY=1 around a SIGHUP reload, whose outcome also goes to
//     $RUNTIME_DIRECTORY/reload for `edged reload`, the unit's ExecReload=, which turns a
//     refused reload into a failed `systemctl reload`;
//   - WATCHDOG=1 while samples flow (watchdog, in daemon.go); STOPPING=1 on the way out.

// ReloadResultFile is the file in $RUNTIME_DIRECTORY that holds the outcome of the latest
// reload: "<count> ok" or "<count> refused: <reason>", one line.
const ReloadResultFile = "reload"

// statusInterval is how often the status line is recomputed; it is sent only when it changed.
const statusInterval = time.Second

func notify(state string) {
	// The error only says the socket could not be written; nothing edged could do about it.
	_, _ = daemon.SdNotify(false, state)
}

// awaitFirstWindow reports readiness as soon as p's first window went through the pipeline,
// rather than at the watchdog's next tick (a third of WatchdogSec later).
func (d *Daemon) awaitFirstWindow(ctx context.Context, first <-chan struct{}) {
	select {
	case <-first:
		d.markReady()
	case <-ctx.Done():
	}
}

func (d *Daemon) markReady() {
	d.readyOnce.Do(func() {
		st := d.status()
		notify("READY=1\nSTATUS=" + st)
		d.log.Info("ready", "status", st)
	})
}

// statusLoop keeps systemd's STATUS= current until ctx ends.
func (d *Daemon) statusLoop(ctx context.Context) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	last := ""
	for {
		if st := d.status(); st != last {
			notify("STATUS=" + st)
			last = st
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// status is one line for `systemctl status`: what the source, the model and the uplink do.
func (d *Daemon) status() string {
	var b strings.Builder
	src := d.srcName.Load()
	switch {
	case src == nil:
		fmt.Fprintf(&b, "source %s: not open", d.config().Source.Kind)
	case d.srcStat.status() == nil:
		fmt.Fprintf(&b, "source %s: delivering", *src)
	default:
		fmt.Fprintf(&b, "source %s: no samples", *src)
	}
	if m := d.models.engine.Active(); m != nil {
		fmt.Fprintf(&b, "; model %s %s", m.Name, m.Version)
	} else {
		b.WriteString("; no model")
	}
	switch {
	case d.mqtt == nil:
		b.WriteString("; uplink off")
	case d.mqtt.Connected():
		fmt.Fprintf(&b, "; uplink connected, outbox %d", d.mqtt.Stats().OutboxCount)
	default:
		fmt.Fprintf(&b, "; uplink disconnected, outbox %d", d.mqtt.Stats().OutboxCount)
	}
	return b.String()
}

// HandleReload is what SIGHUP does: Reload between RELOADING=1 and READY=1, its outcome
// written for `edged reload`, and a refusal logged as a warning (the running configuration
// stays as it was).
func (d *Daemon) HandleReload(ctx context.Context) error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		// systemd ≥ 253 wants the time of the request with RELOADING=1 (sd_notify(3)).
		notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
	} else {
		notify("RELOADING=1")
	}
	err := d.Reload(ctx)
	n := d.reloads.Add(1)
	result := "ok"
	if err != nil {
		result = "refused: " + oneLine(err.Error())
		d.log.Warn("reload refused", "err", err)
	}
	if dir := os.Getenv("RUNTIME_DIRECTORY"); dir != "" {
		if werr := writeReloadResult(dir, n, result); werr != nil {
			d.log.Warn("reload: outcome not written for edged reload", "err", werr)
		}
	}
	notify("READY=1\nSTATUS=" + d.status())
	return err
}

func writeReloadResult(dir string, n uint64, result string) error {
	// RuntimeDirectory= may list several folders; the first is edged's own.
	dir, _, _ = strings.Cut(dir, ":")
	path := filepath.Join(dir, ReloadResultFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(n, 10)+" "+result+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ErrReloadRefused is returned by ReadReloadResult for a reload the daemon refused.
var ErrReloadRefused = errors.New("reload refused")

// ReadReloadResult reads the outcome of the latest reload from dir ($RUNTIME_DIRECTORY):
// its count (0 when there was none yet) and, for a refused one, an error wrapping
// ErrReloadRefused with the daemon's reason.
func ReadReloadResult(dir string) (uint64, error) {
	dir, _, _ = strings.Cut(dir, ":")
	b, err := os.ReadFile(filepath.Join(dir, ReloadResultFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	line := strings.TrimSpace(string(b))
	count, result, _ := strings.Cut(line, " ")
	n, err := strconv.ParseUint(count, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: not a reload outcome: %q", filepath.Join(dir, ReloadResultFile), line)
	}
	if reason, refused := strings.CutPrefix(result, "refused: "); refused {
		return n, fmt.Errorf("%w: %s", ErrReloadRefused, reason)
	}
	return n, nil
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
