#!/usr/bin/python3
"""Makes tests/data/elementwise/: QDQ models whose activations go through element-wise float
functions between two quantizers (Sigmoid, SiLU as x * Sigmoid(x), HardSwish, GELU written out
as Div / Erf / Add / Mul, LeakyRelu + Tanh), which crumb-convert turns into code tables
(converter/passes/fuse_elementwise_tables.cc).

  chain      x -> Q/DQ -> SiLU -> Q/DQ -> HardSwish -> Q/DQ -> GELU (erf) -> Q/DQ -> LeakyRelu
             -> Tanh -> Q/DQ (int8) -> y                       [1, 3, 8, 8], no weights
  conv       x -> Q/DQ -> Conv 3x3 (int4 codes) -> Q/DQ -> HardSwish -> Q/DQ -> Conv 3x3 -> Q/DQ
             -> SiLU -> Q/DQ -> GlobalAveragePool -> Q/DQ -> Gemm -> y [1, 10]
  gates      products of two activations (MUL): a squeeze-and-excitation block (GlobalAveragePool
             -> 1x1 Conv -> Relu -> 1x1 Conv -> HardSigmoid -> Mul by the [N, C, 1, 1] gate, the
             gate first) and a gated unit (Conv 3x3 * Sigmoid(Conv 3x3), same shapes) -> Gemm
  sub        differences of two activations (ADD version 2): Conv 3x3 - Conv 1x1 of one input
             (other scales), and an activation minus its max-pooled self -> GlobalAveragePool
             -> Gemm -> y [1, 10]

Weights are seeded random codes (numpy default_rng(0)); each directory gets model.onnx, a sample
input, ONNX Runtime's output for it (one thread, optimizations as a user would run it) and a
manifest.json in ../shared/models' format for tests/e2e's e2e_models_test.

Run from the repository root with Debian's python3 (python3-onnx, python3-numpy) and
onnxruntime-node under ORT_DIR (default /opt/ort):
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_elementwise_models.py
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join("tests", "data", "elementwise")
ORT_DIR = os.environ.get("ORT_DIR", "/opt/ort")

RUN_JS = r"""
const ort = require(process.env.ORT_DIR + '/node_modules/onnxruntime-node');
const fs = require('fs');
(async () => {
  const [model, input, shape, out, level] = process.argv.slice(2);
  const options = {intraOpNumThreads: 1, interOpNumThreads: 1};
  if (level) options.graphOptimizationLevel = level;
  const s = await ort.InferenceSession.create(model, options);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const feeds = {};
  feeds[s.inputNames[0]] = new ort.Tensor('float32', x, JSON.parse(shape));
  const r = await s.run(feeds);
  const y = r[s.outputNames[0]].data;
  fs.writeFileSync(out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


class Builder:
    def __init__(self, seed):
        self.nodes, self.inits = [], []
        self.rng = np.random.default_rng(seed)

    def node(self, op, ins, outs, name, **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))
        return outs[0]

    def const(self, name, value):
        self.inits.append(numpy_helper.from_array(np.array(value, np.float32), name))
        return name

    def fq(self, name, x, scale, zp, dtype=np.uint8):
        """QuantizeLinear -> DequantizeLinear with per-tensor scalar parameters."""
        self.inits += [numpy_helper.from_array(np.array(scale, np.float32), name + "/scale"),
                       numpy_helper.from_array(np.array(zp, dtype), name + "/zp")]
        q = self.node("QuantizeLinear", [x, name + "/scale", name + "/zp"], [name + "/q"],
                      name + "/QuantizeLinear")
        return self.node("DequantizeLinear", [q, name + "/scale", name + "/zp"], [name + "/dq"],
                         name + "/DequantizeLinear")

    def weight(self, name, shape, scale):
        """Folded int4-range codes in an int8 initializer, per-tensor scale."""
        codes = self.rng.integers(-7, 8, size=shape).astype(np.int8)
        self.inits += [numpy_helper.from_array(codes, name + "/w"),
                       numpy_helper.from_array(np.array(scale, np.float32), name + "/wscale"),
                       numpy_helper.from_array(np.array(0, np.int8), name + "/wzp")]
        return self.node("DequantizeLinear", [name + "/w", name + "/wscale", name + "/wzp"],
                         [name + "/wdq"], name + "/w/DequantizeLinear")

    def silu(self, x, name):
        s = self.node("Sigmoid", [x], [name + "/sigmoid"], name + "/Sigmoid")
        return self.node("Mul", [x, s], [name + "/out"], name + "/Mul")

    def gelu(self, x, name):
        d = self.node("Div", [x, self.const(name + "/sqrt2", 1.4142135)], [name + "/div"],
                      name + "/Div")
        e = self.node("Erf", [d], [name + "/erf"], name + "/Erf")
        a = self.node("Add", [e, self.const(name + "/one", 1.0)], [name + "/add"], name + "/Add")
        m = self.node("Mul", [x, a], [name + "/mul"], name + "/Mul")
        return self.node("Mul", [m, self.const(name + "/half", 0.5)], [name + "/out"],
                         name + "/Mul_1")

    def model(self, x_shape, y, y_shape):
        self.node("Identity", [y], ["output"], "output")
        g = helper.make_graph(self.nodes, "elementwise",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                                             y_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def chain():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.fq("/a1", b.silu(x, "/silu"), 0.03, 20)
    x = b.fq("/a2", b.node("HardSwish", [x], ["/hswish/out"], "/HardSwish"), 0.025, 30)
    x = b.fq("/a3", b.gelu(x, "/gelu"), 0.02, 40)
    x = b.node("LeakyRelu", [x], ["/lrelu/out"], "/LeakyRelu", alpha=0.1)
    x = b.fq("/a4", b.node("Tanh", [x], ["/tanh/out"], "/Tanh"), 1 / 127.0, 0, np.int8)
    return b.model([1, 3, 8, 8], x, [1, 3, 8, 8]), [1, 3, 8, 8], [1, 3, 8, 8]


def conv():
    b = Builder(0)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv1", [32, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", x, 0.1, 128)
    x = b.fq("/a2", b.node("HardSwish", [x], ["/hswish/out"], "/HardSwish"), 0.06, 30)
    x = b.node("Conv", [x, b.weight("/conv2", [16, 32, 3, 3], 0.02)], ["/conv2/out"], "/conv2",
               pads=[1, 1, 1, 1])
    x = b.fq("/a3", x, 0.1, 128)
    x = b.fq("/a4", b.silu(x, "/silu"), 0.04, 20)
    x = b.fq("/a5", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 20)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.weight("/fc", [10, 16], 0.05)], ["/fc/out"], "/fc", transB=1)
    return b.model([1, 3, 16, 16], x, [1, 10]), [1, 3, 16, 16], [1, 10]


def gates():
    b = Builder(2)
    x = b.fq("/in", "input", 0.05, 128)
    x = b.node("Conv", [x, b.weight("/conv1", [16, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    x = b.fq("/a1", b.node("Relu", [x], ["/relu1/out"], "/relu1"), 0.05, 0)
    # Squeeze and excitation, as torchvision's SqueezeExcitation (MobileNetV3): scale * input.
    s = b.fq("/se/a0", b.node("GlobalAveragePool", [x], ["/se/gap/out"], "/se/gap"), 0.02, 0)
    s = b.node("Conv", [s, b.weight("/se/fc1", [4, 16, 1, 1], 0.05)], ["/se/fc1/out"], "/se/fc1")
    s = b.fq("/se/a1", b.node("Relu", [s], ["/se/relu/out"], "/se/relu"), 0.01, 0)
    s = b.node("Conv", [s, b.weight("/se/fc2", [16, 4, 1, 1], 0.2)], ["/se/fc2/out"], "/se/fc2")
    s = b.fq("/se/a2", s, 0.02, 128)
    s = b.fq("/se/a3", b.node("HardSigmoid", [s], ["/se/hsig/out"], "/se/hsig", alpha=1 / 6.0),
             1 / 255.0, 0)
    x = b.fq("/a2", b.node("Mul", [s, x], ["/se/mul/out"], "/se/Mul"), 0.04, 0)
    # A gated unit: value * Sigmoid(gate), both 3x3 convolutions of x.
    v = b.node("Conv", [x, b.weight("/value", [8, 16, 3, 3], 0.02)], ["/value/out"], "/value",
               pads=[1, 1, 1, 1])
    v = b.fq("/a3", v, 0.1, 128)
    g = b.node("Conv", [x, b.weight("/gate", [8, 16, 3, 3], 0.02)], ["/gate/out"], "/gate",
               pads=[1, 1, 1, 1])
    g = b.fq("/a4", g, 0.1, 128)
    g = b.fq("/a5", b.node("Sigmoid", [g], ["/sigmoid/out"], "/Sigmoid"), 1 / 256.0, 0)
    x = b.fq("/a6", b.node("Mul", [v, g], ["/glu/out"], "/glu/Mul"), 0.08, 128)
    x = b.fq("/a7", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 128)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.weight("/fc", [10, 8], 0.05)], ["/fc/out"], "/fc", transB=1)
    return b.model([1, 3, 12, 12], x, [1, 10]), [1, 3, 12, 12], [1, 10]


def sub():
    b = Builder(3)
    x = b.fq("/in", "input", 0.05, 128)
    p = b.node("Conv", [x, b.weight("/conv1", [8, 3, 3, 3], 0.05)], ["/conv1/out"], "/conv1",
               pads=[1, 1, 1, 1])
    p = b.fq("/a1", p, 0.06, 128)
    q = b.node("Conv", [x, b.weight("/conv2", [8, 3, 1, 1], 0.08)], ["/conv2/out"], "/conv2")
    q = b.fq("/a2", q, 0.03, 120)
    x = b.fq("/a3", b.node("Sub", [p, q], ["/sub1/out"], "/sub1"), 0.08, 128)
    m = b.node("MaxPool", [x], ["/pool/out"], "/pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    x = b.fq("/a4", b.node("Sub", [x, m], ["/sub2/out"], "/sub2"), 0.05, 200)
    x = b.fq("/a5", b.node("GlobalAveragePool", [x], ["/gap/out"], "/gap"), 0.02, 128)
    x = b.node("Flatten", [x], ["/flatten/out"], "/flatten")
    x = b.node("Gemm", [x, b.weight("/fc", [10, 8], 0.05)], ["/fc/out"], "/fc", transB=1)
    return b.model([1, 3, 12, 12], x, [1, 10]), [1, 3, 12, 12], [1, 10]


def write_models(out, prefix, makers, rng, unoptimized=()):
    """Writes out/NAME/{model.onnx, io/sample0.input.bin, io/sample0.qcdq.ort.bin, manifest.json}
    for each (NAME, make) in makers: make() gives (model, input shape, output shape); the input
    is normal(0, 2.5) from rng and the reference output ONNX Runtime's (RUN_JS under node), with
    graph optimizations disabled for the names in `unoptimized`."""
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "run.js")
        with open(js, "w") as f:
            f.write(RUN_JS)
        for name, make in makers:
            m, x_shape, y_shape = make()
            d = os.path.join(out, name)
            os.makedirs(os.path.join(d, "io"), exist_ok=True)
            onnx.save(m, os.path.join(d, "model.onnx"))
            x = rng.normal(0, 2.5, size=x_shape).astype(np.float32)
            x.tofile(os.path.join(d, "io", "sample0.input.bin"))
            subprocess.run(["node", js, os.path.join(d, "model.onnx"),
                            os.path.join(d, "io", "sample0.input.bin"), json.dumps(x_shape),
                            os.path.join(d, "io", "sample0.qcdq.ort.bin")] +
                           (["disabled"] if name in unoptimized else []),
                           check=True, env=dict(os.environ, ORT_DIR=ORT_DIR))
            manifest = {
                "model": prefix + name,
                "input": "io/sample0.input.bin",
                "input_shape": x_shape,
                "output_shape": y_shape,
                "variants": {"qcdq": {"file": "model.onnx",
                                      "ort_output": "io/sample0.qcdq.ort.bin"}},
            }
            with open(os.path.join(d, "manifest.json"), "w") as f:
                json.dump(manifest, f, indent=1)
                f.write("\n")
            print("wrote", d)


def main():
    write_models(OUT, "elementwise_", (("chain", chain), ("conv", conv), ("gates", gates),
                                       ("sub", sub)),
                 np.random.default_rng(1))


if __name__ == "__main__":
    main()
