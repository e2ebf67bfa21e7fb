// Rewrites ONNX's QOperator form (what ONNX Runtime's optimizer and quantize_static(QOperator)
// write: integer tensors between QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, QGemm, ...)
// into the QDQ form the later passes read, so that no later pass knows about QOperator nodes:
//
//   QLinearConv(x, xs, xz, w, ws, wz, ys, yz[, B])
//       -> DequantizeLinear(x, xs, xz), DequantizeLinear(w, ws, wz[, axis 0]),
//          Conv(.., .., B * xs * ws as a float bias) -> QuantizeLinear(ys, yz)
//   QLinearMatMul, QGemm, QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool,
//   QLinearConcat, QLinearSigmoid, QLinearLeakyRelu, QLinearSoftmax; QLinearMatMul of two
//   activations
//       likewise (DequantizeLinear of every input, the float op, QuantizeLinear of the output;
//       Sigmoid / LeakyRelu then become FuseElementwiseTables' code tables)
//   ConvInteger / MatMulInteger -> Cast(FLOAT) -> Mul(c), the static pattern
//       -> DequantizeLinear(x), DequantizeLinear(w, c / xs) -> Conv / MatMul
//   com.microsoft FusedConv (float) -> Conv -> Relu / Clip
//   MaxPool / Flatten / Reshape / Squeeze / Unsqueeze / Transpose / Split / Slice / Pad / Resize
//   of an integer tensor
//       -> DequantizeLinear -> the same op on floats -> QuantizeLinear with the same parameters
//
// Numerics. A QOperator node computes acc = sum (x - xz)(w - wz) (+ B) exactly in int32 and
// requantizes with xs * ws / ys; its QDQ twin computes the same real value
// xs * ws * (acc + B), which is what crumb's numeric contract evaluates (integer accumulation,
// M = xs * ws / ys, bias / ys). The int32 bias becomes floats here: B * (xs * ws) in float32, as
// ONNX Runtime's quantizer defined it (bias scale = input scale * weight scale).
//
// Every integer tensor is tracked with the (scale, zero point) of the QuantizeLinear (original or
// emitted here) that wrote it; a QOperator input must be read with those same parameters (a node
// that reads a tensor with other ones would requantize it, which the QDQ form cannot say).
// One DequantizeLinear per integer tensor serves all its readers, as in an exported QDQ graph.
//
// A node this pass reports is dropped (so that CheckSupported does not list it again) and its
// output marked, so that its readers are not reported a second time.
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

bool IsStd(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }
bool IsMs(const Node& n) { return n.domain == "com.microsoft"; }

enum class Kind {
  kNone,
  kConv,
  kMatMul,
  kGemm,
  kAdd,
  kGlobalAveragePool,
  kAveragePool,
  kConcat,
  kConvInteger,
  kMatMulInteger,
  kFusedConv,
  kUnary,  // QLinearSigmoid / QLinearLeakyRelu: the float op, then FuseElementwiseTables' table
  kMul,
  kSoftmax,
  kMatMulNBits  // weight-only blocked quantization: a float MatMul with dequantized weights
};

Kind Classify(const Node& n) {
  const std::string& op = n.op_type;
  if (IsStd(n)) {
    if (op == "QLinearConv") return Kind::kConv;
    if (op == "QLinearMatMul") return Kind::kMatMul;
    if (op == "ConvInteger") return Kind::kConvInteger;
    if (op == "MatMulInteger") return Kind::kMatMulInteger;
  } else if (IsMs(n)) {
    if (op == "QLinearConv") return Kind::kConv;  // the NHWC-capable contrib twin
    if (op == "QGemm") return Kind::kGemm;
    if (op == "QLinearAdd") return Kind::kAdd;
    if (op == "QLinearGlobalAveragePool") return Kind::kGlobalAveragePool;
    if (op == "QLinearAveragePool") return Kind::kAveragePool;
    if (op == "QLinearConcat") return Kind::kConcat;
    if (op == "FusedConv") return Kind::kFusedConv;  // float, but ORT writes it in QDQ islands
    if (op == "QLinearSigmoid" || op == "QLinearLeakyRelu") return Kind::kUnary;
    if (op == "QLinearMul") return Kind::kMul;
    if (op == "QLinearSoftmax") return Kind::kSoftmax;
    if (op == "MatMulNBits") return Kind::kMatMulNBits;
  }
  return Kind::kNone;
}

// Ops that move integer codes without computing on them: on an integer tensor they become the
// float op between a DequantizeLinear and a QuantizeLinear with the input's parameters (one per
// output of a Split). Resize and Pad are among them as ONNX Runtime runs them on uint8 codes in
// its QOperator graphs: nearest Resize and Pad copy codes; a linear Resize is read as its QDQ
// twin (DequantizeLinear -> float Resize -> QuantizeLinear, as crumb computes it), within a
// step of ONNX Runtime's integer interpolation.
bool IsPassThrough(const Node& n) {
  static const std::set<std::string> ops = {"MaxPool",   "Flatten",   "Reshape", "Squeeze",
                                            "Unsqueeze", "Transpose", "Resize",  "Split",
                                            "Slice",     "Pad"};
  return IsStd(n) && ops.count(n.op_type) != 0;
}

// The quantization parameters of an integer tensor: initializer names (zp "" = absent: uint8 0).
struct Params {
  std::string scale, zp;
};

class Lowering {
 public:
  Lowering(Graph* g, Diagnostics* diag) : g_(g), diag_(diag), names_(*g) {}

  void Run() {
    FindIntegerPatterns();
    nodes_ = std::move(g_->nodes);
    g_->nodes.clear();
    for (size_t k = 0; k < nodes_.size(); k++) {
      if (skip_.count(k)) continue;
      Node& n = nodes_[k];
      const Kind kind = Classify(n);
      if (kind != Kind::kNone) {
        if (!Lower(n, kind, k)) {
          for (const auto& o : n.outputs) failed_.insert(o);
          // A refused ConvInteger's Cast and Mul are dropped with it.
          auto it = integer_.find(k);
          if (it != integer_.end()) failed_.insert(nodes_[it->second.mul].outputs[0]);
        }
        continue;
      }
      // Whatever reads the output of a reported node is not reported again for that input.
      for (const auto& in : n.inputs)
        if (failed_.count(in)) failed_.insert(n.outputs.begin(), n.outputs.end());
      if (IsPassThrough(n) && IsQuantized(n.Input(0))) {
        PassThrough(n);
        continue;
      }
      if (IsStd(n) && n.op_type == "QuantizeLinear" && n.outputs.size() == 1) {
        // An original quantizer: its output is an integer tensor with these parameters when they
        // are constants (RecognizeQuantizers reports them otherwise).
        const Const* s = g_->FindConst(n.Input(1));
        const Const* z = n.Input(2).empty() ? nullptr : g_->FindConst(n.Input(2));
        if (s && s->type == kFloat && s->size() == 1 && (n.Input(2).empty() || z))
          quantized_[n.outputs[0]] = Params{n.Input(1), n.Input(2)};
      } else if (IsStd(n) && n.op_type == "Clip" && IsQuantized(n.Input(0)) &&
                 n.outputs.size() == 1) {
        // A Clip of integer codes (a narrower activation): QuantizeLinear -> Clip stays for
        // RecognizeQuantizers; the clipped codes keep the parameters.
        quantized_[n.outputs[0]] = quantized_[n.Input(0)];
      }
      g_->nodes.push_back(std::move(n));
    }
    g_->DropUnusedInitializers();
  }

 private:
  bool IsQuantized(const std::string& v) const { return quantized_.count(v) != 0; }

  // ---------------------------------------------------------------- constants and parameters

  // Input k of n as a constant, or nullptr after reporting (`optional`: absent is fine, no report).
  const Const* ConstInput(const Node& n, size_t k, const std::string& what, bool* ok) {
    const std::string& v = n.Input(k);
    if (v.empty()) return nullptr;
    const Const* c = g_->FindConst(v);
    if (!c) {
      diag_->AddNode(n, "its " + what + " '" + v +
                            "' must be a constant initializer (QOperator scales and zero points "
                            "are fixed when converting)");
      *ok = false;
    } else if (c->size() == 0) {
      diag_->AddNode(n, "its " + what + " '" + v + "' is empty");
      *ok = false;
      return nullptr;
    }
    return c;
  }

  // A scale input: a constant FLOAT with one value, or `channels` values when `channels` > 0.
  bool Scale(const Node& n, size_t k, const std::string& what, int64_t channels, bool* ok) {
    if (n.Input(k).empty()) {
      diag_->AddNode(n, "its " + what + " input is missing");
      *ok = false;
      return false;
    }
    const Const* c = ConstInput(n, k, what, ok);
    if (!c) return false;
    if (c->type != kFloat) {
      diag_->AddNode(n, "its " + what + " '" + n.Input(k) + "' has data type " +
                            OnnxTypeName(c->type) + "; FLOAT expected");
      *ok = false;
      return false;
    }
    for (float v : c->f)
      if (!(std::isfinite(v) && v > 0)) {
        diag_->AddNode(n, "its " + what + " '" + n.Input(k) + "' holds " + NumberText(v) +
                              "; scales must be finite and > 0");
        *ok = false;
        return false;
      }
    return CountFits(n, k, what, *c, channels, ok);
  }

  // A zero point input: absent, or a constant int8 / uint8 with one value (or `channels`).
  bool ZeroPoint(const Node& n, size_t k, const std::string& what, int64_t channels, bool* ok) {
    const Const* c = ConstInput(n, k, what, ok);
    if (!c) return *ok;
    if (c->type != kInt8 && c->type != kUint8) {
      diag_->AddNode(n, "its " + what + " '" + n.Input(k) + "' has data type " +
                            OnnxTypeName(c->type) + "; INT8 or UINT8 expected");
      *ok = false;
      return false;
    }
    return CountFits(n, k, what, *c, channels, ok);
  }

  bool CountFits(const Node& n, size_t k, const std::string& what, const Const& c, int64_t channels,
                 bool* ok) {
    const int64_t count = int64_t(c.size());
    if (count == 1 || (channels > 0 && count == channels)) return true;
    if (channels > 0)
      diag_->AddNode(n, "its " + what + " '" + n.Input(k) + "' has " + std::to_string(count) +
                            " values for " + std::to_string(channels) +
                            " output channels; one per channel or a single value expected");
    else
      diag_->AddNode(n, "its " + what + " '" + n.Input(k) + "' has " + std::to_string(count) +
                            " values; a per-tensor (single) value expected");
    *ok = false;
    return false;
  }

  // Values of a (scale, zero point) pair for comparisons; an absent zero point is 0 of `type`.
  struct Values {
    std::vector<float> scale;
    std::vector<int64_t> zp;
    int zp_type = kUint8;
  };
  Values ValuesOf(const std::string& s, const std::string& z, int default_type) const {
    Values v;
    if (const Const* c = g_->FindConst(s)) v.scale = c->f;
    v.zp_type = default_type;
    v.zp = {0};
    if (!z.empty())
      if (const Const* c = g_->FindConst(z)) v.zp = c->i, v.zp_type = c->type;
    return v;
  }
  int ZpType(const Params& p) const {
    const Const* c = p.zp.empty() ? nullptr : g_->FindConst(p.zp);
    return c ? c->type : kUint8;
  }

  // ---------------------------------------------------------------- what the pass emits

  std::string AddFloat(const std::string& base, const std::vector<int64_t>& dims,
                       const std::vector<float>& v) {
    Const c;
    c.type = kFloat;
    c.dims = dims;
    c.f = v;
    const std::string name = names_.Make(base);
    g_->initializers[name] = std::move(c);
    return name;
  }

  void Emit(const std::string& op, const std::string& name, std::vector<std::string> inputs,
            const std::string& output, int axis = -1) {
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
    Node d;
    d.name = name;
    d.op_type = op;
    d.inputs = std::move(inputs);
    d.outputs = {output};
    if (axis >= 0) {
      Attr a;
      a.kind = Attr::kInt;
      a.i = axis;
      d.attrs["axis"] = a;
    }
    g_->nodes.push_back(std::move(d));
  }

  // The float value of input k (an integer activation) of n, read with scale input ks and zero
  // point input kz, or "" after reporting. A tensor already dequantized is not dequantized twice.
  std::string Activation(const Node& n, size_t k, size_t ks, size_t kz, const std::string& what,
                         bool* ok) {
    const std::string& v = n.Input(k);
    bool params_ok = true;
    Scale(n, ks, what + " scale", 0, &params_ok);
    ZeroPoint(n, kz, what + " zero point", 0, &params_ok);
    if (!params_ok) {
      *ok = false;
      return "";
    }
    if (v.empty()) {
      diag_->AddNode(n, "its " + what + " input is missing");
      *ok = false;
      return "";
    }
    if (failed_.count(v)) {
      *ok = false;  // its producer was reported
      return "";
    }
    const Const* vc = g_->FindConst(v);
    if (vc) {
      // A constant integer operand (e.g. QLinearAdd of a fixed tensor): its own DequantizeLinear.
      if (vc->type != kInt8 && vc->type != kUint8) {
        diag_->AddNode(n, "its " + what + " '" + v + "' has data type " + OnnxTypeName(vc->type) +
                              "; INT8 or UINT8 expected");
        *ok = false;
        return "";
      }
      const std::string out = names_.Make(v + "/dequantized");
      Emit("DequantizeLinear", n.name + "/DequantizeLinear_" + std::to_string(k),
           {v, n.Input(ks), n.Input(kz)}, out);
      return out;
    }
    auto it = quantized_.find(v);
    if (it == quantized_.end()) {
      diag_->AddNode(n, "its " + what + " '" + v +
                            "' is not an integer tensor with known parameters (the output of a "
                            "QuantizeLinear with a constant scale, or of another QOperator "
                            "node); dynamic quantization is not supported");
      *ok = false;
      return "";
    }
    const Params& p = it->second;
    const Values have = ValuesOf(p.scale, p.zp, kUint8);
    const Values want = ValuesOf(n.Input(ks), n.Input(kz), have.zp_type);
    if (have.scale != want.scale || have.zp != want.zp || have.zp_type != want.zp_type) {
      diag_->AddNode(
          n, "it reads '" + v + "' with scale " + NumberText(want.scale[0]) + " and zero point " +
                 std::to_string(want.zp[0]) + ", but that tensor was quantized with scale " +
                 NumberText(have.scale[0]) + " and zero point " + std::to_string(have.zp[0]) +
                 " (" + OnnxTypeName(have.zp_type) + "); a QOperator input cannot requantize");
      *ok = false;
      return "";
    }
    return DequantizeKnown(v, p);
  }

  // A constant integer weight: input k of n, its scale ks / zero point kz per tensor or per
  // index of `axis` (which has `channels` entries). Returns the DequantizeLinear output.
  std::string Weight(const Node& n, size_t k, size_t ks, size_t kz, int axis, bool* ok) {
    const std::string& v = n.Input(k);
    const Const* w = v.empty() ? nullptr : g_->FindConst(v);
    if (!w || (w->type != kInt8 && w->type != kUint8)) {
      diag_->AddNode(n, "its weight '" + v +
                            "' must be a constant INT8 or UINT8 initializer (an activation times "
                            "an activation is not supported)");
      *ok = false;
      return "";
    }
    if (axis >= int(w->dims.size())) {
      diag_->AddNode(n, "its weight '" + v + "' has rank " + std::to_string(w->dims.size()) +
                            "; at least " + std::to_string(axis + 1) + " expected");
      *ok = false;
      return "";
    }
    const int64_t channels = w->dims[size_t(axis)];
    bool params_ok = true;
    Scale(n, ks, "weight scale", channels, &params_ok);
    ZeroPoint(n, kz, "weight zero point", channels, &params_ok);
    if (!params_ok) {
      *ok = false;
      return "";
    }
    const Const* s = g_->FindConst(n.Input(ks));
    const Const* z = n.Input(kz).empty() ? nullptr : g_->FindConst(n.Input(kz));
    if (z && z->size() != s->size()) {
      diag_->AddNode(n, "its weight scale '" + n.Input(ks) + "' and zero point '" + n.Input(kz) +
                            "' have different lengths");
      *ok = false;
      return "";
    }
    const bool per_channel = s->size() > 1;
    const std::string out = names_.Make(n.name + "/weight");
    Emit("DequantizeLinear", n.name + "/weight/DequantizeLinear", {v, n.Input(ks), n.Input(kz)},
         out, per_channel ? axis : -1);
    return out;
  }

  // The float bias of a QLinearConv / QGemm: int32 codes times (input scale * weight scale[c]).
  std::string Bias(const Node& n, size_t kb, size_t kxs, size_t kws, float alpha, int64_t channels,
                   bool* ok) {
    const std::string& b = n.Input(kb);
    if (b.empty()) return "";
    const Const* c = g_->FindConst(b);
    if (!c || c->type != kInt32) {
      diag_->AddNode(n, "its bias '" + b + "' must be a constant INT32 initializer");
      *ok = false;
      return "";
    }
    if (int64_t(c->size()) != channels || c->dims.size() > 2 ||
        (c->dims.size() == 2 && c->dims[0] != 1)) {
      diag_->AddNode(n, "its bias '" + b + "' has " + std::to_string(c->size()) + " values for " +
                            std::to_string(channels) +
                            " output channels; one per output channel expected");
      *ok = false;
      return "";
    }
    const float xs = g_->FindConst(n.Input(kxs))->f[0];
    const std::vector<float>& ws = g_->FindConst(n.Input(kws))->f;
    std::vector<float> f(c->i.size());
    for (size_t o = 0; o < f.size(); o++) {
      const float s = alpha * xs * ws[ws.size() == 1 ? 0 : o];
      f[o] = float(c->i[o]) * s;
    }
    return AddFloat(n.name + "/bias", {channels}, f);
  }

  // The float op `op` named after n, with n's attributes (but `drop`), writing a fresh value.
  std::string FloatOp(const Node& n, const std::string& op, const std::vector<std::string>& inputs,
                      const std::vector<std::string>& drop, const std::string& output = "") {
    Node f;
    f.name = n.name;
    f.op_type = op;
    f.inputs = inputs;
    f.attrs = n.attrs;
    for (const auto& a : drop) f.attrs.erase(a);
    f.outputs = {output.empty() ? names_.Make(n.outputs[0] + "/float") : output};
    g_->nodes.push_back(std::move(f));
    return g_->nodes.back().outputs[0];
  }

  // QuantizeLinear(f, scale input ks, zero point input kz) -> n's output, tracked.
  void Quantize(const Node& n, const std::string& f, const std::string& s, const std::string& z) {
    Emit("QuantizeLinear", n.name + "/QuantizeLinear", {f, s, z}, n.outputs[0]);
    quantized_[n.outputs[0]] = Params{s, z};
  }

  bool ChannelsFirst(const Node& n) {
    if (n.AttrInt("channels_last", 0) == 0) return true;
    diag_->AddNode(n,
                   "channels_last=1 (NHWC) is not supported; crumb reads NCHW graphs (export "
                   "with ONNX Runtime's optimization level 'extended', not 'all')");
    return false;
  }

  // ---------------------------------------------------------------- the ops

  bool Lower(const Node& n, Kind kind, size_t index) {
    if (n.outputs.size() != 1 || n.outputs[0].empty()) {
      diag_->AddNode(n, "expected exactly one output");
      return false;
    }
    bool ok = true;
    // Output parameters are checked before anything is emitted.
    auto out_params = [&](size_t ks, size_t kz) {
      Scale(n, ks, "output scale", 0, &ok);
      ZeroPoint(n, kz, "output zero point", 0, &ok);
    };
    const size_t mark = g_->nodes.size();
    auto undo = [&]() {
      g_->nodes.resize(mark);
      return false;
    };
    switch (kind) {
      case Kind::kConv: {
        if (!ChannelsFirst(n)) return false;
        out_params(6, 7);
        if (!ok) return false;
        const std::string x = Activation(n, 0, 1, 2, "input", &ok);
        if (!ok) return undo();
        const std::string w = Weight(n, 3, 4, 5, 0, &ok);
        if (!ok) return undo();
        const int64_t m = g_->FindConst(n.Input(3))->dims[0];
        const std::string b = Bias(n, 8, 1, 4, 1.0f, m, &ok);
        if (!ok) return undo();
        std::vector<std::string> in = {x, w};
        if (!b.empty()) in.push_back(b);
        Quantize(n, FloatOp(n, "Conv", in, {"channels_last"}), n.Input(6), n.Input(7));
        return true;
      }
      case Kind::kMatMul: {
        out_params(6, 7);
        if (!ok) return false;
        const std::string a = Activation(n, 0, 1, 2, "input A", &ok);
        if (!ok) return undo();
        const Const* bc = g_->FindConst(n.Input(3));
        if (!bc && !n.Input(3).empty()) {
          // An activation times an activation (attention's Q K^T and P V).
          const std::string b = Activation(n, 3, 4, 5, "input B", &ok);
          if (!ok) return undo();
          Quantize(n, FloatOp(n, "MatMul", {a, b}, {}), n.Input(6), n.Input(7));
          return true;
        }
        // Per-column parameters of a [K, N] weight run along its last axis.
        const int axis = bc && bc->dims.size() >= 2 ? int(bc->dims.size()) - 1 : 0;
        const std::string b = Weight(n, 3, 4, 5, axis, &ok);
        if (!ok) return undo();
        Quantize(n, FloatOp(n, "MatMul", {a, b}, {}), n.Input(6), n.Input(7));
        return true;
      }
      case Kind::kGemm: {
        const bool quantized_out = !n.Input(7).empty();
        if (quantized_out) out_params(7, 8);
        if (!ok) return false;
        const std::string a = Activation(n, 0, 1, 2, "input A", &ok);
        if (!ok) return undo();
        // transB = 1: B is [N, K], the output channel is axis 0; transB = 0: [K, N], axis 1.
        const int axis = n.AttrInt("transB", 0) != 0 ? 0 : 1;
        const std::string b = Weight(n, 3, 4, 5, axis, &ok);
        if (!ok) return undo();
        const int64_t channels = g_->FindConst(n.Input(3))->dims[size_t(axis)];
        // QGemm computes alpha * a_scale * b_scale * (acc + C): C carries alpha too.
        const std::string c = Bias(n, 6, 1, 4, n.AttrFloat("alpha", 1.0f), channels, &ok);
        if (!ok) return undo();
        std::vector<std::string> in = {a, b};
        if (!c.empty()) in.push_back(c);
        if (!quantized_out) {
          FloatOp(n, "Gemm", in, {"beta"}, n.outputs[0]);
          return true;
        }
        Quantize(n, FloatOp(n, "Gemm", in, {"beta"}), n.Input(7), n.Input(8));
        return true;
      }
      case Kind::kAdd:
      case Kind::kMul: {
        out_params(6, 7);
        if (!ok) return false;
        const std::string a = Activation(n, 0, 1, 2, "input A", &ok);
        if (!ok) return undo();
        const std::string b = Activation(n, 3, 4, 5, "input B", &ok);
        if (!ok) return undo();
        Quantize(n, FloatOp(n, kind == Kind::kAdd ? "Add" : "Mul", {a, b}, {}), n.Input(6),
                 n.Input(7));
        return true;
      }
      case Kind::kUnary: {
        out_params(3, 4);
        if (!ok) return false;
        const std::string x = Activation(n, 0, 1, 2, "input", &ok);
        if (!ok) return undo();
        const char* op = n.op_type == "QLinearSigmoid" ? "Sigmoid" : "LeakyRelu";
        Quantize(n, FloatOp(n, op, {x}, {}), n.Input(3), n.Input(4));
        return true;
      }
      case Kind::kMatMulNBits:
        return LowerMatMulNBits(n);
      case Kind::kSoftmax: {
        // com.microsoft QLinearSoftmax(x, xs, xz, ys, yz), attributes axis and opset (the
        // Softmax semantics it follows: before 13 the input is flattened to 2-D at axis).
        // Read as Softmax of this graph's opset; the two agree on the last axis.
        const int64_t axis = n.AttrInt("axis", -1);
        if (axis != -1 && (n.AttrInt("opset", 1) >= 13) != (g_->opset >= 13)) {
          diag_->AddNode(n, "its axis " + std::to_string(axis) + " follows Softmax-" +
                                std::to_string(n.AttrInt("opset", 1)) +
                                " semantics, which differ from this graph's opset " +
                                std::to_string(g_->opset) +
                                " on any axis but the last; only axis -1 is supported");
          return false;
        }
        out_params(3, 4);
        if (!ok) return false;
        const std::string x = Activation(n, 0, 1, 2, "input", &ok);
        if (!ok) return undo();
        Quantize(n, FloatOp(n, "Softmax", {x}, {"opset"}), n.Input(3), n.Input(4));
        return true;
      }
      case Kind::kGlobalAveragePool:
      case Kind::kAveragePool: {
        if (!ChannelsFirst(n)) return false;
        out_params(3, 4);
        if (!ok) return false;
        const std::string x = Activation(n, 0, 1, 2, "input", &ok);
        if (!ok) return undo();
        const char* op = kind == Kind::kAveragePool ? "AveragePool" : "GlobalAveragePool";
        Quantize(n, FloatOp(n, op, {x}, {"channels_last"}), n.Input(3), n.Input(4));
        return true;
      }
      case Kind::kConcat: {
        out_params(0, 1);
        if (!ok) return false;
        if (n.inputs.size() < 5 || (n.inputs.size() - 2) % 3 != 0) {
          diag_->AddNode(n,
                         "expected the output scale and zero point, then (tensor, scale, zero "
                         "point) triples");
          return false;
        }
        std::vector<std::string> in;
        for (size_t k = 2; k < n.inputs.size(); k += 3) {
          in.push_back(Activation(n, k, k + 1, k + 2, "input " + std::to_string((k - 2) / 3), &ok));
          if (!ok) return undo();
        }
        Quantize(n, FloatOp(n, "Concat", in, {}), n.Input(0), n.Input(1));
        return true;
      }
      case Kind::kConvInteger:
      case Kind::kMatMulInteger:
        return LowerInteger(n, kind, index);
      case Kind::kFusedConv:
        return LowerFusedConv(n);
      case Kind::kNone:
        break;
    }
    return false;
  }

  // com.microsoft FusedConv (a float Conv with its activation, which ONNX Runtime's optimizer
  // writes where a Conv stays float between DequantizeLinear and QuantizeLinear) -> Conv ->
  // Relu / Clip(activation_params).
  bool LowerFusedConv(const Node& n) {
    if (!n.Input(3).empty()) {
      diag_->AddNode(n, "its Z (sum) input is not supported");
      return false;
    }
    const std::string act = n.AttrString("activation", "");
    const std::vector<float> params = n.HasAttr("activation_params")
                                          ? n.attrs.at("activation_params").floats
                                          : std::vector<float>();
    if (!act.empty() && act != "Relu" && act != "Clip") {
      diag_->AddNode(n, "activation '" + act + "' is not supported (Relu and Clip are)");
      return false;
    }
    if (act == "Clip" && params.size() != 2) {
      diag_->AddNode(n, "a Clip activation needs activation_params [min, max]");
      return false;
    }
    std::vector<std::string> in = {n.Input(0), n.Input(1)};
    if (!n.Input(2).empty()) in.push_back(n.Input(2));
    const std::vector<std::string> drop = {"activation", "activation_params"};
    if (act.empty()) {
      FloatOp(n, "Conv", in, drop, n.outputs[0]);
      return true;
    }
    const std::string c = FloatOp(n, "Conv", in, drop);
    if (act == "Relu") {
      Emit("Relu", n.name + "/Relu", {c}, n.outputs[0]);
    } else {
      Emit("Clip", n.name + "/Clip",
           {c, AddFloat(n.name + "/min", {}, {params[0]}),
            AddFloat(n.name + "/max", {}, {params[1]})},
           n.outputs[0]);
    }
    return true;
  }

  // com.microsoft MatMulNBits(A, B, scales[, zero_points[, g_idx[, bias]]]), attributes K, N, bits,
  // block_size: Y = A x W^T (+ bias) in float, W [N, K] from `bits`-bit codes in blocks of
  // block_size along K, w = float(q - zp) * scale of the (row, block). The activation stays
  // float there, so the node becomes what it computes: a MatMul by the dequantized weights as a
  // float initializer [K, N] (a float layer, XNNPACK's fully-connected operator at run time)
  // plus an Add of the bias. B holds, per row n and block, ceil(block_size * bits / 8) bytes of
  // codes packed LSB first; zero points (uint8) per row ceil(blocks * bits / 8) bytes likewise,
  // absent = 2^(bits - 1).
  bool LowerMatMulNBits(const Node& n) {
    const int64_t k = n.AttrInt("K", 0), cols = n.AttrInt("N", 0), bits = n.AttrInt("bits", 4);
    const int64_t block = n.AttrInt("block_size", 0);
    if (k < 1 || cols < 1 || k > (int64_t(1) << 24) || cols > (int64_t(1) << 24)) {
      diag_->AddNode(n, "its attributes K " + std::to_string(k) + " and N " + std::to_string(cols) +
                            " must be between 1 and 2^24");
      return false;
    }
    if (bits < 2 || bits > 8) {
      diag_->AddNode(n, "has bits " + std::to_string(bits) + "; 2 to 8 are supported");
      return false;
    }
    if (block < 16 || (block & (block - 1)) != 0) {
      diag_->AddNode(n, "has block_size " + std::to_string(block) +
                            "; a power of two of at least 16 is expected");
      return false;
    }
    if (!n.Input(4).empty()) {
      diag_->AddNode(n, "has a g_idx input (act-order quantization), which is not supported");
      return false;
    }
    const int64_t blocks = (k + block - 1) / block, blob = block * bits / 8;
    bool ok = true;
    const Const* b = ConstInput(n, 1, "quantized weight", &ok);
    const Const* sc = ConstInput(n, 2, "scales", &ok);
    const Const* zp = ConstInput(n, 3, "zero points", &ok);
    const Const* bias = ConstInput(n, 5, "bias", &ok);
    if (!ok) return false;
    if (!b || b->type != kUint8 || b->NumElements() != cols * blocks * blob) {
      diag_->AddNode(n, "its quantized weight '" + n.Input(1) +
                            "' must be a UINT8 initializer of " + std::to_string(cols) + " x " +
                            std::to_string(blocks) + " x " + std::to_string(blob) +
                            " bytes (N x blocks x block_size * bits / 8)");
      return false;
    }
    if (!sc || sc->type != kFloat || int64_t(sc->size()) != cols * blocks) {
      diag_->AddNode(n, "its scales '" + n.Input(2) + "' must be " + std::to_string(cols * blocks) +
                            " FLOAT values (N x blocks)");
      return false;
    }
    for (float v : sc->f)
      if (!std::isfinite(v)) {
        diag_->AddNode(
            n, "its scales '" + n.Input(2) + "' hold " + NumberText(v) + "; scales must be finite");
        return false;
      }
    const int64_t zp_row = (blocks * bits + 7) / 8;
    if (zp && (zp->type != kUint8 || int64_t(zp->size()) != cols * zp_row)) {
      diag_->AddNode(n, "its zero points '" + n.Input(3) + "' must be " +
                            std::to_string(cols * zp_row) +
                            " UINT8 values (packed codes per row); float zero points are not "
                            "supported");
      return false;
    }
    if (bias && (bias->type != kFloat || int64_t(bias->size()) != cols)) {
      diag_->AddNode(
          n, "its bias '" + n.Input(5) + "' must be " + std::to_string(cols) + " FLOAT values");
      return false;
    }
    // The code at bit offset `at` of a byte string, LSB first.
    auto code = [&](const std::vector<int64_t>& bytes, size_t base, int64_t at) {
      int64_t v = 0;
      for (int64_t j = 0; j < bits; j++) {
        const int64_t bit = at + j;
        v |= ((bytes[base + size_t(bit / 8)] >> (bit % 8)) & 1) << j;
      }
      return v;
    };
    std::vector<float> w(size_t(k * cols));  // [K, N], MatMul's orientation
    for (int64_t r = 0; r < cols; r++)
      for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t z =
            zp ? code(zp->i, size_t(r * zp_row), blk * bits) : int64_t(1) << (bits - 1);
        const double s = double(sc->f[size_t(r * blocks + blk)]);
        for (int64_t j = 0; j < block && blk * block + j < k; j++) {
          const int64_t q = code(b->i, size_t((r * blocks + blk) * blob), j * bits);
          w[size_t((blk * block + j) * cols + r)] = float(double(q - z) * s);
        }
      }
    const std::string wname = AddFloat(n.name + "/weight", {k, cols}, w);
    if (!bias) {
      Emit("MatMul", n.name + "/MatMul", {n.Input(0), wname}, n.outputs[0]);
      return true;
    }
    const std::string mm = names_.Make(n.outputs[0] + "/matmul");
    Emit("MatMul", n.name + "/MatMul", {n.Input(0), wname}, mm);
    Emit("Add", n.name + "/Add", {mm, n.Input(5)}, n.outputs[0]);
    return true;
  }

  // ConvInteger / MatMulInteger write int32 accumulators: exact in QDQ only when they are scaled
  // back to floats right away by a constant (the Cast + Mul that quantize_static(QOperator) and
  // hand-written graphs use), and that constant is the input's scale times a float32 weight scale.
  struct IntegerPattern {
    size_t cast = 0, mul = 0;
    std::string scale;  // the Mul's constant input
  };
  std::map<size_t, IntegerPattern> integer_;
  std::set<size_t> skip_;

  void FindIntegerPatterns() {
    for (size_t k = 0; k < g_->nodes.size(); k++) {
      const Node& n = g_->nodes[k];
      const Kind kind = Classify(n);
      if (kind != Kind::kConvInteger && kind != Kind::kMatMulInteger) continue;
      if (n.outputs.size() != 1) continue;
      const std::vector<int> casts = g_->Consumers(n.outputs[0]);
      if (casts.size() != 1 || g_->IsGraphOutput(n.outputs[0])) continue;
      const Node& cast = g_->nodes[size_t(casts[0])];
      if (!IsStd(cast) || cast.op_type != "Cast" || cast.AttrInt("to", 0) != kFloat) continue;
      const std::vector<int> muls = g_->Consumers(cast.outputs[0]);
      if (muls.size() != 1 || g_->IsGraphOutput(cast.outputs[0])) continue;
      const Node& mul = g_->nodes[size_t(muls[0])];
      if (!IsStd(mul) || mul.op_type != "Mul" || mul.inputs.size() != 2) continue;
      const std::string other = mul.Input(0) == cast.outputs[0] ? mul.Input(1) : mul.Input(0);
      IntegerPattern p;
      p.cast = size_t(casts[0]);
      p.mul = size_t(muls[0]);
      p.scale = other;
      integer_[k] = p;
      skip_.insert(p.cast);
      skip_.insert(p.mul);
    }
  }

  bool LowerInteger(const Node& n, Kind kind, size_t index) {
    const bool conv = kind == Kind::kConvInteger;
    auto it = integer_.find(index);
    if (it == integer_.end()) {
      diag_->AddNode(n,
                     "its INT32 output must be read only by a Cast to FLOAT followed by a Mul "
                     "by a constant scale (the int32 accumulator itself has no crumb tensor)");
      return false;
    }
    const IntegerPattern& p = it->second;
    // Inputs: x, w, x_zero_point, w_zero_point.
    const std::string& x = n.Input(0);
    auto q = quantized_.find(x);
    if (failed_.count(x)) return false;
    if (q == quantized_.end()) {
      diag_->AddNode(n, "its input '" + x +
                            "' is not an integer tensor with known parameters (the output of a "
                            "QuantizeLinear with a constant scale, or of a QOperator node); "
                            "dynamic quantization is not supported");
      return false;
    }
    bool ok = true;
    ZeroPoint(n, 2, "input zero point", 0, &ok);
    const Const* w = g_->FindConst(n.Input(1));
    if (!w || (w->type != kInt8 && w->type != kUint8) || w->dims.size() < 2) {
      diag_->AddNode(n, "its weight '" + n.Input(1) +
                            "' must be a constant INT8 or UINT8 initializer of rank >= 2");
      return false;
    }
    const int axis = conv ? 0 : int(w->dims.size()) - 1;
    const int64_t channels = w->dims[size_t(axis)];
    ZeroPoint(n, 3, "weight zero point", channels, &ok);
    if (!ok) return false;
    const Params& xp = q->second;
    const Values have = ValuesOf(xp.scale, xp.zp, kUint8);
    const Values want = ValuesOf("", n.Input(2), have.zp_type);
    if (have.zp != want.zp || have.zp_type != want.zp_type) {
      diag_->AddNode(n, "its input zero point differs from the one '" + x +
                            "' was quantized with; the accumulator would not be exact");
      return false;
    }
    // The Mul's constant: one value, or one per output channel along the output's channel axis
    // (NCHW axis 1 for a convolution: shape [M, 1, 1] or [1, M, 1, 1]; the last axis for MatMul).
    const Node& mul = nodes_[p.mul];
    const Const* c = g_->FindConst(p.scale);
    if (!c || c->type != kFloat) {
      diag_->AddNode(mul, "the scale '" + p.scale + "' applied to the output of '" + n.name +
                              "' must be a constant FLOAT initializer");
      return false;
    }
    if (c->size() != 1) {
      int found = -1, non1 = 0;
      for (size_t d = 0; d < c->dims.size(); d++)
        if (c->dims[d] != 1) found = int(d), non1++;
      const int spatial = int(w->dims.size()) - 2;
      const int want_pos = conv ? int(c->dims.size()) - 1 - spatial : int(c->dims.size()) - 1;
      if (non1 != 1 || found != want_pos || int64_t(c->size()) != channels) {
        diag_->AddNode(mul, "the scale '" + p.scale + "' applied to the output of '" + n.name +
                                "' must be a single value or one per output channel");
        return false;
      }
    }
    const float xs = g_->FindConst(xp.scale)->f[0];
    std::vector<float> ws(c->size());
    for (size_t o = 0; o < ws.size(); o++) {
      ws[o] = c->f[o] / xs;
      if (!(std::isfinite(ws[o]) && ws[o] > 0) || ws[o] * xs != c->f[o]) {
        diag_->AddNode(mul, "the scale " + NumberText(c->f[o]) + " applied to the output of '" +
                                n.name + "' is not exactly its input scale " + NumberText(xs) +
                                " times a float32 weight scale; it cannot be expressed exactly as "
                                "DequantizeLinear of the weight");
        return false;
      }
    }
    const std::string xf = DequantizeKnown(x, xp);
    const std::string s = AddFloat(
        n.name + "/weight_scale",
        ws.size() == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{int64_t(ws.size())}, ws);
    std::string z = n.Input(3);
    const Const* zc = z.empty() ? nullptr : g_->FindConst(z);
    if (zc && zc->size() != ws.size()) {
      if (ws.size() != 1) {
        diag_->AddNode(n, "its weight zero point and the output scale differ in length");
        return false;
      }
      // Per-channel zero points with a single scale: the scale repeated, so DequantizeLinear
      // sees parameters of one length.
      g_->initializers[s].f.assign(zc->size(), ws[0]);
      g_->initializers[s].dims = {int64_t(zc->size())};
    }
    const bool per_channel = g_->initializers[s].f.size() > 1;
    const std::string wf = names_.Make(n.name + "/weight");
    Emit("DequantizeLinear", n.name + "/weight/DequantizeLinear", {n.Input(1), s, z}, wf,
         per_channel ? axis : -1);
    FloatOp(n, conv ? "Conv" : "MatMul", {xf, wf}, {}, mul.outputs[0]);
    return true;
  }

  // The DequantizeLinear of integer tensor v with its own parameters p (one per tensor).
  std::string DequantizeKnown(const std::string& v, const Params& p) {
    auto d = dequantized_.find(v);
    if (d != dequantized_.end()) return d->second;
    const std::string out = names_.Make(v + "/dequantized");
    Emit("DequantizeLinear", v + "/DequantizeLinear", {v, p.scale, p.zp}, out);
    dequantized_[v] = out;
    return out;
  }

  // op(integer x) -> DequantizeLinear -> op on floats -> QuantizeLinear (x's parameters), for
  // each output.
  void PassThrough(const Node& n) {
    const Params p = quantized_[n.Input(0)];
    Node f = n;
    f.inputs[0] = DequantizeKnown(n.Input(0), p);
    if (n.op_type == "Pad" && !n.Input(2).empty()) {
      // Pad's constant_value is a code of x's type: on floats it is that code's real value.
      const Const* c = g_->FindConst(n.Input(2));
      const Values v = ValuesOf(p.scale, p.zp, kUint8);
      if (c && c->size() == 1 && IsIntegerType(c->type) && !v.scale.empty() && !v.zp.empty()) {
        Const real;
        real.type = kFloat;
        real.f = {float((c->at(0) - double(v.zp[0])) * double(v.scale[0]))};
        f.inputs[2] = names_.Make(n.Input(2) + "/real");
        g_->initializers[f.inputs[2]] = real;
      }
    }
    for (std::string& o : f.outputs)
      if (!o.empty()) o = names_.Make(o + "/float");
    const std::vector<std::string> floats = f.outputs;
    g_->nodes.push_back(std::move(f));
    for (size_t k = 0; k < n.outputs.size(); k++) {
      if (n.outputs[k].empty()) continue;
      const std::string suffix = n.outputs.size() > 1 ? "_" + std::to_string(k) : "";
      Emit("QuantizeLinear", n.name + "/QuantizeLinear" + suffix, {floats[k], p.scale, p.zp},
           n.outputs[k]);
      quantized_[n.outputs[k]] = p;
    }
  }

  Graph* g_;
  Diagnostics* diag_;
  std::vector<Node> nodes_;  // the graph's nodes before the pass
  FreshNames names_;
  std::map<std::string, Params> quantized_;         // integer tensor -> its parameters
  std::map<std::string, std::string> dequantized_;  // integer tensor -> its DequantizeLinear
  std::set<std::string> failed_;                    // outputs of reported nodes
};

}  // namespace

void LowerQOperator(Graph* g, Diagnostics* diag) {
  bool any = false;
  for (const auto& n : g->nodes) any = any || Classify(n) != Kind::kNone;
  if (!any) return;
  Lowering(g, diag).Run();
}

}  // namespace cv
}  // namespace crumb
