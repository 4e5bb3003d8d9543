// Package dsp turns IQ into exactly the features a model's contract asks for: frequency
// shift and resampling to the contract rate, STFT, filterbank, log and normalisation, plus a
// signal gate measuring each window's SNR. It is pure computation on slices: no I/O.
//
// # Basics
//
// A contract's preprocessing is a Params (JSON/YAML, see params.go). Validate checks it
// without I/O and names the offending field. Per source, the caller builds
//
//	cond, err := dsp.NewConditioner(p, captureRateHz) // shift + rational resampling, streaming
//	fe, err := dsp.NewFrontend(p)                      // one per worker goroutine
//	rows, frames := fe.Shape()
//	dst := make([]float32, rows*frames)
//
// then feeds capture chunks through a Windower (the Conditioner plus the cutting of its output
// into non-overlapping windows of p.WindowSamples; Flush ends a finite stream, draining the
// filter and zero-padding the last partial window), and calls fe.FeaturesPadded(window,
// valid, dst) for each: dst receives the model input ([freq][frame], float32) and the returned
// Measure the window's SNR, peak PSD and peak offset for the signal gate, over the frames that
// hold signal. Output sample m of the Conditioner is capture sample m·M/L (Ratio). WriteNPY
// dumps a feature matrix for comparison with a Python pipeline.
//
// testdata/heimdall_serving.json and testdata/heimdall_training.json are the contracts of
// Heimdall's two real pipelines; scripts/dsp_reference.py computes their NumPy/SciPy reference
// features, which the tests match within 1e-4.
//
// # Caveats
//
//   - FFTs run in FFTW single precision by default. Bins 60 dB or more below a strong signal
//     carry relative errors that a log with a tiny epsilon makes visible (~1e-4 after a
//     z-score); contracts needing NumPy-exact values there set stft.precision "float64".
//   - FFTW plans are made with FFTW_ESTIMATE, once per size per process, under a global lock,
//     so the same input gives the same bits in every run on a host (see fftw.go). Another
//     CPU (other SIMD) or FFTW build may round differently.
//   - Channels > 1 are not supported: one source gives one channel.
//   - The Conditioner's filter delays output by about 16·max(L,M)/L input samples (it is
//     compensated, not removed): the last samples of a finite stream stay inside the filter
//     until Flush pushes them out.
package dsp
