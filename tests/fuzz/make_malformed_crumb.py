#!/usr/bin/env python3
"""Writes the hand-made malformed .crumb seeds of corpus/load_invoke/ (bad_*.crumb).

Each is a valid model (corpus/load_invoke/valid_smallcnn_w4a8_native.crumb) with one field
broken: the FlatBuffer is edited as JSON with flatc and re-serialized, and the original data
section is appended at its original offset, so that only the named field is wrong.
usage: tests/fuzz/make_malformed_crumb.py   (from anywhere; needs flatc)
"""
import copy
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "..", "schema", "crumb.fbs")
OUT = os.path.join(HERE, "corpus", "load_invoke")
BASE = os.path.join(OUT, "valid_smallcnn_w4a8_native.crumb")


def to_json(path, tmp):
    subprocess.run(["flatc", "--json", "--raw-binary", "--strict-json", "-o", tmp, SCHEMA, "--",
                    path], check=True)
    with open(os.path.join(tmp, os.path.basename(path)[:-6] + ".json")) as f:
        return json.load(f)


def to_bin(model, tmp, data_start, data):
    j = os.path.join(tmp, "m.json")
    with open(j, "w") as f:
        json.dump(model, f)
    subprocess.run(["flatc", "--binary", "-o", tmp, SCHEMA, j], check=True)
    with open(os.path.join(tmp, "m.crumb"), "rb") as f:
        fb = f.read()
    if len(fb) > data_start:  # the edit grew the FlatBuffer into the data section
        data_start = (len(fb) + 63) // 64 * 64
    return fb + b"\0" * (data_start - len(fb)) + data


def weight_tensor(m):
    return next(t for t in m["tensors"] if t.get("buffer", 0) and t.get("type") == "QUANT")


def main():
    with open(BASE, "rb") as f:
        base = f.read()
    with tempfile.TemporaryDirectory() as tmp:
        m0 = to_json(BASE, tmp)
        data_start = min(b["offset"] for b in m0["buffers"] if b["size"])
        data = base[data_start:]
        cases = {
            # operator and model indices
            "op_input_index_out_of_range": lambda m: m["operators"][1]["inputs"].__setitem__(0, 9999),
            "op_input_index_negative": lambda m: m["operators"][1]["inputs"].__setitem__(0, -3),
            "op_reads_own_output": lambda m: m["operators"][1]["inputs"].__setitem__(
                0, m["operators"][1]["outputs"][0]),
            "op_missing_inputs": lambda m: m["operators"][1].__setitem__("inputs", [1]),
            "model_input_index_out_of_range": lambda m: m.__setitem__("inputs", [12345]),
            "model_no_outputs": lambda m: m.__setitem__("outputs", []),
            "unknown_opcode": lambda m: m["operators"][1].__setitem__("opcode", 999),
            "no_operators": lambda m: m.__setitem__("operators", []),
            # shapes
            "huge_input_shape": lambda m: m["tensors"][0].__setitem__("shape", [1, 3, 65536, 65536]),
            "overflowing_shape": lambda m: m["tensors"][0].__setitem__(
                "shape", [2147483647, 2147483647, 2147483647, 2147483647]),
            "negative_dim": lambda m: m["tensors"][1].__setitem__("shape", [1, -7, 16, 16]),
            "zero_dim": lambda m: m["tensors"][1].__setitem__("shape", [1, 3, 0, 16]),
            "rank_9_shape": lambda m: m["tensors"][1].__setitem__("shape", [1] * 9),
            # quantization
            "nan_scale": lambda m: m["tensors"][1]["quantization"].__setitem__("scale", ["nan"]),
            "inf_scale": lambda m: m["tensors"][1]["quantization"].__setitem__("scale", ["inf"]),
            "zero_scale": lambda m: m["tensors"][2]["quantization"].__setitem__("scale", [0.0]),
            "negative_scale": lambda m: m["tensors"][2]["quantization"].__setitem__("scale", [-1.0]),
            "nan_weight_scales": lambda m: weight_tensor(m)["quantization"].__setitem__(
                "scale", ["nan"] * len(weight_tensor(m)["quantization"]["scale"])),
            "scale_count_mismatch": lambda m: weight_tensor(m)["quantization"].__setitem__(
                "scale", [0.5, 0.5, 0.5]),
            "zero_point_out_of_range": lambda m: m["tensors"][1]["quantization"].__setitem__(
                "zero_point", [100000]),
            "qmin_above_qmax": lambda m: m["tensors"][1]["quantization"].update(qmin=200, qmax=3),
            "axis_out_of_range": lambda m: weight_tensor(m)["quantization"].__setitem__("axis", 7),
            "bits_zero": lambda m: m["tensors"][1].__setitem__("bits", 0),
            "bits_200": lambda m: weight_tensor(m).__setitem__("bits", 200),
            "float_bits_8": lambda m: m["tensors"][0].__setitem__("bits", 8),
            # buffers
            "buffer_index_out_of_range": lambda m: weight_tensor(m).__setitem__("buffer", 777),
            "buffer_past_end": lambda m: m["buffers"][1].update(offset=1 << 40, size=640),
            "buffer_size_overflow": lambda m: m["buffers"][1].update(
                offset=data_start, size=(1 << 64) - 32),
            "buffer_unaligned": lambda m: m["buffers"][1].__setitem__(
                "offset", m["buffers"][1]["offset"] + 1),
            "buffer_too_small": lambda m: m["buffers"][1].__setitem__("size", 3),
            "layout_mismatch": lambda m: weight_tensor(m).__setitem__("layout", "LUT_W2_N64"),
            "activation_has_buffer": lambda m: m["tensors"][2].__setitem__("buffer", 1),
            "version_99": lambda m: m.__setitem__("version", 99),
        }
        # Options of the first convolution.
        conv_cases = {
            "conv_zero_kernel": dict(kernel_h=0, kernel_w=0),
            "conv_huge_padding": dict(pad_top=1 << 30, pad_left=1 << 30),
            "conv_negative_stride": dict(stride_h=-2, stride_w=-2),
            "conv_huge_dilation": dict(dilation_h=1 << 20, dilation_w=1 << 20),
        }
        for name, opts in conv_cases.items():
            cases[name] = lambda m, opts=opts: next(
                o for o in m["operators"] if o.get("opcode") == "CONV_2D")["options"].update(opts)
        out = {}
        for name, fn in cases.items():
            m = copy.deepcopy(m0)
            fn(m)
            out[name] = to_bin(m, tmp, data_start, data)
        # byte-level damage
        out["truncated_half"] = base[: len(base) // 2]
        out["truncated_flatbuffer_only"] = base[:data_start]
        out["truncated_8_bytes"] = base[:8]
        out["wrong_identifier"] = base[:4] + b"XXXX" + base[8:]
        out["root_offset_past_end"] = b"\xff\xff\xff\x7f" + base[4:]
        out["empty"] = b""
    for name, blob in out.items():
        with open(os.path.join(OUT, "bad_" + name + ".crumb"), "wb") as f:
            f.write(blob)
    print(len(out), "malformed models written to", OUT)


if __name__ == "__main__":
    main()
