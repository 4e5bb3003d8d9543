package capture

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heimdall/edged/capture/rtltcptest"
	"github.com/heimdall/edged/internal/testenv"
)

// serverOutage is how long the rtl_tcp server is away in the recovery tests: longer than
// the backoff cap, so recovery is timed from a capped wait.
const serverOutage = 10 * time.Second

// recoveryLimit is how soon after the server listens again samples must flow, with the
// default retry schedule (capped at DefaultRetry.Max, 2 s).
const recoveryLimit = 5 * time.Second

// sampleClock reads a source in the background and remembers when samples first arrived
// after a mark.
type sampleClock struct {
	mark, first atomic.Int64 // unix ns; first is 0 until samples came after mark
	any         atomic.Bool
}

func readInBackground(t *testing.T, src Source) *sampleClock {
	t.Helper()
	sc := &sampleClock{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		buf := make([]complex64, 1<<14)
		for {
			n, err := src.Read(ctx, buf)
			if err != nil {
				return
			}
			if n > 0 {
				now := time.Now().UnixNano()
				sc.any.Store(true)
				if m := sc.mark.Load(); m != 0 && now >= m {
					sc.first.CompareAndSwap(0, now)
				}
			}
		}
	}()
	return sc
}

// setMark starts timing from now.
func (sc *sampleClock) setMark() time.Time {
	now := time.Now()
	sc.first.Store(0)
	sc.mark.Store(now.UnixNano())
	return now
}

// waitFirst waits until samples arrived after the mark and returns how long after it.
func (sc *sampleClock) waitFirst(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	mark := time.Unix(0, sc.mark.Load())
	testenv.Eventually(t, limit, "samples after the server came back", func() bool { return sc.first.Load() != 0 })
	return time.Unix(0, sc.first.Load()).Sub(mark)
}

// defaultRTLTCP is an rtl_tcp source for srv with the default retry schedule, read in the
// background from the start.
func defaultRTLTCP(t *testing.T, srv *rtltcptest.Server) (*rtlTCP, *sampleClock) {
	t.Helper()
	src, err := NewRTLTCP(srv.Addr(), RTLTCPConfig{Tuning: Tuning{CenterFreqHz: 433.92e6, SampleRateHz: 250e3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src.(*rtlTCP), readInBackground(t, src)
}

// listenAndTime brings srv up and returns how long until samples arrived, failing beyond
// recoveryLimit.
func listenAndTime(t *testing.T, srv *rtltcptest.Server, sc *sampleClock, what string) {
	t.Helper()
	sc.setMark() // just before the port is bound again: the figure is an upper bound
	srv.Listen()
	took := sc.waitFirst(t, 3*recoveryLimit)
	t.Logf("samples %v after the server listened (%s)", took.Round(time.Millisecond), what)
	if took > recoveryLimit {
		t.Errorf("samples %v after the server listened (%s), want within %v", took, what, recoveryLimit)
	}
}

// Ensure an rtl_tcp source whose server goes away for 10 s delivers samples again within
// 5 s of the server listening, with the default retry schedule.
func TestRTLTCP_ServerOutageRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a 10 s server outage")
	}
	t.Parallel()
	srv := rtltcptest.Start(t, rtltcptest.Options{})
	src, sc := defaultRTLTCP(t, srv)
	testenv.Eventually(t, 10*time.Second, "first samples", sc.any.Load)
	srv.Stop()
	time.Sleep(serverOutage) // the outage itself
	listenAndTime(t, srv, sc, "10 s outage")
	if r := src.Restarts(); r < 1 {
		t.Errorf("Restarts = %d after an outage, want at least 1", r)
	}
	if err := src.Err(); err != nil {
		t.Errorf("Err = %v once samples flow again, want nil", err)
	}
}

// Ensure an rtl_tcp source started while its server is down (for 10 s) delivers samples
// within 5 s of the server listening.
func TestRTLTCP_ServerDownAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a 10 s server outage")
	}
	t.Parallel()
	srv := rtltcptest.New(t, rtltcptest.Options{})
	src, sc := defaultRTLTCP(t, srv)
	time.Sleep(serverOutage) // the server is down at start
	if sc.any.Load() {
		t.Fatal("samples from a server that is not listening")
	}
	if err := src.Err(); err == nil {
		t.Error("Err = nil while the server is down, want the connect failure")
	}
	listenAndTime(t, srv, sc, "down for the first 10 s")
}
