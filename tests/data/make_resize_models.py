#!/usr/bin/python3
"""Makes tests/data/resize/: QDQ models with an ONNX Resize of a quantized activation, which
crumb-convert lowers to RESIZE (converter/passes/lower.cc).

  nearest   x -> Q/DQ -> Conv 3x3/2 -> Q/DQ -> Resize nearest x2 (scales; asymmetric, floor: as
            torch.onnx.export writes F.interpolate(mode="nearest")) -> Q/DQ (same parameters)
            -> Concat with (x -> Conv 3x3 -> Q/DQ) -> Q/DQ -> Conv 3x3 -> Q/DQ -> y [1, 8, 8, 8]
  bilinear  the same with Resize linear to sizes [1, 8, 8, 8] (pytorch_half_pixel, as torch
            writes F.interpolate(mode="bilinear", align_corners=False)), quantized after it with
            other parameters than before it
  chain     x [1, 3, 5, 7] -> Q/DQ -> seven Resize -> Q/DQ stages, no weights: every coordinate
            transform, every nearest_mode, linear, scales and sizes, up and down, an exact .5 tie
            (2 / (4 / 7) with round_prefer_ceil) -> y [1, 3, 5, 5]; crumb must give ONNX
            Runtime's output bit for bit (tests/e2e: e2e_resize_chain_ort_identical)

Weights are seeded random codes; each directory gets model.onnx, a sample input, ONNX Runtime's
output for it and a manifest.json for tests/e2e's e2e_models_test (make_elementwise_models.py's
pattern). Run from the repository root with Debian's python3 and onnxruntime-node under ORT_DIR:
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_resize_models.py
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_elementwise_models import Builder, write_models  # noqa: E402

OUT = os.path.join("tests", "data", "resize")


def model(linear):
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    a = b.node("Conv", [x, b.weight("/conv1", [8, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1], strides=[2, 2])
    a = b.fq("/a1", a, 0.1, 100)
    if linear:
        b.inits.append(numpy_helper.from_array(np.array([1, 8, 8, 8], np.int64), "/resize/sizes"))
        a = b.node("Resize", [a, "", "", "/resize/sizes"], ["/resize/out"], "/resize",
                   mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
        a = b.fq("/a2", a, 0.07, 90)
    else:
        b.const("/resize/scales", [1, 1, 2, 2])
        a = b.node("Resize", [a, "", "/resize/scales"], ["/resize/out"], "/resize",
                   mode="nearest", coordinate_transformation_mode="asymmetric",
                   nearest_mode="floor")
        a = b.fq("/a2", a, 0.1, 100)
    c = b.node("Conv", [x, b.weight("/conv2", [4, 3, 3, 3], 0.05)], ["/conv2/out"], "/conv2",
               pads=[1, 1, 1, 1])
    c = b.fq("/b1", c, 0.08, 120)
    y = b.node("Concat", [a, c], ["/cat/out"], "/cat", axis=1)
    y = b.fq("/cat", y, 0.1, 110)
    y = b.node("Conv", [y, b.weight("/conv3", [8, 12, 3, 3], 0.03)], ["/conv3/out"], "/conv3",
               pads=[1, 1, 1, 1])
    y = b.fq("/out", y, 0.1, 128)
    return b.model([1, 3, 8, 8], y, [1, 8, 8, 8]), [1, 3, 8, 8], [1, 8, 8, 8]


def chain():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    stages = [  # mode, coordinate transform, nearest mode, scales or sizes, output quantization
        ("nearest", "asymmetric", "round_prefer_ceil", None, [1, 3, 8, 4], 0.045, 120),
        ("linear", "half_pixel", "round_prefer_floor", [1, 1, 1.5, 2.5], None, 0.04, 125),
        ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 0.5, 0.5], None, 0.04, 125),
        ("linear", "align_corners", "round_prefer_floor", None, [1, 3, 9, 7], 0.035, 110),
        ("nearest", "pytorch_half_pixel", "ceil", None, [1, 3, 4, 3], 0.03, 128),
        ("linear", "asymmetric", "round_prefer_floor", [1, 1, 2, 2], None, 0.033, 118),
        ("nearest", "align_corners", "floor", None, [1, 3, 5, 5], 0.037, 115),
    ]
    for k, (mode, coord, nearest, scales, sizes, scale, zp) in enumerate(stages):
        name = "/resize%d" % k
        if scales:
            ins = [x, "", b.const(name + "/scales", scales)]
        else:
            b.inits.append(numpy_helper.from_array(np.array(sizes, np.int64), name + "/sizes"))
            ins = [x, "", "", name + "/sizes"]
        x = b.node("Resize", ins, [name + "/out"], name, mode=mode,
                   coordinate_transformation_mode=coord, nearest_mode=nearest)
        x = b.fq(name + "/q", x, scale, zp)
    return b.model([1, 3, 5, 7], x, [1, 3, 5, 5]), [1, 3, 5, 7], [1, 3, 5, 5]


def main():
    write_models(OUT, "resize_", (("nearest", lambda: model(False)),
                                  ("bilinear", lambda: model(True)), ("chain", chain)),
                 np.random.default_rng(2))


if __name__ == "__main__":
    main()
