#!/usr/bin/python3
"""Makes tests/data/slice/: QDQ models with ONNX Split and Slice of quantized activations, which
crumb-convert lowers to SLICE ops (converter/passes/slice_split.cc, lower.cc), and with Pad.

  c2f     a YOLOv8-style C2f block: x -> Q/DQ -> Conv 3x3 (16) -> Q/DQ -> Split [8, 8] on
          channels (sizes as an input, opset 13+); the first half goes to the Concat as it is
          (no quantizer after the Split: it keeps the input's parameters), the second through
          Q/DQ -> Conv 3x3 -> Q/DQ; Concat [a, b, conv(b)] -> Q/DQ -> Conv 1x1 -> Q/DQ -> y
          [1, 8, 8, 8]
  slices  x -> Q/DQ -> Conv 3x3 (12) -> Q/DQ -> Slice H 1..7 and every second column (steps as
          an input) -> Q/DQ with other parameters (requantized) -> Slice of the channels
          backwards (negative start and step, an end far past the front) -> Q/DQ -> Split in 3
          equal parts along H (no sizes) -> Concat of the parts along W in another order
          -> Q/DQ -> Conv 3x3 -> Q/DQ -> y [1, 4, 2, 12]
  chain   x [1, 6, 7, 9] -> Q/DQ -> Slice / Split stages and no weights: negative axes, starts
          and steps, ends past either side, an opset-1-style full axis, split sizes of 1 / 2 / 3,
          requantizing and pass-through quantizers, a Split output read twice -> y [1, 6, 3, 4];
          crumb must give ONNX Runtime's output bit for bit (tests/e2e:
          e2e_slice_chain_ort_identical)
  shapes  x [1, 6, 4, 4] -> Q/DQ -> Conv 3x3 (10) -> Q/DQ -> torch.chunk(2, 1) and
          y.view(y.size(0), -1) as torch.onnx.export writes them (Shape -> Gather -> Add / Div /
          Mul -> Slice; Shape -> Gather -> Unsqueeze -> Concat -> Reshape) -> Q/DQ -> y [1, 80]
  pad     x [1, 4, 6, 7] -> Q/DQ -> Pad H 1/2, W 2/1 (nn.ZeroPad2d) -> Q/DQ with other
          parameters -> Conv 3x3 with its own pads -> Q/DQ -> Pad 1 on every side (a
          constant_value input of 0) -> AveragePool 3x3 / 2 without pads -> Q/DQ -> Conv 1x1
          -> Q/DQ -> y [1, 4, 4, 5]; both Pads fold into the layer they feed (fold_pad.cc)

Weights are seeded random codes; each directory gets model.onnx, a sample input, ONNX Runtime's
output for it and a manifest.json for tests/e2e's e2e_models_test (make_elementwise_models.py's
pattern). Run from the repository root with Debian's python3 and onnxruntime-node under ORT_DIR:
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_slice_models.py
"""
import os
import sys

import numpy as np
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_elementwise_models import Builder, write_models  # noqa: E402

OUT = os.path.join("tests", "data", "slice")


def ints(b, name, value):
    b.inits.append(numpy_helper.from_array(np.array(value, np.int64), name))
    return name


def c2f():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/cv1", [16, 3, 3, 3], 0.05)], ["/cv1/out"], "/cv1",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", x, 0.1, 100)
    b.node("Split", [x, ints(b, "/split/sizes", [8, 8])], ["/split/out0", "/split/out1"],
           "/split", axis=1)
    h = b.fq("/a2", "/split/out1", 0.1, 100)
    c = b.node("Conv", [h, b.weight("/m", [8, 8, 3, 3], 0.04)], ["/m/out"], "/m",
               pads=[1, 1, 1, 1])
    c = b.fq("/a3", c, 0.08, 120)
    y = b.node("Concat", ["/split/out0", h, c], ["/cat/out"], "/cat", axis=1)
    y = b.fq("/cat", y, 0.1, 110)
    y = b.node("Conv", [y, b.weight("/cv2", [8, 24, 1, 1], 0.05)], ["/cv2/out"], "/cv2")
    y = b.fq("/out", y, 0.1, 128)
    return b.model([1, 3, 8, 8], y, [1, 8, 8, 8]), [1, 3, 8, 8], [1, 8, 8, 8]


def slices():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv1", [12, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", x, 0.1, 100)
    x = b.node("Slice", [x, ints(b, "/s1/starts", [1, 0]), ints(b, "/s1/ends", [7, 8]),
                         ints(b, "/s1/axes", [2, 3]), ints(b, "/s1/steps", [1, 2])],
               ["/s1/out"], "/s1")
    x = b.fq("/a2", x, 0.07, 90)
    x = b.node("Slice", [x, ints(b, "/s2/starts", [-1]), ints(b, "/s2/ends", [-1000]),
                         ints(b, "/s2/axes", [1]), ints(b, "/s2/steps", [-1])],
               ["/s2/out"], "/s2")
    x = b.fq("/a3", x, 0.07, 90)
    b.node("Split", [x], ["/sp/0", "/sp/1", "/sp/2"], "/sp", axis=2)
    y = b.node("Concat", ["/sp/2", "/sp/0", "/sp/1"], ["/cat/out"], "/cat", axis=3)
    y = b.fq("/cat", y, 0.07, 90)
    y = b.node("Conv", [y, b.weight("/conv2", [4, 12, 3, 3], 0.03)], ["/conv2/out"], "/conv2",
               pads=[1, 1, 1, 1])
    y = b.fq("/out", y, 0.1, 128)
    return b.model([1, 3, 8, 8], y, [1, 4, 2, 12]), [1, 3, 8, 8], [1, 4, 2, 12]


def chain():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    # [1, 6, 7, 9] -> rows 6, 4, 2, 0 (negative step, start past the end), columns 1..8
    x = b.node("Slice", [x, ints(b, "/s1/starts", [100, 1]), ints(b, "/s1/ends", [-100, 9]),
                         ints(b, "/s1/axes", [-2, -1]), ints(b, "/s1/steps", [-2, 1])],
               ["/s1/out"], "/s1")
    x = b.fq("/a1", x, 0.045, 120)                                      # [1, 6, 4, 8]
    b.node("Split", [x, ints(b, "/sp/sizes", [1, 2, 3])], ["/sp/0", "/sp/1", "/sp/2"], "/sp",
           axis=1)
    p0 = b.fq("/p0", "/sp/0", 0.03, 128)                                # [1, 1, 4, 8]
    p2 = b.node("Slice", ["/sp/2", ints(b, "/s2/starts", [-1]), ints(b, "/s2/ends", [0]),
                          ints(b, "/s2/axes", [1]), ints(b, "/s2/steps", [-1])],
                ["/s2/out"], "/s2")                                     # [1, 2, 4, 8]
    y = b.node("Concat", [p0, "/sp/1", p2, "/sp/0"], ["/cat/out"], "/cat", axis=1)
    y = b.fq("/cat", y, 0.04, 125)                                      # [1, 6, 4, 8]
    y = b.node("Slice", [y, ints(b, "/s3/starts", [0, 1, 7]), ints(b, "/s3/ends", [6, 4, -9]),
                         ints(b, "/s3/axes", [1, 2, 3]), ints(b, "/s3/steps", [1, 1, -2])],
               ["/s3/out"], "/s3")                                     # [1, 6, 3, 4]
    y = b.fq("/out", y, 0.05, 128)
    return b.model([1, 6, 7, 9], y, [1, 6, 3, 4]), [1, 6, 7, 9], [1, 6, 3, 4]


def shapes():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv", [10, 6, 3, 3], 0.05)], ["/conv/out"], "/conv",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", x, 0.1, 100)
    shp = b.node("Shape", [x], ["/shape"], "/Shape")
    c = b.node("Gather", [shp, ints(b, "/one", [1])], ["/c"], "/Gather", axis=0)
    c = b.node("Add", [c, ints(b, "/one_b", [1])], ["/c1"], "/Add")
    half = b.node("Div", [c, ints(b, "/two", [2])], ["/half"], "/Div")
    b.node("Slice", [x, ints(b, "/zero", [0]), half, "/one"], ["/lo"], "/Slice")
    end = b.node("Mul", [half, "/two"], ["/end"], "/Mul")
    b.node("Slice", [x, half, end, "/one"], ["/hi"], "/Slice_1")
    y = b.node("Concat", ["/hi", "/lo"], ["/cat/out"], "/Concat", axis=1)
    y = b.fq("/cat", y, 0.1, 100)
    shp2 = b.node("Shape", [y], ["/shape2"], "/Shape_1")
    n = b.node("Gather", [shp2, ints(b, "/i0", 0)], ["/n"], "/Gather_1", axis=0)
    n = b.node("Unsqueeze", [n, "/zero"], ["/n1"], "/Unsqueeze")
    t = b.node("Concat", [n, ints(b, "/minus1", [-1])], ["/target"], "/Concat_1", axis=0)
    y = b.node("Reshape", [y, t], ["/flat"], "/Reshape")
    y = b.fq("/out", y, 0.1, 100)
    return b.model([1, 6, 4, 4], y, [1, 160]), [1, 6, 4, 4], [1, 160]


def pad():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Pad", [x, ints(b, "/pad1/pads", [0, 0, 1, 2, 0, 0, 2, 1])], ["/pad1/out"],
               "/pad1")                                                # [1, 4, 9, 10]
    x = b.fq("/p1", x, 0.06, 120)
    x = b.node("Conv", [x, b.weight("/c1", [8, 4, 3, 3], 0.05)], ["/c1/out"], "/c1",
               pads=[1, 0, 0, 1])                                      # [1, 8, 8, 9]
    x = b.fq("/a1", x, 0.1, 100)
    b.inits.append(numpy_helper.from_array(np.array(0, np.float32), "/pad2/value"))
    x = b.node("Pad", [x, ints(b, "/pad2/pads", [0, 0, 1, 1, 0, 0, 1, 1]), "/pad2/value"],
               ["/pad2/out"], "/pad2")                                 # [1, 8, 10, 11]
    x = b.node("AveragePool", [x], ["/pool/out"], "/pool", kernel_shape=[3, 3],
               strides=[2, 2])                                         # [1, 8, 4, 5]
    x = b.fq("/a2", x, 0.05, 110)
    x = b.node("Conv", [x, b.weight("/c2", [4, 8, 1, 1], 0.05)], ["/c2/out"], "/c2")
    y = b.fq("/out", x, 0.1, 128)
    return b.model([1, 4, 6, 7], y, [1, 4, 4, 5]), [1, 4, 6, 7], [1, 4, 4, 5]


def main():
    write_models(OUT, "slice_", (("c2f", c2f), ("slices", slices), ("chain", chain), ("shapes", shapes),
                                 ("pad", pad)), np.random.default_rng(3))


if __name__ == "__main__":
    main()
