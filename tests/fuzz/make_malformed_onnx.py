#!/usr/bin/env python3
"""Writes the hand-made malformed ONNX seeds of corpus/onnx_import/ (bad_*.onnx).

Each is a valid model (tests/data/smallcnn_w2a4/native.onnx, opset 25 with INT2 weights) with
one thing broken, edited in protobuf text form and encoded with protoc against libonnx-dev's
onnx.proto, plus byte-level damage (truncation, garbage).
usage: tests/fuzz/make_malformed_onnx.py   (from anywhere; needs protoc and libonnx-dev)
"""
import os
import re
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "data", "smallcnn_w2a4", "native.onnx")
OUT = os.path.join(HERE, "corpus", "onnx_import")
PROTO = ["-I/usr/include", "onnx/onnx.proto"]


def protoc(mode, data):
    return subprocess.run(["protoc", mode + "=onnx.ModelProto"] + PROTO, input=data,
                          capture_output=True, check=True).stdout


def esc(b):
    return "".join("\\%03o" % c for c in b)


def float_raw(v):
    return 'raw_data: "%s"' % esc(struct.pack("<f", v))


def sub1(pattern, repl):
    """An edit that replaces the first match of `pattern` (a regex) and must match."""
    def fn(t):
        s, n = re.subn(pattern, repl, t, count=1, flags=re.S)
        assert n == 1, pattern
        return s
    return fn


def init_field(name, field_re, repl):
    """Replaces a field of the initializer `name` with `repl`, taken literally."""
    pattern = r'(name: "%s"\n(?:    [^\n]*\n)*?)    %s' % (re.escape(name), field_re)
    return sub1(pattern, lambda m: m.group(1) + "    " + repl)


def input_dim(old, new):
    """Replaces the first `dim_value: old` of the graph input "input"."""
    def fn(t):
        i = t.index('  input {\n    name: "input"')
        j = t.index("dim_value: %d\n" % old, i)
        return t[:j] + "dim_value: %d\n" % new + t[j + len("dim_value: %d\n" % old):]
    return fn


CASES = {
    "node_input_missing": sub1(r'input: "qin.scale"', 'input: "no_such_tensor"'),
    "node_reads_own_output": sub1(r'input: "/qin/DequantizeLinear_output_0"',
                                  'input: "/conv1/Conv_output_0"'),
    "unknown_op_type": sub1(r'op_type: "Conv"', 'op_type: "NoSuchOp"'),
    "conv_zero_kernel_shape": sub1(r'(name: "kernel_shape"\n\s*ints: )3(\n\s*ints: )3',
                                   r"\g<1>0\g<2>0"),
    "conv_negative_pads": sub1(r'(name: "pads"\n\s*ints: )1', r"\g<1>-5"),
    "conv_zero_stride": sub1(r'(name: "dilations"\n\s*ints: )1(\n\s*ints: )1',
                             r"\g<1>0\g<2>0"),
    "conv_huge_group": sub1(r'(name: "group"\n\s*i: )1', r"\g<1>1000000"),
    "nan_scale": init_field("qin.scale", r"raw_data: [^\n]*", float_raw(float("nan"))),
    "zero_scale": init_field("qin.scale", r"raw_data: [^\n]*", float_raw(0.0)),
    "inf_weight_scale": init_field("conv1.wq.scale", r"raw_data: [^\n]*",
                                   'raw_data: "%s"' % esc(struct.pack("<f", float("inf")) * 8)),
    "raw_data_too_short": init_field("conv1.conv.bias", r"raw_data: [^\n]*", 'raw_data: "abc"'),
    "huge_initializer_dims": sub1(r"(initializer \{\n\s*)dims: 8", r"\g<1>dims: 1099511627776"),
    "negative_initializer_dims": sub1(r"(initializer \{\n\s*)dims: 8", r"\g<1>dims: -8"),
    "unknown_data_type": sub1(r"(initializer \{\n\s*dims: 8\n\s*)data_type: 1",
                              r"\g<1>data_type: 999"),
    "external_data": init_field("conv1.conv.bias", r"raw_data: [^\n]*",
                                'data_location: EXTERNAL\n    external_data { key: "location" '
                                'value: "/etc/passwd" }'),
    "huge_input_shape": input_dim(16, 4000000000),
    "negative_input_shape": input_dim(3, -3),
    "no_graph_outputs": lambda t: re.sub(r"\n  output \{.*?\n  \}", "", t, flags=re.S),
    "opset_1": sub1(r"(opset_import \{\n\s*version: )25", r"\g<1>1"),
}


def main():
    with open(BASE, "rb") as f:
        base = f.read()
    text = protoc("--decode", base).decode("latin-1")
    out = {name: protoc("--encode", fn(text).encode("latin-1")) for name, fn in CASES.items()}
    out["truncated_half"] = base[: len(base) // 2]
    out["truncated_10_bytes"] = base[:10]
    out["garbage"] = bytes((i * 97 + 13) % 256 for i in range(512))
    out["empty"] = b""
    for name, blob in out.items():
        with open(os.path.join(OUT, "bad_" + name + ".onnx"), "wb") as f:
            f.write(blob)
    print(len(out), "malformed models written to", OUT)


if __name__ == "__main__":
    main()
