// The 1-bit (and ternary) weight forms a PyTorch BNN trainer exports, made into the folded form
// RecognizeQuantizers reads:
//
//   Conv(x, Mul(Sign(W), alpha[C,1,1,1]))          Conv(x, Sign(W))
//   Conv(x, Where(GreaterOrEqual(W, 0), a, Neg(a)))  Conv(x, Mul(Where(W >= 0, 1, -1), alpha))
//   ... with Cast, Div, Unsqueeze / Reshape of the scale, on Gemm / MatMul weights too
//
// 1. Elementwise subgraphs whose inputs are all constants and whose result feeds (possibly through
//    other such nodes) the weight input of a Conv / Gemm / MatMul are evaluated here, in float32
//    exactly as ONNX Runtime computes them (numpy broadcasting), and become initializers.
// 2. A Conv / Gemm / MatMul whose weight is then a float initializer holding, per output channel
//    o, only the values {-s_o, +s_o} (or {-s_o, 0, +s_o}), s_o > 0 compared exactly, reads instead
//    DequantizeLinear(int8 codes -1/+1 (or -1/0/+1), scale s_o along the output-channel axis, zero
//    point 0): bipolar 1-bit (or ternary 2-bit) weights. Other float weights stay as they are.
// 3. Sign on an activation (a non-constant tensor) is reported: crumb has no bipolar activations.
#include <cmath>
#include <set>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

bool IsWeightOp(const Node& n) {
  return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

bool IsFoldable(const Node& n) {
  static const std::set<std::string> ops = {"Sign",
                                            "Neg",
                                            "Abs",
                                            "Mul",
                                            "Div",
                                            "Add",
                                            "Sub",
                                            "Where",
                                            "Greater",
                                            "Less",
                                            "Equal",
                                            "Not",
                                            "Cast",
                                            "Reshape",
                                            "Squeeze",
                                            "Identity",
                                            "GreaterOrEqual",
                                            "LessOrEqual",
                                            "Unsqueeze",
                                            "Transpose"};
  return n.domain.empty() && ops.count(n.op_type) != 0 && n.outputs.size() == 1 &&
         !n.outputs[0].empty();
}

bool IsIntType(int t) {
  return t == kInt8 || t == kUint8 || t == kInt16 || t == kUint16 || t == kInt32 || t == kInt64 ||
         t == kUint32;
}
bool Supported(int t) { return t == kFloat || t == kBool || IsIntType(t); }

// Wraps an int64 into the range of integer type `t`, as a C++ static_cast to it does.
int64_t WrapTo(int t, int64_t v) {
  switch (t) {
    case kInt8:
      return int8_t(v);
    case kUint8:
      return uint8_t(v);
    case kInt16:
      return int16_t(v);
    case kUint16:
      return uint16_t(v);
    case kInt32:
      return int32_t(v);
    case kUint32:
      return uint32_t(v);
    case kBool:
      return v != 0;
    default:
      return v;
  }
}

int64_t Count(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// numpy broadcasting of several shapes.
bool Broadcast(const std::vector<const std::vector<int64_t>*>& shapes, std::vector<int64_t>* out) {
  size_t rank = 0;
  for (auto* s : shapes) rank = std::max(rank, s->size());
  out->assign(rank, 1);
  for (auto* s : shapes)
    for (size_t k = 0; k < s->size(); k++) {
      int64_t& o = (*out)[rank - s->size() + k];
      const int64_t d = (*s)[k];
      if (d == o || d == 1) continue;
      if (o != 1) return false;
      o = d;
    }
  return true;
}

// Index into a tensor of shape `in` broadcast to `out` for flat output index k.
size_t SourceIndex(const std::vector<int64_t>& out, const std::vector<int64_t>& in, int64_t k) {
  int64_t idx = 0, stride = 1;
  for (size_t d = 0; d < in.size(); d++) {
    const size_t od = out.size() - 1 - d, id = in.size() - 1 - d;
    const int64_t coord = k % out[od];
    k /= out[od];
    if (in[id] != 1) idx += coord * stride;
    stride *= in[id];
  }
  return size_t(idx);
}

// The constant `axes` of Squeeze / Unsqueeze: the attribute (opset < 13) or input 1.
bool Axes(const Graph& g, const Node& n, std::vector<int64_t>* axes, bool* given) {
  *given = false;
  if (n.HasAttr("axes")) {
    *axes = n.AttrInts("axes");
    *given = true;
    return true;
  }
  if (n.Input(1).empty()) return true;
  const Const* a = g.FindConst(n.Input(1));
  if (!a || a->type != kInt64) return false;
  *axes = a->i;
  *given = true;
  return true;
}

// Evaluates one foldable node whose inputs are all constants. Returns false with `why` set when it
// cannot.
bool Evaluate(const Graph& g, const Node& n, Const* out, std::string* why) {
  std::vector<const Const*> in;
  for (const auto& v : n.inputs) in.push_back(v.empty() ? nullptr : g.FindConst(v));
  const std::string& op = n.op_type;
  auto need = [&](size_t k) -> const Const* {
    if (k >= in.size() || !in[k]) {
      *why = "input " + std::to_string(k) + " is missing";
      return nullptr;
    }
    if (!Supported(in[k]->type)) {
      *why = std::string("input '") + n.inputs[k] + "' has data type " + OnnxTypeName(in[k]->type) +
             ", which constant folding does not evaluate";
      return nullptr;
    }
    if (int64_t(in[k]->size()) != Count(in[k]->dims)) {
      *why = "input '" + n.inputs[k] + "' has a malformed shape";
      return nullptr;
    }
    return in[k];
  };

  if (op == "Identity") {
    const Const* x = need(0);
    if (!x) return false;
    *out = *x;
    return true;
  }
  if (op == "Sign" || op == "Neg" || op == "Abs" || op == "Not") {
    const Const* x = need(0);
    if (!x) return false;
    *out = *x;
    if (op == "Not") {
      if (x->type != kBool) {
        *why = "Not takes BOOL";
        return false;
      }
      for (auto& v : out->i) v = !v;
      return true;
    }
    if (x->type == kBool) {
      *why = op + " of BOOL is not defined";
      return false;
    }
    if (x->type == kFloat) {
      for (auto& v : out->f) {
        if (op == "Sign")
          v = v > 0 ? 1.0f : (v < 0 ? -1.0f : (v == 0 ? 0.0f : v));  // ORT: -0 gives 0, NaN NaN
        else if (op == "Neg")
          v = -v;
        else
          v = std::fabs(v);
      }
    } else {
      for (auto& v : out->i) {
        if (op == "Sign")
          v = v > 0 ? 1 : (v < 0 ? -1 : 0);
        else if (op == "Neg")
          v = WrapTo(x->type, -v);
        else
          v = WrapTo(x->type, v < 0 ? -v : v);
      }
    }
    return true;
  }
  if (op == "Mul" || op == "Div" || op == "Add" || op == "Sub" || op == "Greater" ||
      op == "GreaterOrEqual" || op == "Less" || op == "LessOrEqual" || op == "Equal") {
    const Const* a = need(0);
    const Const* b = a ? need(1) : nullptr;
    if (!b) return false;
    if (a->type != b->type) {
      *why = std::string("its inputs have different data types (") + OnnxTypeName(a->type) + ", " +
             OnnxTypeName(b->type) + ")";
      return false;
    }
    const bool compare = op != "Mul" && op != "Div" && op != "Add" && op != "Sub";
    if (!compare && a->type == kBool) {
      *why = op + " of BOOL is not defined";
      return false;
    }
    if (!Broadcast({&a->dims, &b->dims}, &out->dims)) {
      *why = "the input shapes do not broadcast";
      return false;
    }
    const int64_t count = Count(out->dims);
    out->type = compare ? kBool : a->type;
    if (out->type == kFloat)
      out->f.resize(size_t(count));
    else
      out->i.resize(size_t(count));
    for (int64_t k = 0; k < count; k++) {
      const size_t ia = SourceIndex(out->dims, a->dims, k), ib = SourceIndex(out->dims, b->dims, k);
      if (a->type == kFloat) {
        const float x = a->f[ia], y = b->f[ib];
        if (compare) {
          const bool r = op == "Greater"          ? x > y
                         : op == "GreaterOrEqual" ? x >= y
                         : op == "Less"           ? x < y
                         : op == "LessOrEqual"    ? x <= y
                                                  : x == y;
          out->i[size_t(k)] = r;
        } else {
          out->f[size_t(k)] = op == "Mul"   ? x * y
                              : op == "Div" ? x / y
                              : op == "Add" ? x + y
                                            : x - y;
        }
      } else {
        const int64_t x = a->i[ia], y = b->i[ib];
        if (compare) {
          const bool r = op == "Greater"          ? x > y
                         : op == "GreaterOrEqual" ? x >= y
                         : op == "Less"           ? x < y
                         : op == "LessOrEqual"    ? x <= y
                                                  : x == y;
          out->i[size_t(k)] = r;
        } else {
          if (op == "Div" && y == 0) {
            *why = "it divides an integer by zero";
            return false;
          }
          out->i[size_t(k)] = WrapTo(a->type, op == "Mul"   ? x * y
                                              : op == "Div" ? x / y
                                              : op == "Add" ? x + y
                                                            : x - y);
        }
      }
    }
    return true;
  }
  if (op == "Where") {
    const Const* c = need(0);
    const Const* a = c ? need(1) : nullptr;
    const Const* b = a ? need(2) : nullptr;
    if (!b) return false;
    if (c->type != kBool) {
      *why = "its condition must be BOOL";
      return false;
    }
    if (a->type != b->type) {
      *why = "its value inputs have different data types";
      return false;
    }
    if (!Broadcast({&c->dims, &a->dims, &b->dims}, &out->dims)) {
      *why = "the input shapes do not broadcast";
      return false;
    }
    const int64_t count = Count(out->dims);
    out->type = a->type;
    for (int64_t k = 0; k < count; k++) {
      const bool t = c->i[SourceIndex(out->dims, c->dims, k)] != 0;
      const Const* src = t ? a : b;
      const size_t s = SourceIndex(out->dims, src->dims, k);
      if (out->type == kFloat)
        out->f.push_back(src->f[s]);
      else
        out->i.push_back(src->i[s]);
    }
    return true;
  }
  if (op == "Cast") {
    const Const* x = need(0);
    if (!x) return false;
    const int to = int(n.AttrInt("to", 0));
    if (!Supported(to)) {
      *why = std::string("Cast to ") + OnnxTypeName(to) + " is not evaluated";
      return false;
    }
    out->type = to;
    out->dims = x->dims;
    for (size_t k = 0; k < x->size(); k++) {
      if (to == kFloat) {
        out->f.push_back(x->type == kFloat ? x->f[k] : float(x->i[k]));
      } else if (to == kBool) {
        out->i.push_back(x->type == kFloat ? (x->f[k] != 0.0f || std::isnan(x->f[k]))
                                           : x->i[k] != 0);
      } else if (x->type == kFloat) {
        const float v = x->f[k];
        if (!std::isfinite(v) || std::fabs(v) >= 9.2e18f) {
          *why = "Cast of a non-finite or out-of-range value to an integer";
          return false;
        }
        out->i.push_back(WrapTo(to, int64_t(v)));  // truncation toward zero, as static_cast
      } else {
        out->i.push_back(WrapTo(to, x->i[k]));
      }
    }
    return true;
  }
  if (op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "Transpose") {
    const Const* x = need(0);
    if (!x) return false;
    *out = *x;
    const int64_t rank = int64_t(x->dims.size());
    if (op == "Reshape") {
      const Const* s = need(1);
      if (!s) return false;
      if (s->type != kInt64) {
        *why = "the shape must be INT64";
        return false;
      }
      std::vector<int64_t> dims = s->i;
      int infer = -1;
      int64_t known = 1;
      for (size_t d = 0; d < dims.size(); d++) {
        if (dims[d] == 0 && n.AttrInt("allowzero", 0) == 0) {
          if (int64_t(d) >= rank) {
            *why = "the shape copies a dimension the input does not have";
            return false;
          }
          dims[d] = x->dims[d];
        }
        if (dims[d] == -1) {
          if (infer >= 0) {
            *why = "the shape has two -1";
            return false;
          }
          infer = int(d);
        } else if (dims[d] < 0) {
          *why = "the shape has a negative dimension";
          return false;
        } else {
          known *= dims[d];
        }
      }
      const int64_t total = int64_t(x->size());
      if (infer >= 0) {
        if (known == 0 || total % known != 0) {
          *why = "the shape does not fit the input";
          return false;
        }
        dims[size_t(infer)] = total / known;
      }
      if (Count(dims) != total) {
        *why = "the shape does not fit the input";
        return false;
      }
      out->dims = dims;
      return true;
    }
    if (op == "Transpose") {
      std::vector<int64_t> perm = n.AttrInts("perm");
      if (perm.empty())
        for (int64_t d = rank - 1; d >= 0; d--) perm.push_back(d);
      std::vector<bool> seen(size_t(rank), false);
      if (int64_t(perm.size()) != rank) {
        *why = "perm does not match the input rank";
        return false;
      }
      for (int64_t& p : perm) {
        if (p < 0) p += rank;
        if (p < 0 || p >= rank || seen[size_t(p)]) {
          *why = "perm is not a permutation";
          return false;
        }
        seen[size_t(p)] = true;
      }
      std::vector<int64_t> in_strides(size_t(rank), 1);
      for (int64_t d = rank - 2; d >= 0; d--)
        in_strides[size_t(d)] = in_strides[size_t(d + 1)] * x->dims[size_t(d + 1)];
      for (int64_t d = 0; d < rank; d++) out->dims[size_t(d)] = x->dims[size_t(perm[size_t(d)])];
      const int64_t count = Count(out->dims);
      for (int64_t k = 0; k < count; k++) {
        int64_t rest = k, src = 0;
        for (int64_t d = rank - 1; d >= 0; d--) {
          const int64_t coord = rest % out->dims[size_t(d)];
          rest /= out->dims[size_t(d)];
          src += coord * in_strides[size_t(perm[size_t(d)])];
        }
        if (x->type == kFloat)
          out->f[size_t(k)] = x->f[size_t(src)];
        else
          out->i[size_t(k)] = x->i[size_t(src)];
      }
      return true;
    }
    std::vector<int64_t> axes;
    bool given;
    if (!Axes(g, n, &axes, &given)) {
      *why = "its axes must be a constant INT64 tensor";
      return false;
    }
    if (op == "Squeeze") {
      std::set<int64_t> drop;
      for (int64_t a : axes) {
        if (a < 0) a += rank;
        if (a < 0 || a >= rank || x->dims[size_t(a)] != 1) {
          *why = "it squeezes an axis that is not 1";
          return false;
        }
        drop.insert(a);
      }
      out->dims.clear();
      for (int64_t d = 0; d < rank; d++)
        if (given ? !drop.count(d) : x->dims[size_t(d)] != 1)
          out->dims.push_back(x->dims[size_t(d)]);
      return true;
    }
    // Unsqueeze
    if (!given) {
      *why = "Unsqueeze needs axes";
      return false;
    }
    const int64_t new_rank = rank + int64_t(axes.size());
    std::set<int64_t> ins;
    for (int64_t a : axes) {
      if (a < 0) a += new_rank;
      if (a < 0 || a >= new_rank || ins.count(a)) {
        *why = "its axes are out of range or repeated";
        return false;
      }
      ins.insert(a);
    }
    out->dims.clear();
    size_t src = 0;
    for (int64_t d = 0; d < new_rank; d++) out->dims.push_back(ins.count(d) ? 1 : x->dims[src++]);
    return true;
  }
  *why = "op " + op + " is not evaluated";
  return false;
}

// Step 1: folds the constant subgraphs feeding a weight input. Returns whether it folded any.
bool FoldConstantWeights(Graph* g, Diagnostics* diag) {
  // Nodes reachable backwards from a weight input through foldable nodes.
  std::set<int> wanted;
  std::vector<std::string> todo;
  for (const auto& n : g->nodes)
    if (IsWeightOp(n) && !n.Input(1).empty()) todo.push_back(n.Input(1));
  while (!todo.empty()) {
    const std::string v = todo.back();
    todo.pop_back();
    if (g->FindConst(v)) continue;
    const int p = g->Producer(v);
    if (p < 0 || wanted.count(p) || !IsFoldable(g->nodes[size_t(p)])) continue;
    wanted.insert(p);
    for (const auto& in : g->nodes[size_t(p)].inputs)
      if (!in.empty()) todo.push_back(in);
  }
  if (wanted.empty()) return false;
  // Graph order is topological: one pass evaluates every node whose inputs are (now) constant.
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    if (!wanted.count(int(k))) continue;
    const Node& n = g->nodes[k];
    bool all_const = true;
    for (const auto& in : n.inputs)
      if (!in.empty() && !g->FindConst(in)) all_const = false;
    if (!all_const || g->IsGraphOutput(n.outputs[0])) continue;
    Const c;
    std::string why;
    if (!Evaluate(*g, n, &c, &why)) {
      diag->AddNode(n, "cannot evaluate this constant part of a weight: " + why);
      continue;
    }
    g->initializers[n.outputs[0]] = std::move(c);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
  return !dead.empty();
}

// Step 2: float +-s / 0 weights become DequantizeLinear of int8 codes. Returns whether it
// rewrote any.
bool BinaryWeightsToFolded(Graph* g) {
  FreshNames names(*g);
  std::map<std::string, std::string> made;  // weight + "@" + axis -> DequantizeLinear output
  // A weight read once (by its op) gives its name to the dequantized tensor, as in the folded
  // form; the float initializer goes away.
  std::map<std::string, int> reads;
  for (const auto& n : g->nodes)
    for (const auto& v : n.inputs) reads[v]++;
  std::vector<Node> out;
  for (auto& n : g->nodes) {
    const std::string w = n.Input(1);
    const Const* c = IsWeightOp(n) && !w.empty() ? g->FindConst(w) : nullptr;
    if (!c || c->type != kFloat || c->f.empty() || int64_t(c->f.size()) != Count(c->dims)) {
      out.push_back(std::move(n));
      continue;
    }
    int axis = -1;
    if (n.op_type == "Conv" && c->dims.size() >= 3)
      axis = 0;
    else if (n.op_type == "Gemm" && c->dims.size() == 2)
      axis = n.AttrInt("transB", 0) != 0 ? 0 : 1;
    else if (n.op_type == "MatMul" && c->dims.size() == 2)
      axis = 1;
    const std::string key = w + "@" + std::to_string(axis);
    if (axis < 0 || (!made.count(key) && c->dims[size_t(axis)] < 1)) {
      out.push_back(std::move(n));
      continue;
    }
    if (!made.count(key)) {
      const int64_t channels = c->dims[size_t(axis)];
      int64_t inner = 1;
      for (size_t d = size_t(axis) + 1; d < c->dims.size(); d++) inner *= c->dims[d];
      std::vector<float> s(size_t(channels), 0.0f);
      bool ok = true, any = false;
      for (size_t k = 0; k < c->f.size() && ok; k++) {
        const float v = c->f[k];
        if (v == 0) continue;
        const float a = std::fabs(v);
        if (!std::isfinite(a)) ok = false;
        float& so = s[size_t((int64_t(k) / inner) % channels)];
        if (so == 0)
          so = a;
        else if (so != a)
          ok = false;
        any = true;
      }
      if (!ok || !any) {
        out.push_back(std::move(n));
        continue;
      }
      for (float& so : s)
        if (so == 0) so = 1.0f;  // an all-zero channel: codes 0, any scale
      Const codes;
      codes.type = kInt8;
      codes.dims = c->dims;
      codes.i.resize(c->f.size());
      for (size_t k = 0; k < c->f.size(); k++)
        codes.i[k] = c->f[k] > 0 ? 1 : (c->f[k] < 0 ? -1 : 0);
      Const scale;
      scale.type = kFloat;
      scale.dims = {channels};
      scale.f = s;
      Const zp;
      zp.type = kInt8;
      zp.dims = {channels};
      zp.i.assign(size_t(channels), 0);
      Node dq;
      dq.name = names.Make(w + "/DequantizeLinear");
      dq.op_type = "DequantizeLinear";
      dq.inputs = {names.Make(w + "/codes"), names.Make(w + "/scale"),
                   names.Make(w + "/zero_point")};
      const bool rename = reads[w] == 1 && !g->IsGraphOutput(w);
      dq.outputs = {rename ? w : names.Make(w + "/dequantized")};
      Attr a;
      a.kind = Attr::kInt;
      a.i = axis;
      dq.attrs["axis"] = a;
      if (rename) g->initializers.erase(w);  // `c` is not read after this
      g->initializers[dq.inputs[0]] = std::move(codes);
      g->initializers[dq.inputs[1]] = std::move(scale);
      g->initializers[dq.inputs[2]] = std::move(zp);
      made[key] = dq.outputs[0];
      out.push_back(std::move(dq));
    }
    n.inputs[1] = made[key];
    out.push_back(std::move(n));
  }
  g->nodes = std::move(out);
  return !made.empty();
}

}  // namespace

void FoldBinaryWeights(Graph* g, Diagnostics* diag) {
  bool changed = FoldConstantWeights(g, diag);
  changed = BinaryWeightsToFolded(g) || changed;
  // Step 3: Sign on an activation.
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& n = g->nodes[k];
    if (n.op_type != "Sign" || !n.domain.empty()) continue;
    bool is_const = true;
    for (const auto& in : n.inputs)
      if (!in.empty() && !g->FindConst(in)) is_const = false;
    if (is_const) continue;  // a constant Sign not feeding a weight: CheckSupported lists it
    diag->AddNode(n,
                  "bipolar (Sign) activations are not supported yet; quantize activations with "
                  "QuantizeLinear / QONNX Quant");
    dead.push_back(int(k));  // reported once here, not again as an unsupported op
  }
  g->EraseNodes(dead);
  if (changed) g->DropUnusedInitializers();  // the float weights and scales folded away
}

}  // namespace cv
}  // namespace crumb
