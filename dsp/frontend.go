package dsp

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"unsafe"
)

// noisePercentile is the quantile of the window's mean spectrum taken as its noise floor by
// Measure: low enough that a burst filling most of the band still leaves noise bins below it.
const noisePercentile = 0.2

// Measure is what the signal gate and the fix's properties need to know about one window.
// It is computed on the complex signal (even when the model's input is magnitude or
// onesided), after the window's DC is removed if RemoveDC is set, from the STFT frames the
// features use: S[k] is the mean over frames of |FFT(w·frame)[k]|². The bin of the capture's
// centre frequency (0 Hz, or −ShiftHz after a shift) and its two neighbours are left out
// everywhere, because RTL-SDR's LO leakage sits there whether or not RemoveDC is set.
type Measure struct {
	// SNRDB is (S+N)/N of the window's loudest frame, in dB: 10·log10(P_max / N_frame), where
	// P_max is the largest frame power Σ_k |X_t[k]|² and N_frame = n_fft × the 20th-percentile
	// bin of S, the power a noise-only frame would have. It is broadband, like the MANIFEST's
	// block-power rule, so a steady narrowband spur (RTL-SDR has some) does not open the gate;
	// on the real recordings quiet windows measure 1 to 4 dB, windows with bursts 11 to 30 dB.
	SNRDB float64
	// PSDDB is the peak's power spectral density as Heimdall's HeimdallNet features compute
	// it (its develop branch, https://github.com/fulgidus/heimdall): 10·log10(max S[k]/(fs·Σw²) + 1e-12) + 30, i.e. dB(full scale²/Hz) + 30.
	PSDDB float64
	// OffsetHz is the centre frequency of the peak bin relative to the conditioned signal's
	// 0 Hz (capture centre + ShiftHz), in (−fs/2, fs/2]. Resolution fs/n_fft.
	OffsetHz float64
}

// Frontend turns one window of WindowSamples samples at SampleRateHz into the model's input
// matrix. It holds FFTW buffers and scratch space, so it allocates nothing per window; it is
// not safe for concurrent use (make one per worker goroutine).
type Frontend struct {
	s       *spec
	win     []float32
	win64   []float64
	fft     *fft // the features' transform
	mfft    *fft // the measure's transform of the complex signal (magnitude input only)
	scale   float32
	scale64 float64
	// fbRuns[r] is filterbank row r over FFT bins, as runs of consecutive bins.
	fbRuns   [][]fbRun
	win2     []float32 // the window with each value twice, to match interleaved re, im
	binLo    int       // first FFT bin any row reads
	binHi    int       // one past the last
	spec     []float32 // spectrum of the current frame, indexed by FFT bin
	acc      []float32 // sum over frames of |X[k]|² (complex signal) for Measure
	junk     []float32 // where accumulate adds the frames Measure leaves out (padding)
	sel      []float64 // scratch for the percentile
	csig     []complex64
	rsig     []float32
	feat     []float32 // rows × stftFrames
	winPower float64   // Σw²
	dcBins   []int     // FFT bins left out of Measure: the capture centre's bin and neighbours
	// fusedSpec: accumulate also writes f.spec (complex input, single precision, power).
	fusedSpec bool
	// winPow[k] is |FFT(w)[k]|², the spectrum of a frame of ones (fused path only): a frame of
	// one repeated value v transforms to v·FFT(w), so its power needs no FFT. Zero-padded
	// inputs (the predict API pads short requests to a window) are mostly such frames.
	winPow    []float32
	winPowSum float32   // Σ_k winPow[k] outside dcBins
	constP    []float32 // |X[k]|² of the window's constant tail frames
}

// NewFrontend builds the feature extractor for one window of p.WindowSamples samples at
// p.SampleRateHz. FFT plans are made here. A Frontend is used by one goroutine at a time
// (callers make one per worker) and allocates nothing per window.
func NewFrontend(p Params) (*Frontend, error) {
	s, err := p.resolve()
	if err != nil {
		return nil, err
	}
	st := s.p.STFT
	double := st.Precision == "float64"
	f := &Frontend{s: s, win64: makeWindow(st.Window, s.nfft, st.Symmetric)}
	f.win = make([]float32, len(f.win64))
	for i, v := range f.win64 {
		f.win[i] = float32(v)
	}
	if f.fft, err = newFFT(s.nfft, double); err != nil {
		return nil, err
	}
	if s.magnitude {
		if f.mfft, err = newFFT(s.nfft, double); err != nil {
			return nil, err
		}
	}
	var wsum float64
	for _, v := range f.win64 {
		wsum += v
		f.winPower += v * v
	}
	switch st.Scale {
	case "n":
		f.scale64 = 1 / float64(s.nfft)
	case "sqrt_n":
		f.scale64 = 1 / math.Sqrt(float64(s.nfft))
	case "window_sum":
		f.scale64 = 1 / wsum
	default:
		f.scale64 = 1
	}
	f.scale = float32(f.scale64)
	f.binLo, f.binHi = s.nfft, 0
	for _, row := range s.fb.rows {
		var runs []fbRun
		for j, r := range row.idx {
			k := s.rowBin[r]
			f.binLo, f.binHi = min(f.binLo, k), max(f.binHi, k+1)
			if n := len(runs); n > 0 && runs[n-1].start+len(runs[n-1].wt) == k {
				runs[n-1].wt = append(runs[n-1].wt, row.wt[j])
			} else {
				runs = append(runs, fbRun{start: k, wt: []float32{row.wt[j]}})
			}
		}
		f.fbRuns = append(f.fbRuns, runs)
	}
	f.win2 = make([]float32, 2*len(f.win))
	for i, v := range f.win {
		f.win2[2*i], f.win2[2*i+1] = v, v
	}
	if f.binLo >= f.binHi { // every filter empty
		f.binLo, f.binHi = 0, 0
	}
	f.dcBins = captureDCBins(s.nfft, p.SampleRateHz, p.ShiftHz)
	f.spec = make([]float32, s.nfft)
	f.fusedSpec = !s.magnitude && !double && st.Spectrum == "power"
	f.acc = make([]float32, s.nfft)
	f.junk = make([]float32, s.nfft)
	f.sel = make([]float64, 0, s.nfft)
	if f.fusedSpec {
		ones := make([]complex64, s.nfft)
		for i := range ones {
			ones[i] = 1
		}
		f.winPow = make([]float32, s.nfft)
		f.constP = make([]float32, s.nfft)
		f.winPowSum = f.fft.frame(ones, f.win2, 0, f.winPow, nil, 1)
		for _, k := range f.dcBins {
			f.winPowSum -= f.winPow[k]
		}
	}
	padded := p.WindowSamples + 2*s.padEach + s.padTail
	if s.padEach > 0 || s.padTail > 0 {
		f.csig = make([]complex64, padded)
	}
	if s.magnitude {
		f.rsig = make([]float32, padded)
	}
	f.feat = make([]float32, len(s.fb.rows)*s.stftFrames)
	return f, nil
}

// Shape returns the feature matrix shape: frequency rows and time frames (channels is always
// 1 per source).
func (f *Frontend) Shape() (freqRows, frames int) {
	return len(f.s.fb.rows), f.s.frames
}

// Features computes the model input for one window into dst (len freqRows*frames, row-major
// [freq][frame], float32) and measures the window for the signal gate. It is FeaturesPadded
// of a window that is all signal.
func (f *Frontend) Features(window []complex64, dst []float32) (Measure, error) {
	return f.FeaturesPadded(window, len(window), dst)
}

// FeaturesPadded is Features for a window whose first valid samples are signal and the rest
// zero padding (the last window of a finite stream, or a short predict request). The model
// input is computed over the whole window, padding included, as the contract defines it;
// the Measure only over the STFT frames that hold signal, so that padding, which lowers the
// mean spectrum the noise floor is read from, cannot raise a window's SNR over the gate.
//
// The steps, in order: remove the window's DC (RemoveDC); magnitude (Input "magnitude");
// boundary extension and tail padding; STFT frames windowed, FFT'd, scaled and squared
// (or not, Spectrum); filterbank; log; normalisation, with statistics over every STFT frame
// of the window; then crop or pad to Frames (FrameFit). This is the order of Heimdall's
// training pipeline, which normalises before it crops.
func (f *Frontend) FeaturesPadded(window []complex64, valid int, dst []float32) (Measure, error) {
	s := f.s
	if len(window) != s.p.WindowSamples {
		return Measure{}, fmt.Errorf("%w: got %d samples, want %d", ErrWindowLength, len(window), s.p.WindowSamples)
	}
	if valid < 1 || valid > len(window) {
		return Measure{}, fmt.Errorf("%w: %d valid samples of %d", ErrWindowLength, valid, len(window))
	}
	rows, frames := f.Shape()
	if len(dst) != rows*frames {
		return Measure{}, fmt.Errorf("%w: len(dst) = %d, want %d×%d = %d", ErrDstLength, len(dst), rows, frames, rows*frames)
	}
	var dc complex64
	if s.p.RemoveDC {
		var sr, si float64
		for _, v := range window {
			sr += float64(real(v))
			si += float64(imag(v))
		}
		n := float64(len(window))
		dc = complex(float32(sr/n), float32(si/n))
	}
	if s.magnitude {
		magnitudeSignal(f.rsig, window, dc, s.padEach, s.p.STFT.Boundary)
	}
	csig := window
	if f.csig != nil {
		extend(f.csig, window, dc, s.padEach, s.p.STFT.Boundary)
		csig, dc = f.csig, 0
	}
	clear(f.acc)
	// Frames inside a constant tail (zero padding) all have one spectrum: compute it once.
	tail := len(csig)
	if f.winPow != nil {
		tail = constantTail(csig)
	}
	// Frames 0..measured-1 hold signal; the later ones only padding (in csig, the window
	// starts after padEach samples of boundary extension).
	measured := s.stftFrames
	if valid < len(window) {
		measured = min(s.stftFrames, (s.padEach+valid+s.hop-1)/s.hop)
	}
	var constFrames, constMeasured int
	var loudest float64 // power of the loudest measured frame
	for t := range s.stftFrames {
		off := t * s.hop
		acc := f.acc
		if t >= measured {
			acc = f.junk
		}
		var pw float64
		switch {
		case f.winPow != nil && off >= tail:
			constFrames++
			if t < measured {
				constMeasured++
			}
			if constFrames > 1 {
				continue // same column as the first constant frame: filled in after the loop
			}
			pw = f.constantFrame(csig[off] - dc)
		case s.magnitude:
			f.frameMagnitude(f.rsig[off : off+s.nfft])
			if t < measured { // the measure's own transform: not needed for padding
				pw = f.accumulate(f.mfft, csig[off:off+s.nfft], dc, acc)
			}
		case f.fft.double:
			pw = f.accumulate(f.fft, csig[off:off+s.nfft], dc, acc)
			f.spectrum64(f.fft.out64)
		default:
			pw = f.accumulate(f.fft, csig[off:off+s.nfft], dc, acc)
			if !f.fusedSpec {
				f.spectrumFromOut(f.fft.out)
			}
		}
		if t < measured {
			loudest = max(loudest, pw)
		}
		f.applyFilterbank(t)
	}
	constFrom := s.stftFrames
	if constFrames > 0 {
		m := float32(constMeasured)
		for k, p := range f.constP {
			f.acc[k] += m * p
		}
		constFrom = s.stftFrames - constFrames
		T := s.stftFrames
		for r := 0; r < len(f.feat)/T; r++ {
			row := f.feat[r*T : (r+1)*T]
			for t := constFrom + 1; t < T; t++ {
				row[t] = row[constFrom]
			}
		}
	}
	f.logAndNormalize(constFrom)
	f.fitFrames(dst)
	m := f.measure(loudest, measured)
	runtime.KeepAlive(f) // the FFT buffers are C memory freed by f's cleanup
	return m, nil
}

// accumulate windows the complex frame (minus dc) into ft.in, transforms it, adds |X[k]|² to
// acc and returns the frame's power outside the DC bins.
func (f *Frontend) accumulate(ft *fft, frame []complex64, dc complex64, acc []float32) float64 {
	if ft.double {
		return f.accumulate64(ft, frame, dc, acc)
	}
	var spec []float32
	if f.fusedSpec {
		spec = f.spec
	}
	n := len(frame)
	sum := ft.frame(frame, f.win2[:2*n], dc, acc[:n], spec, f.scale*f.scale)
	out := ft.out
	for _, k := range f.dcBins {
		v := out[k]
		sum -= real(v)*real(v) + imag(v)*imag(v)
	}
	return float64(max(sum, 0))
}

// constantTail returns where the run of identical samples that ends x starts.
func constantTail(x []complex64) int {
	if len(x) == 0 {
		return 0
	}
	// Compared as bits: one integer compare per sample instead of two float compares, and a
	// stricter equality (−0 ≠ +0), which only ever makes the tail shorter.
	u := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
	last, i := u[len(u)-1], len(u)-1
	for i > 0 && u[i-1] == last {
		i--
	}
	return i
}

// constantFrame is accumulate for a frame whose samples (minus dc) all equal v, except
// that it leaves its |X[k]|² in f.constP for the caller to add to f.acc once per such frame.
func (f *Frontend) constantFrame(v complex64) float64 {
	a := real(v)*real(v) + imag(v)*imag(v)
	sc2 := f.scale * f.scale
	for k, w := range f.winPow {
		p := a * w
		f.constP[k] = p
		f.spec[k] = p * sc2
	}
	return float64(max(a*f.winPowSum, 0))
}

// accumulate64 is accumulate in double precision (STFT.Precision "float64").
func (f *Frontend) accumulate64(ft *fft, frame []complex64, dc complex64, acc []float32) float64 {
	in := ft.in64[:len(frame)]
	w := f.win64[:len(frame)]
	for i, v := range frame {
		in[i] = complex128(v-dc) * complex(w[i], 0)
	}
	ft.exec()
	out := ft.out64
	acc = acc[:len(out)]
	var sum float64
	for k, v := range out {
		re, im := real(v), imag(v)
		p := re*re + im*im
		acc[k] += float32(p)
		sum += p
	}
	for _, k := range f.dcBins {
		v := out[k]
		sum -= real(v)*real(v) + imag(v)*imag(v)
	}
	return max(sum, 0)
}

// spectrum64 fills f.spec from a double-precision transform, rounding to float32 only after
// scaling and squaring (as NumPy-then-float32 pipelines do).
func (f *Frontend) spectrum64(out []complex128) {
	sc := f.scale64
	mag := f.s.p.STFT.Spectrum == "magnitude"
	for k := f.binLo; k < f.binHi; k++ {
		re, im := real(out[k])*sc, imag(out[k])*sc
		p := re*re + im*im
		if mag {
			p = math.Sqrt(p)
		}
		f.spec[k] = float32(p)
	}
}

// frameMagnitude transforms one frame of the real (magnitude) signal and fills f.spec.
func (f *Frontend) frameMagnitude(frame []float32) {
	if f.fft.double {
		in := f.fft.in64[:len(frame)]
		w := f.win64[:len(frame)]
		for i, v := range frame {
			in[i] = complex(float64(v)*w[i], 0)
		}
		f.fft.exec()
		f.spectrum64(f.fft.out64)
		return
	}
	in := f.fft.in[:len(frame)]
	w := f.win[:len(frame)]
	for i, v := range frame {
		in[i] = complex(v*w[i], 0)
	}
	f.fft.exec()
	f.spectrumFromOut(f.fft.out)
}

// spectrumFromOut scales the FFT bins the filterbank reads into f.spec (power or magnitude).
func (f *Frontend) spectrumFromOut(out []complex64) {
	lo, hi := f.binLo, f.binHi
	sp := f.spec[lo:hi]
	o := out[lo:hi]
	sc := f.scale
	if f.s.p.STFT.Spectrum == "magnitude" {
		for k, v := range o {
			re, im := real(v)*sc, imag(v)*sc
			sp[k] = float32(math.Sqrt(float64(re*re + im*im)))
		}
		return
	}
	sc2 := sc * sc
	if sc2 == 1 {
		for k, v := range o {
			re, im := real(v), imag(v)
			sp[k] = re*re + im*im
		}
		return
	}
	for k, v := range o {
		re, im := real(v), imag(v)
		sp[k] = (re*re + im*im) * sc2
	}
}

// applyFilterbank writes frame t's filterbank outputs into column t of f.feat.
func (f *Frontend) applyFilterbank(t int) {
	T := f.s.stftFrames
	sp := f.spec
	feat := f.feat
	for r, runs := range f.fbRuns {
		var s0, s1 float32
		for _, run := range runs {
			wt := run.wt
			x := sp[run.start : run.start+len(wt)]
			x = x[:len(wt)]
			j := 0
			for ; j+2 <= len(wt); j += 2 {
				s0 += wt[j] * x[j]
				s1 += wt[j+1] * x[j+1]
			}
			if j < len(wt) {
				s0 += wt[j] * x[j]
			}
		}
		feat[r*T+t] = s0 + s1
	}
}

// fbRun is a run of consecutive FFT bins feeding one filterbank row.
type fbRun struct {
	start int       // first FFT bin
	wt    []float32 // weights of bins start, start+1, …
}

// logAndNormalize applies Log and Normalize to f.feat in place.
func (f *Frontend) logAndNormalize(constFrom int) {
	p := f.s.p
	eps := p.Log.Epsilon
	scale := 0.0
	switch p.Log.Kind {
	case "ln":
		scale = 1
	case "db":
		scale = 10 / math.Ln10
	}
	if scale != 0 {
		// Columns from constFrom on are one constant frame repeated: log it once per row.
		T := f.s.stftFrames
		for r := 0; r < len(f.feat)/T; r++ {
			row := f.feat[r*T : (r+1)*T]
			n := min(constFrom+1, T)
			logScaled(row[:n], eps, scale)
			for t := n; t < T; t++ {
				row[t] = row[constFrom]
			}
		}
	}
	var mean, std float64
	switch p.Normalize.Kind {
	case "fixed":
		mean, std = p.Normalize.Mean, p.Normalize.Std
	case "global", "per_channel": // one channel per source, so the two coincide
		var sum float64
		for _, v := range f.feat {
			sum += float64(v)
		}
		mean = sum / float64(len(f.feat))
		var ss float64
		for _, v := range f.feat {
			d := float64(v) - mean
			ss += d * d
		}
		std = math.Sqrt(ss / float64(len(f.feat)))
		std = max(std, p.Normalize.MinStd)
		if std == 0 { // Heimdall serving leaves a constant matrix unchanged
			return
		}
	default:
		return
	}
	inv := 1 / std
	for i, v := range f.feat {
		f.feat[i] = float32((float64(v) - mean) * inv)
	}
}

// fitFrames copies f.feat into dst, cropping or padding the time axis to the model's frames.
func (f *Frontend) fitFrames(dst []float32) {
	rows, frames := f.Shape()
	T := f.s.stftFrames
	if T == frames {
		copy(dst, f.feat)
		return
	}
	center := f.s.p.FrameFit == "center"
	if T > frames {
		start := 0
		if center {
			start = (T - frames) / 2
		}
		for r := range rows {
			copy(dst[r*frames:(r+1)*frames], f.feat[r*T+start:])
		}
		return
	}
	if !center { // keep all frames, zeros after
		for r := range rows {
			copy(dst[r*frames:], f.feat[r*T:(r+1)*T])
			clear(dst[r*frames+T : (r+1)*frames])
		}
		return
	}
	left := (frames - T) / 2 // numpy.pad(mode="reflect"), as Heimdall's _resize_to_fixed_shape
	for r := range rows {
		src := f.feat[r*T : (r+1)*T]
		out := dst[r*frames : (r+1)*frames]
		for j := range out {
			out[j] = src[reflectIndex(j-left, T)]
		}
	}
}

// reflectIndex maps i onto 0..n-1 by reflection without repeating the edge (numpy "reflect").
func reflectIndex(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}

// measure computes the window's Measure from f.acc, summed over frames frames, and the
// loudest frame's power.
func (f *Frontend) measure(loudest float64, frames int) Measure {
	n := len(f.acc)
	peak, peakBin := float32(-1), 0
	f.sel = f.sel[:0]
	for k, v := range f.acc {
		if slices.Contains(f.dcBins, k) {
			continue
		}
		if v > peak {
			peak, peakBin = v, k
		}
		f.sel = append(f.sel, float64(v))
	}
	nf := float64(frames)
	floor := quickSelect(f.sel, int(noisePercentile*float64(len(f.sel)-1)))
	pk := float64(peak) / nf
	fs := f.s.p.SampleRateHz
	off := float64(peakBin)
	if peakBin > n/2 {
		off -= float64(n)
	}
	noise := floor * float64(n-len(f.dcBins)) / nf // expected power of a noise-only frame
	return Measure{
		SNRDB:    10 * math.Log10((loudest+1e-30)/(noise+1e-30)),
		PSDDB:    10*math.Log10(pk/(fs*f.winPower)+1e-12) + 30,
		OffsetHz: off * fs / float64(n),
	}
}

// quickSelect returns the k-th smallest of a (0-based), reordering a.
func quickSelect(a []float64, k int) float64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		pivot := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}

// extend writes x−dc into dst with pad samples of boundary extension at each end (SciPy's
// even_ext, odd_ext, const_ext, zero_ext) and zeros after.
func extend(dst, x []complex64, dc complex64, pad int, boundary string) {
	n := len(x)
	body := dst[pad : pad+n]
	for i, v := range x {
		body[i] = v - dc
	}
	padEdges(dst, pad, n, boundary)
}

// magnitudeSignal writes |x−dc| into dst, extended like extend.
func magnitudeSignal(dst []float32, x []complex64, dc complex64, pad int, boundary string) {
	n := len(x)
	body := dst[pad : pad+n]
	for i, v := range x {
		v -= dc
		re, im := float64(real(v)), float64(imag(v))
		body[i] = float32(math.Sqrt(re*re + im*im))
	}
	padEdges(dst, pad, n, boundary)
}

// padEdges fills the pad samples on each side of dst[pad:pad+n] as SciPy's stft boundary
// option does ("zeros" leaves them zero), and zeroes the tail after the right pad.
func padEdges[T float32 | complex64](dst []T, pad, n int, boundary string) {
	body := dst[pad : pad+n]
	clear(dst[pad+n:])
	for i := 1; i <= pad; i++ {
		var l, r T
		switch boundary {
		case "even":
			l, r = body[i], body[n-1-i]
		case "odd":
			l, r = 2*body[0]-body[i], 2*body[n-1]-body[n-1-i]
		case "constant":
			l, r = body[0], body[n-1]
		}
		dst[pad-i] = l
		dst[pad+n-1+i] = r
	}
}

// logScaled replaces each x by scale·ln(x+eps), faster than math.Log: the exponent comes from
// the bits, then ln m = 2·atanh((m−1)/(m+1)) for the mantissa m in [√½, √2) by its series to
// s⁹, accurate to about 1e-9 absolute, far below the float32 the features are stored in.
// Zero, negative, subnormal and non-finite sums go to math.Log.
func logScaled(xs []float32, eps, scale float64) {
	const sqrt2 = 1.4142135623730951
	for i, v := range xs {
		x := float64(v) + eps
		if !(x >= 0x1p-1022 && x <= math.MaxFloat64) {
			xs[i] = float32(scale * math.Log(x))
			continue
		}
		b := math.Float64bits(x)
		e := float64(int(b>>52) - 1023)
		m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // in [1, 2)
		if m > sqrt2 {
			m *= 0.5
			e++
		}
		s := (m - 1) / (m + 1) // |s| <= 0.1716
		s2 := s * s
		p := 1 + s2*(1.0/3+s2*(1.0/5+s2*(1.0/7+s2*(1.0/9))))
		xs[i] = float32(scale * (e*math.Ln2 + 2*s*p))
	}
}

// captureDCBins returns the FFT bins (of n at fs) holding the capture's centre frequency, which
// ShiftHz moved to −ShiftHz, and their neighbours; none for tiny FFTs or when the centre is
// outside the band.
func captureDCBins(n int, fs, shiftHz float64) []int {
	binHz := fs / float64(n)
	if n < 16 || math.Abs(shiftHz) > fs/2-2*binHz {
		return nil
	}
	k := int(math.Round(-shiftHz / binHz))
	return []int{(k - 1 + n) % n, (k + n) % n, (k + 1 + n) % n}
}
