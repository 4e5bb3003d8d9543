package ui

import (
	"bytes"
	"encoding/json"
	"time"
)

// Status is what the daemon reports for the page's state panel. Zero fields are shown as
// unknown or disabled.
type Status struct {
	ReceiverID string `json:"receiver_id"`
	Version    string `json:"version"`
	// NotReady is why /readyz fails, empty when ready.
	NotReady string `json:"not_ready"`
	// TokenRequired is true when the mutating routes need the bearer token
	// (http.token_file), so the page asks for it before it calls them.
	TokenRequired bool         `json:"token_required"`
	Source        SourceStatus `json:"source"`
	Model         ModelStatus  `json:"model"`
	Uplink        UplinkStatus `json:"uplink"`
	Sync          SyncStatus   `json:"sync"`
}

// SourceStatus is the IQ source and its sample accounting (capture.Stats, summed over the
// source's restarts).
type SourceStatus struct {
	Name string `json:"name"`
	Live bool   `json:"live"`
	// Ended is true once a recording played once has finished.
	Ended     bool   `json:"ended"`
	Delivered uint64 `json:"samples_delivered"`
	Dropped   uint64 `json:"samples_dropped"`
	Lost      uint64 `json:"samples_lost"`
	Overload  uint64 `json:"samples_overload"`
}

// ModelStatus is the model in use and its challenger, if any.
type ModelStatus struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	Origin     string            `json:"origin"`
	Since      time.Time         `json:"since,omitzero"`
	Challenger *ChallengerStatus `json:"challenger,omitempty"`
}

// ChallengerStatus is an A/B test: the challenger answers Split of the windows, or shadows
// every window without publishing.
type ChallengerStatus struct {
	Name    string  `json:"name"`
	Version string  `json:"version"`
	Split   float64 `json:"split"`
	Mode    string  `json:"mode"` // ab or shadow
}

// UplinkStatus is the MQTT uplink and the outbox behind it.
type UplinkStatus struct {
	Enabled     bool   `json:"enabled"`
	Broker      string `json:"broker,omitempty"`
	Connected   bool   `json:"connected"`
	OutboxFixes int    `json:"outbox_fixes"`
	OutboxBytes int64  `json:"outbox_bytes"`
	Published   uint64 `json:"published"`
	LastError   string `json:"last_error,omitempty"`
}

// SyncStatus is MLflow model sync.
type SyncStatus struct {
	Enabled     bool      `json:"enabled"`
	Follows     string    `json:"follows,omitempty"` // e.g. "beacons@champion"
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// Source states shown by the page.
const (
	SourceStarting = "starting" // no window yet since the run started
	SourceUp       = "up"
	SourceStalled  = "stalled" // no window for longer than stallAfter allows
	SourceEnded    = "ended"   // a recording played once has finished
)

// minStall is the shortest silence called a stall: live sources deliver windows steadily,
// a model's window lasting at most a fraction of a second in practice.
const minStall = 2 * time.Second

// stateEvent is the page's state panel: the daemon's Status and what the hub measures.
type stateEvent struct {
	Status
	Time          time.Time `json:"time"`
	SourceState   string    `json:"source_state"`
	LastWindowAge *float64  `json:"last_window_age_seconds"`
	WindowsTotal  uint64    `json:"windows_total"`
	PassedTotal   uint64    `json:"windows_passed_total"`
	FixesTotal    uint64    `json:"fixes_total"`
	WindowsPerSec float64   `json:"windows_per_second"`
	FixesPerSec   float64   `json:"fixes_per_second"`
	Clients       int       `json:"clients"`
	MaxClients    int       `json:"max_clients"`
	RecentFixes   int       `json:"recent_fixes"`
}

// sourceState says whether windows flow: a stream is stalled when no window arrived for
// max(2 s, 3 windows' duration), or, before its first window, for that long since it
// started.
func (h *Hub) sourceState(now time.Time, st Status) (state string, age *float64) {
	if st.Source.Ended {
		return SourceEnded, nil
	}
	stall := minStall
	if g := h.geom.Load(); g != nil {
		stall = max(stall, time.Duration(3*g.windowSec*float64(time.Second)))
	}
	start, last := h.streamStart.Load(), h.lastWindow.Load()
	if last != 0 {
		a := now.Sub(time.Unix(0, last)).Seconds()
		age = &a
	}
	switch {
	case start == 0:
		return SourceStarting, age
	case last < start: // the current run has no window yet
		if now.Sub(time.Unix(0, start)) > stall {
			return SourceStalled, age
		}
		return SourceStarting, age
	case now.Sub(time.Unix(0, last)) > stall:
		return SourceStalled, age
	}
	return SourceUp, age
}

func (h *Hub) stateEvent(now time.Time) []byte {
	st := h.status()
	ev := stateEvent{Status: st, Time: now.UTC(), WindowsTotal: h.windows.Load(), PassedTotal: h.passed.Load(),
		FixesTotal: h.fixes.Load(), Clients: h.Clients(), MaxClients: h.cfg.MaxClients, RecentFixes: h.cfg.RecentFixes}
	ev.SourceState, ev.LastWindowAge = h.sourceState(now, st)
	h.mu.Lock()
	ev.WindowsPerSec, ev.FixesPerSec = h.rates.perSecond()
	h.mu.Unlock()
	b, err := json.Marshal(ev)
	if err != nil {
		h.log.Warn("ui: encode state", "err", err)
		return nil
	}
	return sseEvent("state", b)
}

// rateWindow turns counters into rates over the last few seconds.
type rateWindow struct {
	n       int
	samples [6]rateSample
}

type rateSample struct {
	t              time.Time
	windows, fixes uint64
}

func (r *rateWindow) add(t time.Time, windows, fixes uint64) {
	if r.n == len(r.samples) {
		copy(r.samples[:], r.samples[1:])
		r.n--
	}
	r.samples[r.n] = rateSample{t, windows, fixes}
	r.n++
}

func (r *rateWindow) perSecond() (windows, fixes float64) {
	if r.n < 2 {
		return 0, 0
	}
	a, b := r.samples[0], r.samples[r.n-1]
	dt := b.t.Sub(a.t).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(b.windows-a.windows) / dt, float64(b.fixes-a.fixes) / dt
}

// sseEvent encodes one server-sent event; each line of data gets its own "data:" field, as
// the format requires.
func sseEvent(name string, data []byte) []byte {
	b := make([]byte, 0, len(name)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, '\n')
	for {
		line, rest, more := bytes.Cut(data, []byte("\n"))
		b = append(b, "data: "...)
		b = append(b, bytes.TrimSuffix(line, []byte("\r"))...)
		b = append(b, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(b, '\n')
}
