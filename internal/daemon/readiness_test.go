package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heimdall/edged/capture"
	"github.com/heimdall/edged/capture/rtltcptest"
	"github.com/heimdall/edged/configs"
	"github.com/heimdall/edged/internal/testenv"
	"github.com/heimdall/edged/uplink"
)

// logTimes is a slog handler that remembers when each message was first logged, and
// shows the whole log if the test fails.
type logTimes struct {
	mu    sync.Mutex
	first map[string]time.Time
	lines []string
}

func newLogTimes(t *testing.T) *logTimes {
	l := &logTimes{first: map[string]time.Time{}}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Log("daemon log:\n" + strings.Join(l.lines, "\n"))
			l.mu.Unlock()
		}
	})
	return l
}

func (l *logTimes) Enabled(context.Context, slog.Level) bool { return true }
func (l *logTimes) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logTimes) WithGroup(string) slog.Handler            { return l }
func (l *logTimes) Handle(_ context.Context, r slog.Record) error {
	line := r.Time.Format("15:04:05.000") + " " + r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.first[r.Message]; !ok {
		l.first[r.Message] = r.Time
	}
	l.lines = append(l.lines, line)
	return nil
}

func (l *logTimes) at(msg string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.first[msg]
	return t, ok
}

// startDaemon runs a daemon on cfg until the test ends and returns its API's base URL.
func startDaemon(t *testing.T, cfg configs.Config, log *slog.Logger) (*Daemon, string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, Options{Stdout: io.Discard}, log, new(slog.LevelVar))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d, "http://" + d.httpLn.Addr().String()
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rtlTCPConfig is the embedded defaults reading from an rtl_tcp server.
func rtlTCPConfig(t *testing.T, addr string, stallSeconds float64) configs.Config {
	t.Helper()
	cfg, err := configs.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReceiverID = "rx-ready"
	cfg.StateDir = t.TempDir()
	cfg.Source.Kind = "rtl_tcp"
	cfg.Source.RTLTCP.Address = addr
	cfg.Source.StallTimeoutSeconds = stallSeconds
	cfg.Fix.Print = "none"
	cfg.HTTP.Listen = "127.0.0.1:0"
	return cfg
}

type poll struct {
	at   time.Time
	code int
	body string
}

// Ensure that during a 5 s rtl_tcp stall /readyz answers 503, naming the source and the
// stall, within 1 s of the stall being detected (source.stall_timeout_seconds without a
// sample), and 200 again within 1 s of samples flowing; that edged_source_up follows; and
// that the stall and the reconnections are counted, from 0.
func TestReadinessFollowsAStall(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a 5 s stall")
	}
	const stall = 5 * time.Second
	srv := rtltcptest.Start(t, rtltcptest.Options{})
	logs := newLogTimes(t)
	_, base := startDaemon(t, rtlTCPConfig(t, srv.Addr(), 2), slog.New(logs))

	// Failure counters exist from the start, at 0.
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"edged_source_stalls_total 0", "edged_source_restarts_total 0",
		`edged_stage_errors_total{class="runtime",stage="infer"} 0`, `edged_model_reloads_total{result="error"} 0`,
		`edged_model_predictions_total{model="edged-reference-beacon",result="non_finite"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics at start lacks %q", want)
		}
	}
	testenv.Eventually(t, 30*time.Second, "ready", func() bool { code, _ := get(t, base+"/readyz"); return code == 200 })

	// Poll /readyz every 10 ms from here on.
	var (
		mu    sync.Mutex
		polls []poll
	)
	stopPoll, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(10 * time.Millisecond): // poll interval
			}
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			polls = append(polls, poll{time.Now(), resp.StatusCode, string(b)})
			mu.Unlock()
		}
	}()
	first := func(code int, after time.Time) (poll, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range polls {
			if p.code == code && p.at.After(after) {
				return p, true
			}
		}
		return poll{}, false
	}

	srv.Pause()
	paused := time.Now()
	var detected time.Time
	testenv.Eventually(t, 10*time.Second, "stall detected", func() bool {
		var ok bool
		detected, ok = logs.at("source stalled")
		return ok
	})
	testenv.Eventually(t, 5*time.Second, "503 during the stall", func() bool { _, ok := first(503, paused); return ok })
	_, during := get(t, base+"/metrics")
	time.Sleep(time.Until(paused.Add(stall))) // the rest of the stall
	srv.Resume()
	testenv.Eventually(t, 10*time.Second, "samples flowing again", func() bool { return !srv.FirstWrite().IsZero() })
	flowing := srv.FirstWrite()
	testenv.Eventually(t, 10*time.Second, "200 after the stall", func() bool { _, ok := first(200, flowing); return ok })
	close(stopPoll)
	<-polled

	p503, _ := first(503, paused)
	p200, _ := first(200, flowing)
	toNotReady, toReady := p503.at.Sub(detected), p200.at.Sub(flowing)
	t.Logf("stall detected %v after the server paused; /readyz 503 %v after detection; 200 %v after samples flowed again",
		detected.Sub(paused).Round(time.Millisecond), toNotReady.Round(time.Millisecond), toReady.Round(time.Millisecond))
	if toNotReady > time.Second {
		t.Errorf("/readyz 503 %v after the stall was detected, want within 1 s", toNotReady)
	}
	if toReady > time.Second {
		t.Errorf("/readyz 200 %v after samples flowed again, want within 1 s", toReady)
	}
	if d := detected.Sub(paused); d < 2*time.Second-100*time.Millisecond {
		t.Errorf("stall detected %v after the server paused, before the 2 s stall timeout", d)
	}
	if !strings.Contains(p503.body, "source: rtl_tcp:") || !strings.Contains(p503.body, "no samples within the stall timeout") {
		t.Errorf("503 body %q does not name the source and the stall", p503.body)
	}
	mu.Lock()
	for _, p := range polls {
		if p.at.After(p503.at) && p.at.Before(flowing) && p.code != 503 {
			t.Errorf("/readyz %d at %v, during the stall", p.code, p.at.Sub(paused))
		}
	}
	mu.Unlock()

	if !strings.Contains(during, "edged_source_up 0") {
		t.Error("edged_source_up is not 0 during the stall")
	}
	_, after := get(t, base+"/metrics")
	for _, want := range []string{"edged_source_up 1", "edged_source_stalls_total 1"} {
		if !strings.Contains(after, want) {
			t.Errorf("/metrics after the stall lacks %q", want)
		}
	}
	if strings.Contains(after, "edged_source_restarts_total 0") {
		t.Error("edged_source_restarts_total still 0 after a stall made rtl_tcp reconnect")
	}
}

// Ensure the embedded defaults give the recovery the figures above were measured with:
// the source's and the uplink's retry caps are the packages' defaults.
func TestDefaultsAreTheRecoverySchedules(t *testing.T) {
	cfg, err := configs.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Source.Retry(); got != capture.DefaultRetry {
		t.Errorf("source retry from edged.yaml %+v, want capture.DefaultRetry %+v", got, capture.DefaultRetry)
	}
	if cfg.MQTT.ReconnectMinMs != uplink.DefaultReconnectMinMs || cfg.MQTT.ReconnectMaxMs != uplink.DefaultReconnectMaxMs {
		t.Errorf("mqtt reconnect %d–%d ms in edged.yaml, want the uplink's defaults %d–%d",
			cfg.MQTT.ReconnectMinMs, cfg.MQTT.ReconnectMaxMs, uplink.DefaultReconnectMinMs, uplink.DefaultReconnectMaxMs)
	}
}

// Ensure readiness lists every failing condition by name, in order, and lets errors.Is
// see each one's error.
func TestReadinessConditions(t *testing.T) {
	var r readiness
	if err := r.check(); err != nil {
		t.Fatalf("no conditions: %v", err)
	}
	stalled := capture.ErrStalled
	var source, store error
	r.add("model", func() error { return nil })
	r.add("source", func() error { return source })
	r.add("store", func() error { return store })
	if err := r.check(); err != nil {
		t.Fatalf("all hold: %v", err)
	}
	source, store = stalled, errors.New("disk full")
	err := r.check()
	var nr *NotReadyError
	if !errors.As(err, &nr) || len(nr.Failed) != 2 || !errors.Is(err, capture.ErrStalled) {
		t.Fatalf("check = %v, want a NotReadyError with source and store", err)
	}
	if got, want := err.Error(), "source: "+stalled.Error()+"; store: disk full"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
