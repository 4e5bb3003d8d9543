// Package progress draws a one-line progress bar on a terminal, and nothing elsewhere, so
// logs and pipes stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar is a running progress bar. The zero Bar (returned for non-terminals) does nothing.
type Bar struct {
	stop chan struct{}
	done sync.WaitGroup
}

// Start draws a bar for label on w every 200 ms, reading progress from poll, when w is a
// terminal. total 0 means unknown (then only the count is shown).
func Start(w io.Writer, label string, poll func() (done, total int64)) *Bar {
	f, ok := w.(*os.File)
	if !ok {
		return &Bar{}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return &Bar{}
	}
	b := &Bar{stop: make(chan struct{})}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-b.stop:
				draw(w, label, poll, start)
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw(w, label, poll, start)
			}
		}
	}()
	return b
}

func draw(w io.Writer, label string, poll func() (int64, int64), start time.Time) {
	done, total := poll()
	rate := float64(done) / time.Since(start).Seconds() / 1e6
	if total <= 0 {
		fmt.Fprintf(w, "\r%s %d samples %.1f MS/s", label, done, rate)
		return
	}
	const width = 30
	frac := min(1, float64(done)/float64(total))
	n := int(frac * width)
	fmt.Fprintf(w, "\r%s [%s%s] %3.0f%% %.1f MS/s", label, strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, rate)
}

// Stop ends the bar and waits for its last line.
func (b *Bar) Stop() {
	if b.stop == nil {
		return
	}
	close(b.stop)
	b.done.Wait()
}
