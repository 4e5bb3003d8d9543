// Package ui is edged's status page: `GET /` on the HTTP listener serves a page, embedded in
// the binary, that shows live what the receiver hears and does: a waterfall of the
// spectrogram the model receives (each window's features, decimated for display) with the
// signal gate's decision per window, the recent fixes as their ellipses over an offline
// Natural Earth basemap, and the state of the source, model, uplink and model sync.
//
//	pipeline ──Tap──► Hub ──(one encoded event, shared)──► client queue ──► SSE /ui/events
//	 (never waits)    │ merge to ≤ MaxFramesPerSecond       (bounded: full = drop, counted)
//	                  └ state every second
//
// # Basics
//
// The Hub is the pipeline's pipeline.Tap. Its Window method decimates the window's features
// into one of a few preallocated slots and hands it over without blocking; when no page is
// connected it only counts. The Hub's own goroutine (Run) merges windows that arrive faster
// than the display rate (element-wise maximum, so a short burst is not lost), quantises each
// frame to bytes once and queues the same encoded server-sent event to every client. A
// client whose queue is full (a slow or stalled browser) misses events; the pipeline never
// waits for it. At most Config.MaxClients pages are live at once.
//
// Routes (Handler): `/` the page, `/ui/…` its assets, `/ui/events` the event stream,
// `/ui/fixes` the newest fixes as a FeatureCollection. They only read, so they are open like
// /metrics; the page sends the API's bearer token only to the mutating routes it calls
// (model reload and rollback), and only when the API asks for one.
//
// # Caveats
//
// The colour scale adapts: each frame is quantised between a slowly tracked noise floor
// and a peak that rises at once and decays slowly, so colours compare within a few seconds
// of each other, not across hours. A frame merged from several windows shows their maximum.
package ui
