package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heimdall/edged/internal/testenv"
)

// journalFile is a file standing in for journald's stream: its device and inode, as
// JOURNAL_STREAM names them, tell edged that stderr is the journal.
func journalFile(t *testing.T) (*os.File, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return f, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino)
}

// Ensure that when stderr is the journal every line of the daemon carries its priority
// (<6> info, <4> warning), and the one-line error of a bad configuration <3>, while the same
// error on a stderr that is not the journal stays plain.
func TestE2EJournalPriorities(t *testing.T) {
	f, env := journalFile(t)
	path := filepath.Join(t.TempDir(), "edged.yaml")
	// No rtl_tcp server listens there: edged warns that it cannot connect, and retries.
	config := fmt.Sprintf("receiver_id: rx-journal\nstate_dir: %s\nsource: {kind: rtl_tcp, rtl_tcp: {address: %s}}\nhttp: {listen: %s}\n",
		t.TempDir(), testenv.FreeAddr(t), testenv.FreeAddr(t))
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(edgedBin, "run", "-config", path)
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() }) // a failed test leaves no daemon behind
	testenv.Eventually(t, 30*time.Second, "a warning logged", func() bool {
		b, _ := os.ReadFile(f.Name())
		return strings.Contains(string(b), " level=WARN ")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("edged exited with %v after SIGTERM", err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	seen := map[string]int{}
	want := map[string]string{"level=INFO": "<6>", "level=WARN": "<4>", "level=ERROR": "<3>"}
	for _, l := range lines {
		p, _, _ := strings.Cut(l, "time=")
		for lvl, prefix := range want {
			if strings.Contains(l, " "+lvl+" ") && p != prefix {
				t.Errorf("%s line with prefix %q, want %q: %s", lvl, p, prefix, l)
			}
		}
		seen[p]++
	}
	if seen["<6>"] == 0 || seen["<4>"] == 0 || len(seen) > 3 {
		t.Errorf("prefixes seen %v, want <6> and <4> on every line:\n%s", seen, b)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("fix:\n  vertices: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, journal := range []bool{true, false} {
		f, env := journalFile(t)
		cmd := exec.Command(edgedBin, "run", "-config", bad)
		cmd.Stderr = f
		cmd.Env = os.Environ()
		if journal {
			cmd.Env = append(cmd.Env, env)
		} else {
			cmd.Env = append(cmd.Env, "JOURNAL_STREAM=1:1") // inherited, but naming another stream
		}
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitConfig {
			t.Fatalf("bad config: %v, want exit %d", err, exitConfig)
		}
		b, _ := os.ReadFile(f.Name())
		want := "edged run: "
		if journal {
			want = "<3>" + want
		}
		if !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), "fix.vertices") {
			t.Errorf("journal=%v: stderr %q, want it to start with %q and name fix.vertices", journal, b, want)
		}
	}
}
