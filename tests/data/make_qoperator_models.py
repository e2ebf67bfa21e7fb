#!/usr/bin/python3
"""Makes tests/data/qoperator/: ONNX Runtime's QOperator form of crumb's own QDQ test models.

For each model below, tests/data/<model>/qcdq.onnx (PyTorch's QDQ export) goes through ONNX
Runtime's graph optimizer at level 'extended', which fuses DequantizeLinear -> op ->
QuantizeLinear into QLinearConv, com.microsoft QLinearAdd / QGemm / QLinearGlobalAveragePool, ...
and writes the result (`optimizedModelFilePath`). Level 'all' would add NHWC layout
transforms (com.microsoft QLinearConv with channels_last, NhwcMaxPool), which crumb refuses.

ONNX Runtime refuses PyTorch's per-tensor scales of shape [1] ("QLinearAdd Scale and Zero-point
must be a scalar"), so the [1]-shaped scale / zero-point initializers of QuantizeLinear /
DequantizeLinear are first rewritten as scalars (same values).

Each output directory gets the optimized model (qoperator.onnx), ONNX Runtime's output on the
model's sample input (io/sample0.qoperator.ort.bin) and a manifest.json in the format of
../shared/models (input, labels and PyTorch output by relative path to the source model), so
tests/e2e's e2e_models_test checks crumb's output against ONNX Runtime's by the numeric contract.
The source QDQ model is not a variant: ORT's fusion re-quantizes each float bias to int32
(round(b / (x_scale * w_scale))), so the QOperator model is a slightly different model and ORT's
own outputs for the two differ (up to 2 logits steps on digits_w4a4); crumb's differ likewise.

Run from the repository root with Debian's python3 (python3-onnx, python3-numpy) and
onnxruntime-node installed under ORT_DIR (default /opt/ort):
    ORT_DIR=/opt/ort /usr/bin/python3 tests/data/make_qoperator_models.py
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

MODELS = ["smallcnn_w8a8", "smallcnn_w4a8", "smallcnn_w4a4", "smallcnn2_w4a4", "smallcnn3_w2a4",
          "digits_w4a4", "detector_w4a4", "detector2_w4a4", "encoder_w4a8"]
DATA = os.path.join("tests", "data")
OUT = os.path.join(DATA, "qoperator")
ORT_DIR = os.environ.get("ORT_DIR", "/opt/ort")

OPTIMIZE_JS = r"""
const ort = require(process.env.ORT_DIR + '/node_modules/onnxruntime-node');
const fs = require('fs');
(async () => {
  const [src, dst, input, shape, out] = process.argv.slice(2);
  // One thread: the written model and the outputs do not depend on the machine.
  await ort.InferenceSession.create(src, {graphOptimizationLevel: 'extended',
      optimizedModelFilePath: dst, intraOpNumThreads: 1, interOpNumThreads: 1});
  const s = await ort.InferenceSession.create(dst, {graphOptimizationLevel: 'disabled',
      intraOpNumThreads: 1, interOpNumThreads: 1});
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  const feeds = {};
  feeds[s.inputNames[0]] = new ort.Tensor('float32', x, JSON.parse(shape));
  const r = await s.run(feeds);
  const y = r[s.outputNames[0]].data;
  fs.writeFileSync(out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
})().catch(e => { console.error(String(e)); process.exit(1); });
"""


def scalar_params(src, dst):
    m = onnx.load(src)
    names = set()
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            names.update(n.input[1:3])
    for init in m.graph.initializer:
        if init.name in names and list(init.dims) == [1]:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).reshape(()),
                                                  init.name))
    onnx.save(m, dst)


def main():
    os.makedirs(OUT, exist_ok=True)
    env = dict(os.environ, ORT_DIR=ORT_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "optimize.js")
        with open(js, "w") as f:
            f.write(OPTIMIZE_JS)
        for name in MODELS:
            src_dir = os.path.join(DATA, name)
            with open(os.path.join(src_dir, "manifest.json")) as f:
                src = json.load(f)
            out_dir = os.path.join(OUT, name)
            os.makedirs(os.path.join(out_dir, "io"), exist_ok=True)
            scalar = os.path.join(tmp, name + ".onnx")
            scalar_params(os.path.join(src_dir, "qcdq.onnx"), scalar)
            model = os.path.join(out_dir, "qoperator.onnx")
            ort_out = os.path.join("io", "sample0.qoperator.ort.bin")
            subprocess.run(["node", js, scalar, model, os.path.join(src_dir, src["input"]),
                            json.dumps(src["input_shape"]), os.path.join(out_dir, ort_out)],
                           check=True, env=env)
            # Keep only the opset imports the graph uses (ORT lists every domain it knows).
            m = onnx.load(model)
            used = {n.domain for n in m.graph.node}
            keep = [o for o in m.opset_import if o.domain in used or o.domain == ""]
            del m.opset_import[:]
            m.opset_import.extend(keep)
            onnx.save(m, model)
            hist = {}
            for n in m.graph.node:
                op = (n.domain + "." if n.domain else "") + n.op_type
                hist[op] = hist.get(op, 0) + 1
            up = os.path.join("..", "..", name)
            man = {
                "model": src["model"],
                "wbits": src["wbits"],
                "abits": src["abits"],
                "input": os.path.join(up, src["input"]),
                "input_shape": src["input_shape"],
                "output_shape": src["output_shape"],
                "variants": {
                    "qoperator": {"file": "qoperator.onnx", "op_histogram": hist,
                                  "ort_output": ort_out},
                },
            }
            for key in ("torch_output", "labels"):
                if key in src:
                    man[key] = os.path.join(up, src[key])
            if "qat_acc" in src:
                man["qat_acc"] = src["qat_acc"]
            with open(os.path.join(out_dir, "manifest.json"), "w") as f:
                json.dump(man, f, indent=1)
                f.write("\n")
            ref = np.fromfile(os.path.join(src_dir, src["variants"]["qcdq"]["ort_output"]),
                              dtype=np.float32)
            got = np.fromfile(os.path.join(out_dir, ort_out), dtype=np.float32)
            print("%-16s %6d bytes  %s  max |QOperator - QDQ| (ORT) = %.4g" %
                  (name, os.path.getsize(model), hist, float(np.abs(got - ref).max())))


if __name__ == "__main__":
    sys.exit(main())
