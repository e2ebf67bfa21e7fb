#!/usr/bin/python3
"""Makes tests/data/qoperator/matmulnbits: com.microsoft MatMulNBits (weight-only blocked
quantization, as ONNX Runtime's MatMul4Bits / GPTQ / HQQ tools write it) in a small MLP.

    x [1, 4, 64] -> QuantizeLinear / DequantizeLinear (8-bit)
      -> MatMulNBits 4-bit, block 16, zero points, bias (K 64, N 32) -> Relu
      -> QuantizeLinear / DequantizeLinear (8-bit)
      -> MatMulNBits 2-bit, block 32, no zero points (default 2), no bias (K 32, N 24)
      -> MatMulNBits 8-bit, block 16, zero points, bias (K 24, N 10) -> y [1, 4, 10] (float)

Weights, scales and inputs are random (seeded); K 24 is not a multiple of the 16-wide block, so
the last block is padded. ONNX Runtime's output on the sample input is the reference
(io/sample0.qoperator.ort.bin); crumb lowers each MatMulNBits to a float layer with the
dequantized weights.

Run from the repository root with Debian's python3 and onnxruntime-node under ORT_DIR:
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_matmulnbits_models.py
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_elementwise_models import ORT_DIR, RUN_JS  # noqa: E402

OUT = os.path.join("tests", "data", "qoperator", "matmulnbits")


def pack(codes, bits):
    """Codes (any shape, last axis packed) LSB first into bytes, per row of the last axis."""
    rows = codes.reshape(-1, codes.shape[-1])
    nbytes = (codes.shape[-1] * bits + 7) // 8
    out = np.zeros((rows.shape[0], nbytes), dtype=np.uint8)
    for r in range(rows.shape[0]):
        for j, c in enumerate(rows[r]):
            for b in range(bits):
                bit = j * bits + b
                out[r, bit // 8] |= ((int(c) >> b) & 1) << (bit % 8)
    return out.reshape(codes.shape[:-1] + (nbytes,))


def nbits_node(rng, name, inp, out, k, n, bits, block, zp, bias, inits):
    blocks = (k + block - 1) // block
    codes = rng.integers(0, 1 << bits, size=(n, blocks, block))
    b = pack(codes, bits)  # [N, blocks, block * bits / 8]
    scales = rng.uniform(0.01, 0.05, size=(n * blocks,)).astype(np.float32)
    inputs = [inp, name + ".B", name + ".scales"]
    inits += [numpy_helper.from_array(b, name + ".B"),
              numpy_helper.from_array(scales, name + ".scales")]
    if zp:
        z = rng.integers(0, 1 << bits, size=(n, blocks))
        inits.append(numpy_helper.from_array(pack(z, bits).reshape(-1), name + ".zp"))
        inputs.append(name + ".zp")
    else:
        inputs.append("")
    if bias:
        inputs += ["", name + ".bias"]
        inits.append(numpy_helper.from_array(
            rng.uniform(-0.5, 0.5, size=(n,)).astype(np.float32), name + ".bias"))
    while inputs[-1] == "":
        inputs.pop()
    return helper.make_node("MatMulNBits", inputs, [out], name=name, domain="com.microsoft",
                            K=k, N=n, bits=bits, block_size=block)


def qdq(name, inp, out, scale, zp, inits):
    inits += [numpy_helper.from_array(np.array(scale, dtype=np.float32), name + ".scale"),
              numpy_helper.from_array(np.array(zp, dtype=np.uint8), name + ".zp")]
    return [helper.make_node("QuantizeLinear", [inp, name + ".scale", name + ".zp"], [name + ".q"],
                             name=name + "/Q"),
            helper.make_node("DequantizeLinear", [name + ".q", name + ".scale", name + ".zp"],
                             [out], name=name + "/DQ")]


def main():
    rng = np.random.default_rng(2026)
    inits = []
    nodes = qdq("x_q", "x", "x_dq", 0.02, 128, inits)
    nodes.append(nbits_node(rng, "fc1", "x_dq", "h1", 64, 32, 4, 16, True, True, inits))
    nodes.append(helper.make_node("Relu", ["h1"], ["h1r"], name="relu1"))
    nodes += qdq("h1_q", "h1r", "h1_dq", 0.05, 0, inits)
    nodes.append(nbits_node(rng, "fc2", "h1_dq", "h2", 32, 24, 2, 32, False, False, inits))
    nodes.append(nbits_node(rng, "fc3", "h2", "y", 24, 10, 8, 16, True, True, inits))
    graph = helper.make_graph(
        nodes, "matmulnbits",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    os.makedirs(os.path.join(OUT, "io"), exist_ok=True)
    onnx.save(model, os.path.join(OUT, "model.onnx"))
    x = rng.uniform(-2.0, 2.0, size=(1, 4, 64)).astype(np.float32)
    x.tofile(os.path.join(OUT, "io", "sample0.input.bin"))
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(RUN_JS)
        js = f.name
    try:
        subprocess.run(["node", js, os.path.join(OUT, "model.onnx"),
                        os.path.join(OUT, "io", "sample0.input.bin"), json.dumps([1, 4, 64]),
                        os.path.join(OUT, "io", "sample0.qoperator.ort.bin")],
                       check=True, env=dict(os.environ, ORT_DIR=ORT_DIR))
    finally:
        os.unlink(js)
    manifest = {"model": "matmulnbits", "input": "io/sample0.input.bin", "input_shape": [1, 4, 64],
                "output_shape": [1, 4, 10],
                "variants": {"qoperator": {"file": "model.onnx",
                                           "ort_output": "io/sample0.qoperator.ort.bin"}}}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        f.write(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
