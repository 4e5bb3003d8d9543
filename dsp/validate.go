package dsp

import (
	"errors"
	"fmt"
	"math"
)

// Size limits keep a hostile or mistyped contract from allocating gigabytes or spinning:
// each integer is bounded on its own before any product of them is formed, so no arithmetic
// on contract numbers can overflow, and the feature matrix is bounded before anything is
// built. They are far above what a model on a receiver uses (Heimdall's training pipeline:
// 192000-sample windows, n_fft 2048, 128 rows × 376 frames).
const (
	maxSampleRateHz  = 1e9     // beyond any SDR a receiver host carries
	maxNFFT          = 1 << 16 // also bounds filterbank.bins and first_bin (spectrum rows)
	maxWindowSamples = 1 << 22 // 32 MiB of complex64 per window buffer
	maxMatrix        = 1 << 22 // freq rows × STFT frames: 16 MiB of float32 per matrix
)

// Default values for the zero value of each enumerated field.
const (
	defaultWindow   = "hann"
	defaultBoundary = "none"
	defaultScale    = "none"
	defaultSpectrum = "power"
	defaultFBKind   = "identity"
	defaultMelScale = "htk"
	defaultMelNorm  = "none"
	defaultLogKind  = "none"
	defaultLogEps   = 1e-10
	defaultNormKind = "none"
	defaultFrameFit = "center"
)

// spec is a validated Params with defaults filled in and the sizes it implies.
type spec struct {
	p          Params
	magnitude  bool
	nfft, hop  int
	padEach    int // samples added at each end by the boundary extension
	padTail    int // zeros added at the end (SciPy padded=True)
	stftFrames int // frames the STFT of one window gives
	frames     int // frames the model takes
	rowBin     []int
	rowHz      []float64
	fb         filterbank
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidParams}
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fieldErr(field, "unknown value %q (want one of %q)", v, allowed)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate checks p without I/O; errors name the field (e.g. "stft.hop: must be > 0").
// Every problem found is reported (joined); each is a *FieldError wrapping ErrInvalidParams.
func (p Params) Validate() error {
	_, err := p.resolve()
	return err
}

// withDefaults returns p with every zero-valued enumerated field set to its documented default.
func (p Params) withDefaults() Params {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&p.Input, "complex")
	def(&p.STFT.Window, defaultWindow)
	def(&p.STFT.Boundary, defaultBoundary)
	def(&p.STFT.Scale, defaultScale)
	def(&p.STFT.Spectrum, defaultSpectrum)
	def(&p.STFT.Precision, "float32")
	if p.Input == "magnitude" {
		def(&p.STFT.Bins, "onesided")
	} else {
		def(&p.STFT.Bins, "centered")
	}
	def(&p.Filterbank.Kind, defaultFBKind)
	def(&p.Filterbank.Scale, defaultMelScale)
	def(&p.Filterbank.Norm, defaultMelNorm)
	def(&p.Log.Kind, defaultLogKind)
	if p.Log.Epsilon == 0 {
		p.Log.Epsilon = defaultLogEps
	}
	def(&p.Normalize.Kind, defaultNormKind)
	def(&p.FrameFit, defaultFrameFit)
	if p.Filterbank.FMaxHz == 0 {
		p.Filterbank.FMaxHz = p.SampleRateHz / 2
	}
	return p
}

// resolve validates p and computes everything NewFrontend needs. All independent problems are
// joined into one error.
func (p Params) resolve() (*spec, error) {
	p = p.withDefaults()
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	fs := p.SampleRateHz
	if !finite(fs) || fs <= 0 || fs > maxSampleRateHz {
		add(fieldErr("sample_rate_hz", "must be a rate in (0, %g] Hz, got %g", maxSampleRateHz, fs))
	}
	if !finite(p.ShiftHz) {
		add(fieldErr("shift_hz", "must be finite, got %g", p.ShiftHz))
	}
	if p.WindowSamples <= 0 || p.WindowSamples > maxWindowSamples {
		add(fieldErr("window_samples", "must be in 1..%d, got %d", maxWindowSamples, p.WindowSamples))
	}
	add(oneOf("input", p.Input, "complex", "magnitude"))

	st := p.STFT
	nfftOK := true
	if st.NFFT <= 0 || st.NFFT > maxNFFT {
		add(fieldErr("stft.n_fft", "must be in 1..%d, got %d", maxNFFT, st.NFFT))
		nfftOK = false
	} else if p.WindowSamples > 0 && st.NFFT > p.WindowSamples {
		add(fieldErr("stft.n_fft", "%d is longer than window_samples %d", st.NFFT, p.WindowSamples))
		nfftOK = false
	}
	if st.Hop <= 0 {
		add(fieldErr("stft.hop", "must be > 0, got %d", st.Hop))
	} else if st.NFFT > 0 && st.Hop > st.NFFT {
		add(fieldErr("stft.hop", "%d is larger than n_fft %d: frames would skip samples", st.Hop, st.NFFT))
	}
	add(oneOf("stft.window", st.Window, "hann", "hamming", "blackman", "rect"))
	add(oneOf("stft.boundary", st.Boundary, "none", "zeros", "even", "odd", "constant"))
	add(oneOf("stft.scale", st.Scale, "none", "n", "sqrt_n", "window_sum"))
	add(oneOf("stft.spectrum", st.Spectrum, "power", "magnitude"))
	add(oneOf("stft.precision", st.Precision, "float32", "float64"))
	if err := oneOf("stft.bins", st.Bins, "centered", "natural", "onesided"); err != nil {
		add(err)
	} else if p.Input == "magnitude" && st.Bins != "onesided" {
		add(fieldErr("stft.bins", "%q is not possible for magnitude input: a real signal has only the onesided bins", st.Bins))
	}

	fb := p.Filterbank
	add(oneOf("filterbank.kind", fb.Kind, "identity", "linear", "mel"))
	add(oneOf("filterbank.scale", fb.Scale, "htk", "slaney"))
	add(oneOf("filterbank.norm", fb.Norm, "none", "slaney"))
	if fb.Bins <= 0 || fb.Bins > maxNFFT {
		add(fieldErr("filterbank.bins", "must be in 1..%d, got %d", maxNFFT, fb.Bins))
	}
	if fb.Kind == "linear" || fb.Kind == "mel" {
		switch {
		case !finite(fb.FMinHz) || !finite(fb.FMaxHz):
			add(fieldErr("filterbank.f_min_hz", "f_min_hz and f_max_hz must be finite"))
		case fs > 0 && fb.FMaxHz > fs/2:
			add(fieldErr("filterbank.f_max_hz", "%g Hz is above Nyquist %g Hz (sample_rate_hz/2)", fb.FMaxHz, fs/2))
		case fb.FMinHz >= fb.FMaxHz:
			add(fieldErr("filterbank.f_min_hz", "%g Hz must be below f_max_hz %g Hz", fb.FMinHz, fb.FMaxHz))
		case fb.FMinHz < 0 && (fb.Kind == "mel" || st.Bins == "onesided"):
			add(fieldErr("filterbank.f_min_hz", "%g Hz is negative, but %s has no negative frequencies", fb.FMinHz,
				map[bool]string{true: "a mel scale", false: "a onesided spectrum"}[fb.Kind == "mel"]))
		case fs > 0 && fb.FMinHz < -fs/2:
			add(fieldErr("filterbank.f_min_hz", "%g Hz is below -Nyquist %g Hz", fb.FMinHz, -fs/2))
		}
	}
	if fb.FirstBin < 0 || fb.FirstBin >= maxNFFT {
		add(fieldErr("filterbank.first_bin", "must be in 0..%d, got %d", maxNFFT-1, fb.FirstBin))
	}

	add(oneOf("log.kind", p.Log.Kind, "none", "ln", "db"))
	if !finite(p.Log.Epsilon) || p.Log.Epsilon < 0 {
		add(fieldErr("log.epsilon", "must be a finite value >= 0, got %g", p.Log.Epsilon))
	}
	nm := p.Normalize
	add(oneOf("normalize.kind", nm.Kind, "none", "global", "per_channel", "fixed"))
	if !finite(nm.MinStd) || nm.MinStd < 0 {
		add(fieldErr("normalize.min_std", "must be a finite value >= 0, got %g", nm.MinStd))
	}
	if nm.Kind == "fixed" {
		if !finite(nm.Std) || nm.Std <= 0 {
			add(fieldErr("normalize.std", "must be > 0 for kind \"fixed\", got %g", nm.Std))
		}
		if !finite(nm.Mean) {
			add(fieldErr("normalize.mean", "must be finite, got %g", nm.Mean))
		}
	}
	if p.Frames < 0 || p.Frames > maxMatrix {
		add(fieldErr("frames", "must be in 0..%d, got %d", maxMatrix, p.Frames))
	}
	add(oneOf("frame_fit", p.FrameFit, "center", "start"))
	if len(errs) > 0 || !nfftOK {
		return nil, errors.Join(errs...)
	}

	s := &spec{p: p, magnitude: p.Input == "magnitude", nfft: st.NFFT, hop: st.Hop}
	n := p.WindowSamples
	if st.Boundary != "none" {
		// SciPy: extend by nperseg//2 at each end, then zero-pad the tail to a whole hop.
		s.padEach = s.nfft / 2
		l := n + 2*s.padEach
		s.padTail = ((-(l - s.nfft))%s.hop + s.hop) % s.hop % s.nfft
	}
	s.stftFrames = (n+2*s.padEach+s.padTail-s.nfft)/s.hop + 1
	s.frames = p.Frames
	if s.frames == 0 {
		s.frames = s.stftFrames
	}
	// Every factor is bounded above (bins, n_fft ≤ 2^16, frames ≤ 2^22, window ≤ 2^22), so
	// these products fit an int; they are checked before the filterbank is built.
	spectrum := s.nfft
	if st.Bins == "onesided" {
		spectrum = s.nfft/2 + 1
	}
	// A mel bank may have more bands than rows (the narrow ones stay empty, as librosa's do);
	// identity rows and linear bands cannot.
	if fb.Kind != "mel" && fb.Bins > spectrum {
		return nil, fieldErr("filterbank.bins", "%d exceeds the %d spectrum rows n_fft %d gives", fb.Bins, spectrum, s.nfft)
	}
	if fb.Kind == defaultFBKind && fb.FirstBin > spectrum-fb.Bins {
		return nil, fieldErr("filterbank.bins", "first_bin %d + bins %d exceeds the %d spectrum rows", fb.FirstBin, fb.Bins, spectrum)
	}
	if t := max(s.stftFrames, s.frames); fb.Bins*t > maxMatrix {
		return nil, fieldErr("filterbank.bins", "%d rows × %d frames exceeds the %d-value limit", fb.Bins, t, maxMatrix)
	}
	s.rowBin, s.rowHz = spectrumRows(s.nfft, st.Bins, fs)
	fbank, err := newFilterbank(fb, s.rowHz)
	if err != nil {
		return nil, err
	}
	s.fb = fbank
	return s, nil
}

// spectrumRows returns, for each spectrum row in the order the contract names, the FFT bin it
// comes from and its frequency in Hz.
func spectrumRows(nfft int, order string, fs float64) (bins []int, hz []float64) {
	freq := func(k int) float64 { // numpy.fft.fftfreq
		if k < (nfft+1)/2 {
			return float64(k) * fs / float64(nfft)
		}
		return float64(k-nfft) * fs / float64(nfft)
	}
	rows := nfft
	if order == "onesided" {
		rows = nfft/2 + 1
	}
	bins = make([]int, rows)
	hz = make([]float64, rows)
	for r := range rows {
		k := r
		if order == "centered" { // numpy.fft.fftshift
			k = (r - nfft/2 + nfft) % nfft
		}
		bins[r] = k
		hz[r] = freq(k)
	}
	return bins, hz
}
