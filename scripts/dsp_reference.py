#!/usr/bin/python3
"""Reference features for edged's dsp parity tests (dsp/parity_test.go).

Computes, with NumPy and SciPy only, the features of Heimdall's two preprocessing pipelines
exactly as the Heimdall code does them (https://github.com/fulgidus/heimdall/tree/c2be497, the files named below):

  serving  (services/inference/src/utils/preprocessing.py, IQPreprocessor): symmetric
           np.hanning(512), hop 128, no padding, |FFT|²/512 of bins 0..256 stored float32,
           the hand-built "mel" filterbank (which is the identity on bins 0..127), ln(x+1e-10),
           global z-score (left unchanged when std == 0);
  training (services/training/src/data/features.py + dataset.py): |iq| (magnitude),
           scipy.signal.stft(fs=192000, hann, nperseg 2048, noverlap 1536; boundary zeros,
           padded, scaling spectrum), |Z|², 128 triangular HTK-mel filters over 0..96 kHz
           (features.librosa_compatible_mel_scale: no norm, 4 empty filters), 10·log10(x+1e-9),
           z-score over the whole matrix with std >= 1e-8, then 32 frames: centre crop at
           (T-32)//2, or numpy reflect pad.

plus a few "generic" cases that exercise the other contract options against scipy.signal.stft.

Inputs: a real RTL-SDR recording read from ../shared/testdata/iq-real (never copied into the
repository), and a deterministic synthetic signal that dsp/synth_test.go regenerates
bit-for-bit. The real recording is fed to the training pipeline as-is, declared 192 kS/s (its
true rate is 250 kS/s; no resampling is involved in this comparison).

Writes dsp/testdata/parity/<case>.npy (float32, C order) and dsp/testdata/parity/cases.json.
Run with Debian's Python (it has python3-numpy and python3-scipy):

    /usr/bin/python3 scripts/dsp_reference.py
"""
import json
import os
import sys

import numpy as np
from scipy import signal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IQ_REAL = os.path.join(ROOT, "..", "shared", "testdata", "iq-real")
TESTDATA = os.path.join(ROOT, "dsp", "testdata")
OUT = os.path.join(TESTDATA, "parity")


# ---------------------------------------------------------------- inputs

def synthetic(n, fs, noise_only=False):
    """The deterministic signal of dsp/synth_test.go's synthetic(), sample for sample."""
    mask = (1 << 64) - 1
    state = 0x853C49E6748FEA9B
    out = np.empty(n, dtype=np.complex64)
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        nr = ((state >> 11) / float(1 << 53) - 0.5) * 0.1
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        ni = ((state >> 11) / float(1 << 53) - 0.5) * 0.1
        re, im = nr, ni
        if not noise_only:
            t = i / fs
            if n // 4 <= i < n // 2 and (i // 500) % 2 == 0:
                ph = 2 * np.pi * 0.1 * fs * t
                re += 0.5 * np.cos(ph)
                im += 0.5 * np.sin(ph)
            ph = 2 * np.pi * (-0.3 * fs * t + 0.3 * fs * fs / n * t * t)
            re += 0.2 * np.cos(ph)
            im += 0.2 * np.sin(ph)
        out[i] = np.complex64(complex(np.float32(re), np.float32(im)))
    return out


def read_cu8(rel, offset, n):
    """cu8 samples (b-127.5)/127.5 in float32, as the Go test's reader computes them."""
    b = np.fromfile(os.path.join(IQ_REAL, rel), dtype=np.uint8)[2 * offset: 2 * (offset + n)]
    if len(b) != 2 * n:
        sys.exit(f"{rel}: only {len(b) // 2} samples from offset {offset}, want {n}")
    f = (b.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)
    return (f[0::2] + np.complex64(1j) * f[1::2]).astype(np.complex64)


# ---------------------------------------------------------------- Heimdall serving

def serving_hz_to_mel(hz):
    return 2595 * np.log10(1 + hz / 700)


def serving_mel_to_hz(mel):
    return 700 * (10 ** (mel / 2595) - 1)


def serving_filterbank(n_fft=512, n_mels=128, f_min=0.0, f_max=0.5):
    """IQPreprocessor._build_mel_filterbank, verbatim in behaviour."""
    n_fft_bins = n_fft // 2 + 1
    mel_points = np.linspace(serving_hz_to_mel(f_min), serving_hz_to_mel(f_max), n_mels + 2)
    freq_points = np.array([serving_mel_to_hz(m) for m in mel_points])
    bin_points = np.array([int(np.floor(f * n_fft_bins)) for f in freq_points])
    fb = np.zeros((n_mels, n_fft_bins))
    for m in range(n_mels):
        left, center, right = bin_points[m], bin_points[m + 1], bin_points[m + 2]
        if center > left:
            fb[m, left:center] = np.arange(center - left) / (center - left)
        if right > center:
            fb[m, center:right] = np.arange(right - center, 0, -1) / (right - center)
    return fb


def heimdall_serving(iq, n_fft=512, hop=128):
    iq_array = np.stack([iq.real, iq.imag], axis=1).astype(np.float32)
    x = iq_array[:, 0] + 1j * iq_array[:, 1]
    window = np.hanning(n_fft)
    n_frames = (len(x) - n_fft) // hop + 1
    spec = np.zeros((n_fft // 2 + 1, n_frames), dtype=np.float32)
    for i in range(n_frames):
        frame = x[i * hop: i * hop + n_fft] * window
        mag = np.abs(np.fft.fft(frame)[: n_fft // 2 + 1])
        spec[:, i] = (mag ** 2) / n_fft
    fb = serving_filterbank(n_fft)
    assert np.array_equal(fb, np.eye(128, n_fft // 2 + 1)), "serving filterbank is not the identity"
    mel = np.dot(fb, spec)
    logm = np.log(mel + 1e-10)
    mean, std = logm.mean(), logm.std()
    if std == 0:
        return logm
    return (logm - mean) / std


# ---------------------------------------------------------------- Heimdall training

def training_filterbank(sr, n_fft, n_mels=128, f_min=0.0, f_max=None):
    """features.librosa_compatible_mel_scale, verbatim in behaviour."""
    if f_max is None:
        f_max = sr / 2
    freqs = np.fft.rfftfreq(n_fft, d=1 / sr)
    mel_points = np.linspace(serving_hz_to_mel(f_min), serving_hz_to_mel(f_max), n_mels + 2)
    hz = serving_mel_to_hz(mel_points)
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        fl, fc, fr = hz[m], hz[m + 1], hz[m + 2]
        lm = (freqs >= fl) & (freqs <= fc)
        fb[m, lm] = (1.0 / (fc - fl)) * (freqs[lm] - fl)
        rm = (freqs > fc) & (freqs <= fr)
        fb[m, rm] = (1.0 / (fr - fc)) * (fr - freqs[rm])
    return fb


def heimdall_training(iq, n_frames=32, sr=192000.0, n_fft=2048, hop=512):
    x = np.abs(np.asarray(iq, dtype=np.complex128))
    _, _, z = signal.stft(x, fs=sr, window="hann", nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
    power = np.abs(z) ** 2
    fb = training_filterbank(sr, n_fft)
    empty = np.where(fb.max(axis=1) == 0)[0]
    assert list(empty) == [0, 1, 4, 9], f"expected Heimdall's 4 empty HTK filters, got {empty}"
    mel_db = 10 * np.log10(fb @ power + 1e-9)
    mean = np.mean(mel_db, keepdims=True)
    std = np.maximum(np.std(mel_db, keepdims=True), 1e-8)
    mel = (mel_db - mean) / std
    t = mel.shape[1]
    if t > n_frames:
        start = (t - n_frames) // 2
        return mel[:, start:start + n_frames]
    if t < n_frames:
        left = (n_frames - t) // 2
        return np.pad(mel, ((0, 0), (left, n_frames - t - left)), mode="reflect")
    return mel


# ---------------------------------------------------------------- generic contract (SciPy)

def hz_to_mel(f, scale):
    if scale == "slaney":
        f = np.asarray(f, dtype=float)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)
    return 2595 * np.log10(1 + np.asarray(f, dtype=float) / 700)


def mel_to_hz(m, scale):
    if scale == "slaney":
        m = np.asarray(m, dtype=float)
        return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * (np.log(6.4) / 27.0)), m * (200.0 / 3))
    return 700 * (10 ** (np.asarray(m, dtype=float) / 2595) - 1)


def generic(iq, p):
    """The contract semantics of dsp/params.go, written against scipy.signal.stft."""
    st, fbp, lg, nm = p["stft"], p["filterbank"], p.get("log", {}), p.get("normalize", {})
    fs, n_fft, hop = p["sample_rate_hz"], st["n_fft"], st["hop"]
    x = np.asarray(iq, dtype=np.complex128)
    if p.get("remove_dc"):
        x = x - x.mean()
    magnitude = p.get("input", "complex") == "magnitude"
    if magnitude:
        x = np.abs(x)
    win = signal.get_window(st.get("window", "hann").replace("rect", "boxcar"), n_fft,
                            fftbins=not st.get("symmetric", False))
    boundary = st.get("boundary", "none")
    _, _, z = signal.stft(x, fs=fs, window=win, nperseg=n_fft, noverlap=n_fft - hop,
                          boundary=None if boundary == "none" else boundary,
                          padded=boundary != "none", return_onesided=magnitude,
                          scaling="spectrum")
    z = z * win.sum()  # undo SciPy's 1/sum(w): z is now the raw FFT
    z = z * {"none": 1.0, "n": 1.0 / n_fft, "sqrt_n": 1.0 / np.sqrt(n_fft),
             "window_sum": 1.0 / win.sum()}[st.get("scale", "none")]
    spec = np.abs(z) ** 2 if st.get("spectrum", "power") == "power" else np.abs(z)
    bins = st.get("bins", "onesided" if magnitude else "centered")
    freqs = np.fft.fftfreq(n_fft, 1 / fs)
    if bins == "onesided":
        spec, freqs = spec[: n_fft // 2 + 1], np.arange(n_fft // 2 + 1) * fs / n_fft
    elif bins == "centered":
        spec, freqs = np.fft.fftshift(spec, axes=0), np.fft.fftshift(freqs)
    kind, nb = fbp.get("kind", "identity"), fbp["bins"]
    fmin, fmax = fbp.get("f_min_hz", 0.0), fbp.get("f_max_hz", 0.0) or fs / 2
    if kind == "identity":
        fb = np.zeros((nb, len(freqs)))
        fb[np.arange(nb), fbp.get("first_bin", 0) + np.arange(nb)] = 1
    elif kind == "linear":
        width = (fmax - fmin) / nb
        fb = np.zeros((nb, len(freqs)))
        for i, f in enumerate(freqs):
            if fmin <= f <= fmax:
                fb[min(int((f - fmin) / width), nb - 1), i] = 1
        fb /= fb.sum(axis=1, keepdims=True)
    else:
        scale = fbp.get("scale", "htk")
        pts = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), nb + 2), scale)
        lower = (freqs[None, :] - pts[:-2, None]) / (pts[1:-1] - pts[:-2])[:, None]
        upper = (pts[2:, None] - freqs[None, :]) / (pts[2:] - pts[1:-1])[:, None]
        fb = np.maximum(0, np.minimum(lower, upper))
        if fbp.get("norm", "none") == "slaney":
            fb *= (2.0 / (pts[2:] - pts[:-2]))[:, None]
    feat = fb @ spec
    eps = lg.get("epsilon", 0) or 1e-10
    if lg.get("kind", "none") == "ln":
        feat = np.log(feat + eps)
    elif lg.get("kind", "none") == "db":
        feat = 10 * np.log10(feat + eps)
    k = nm.get("kind", "none")
    if k == "fixed":
        feat = (feat - nm["mean"]) / nm["std"]
    elif k in ("global", "per_channel"):
        std = max(feat.std(), nm.get("min_std", 0))
        if std != 0:
            feat = (feat - feat.mean()) / std
    frames = p.get("frames", 0) or feat.shape[1]
    t = feat.shape[1]
    center = p.get("frame_fit", "center") == "center"
    if t > frames:
        start = (t - frames) // 2 if center else 0
        feat = feat[:, start:start + frames]
    elif t < frames:
        if center:
            left = (frames - t) // 2
            feat = np.pad(feat, ((0, 0), (left, frames - t - left)), mode="reflect")
        else:
            feat = np.pad(feat, ((0, 0), (0, frames - t)))
    return feat


GENERIC_A = {  # complex, centered, odd boundary, blackman symmetric, magnitude spectrum, linear
    "sample_rate_hz": 250000, "window_samples": 6000, "remove_dc": True,
    "stft": {"n_fft": 256, "hop": 100, "window": "blackman", "symmetric": True, "boundary": "odd",
             "scale": "n", "spectrum": "magnitude", "bins": "centered"},
    "filterbank": {"kind": "linear", "bins": 24, "f_min_hz": -100000, "f_max_hz": 100000},
    "log": {"kind": "db", "epsilon": 1e-6},
    "normalize": {"kind": "fixed", "mean": -20, "std": 10},
    "frames": 40, "frame_fit": "start",
}
GENERIC_B = {  # complex, natural order, even boundary, hamming periodic, n_fft 200, slaney mel
    "sample_rate_hz": 250000, "window_samples": 5000,
    "stft": {"n_fft": 200, "hop": 50, "window": "hamming", "boundary": "even", "scale": "window_sum",
             "bins": "natural"},
    "filterbank": {"kind": "mel", "bins": 40, "f_min_hz": 500, "f_max_hz": 120000,
                   "scale": "slaney", "norm": "slaney"},
    "log": {"kind": "ln"},
    "normalize": {"kind": "global", "min_std": 0.5},
    "frames": 120, "frame_fit": "center",
}
GENERIC_C = {  # magnitude, constant boundary, rect window, identity with first_bin
    "sample_rate_hz": 250000, "window_samples": 3000, "input": "magnitude",
    "stft": {"n_fft": 128, "hop": 128, "window": "rect", "boundary": "constant", "scale": "sqrt_n",
             "precision": "float64"},
    "filterbank": {"kind": "identity", "bins": 50, "first_bin": 3},
    "log": {"kind": "db"},
    "normalize": {"kind": "per_channel", "min_std": 1e-8},
}


def main():
    os.makedirs(OUT, exist_ok=True)
    serving = json.load(open(os.path.join(TESTDATA, "heimdall_serving.json")))
    training = json.load(open(os.path.join(TESTDATA, "heimdall_training.json")))
    g001 = "rtl_433/g001_433.92M_250k.cu8"
    ns, nt = serving["window_samples"], training["window_samples"]
    short = dict(training, window_samples=8192)  # 17 STFT frames: exercises the reflect pad
    cases = [
        ("serving_real", "heimdall_serving.json", None, {"cu8": g001, "offset": 240000, "n": ns},
         lambda x: heimdall_serving(x)),
        ("serving_synth", "heimdall_serving.json", None, {"synthetic": "full", "n": ns, "fs": serving["sample_rate_hz"]},
         lambda x: heimdall_serving(x)),
        ("training_real", "heimdall_training.json", None, {"cu8": g001, "offset": 0, "n": nt},
         lambda x: heimdall_training(x)),
        ("training_synth", "heimdall_training.json", None, {"synthetic": "full", "n": nt, "fs": training["sample_rate_hz"]},
         lambda x: heimdall_training(x)),
        ("training_short_synth", None, short, {"synthetic": "full", "n": 8192, "fs": training["sample_rate_hz"]},
         lambda x: heimdall_training(x)),
        ("generic_a_real", None, GENERIC_A, {"cu8": g001, "offset": 100000, "n": GENERIC_A["window_samples"]},
         lambda x: generic(x, GENERIC_A)),
        ("generic_b_synth", None, GENERIC_B, {"synthetic": "full", "n": GENERIC_B["window_samples"], "fs": 250000},
         lambda x: generic(x, GENERIC_B)),
        ("generic_c_real", None, GENERIC_C, {"cu8": g001, "offset": 75000, "n": GENERIC_C["window_samples"]},
         lambda x: generic(x, GENERIC_C)),
    ]
    manifest = []
    for name, params_file, params, inp, fn in cases:
        if "cu8" in inp:
            x = read_cu8(inp["cu8"], inp["offset"], inp["n"])
        else:
            x = synthetic(inp["n"], inp["fs"])
        want = np.ascontiguousarray(fn(x), dtype=np.float32)
        np.save(os.path.join(OUT, name + ".npy"), want)
        entry = {"name": name, "input": inp, "expected": name + ".npy"}
        if params_file:
            entry["params_file"] = params_file
        else:
            entry["params"] = params
        manifest.append(entry)
        print(f"{name}: {want.shape} mean {want.mean():+.4f} std {want.std():.4f}")
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
