#!/usr/bin/python3
"""Makes tests/data/float_layer/: QDQ models that keep some Conv / Gemm / MatMul layers in float
(plain float weights, as a QAT toolkit leaves a first conv or last classifier unquantized), which
crumb-convert lowers to float layers (CONV_2D / FULLY_CONNECTED version 2, run by XNNPACK's fp32
operators) with DEQUANTIZE / QUANTIZE at their borders (converter/passes/lower.cc).

  mixed        x -> Q/DQ -> Conv 3x3 (int4 codes) -> Q/DQ (4-bit) -> float Conv 3x3 + bias + Relu
               -> Q/DQ (4-bit) -> Conv 3x3 (int4 codes) -> Q/DQ -> GlobalAveragePool -> Q/DQ
               -> Flatten -> float Gemm (transB=1, bias) -> y [1, 10] (float logits)
  float_first  x -> float Conv 3x3 stride 2 + Relu (reads the graph input) -> float Conv 1x1
               (two float layers in a row) -> Q/DQ -> Conv 3x3 (int4 codes) -> Q/DQ
               -> GlobalAveragePool -> Q/DQ -> Flatten -> float MatMul ([K, N] weight) + Add
               -> y [1, 10]
  float_stem   x -> float Conv 3x3 + bias + Relu (a stem left float) -> MaxPool 3x3 stride 2
               pad 1 -> Q/DQ -> Conv 3x3 (int4 codes) -> Q/DQ -> GlobalAveragePool -> Q/DQ
               -> Flatten -> Gemm (int4 codes) -> y [1, 10]; the converter quantizes the stem's
               output before the max pool (they commute), so the pool runs on codes
  softmax      x -> Q/DQ -> Conv 3x3 (int4 codes) -> Q/DQ -> GlobalAveragePool -> Q/DQ -> Flatten
               -> Gemm (int4 codes, float logits) -> Softmax -> y [1, 10]: a float softmax
               (SOFTMAX version 2) on a quantized layer's float output
  blocked      opset 21 blockwise weights (DequantizeLinear with block_size, int8 codes): x -> Q/DQ
               -> Conv 3x3 (blocks of 16 input channels, axis 1) + Relu -> Q/DQ
               -> GlobalAveragePool -> Q/DQ -> Flatten -> MatMul (blocks of 8 along K, axis 0,
               uint8 codes with zero points) -> y [1, 10]; crumb folds the blocked weights into
               float ones: two float layers

Weights are seeded random values (numpy default_rng); each directory gets model.onnx, a sample
input, ONNX Runtime's output for it (one thread, optimizations as a user would run it) and a
manifest.json in ../shared/models' format for tests/e2e's e2e_models_test. A float layer agrees
with ONNX Runtime to float rounding (another summation order), after which a quantizer may move
a code by one step: the e2e test's closeness (correlation, top-1) is the numeric contract's.

Run from the repository root with Debian's python3 (python3-onnx, python3-numpy) and
onnxruntime-node under ORT_DIR (default /opt/ort):
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_float_layer_models.py
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_elementwise_models import Builder, write_models  # noqa: E402

OUT = os.path.join("tests", "data", "float_layer")


class FloatBuilder(Builder):
    def fq4(self, name, x, scale, zp=0):
        """QuantizeLinear -> Clip [0, 15] -> DequantizeLinear: a 4-bit unsigned activation."""
        self.inits += [numpy_helper.from_array(np.array(scale, np.float32), name + "/scale"),
                       numpy_helper.from_array(np.array(zp, np.uint8), name + "/zp"),
                       numpy_helper.from_array(np.array(0, np.uint8), name + "/lo"),
                       numpy_helper.from_array(np.array(15, np.uint8), name + "/hi")]
        q = self.node("QuantizeLinear", [x, name + "/scale", name + "/zp"], [name + "/q"],
                      name + "/QuantizeLinear")
        c = self.node("Clip", [q, name + "/lo", name + "/hi"], [name + "/c"], name + "/Clip")
        return self.node("DequantizeLinear", [c, name + "/scale", name + "/zp"], [name + "/dq"],
                         name + "/DequantizeLinear")

    def fweight(self, name, shape, std):
        """A plain float initializer: the layer is kept float."""
        self.inits.append(numpy_helper.from_array(
            self.rng.normal(0, std, size=shape).astype(np.float32), name + "/weight"))
        return name + "/weight"

    def fbias(self, name, n, std=0.1):
        self.inits.append(numpy_helper.from_array(
            self.rng.normal(0, std, size=[n]).astype(np.float32), name + "/bias"))
        return name + "/bias"


def mixed():
    b = FloatBuilder(3)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv1", [8, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    x = b.fq4("/a1", b.node("Relu", [x], ["/relu1/out"], "/relu1"), 0.1)
    x = b.node("Conv", [x, b.fweight("/conv2", [16, 8, 3, 3], 0.15), b.fbias("/conv2", 16)],
               ["/conv2/out"], "/conv2", pads=[1, 1, 1, 1])
    x = b.fq4("/a2", b.node("Relu", [x], ["/relu2/out"], "/relu2"), 0.12)
    x = b.node("Conv", [x, b.weight("/conv3", [16, 16, 3, 3], 0.02)], ["/conv3/out"], "/conv3",
               pads=[1, 1, 1, 1])
    x = b.fq("/a3", x, 0.05, 128)
    x = b.fq("/a4", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 128)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.fweight("/fc", [10, 16], 0.5), b.fbias("/fc", 10)], ["/fc/out"],
               "/fc", transB=1)
    return b.model([1, 3, 16, 16], x, [1, 10]), [1, 3, 16, 16], [1, 10]


def float_first():
    b = FloatBuilder(4)
    x = b.node("Conv", ["input", b.fweight("/conv1", [8, 3, 3, 3], 0.2), b.fbias("/conv1", 8)],
               ["/conv1/out"], "/conv1", pads=[1, 1, 1, 1], strides=[2, 2])
    x = b.node("Relu", [x], ["/relu1/out"], "/relu1")
    x = b.node("Conv", [x, b.fweight("/conv2", [16, 8, 1, 1], 0.3)], ["/conv2/out"], "/conv2")
    x = b.fq("/a2", x, 0.1, 128)
    x = b.node("Conv", [x, b.weight("/conv3", [16, 16, 3, 3], 0.02)], ["/conv3/out"], "/conv3",
               pads=[1, 1, 1, 1])
    x = b.fq("/a3", x, 0.05, 128)
    x = b.fq("/a4", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 128)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("MatMul", [x, b.fweight("/fc", [16, 10], 0.5)], ["/fc/mm"], "/fc/MatMul")
    x = b.node("Add", [x, b.fbias("/fc", 10)], ["/fc/out"], "/fc/Add")
    return b.model([1, 3, 16, 16], x, [1, 10]), [1, 3, 16, 16], [1, 10]


def blocked_weight(b, name, shape, axis, block, signed):
    """DequantizeLinear (opset 21) of int8 / uint8 codes with a scale (and zero point) per block of
    `block` elements along `axis`."""
    sd = list(shape)
    sd[axis] = (shape[axis] + block - 1) // block
    if signed:
        codes = b.rng.integers(-127, 128, size=shape).astype(np.int8)
        zp = np.zeros(sd, np.int8)
    else:
        codes = b.rng.integers(0, 256, size=shape).astype(np.uint8)
        zp = b.rng.integers(100, 156, size=sd).astype(np.uint8)
    scale = b.rng.uniform(0.002, 0.01, size=sd).astype(np.float32)
    b.inits += [numpy_helper.from_array(codes, name + "/w"),
                numpy_helper.from_array(scale, name + "/wscale"),
                numpy_helper.from_array(zp, name + "/wzp")]
    return b.node("DequantizeLinear", [name + "/w", name + "/wscale", name + "/wzp"],
                  [name + "/wdq"], name + "/w/DequantizeLinear", axis=axis, block_size=block)


def blocked():
    b = FloatBuilder(7)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, blocked_weight(b, "/conv1", [16, 32, 3, 3], 1, 16, True)],
               ["/conv1/out"], "/conv1", pads=[1, 1, 1, 1])
    x = b.fq("/a1", b.node("Relu", [x], ["/relu1/out"], "/relu1"), 0.05, 0)
    x = b.fq("/a2", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 0)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("MatMul", [x, blocked_weight(b, "/fc", [16, 10], 0, 8, False)], ["/fc/out"],
               "/fc/MatMul")
    b.node("Identity", [x], ["output"], "output")
    g = helper.make_graph(b.nodes, "blocked",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                         [1, 32, 6, 6])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
                          b.inits)
    # Opset 21 (blocked DequantizeLinear) is newer than Debian's onnx package: no checker.
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m, [1, 32, 6, 6], [1, 10]


def softmax():
    b = FloatBuilder(8)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv1", [16, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", b.node("Relu", [x], ["/relu1/out"], "/relu1"), 0.05, 0)
    x = b.fq("/a2", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 0)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.weight("/fc", [10, 16], 0.5)], ["/fc/out"], "/fc", transB=1)
    x = b.node("Softmax", [x], ["/softmax/out"], "/softmax", axis=-1)
    return b.model([1, 3, 16, 16], x, [1, 10]), [1, 3, 16, 16], [1, 10]


def float_stem():
    b = FloatBuilder(6)
    x = b.node("Conv", ["input", b.fweight("/conv1", [8, 3, 3, 3], 0.2), b.fbias("/conv1", 8)],
               ["/conv1/out"], "/conv1", pads=[1, 1, 1, 1])
    x = b.node("Relu", [x], ["/relu1/out"], "/relu1")
    x = b.node("MaxPool", [x], ["/pool/out"], "/pool", kernel_shape=[3, 3], strides=[2, 2],
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", x, 0.03, 0)
    x = b.node("Conv", [x, b.weight("/conv2", [16, 8, 3, 3], 0.05)], ["/conv2/out"], "/conv2",
               pads=[1, 1, 1, 1])
    x = b.fq("/a2", x, 0.05, 128)
    x = b.fq("/a3", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 128)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.weight("/fc", [10, 16], 0.3)], ["/fc/out"], "/fc", transB=1)
    return b.model([1, 3, 16, 16], x, [1, 10]), [1, 3, 16, 16], [1, 10]


def main():
    write_models(OUT, "float_layer_", (("mixed", mixed), ("float_first", float_first),
                                       ("float_stem", float_stem), ("blocked", blocked),
                                       ("softmax", softmax)),
                 np.random.default_rng(5),
                 # ONNX Runtime 1.30 fuses DQ -> Conv -> Q into a QLinearConv even when the
                 # weight's DequantizeLinear is blocked, then refuses its scale shape: the
                 # reference runs the graph as written.
                 unoptimized=("blocked",))


if __name__ == "__main__":
    main()
