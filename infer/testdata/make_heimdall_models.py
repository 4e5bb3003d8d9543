#!/usr/bin/python3
"""Writes small ONNX models shaped like Heimdall's, without edged.contract metadata, for tests.

- heimdall_training_1ch.onnx: input `mel_spectrogram` [B,1,128,32] → `positions` [B,2]
  (lat, lon in degrees) and `uncertainties` [B,2] (σ in degrees, softplus clamped to
  [0.01, 1.0]), opset 14, like training/src/onnx_export.py but with one receiver channel.
- heimdall_training_3ch.onnx: the same with [B,3,128,32], the real export, which edged must
  refuse (it feeds one source per model).
- heimdall_serving.onnx: input `input_mel_spectrogram` [B,128,T] → `position` [B,2],
  `uncertainty` [B,3] (σx, σy in metres, θ in degrees), `confidence` [B,1]: the contract
  services/inference's loader expects.

The maths is deliberately trivial: the point is the shapes, names and units. Positions are
a fixed site plus 0.001° per unit of the input's mean, so a test can check the feature
plumbing; σ grows with the input's spread.

Run: /usr/bin/python3 make_heimdall_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = np.array([[45.0703, 7.6869]], dtype=np.float32)  # Turin


def c(name, v):
    return numpy_helper.from_array(np.asarray(v, dtype=np.float32), name)


def training(channels):
    n = helper.make_node
    nodes = [
        n("ReduceMean", ["mel_spectrogram"], ["mean"], axes=[1, 2, 3], keepdims=0),  # [B]
        n("Unsqueeze", ["mean", "axis1"], ["mean2"]),                                  # [B,1]
        n("Mul", ["mean2", "step"], ["delta"]),                                        # [B,2]
        n("Add", ["delta", "site"], ["positions"]),
        n("ReduceMax", ["mel_spectrogram"], ["peak"], axes=[1, 2, 3], keepdims=1),
        n("Reshape", ["peak", "shape_b1"], ["peak2"]),                                 # [B,1]
        n("Mul", ["peak2", "ones2"], ["raw"]),                                         # [B,2]
        n("Softplus", ["raw"], ["soft"]),
        n("Clip", ["soft", "lo", "hi"], ["uncertainties"]),
    ]
    inits = [c("step", [[0.001, 0.001]]), c("site", SITE), c("ones2", [[0.01, 0.02]]),
             c("lo", 0.01), c("hi", 1.0),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
             numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "shape_b1")]
    g = helper.make_graph(nodes, "LocalizationNet",
        [helper.make_tensor_value_info("mel_spectrogram", TensorProto.FLOAT, ["batch_size", channels, 128, 32])],
        [helper.make_tensor_value_info("positions", TensorProto.FLOAT, ["batch_size", 2]),
         helper.make_tensor_value_info("uncertainties", TensorProto.FLOAT, ["batch_size", 2])], inits)
    m = helper.make_model(g, producer_name="pytorch", producer_version="2.1.0",
                          opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def serving():
    n = helper.make_node
    nodes = [
        n("ReduceMean", ["input_mel_spectrogram"], ["mean0"], axes=[1, 2], keepdims=0),  # [B]
        n("Unsqueeze", ["mean0", "axis1"], ["mean"]),                                   # [B,1]
        n("Mul", ["mean", "step"], ["delta"]),
        n("Add", ["delta", "site"], ["position"]),
        n("Mul", ["mean", "zero3"], ["z3"]),
        n("Add", ["z3", "unc"], ["uncertainty"]),
        n("Mul", ["mean", "zero1"], ["z1"]),
        n("Add", ["z1", "conf"], ["confidence"]),
    ]
    inits = [c("step", [[0.001, 0.001]]), c("site", SITE), c("zero3", [[0, 0, 0]]),
             c("unc", [[100.0, 50.0, 30.0]]), c("zero1", [[0]]), c("conf", [[0.9]]),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
    g = helper.make_graph(nodes, "heimdall_serving",
        [helper.make_tensor_value_info("input_mel_spectrogram", TensorProto.FLOAT, ["batch", 128, "frames"])],
        [helper.make_tensor_value_info("position", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("uncertainty", TensorProto.FLOAT, ["batch", 3]),
         helper.make_tensor_value_info("confidence", TensorProto.FLOAT, ["batch", 1])], inits)
    m = helper.make_model(g, producer_name="heimdall-test", opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


if __name__ == "__main__":
    onnx.save(training(1), os.path.join(HERE, "heimdall_training_1ch.onnx"))
    onnx.save(training(3), os.path.join(HERE, "heimdall_training_3ch.onnx"))
    onnx.save(serving(), os.path.join(HERE, "heimdall_serving.onnx"))
    print("wrote 3 models to", HERE)
