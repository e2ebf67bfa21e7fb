#!/usr/bin/python3
"""Export crumb's own fake-quantized test models into tests/data/.

Runs with Debian's system python3 (python3-torch 1.13, python3-onnx 1.12, python3-sklearn,
python3-numpy). Not needed to build or test crumb; only to regenerate tests/data.

    /usr/bin/python3 tools/export-test-models.py                       # models + PyTorch outputs
    ORT_DIR=/opt/ort /usr/bin/python3 tools/export-test-models.py      # + ONNX Runtime outputs

ORT_DIR is a folder holding node_modules/onnxruntime-node, made once with
`mkdir -p /opt/ort && cd /opt/ort && npm init -y && npm install --ignore-scripts onnxruntime-node`.
Without it the ONNX Runtime reference outputs are removed (they would no longer match the models)
and the manifests do not name them.

Every model directory holds the same numbers in three ONNX forms:
  qcdq.onnx    QuantizeLinear -> Clip(qmin, qmax) -> DequantizeLinear, float weights, opset 13,
               exactly as torch.onnx.export writes it with the symbolics below (per-tensor scale /
               zero point of shape [1], Constant nodes, unsigned Clip with an empty min where the
               model asks for PyTorch's own style)
  folded.onnx  weight Q->Clip folded into an int8 initializer -> DequantizeLinear
  native.onnx  folded, with ranges of <= 4 bits as INT4/UINT4 (opset 21) and <= 2 bits as
               INT2/UINT2 (opset 25) tensors, no Clip
and manifest.json in the format of shared/models/*/manifest.json.

smallcnn_w1a2 (BINARY_MODELS) holds 1-bit bipolar weights on its inner layers instead, in the
three forms trainers write them: binary_folded.onnx (int8 codes +-1 -> DequantizeLinear),
binary_qonnx.onnx (QONNX BipolarQuant; ONNX Runtime cannot run it, its manifest entry names the
binary_folded output as reference) and binary_sign.onnx (Mul(Sign(W), alpha)).

Pruned models (PRUNED_SMALL_MODELS, --sparse-digits) for the runtime's sparse family: the 1x1
conv / FC weights pruned in 1x4 blocks along the input channels (prune_blocks: smallest L2 norm
zeroed layer-wide, each output channel keeps a block) to 70 / 90 % zero blocks, the mask fixed
through training so pruned codes are exactly the zero point (checked on the folded model).
smallcnn_w4a4_sp90: random weights; digits_w4a4_sp70 / _sp90 (DigitsPointwiseCNN): gradual pruning
during float fine-tuning, then QAT.

Quantization recipe (all models): weights per output channel, symmetric, narrow
(-(2^(b-1)-1)..2^(b-1)-1; 2 bits = ternary); activations per tensor, affine, unsigned. The model
input, the first conv's weights, the last FC's weights and the logits are 8-bit; everything else
is at the model's WxAy. MaxPool / Flatten / Reshape outputs reuse their input's quantizer (as
torch.ao FX does); every other op, GlobalAveragePool included, gets its own.

The models avoid exact rounding ties (GAP with a shared quantizer, observed input scales on
discrete pixels): PyTorch multiplies by 1/scale, ONNX Runtime divides, and a tie on a deep low-bit
net flips codes that cascade. With none, PyTorch and ORT agree bit for bit on every model here.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

warnings.filterwarnings("ignore")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMS = ("qcdq", "folded", "native")

# ONNX element types newer than onnx 1.12's TensorProto enum: written by number.
UINT4, INT4, UINT2, INT2 = 21, 22, 25, 26
# (signed, bits) -> (data_type, minimum opset, minimum ir_version)
SUBBYTE = {(False, 4): (UINT4, 21, 10), (True, 4): (INT4, 21, 10),
           (False, 2): (UINT2, 25, 13), (True, 2): (INT2, 25, 13)}


def qrange(bits, signed, narrow=False):
    if not signed:
        return 0, (1 << bits) - 1
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return (lo + 1 if narrow else lo), hi


# ============================================================================ fake quantizers


class FakeQuant(nn.Module):
    """One quantizer. Weights: per output channel (axis), symmetric, narrow, scale from the current
    weights. Activations: per tensor, affine, scale from a moving-average min/max (as torch.ao's
    MovingAverageMinMaxObserver). `observing` switches range tracking on and off."""

    def __init__(self, bits, channels=None, axis=0, weight=False, momentum=0.01, fixed=None):
        super().__init__()
        self.bits, self.weight, self.axis, self.momentum = bits, weight, axis, momentum
        self.qmin, self.qmax = qrange(bits, signed=weight, narrow=weight)
        n = channels if weight else 1
        self.register_buffer("scale", torch.ones(n))
        self.register_buffer("zero_point", torch.zeros(n, dtype=torch.int32))
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))
        self.fixed = fixed is not None
        if fixed is not None:
            self.scale.fill_(fixed[0])
            self.zero_point.fill_(fixed[1])
        self.observing = True
        self.enabled = True

    @torch.no_grad()
    def observe(self, x):
        if self.fixed:
            return
        if self.weight:
            dims = [d for d in range(x.dim()) if d != self.axis]
            if self.qmax == 1:
                # Ternary: scale 1.4 * mean|w| puts the zero threshold at 0.7 * mean|w| (as
                # ternary weight networks do); max|w| would zero most weights.
                s = torch.minimum(1.4 * x.abs().mean(dim=dims), x.abs().amax(dim=dims))
            else:
                s = x.abs().amax(dim=dims) / self.qmax
            self.scale.copy_(torch.clamp(s, min=1e-8))
            return
        lo, hi = x.min(), x.max()
        if torch.isinf(self.min_val):
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
        else:
            self.min_val.add_(self.momentum * (lo - self.min_val))
            self.max_val.add_(self.momentum * (hi - self.max_val))
        lo, hi = torch.clamp(self.min_val, max=0.0), torch.clamp(self.max_val, min=0.0)
        s = torch.clamp((hi - lo) / float(self.qmax - self.qmin), min=1e-8)
        z = torch.clamp(self.qmin - torch.round(lo / s), self.qmin, self.qmax)
        self.scale.copy_(s.reshape(1))
        self.zero_point.copy_(z.reshape(1).to(torch.int32))

    def forward(self, x):
        if self.observing:
            self.observe(x)
        return self.apply_only(x)

    def apply_only(self, x):
        """Fake-quantize with the current parameters (no observing): the pass-through quantizer
        after MaxPool / GAP / Flatten / Reshape shares its input's parameters."""
        if not self.enabled:
            return x
        if self.weight:
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.axis,
                                                          self.qmin, self.qmax)
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, self.qmin,
                                                     self.qmax)


def set_observing(model, on):
    for m in model.modules():
        if isinstance(m, FakeQuant):
            m.observing = on


def set_fake_quant(model, on):
    for m in model.modules():
        if isinstance(m, FakeQuant):
            m.enabled = on


class QConv(nn.Module):
    """Conv2d with fake-quantized weights and an optional BatchNorm. fold_bn() folds the BN into
    the float weights and bias (before QAT, as usual); keep_bn models export a BatchNormalization
    node after the Conv instead."""

    def __init__(self, cin, cout, k, wbits, stride=1, pad=0, dilation=1, groups=1, bn=True,
                 bias=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad, dilation, groups,
                              bias=(not bn) if bias is None else bias)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.wq = FakeQuant(wbits, cout, axis=0, weight=True)
        self.mask = None  # fixed pruning mask (prune_blocks), applied before the quantizer

    @torch.no_grad()
    def fold_bn(self):
        if self.bn is None:
            return
        bn, c = self.bn, self.conv
        k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        b = c.bias if c.bias is not None else torch.zeros_like(bn.running_mean)
        c.weight.mul_(k.reshape(-1, 1, 1, 1))
        c.bias = nn.Parameter(bn.bias + (b - bn.running_mean) * k)
        self.bn = None

    def forward(self, x):
        c = self.conv
        w = c.weight if self.mask is None else c.weight * self.mask
        y = F.conv2d(x, self.wq(w), c.bias, c.stride, c.padding, c.dilation, c.groups)
        return self.bn(y) if self.bn is not None else y


class QLinear(nn.Module):
    """Linear with fake-quantized weights. matmul=True stores W as [K, N] (quantized per column,
    axis 1) and exports MatMul without bias instead of Gemm."""

    def __init__(self, k, n, wbits, matmul=False):
        super().__init__()
        self.matmul = matmul
        if matmul:
            self.weight = nn.Parameter(torch.empty(k, n))
            nn.init.kaiming_uniform_(self.weight.T, a=math.sqrt(5))
            self.bias = None
            self.wq = FakeQuant(wbits, n, axis=1, weight=True)
        else:
            lin = nn.Linear(k, n)
            self.weight, self.bias = lin.weight, lin.bias
            self.wq = FakeQuant(wbits, n, axis=0, weight=True)
        self.mask = None  # fixed pruning mask (prune_blocks), applied before the quantizer

    def forward(self, x):
        w = self.weight if self.mask is None else self.weight * self.mask
        if self.matmul:
            return torch.matmul(x, self.wq(w))
        return F.linear(x, self.wq(w), self.bias)


def act(bits):
    return FakeQuant(bits)


# ============================================================================ models


class SmallCNN(nn.Module):
    """conv-BN-ReLU, strided conv, depthwise conv, 1x1 conv, residual Add, MaxPool, GAP, FC.
    spatial_fc drops the GAP: the FC reads a flattened 16x4x4 map (tests NCHW flatten order)."""

    def __init__(self, wb, ab, spatial_fc=False, nc=10, width=16):
        super().__init__()
        self.spatial_fc = spatial_fc
        self.qin = act(8)
        self.conv1 = QConv(3, 8, 3, 8, pad=1)
        self.a1 = act(ab)
        self.conv2 = QConv(8, width, 3, wb, stride=2, pad=1)
        self.a2 = act(ab)
        self.dw = QConv(width, width, 3, wb, pad=1, groups=width)
        self.a3 = act(ab)
        self.pw = QConv(width, width, 1, wb)
        self.a4 = act(ab)
        self.a5 = act(ab)
        self.agap = act(ab)
        self.fc = QLinear(width * 4 * 4 if spatial_fc else width, nc, 8)
        self.aout = act(8)

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu(self.conv1(x)))
        x = self.a2(F.relu(self.conv2(x)))
        y = self.a3(F.relu(self.dw(x)))
        y = self.a4(self.pw(y))
        x = self.a5(F.relu(x + y))
        x = self.a5.apply_only(F.max_pool2d(x, 2))
        q = self.a5
        if not self.spatial_fc:
            # Its own quantizer: with the input's, the mean of 16 codes often lands exactly on
            # .5 and float graphs (PyTorch, ORT) round it either way.
            x = self.agap(F.adaptive_avg_pool2d(x, 1))
            q = self.agap
        x = q.apply_only(torch.flatten(x, 1))
        return self.aout(self.fc(x))


class SmallCNN2(nn.Module):
    """ReLU6 (Clip 0..6), two branches joined by Concat, AveragePool with padding
    (count_include_pad=False), strided conv, Flatten of a 8x4x4 map into the FC."""

    def __init__(self, wb, ab, nc=10):
        super().__init__()
        self.qin = act(8)
        self.conv1 = QConv(3, 8, 3, 8, pad=1)
        self.a1 = act(ab)
        self.b1 = QConv(8, 8, 1, wb)
        self.ab1 = act(ab)
        self.b2 = QConv(8, 8, 3, wb, pad=1)
        self.ab2 = act(ab)
        self.acat = act(ab)
        self.apool = act(ab)
        self.conv3 = QConv(16, 8, 3, wb, stride=2, pad=1)
        self.a3 = act(ab)
        self.fc = QLinear(8 * 4 * 4, nc, 8)
        self.aout = act(8)

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu6(self.conv1(x)))
        b1 = self.ab1(F.relu6(self.b1(x)))
        b2 = self.ab2(F.relu(self.b2(x)))
        x = self.acat(torch.cat([b1, b2], 1))
        x = self.apool(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
        x = self.a3(F.relu(self.conv3(x)))
        x = self.a3.apply_only(torch.flatten(x, 1))
        return self.aout(self.fc(x))


class SmallCNN3(nn.Module):
    """BatchNormalization kept as a node after Conv (not folded before export), dilated conv,
    padded strided MaxPool, Conv without bias, residual Add, Reshape(-1, K), MatMul without bias
    whose weight is [K, N] quantized along axis 1. Dynamic batch."""

    def __init__(self, wb, ab, nc=10):
        super().__init__()
        self.qin = act(8)
        self.conv1 = QConv(3, 8, 3, 8, pad=1)
        self.a1 = act(ab)
        self.conv2 = QConv(8, 8, 3, wb, pad=2, dilation=2)
        self.a2 = act(ab)
        self.conv3 = QConv(8, 8, 1, wb, bn=False, bias=False)
        self.a3 = act(ab)
        self.a4 = act(ab)
        self.conv4 = QConv(8, 8, 3, wb, stride=2, pad=1)
        self.a5 = act(ab)
        self.fc = QLinear(8 * 4 * 4, nc, 8, matmul=True)
        self.aout = act(8)

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu(self.conv1(x)))
        x = self.a1.apply_only(F.max_pool2d(x, 3, 2, 1))
        y = self.a2(F.relu(self.conv2(x)))
        y = self.a3(self.conv3(y))
        x = self.a4(F.relu(x + y))
        x = self.a5(F.relu(self.conv4(x)))
        x = self.a5.apply_only(x.reshape(-1, 8 * 4 * 4))
        return self.aout(self.fc(x))


class SmallDetector(nn.Module):
    """A YOLOv8-style detector, tiny: SiLU convs (conv output fake-quantized at 8 bits, then
    SiLU = x * Sigmoid(x) into the layer's activation quantizer, as QAT flows that keep SiLU
    unfused give it), a C2f block (1x1 conv, channel Split in two halves, a 3x3 conv on the
    second, Concat of the three, 1x1 conv), a neck that upsamples the stride-8 map (Resize
    nearest x2, the quantizer passed through) and concatenates it with the stride-4 map, and a
    1x1 head whose first 4 channels (boxes) are sliced off raw and the rest (class scores) go
    through a Sigmoid, joined by Concat into the 8-bit output [N, 4 + nc, H/4, W/4].
    pytorch_style: the C2f split is torch.chunk and the output is flattened with
    out.view(out.size(0), out.size(1), -1) to [N, 4 + nc, H/4 * W/4], which torch.onnx.export
    writes as arithmetic on shapes (Shape -> Gather -> Add / Div / Mul -> Slice; Shape -> Gather
    -> Unsqueeze -> Concat -> Reshape), with a dynamic batch."""

    def __init__(self, wb, ab, nc=3, pytorch_style=False):
        super().__init__()
        self.pytorch_style = pytorch_style
        self.qin = act(8)
        self.convs = nn.ModuleDict()
        self.pre = nn.ModuleDict()
        self.post = nn.ModuleDict()

        def conv(name, cin, cout, k, stride=1, bits=wb):
            self.convs[name] = QConv(cin, cout, k, bits, stride=stride, pad=k // 2)
            self.pre[name] = act(8)
            self.post[name] = act(ab)

        conv("stem", 3, 16, 3, 2, bits=8)  # /2
        conv("down1", 16, 32, 3, 2)        # /4: P3
        conv("c2f_cv1", 32, 32, 1)
        conv("c2f_m", 16, 16, 3)
        conv("c2f_cv2", 48, 32, 1)
        conv("down2", 32, 64, 3, 2)        # /8: P4
        conv("neck", 96, 32, 1)
        self.acat = act(ab)
        self.aneck = act(ab)
        self.head = QConv(32, 4 + nc, 1, 8, bn=False, bias=True)
        self.ahead = act(8)
        self.acls = act(8)
        self.aout = act(8)

    def silu(self, name, x):
        y = self.pre[name](self.convs[name](x))
        return self.post[name](F.silu(y))

    def forward(self, x):
        x = self.qin(x)
        x = self.silu("stem", x)
        p3 = self.silu("down1", x)
        y = self.silu("c2f_cv1", p3)
        # Split with constant sizes (torch.chunk exports shape arithmetic feeding Slice). Split
        # and slices reuse their input's quantizer, as torch.ao FX does for them.
        q = self.post["c2f_cv1"]
        parts = torch.chunk(y, 2, 1) if self.pytorch_style else torch.split(y, [16, 16], dim=1)
        y0, y1 = (q.apply_only(t) for t in parts)
        m = self.silu("c2f_m", y1)
        y = self.acat(torch.cat([y0, y1, m], 1))
        p3 = self.silu("c2f_cv2", y)
        p4 = self.silu("down2", p3)
        up = self.post["down2"].apply_only(F.interpolate(p4, scale_factor=2, mode="nearest"))
        n = self.aneck(torch.cat([up, p3], 1))
        n = self.silu("neck", n)
        h = self.ahead(self.head(n))
        box = self.ahead.apply_only(h[:, :4])
        cls = self.acls(torch.sigmoid(self.ahead.apply_only(h[:, 4:])))
        out = self.aout(torch.cat([box, cls], 1))
        if self.pytorch_style:
            out = self.aout.apply_only(out.view(out.size(0), out.size(1), -1))
        return out


class TinyEncoder(nn.Module):
    """A pre-norm transformer encoder block on [N, T, D] tokens, 4-bit weights and 8-bit
    activations (wb / ab): LayerNormalization, Q / K / V projections (nn.Linear on rank 3: MatMul
    + bias Add), two heads split by view + transpose, scores Q K^T (MatMul of two activations;
    1 / sqrt(head dim) folded into the Q projection's weights, as deployments do), Softmax,
    P V, heads merged, output projection, residual Add, LayerNormalization, an MLP with GELU
    (erf), residual Add. Every op's output has its own quantizer except view / transpose, which
    reuse their input's (as torch.ao FX does); exported at opset 17 for LayerNormalization."""

    opset = 17

    def __init__(self, wb, ab, d=32, heads=2, ff=64):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.qin = act(8)
        self.ln1 = nn.LayerNorm(d)
        self.aln1 = act(ab)
        self.q, self.k, self.v = (QLinear(d, d, wb) for _ in range(3))
        with torch.no_grad():
            self.q.weight.mul_(self.dh ** -0.5)
            self.q.bias.mul_(self.dh ** -0.5)
        self.aq, self.ak, self.av = act(ab), act(ab), act(ab)
        self.ascore, self.aprob, self.aattn = act(ab), act(ab), act(ab)
        self.o = QLinear(d, d, wb)
        self.ao, self.ares1 = act(ab), act(ab)
        self.ln2 = nn.LayerNorm(d)
        self.aln2 = act(ab)
        self.ff1 = QLinear(d, ff, wb)
        self.aff1, self.agelu = act(8), act(ab)
        self.ff2 = QLinear(ff, d, wb)
        self.aff2 = act(ab)
        self.aout = act(8)
        with torch.no_grad():  # visible LayerNorm parameters (fresh ones are 1 and 0)
            for ln in (self.ln1, self.ln2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.uniform_(-0.3, 0.3)

    def split(self, x, q):
        n, t, _ = x.shape
        return q.apply_only(q.apply_only(x.view(n, t, self.heads, self.dh)).transpose(1, 2))

    def forward(self, x):
        x = self.qin(x)
        n, t, d = x.shape
        h = self.aln1(self.ln1(x))
        q = self.split(self.aq(self.q(h)), self.aq)
        k = self.split(self.ak(self.k(h)), self.ak)
        v = self.split(self.av(self.v(h)), self.av)
        s = self.ascore(q @ self.ak.apply_only(k.transpose(-2, -1)))
        p = self.aprob(torch.softmax(s, dim=-1))
        a = self.aattn(p @ v)
        a = self.aattn.apply_only(self.aattn.apply_only(a.transpose(1, 2)).reshape(n, t, d))
        x = self.ares1(x + self.ao(self.o(a)))
        h = self.aln2(self.ln2(x))
        h = self.agelu(F.gelu(self.aff1(self.ff1(h))))
        return self.aout(x + self.aff2(self.ff2(h)))


class DigitsCNN(nn.Module):
    def __init__(self, wb, ab, nc=10):
        super().__init__()
        # Pixels are k/16, k = 0..16: a fixed scale of 1/16 makes the input codes the pixel
        # values exactly (an observed scale would put some pixels on a rounding tie).
        self.qin = FakeQuant(8, fixed=(1.0 / 16, 0))
        self.c1 = QConv(1, 16, 3, 8, pad=1)
        self.a1 = act(ab)
        self.c2 = QConv(16, 16, 3, wb, pad=1)
        self.a2 = act(ab)
        self.c3 = QConv(16, 32, 3, wb, pad=1)
        self.a3 = act(ab)
        self.agap = act(ab)
        self.fc = QLinear(32, nc, 8)
        self.aout = act(8)

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu(self.c1(x)))
        x = self.a2(F.relu(self.c2(x)))
        x = self.a2.apply_only(F.max_pool2d(x, 2))
        x = self.a3(F.relu(self.c3(x)))
        x = self.agap(F.adaptive_avg_pool2d(x, 1))  # own quantizer: see SmallCNN
        x = self.agap.apply_only(torch.flatten(x, 1))
        return self.aout(self.fc(x))


class MaskedDigitsCNN(DigitsCNN):
    """DigitsCNN with fixed spatial masks on the inputs of c2 (8x8) and c3 (4x4): the same pixels
    zeroed in every channel (semi-structured activation sparsity, Grimaldi et al. 2023). The masks
    are buffers, so ONNX gets Mul(activation, constant [1, 1, H, W] of 0 / 1)."""

    def __init__(self, wb, ab, fraction, nc=10, seed=7):
        super().__init__(wb, ab, nc)
        g = torch.Generator().manual_seed(seed)

        def mask(h, w):
            m = torch.ones(h * w)
            m[torch.randperm(h * w, generator=g)[:round(fraction * h * w)]] = 0
            return m.reshape(1, 1, h, w)

        self.register_buffer("mask2", mask(8, 8))
        self.register_buffer("mask3", mask(4, 4))

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu(self.c1(x)))
        x = self.a2(F.relu(self.c2(x * self.mask2)))
        x = self.a2.apply_only(F.max_pool2d(x, 2))
        x = self.a3(F.relu(self.c3(x * self.mask3)))
        x = self.agap(F.adaptive_avg_pool2d(x, 1))
        x = self.agap.apply_only(torch.flatten(x, 1))
        return self.aout(self.fc(x))


class DigitsPointwiseCNN(nn.Module):
    """Digits CNN whose bulk is 1x1 convolutions and an FC wide enough for 1x4 block sparsity:
    conv 3x3 1->w, 1x1 w->w, depthwise 3x3 w, MaxPool, 1x1 w->w, GAP, FC w->10 with w = 128
    (32 blocks per output channel; at 64 the 90 % models lost ~8 % accuracy, mostly in the FC).
    The pruned digits models (export_sparse_digits) prune pw1, pw2 and fc."""

    PRUNED = ("pw1", "pw2", "fc")

    def __init__(self, wb, ab, nc=10, w=128):
        super().__init__()
        self.qin = FakeQuant(8, fixed=(1.0 / 16, 0))  # see DigitsCNN
        self.c1 = QConv(1, w, 3, 8, pad=1)
        self.a1 = act(ab)
        self.pw1 = QConv(w, w, 1, wb)
        self.a2 = act(ab)
        self.dw = QConv(w, w, 3, wb, pad=1, groups=w)
        self.a3 = act(ab)
        self.pw2 = QConv(w, w, 1, wb)
        self.a4 = act(ab)
        self.agap = act(ab)
        self.fc = QLinear(w, nc, 8)
        self.aout = act(8)

    def forward(self, x):
        x = self.qin(x)
        x = self.a1(F.relu(self.c1(x)))
        x = self.a2(F.relu(self.pw1(x)))
        x = self.a3(F.relu(self.dw(x)))
        x = self.a3.apply_only(F.max_pool2d(x, 2))
        x = self.a4(F.relu(self.pw2(x)))
        x = self.agap(F.adaptive_avg_pool2d(x, 1))  # own quantizer: see SmallCNN
        x = self.agap.apply_only(torch.flatten(x, 1))
        return self.aout(self.fc(x))


# ============================================================================ block pruning

PRUNE_BLOCK = 4  # 1x4 blocks: 4 consecutive input channels of one output channel


def _layer_weight(layer):
    """The float weight of a QConv (1x1, groups 1) or QLinear (not matmul) as [out, in]."""
    if isinstance(layer, QConv):
        c = layer.conv
        assert c.kernel_size == (1, 1) and c.groups == 1, "block pruning: 1x1 convolutions only"
        return c.weight
    assert isinstance(layer, QLinear) and not layer.matmul
    return layer.weight


@torch.no_grad()
def prune_blocks(layer, fraction):
    """Block-structured magnitude pruning of a 1x1 conv / FC layer: the weights [out, in] split
    into 1x4 blocks along the input channels; the round(fraction * blocks) blocks of smallest L2
    norm are zeroed layer-wide (ties by position, stable), except that every output channel keeps
    its largest block (an all-zero channel would get a degenerate weight scale). Sets the layer's
    fixed mask, which the forward pass applies before the weight quantizer, so pruned weights are
    exactly 0 in training and their quantized codes are exactly the zero point (0, symmetric).
    Returns the fraction of zero blocks."""
    w = _layer_weight(layer)
    o, i = w.shape[0], w.shape[1]
    assert i % PRUNE_BLOCK == 0, f"{i} input channels: not a multiple of {PRUNE_BLOCK}"
    nb = i // PRUNE_BLOCK
    norms = w.detach().reshape(o, nb, PRUNE_BLOCK).double().pow(2).sum(-1).numpy()
    keep = np.ones((o, nb), bool)
    protect = np.zeros((o, nb), bool)
    protect[np.arange(o), norms.argmax(1)] = True
    order = np.argsort(norms.reshape(-1), kind="stable")
    want = min(int(round(fraction * o * nb)), o * nb - o)
    n = 0
    for k in order:
        if n == want:
            break
        if not protect.flat[k]:
            keep.flat[k] = False
            n += 1
    mask = torch.from_numpy(np.repeat(keep, PRUNE_BLOCK, axis=1).astype(np.float32))
    mask = mask.reshape(w.shape[:2] + (1,) * (w.dim() - 2))
    w.mul_(mask)
    layer.mask = mask
    return 1.0 - keep.mean()


@torch.no_grad()
def apply_masks(model):
    """Pruned weights back to exactly 0 after an optimizer step (Adam's moments from before a
    block was pruned would move it)."""
    for m in model.modules():
        if isinstance(m, (QConv, QLinear)) and m.mask is not None:
            _weight(m).mul_(m.mask)


def _weight(m):
    return m.conv.weight if isinstance(m, QConv) else m.weight


@torch.no_grad()
def bake_masks(model):
    """Before export: the masks are already in the weights (pruned weights exactly 0, checked);
    drop them so the graph has no Mul."""
    for m in model.modules():
        if isinstance(m, (QConv, QLinear)) and m.mask is not None:
            w = m.conv.weight if isinstance(m, QConv) else m.weight
            assert bool((w[m.mask == 0] == 0).all()), "pruned weight moved off zero"
            m.mask = None


def block_sparsity(folded, layers):
    """{layer: {blocks, zero_blocks, fraction}} from a folded ONNX model: the integer weight codes
    of each layer's Conv / Gemm, a block zero when its 4 codes all equal the channel's zero
    point. Also returns {layer: (codes [out, in], zero points [out])}."""
    gr = Graph(folded)
    g = folded.graph
    producer = {o: n for n in g.node for o in n.output}
    stats, codes = {}, {}
    for n in g.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        layer = n.name.split("/")[1] if n.name.startswith("/") else ""
        if layer not in layers:
            continue
        dq = producer[n.input[1]]
        assert dq.op_type == "DequantizeLinear", (layer, dq.op_type)
        c = gr.const(dq.input[0]).astype(np.int64)
        zp = gr.const(dq.input[2]).astype(np.int64).reshape(-1)
        c = c.reshape(c.shape[0], -1)
        zero = (c == zp[:, None]).reshape(c.shape[0], -1, PRUNE_BLOCK).all(-1)
        stats[layer] = {"blocks": int(zero.size), "zero_blocks": int(zero.sum()),
                        "fraction": round(float(zero.mean()), 4)}
        codes[layer] = (c, zp)
    assert sorted(stats) == sorted(layers), stats.keys()
    return stats, codes


def check_pruned_codes(folded, model_masks):
    """Every pruned weight's code in the folded model is exactly its channel's zero point.
    model_masks: {layer: mask [out, in, ...]}. Returns the block sparsity stats."""
    stats, codes = block_sparsity(folded, list(model_masks))
    for layer, mask in model_masks.items():
        c, zp = codes[layer]
        pruned = mask.reshape(mask.shape[0], -1).numpy() == 0
        bad = (c != zp[:, None]) & pruned
        assert not bad.any(), f"{layer}: {int(bad.sum())} pruned weights off the zero point"
        frac = float(pruned.reshape(c.shape[0], -1, PRUNE_BLOCK).all(-1).mean())
        assert stats[layer]["fraction"] >= round(frac, 4), (layer, stats[layer], frac)
    return stats


def fold_all_bn(model):
    for m in model.modules():
        if isinstance(m, QConv):
            m.fold_bn()


def randomize_bn(model, seed):
    """Fresh BN layers are identities (mean 0, var 1, gamma 1, beta 0): give them statistics that
    make folding visible."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.25)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2 + 0.1)


# ============================================================================ ONNX export

_clip_style = {"empty_min": False}


def _q_clip_dq(g, x, scale, zero_point, axis, qmin, qmax):
    """QuantizeLinear -> Clip -> DequantizeLinear with 8-bit storage for any (qmin, qmax) inside
    it. PyTorch 1.13's own symbolic accepts only (0,255), (-128,127) and (0,127); for (0,127) it
    writes Clip(q, <empty>, 127). We do the same for every range, with an explicit min unless the
    model asks for PyTorch's empty-min style."""
    signed = qmin < 0
    to = onnx.TensorProto.INT8 if signed else onnx.TensorProto.UINT8
    zero_point = g.op("Cast", zero_point, to_i=to)
    kw = {} if axis is None else {"axis_i": axis}
    q = g.op("QuantizeLinear", x, scale, zero_point, **kw)
    if (qmin, qmax) not in ((-128, 127), (0, 255)):
        dt = torch.int8 if signed else torch.uint8
        hi = g.op("Constant", value_t=torch.tensor(qmax, dtype=dt))
        if not signed and _clip_style["empty_min"]:
            from torch.onnx import symbolic_opset9 as opset9
            q = g.op("Clip", q, opset9.unused(g), hi)
        else:
            lo = g.op("Constant", value_t=torch.tensor(qmin, dtype=dt))
            q = g.op("Clip", q, lo, hi)
    return g.op("DequantizeLinear", q, scale, zero_point, **kw)


def register_symbolics():
    from torch.onnx import symbolic_helper as sh

    @sh.parse_args("v", "v", "v", "i", "i")
    def per_tensor(g, x, scale, zero_point, qmin, qmax):
        return _q_clip_dq(g, x, scale, zero_point, None, qmin, qmax)

    @sh.parse_args("v", "v", "v", "i", "i", "i")
    def per_channel(g, x, scale, zero_point, axis, qmin, qmax):
        return _q_clip_dq(g, x, scale, zero_point, axis, qmin, qmax)

    torch.onnx.register_custom_op_symbolic("aten::fake_quantize_per_tensor_affine", per_tensor, 13)
    torch.onnx.register_custom_op_symbolic("aten::fake_quantize_per_channel_affine", per_channel, 13)


def export_qcdq(model, example, path, dynamic_batch, empty_min_clip):
    model.eval()
    set_observing(model, False)
    _clip_style["empty_min"] = empty_min_clip
    dyn = {"input": {0: "N"}, "output": {0: "N"}} if dynamic_batch else None
    with torch.no_grad():
        # Opset 17 where the model needs LayerNormalization (13 writes it out as ReduceMean ...).
        opset = getattr(model, "opset", 13)
        torch.onnx.export(model, example, path, opset_version=opset, do_constant_folding=True,
                          input_names=["input"], output_names=["output"], dynamic_axes=dyn)
    return onnx.load(path)


# ============================================================================ ONNX rewrites


class Graph:
    """Constants (initializers and Constant nodes) and consumers of an ONNX graph."""

    def __init__(self, model):
        self.model, self.g = model, model.graph
        self.inits = {t.name: t for t in self.g.initializer}
        self.cnodes = {n.output[0]: n for n in self.g.node if n.op_type == "Constant"}
        # torch 1.13 de-duplicates equal constants and hands them out again through Identity.
        self.ident = {n.output[0]: n.input[0] for n in self.g.node if n.op_type == "Identity"}
        self.users = collections.defaultdict(list)
        for n in self.g.node:
            for i in n.input:
                self.users[i].append(n)

    def const(self, name):
        while name in self.ident:
            name = self.ident[name]
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        if name in self.cnodes:
            return numpy_helper.to_array(self.cnodes[name].attribute[0].t)
        return None

    def qcdq_chains(self):
        """(Q, Clip or None, DQ) triples."""
        for q in self.g.node:
            if q.op_type != "QuantizeLinear":
                continue
            nxt = self.users[q.output[0]]
            clip = None
            if len(nxt) == 1 and nxt[0].op_type == "Clip":
                clip = nxt[0]
                nxt = self.users[clip.output[0]]
            if len(nxt) == 1 and nxt[0].op_type == "DequantizeLinear":
                yield q, clip, nxt[0]

    def clip_bounds(self, clip, zp_dtype):
        info = np.iinfo(zp_dtype)
        lo, hi = int(info.min), int(info.max)
        if clip is not None:
            if len(clip.input) > 1 and clip.input[1]:
                lo = int(self.const(clip.input[1]))
            if len(clip.input) > 2 and clip.input[2]:
                hi = int(self.const(clip.input[2]))
        return lo, hi


def prune(model):
    """Drop initializers, Constant / Identity nodes and value_info nobody reads any more."""
    g = model.graph
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node
                if n.op_type in ("Constant", "Identity") and n.output[0] not in used]
        for n in dead:
            g.node.remove(n)
        if not dead:
            break
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    produced = {o for n in g.node for o in n.output}
    for vi in [vi for vi in g.value_info if vi.name not in produced]:
        g.value_info.remove(vi)


def quantize_like_onnx(x, scale, zp, axis, lo, hi):
    """ONNX QuantizeLinear (float32 divide, round half to even, saturate) then Clip(lo, hi)."""
    if scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zp.astype(np.float32)
    return np.clip(q, lo, hi).astype(np.int64)


def pack_lsb_first(values, bits):
    v = np.asarray(values, np.int64).reshape(-1) & ((1 << bits) - 1)
    per = 8 // bits
    v = np.concatenate([v, np.zeros((-len(v)) % per, np.int64)]).reshape(-1, per)
    out = np.zeros(len(v), np.int64)
    for i in range(per):  # element 0 in the least-significant bits (ONNX INT4 / INT2 packing)
        out |= v[:, i] << (bits * i)
    return out.astype(np.uint8).tobytes()


def subbyte_tensor(name, values, dims, signed, bits):
    t = onnx.TensorProto()
    t.name = name
    t.data_type = SUBBYTE[(signed, bits)][0]
    t.dims.extend(list(dims))
    t.raw_data = pack_lsb_first(values, bits)
    return t


def native_bits(lo, hi):
    """Smallest sub-byte type holding [lo, hi], or None (stays 8-bit)."""
    for b in (2, 4):
        tlo, thi = qrange(b, lo < 0)
        if tlo <= lo and hi <= thi:
            return b
    return None


def rewrite(qcdq_model, form):
    """qcdq -> folded or native. Both fold constant weights: Q(+Clip) on a float initializer
    becomes an integer initializer feeding the DequantizeLinear. native also retypes every chain
    whose Clip range fits 4 or 2 bits to INT4/UINT4/INT2/UINT2 and drops its Clip. The bit width
    is taken from the Clip range the qcdq model declares, not from the values."""
    m = onnx.ModelProto()
    m.CopyFrom(qcdq_model)
    gr = Graph(m)
    g = m.graph
    opset, ir = 13, m.ir_version
    new_zp = {}  # (zp name, bits) -> packed zero-point initializer name

    def packed_zp(zp_name, zp, signed, bits):
        key = (zp_name, bits)
        if key not in new_zp:
            name = f"{zp_name}_{'int' if signed else 'uint'}{bits}"
            g.initializer.append(subbyte_tensor(name, zp, zp.shape, signed, bits))
            new_zp[key] = name
        return new_zp[key]

    for q, clip, dq in list(gr.qcdq_chains()):
        scale, zp = gr.const(q.input[1]), gr.const(q.input[2])
        lo, hi = gr.clip_bounds(clip, zp.dtype)
        signed = zp.dtype == np.int8
        bits = native_bits(lo, hi) if form == "native" else None
        w = gr.const(q.input[0])
        axis = next((a.i for a in q.attribute if a.name == "axis"), 1)
        if w is not None:  # a weight: fold
            codes = quantize_like_onnx(w, scale, zp, axis, lo, hi)
            name = q.input[0] + "_quantized"
            if bits is None:
                g.initializer.append(numpy_helper.from_array(codes.astype(zp.dtype), name))
            else:
                g.initializer.append(subbyte_tensor(name, codes, codes.shape, signed, bits))
                dq.input[2] = packed_zp(q.input[2], zp, signed, bits)
            dq.input[0] = name
            g.node.remove(q)
            if clip is not None:
                g.node.remove(clip)
        elif bits is not None:  # an activation in native form: retype, drop the Clip
            z = packed_zp(q.input[2], zp, signed, bits)
            q.input[2] = z
            dq.input[2] = z
            if clip is not None:
                dq.input[0] = q.output[0]
                g.node.remove(clip)
        if bits is not None:
            _, ops, irv = SUBBYTE[(signed, bits)]
            opset, ir = max(opset, ops), max(ir, irv)
    if form == "native":
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = max(o.version, opset)
        m.ir_version = ir
        # The exporter's value_info still says uint8 / int8 for retyped tensors.
        del g.value_info[:]
    prune(m)
    return m


def op_histogram(model):
    h = collections.Counter((n.domain + "::" if n.domain else "") + n.op_type
                            for n in model.graph.node)
    return dict(sorted(h.items(), key=lambda kv: (-kv[1], kv[0])))


def opsets(model):
    return {o.domain or "ai.onnx": o.version for o in model.opset_import}


def write_forms(model_dir, qcdq_model):
    """Writes the three forms; returns {form: ModelProto}."""
    out = {form: qcdq_model if form == "qcdq" else rewrite(qcdq_model, form) for form in FORMS}
    for form, m in out.items():
        onnx.save(m, os.path.join(model_dir, form + ".onnx"))
    return out


def write_f32(path, t):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.ascontiguousarray(t.detach().numpy() if torch.is_tensor(t) else t, dtype="<f4").tofile(path)


def make_manifest(name, model_name, wb, ab, input_rel, input_shape, torch_rel, out_shape, forms,
                  sample, extra=None):
    man = {"model": model_name, "wbits": wb, "abits": ab, "input": input_rel,
           "input_shape": list(input_shape), "torch_output": torch_rel,
           "output_shape": list(out_shape), "variants": {}}
    for form, m in forms.items():
        man["variants"][form] = {"file": form + ".onnx", "opset": opsets(m),
                                 "op_histogram": op_histogram(m),
                                 "ort_output": f"io/{sample}.{form}.ort.bin"}
    man.update(extra or {})
    return man


# ============================================================================ small random CNNs

SMALL_MODELS = [
    # dir, class, wbits, abits, kwargs, input shape, dynamic batch, PyTorch's empty-min Clip
    ("smallcnn_w2a2", SmallCNN, 2, 2, {}, (1, 3, 16, 16), False, False),
    ("smallcnn_w2a4", SmallCNN, 2, 4, {}, (1, 3, 16, 16), False, False),
    ("smallcnn_w4a4", SmallCNN, 4, 4, {}, (1, 3, 16, 16), False, False),
    ("smallcnn_w4a8", SmallCNN, 4, 8, {}, (1, 3, 16, 16), False, False),
    ("smallcnn_w8a8", SmallCNN, 8, 8, {}, (1, 3, 16, 16), False, False),
    ("smallcnn2_w4a4", SmallCNN2, 4, 4, {}, (4, 3, 16, 16), False, True),
    ("smallcnn3_w2a4", SmallCNN3, 2, 4, {}, (3, 3, 16, 16), True, True),
    ("detector_w4a4", SmallDetector, 4, 4, {}, (1, 3, 32, 32), False, False),
    ("detector2_w4a4", SmallDetector, 4, 4, {"pytorch_style": True}, (2, 3, 32, 32), True,
     False),
    ("encoder_w4a8", TinyEncoder, 4, 8, {}, (1, 8, 32), False, False),
]


def top2_margin_steps(y, step):
    """Smallest (top1 - top2) gap over rows, in output quantization steps."""
    s = np.sort(y.reshape(y.shape[0], -1), axis=1)
    return float(np.min(s[:, -1] - s[:, -2]) / step)


def binarize(model, layers):
    """1-bit bipolar weights on `layers` (QConv attribute names): W <- alpha_o * sign(W_o) with
    alpha_o = mean|W_o| and sign(0) = +1 (as BipolarQuant). The layers keep their 2-bit ternary
    weight quantizer, whose scale then observes max|W_o| = alpha_o exactly, so the fake-quant
    codes are +-1 and the exported scale is alpha. Returns {layer: (float W, alpha)}."""
    out = {}
    with torch.no_grad():
        for name in layers:
            c = getattr(model, name).conv
            w = c.weight.detach().clone()
            assert not bool((w == 0).any()), f"{name}: exact zero weight (sign would be 0)"
            alpha = w.abs().mean(dim=(1, 2, 3))
            c.weight.copy_(torch.where(w >= 0, 1.0, -1.0) * alpha.reshape(-1, 1, 1, 1))
            out[name] = (w.numpy().astype(np.float32), alpha.numpy().astype(np.float32))
    return out


def build_small(spec, binary=(), pruned=(), sparsity=0.0):
    name, cls, wb, ab, kw, shape, dyn, empty_min = spec
    seed = sum(map(ord, name))
    torch.manual_seed(seed)
    model = cls(wb, ab, **kw)
    randomize_bn(model, seed + 1)
    model.eval()
    if cls is not SmallCNN3:
        fold_all_bn(model)
    model.binary_float = binarize(model, binary)
    for layer in pruned:  # random weights: block magnitude pruning, no training
        prune_blocks(getattr(model, layer), sparsity)
    # Calibrate the quantizers on random images (BN in eval mode: running statistics).
    set_observing(model, True)
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for _ in range(8):
            model(torch.randn(8, *shape[1:], generator=g))
    set_observing(model, False)
    # A sample whose top-1 is not a near tie: an integer runtime may move a logit by a step.
    step = float(model.aout.scale[0])
    best = None
    for k in range(50):
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed + 100 + k))
        with torch.no_grad():
            y = model(x)
        margin = top2_margin_steps(y.numpy(), step)
        if best is None or margin > best[0]:
            best = (margin, x, y)
        if margin >= 3:
            break
    return model, best[1], best[2], best[0]


def export_small(spec, out_root, tmp):
    name, cls, wb, ab, kw, shape, dyn, empty_min = spec
    model, x, y, margin = build_small(spec)
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "io"), exist_ok=True)
    write_f32(os.path.join(d, "io/sample0.input.bin"), x)
    write_f32(os.path.join(d, "io/sample0.torch.bin"), y)
    q = export_qcdq(model, torch.zeros(*shape), os.path.join(tmp, name + ".onnx"), dyn, empty_min)
    forms = write_forms(d, q)
    man = make_manifest(name, cls.__name__.lower(), wb, ab, "io/sample0.input.bin", shape,
                        "io/sample0.torch.bin", y.shape, forms, "sample0")
    print(f"{name}: input {list(shape)}{' (dynamic N)' if dyn else ''} output {list(y.shape)} "
          f"top1-top2 margin {margin:.1f} steps", flush=True)
    return d, man


# ============================================================================ pruned random CNNs

# dir, SmallCNN spec, pruned layers (1x1 conv / FC), target fraction of zero 1x4 blocks. Width 64
# (not 16): 16 blocks per output channel, so 90 % leaves every channel a block.
PRUNED_SMALL_MODELS = [
    ("smallcnn_w4a4_sp90", ("smallcnn_w4a4_sp90", SmallCNN, 4, 4, {"width": 64}, (1, 3, 16, 16),
                            False, False), ("pw", "fc"), 0.9),
]


def pruned_manifest_extra(layers, target, stats):
    return {"pruned_layers": list(layers), "target_sparsity": target, "block_sparsity": stats,
            "sparsity_note": "1x4 blocks (4 consecutive input channels of one output channel) "
                             "of the 1x1 conv / FC weights; fraction = all-zero blocks (codes "
                             "equal to the zero point) in the folded weights"}


def export_pruned_small(entry, out_root, tmp):
    name, spec, layers, target = entry
    _, cls, wb, ab, kw, shape, dyn, empty_min = spec
    model, x, y, margin = build_small(spec, pruned=layers, sparsity=target)
    masks = {layer: getattr(model, layer).mask for layer in layers}
    bake_masks(model)
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "io"), exist_ok=True)
    write_f32(os.path.join(d, "io/sample0.input.bin"), x)
    write_f32(os.path.join(d, "io/sample0.torch.bin"), y)
    q = export_qcdq(model, torch.zeros(*shape), os.path.join(tmp, name + ".onnx"), dyn, empty_min)
    forms = write_forms(d, q)
    stats = check_pruned_codes(forms["folded"], masks)
    man = make_manifest(name, cls.__name__.lower(), wb, ab, "io/sample0.input.bin", shape,
                        "io/sample0.torch.bin", y.shape, forms, "sample0",
                        pruned_manifest_extra(layers, target, stats))
    print(f"{name}: input {list(shape)} output {list(y.shape)} top1-top2 margin {margin:.1f} steps"
          f", zero 1x4 blocks " + ", ".join(f"{k} {v['fraction'] * 100:.1f}%"
                                           for k, v in stats.items()), flush=True)
    return d, man


# ============================================================================ 1-bit weights

# dir, SmallCNN spec (the W2A2 settings), layers with 1-bit bipolar weights. The first conv and the
# FC stay 8-bit as in every smallcnn model.
BINARY_MODELS = [
    ("smallcnn_w1a2", ("smallcnn_w1a2", SmallCNN, 2, 2, {}, (1, 3, 16, 16), False, False),
     ("conv2", "dw", "pw")),
]
BINARY_FORMS = ("binary_folded", "binary_qonnx", "binary_sign")
QONNX_DOMAIN = "qonnx.custom_op.general"


def binary_dqs(model, layers):
    """{layer: DequantizeLinear node} of the 1-bit weights of a folded model (the DQ feeding input 1
    of the layer's Conv, its codes all +-1)."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    out = {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        layer = n.name.split("/")[1] if n.name.startswith("/") else ""
        if layer not in layers:
            continue
        dq = producer[n.input[1]]
        codes = numpy_helper.to_array(inits[dq.input[0]])
        assert dq.op_type == "DequantizeLinear" and np.all(np.abs(codes) == 1), layer
        out[layer] = dq
    assert sorted(out) == sorted(layers), out.keys()
    return out


def binary_form(folded, floats, form):
    """binary_folded: the folded model as is (int8 codes +-1 -> DequantizeLinear, scale alpha per
    output channel, zero point 0). binary_qonnx: each 1-bit weight DequantizeLinear replaced by
    QONNX BipolarQuant(W, alpha[C,1,1,1]). binary_sign: by Mul(Sign(W), alpha[C,1,1,1]), the
    graph torch.onnx.export writes for `torch.sign(w) * alpha` without constant folding. W is the
    layer's float weight (no exact zeros: its signs are the codes), alpha the folded scale."""
    m = onnx.ModelProto()
    m.CopyFrom(folded)
    if form == "binary_folded":
        return m
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    for layer, dq in binary_dqs(m, floats).items():
        w, _ = floats[layer]
        scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float32)
        codes = numpy_helper.to_array(inits[dq.input[0]])
        assert np.array_equal(np.where(w >= 0, 1, -1), codes), layer
        wname = f"{layer}.conv.weight"
        g.initializer.append(numpy_helper.from_array(w, wname))
        pos = list(g.node).index(dq)
        if form == "binary_qonnx":
            sname = wname + "_bscale"
            g.initializer.append(numpy_helper.from_array(scale.reshape(-1, 1, 1, 1), sname))
            new = [onnx.helper.make_node("BipolarQuant", [wname, sname], [dq.output[0]],
                                         name=wname + "_BipolarQuant", domain=QONNX_DOMAIN)]
        else:
            aname = f"{layer}.alpha"
            g.initializer.append(numpy_helper.from_array(scale.reshape(-1, 1, 1, 1), aname))
            sign_out = f"/{layer}/Sign_output_0"
            new = [onnx.helper.make_node("Sign", [wname], [sign_out], name=f"/{layer}/Sign"),
                   onnx.helper.make_node("Mul", [sign_out, aname], [dq.output[0]],
                                         name=f"/{layer}/Mul")]
        g.node.remove(dq)
        for k, n in enumerate(new):
            g.node.insert(pos + k, n)
    if form == "binary_qonnx":
        m.opset_import.append(onnx.helper.make_opsetid(QONNX_DOMAIN, 1))
    prune(m)
    return m


def export_binary(entry, out_root, tmp):
    name, spec, layers = entry
    _, cls, wb, ab, kw, shape, dyn, empty_min = spec
    model, x, y, margin = build_small(spec, layers)
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "io"), exist_ok=True)
    write_f32(os.path.join(d, "io/sample0.input.bin"), x)
    write_f32(os.path.join(d, "io/sample0.torch.bin"), y)
    q = export_qcdq(model, torch.zeros(*shape), os.path.join(tmp, name + ".onnx"), dyn, empty_min)
    folded = rewrite(q, "folded")
    forms = {f: binary_form(folded, model.binary_float, f) for f in BINARY_FORMS}
    for form, m in forms.items():
        onnx.save(m, os.path.join(d, form + ".onnx"))
    man = make_manifest(name, cls.__name__.lower(), 1, ab, "io/sample0.input.bin", shape,
                        "io/sample0.torch.bin", y.shape, forms, "sample0",
                        {"binary_layers": list(layers),
                         "note": "1-bit bipolar weights (alpha_o * sign(W_o), alpha_o = mean|W_o|) "
                                 "on the inner conv / depthwise / pointwise layers; ONNX Runtime "
                                 "cannot run binary_qonnx, whose reference is the binary_folded "
                                 "output (the forms carry the same numbers)"})
    # ONNX Runtime has no QONNX ops: the QONNX form's reference is the folded form's output.
    man["variants"]["binary_qonnx"]["ort_output"] = "io/sample0.binary_folded.ort.bin"
    man["variants"]["binary_qonnx"]["ort_output_form"] = "binary_folded"
    print(f"{name}: input {list(shape)} output {list(y.shape)} top1-top2 margin {margin:.1f} steps"
          f", 1-bit layers {', '.join(layers)}", flush=True)
    return d, man


# ============================================================================ digits


def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    X = (d.images.astype(np.float32) / 16.0)[:, None]  # N x 1 x 8 x 8, k/16 in [0, 1]
    y = d.target.astype(np.int64)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=360, random_state=0, stratify=y)
    return (torch.from_numpy(Xtr), torch.from_numpy(ytr), torch.from_numpy(Xte),
            torch.from_numpy(yte))


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def train(model, X, y, epochs, lr, seed, on_epoch=None):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        if on_epoch:
            on_epoch(ep)
        model.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 32):
            idx = perm[i:i + 32]
            xb = X[idx] + 0.05 * torch.randn(X[idx].shape, generator=g)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            apply_masks(model)
        sched.step()


def write_digits_common(out_root, Xte, yte):
    common = os.path.join(out_root, "digits_common")
    os.makedirs(common, exist_ok=True)
    write_f32(os.path.join(common, "test.input.bin"), Xte)
    yte.numpy().astype(np.uint8).tofile(os.path.join(common, "labels.u8"))


def calibrate_and_qat(m, Xtr, ytr, Xte, yte, qat_epochs):
    """PTQ: calibrate the quantizers on training images (accuracy without training), then QAT
    with the ranges frozen for the last 40 % of the epochs. Returns (ptq, qat) test accuracies."""
    set_observing(m, True)
    with torch.no_grad():
        for i in range(0, 512, 64):
            m(Xtr[i:i + 64])
    ptq = accuracy(m, Xte, yte)

    def on_epoch(ep):
        if ep == int(qat_epochs * 0.6):
            set_observing(m, False)

    train(m, Xtr, ytr, qat_epochs, 1e-3, seed=2, on_epoch=on_epoch)
    set_observing(m, False)
    return ptq, accuracy(m, Xte, yte)


def train_float_digits(make, Xtr, ytr, epochs):
    """The float network `make()` builds, trained with the quantizers off (seeded as every digits
    export)."""
    torch.manual_seed(0)
    fmodel = make()
    set_fake_quant(fmodel, False)
    set_observing(fmodel, False)
    train(fmodel, Xtr, ytr, epochs, 1e-2, seed=1)
    return fmodel


def write_digits_model(m, name, Xte, out_root, tmp):
    """PyTorch outputs on the test images and the ONNX forms of a digits model; returns its
    directory, forms and output."""
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, "io"), exist_ok=True)
    with torch.no_grad():
        y = m(Xte)
    write_f32(os.path.join(d, "io/test.torch.bin"), y)
    q = export_qcdq(m, Xte[:1], os.path.join(tmp, name + ".onnx"), True, True)
    return d, write_forms(d, q), y


def export_digits(configs, out_root, tmp, epochs, qat_epochs):
    Xtr, ytr, Xte, yte = digits_data()
    write_digits_common(out_root, Xte, yte)

    t0 = time.time()
    fmodel = train_float_digits(lambda: DigitsCNN(8, 8), Xtr, ytr, epochs)
    facc = accuracy(fmodel, Xte, yte)
    print(f"digits float: test accuracy {facc * 100:.2f}% (train {len(Xtr)}, test {len(Xte)}, "
          f"{time.time() - t0:.0f}s)", flush=True)

    results = []
    for cfg in configs:
        wb, ab = int(cfg[1:cfg.index("a")]), int(cfg[cfg.index("a") + 1:])
        t1 = time.time()
        torch.manual_seed(0)
        m = DigitsCNN(wb, ab)
        m.load_state_dict(fmodel.state_dict())
        m.eval()
        fold_all_bn(m)
        ptq, qat = calibrate_and_qat(m, Xtr, ytr, Xte, yte, qat_epochs)
        name = f"digits_{cfg}"
        print(f"{name}: PTQ {ptq * 100:.2f}% -> QAT {qat * 100:.2f}% ({time.time() - t1:.0f}s)",
              flush=True)
        d, forms, y = write_digits_model(m, name, Xte, out_root, tmp)
        man = make_manifest(name, "digits_cnn", wb, ab, "../digits_common/test.input.bin",
                            Xte.shape, "io/test.torch.bin", y.shape, forms, "test",
                            {"labels": "../digits_common/labels.u8", "float_acc": facc,
                             "qat_acc": qat, "ptq_acc": ptq})
        results.append((d, man))
    return results


def export_masked_digits(configs, out_root, tmp, epochs, qat_epochs):
    """MaskedDigitsCNN (wXaY_maskNN: NN % of the pixels masked): float training with the masks in
    place (fine-tuning from scratch of a masked network), BN folded, then PTQ + QAT as
    export_digits."""
    Xtr, ytr, Xte, yte = digits_data()
    write_digits_common(out_root, Xte, yte)
    results = []
    for cfg in configs:
        wa, frac = cfg.split("_mask")
        wb, ab, fraction = int(wa[1:wa.index("a")]), int(wa[wa.index("a") + 1:]), int(frac) / 100
        t1 = time.time()
        fmodel = train_float_digits(lambda: MaskedDigitsCNN(8, 8, fraction), Xtr, ytr, epochs)
        facc = accuracy(fmodel, Xte, yte)
        torch.manual_seed(0)
        m = MaskedDigitsCNN(wb, ab, fraction)
        m.load_state_dict(fmodel.state_dict())
        m.eval()
        fold_all_bn(m)
        ptq, qat = calibrate_and_qat(m, Xtr, ytr, Xte, yte, qat_epochs)
        name = f"digits_{cfg}"
        print(f"{name}: masked float {facc * 100:.2f}%, PTQ {ptq * 100:.2f}% -> QAT "
              f"{qat * 100:.2f}% ({time.time() - t1:.0f}s)", flush=True)
        d, forms, y = write_digits_model(m, name, Xte, out_root, tmp)
        masked = {k: int((getattr(m, k) == 0).sum()) for k in ("mask2", "mask3")}
        man = make_manifest(name, "masked_digits_cnn", wb, ab, "../digits_common/test.input.bin",
                            Xte.shape, "io/test.torch.bin", y.shape, forms, "test",
                            {"labels": "../digits_common/labels.u8", "float_acc": facc,
                             "qat_acc": qat, "ptq_acc": ptq, "masked_pixels": masked})
        results.append((d, man))
    return results


def parse_sparse_cfg(cfg):
    """'w4a4_sp90' -> (4, 4, 0.9)."""
    wa, sp = cfg.split("_sp")
    return int(wa[1:wa.index("a")]), int(wa[wa.index("a") + 1:]), int(sp) / 100


def export_sparse_digits(configs, out_root, tmp, epochs, qat_epochs):
    """DigitsPointwiseCNN: float training, BN folded, gradual block magnitude pruning of the
    1x1 convs and the FC (prune_blocks; cubic schedule over the first 2/3 of `epochs` float
    fine-tuning epochs, masks only grow), then QAT with the masks fixed (ranges frozen for the last
    40 %, as export_digits)."""
    Xtr, ytr, Xte, yte = digits_data()
    write_digits_common(out_root, Xte, yte)
    t0 = time.time()
    fmodel = train_float_digits(lambda: DigitsPointwiseCNN(8, 8), Xtr, ytr, epochs)
    facc = accuracy(fmodel, Xte, yte)
    print(f"digits pointwise float: test accuracy {facc * 100:.2f}% ({time.time() - t0:.0f}s)",
          flush=True)
    layers = DigitsPointwiseCNN.PRUNED
    results = []
    for cfg in configs:
        wb, ab, target = parse_sparse_cfg(cfg)
        t1 = time.time()
        torch.manual_seed(0)
        m = DigitsPointwiseCNN(wb, ab)
        m.load_state_dict(fmodel.state_dict())
        m.eval()
        fold_all_bn(m)
        set_fake_quant(m, False)
        set_observing(m, False)
        ramp = max(1, (2 * epochs) // 3)

        def prune_epoch(ep):
            if ep < ramp:
                frac = target * (1 - (1 - (ep + 1) / ramp) ** 3)
                for layer in layers:
                    prune_blocks(getattr(m, layer), frac)

        train(m, Xtr, ytr, epochs, 3e-3, seed=3, on_epoch=prune_epoch)
        pruned_float = accuracy(m, Xte, yte)
        set_fake_quant(m, True)
        ptq, qat = calibrate_and_qat(m, Xtr, ytr, Xte, yte, qat_epochs)
        name = f"digits_{cfg}"
        print(f"{name}: pruned float {pruned_float * 100:.2f}%, PTQ {ptq * 100:.2f}% -> QAT "
              f"{qat * 100:.2f}% ({time.time() - t1:.0f}s)", flush=True)
        masks = {layer: getattr(m, layer).mask for layer in layers}
        bake_masks(m)
        d, forms, y = write_digits_model(m, name, Xte, out_root, tmp)
        stats = check_pruned_codes(forms["folded"], masks)
        print(f"{name}: zero 1x4 blocks " + ", ".join(f"{k} {v['fraction'] * 100:.1f}%"
                                                     for k, v in stats.items()), flush=True)
        extra = {"labels": "../digits_common/labels.u8", "float_acc": facc,
                 "pruned_float_acc": pruned_float, "qat_acc": qat, "ptq_acc": ptq}
        extra.update(pruned_manifest_extra(layers, target, stats))
        man = make_manifest(name, "digits_pointwise_cnn", wb, ab,
                            "../digits_common/test.input.bin", Xte.shape, "io/test.torch.bin",
                            y.shape, forms, "test", extra)
        results.append((d, man))
    return results


# ============================================================================ ONNX Runtime


def run_ort(ort_dir, entries):
    """Runs every form of every model in onnxruntime-node with graph optimizations disabled."""
    jobs = []
    for d, man in entries:
        for form, v in man["variants"].items():
            if "ort_output_form" in v:  # another form's output (ORT cannot run this one)
                continue
            jobs.append({"model": os.path.join(d, v["file"]),
                         "input": os.path.normpath(os.path.join(d, man["input"])),
                         "shape": man["input_shape"],
                         "output": os.path.join(d, v["ort_output"])})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
    try:
        env = dict(os.environ, ORT_DIR=ort_dir)
        subprocess.run(["node", os.path.join(REPO, "tools/ort-reference.js"), f.name], check=True,
                       env=env)
    finally:
        os.unlink(f.name)


def read_f32(path, shape):
    return np.fromfile(path, dtype="<f4").reshape(shape)


def summarize(entries):
    """ORT (each form) against PyTorch: top-1 agreement, max |diff| in output steps, correlation;
    digits accuracy. Also checks the forms give ORT the same numbers. Returns False on failure."""
    ok = True
    print("\nONNX Runtime (optimizations disabled) vs PyTorch")
    print(f"{'model':22} {'form':7} {'top1':>9} {'max|d|':>9} {'steps':>6} {'corr':>7} "
          f"{'acc ort':>8} {'acc torch':>9}")
    for d, man in entries:
        name = os.path.basename(d)
        shape = man["output_shape"]
        ref = read_f32(os.path.join(d, man["torch_output"]), shape)
        labels = None
        if "labels" in man:
            labels = np.fromfile(os.path.normpath(os.path.join(d, man["labels"])), np.uint8)
        vals = np.unique(ref)
        step = float(np.min(np.diff(vals))) if len(vals) > 1 else 1.0
        outs = {}
        for form, v in man["variants"].items():
            out = read_f32(os.path.join(d, v["ort_output"]), shape)
            outs[form] = out
            top1 = float(np.mean(out.argmax(-1) == ref.argmax(-1)))
            diff = float(np.max(np.abs(out - ref)))
            corr = float(np.corrcoef(out.ravel(), ref.ravel())[0, 1])
            acc = f"{np.mean(out.argmax(-1) == labels) * 100:7.2f}%" if labels is not None else ""
            tacc = f"{np.mean(ref.argmax(-1) == labels) * 100:8.2f}%" if labels is not None else ""
            print(f"{name:22} {form:7} {top1 * 100:8.2f}% {diff:9.4f} {diff / step:6.1f} "
                  f"{corr:7.4f} {acc:>8} {tacc:>9}")
            if top1 < 0.98 or corr < 0.98:
                ok = False
                print(f"  FAIL: {name} {form} is further from PyTorch than allowed")
        base_form = "qcdq" if "qcdq" in outs else next(iter(outs))
        base = outs[base_form]
        for form, out in outs.items():
            if not np.array_equal(out, base):
                ok = False
                print(f"  FAIL: {name}: ORT gives {form} different numbers from {base_form}")
    return ok


# ============================================================================ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data"))
    ap.add_argument("--epochs", type=int, default=30, help="digits float training epochs")
    ap.add_argument("--qat-epochs", type=int, default=30, help="digits QAT epochs")
    ap.add_argument("--digits", default="w2a4,w2a2,w4a4")
    ap.add_argument("--sparse-digits", default="w4a4_sp70,w4a4_sp90",
                    help="pruned digits models, wXaY_spNN (NN %% zero 1x4 blocks)")
    ap.add_argument("--masked-digits", default="w4a4_mask30",
                    help="digits models with fixed spatial activation masks, wXaY_maskNN")
    ap.add_argument("--only", default="", help="comma list of model dirs (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(1)  # bit-reproducible training
    torch.use_deterministic_algorithms(True)
    register_symbolics()
    only = set(filter(None, a.only.split(",")))
    os.makedirs(a.out, exist_ok=True)

    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in SMALL_MODELS:
            if not only or spec[0] in only:
                entries.append(export_small(spec, a.out, tmp))
        for entry in BINARY_MODELS:
            if not only or entry[0] in only:
                entries.append(export_binary(entry, a.out, tmp))
        cfgs = [c for c in a.digits.split(",") if not only or f"digits_{c}" in only]
        if cfgs:
            entries += export_digits(cfgs, a.out, tmp, a.epochs, a.qat_epochs)
        for entry in PRUNED_SMALL_MODELS:
            if not only or entry[0] in only:
                entries.append(export_pruned_small(entry, a.out, tmp))
        cfgs = [c for c in a.sparse_digits.split(",") if c and (not only or f"digits_{c}" in only)]
        if cfgs:
            entries += export_sparse_digits(cfgs, a.out, tmp, a.epochs, a.qat_epochs)
        cfgs = [c for c in a.masked_digits.split(",") if c and (not only or f"digits_{c}" in only)]
        if cfgs:
            entries += export_masked_digits(cfgs, a.out, tmp, a.epochs, a.qat_epochs)

    ort_dir = os.environ.get("ORT_DIR")
    if ort_dir:
        run_ort(ort_dir, entries)
    else:
        print("\nORT_DIR is not set: no ONNX Runtime outputs; removing stale ones", flush=True)
        for d, man in entries:
            for v in man["variants"].values():
                v.pop("ort_output_form", None)
                p = os.path.join(d, v.pop("ort_output"))
                if os.path.exists(p):
                    os.remove(p)
    for d, man in entries:
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(man, f, indent=1)
            f.write("\n")
    index = sorted(n for n in os.listdir(a.out)
                   if os.path.exists(os.path.join(a.out, n, "manifest.json")))
    with open(os.path.join(a.out, "manifest-index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    ok = summarize(entries) if ort_dir else True
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(a.out) for f in fs)
    print(f"\n{len(entries)} models written to {a.out} ({total / 1024:.0f} KiB in total)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
