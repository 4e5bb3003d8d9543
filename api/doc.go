// Package api serves edged's local HTTP API: health and readiness probes, Prometheus
// metrics, stored fixes, on-demand prediction from IQ in the request body, and model
// management.
//
// # Basics
//
// New checks a Config and wires the Deps; Handler returns the routes for tests or another
// server; Serve runs them on a listener until its context ends, then shuts down gracefully
// (in-flight requests finish, pending cache writes are flushed).
//
// Routes:
//
//	GET  /healthz                 200 {"status":"ok"} while the process serves
//	GET  /readyz                  200 {"status":"ready"}, or 503 with the reason
//	GET  /metrics                 Prometheus text or OpenMetrics
//	GET  /api/v1/fixes            ?since=RFC3339&limit=N (default 100, max 10000): FeatureCollection
//	POST /api/v1/predict          IQ in the body, returns one fix (GeoJSON Feature)
//	POST /api/v1/predict/batch    {"items":[{"id","iq_data"}…]} with 1–100 items
//	GET  /api/v1/model            the active model
//	GET  /api/v1/models           every installed model, and the registry's target
//	POST /api/v1/model/reload     bearer token when Config.Token is set
//	POST /api/v1/model/rollback   bearer token when Config.Token is set
//	POST /api/v1/model/activate   ?version=V (installed); bearer token when Config.Token is set
//
// Every error is JSON, {"error":"<code>","message":"<what is wrong, naming the field>"},
// with a 4xx status for bad input and 503 when edged cannot answer right now.
//
// # Predict
//
// The body is either raw interleaved IQ (Content-Type application/octet-stream, with
// ?format=cu8|cs8|cs16|cf32 and ?sample_rate=250k both required) or Heimdall's JSON
// (Content-Type application/json, {"iq_data": [[i,q],…]} with i and q floats in full
// scale ±1; the sample rate is the model contract's unless ?sample_rate= is given).
// I and q must lie within ±1e9. An optional ?center_freq=433.92M is copied into the fix.
// Heimdall's session_id is accepted and ignored; "cache_enabled": false bypasses the cache.
// A batch takes the same ?sample_rate= and ?center_freq= for all its items; a bad item
// fails alone (its entry has an error instead of a fix) and the batch answers 200 unless
// the body itself is bad. The samples are shifted and
// resampled to the contract's rate and cut into windows of the contract's window length by
// dsp.Windower, as the pipeline cuts a recording; the last partial window, and so an input
// shorter than one window, is zero-padded to a whole window however short it is (a
// recording's tail must fill half a window). The answer is the fix of the window with the
// highest SNR, measured over the frames that hold samples, not the padding. Its id is "<receiver_id>:predict:<first 16 hex digits of the cache
// key>" and properties.time is the time the request was computed. Predict does not apply
// the pipeline's SNR gate: pure noise still yields the model's best guess.
//
// # Cache
//
// With a store, answers are cached in its bbolt cache for Config.CacheTTL. The key is
// SHA-256 over a version tag, the input format, the sample rate in Hz, the centre frequency
// in Hz, the model's name, version and SHA-256, and the input bytes: the body itself for
// raw IQ, or for JSON the samples as the little-endian cf32 bytes they convert to (so JSON
// bodies differing only in spacing or number spelling share an entry, under format
// "json"). A hit returns the stored body byte for byte, including its original
// properties.time; the X-Edged-Cache response header says hit, miss or off. Writes go to
// bbolt in the background so that a miss does not wait for an fsync; an answer waiting to
// be written is already served from memory. A JSON body seen before (the same bytes, query
// and model) is recognised by a seeded 128-bit hash of its bytes and answered without
// decoding its numbers again.
//
// # Caveats
//
// Concurrency is bounded by Config.MaxConcurrent over the /api/ routes (a batch counts as
// one); a request that finds every slot taken waits up to Config.QueueWait and then gets
// 503 with Retry-After. Predict and batch take their slot only once the whole body has
// arrived, within Config.BodyReadTimeout (else 408), so clients sending slowly cannot hold
// the slots. Memory is bounded across requests by Config.MaxMemoryBytes: each request
// reserves, before allocating, its body as it arrives, the decoded samples (at most 2⅔ ×
// the JSON body) and its windows' features; past the bound it gets 503 with Retry-After,
// and a request needing more than all of it gets 413. JSON nested deeper than 32 levels is
// a 400 (json_too_deep). The input is resampled in chunks, at most 16× up (a lower
// ?sample_rate= is a 400) and at most 4096× down. The probes and /metrics are never queued. Inside that bound,
// decoding and computing run one request per CPU in arrival order, never while waiting on
// the network; this keeps latency tight without changing throughput. A batch's items run
// concurrently up to Config.BatchConcurrency.
//
// ModelManager errors wrapping ErrNoRollback or ErrBusy answer 409, ErrUnknownVersion 404;
// other failures of a reload, rollback or activation answer 503 with the error's text.
package api
