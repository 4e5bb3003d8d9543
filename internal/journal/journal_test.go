package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Ensure every record, from any goroutine and any derived logger, starts with its own
// level's priority and nothing else is interleaved into the line.
func TestHandlerPrefixesEachLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, func(w io.Writer) slog.Handler {
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
	}))
	levels := map[slog.Level]string{slog.LevelDebug: "<7>", slog.LevelInfo: "<6>", slog.LevelWarn: "<4>", slog.LevelError: "<3>"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := log.With("goroutine", g).WithGroup("grp")
			for i := range 200 {
				for lvl := range levels {
					l.Log(t.Context(), lvl, "m", "want", levels[lvl], "i", i)
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		n++
		i := strings.Index(line, "grp.want=")
		if i < 0 || len(line) < 3 || line[:3] != line[i+len("grp.want="):i+len("grp.want=")+3] {
			t.Fatalf("line %d has the wrong prefix: %q", n, line)
		}
		if strings.Count(line, "time=") != 1 {
			t.Fatalf("line %d holds more than one record: %q", n, line)
		}
	}
	if n != 8*200*4 {
		t.Errorf("%d lines, want %d", n, 8*200*4)
	}
}

// Ensure records below the inner handler's level are not written at all.
func TestHandlerKeepsLevel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&buf, func(w io.Writer) slog.Handler {
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})
	}))
	log.Info("quiet")
	log.Warn("loud")
	if got := buf.String(); !strings.HasPrefix(got, `<4>{"time":`) || strings.Contains(got, "quiet") {
		t.Errorf("output %q", got)
	}
}

// Ensure only the stream JOURNAL_STREAM names counts as the journal.
func TestIsJournal(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, err := os.Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	env := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	if !IsJournal(f, env) {
		t.Errorf("IsJournal(%s, %q) = false", f.Name(), env)
	}
	for _, c := range []struct {
		f   *os.File
		env string
	}{{other, env}, {f, ""}, {f, "garbage"}, {f, fmt.Sprintf("%d:%d", st.Dev, st.Ino+1)}} {
		if IsJournal(c.f, c.env) {
			t.Errorf("IsJournal(%s, %q) = true", c.f.Name(), c.env)
		}
	}
}

func TestPrefix(t *testing.T) {
	for l, want := range map[slog.Level]string{slog.LevelDebug - 4: "<7>", slog.LevelDebug: "<7>", slog.LevelInfo: "<6>",
		slog.LevelInfo + 1: "<6>", slog.LevelWarn: "<4>", slog.LevelError: "<3>", slog.LevelError + 4: "<3>"} {
		if got := Prefix(l); got != want {
			t.Errorf("Prefix(%v) = %q, want %q", l, got, want)
		}
	}
}
