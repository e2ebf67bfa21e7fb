// Rewrites the QONNX quantizers (domains qonnx.custom_op.general, onnx.brevitas and
// finn.custom_op.general) into the standard ONNX spellings RecognizeQuantizers already reads, so
// that no later pass knows about QONNX:
//
//   Quant(x, scale, zeropt, bitwidth), x a constant (a weight)
//       -> int8 / uint8 codes computed here -> DequantizeLinear(codes, scale, zp, axis)  ("folded")
//   Quant(x, scale, zeropt, bitwidth), x an activation
//       -> QuantizeLinear(x, scale, zp) -> Clip(qmin, qmax) -> DequantizeLinear            ("QCDQ")
//   BipolarQuant(w, scale), w a constant
//       -> int8 codes +-1 -> DequantizeLinear(codes, scale, 0, axis)  (bipolar 1-bit weights)
//   MultiThreshold(x, thresholds) with uniformly spaced thresholds
//       -> QuantizeLinear -> Clip -> DequantizeLinear ("QCDQ")
//
// The folded form loses nothing: RecognizeQuantizers takes a weight's width from the range of its
// codes in every form (SetWeightRange), so the declared QONNX bit width never needs to survive.
// Activations keep theirs through the Clip bounds, as in the QCDQ form PyTorch exports.
//
// Numerics (QONNX semantics, qonnx/custom_op/general/quant.py):
//   Quant:        q = clamp(round(x / scale + zeropt), qmin, qmax); y = (q - zeropt) * scale
//   BipolarQuant: y = scale * (x >= 0 ? +1 : -1)
//   MultiThreshold (FINN): y = out_scale * #{k : x >= t[c][k]} + out_bias
// Weights are quantized here exactly as QONNX does (float32 divide, float32 add of the zero
// point, then the node's rounding mode), so any rounding mode works on them. Activations become
// ONNX QuantizeLinear, which computes round_half_to_even(x / scale) + zp: that is QONNX's ROUND
// (numpy's round is half to even too) except at exact ties with an odd zero point, where
// round(v + zp) and round(v) + zp differ. Other rounding modes on activations are reported.
//
// A node this pass reports is dropped from the graph so that CheckSupported does not list it a
// second time as an unsupported op; the conversion fails either way.
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

bool IsQonnxDomain(const std::string& d) {
  return d == "qonnx.custom_op.general" || d == "onnx.brevitas" || d == "finn.custom_op.general";
}

// A constant input `k` of `n`, or nullptr after reporting why not.
const Const* ConstInput(const Graph& g, const Node& n, size_t k, const char* what, bool want_float,
                        Diagnostics* diag) {
  const std::string& v = n.Input(k);
  if (v.empty()) {
    diag->AddNode(n, std::string("the ") + what + " input is missing");
    return nullptr;
  }
  const Const* c = g.FindConst(v);
  if (!c) {
    diag->AddNode(n, std::string("the ") + what + " '" + v + "' must be a constant");
    return nullptr;
  }
  if (want_float && c->type != kFloat) {
    diag->AddNode(n, std::string("the ") + what + " '" + v + "' has data type " +
                         OnnxTypeName(c->type) + "; FLOAT expected");
    return nullptr;
  }
  if (c->size() == 0) {
    diag->AddNode(n, std::string("the ") + what + " '" + v + "' is empty");
    return nullptr;
  }
  return c;
}

// A quantization parameter broadcast against a value of rank `rank` (-1 = unknown): one value
// (axis -1), or one value per index of the single axis where its shape is not 1 ([C,1,1,1] ->
// axis 0, [1,C,1,1] -> axis 1, [C,1] -> axis 0; shapes align on the right as in numpy).
bool PerAxis(const Const& p, int rank, int* axis, std::vector<double>* values) {
  values->clear();
  for (size_t k = 0; k < p.size(); k++) values->push_back(p.at(k));
  *axis = -1;
  if (p.size() == 1) return true;
  int found = -1;
  for (size_t d = 0; d < p.dims.size(); d++) {
    if (p.dims[d] == 1) continue;
    if (found >= 0) return false;  // more than one non-1 dim: not per-axis
    found = int(d);
  }
  if (found < 0) return false;
  const int prank = int(p.dims.size());
  if (rank >= 0 && prank > rank) return false;
  *axis = (rank >= 0 ? rank - prank : 0) + found;
  return true;
}

// Combines the scale and zero point into per-axis (or per-tensor) vectors of one length.
bool ScaleAndZeroPoint(const Node& n, const Const& s, const Const* z, int rank, int* axis,
                       std::vector<double>* scale, std::vector<double>* zp, Diagnostics* diag) {
  int sa = -1, za = -1;
  if (!PerAxis(s, rank, &sa, scale)) {
    diag->AddNode(n, "the scale '" + n.Input(1) +
                         "' must be a scalar or vary along one axis only (e.g. shape [C,1,1,1])");
    return false;
  }
  if (z) {
    if (!PerAxis(*z, rank, &za, zp)) {
      diag->AddNode(n, "the zero point '" + n.Input(2) +
                           "' must be a scalar or vary along one axis only (e.g. shape [C,1,1,1])");
      return false;
    }
  } else {
    zp->assign(1, 0.0);
  }
  if (sa >= 0 && za >= 0 && (sa != za || scale->size() != zp->size())) {
    diag->AddNode(n, "the scale and the zero point vary along different axes");
    return false;
  }
  *axis = sa >= 0 ? sa : za;
  if (scale->size() == 1 && zp->size() > 1) scale->assign(zp->size(), (*scale)[0]);
  if (zp->size() == 1 && scale->size() > 1) zp->assign(scale->size(), (*zp)[0]);
  bool ok = true;
  for (double v : *scale)
    if (!(std::isfinite(v) && v > 0)) {
      diag->AddNode(n, "the scale '" + n.Input(1) + "' holds " + NumberText(v) +
                           "; scales must be finite and > 0");
      ok = false;
      break;
    }
  for (double v : *zp)
    if (!(std::isfinite(v) && v == std::nearbyint(v))) {
      diag->AddNode(n, "the zero point '" + n.Input(2) + "' holds " + NumberText(v) +
                           "; zero points must be integers");
      ok = false;
      break;
    }
  return ok;
}

// Channel index of element k of a tensor with dims `dims` along `axis` (-1: 0).
size_t ChannelOf(const std::vector<int64_t>& dims, int axis, size_t k) {
  if (axis < 0) return 0;
  size_t inner = 1;
  for (size_t d = size_t(axis) + 1; d < dims.size(); d++) inner *= size_t(dims[d]);
  return (k / inner) % size_t(dims[size_t(axis)]);
}

enum class Rounding { kRound, kCeil, kFloor };

// QONNX's resolve_rounding_mode lists ROUND (numpy's round: half to even), CEIL and FLOOR,
// case-insensitively.
bool ParseRounding(std::string mode, Rounding* r) {
  for (auto& ch : mode) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  if (mode == "ROUND")
    *r = Rounding::kRound;
  else if (mode == "CEIL")
    *r = Rounding::kCeil;
  else if (mode == "FLOOR")
    *r = Rounding::kFloor;
  else
    return false;
  return true;
}

float ApplyRounding(float v, Rounding r) {
  switch (r) {
    case Rounding::kRound:
      return std::nearbyint(v);  // the default FE_TONEAREST: half to even, as np.round
    case Rounding::kCeil:
      return std::ceil(v);
    case Rounding::kFloor:
      return std::floor(v);
  }
  return v;
}

// What the pass emits for one QONNX node.
struct Emitter {
  Graph* g;
  FreshNames* names;
  std::vector<Node>* out;

  std::string AddFloat(const std::string& base, const std::vector<double>& v, bool vector) {
    Const c;
    c.type = kFloat;
    if (vector) c.dims = {int64_t(v.size())};
    for (double x : v) c.f.push_back(float(x));
    const std::string name = names->Make(base);
    g->initializers[name] = std::move(c);
    return name;
  }
  std::string AddInt(const std::string& base, int type, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& v) {
    Const c;
    c.type = type;
    c.dims = dims;
    c.i = v;
    const std::string name = names->Make(base);
    g->initializers[name] = std::move(c);
    return name;
  }

  // DequantizeLinear(codes, scale, zp[, axis]) named after the QONNX node, writing its output.
  void Folded(const Node& n, int type, const std::vector<int64_t>& dims,
              const std::vector<int64_t>& codes, const std::vector<double>& scale,
              const std::vector<double>& zp, int axis) {
    const std::string& y = n.outputs[0];
    const bool vec = axis >= 0;
    std::vector<int64_t> zi;
    for (double z : zp) zi.push_back(int64_t(z));
    Node dq;
    dq.name = n.name;
    dq.op_type = "DequantizeLinear";
    dq.inputs = {
        AddInt(y + "/codes", type, dims, codes), AddFloat(y + "/scale", scale, vec),
        AddInt(y + "/zero_point", type,
               vec ? std::vector<int64_t>{int64_t(zi.size())} : std::vector<int64_t>{}, zi)};
    dq.outputs = {y};
    if (vec) {
      Attr a;
      a.kind = Attr::kInt;
      a.i = axis;
      dq.attrs["axis"] = a;
    }
    out->push_back(std::move(dq));
  }

  // QuantizeLinear(x, scale, zp) -> [Clip(qmin, qmax)] -> DequantizeLinear, per tensor. The Clip
  // is left out when it would not narrow the zero point type's range (as PyTorch exports 8 bits).
  void Qcdq(const Node& n, const std::string& x, double scale, int64_t zp, bool is_signed,
            int64_t qmin, int64_t qmax) {
    const std::string& y = n.outputs[0];
    const int type = is_signed ? kInt8 : kUint8;
    const std::string s = AddFloat(y + "/scale", {scale}, false);
    const std::string z = AddInt(y + "/zero_point", type, {}, {zp});
    Node q;
    q.name = n.name;
    q.op_type = "QuantizeLinear";
    q.inputs = {x, s, z};
    q.outputs = {names->Make(y + "/quantized")};
    std::string codes = q.outputs[0];
    out->push_back(std::move(q));
    const int64_t tlo = is_signed ? -128 : 0, thi = is_signed ? 127 : 255;
    if (qmin > tlo || qmax < thi) {
      Node c;
      c.name = n.name + "/Clip";
      c.op_type = "Clip";
      c.inputs = {codes, AddInt(y + "/qmin", type, {}, {qmin}),
                  AddInt(y + "/qmax", type, {}, {qmax})};
      c.outputs = {names->Make(y + "/clipped")};
      codes = c.outputs[0];
      out->push_back(std::move(c));
    }
    Node dq;
    dq.name = n.name + "/DequantizeLinear";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {codes, s, z};
    dq.outputs = {y};
    out->push_back(std::move(dq));
  }
};

constexpr const char* kBipolarActivations =
    "bipolar activations are not supported yet (only constant weights may be bipolar)";

bool LowerQuant(const Graph& g, const Node& n, Emitter* e, Diagnostics* diag) {
  const Const* s = ConstInput(g, n, 1, "scale", true, diag);
  const Const* z = ConstInput(g, n, 2, "zero point", true, diag);
  const Const* bw = ConstInput(g, n, 3, "bit width", true, diag);
  if (!s || !z || !bw) return false;
  if (bw->size() != 1) {
    diag->AddNode(n, "the bit width '" + n.Input(3) + "' must be a single value");
    return false;
  }
  const double bits_f = bw->at(0);
  if (!(bits_f == std::nearbyint(bits_f))) {
    diag->AddNode(n, "the bit width " + NumberText(bits_f) + " is not an integer");
    return false;
  }
  if (bits_f < 1 || bits_f > 8) {
    diag->AddNode(n, "unsupported bit width " + NumberText(bits_f) + "; crumb takes 1 to 8 bits");
    return false;
  }
  const int bits = int(bits_f);
  // QONNX's attribute defaults: signed = 1, narrow = 1, rounding_mode = ROUND.
  const bool is_signed = n.AttrInt("signed", 1) != 0;
  const bool narrow = n.AttrInt("narrow", 1) != 0;
  const std::string mode = n.AttrString("rounding_mode", "ROUND");
  Rounding rounding;
  if (!ParseRounding(mode, &rounding)) {
    diag->AddNode(n, "unknown rounding_mode '" + mode + "' (QONNX defines ROUND, CEIL, FLOOR)");
    return false;
  }
  const bool bipolar = bits == 1 && is_signed;  // QONNX quantizes signed 1-bit to +-1
  int64_t qmin, qmax;
  if (is_signed) {
    qmin = -(int64_t(1) << (bits - 1)) + (narrow ? 1 : 0);
    qmax = (int64_t(1) << (bits - 1)) - 1;
  } else {
    qmin = 0;
    qmax = (int64_t(1) << bits) - 1 - (narrow ? 1 : 0);
  }

  const std::string& x = n.Input(0);
  const Const* xc = g.FindConst(x);
  const int rank = xc ? int(xc->dims.size()) : -1;
  int axis;
  std::vector<double> scale, zp;
  if (!ScaleAndZeroPoint(n, *s, z, rank, &axis, &scale, &zp, diag)) return false;
  const int64_t tlo = is_signed ? -128 : 0, thi = is_signed ? 127 : 255;
  for (double v : zp)
    if (v < double(tlo) || v > double(thi)) {
      diag->AddNode(n, "the zero point " + NumberText(v) + " does not fit the " +
                           (is_signed ? "int8" : "uint8") + " zero point of QuantizeLinear");
      return false;
    }

  if (!xc) {
    if (bipolar) {
      diag->AddNode(n, kBipolarActivations);
      return false;
    }
    if (rounding != Rounding::kRound) {
      diag->AddNode(n, "rounding_mode '" + mode +
                           "' is supported on constant weights only; an activation must use ROUND "
                           "(QuantizeLinear rounds half to even)");
      return false;
    }
    if (axis >= 0) {
      diag->AddNode(n, "per-channel activation quantization is not supported");
      return false;
    }
    e->Qcdq(n, x, scale[0], int64_t(zp[0]), is_signed, qmin, qmax);
    return true;
  }

  if (xc->type != kFloat) {
    diag->AddNode(n, "the quantized weight '" + x + "' must be FLOAT");
    return false;
  }
  if (axis >= 0 && (axis >= rank || xc->dims[size_t(axis)] != int64_t(scale.size()))) {
    diag->AddNode(n, "the scale / zero point do not broadcast against the weight '" + x + "'");
    return false;
  }
  // Exactly QONNX's arithmetic in float32: v = x / scale + zeropt, clamp, round (clamping to
  // integer bounds first or last gives the same codes).
  std::vector<int64_t> codes(xc->f.size());
  for (size_t k = 0; k < xc->f.size(); k++) {
    const size_t c = ChannelOf(xc->dims, axis, k);
    const float sf = float(scale[c]), zf = float(zp[c]);
    float v = xc->f[k] / sf;
    v = v + zf;
    if (bipolar) {
      codes[k] = v >= 0.0f ? 1 : -1;
      continue;
    }
    v = std::min(std::max(v, float(qmin)), float(qmax));
    codes[k] = int64_t(ApplyRounding(v, rounding));
  }
  e->Folded(n, is_signed ? kInt8 : kUint8, xc->dims, codes, scale, zp, axis);
  return true;
}

bool LowerBipolarQuant(const Graph& g, const Node& n, Emitter* e, Diagnostics* diag) {
  const std::string& x = n.Input(0);
  const Const* xc = g.FindConst(x);
  if (!xc) {
    diag->AddNode(n, kBipolarActivations);
    return false;
  }
  const Const* s = ConstInput(g, n, 1, "scale", true, diag);
  if (!s) return false;
  if (xc->type != kFloat) {
    diag->AddNode(n, "the quantized weight '" + x + "' must be FLOAT");
    return false;
  }
  const int rank = int(xc->dims.size());
  int axis;
  std::vector<double> scale, zp;
  if (!ScaleAndZeroPoint(n, *s, nullptr, rank, &axis, &scale, &zp, diag)) return false;
  if (axis >= 0 && (axis >= rank || xc->dims[size_t(axis)] != int64_t(scale.size()))) {
    diag->AddNode(n, "the scale does not broadcast against the weight '" + x + "'");
    return false;
  }
  // QONNX: np.where(x >= 0, 1, -1) (NaN gives -1).
  std::vector<int64_t> codes(xc->f.size());
  for (size_t k = 0; k < xc->f.size(); k++) codes[k] = xc->f[k] >= 0.0f ? 1 : -1;
  e->Folded(n, kInt8, xc->dims, codes, scale, zp, axis);
  return true;
}

// MultiThreshold counts thresholds: y = out_scale * #{k : x >= t[c][k]} + out_bias, the count
// c in [0, T]. The QCDQ form with scale s = out_scale, codes q = c + qmin and zero point
// zp = qmin + z0, z0 = -out_bias / s, gives y = s * (q - zp) = s * c + out_bias, and
//   c >= k  <=>  round(x / s) + zp >= qmin + k  <=>  x / s >= k - z0 - 1/2   (ties aside)
// so it computes the same function exactly when every channel's thresholds are
//   t[k] = (k - 1/2 - z0) * s,  k = 1..T.
// Tolerance: the exporter rounds each threshold to float32 (half an ulp, ~6e-8 relative); we
// accept |t - expected| <= 1e-5 * max(|expected|, s), a hundred times that, and still five orders
// of magnitude below the step s, so genuinely non-uniform thresholds never pass.
// Ties: at x exactly on a threshold, MultiThreshold's >= rounds the half up while QuantizeLinear
// rounds half to even, so the two differ on every other boundary for inputs lying exactly on it
// (and, from the division, for inputs within an ulp of it). We keep QuantizeLinear's rule: it is
// crumb's numeric contract, and float inputs hit the boundaries with probability ~0.
bool LowerMultiThreshold(const Graph& g, const Node& n, Emitter* e, Diagnostics* diag) {
  const Const* t = ConstInput(g, n, 1, "thresholds", true, diag);
  if (!t) return false;
  if (t->dims.size() != 2 || t->dims[1] < 1) {
    diag->AddNode(n, "the thresholds '" + n.Input(1) + "' must have shape [C, T] with T >= 1");
    return false;
  }
  const std::string dtype = n.AttrString("out_dtype", "");
  bool is_signed = false;
  int bits = 0;
  if (dtype == "BINARY") {
    bits = 1;
  } else if (dtype == "BIPOLAR") {
    diag->AddNode(n, kBipolarActivations);
    return false;
  } else if (dtype.rfind("UINT", 0) == 0 || dtype.rfind("INT", 0) == 0) {
    is_signed = dtype[0] == 'I';
    const std::string digits = dtype.substr(is_signed ? 3 : 4);
    bits = digits.empty() || digits.size() > 2 ||
                   digits.find_first_not_of("0123456789") != std::string::npos
               ? 0
               : std::stoi(digits);
    if (bits < 1 || bits > 8) {
      diag->AddNode(n, "unsupported out_dtype '" + dtype + "'; crumb takes 1 to 8 bits");
      return false;
    }
  } else {
    diag->AddNode(n, "unsupported out_dtype '" + dtype + "' (UINTn, INTn or BINARY expected)");
    return false;
  }
  const int64_t levels = t->dims[1];  // T
  if (levels > (int64_t(1) << bits) - 1) {
    diag->AddNode(n, std::to_string(levels) + " thresholds do not fit out_dtype " + dtype);
    return false;
  }
  const double s = n.AttrFloat("out_scale", 1.0f);
  const double bias = n.AttrFloat("out_bias", 0.0f);
  if (!(std::isfinite(s) && s > 0)) {
    diag->AddNode(n, "out_scale " + NumberText(s) + " must be finite and > 0");
    return false;
  }
  // z0 = -out_bias / s is an integer up to the float32 rounding of out_bias (1e-3 of a step).
  const double z0f = -bias / s, z0r = std::nearbyint(z0f);
  if (!(std::fabs(z0f - z0r) <= 1e-3)) {
    diag->AddNode(n, "out_bias " + NumberText(bias) + " is not an integer multiple of out_scale " +
                         NumberText(s) + "; it cannot be a zero point");
    return false;
  }
  const int64_t z0 = int64_t(z0r);
  const int64_t qmin =
      is_signed ? (int64_t(1) << (bits - 1)) - 1 - levels : 0;  // the top code is 2^(b-1) - 1
  const int64_t qmax = qmin + levels;
  const int64_t zp = qmin + z0;
  const int64_t tlo = is_signed ? -128 : 0, thi = is_signed ? 127 : 255;
  if (zp < tlo || zp > thi) {
    diag->AddNode(n, "out_bias " + NumberText(bias) + " gives the zero point " +
                         std::to_string(zp) + ", outside the " + (is_signed ? "int8" : "uint8") +
                         " range");
    return false;
  }
  const int64_t channels = t->dims[0];
  for (int64_t c = 0; c < channels; c++)
    for (int64_t k = 1; k <= levels; k++) {
      const double want = (double(k) - 0.5 - double(z0)) * s;
      const double got = double(t->f[size_t(c * levels + k - 1)]);
      if (!(std::fabs(got - want) <= 1e-5 * std::max(std::fabs(want), s))) {
        diag->AddNode(n, "non-uniform thresholds: threshold " + std::to_string(k) + " of channel " +
                             std::to_string(c) + " is " + NumberText(got) + ", not " +
                             NumberText(want) + " = (" + std::to_string(k) + " - 0.5 - " +
                             std::to_string(z0) +
                             ") * out_scale; only thresholds that round "
                             "like QuantizeLinear can be converted");
        return false;
      }
    }
  e->Qcdq(n, n.Input(0), s, zp, is_signed, qmin, qmax);
  return true;
}

}  // namespace

void LowerQonnx(Graph* g, Diagnostics* diag) {
  bool any = false;
  for (const auto& n : g->nodes) any = any || IsQonnxDomain(n.domain);
  if (!any) return;
  FreshNames names(*g);
  std::vector<Node> out;
  Emitter e{g, &names, &out};
  for (auto& n : g->nodes) {
    if (!IsQonnxDomain(n.domain) ||
        (n.op_type != "Quant" && n.op_type != "BipolarQuant" && n.op_type != "MultiThreshold")) {
      out.push_back(std::move(n));  // other QONNX ops stay for CheckSupported to report
      continue;
    }
    if (n.outputs.size() != 1 || n.outputs[0].empty()) {
      diag->AddNode(n, "expected exactly one output");
      continue;
    }
    if (n.op_type == "Quant")
      LowerQuant(*g, n, &e, diag);
    else if (n.op_type == "BipolarQuant")
      LowerBipolarQuant(*g, n, &e, diag);
    else
      LowerMultiThreshold(*g, n, &e, diag);
  }
  g->nodes = std::move(out);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
