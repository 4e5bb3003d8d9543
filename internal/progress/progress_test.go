package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Ensure the bar says 100 % only when everything was analysed, shows kS/s below 1 MS/s,
// and copes with unknown totals and more done than total.
func TestLine(t *testing.T) {
	cases := []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 49100, time.Millisecond, "f [                              ]   0% 0 S/s"},
		{999, 1000, time.Second, "f [=============================" + " ]  99% 999 S/s"},
		{1000, 1000, time.Second, "f [==============================] 100% 1.0 kS/s"},
		{250000, 1000000, time.Second, "f [=======                       ]  25% 250.0 kS/s"},
		{3_500_000, 0, time.Second, "f 3500000 samples 3.5 MS/s"},
		{2000, 1000, 0, "f [==============================] 100% 2000000.0 MS/s"},
	}
	for _, c := range cases {
		if got := Line("f", c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("Line(%d, %d, %v) = %q, want %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// openPTY returns the two ends of a new pseudo-terminal, or skips when there is none.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Skipf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts %d: %v", n, err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// Ensure the bar draws on a terminal, ends with its final state and a newline on Stop, and
// writes nothing to a file or pipe.
func TestStart(t *testing.T) {
	master, slave := openPTY(t)
	var done int64 = 10
	bar := Start(slave, "rec.cu8", func() (int64, int64) { return done, 40 })
	bar.Stop()
	bar.Stop() // a second Stop is harmless
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\n")) {
		n, err := master.Read(buf)
		if err != nil {
			t.Fatalf("read the terminal: %v (so far %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if s := string(got); !strings.HasPrefix(s, "\rrec.cu8 [=======                       ]  25% ") || !strings.HasSuffix(s, "\r\n") {
		t.Errorf("terminal got %q", s)
	}

	f, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	Start(f, "x", func() (int64, int64) { return 1, 2 }).Stop()
	Start(&bytes.Buffer{}, "x", func() (int64, int64) { return 1, 2 }).Stop()
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("a file got %d bytes", fi.Size())
	}
}
