#!/usr/bin/python3
"""Makes tests/data/attention/: a small QDQ self-attention without weights, the transformer ops
crumb-convert lowers (LAYER_NORM, TRANSPOSE, BATCH_MATMUL, SOFTMAX), small enough to seed the
fuzzers (tests/fuzz/corpus).

  attention  x [1, 4, 8] -> Q/DQ -> LayerNormalization -> Q/DQ -> h; scores = h @ Transpose(h)
             -> Q/DQ -> Softmax -> Q/DQ -> p; p @ h -> Q/DQ -> y [1, 4, 8]   (opset 17)

Each directory gets model.onnx, a sample input, ONNX Runtime's output for it and a manifest.json
for tests/e2e's e2e_models_test (make_elementwise_models.py's pattern). Run from the repository
root with Debian's python3 and onnxruntime-node under ORT_DIR:
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_attention_models.py
"""
import os
import sys

import numpy as np
from onnx import helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_elementwise_models import Builder, write_models  # noqa: E402

OUT = os.path.join("tests", "data", "attention")


def attention():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    ln = b.node("LayerNormalization", [x, b.const("/ln/scale", [1, 1.5, 0.5, 1, 2, 1, 0.75, 1]),
                                       b.const("/ln/bias", [0, 0.1, -0.1, 0, 0.2, 0, 0, -0.2])],
                ["/ln/out"], "/ln", epsilon=1e-5)
    h = b.fq("/h", ln, 0.03, 128)
    t = b.node("Transpose", [h], ["/t/out"], "/t", perm=[0, 2, 1])
    s = b.node("MatMul", [h, t], ["/scores/out"], "/scores")
    s = b.fq("/s", s, 0.1, 100)
    p = b.node("Softmax", [s], ["/softmax/out"], "/softmax", axis=-1)
    p = b.fq("/p", p, 1 / 255.0, 0)
    y = b.node("MatMul", [p, h], ["/pv/out"], "/pv")
    y = b.fq("/out", y, 0.02, 128)
    m = b.model([1, 4, 8], y, [1, 4, 8])
    return m, [1, 4, 8], [1, 4, 8]


def main():
    write_models(OUT, "attention_", (("attention", attention),), np.random.default_rng(4))


if __name__ == "__main__":
    main()
