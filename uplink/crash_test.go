package uplink

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/heimdall/edged/internal/mosquittotest"
	"github.com/heimdall/edged/store"
)

const (
	helperDBEnv     = "EDGED_UPLINK_HELPER_DB"
	helperBrokerEnv = "EDGED_UPLINK_HELPER_BROKER"
)

// TestHelperProcess is not a test: TestSIGKILLDuringReplay runs the test binary again
// with -test.run=TestHelperProcess to get an "edged" (store + uplink) that replays the
// same recording from the start, prints "C <index> <seq>" after each Commit returned,
// and is SIGKILLed at a random point.
func TestHelperProcess(t *testing.T) {
	path, broker := os.Getenv(helperDBEnv), os.Getenv(helperBrokerEnv)
	if path == "" {
		t.Skip("helper process for TestSIGKILLDuringReplay")
	}
	fail := func(err error) {
		fmt.Printf("E %v\n", err)
		os.Exit(2)
	}
	// As the daemon runs its store: acknowledgements wait in memory for the next commit,
	// so a kill also forgets some (their fixes are sent again, never lost).
	db, err := store.Open(path, store.Options{AckDelay: time.Second}, nil)
	if err != nil {
		fail(err)
	}
	up, err := New(testConfig(broker), db, nil)
	if err != nil {
		fail(err)
	}
	go func() { _ = up.Run(context.Background()) }()
	w := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 3))
	for i := 0; ; {
		n := 1 + rng.IntN(20)
		got, err := db.Commit(fixes(i, n)...)
		if err != nil {
			fail(err)
		}
		for k, f := range got {
			fmt.Fprintf(w, "C %d %d\n", i+k, f.Seq)
		}
		w.Flush()
		up.Notify()
		i += n
	}
}

// Ensure that an edged SIGKILLed at 5 random points of a replay and restarted each time
// leaves a bbolt file that opens every time, that the broker publishes the will
// "offline" each time, and that every fix that was committed is delivered, first
// deliveries in order, duplicates identifiable by id.
func TestSIGKILLDuringReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	b := mosquittotest.Start(t, mosquittotest.Options{})
	sub := subscribe(t, b.URL(), true)
	path := filepath.Join(t.TempDir(), "edged.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 4))
	committed := map[int]uint64{} // fix index → seq, across runs
	highest := -1
	for run := 0; run < 5; run++ {
		killAfter := 50 + rng.IntN(2000) // fixes not committed before
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperBrokerEnv+"="+b.URL())
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
		fresh, killed := 0, false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "C" {
				t.Fatalf("run %d: child said %q; stderr %s", run, sc.Text(), stderr.String())
			}
			i, _ := strconv.Atoi(f[1])
			s, _ := strconv.ParseUint(f[2], 10, 64)
			if prev, ok := committed[i]; ok && prev != s {
				t.Fatalf("run %d: fix %d committed again as seq %d, was %d", run, i, s, prev)
			} else if !ok {
				fresh++
			}
			committed[i] = s
			highest = max(highest, i)
			if fresh >= killAfter && !killed {
				// Kill only once this child is online, so the will must follow.
				sub.waitFor(fmt.Sprintf("child %d online", run), 20*time.Second, func() bool {
					return strings.Count(strings.Join(sub.avail, ","), "online") > run
				})
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !killed || !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: child ended without our SIGKILL: %v; stderr %s", run, cmd.ProcessState, stderr.String())
		}
		sub.waitFor(fmt.Sprintf("will after kill %d", run), 20*time.Second, func() bool {
			return len(sub.avail) > 0 && sub.avail[len(sub.avail)-1] == "offline" &&
				strings.Count(strings.Join(sub.avail, ","), "offline") > run
		})
		db, err := store.Open(path, store.Options{}, nil)
		if err != nil {
			t.Fatalf("run %d: bbolt file does not open after SIGKILL: %v", run, err)
		}
		pending, _ := db.OutboxLen()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d: killed after %d new fixes; %d committed so far, %d in the outbox", run, fresh, len(committed), pending)
	}
	if len(committed) != highest+1 {
		t.Fatalf("children committed %d distinct fixes but up to index %d", len(committed), highest)
	}

	// The sixth start drains what is left.
	db, err := store.Open(path, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	startUplink(t, testConfig(b.URL()), db, nil)
	sub.waitFor("every committed fix", 60*time.Second, func() bool { return sub.distinct() >= len(committed) })
	sub.mu.Lock()
	dups := checkOrder(t, sub.fixes, seq(0, len(committed)), 1<<30)
	sub.mu.Unlock()
	t.Logf("%d fixes delivered, %d duplicates over 5 kills", len(committed), dups)
}
