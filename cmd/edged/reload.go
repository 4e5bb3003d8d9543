package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/heimdall/edged/internal/daemon"
)

// reloadPoll is how often `edged reload` looks for the daemon's answer.
const reloadPoll = 50 * time.Millisecond

// runReload asks the daemon PID to reload (SIGHUP) and waits for its answer in
// $RUNTIME_DIRECTORY/reload, so that a refused reload makes this command, and with it the
// unit's ExecReload= and `systemctl reload edged`, fail with the daemon's reason. systemd
// 252 (Debian 12) has no Type=notify-reload to do this itself.
func runReload(args []string) error {
	fs := newFlags("reload", "[flags] PID\n\nSends SIGHUP to the daemon PID (the unit's $MAINPID) and waits for its answer: exit 0\nwhen it reloaded, 1 with its reason when it refused.")
	dir := fs.String("runtime-dir", os.Getenv("RUNTIME_DIRECTORY"), "the daemon's runtime `DIR` (systemd: RuntimeDirectory=, /run/edged)")
	timeout := fs.Duration("timeout", 100*time.Second, "give up waiting for the answer after this long (the unit's TimeoutStartSec= bounds a reload at 120 s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one PID")
	}
	pid, err := strconv.Atoi(fs.Arg(0))
	if err != nil || pid <= 0 {
		return fmt.Errorf("PID %q is not a process id", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("no runtime directory: run as the unit's ExecReload= (RUNTIME_DIRECTORY) or pass -runtime-dir")
	}
	before, err := daemon.ReadReloadResult(*dir)
	if err != nil && !errors.Is(err, daemon.ErrReloadRefused) {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("signal edged (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(*timeout)
	for {
		n, err := daemon.ReadReloadResult(*dir)
		if n != before {
			if err != nil {
				return err
			}
			fmt.Println("edged reloaded")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from edged (pid %d) within %v", pid, *timeout)
		}
		time.Sleep(reloadPoll)
	}
}
