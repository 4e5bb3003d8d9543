package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperEnv = "EDGED_STORE_HELPER_DB"

// TestHelperProcess is not a test: the crash test runs the test binary again with
// -test.run=TestHelperProcess to get a child that commits fixes until it is SIGKILLed.
// It replays the same "recording" from the start every time, as a restarted edged
// replay would, and prints "C <id> <seq>" after each Commit returned and "D <seq>" before
// acknowledging an entry as delivered.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestSIGKILLDuringCommits")
	}
	db, err := Open(path, Options{}, nil)
	if err != nil {
		fmt.Printf("E %v\n", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for i, batch := 0, 0; ; batch++ {
		n := 1 + rng.IntN(32)
		got, err := db.Commit(mkFixes(i, n)...)
		if err != nil {
			fmt.Printf("E %v\n", err)
			os.Exit(2)
		}
		for _, f := range got {
			fmt.Fprintf(w, "C %s %d\n", f.ID, f.Seq)
		}
		i += n
		if batch%3 == 2 {
			peek, err := db.OutboxPeek(1 + rng.IntN(40))
			if err != nil {
				fmt.Printf("E %v\n", err)
				os.Exit(2)
			}
			for _, f := range peek {
				fmt.Fprintf(w, "D %d\n", f.Seq)
			}
			// Printed before the ack: a kill in between must not make us believe a fix
			// is still pending that is gone.
			w.Flush()
			if err := db.OutboxAck(seqs(peek)...); err != nil {
				fmt.Printf("E %v\n", err)
				os.Exit(2)
			}
		}
		w.Flush()
	}
}

// Ensure that a child committing in a loop and SIGKILLed at 5 random points leaves a file
// that opens every time, with every fix the child saw committed still stored, under the
// same Seq, and either still in the outbox or reported delivered.
func TestSIGKILLDuringCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "edged.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	committed := map[string]uint64{} // id → seq, across all runs
	delivered := map[uint64]bool{}
	for run := 0; run < 5; run++ {
		killAfter := 50 + rng.IntN(1500) // fixes not seen committed before
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		sc := bufio.NewScanner(out)
		lines, fresh, killed := 0, 0, false
		for sc.Scan() {
			line := sc.Text()
			lines++
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "C":
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				if prev, ok := committed[f[1]]; ok && prev != seq {
					t.Fatalf("run %d: %s committed again as seq %d, was %d", run, f[1], seq, prev)
				}
				if _, ok := committed[f[1]]; !ok {
					fresh++
				}
				committed[f[1]] = seq
			case len(f) == 2 && f[0] == "D":
				seq, _ := strconv.ParseUint(f[1], 10, 64)
				delivered[seq] = true
			default:
				t.Fatalf("run %d: child said %q (stderr %s)", run, line, stderr.String())
			}
			if fresh >= killAfter && !killed {
				// Keep reading after the kill: what the child printed before dying
				// counts.
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("run %d: child exited by itself after %d lines: %v; stderr %s", run, lines, err, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child not killed by SIGKILL: %v", run, err)
		}

		db, err := Open(path, Options{}, nil)
		if err != nil {
			t.Fatalf("run %d: reopen after SIGKILL: %v", run, err)
		}
		stored := map[string]Fix{}
		all, err := db.Fixes(time.Time{}, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range all {
			stored[f.ID] = f
		}
		pending := map[uint64]bool{}
		peek, err := db.OutboxPeek(1 << 30)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range peek {
			pending[f.Seq] = true
		}
		count, _ := db.OutboxLen()
		if count != len(peek) {
			t.Fatalf("run %d: OutboxLen %d but %d entries", run, count, len(peek))
		}
		for id, seq := range committed {
			f, ok := stored[id]
			if !ok || f.Seq != seq {
				t.Fatalf("run %d: committed %s (seq %d) missing after SIGKILL: %+v", run, id, seq, f)
			}
			if want := mkFix(0); !bytes.HasPrefix(f.Body, want.Body[:10]) {
				t.Fatalf("run %d: %s body %q", run, id, f.Body)
			}
			if !pending[seq] && !delivered[seq] {
				t.Fatalf("run %d: committed %s (seq %d) neither in the outbox nor delivered", run, id, seq)
			}
		}
		t.Logf("run %d: killed after %d lines, %d new fixes; %d committed, %d in outbox", run, lines, fresh, len(committed), len(peek))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
