package pipeline

import (
	"time"

	"github.com/heimdall/edged/store"
)

// Tap watches a run for display (the status page): the stream's shape once, then every
// window's features and gate decision, then every batch of committed fixes. Its methods are
// called from the pipeline's own goroutines, so they must return at once without blocking
// (drop rather than wait) and must not keep the slices they are handed: the features buffer
// is reused for the next window.
type Tap interface {
	// Stream is called once at the start of a run, before its first window.
	Stream(StreamInfo)
	// Window is called for every window whose features were computed, with the features in
	// the model's row-major [freq][frame] layout.
	Window(w WindowInfo, features []float32)
	// Fixes is called with every batch of fixes after it was committed. Their bodies are
	// the stored form (infer.Unpack renders a packed one as GeoJSON); without a store they
	// are empty.
	Fixes([]store.Fix)
}

// StreamInfo describes what a run's windows hold.
type StreamInfo struct {
	// Source names the source ("file:/path", "rtl_tcp:host:port").
	Source string
	// CenterFreqHz is the capture's centre frequency; ShiftHz moves the model's 0 Hz from it.
	CenterFreqHz, ShiftHz float64
	// SampleRateHz is the model's rate (after resampling); WindowSamples its window length.
	SampleRateHz  float64
	WindowSamples int
	// Rows and Frames are the features' shape; RowsHz each row's frequency relative to the
	// model's 0 Hz (dsp.Frontend.RowsHz).
	Rows, Frames int
	RowsHz       []float64
	// Log is the features' compression ("db", "ln" or "none") and Normalize their
	// standardisation ("none", "global", …): together they say what the values mean.
	Log, Normalize string
	// GateSNRDB is the signal gate's threshold.
	GateSNRDB float64
}

// WindowInfo is one window's place in the stream and the gate's decision on it.
type WindowInfo struct {
	Seq, SampleOffset uint64
	Time              time.Time
	// SNRDB is the gate's measure (NaN when it could not be measured).
	SNRDB float64
	// Passed is true when the window went to the model.
	Passed bool
}
