#!/usr/bin/env python3
"""Single 3x3 convolution models for the spatial-mask benchmark (issue 6, semi-structured
activation sparsity): input -> QuantizeLinear/DequantizeLinear -> [Mul by a fixed 0/1 spatial
mask] -> Conv (fake-quantized weights) -> QuantizeLinear/DequantizeLinear, with random weights.

usage: masked_conv_models.py OUT_DIR [--shape C,H] [--wbits 4] [--abits 4] [--fraction 0.3]
Writes OUT_DIR/{dense,random,blocks}.onnx: no mask; a mask of random pixels; a mask of random
2x2 pixel blocks (the same fraction)."""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def qdq(nodes, inits, x, name, scale, zp, lo, hi):
    inits += [numpy_helper.from_array(np.array(scale, np.float32), name + "_s"),
              numpy_helper.from_array(np.array(zp, np.uint8), name + "_z")]
    nodes.append(helper.make_node("QuantizeLinear", [x, name + "_s", name + "_z"], [name + "_q"]))
    inits += [numpy_helper.from_array(np.array(lo, np.uint8), name + "_lo"),
              numpy_helper.from_array(np.array(hi, np.uint8), name + "_hi")]
    nodes.append(helper.make_node("Clip", [name + "_q", name + "_lo", name + "_hi"],
                                  [name + "_c"]))
    nodes.append(helper.make_node("DequantizeLinear", [name + "_c", name + "_s", name + "_z"],
                                  [name + "_dq"]))
    return name + "_dq"


def model(c, h, wbits, abits, mask):
    rng = np.random.default_rng(1)
    nodes, inits = [], []
    x = qdq(nodes, inits, "input", "xq", 1.0 / 16, 0, 0, (1 << abits) - 1)
    if mask is not None:
        inits.append(numpy_helper.from_array(mask.reshape(1, 1, h, h).astype(np.float32), "mask"))
        nodes.append(helper.make_node("Mul", [x, "mask"], ["masked"]))
        x = "masked"
    qmax = (1 << (wbits - 1)) - 1
    codes = rng.integers(-qmax, qmax + 1, size=(c, c, 3, 3)).astype(np.int8)
    inits += [numpy_helper.from_array(codes, "w_codes"),
              numpy_helper.from_array(np.full(c, 0.02, np.float32), "w_s"),
              numpy_helper.from_array(np.zeros(c, np.int8), "w_z")]
    nodes.append(helper.make_node("DequantizeLinear", ["w_codes", "w_s", "w_z"], ["w"], axis=0))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, c).astype(np.float32), "b"))
    nodes.append(helper.make_node("Conv", [x, "w", "b"], ["conv"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["conv"], ["relu"]))
    y = qdq(nodes, inits, "relu", "yq", 0.05, 0, 0, (1 << abits) - 1)
    nodes.append(helper.make_node("Identity", [y], ["output"]))
    g = helper.make_graph(nodes, "masked_conv",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, h])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, c, h, h])],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shape", default="64,56")
    ap.add_argument("--wbits", type=int, default=4)
    ap.add_argument("--abits", type=int, default=4)
    ap.add_argument("--fraction", type=float, default=0.3)
    a = ap.parse_args()
    c, h = map(int, a.shape.split(","))
    rng = np.random.default_rng(7)
    os.makedirs(a.out, exist_ok=True)
    random = np.ones(h * h)
    random[rng.permutation(h * h)[:round(a.fraction * h * h)]] = 0
    hb = (h + 1) // 2
    blocks = np.ones(hb * hb)
    blocks[rng.permutation(hb * hb)[:round(a.fraction * hb * hb)]] = 0
    blocks = np.kron(blocks.reshape(hb, hb), np.ones((2, 2)))[:h, :h]
    for name, mask in (("dense", None), ("random", random), ("blocks", blocks)):
        onnx.save(model(c, h, a.wbits, a.abits, mask), os.path.join(a.out, name + ".onnx"))
        if mask is not None:
            print(f"{name}: {100 * (1 - mask.mean()):.1f} % of the pixels masked")


if __name__ == "__main__":
    main()
