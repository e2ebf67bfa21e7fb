#!/usr/bin/python3
"""Prepares the whole-model comparison's files in a cache directory (never the repository).

  prepare.py --cache DIR [--models resnet18,mobilenet_v2] [--qat-export DIR] [--crumb-convert BIN]

Per network NET (torchvision resnet18 / mobilenet_v2, random weights, 1x3x224x224):
  DIR/qat/NET_wXaY/folded.onnx   /work/shared/tools/qat-export/make_models.py (FX QAT fake quant,
                                 first conv and last FC at 8 bits) for w2a2, w2a4, w4a8 -> crumb,
                                 and w8a8 -> ONNX Runtime's int8 QDQ model (u8 activations, s8
                                 per-channel weights, 8 bits everywhere)
  DIR/NET_int8_qdq.onnx          that w8a8 folded.onnx with ReLU6 (Clip) folded into the conv's
                                 QuantizeLinear (as ORT's quantize_static does; see fold_relu6)
  DIR/qat/resnet18_w2a1/binary_folded.onnx   make_binary.py on a w2a1 export: bipolar (1-bit)
                                 weights, unsigned 1-bit activations = W1A1 (first/last at 8 bits)
  DIR/NET_fp32.onnx              the same network (same seed, same BatchNorm statistics) in fp32,
                                 torch.onnx.export in eval mode (BatchNorm folded into Conv)
  DIR/NET_fp32.desc, .weights    that fp32 ONNX as a plain layer list + float32 weights for
                                 benchmarks/models/xnnpack_runner.cc
  DIR/NET_CFG.crumb              crumb-convert of the low-bit folded.onnx
Everything present is reused; delete DIR to start over. Prints a JSON map of the files.
"""
import argparse, json, os, subprocess, sys

import numpy as np
import onnx
from onnx import numpy_helper

LOWBIT = {"resnet18": ["w2a2", "w2a4", "w4a8", "w1a1"], "mobilenet_v2": ["w2a2", "w2a4", "w4a8"]}


def sh(cmd, log):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    with open(log, "a") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)} -- see {log}")


def w2a1(py, qat_export, qat, net, log):
    """make_models.py exports a w2a1 model (qcdq.onnx: activations Q -> Clip(0, 1) -> DQ, unsigned
    1-bit) but then stops at its QONNX-lowering check ("only integer zero-point, 2..8 bit
    supported"), before it writes folded.onnx or the manifest entry. make_binary.py only needs
    qcdq.onnx and that entry: add the entry (io only) and let make_binary.py make the bipolar-weight
    binary_folded.onnx = W1A1 (first conv and last FC at 8 bits as always)."""
    d = os.path.join(qat, f"{net}_w2a1")
    if not os.path.exists(os.path.join(d, "qcdq.onnx")):
        with open(log, "a") as f:  # expected to fail after writing qcdq.onnx
            subprocess.run([py, os.path.join(qat_export, "make_models.py"), "--models", net, "--configs",
                            "w2a1", "--out", qat], stdout=f, stderr=subprocess.STDOUT)
    if not os.path.exists(os.path.join(d, "qcdq.onnx")):
        sys.exit(f"make_models.py wrote no {d}/qcdq.onnx -- see {log}")
    mp = os.path.join(qat, "manifest.json")
    man = json.load(open(mp)) if os.path.exists(mp) else {}
    if f"{net}_w2a1" not in man:
        man[f"{net}_w2a1"] = {"model": net, "wbits": 2, "abits": 1, "io": {"dir": os.path.join(d, "io")},
                              "variants": {}, "note": "qcdq.onnx only (make_models.py stops at qonnx_lowered)"}
        json.dump(man, open(mp, "w"), indent=1)


def fold_relu6(src, dst):
    """PyTorch FX QAT leaves ReLU6 unfused in MobileNetV2: Conv -> Q1 -> DQ1 -> Clip(0, 6) -> Q2 -> DQ2,
    and its random-data calibration gave Q2 ranges like [-2.7, 3.0] (zero point 121). ONNX Runtime
    keeps DQ1 -> Clip -> Q2 as a float island per layer (35 in MobileNetV2), which its own
    quantizer (quantize_static) would not produce: it quantizes a conv's output straight to the
    clipped range. Do the same: Conv -> Q2 -> DQ2 with Q2 / DQ2 at the Clip's range [0, hi]
    (uint8, scale hi / 255, zero point 0: the clip is the saturation). Same op count and kernels as
    a quantize_static model; the output stays close to the fp32 network's (correlation 0.9994 on
    MobileNetV2, in benchmarks/README.md). Returns the number of Clips folded."""
    m = onnx.load(src)
    g = m.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    prod = {o: n for n in g.node for o in n.output}
    cons = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    drop, folded = set(), 0
    for clip in [n for n in g.node if n.op_type == "Clip"]:
        dq1 = prod.get(clip.input[0])
        q1 = prod.get(dq1.input[0]) if dq1 is not None and dq1.op_type == "DequantizeLinear" else None
        outs = cons.get(clip.output[0], [])
        if q1 is None or q1.op_type != "QuantizeLinear" or len(outs) != 1 or outs[0].op_type != "QuantizeLinear":
            continue
        if len(cons.get(dq1.output[0], [])) != 1 or len(cons.get(q1.output[0], [])) != 1:
            continue
        q2 = outs[0]
        lo = float(consts[clip.input[1]]) if len(clip.input) > 1 and clip.input[1] else None
        hi = float(consts[clip.input[2]]) if len(clip.input) > 2 and clip.input[2] else None
        dq2s = cons.get(q2.output[0], [])
        if lo != 0.0 or hi is None or len(q2.input) < 3 or any(d.op_type != "DequantizeLinear" for d in dq2s):
            continue
        sname, zname = f"relu6_scale_{folded}", f"relu6_zp_{folded}"
        g.initializer.extend([numpy_helper.from_array(np.array(hi / 255, np.float32), sname),
                              numpy_helper.from_array(np.array(0, np.uint8), zname)])
        for n in [q2] + dq2s:
            n.input[1], n.input[2] = sname, zname
        q2.input[0] = q1.input[0]
        drop.update([id(clip), id(dq1), id(q1)])
        folded += 1
    keep = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, dst + ".tmp")
    os.replace(dst + ".tmp", dst)
    return folded


def export_fp32(qat_dir, name, path):
    sys.path.insert(0, qat_dir)
    import torch
    import make_models as mm
    ctor, shape, _, _ = mm.MODELS[name]
    torch.manual_seed(0)  # as make_models.build_qat: the same float weights and BN statistics
    model = ctor()
    mm.randomize_bn(model)
    model.eval()
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.randn(*shape), tmp, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["output"])
    os.replace(tmp, path)


def describe(onnx_path, desc_path, weights_path):
    """fp32 ONNX (Conv, Relu, Clip, Add, MaxPool, GlobalAveragePool, Flatten/Reshape, Gemm) ->
    one line per operator, activations NHWC, conv weights [O][kh][kw][I/groups], fc [out][in]."""
    m = onnx.load(onnx_path)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    ids, shapes, ops, blob = {}, {}, [], []
    offset = [0]

    def put(a):
        a = np.ascontiguousarray(a, dtype=np.float32).ravel()
        off = offset[0]
        blob.append(a.tobytes())
        offset[0] += a.size
        return off

    def tid(name):
        if name not in ids:
            ids[name] = len(ids)
        return ids[name]

    inp = g.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    tid(inp.name)
    shapes[inp.name] = (dims[2], dims[3], dims[1])
    ops.append(["input", tid(inp.name), *shapes[inp.name]])
    alias = {}
    BIG = 3.0e38

    def src(name):
        return alias.get(name, name)

    for n in g.node:
        t = n.op_type
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        if t == "Constant":
            continue
        if t in ("Relu", "Clip"):
            lo, hi = 0.0, BIG
            if t == "Clip":
                lo = float(inits[n.input[1]]) if len(n.input) > 1 and n.input[1] else -BIG
                hi = float(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] else BIG
            x = src(n.input[0])
            prod = next(o for o in ops if o[1] == ids[x])
            if prod[0] not in ("conv", "add", "fc") or len(consumers.get(n.input[0], [])) != 1:
                sys.exit(f"{onnx_path}: {t} {n.name} does not follow a conv / add / fc alone")
            prod[-2 if prod[0] != "conv" and prod[0] != "fc" else -4] = lo  # see layouts below
            prod[-1 if prod[0] != "conv" and prod[0] != "fc" else -3] = hi
            alias[n.output[0]] = x
            continue
        if t in ("Flatten", "Reshape"):
            alias[n.output[0]] = src(n.input[0])
            continue
        x = src(n.input[0])
        H, W, C = shapes[x]
        y = n.output[0]
        if t == "Conv":
            w = inits[n.input[1]]
            b = inits[n.input[2]] if len(n.input) > 2 else np.zeros(w.shape[0], np.float32)
            kh, kw = a["kernel_shape"]
            sh_, sw = a.get("strides", [1, 1])
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            if a.get("dilations", [1, 1]) != [1, 1]:
                sys.exit("dilated conv")
            grp = a.get("group", 1)
            O = w.shape[0]
            OH, OW = (H + pt + pb - kh) // sh_ + 1, (W + pl + pr - kw) // sw + 1
            shapes[y] = (OH, OW, O)
            ops.append(["conv", tid(y), ids[x], H, W, C, OH, OW, O, kh, kw, sh_, sw, pt, pl, pb, pr,
                        grp, -BIG, BIG, put(w.transpose(0, 2, 3, 1)), put(b)])
        elif t == "Add":
            x2 = src(n.input[1])
            shapes[y] = (H, W, C)
            ops.append(["add", tid(y), ids[x], ids[x2], H, W, C, -BIG, BIG])
        elif t == "MaxPool":
            kh, kw = a["kernel_shape"]
            sh_, sw = a.get("strides", [1, 1])
            pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
            OH, OW = (H + pt + pb - kh) // sh_ + 1, (W + pl + pr - kw) // sw + 1
            shapes[y] = (OH, OW, C)
            ops.append(["maxpool", tid(y), ids[x], H, W, C, OH, OW, kh, kw, sh_, sw, pt, pl, pb, pr])
        elif t == "GlobalAveragePool":
            shapes[y] = (1, 1, C)
            ops.append(["gap", tid(y), ids[x], H, W, C])
        elif t == "Gemm":
            w = inits[n.input[1]]
            if not a.get("transB", 0):
                w = w.T
            b = inits[n.input[2]]
            shapes[y] = (1, 1, w.shape[0])
            ops.append(["fc", tid(y), ids[x], w.shape[1], w.shape[0], -BIG, BIG, put(w), put(b)])
        else:
            sys.exit(f"{onnx_path}: operator {t} not handled by the XNNPACK description")
    ops.append(["output", ids[src(g.output[0].name)]])
    with open(weights_path + ".tmp", "wb") as f:
        for b in blob:
            f.write(b)
    with open(desc_path + ".tmp", "w") as f:
        f.write(f"# {os.path.basename(onnx_path)}: {len(ids)} tensors, {offset[0]} floats\n")
        f.write(f"tensors {len(ids)}\n")
        for o in ops:
            f.write(" ".join(repr(v) if isinstance(v, float) else str(v) for v in o) + "\n")
    os.replace(weights_path + ".tmp", weights_path)
    os.replace(desc_path + ".tmp", desc_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", required=True)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--qat-export", default=os.environ.get("QAT_EXPORT", "/work/shared/tools/qat-export"))
    ap.add_argument("--crumb-convert", default="")
    a = ap.parse_args()
    cache = os.path.abspath(a.cache)
    qat = os.path.join(cache, "qat")
    os.makedirs(qat, exist_ok=True)
    log = os.path.join(cache, "prepare.log")
    py = sys.executable
    out = {}
    for net in a.models.split(","):
        cfgs = [c for c in LOWBIT[net] if c != "w1a1"] + ["w8a8"]
        need = [c for c in cfgs if not os.path.exists(os.path.join(qat, f"{net}_{c}", "folded.onnx"))]
        if need:
            sh([py, os.path.join(a.qat_export, "make_models.py"), "--models", net, "--configs",
                ",".join(need), "--out", qat], log)
        e = {"fp32": os.path.join(cache, f"{net}_fp32.onnx"),
             "int8": os.path.join(cache, f"{net}_int8_qdq.onnx"), "lowbit": {}}
        if not os.path.exists(e["int8"]):
            n6 = fold_relu6(os.path.join(qat, f"{net}_w8a8", "folded.onnx"), e["int8"])
            print(f"{net}: int8 QDQ model, {n6} ReLU6 Clips folded into the conv's QuantizeLinear",
                  file=sys.stderr)
        if "w1a1" in LOWBIT[net]:
            d = os.path.join(qat, f"{net}_w2a1")
            if not os.path.exists(os.path.join(d, "binary_folded.onnx")):
                w2a1(py, a.qat_export, qat, net, log)
                sh([py, os.path.join(a.qat_export, "make_binary.py"), d], log)
        if not os.path.exists(e["fp32"]):
            export_fp32(a.qat_export, net, e["fp32"])
        e["desc"] = os.path.join(cache, f"{net}_fp32.desc")
        e["weights"] = os.path.join(cache, f"{net}_fp32.weights")
        if not os.path.exists(e["desc"]) or os.path.getmtime(e["desc"]) < os.path.getmtime(__file__):
            describe(e["fp32"], e["desc"], e["weights"])
        for c in LOWBIT[net]:
            src = (os.path.join(qat, f"{net}_w2a1", "binary_folded.onnx") if c == "w1a1"
                   else os.path.join(qat, f"{net}_{c}", "folded.onnx"))
            dst = os.path.join(cache, f"{net}_{c}.crumb")
            if a.crumb_convert and not os.path.exists(dst):
                sh([a.crumb_convert, src, "-o", dst], log)
            e["lowbit"][c] = {"onnx": src, "crumb": dst}
        out[net] = e
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
