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
	stop     chan struct{}
	stopOnce sync.Once
	done     sync.WaitGroup
}

// Start draws a bar for label on w every 200 ms, reading progress from poll, when w is a
// terminal. done counts samples analysed, total those there are (0: unknown, then only the
// count is shown); the bar reaches 100 % only when done reaches total.
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
		draw := func() {
			done, total := poll()
			fmt.Fprint(w, "\r"+Line(label, done, total, time.Since(start)))
		}
		for {
			select {
			case <-b.stop:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return b
}

// barWidth is the bar's length in characters.
const barWidth = 30

// Line is the bar's text for done of total samples after elapsed. The percentage is rounded
// down, so it says 100 % only when every sample was analysed.
func Line(label string, done, total int64, elapsed time.Duration) string {
	rate := Rate(float64(done) / max(elapsed.Seconds(), 1e-9))
	if total <= 0 {
		return fmt.Sprintf("%s %d samples %s", label, done, rate)
	}
	done = max(0, min(done, total))
	n := int(done * barWidth / total)
	pct := done * 100 / total
	return fmt.Sprintf("%s [%s%s] %3d%% %s", label, strings.Repeat("=", n), strings.Repeat(" ", barWidth-n), pct, rate)
}

// Rate formats a sample rate in S/s, kS/s or MS/s, whichever keeps it readable.
func Rate(sps float64) string {
	switch {
	case sps >= 1e6:
		return fmt.Sprintf("%.1f MS/s", sps/1e6)
	case sps >= 1e3:
		return fmt.Sprintf("%.1f kS/s", sps/1e3)
	}
	return fmt.Sprintf("%.0f S/s", sps)
}

// Stop ends the bar and waits for its last line. Later calls do nothing.
func (b *Bar) Stop() {
	if b.stop == nil {
		return
	}
	b.stopOnce.Do(func() { close(b.stop) })
	b.done.Wait()
}
