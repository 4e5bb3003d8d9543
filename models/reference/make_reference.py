#!/usr/bin/python3
"""Writes edged's reference model: a beacon identifier small enough to read in one sitting.

Input `spectrogram` [B,1,64,63]: 64 linear bands of 3.9 kHz over −125…+125 kHz (fftshifted
STFT power in dB) by 63 frames of one 16384-sample window at 250 kS/s. The model takes each
band's loudest frame, averages 8 neighbouring bands into the 8 beacon bands of beacons.json,
names the loudest beacon (ArgMax) and returns its catalogued site. Its SNR proxy (loudest
beacon band minus the mean of all eight, dB) sets the uncertainty: σ = clip(σ0·10^(−snr/20)).

Run with Debian's python3-onnx and python3-numpy:  /usr/bin/python3 make_reference.py -o beacon.onnx
"""
import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS, FRAMES, BANDS = 64, 63, 8
SIGMA0_M, SIGMA_MIN_M, SIGMA_MAX_M = 50000.0, 25.0, 50000.0
NORTH_RATIO, RHO = 0.6, 0.3
SOFTMAX_TEMP_DB = 2.0

CONTRACT = {
    "version": 1,
    "preprocess": {
        "sample_rate_hz": 250000,
        "window_samples": 16384,
        "remove_dc": True,
        "input": "complex",
        "stft": {"n_fft": 512, "hop": 256, "window": "hann", "boundary": "none",
                 "scale": "n", "spectrum": "power", "bins": "centered"},
        "filterbank": {"kind": "linear", "bins": ROWS, "f_min_hz": -125000, "f_max_hz": 125000},
        "log": {"kind": "db", "epsilon": 1e-12},
        "normalize": {"kind": "none"},
        "frames": FRAMES,
        "frame_fit": "start",
    },
    "input": {"name": "spectrogram", "layout": "NCFT"},
    "outputs": {
        "position": {"name": "position", "order": "lat_lon", "units": "deg"},
        "uncertainty": {"name": "uncertainty", "kind": "sigma_xy_rho", "units": "m"},
        "confidence": {"name": "confidence"},
    },
}


def build(beacons):
    sites = np.array([[b["lat_deg"], b["lon_deg"]] for b in beacons], dtype=np.float32)
    assert sites.shape == (BANDS, 2)
    band = np.zeros((ROWS, BANDS), dtype=np.float32)
    for r in range(ROWS):
        band[r, r * BANDS // ROWS] = 1.0 / (ROWS // BANDS)

    def c(name, value):
        return numpy_helper.from_array(np.asarray(value), name)

    inits = [
        c("band_matrix", band),
        c("sites", sites),
        c("neg_ln10_over_20", np.array(-np.log(10.0) / 20.0, dtype=np.float32)),
        c("sigma0", np.array(SIGMA0_M, dtype=np.float32)),
        c("sigma_min", np.array(SIGMA_MIN_M, dtype=np.float32)),
        c("sigma_max", np.array(SIGMA_MAX_M, dtype=np.float32)),
        c("axis_scale", np.array([[1.0, NORTH_RATIO, 0.0]], dtype=np.float32)),
        c("rho_row", np.array([[0.0, 0.0, RHO]], dtype=np.float32)),
        c("inv_temp", np.array(1.0 / SOFTMAX_TEMP_DB, dtype=np.float32)),
    ]
    n = helper.make_node
    nodes = [
        # Loudest frame per band: a burst shorter than the window still stands out.
        n("ReduceMax", ["spectrogram"], ["peak_db"], axes=[1, 3], keepdims=0),      # [B,64]
        n("MatMul", ["peak_db", "band_matrix"], ["beacon_db"]),                      # [B,8]
        n("ArgMax", ["beacon_db"], ["which"], axis=1, keepdims=0),                   # [B]
        n("Gather", ["sites", "which"], ["position"], axis=0),                       # [B,2]
        n("ReduceMax", ["beacon_db"], ["best_db"], axes=[1], keepdims=1),            # [B,1]
        n("ReduceMean", ["beacon_db"], ["mean_db"], axes=[1], keepdims=1),           # [B,1]
        n("Sub", ["best_db", "mean_db"], ["snr_db"]),
        n("Mul", ["snr_db", "neg_ln10_over_20"], ["ln_gain"]),
        n("Exp", ["ln_gain"], ["gain"]),
        n("Mul", ["gain", "sigma0"], ["sigma_raw"]),
        n("Max", ["sigma_raw", "sigma_min"], ["sigma_lo"]),
        n("Min", ["sigma_lo", "sigma_max"], ["sigma"]),                              # [B,1]
        n("Mul", ["sigma", "axis_scale"], ["sig_xy"]),                               # [B,3]
        n("Add", ["sig_xy", "rho_row"], ["uncertainty"]),                            # σe σn ρ
        n("Mul", ["beacon_db", "inv_temp"], ["logits"]),
        n("Softmax", ["logits"], ["probs"], axis=1),
        n("ReduceMax", ["probs"], ["confidence"], axes=[1], keepdims=1),             # [B,1]
    ]
    graph = helper.make_graph(
        nodes, "edged_reference_beacon",
        [helper.make_tensor_value_info("spectrogram", TensorProto.FLOAT, ["batch", 1, ROWS, FRAMES])],
        [helper.make_tensor_value_info("position", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("uncertainty", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("confidence", TensorProto.FLOAT, ["batch", 1])],
        inits)
    model = helper.make_model(graph, producer_name="edged make_reference.py", producer_version="1",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.doc_string = "edged reference beacon model (see models/reference/make_reference.py)"
    helper.set_model_props(model, {
        "edged.contract": json.dumps(CONTRACT, sort_keys=True),
        "edged.model_name": "edged-reference-beacon",
        "edged.model_version": "1",
    })
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "beacon.onnx"))
    args = ap.parse_args()
    with open(os.path.join(HERE, "beacons.json")) as f:
        beacons = json.load(f)["beacons"]
    onnx.save(build(beacons), args.output)
    print(args.output)


if __name__ == "__main__":
    main()
