package dsp

// Params is the preprocessing half of a model contract: everything needed to turn IQ at the
// capture rate into the exact tensor values the model was trained on. It is decoded from the
// "preprocess" object of the `edged.contract` JSON (see infer.Contract) or from config, with
// snake_case keys as below. Zero values mean the documented default.
type Params struct {
	// SampleRateHz is the rate the model was trained at. Capture at another rate is shifted by
	// ShiftHz and resampled to it before anything else.
	SampleRateHz float64 `json:"sample_rate_hz" yaml:"sample_rate_hz"`
	// ShiftHz moves the channel of interest to baseband before resampling (capture centre +
	// ShiftHz becomes 0 Hz). Default 0.
	ShiftHz float64 `json:"shift_hz,omitempty" yaml:"shift_hz,omitempty"`
	// WindowSamples is the length of one inference window, in samples at SampleRateHz.
	// Windows do not overlap: window k starts at sample k*WindowSamples.
	WindowSamples int `json:"window_samples" yaml:"window_samples"`
	// RemoveDC subtracts each window's complex mean before the STFT; RTL-SDR cu8 captures carry
	// a DC spike that would otherwise look like a carrier at 0 Hz.
	RemoveDC bool `json:"remove_dc,omitempty" yaml:"remove_dc,omitempty"`
	// Input is "complex" (the STFT sees I+jQ) or "magnitude" (it sees |I+jQ|, a real signal,
	// as Heimdall's training pipeline does). Default "complex".
	Input string `json:"input,omitempty" yaml:"input,omitempty"`

	STFT       STFT       `json:"stft" yaml:"stft"`
	Filterbank Filterbank `json:"filterbank" yaml:"filterbank"`
	Log        Log        `json:"log" yaml:"log"`
	Normalize  Normalize  `json:"normalize" yaml:"normalize"`

	// Frames is the number of STFT frames the model takes. 0 means "as many as the window
	// gives", which must then be what the model's input shape says.
	Frames int `json:"frames,omitempty" yaml:"frames,omitempty"`
	// FrameFit says how the STFT's frames are cut or padded to Frames: "center" (crop
	// starting at (T-Frames)/2, or numpy reflect-pad (Frames-T)/2 frames before and the rest
	// after, Heimdall training) or "start" (keep the first Frames, or zero-pad at the end).
	// Default "center".
	FrameFit string `json:"frame_fit,omitempty" yaml:"frame_fit,omitempty"`
}

// STFT describes the short-time Fourier transform.
type STFT struct {
	NFFT int `json:"n_fft" yaml:"n_fft"`
	Hop  int `json:"hop" yaml:"hop"`
	// Window is "hann", "hamming", "blackman" or "rect". Default "hann".
	Window string `json:"window,omitempty" yaml:"window,omitempty"`
	// Symmetric selects the symmetric window (numpy.hanning, w[0]=w[N-1]=0) instead of the
	// periodic one (scipy.signal.get_window, the DFT-even form). Default periodic.
	Symmetric bool `json:"symmetric,omitempty" yaml:"symmetric,omitempty"`
	// Boundary pads the signal by NFFT/2 on each side before framing, like SciPy's
	// stft(boundary=...): "none" (default, Heimdall serving), "zeros" (SciPy's default,
	// Heimdall training), "even", "odd", "constant". SciPy's padded=True (zero-pad the tail to
	// a whole number of hops) is implied whenever Boundary is not "none".
	Boundary string `json:"boundary,omitempty" yaml:"boundary,omitempty"`
	// Scale divides each FFT before squaring: "none" (default), "n" (by NFFT, so power is
	// |X|²/NFFT²), "sqrt_n" (by √NFFT, so power is |X|²/NFFT, what Heimdall serving computes),
	// "window_sum" (by sum(w), SciPy's scaling="spectrum", Heimdall training).
	Scale string `json:"scale,omitempty" yaml:"scale,omitempty"`
	// Spectrum is "power" (|X|², default) or "magnitude" (|X|).
	Spectrum string `json:"spectrum,omitempty" yaml:"spectrum,omitempty"`
	// Precision is the FFT's arithmetic: "float32" (default; FFTW single precision, the fast
	// path) or "float64" (FFTW double, about half as fast). Single precision leaves an error
	// of about 1e-7 of a frame's total power in every bin, which a log without a meaningful
	// epsilon turns into visible differences in bins 60 dB or more below a strong signal;
	// "float64" matches NumPy there too. Heimdall serving (ln(x+1e-10) of single FFT bins)
	// needs it to agree within 1e-4 on windows holding a strong burst.
	Precision string `json:"precision,omitempty" yaml:"precision,omitempty"`
	// Bins selects which FFT bins form the frequency axis before the filterbank:
	// "centered" (all NFFT bins, fftshifted so row 0 is −fs/2; the default for complex input),
	// "natural" (all NFFT bins in FFT order, 0 Hz first), "onesided" (bins 0..NFFT/2; the
	// default and only choice for magnitude input).
	Bins string `json:"bins,omitempty" yaml:"bins,omitempty"`
}

// Filterbank maps FFT bins to the model's frequency rows.
type Filterbank struct {
	// Kind is "identity" (rows are FFT bins FirstBin..FirstBin+Bins-1), "linear" (Bins
	// rectangular bands of equal width between FMinHz and FMaxHz, each the mean of the bins
	// whose centre falls inside it) or "mel" (triangular filters). Default "identity".
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Bins is the number of output rows (mel filters narrower than an FFT bin stay all-zero
	// rows, as 4 of Heimdall training's 128 do).
	Bins int `json:"bins" yaml:"bins"`
	// FirstBin is the first FFT row kept by "identity" (after Bins ordering). Default 0.
	FirstBin int `json:"first_bin,omitempty" yaml:"first_bin,omitempty"`
	// FMinHz and FMaxHz bound "linear" and "mel". For "linear" over centered or natural
	// spectra FMinHz may be negative (down to −fs/2); mel needs FMinHz >= 0. FMaxHz 0 means
	// fs/2; above fs/2 is refused.
	FMinHz float64 `json:"f_min_hz,omitempty" yaml:"f_min_hz,omitempty"`
	FMaxHz float64 `json:"f_max_hz,omitempty" yaml:"f_max_hz,omitempty"`
	// Scale is the mel scale, "htk" (2595·log10(1+f/700), torchaudio's default) or "slaney"
	// (linear below 1 kHz, librosa's default). Default "htk".
	Scale string `json:"scale,omitempty" yaml:"scale,omitempty"`
	// Norm is "none" (default) or "slaney" (each filter divided by its width in Hz/2, librosa's
	// norm="slaney").
	Norm string `json:"norm,omitempty" yaml:"norm,omitempty"`
}

// Log is the compression applied after the filterbank.
type Log struct {
	// Kind is "none" (default), "ln" (natural log of x+Epsilon) or "db" (10·log10(x+Epsilon)).
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Epsilon is added before the log so that empty bins stay finite. 0 means 1e-10
	// (Heimdall serving); Heimdall training uses 1e-9.
	Epsilon float64 `json:"epsilon,omitempty" yaml:"epsilon,omitempty"`
}

// Normalize is the standardisation of the features. Its statistics are taken over every STFT
// frame of the window, before the frames are cut or padded to Frames (Heimdall training
// normalises the whole spectrogram, then crops).
type Normalize struct {
	// Kind is "none" (default), "global" (z-score over the whole channel×freq×time matrix,
	// population std), "per_channel" (z-score per channel; with one channel per source the two
	// are the same) or "fixed" (subtract Mean, divide by Std).
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// MinStd floors the std of "global" and "per_channel" so that silence does not divide by ~0.
	// Heimdall serving's rule (leave values unchanged when std == 0) is MinStd 0.
	MinStd float64 `json:"min_std,omitempty" yaml:"min_std,omitempty"`
	Mean   float64 `json:"mean,omitempty" yaml:"mean,omitempty"`
	Std    float64 `json:"std,omitempty" yaml:"std,omitempty"`
}
