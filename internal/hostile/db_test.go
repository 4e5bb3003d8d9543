package hostile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heimdall/edged/store"
)

// filledStore makes a cleanly closed edged.db holding n fixes in dir and returns its path.
func filledStore(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "edged.db")
	db, err := store.Open(path, store.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i += 500 {
		batch := make([]store.Fix, 0, 500)
		for j := i; j < min(i+500, n); j++ {
			batch = append(batch, store.Fix{ID: fmt.Sprintf("rx:%d", j), Receiver: "rx", Time: t0.Add(time.Duration(j) * time.Second),
				Body: []byte(fmt.Sprintf(`{"type":"Feature","id":"rx:%09d"}`, j))})
		}
		if _, err := db.Commit(batch...); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHostileDatabase starts the daemon on an edged.db that is truncated, garbage after
// valid meta pages, not bbolt at all, or damaged where only a consistency check looks
// after a run that did not stop cleanly: each must be moved aside (its bytes kept), counted,
// and the daemon must come up ready on a fresh store.
func TestHostileDatabase(t *testing.T) {
	idle := startDaemon(t, "receiver_id: rx\nfix: {print: none}\n")
	idleKB := idle.procKB("VmHWM")
	idle.cmd.Process.Kill()
	<-idle.done

	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated to half", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			truncate(t, p, fi.Size()/2)
		}},
		{"truncated to 8 KiB", func(t *testing.T, p string) { truncate(t, p, 8<<10) }},
		{"valid meta pages, then garbage", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			for i := 2 * 4096; i < len(b); i++ {
				b[i] = byte(rng.Uint32())
			}
			write(t, p, b)
		}},
		{"not bbolt at all", func(t *testing.T, p string) { write(t, p, bytes.Repeat([]byte("not a database\n"), 5000)) }},
		{"a damaged page after an unclean stop", func(t *testing.T, p string) {
			zeroBucketRoot(t, p, "fixes")
			write(t, p+".dirty", nil) // the marker a killed daemon leaves
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			path := filledStore(t, state, 20000)
			c.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var problems []error
			o := startDaemonOutcome(t, "receiver_id: rx\nfix: {print: none}\n", "EDGED_STATE_DIR="+state)
			if o.err != nil {
				problems = append(problems, o.err)
			} else {
				moved, _ := filepath.Glob(path + ".corrupt-*")
				if len(moved) != 1 {
					problems = append(problems, fmt.Errorf("moved-aside files: %v", moved))
				} else if kept, _ := os.ReadFile(moved[0]); !bytes.Equal(kept, before) {
					problems = append(problems, fmt.Errorf("%s is not the file that was there", moved[0]))
				}
				if v := o.d.metric("edged_store_moved_aside_total"); v != 1 {
					problems = append(problems, fmt.Errorf("edged_store_moved_aside_total = %g, want 1", v))
				}
				if !bytes.Contains([]byte(o.d.stderr.String()), []byte("level=ERROR msg=\"store: database file unusable")) {
					problems = append(problems, fmt.Errorf("no ERROR line saying the database was moved aside"))
				}
			}
			above := int64(-1)
			if o.d != nil {
				above = o.d.procKB("VmHWM") - idleKB
				if above > rssBudgetKB {
					problems = append(problems, fmt.Errorf("peak RSS %d MB above an idle daemon", above>>10))
				}
			}
			t.Logf("peak RSS %+.1f MB from an idle daemon", float64(above)/1024)
			suite.add("edged.db "+c.name, len(problems) == 0, o.crash, o.hang, above)
			for _, p := range problems {
				t.Errorf("edged.db %s: %v", c.name, p)
			}
		})
	}
}

func truncate(t *testing.T, p string, size int64) {
	t.Helper()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// zeroBucketRoot overwrites a bucket's root page with zeros: bbolt opens the file without
// reading that page, so only a consistency check (or a later read) finds it.
func zeroBucketRoot(t *testing.T, path, bucket string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true}) // read-only: no freelist written
	if err != nil {
		t.Fatal(err)
	}
	var pgid int64
	var pageSize int
	b.View(func(tx *bolt.Tx) error {
		pgid, pageSize = int64(tx.Bucket([]byte(bucket)).RootPage()), tx.DB().Info().PageSize
		return nil
	})
	b.Close()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, pageSize), pgid*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
}

// started is how a daemon start went: ready (d set), or why not.
type started struct {
	d           *daemon
	err         error
	crash, hang string
}

// startDaemonOutcome starts the daemon and reports a crash or a failure to become ready
// instead of failing the test, so the case is counted either way.
func startDaemonOutcome(t *testing.T, config string, env ...string) started {
	t.Helper()
	d, err := tryDaemon(t, config, env...)
	o := started{d: d, err: err}
	if err != nil {
		o.d = nil
		msg := err.Error()
		switch {
		case strings.Contains(msg, "panic:"), strings.Contains(msg, "fatal error:"), strings.Contains(msg, "signal:"):
			o.crash = "crashed at start"
		case strings.Contains(msg, "not ready after"), strings.Contains(msg, "not listening after"):
			o.hang = "not ready"
		}
	}
	return o
}
