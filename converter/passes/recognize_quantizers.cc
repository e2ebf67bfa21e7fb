// Recognises the three ONNX spellings of one quantized tensor and infers its bit width:
//   QCDQ:   float  -> QuantizeLinear -> Clip(qmin, qmax) -> DequantizeLinear
//   folded: int8/uint8 initializer   -> DequantizeLinear     (activations as QCDQ)
//   native: INT4/UINT4/INT2/UINT2 initializer or zero point -> DequantizeLinear (no Clip)
// Every form ends as the same QuantInfo: the rules below depend on the codes and the declared
// ranges only, never on which form spelled them.
#include <algorithm>
#include <cmath>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Smallest width holding [lo, hi] with the given signedness (signed: at least 2 bits).
int WidthFor(int64_t lo, int64_t hi, bool is_signed) {
  for (int b = is_signed ? 2 : 1; b <= 62; b++) {
    const int64_t tlo = is_signed ? -(int64_t(1) << (b - 1)) : 0;
    const int64_t thi = is_signed ? (int64_t(1) << (b - 1)) - 1 : (int64_t(1) << b) - 1;
    if (lo >= tlo && hi <= thi) return b;
  }
  return 63;
}

struct Params {
  std::vector<float> scale;
  std::vector<int64_t> zp;  // same length as scale
  int zp_type = kUint8;
  int axis = -1;  // normalized, -1 = per tensor
};

// Reads the scale / zero point / axis of a QuantizeLinear or DequantizeLinear. `rank` is the
// rank of the quantized value when known (-1 otherwise) for normalizing a negative axis.
bool ReadParams(const Graph& g, const Node& n, int rank, Params* p, Diagnostics* diag) {
  const Const* s = g.FindConst(n.Input(1));
  if (!s || s->type != kFloat) return false;  // CheckSupported reported it
  p->scale = s->f;
  if (p->scale.empty()) {
    diag->AddNode(n, "the scale '" + n.Input(1) + "' is empty");
    return false;
  }
  for (float v : p->scale)
    if (!(std::isfinite(v) && v > 0)) {
      diag->AddNode(n, "the scale '" + n.Input(1) + "' holds " + std::to_string(v) +
                           "; scales must be finite and > 0");
      return false;
    }
  if (!n.Input(2).empty()) {
    const Const* z = g.FindConst(n.Input(2));
    if (!z) return false;
    p->zp_type = z->type;
    p->zp = z->i;
    if (z->type == kFloat) return false;
  } else {
    p->zp_type = int(n.AttrInt("output_dtype", kUint8));
    p->zp.assign(p->scale.size(), 0);
  }
  if (p->zp.size() != p->scale.size()) {
    if (p->zp.size() == 1) {
      p->zp.assign(p->scale.size(), p->zp[0]);
    } else {
      diag->AddNode(n, "scale and zero point have different lengths");
      return false;
    }
  }
  // PyTorch writes per-tensor parameters with shape [1]: a single value is per tensor.
  if (p->scale.size() == 1) {
    p->axis = -1;
  } else {
    int64_t axis = n.AttrInt("axis", 1);
    if (axis < 0 && rank > 0) axis += rank;
    p->axis = int(axis);
  }
  return true;
}

bool SameParams(const Params& a, const Params& b) {
  return a.scale == b.scale && a.zp == b.zp && a.axis == b.axis && a.zp_type == b.zp_type;
}

// Bounds of an integer Clip after a QuantizeLinear (opset >= 11 inputs, or older attributes).
bool ClipBounds(const Graph& g, const Node& c, double* lo, double* hi, Diagnostics* diag) {
  *lo = -kInf;
  *hi = kInf;
  if (c.HasAttr("min")) *lo = c.AttrFloat("min", -kInf);
  if (c.HasAttr("max")) *hi = c.AttrFloat("max", kInf);
  for (int k = 1; k <= 2; k++) {
    const std::string& in = c.Input(size_t(k));
    if (in.empty()) continue;  // PyTorch writes Clip(x, "", max)
    const Const* b = g.FindConst(in);
    if (!b || b->size() != 1) {
      diag->AddNode(c, "the Clip bound '" + in + "' must be a constant scalar");
      return false;
    }
    (k == 1 ? *lo : *hi) = b->at(0);
  }
  return true;
}

// Fills bits / encoding / qmin / qmax of a weight from its signedness and its codes (zero points
// included, so they stay representable). The width is the range the codes actually use, never
// more than the form declares (the codes lie inside the Clip bounds or the declared type): so a
// QCDQ Clip(-7, 7), an int8 initializer and an INT4 tensor holding the same codes all give the
// same crumb tensor, even when a layer's codes never reach its declared bounds.
void SetWeightRange(QuantInfo* q, bool is_signed, const std::vector<int64_t>& zero_points) {
  // Binary weights (a trainer's sign(), folded to +-1 codes with zero point 0) are bipolar 1-bit:
  // code 0 means -1 and code 1 means +1 (lower.cc rewrites the codes). Ternary weights that
  // happen to hold no 0 are binary by value, so every form of a model agrees.
  bool binary = is_signed && !q->codes.empty();
  for (int64_t c : q->codes) binary = binary && (c == -1 || c == 1);
  for (int64_t z : zero_points) binary = binary && z == 0;
  if (binary) {
    q->bits = 1;
    q->encoding = Encoding::kBipolar;
    q->qmin = 0;
    q->qmax = 1;
    return;
  }
  int64_t lo = 0, hi = 0;
  for (int64_t c : q->codes) lo = std::min(lo, c), hi = std::max(hi, c);
  for (int64_t z : zero_points) lo = std::min(lo, z), hi = std::max(hi, z);
  const int b = WidthFor(lo, hi, is_signed);
  q->bits = b;
  if (!is_signed) {
    q->encoding = Encoding::kUnsigned;
    q->qmin = 0;
    q->qmax = (int64_t(1) << b) - 1;
    return;
  }
  const int64_t full_min = -(int64_t(1) << (b - 1));
  bool narrow = true;
  // A zero point at the full minimum needs it too (a TERNARY tensor could not hold it).
  for (int64_t c : q->codes)
    if (c == full_min) narrow = false;
  for (int64_t z : zero_points)
    if (z == full_min) narrow = false;
  q->qmin = narrow ? full_min + 1 : full_min;
  q->qmax = (int64_t(1) << (b - 1)) - 1;
  q->encoding = (narrow && b == 2) ? Encoding::kTernary : Encoding::kSigned;
}

// Codes and zero points that together span more than 8 bits (e.g. int8 codes with a zero point
// outside int8) have no crumb tensor: a problem, not a file the runtime would refuse.
bool WeightFits(const QuantInfo& q, const Node& n, Diagnostics* diag) {
  if (q.bits <= 8) return true;
  diag->AddNode(n, "its weight codes and zero points span " + std::to_string(q.bits) +
                       " bits; at most 8 are supported");
  return false;
}

void SetActivationRange(QuantInfo* q, int64_t lo, int64_t hi) {
  const bool is_signed = lo < 0;
  q->bits = WidthFor(lo, hi, is_signed);
  q->encoding = is_signed ? Encoding::kSigned : Encoding::kUnsigned;
  q->qmin = lo;
  q->qmax = hi;
}

// Channel index of element k of a tensor with dims `dims` along `axis`.
int64_t ChannelOf(const std::vector<int64_t>& dims, int axis, int64_t k) {
  int64_t inner = 1;
  for (size_t d = size_t(axis) + 1; d < dims.size(); d++) inner *= dims[d];
  return (k / inner) % dims[size_t(axis)];
}

// Per-channel parameters on a constant must have one entry per index of `axis`: anything else
// would read past the scale vector while quantizing (found by fuzz_onnx_import).
bool ParamsFit(const Params& p, const std::vector<int64_t>& dims, const Node& n,
               const std::string& name, Diagnostics* diag) {
  if (p.axis < 0 && p.scale.size() == 1) return true;
  if (p.axis < 0 || size_t(p.axis) >= dims.size() ||
      dims[size_t(p.axis)] != int64_t(p.scale.size())) {
    diag->AddNode(n, "its " + std::to_string(p.scale.size()) +
                         " scales / zero points do not match axis " + std::to_string(p.axis) +
                         " of '" + name + "' (rank " + std::to_string(dims.size()) + ")");
    return false;
  }
  return true;
}

}  // namespace

void RecognizeQuantizers(Graph* g, Diagnostics* diag) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    Node& dq = g->nodes[k];
    if (dq.op_type != "DequantizeLinear" || !dq.domain.empty()) continue;
    const std::string x = dq.Input(0);
    const Const* xc = g->FindConst(x);

    // A DequantizeLinear of int32 constants is a quantized bias: evaluate it to floats.
    if (xc && xc->type == kInt32) {
      Params p;
      if (!ReadParams(*g, dq, int(xc->dims.size()), &p, diag) ||
          !ParamsFit(p, xc->dims, dq, x, diag))
        continue;
      Const f;
      f.type = kFloat;
      f.dims = xc->dims;
      f.f.resize(xc->i.size());
      for (size_t e = 0; e < xc->i.size(); e++) {
        const size_t c = p.axis < 0 ? 0 : size_t(ChannelOf(xc->dims, p.axis, int64_t(e)));
        f.f[e] = float(xc->i[e] - p.zp[c]) * p.scale[c];
      }
      g->initializers[dq.outputs[0]] = std::move(f);
      dead.push_back(int(k));
      continue;
    }

    auto q = std::make_shared<QuantInfo>();
    q->dq_node = dq.name;
    Params dp;

    if (xc) {
      // Folded or native weight: integer codes stored in the model.
      int64_t tlo, thi;
      int tbits;
      bool is_signed;
      if (!QuantTypeRange(xc->type, &tlo, &thi, &tbits, &is_signed)) {
        diag->AddNode(dq, std::string("unsupported weight data type ") + OnnxTypeName(xc->type));
        continue;
      }
      if (!ReadParams(*g, dq, int(xc->dims.size()), &dp, diag) ||
          !ParamsFit(dp, xc->dims, dq, x, diag))
        continue;
      q->is_const = true;
      q->dims = xc->dims;
      q->codes = xc->i;
      SetWeightRange(q.get(), is_signed, dp.zp);
      if (!WeightFits(*q, dq, diag)) continue;
      q->tensor_name = dq.outputs[0];
    } else {
      // QuantizeLinear -> [Clip] -> DequantizeLinear.
      int clip_idx = -1, q_idx = g->Producer(x);
      if (q_idx >= 0 && g->nodes[size_t(q_idx)].op_type == "Clip") {
        clip_idx = q_idx;
        q_idx = g->Producer(g->nodes[size_t(clip_idx)].Input(0));
      }
      if (q_idx < 0 || g->nodes[size_t(q_idx)].op_type != "QuantizeLinear") {
        diag->AddNode(dq, "its input '" + x +
                              "' is neither a QuantizeLinear[->Clip] output nor an integer "
                              "initializer");
        continue;
      }
      const Node& qn = g->nodes[size_t(q_idx)];
      const std::string v = qn.Input(0);
      const Const* vc = g->FindConst(v);
      const int rank = vc ? int(vc->dims.size()) : -1;
      Params qp;
      if (!ReadParams(*g, qn, rank, &qp, diag) || !ReadParams(*g, dq, rank, &dp, diag)) continue;
      if (!SameParams(qp, dp)) {
        diag->AddNode(dq, "its scale / zero point / axis differ from those of QuantizeLinear '" +
                              qn.name + "'");
        continue;
      }
      int64_t lo, hi;
      int tbits;
      bool is_signed;
      if (!QuantTypeRange(qp.zp_type, &lo, &hi, &tbits, &is_signed)) continue;  // reported
      if (clip_idx >= 0) {
        double clo, chi;
        if (!ClipBounds(*g, g->nodes[size_t(clip_idx)], &clo, &chi, diag)) continue;
        if (clo > double(lo)) lo = int64_t(std::ceil(clo));
        if (chi < double(hi)) hi = int64_t(std::floor(chi));
        if (lo > hi) {
          diag->AddNode(g->nodes[size_t(clip_idx)], "the Clip range is empty");
          continue;
        }
      }
      q->q_node = qn.name;
      if (vc) {
        // QCDQ weight: quantize the float initializer exactly as ONNX QuantizeLinear does
        // (divide, round half to even, add the zero point, saturate), then apply the Clip.
        if (vc->type != kFloat) {
          diag->AddNode(qn, "the quantized weight '" + v + "' must be FLOAT");
          continue;
        }
        if (!ParamsFit(qp, vc->dims, qn, v, diag)) continue;
        // A NaN weight has no code (converting its quotient to an integer is undefined); an
        // infinite one would quietly become the end of the range.
        const auto bad =
            std::find_if(vc->f.begin(), vc->f.end(), [](float x) { return !std::isfinite(x); });
        if (bad != vc->f.end()) {
          diag->AddNode(qn, "the quantized weight '" + v + "' has the non-finite value " +
                                std::to_string(*bad) + " at index " +
                                std::to_string(bad - vc->f.begin()));
          continue;
        }
        int64_t tlo, thi;
        QuantTypeRange(qp.zp_type, &tlo, &thi, nullptr, nullptr);
        q->is_const = true;
        q->dims = vc->dims;
        q->codes.resize(vc->f.size());
        for (size_t e = 0; e < vc->f.size(); e++) {
          const size_t c = qp.axis < 0 ? 0 : size_t(ChannelOf(vc->dims, qp.axis, int64_t(e)));
          const float r = std::nearbyint(vc->f[e] / qp.scale[c]);
          double code = double(r) + double(qp.zp[c]);
          code = std::min(std::max(code, double(tlo)), double(thi));
          int64_t ci = int64_t(code);
          ci = std::min(std::max(ci, lo), hi);
          q->codes[e] = ci;
        }
        SetWeightRange(q.get(), is_signed, qp.zp);
        if (!WeightFits(*q, qn, diag)) continue;
        q->tensor_name = dq.outputs[0];
      } else {
        if (qp.scale.size() != 1) {
          diag->AddNode(qn, "per-channel activation quantization is not supported");
          continue;
        }
        SetActivationRange(q.get(), lo, hi);
        q->tensor_name = qn.outputs[0];
      }
    }
    q->scale = dp.scale;
    q->zero_point = dp.zp;
    q->axis = dp.axis;
    if (q->is_const && q->axis >= int(q->dims.size())) {
      diag->AddNode(dq, "axis " + std::to_string(q->axis) + " is out of range");
      continue;
    }
    if (q->is_const && q->axis >= 0 && int64_t(q->scale.size()) != q->dims[size_t(q->axis)]) {
      diag->AddNode(dq, "has " + std::to_string(q->scale.size()) + " scales for axis " +
                            std::to_string(q->axis) + " of size " +
                            std::to_string(q->dims[size_t(q->axis)]));
      continue;
    }

    Node r;
    r.name = q->is_const ? dq.name : (q->q_node.empty() ? dq.name : q->q_node);
    r.op_type = q->is_const ? kQConstOp : kFakeQuantOp;
    if (!q->is_const) {
      const Node& qn = g->nodes[size_t(g->Producer(q->tensor_name))];
      r.inputs = {qn.Input(0)};
    }
    r.outputs = {dq.outputs[0]};
    r.quant = q;
    g->nodes[k] = std::move(r);
  }
  g->EraseNodes(dead);

  // Drop the QuantizeLinear / Clip nodes nothing reads any more.
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<int> unused;
    for (size_t k = 0; k < g->nodes.size(); k++) {
      const Node& n = g->nodes[k];
      if (n.op_type != "QuantizeLinear" &&
          !(n.op_type == "Clip" && g->Producer(n.Input(0)) >= 0 &&
            g->nodes[size_t(g->Producer(n.Input(0)))].op_type == "QuantizeLinear"))
        continue;
      if (g->Consumers(n.outputs[0]).empty() && !g->IsGraphOutput(n.outputs[0]))
        unused.push_back(int(k));
    }
    if (!unused.empty()) {
      g->EraseNodes(unused);
      changed = true;
    }
  }
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
