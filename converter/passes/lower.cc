// Lowers the recognised graph to crumb ops, following schema/README.md "Operator semantics":
// every op between DequantizeLinear'd inputs and a QuantizeLinear becomes one crumb op whose
// output tensor carries the QuantizeLinear's parameters. Shapes are inferred here (logical ONNX
// shapes, -1 for the dynamic batch dimension).
#include <cmath>
#include <set>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t k = 0; k < s.size(); k++) r += (k ? "," : "") + std::to_string(s[k]);
  return r + "]";
}

// Output extent of a window op along one axis, with ONNX's pads / auto_pad rules. Writes the
// padding actually used to *begin / *end.
bool WindowExtent(int64_t in, int64_t k, int64_t stride, int64_t dil, const std::string& auto_pad,
                  bool ceil_mode, int64_t* begin, int64_t* end, int64_t* out) {
  const int64_t eff = dil * (k - 1) + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    *out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>(0, (*out - 1) * stride + eff - in);
    *begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *end = total - *begin;
    return *out > 0;
  }
  if (auto_pad == "VALID") *begin = *end = 0;
  const int64_t span = in + *begin + *end - eff;
  if (span < 0) return false;
  if (ceil_mode) {
    *out = (span + stride - 1) / stride + 1;
    // The last window must start inside the input or its leading padding (PyTorch / ORT rule).
    if ((*out - 1) * stride >= in + *begin) --*out;
  } else {
    *out = span / stride + 1;
  }
  return true;
}

class Lowerer {
 public:
  Lowerer(const Graph& g, CModel* m, Diagnostics* diag, std::vector<LayerOverride>* layers)
      : g_(g), m_(m), diag_(diag), index_(IndexValues(g)) {
    lookup_ = [this](const std::string& v) -> const IndexValue* {
      auto it = index_values_.find(v);
      return it == index_values_.end() ? nullptr : &it->second;
    };
    // --config "float": the last matching entry that says decides, per Conv / Gemm / MatMul.
    for (const Node& n : g_.nodes) {
      if (!n.domain.empty() ||
          (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul"))
        continue;
      bool keep = false;
      for (size_t k = 0; layers && k < layers->size(); k++) {
        LayerOverride& o = (*layers)[k];
        if (!o.has_float || !LayerMatches(o, n.name)) continue;
        o.matched++;
        keep = o.keep_float;
      }
      if (keep) keep_float_.insert(n.name);
    }
  }

  void Run() {
    for (const auto& in : g_.inputs) {
      std::vector<int64_t> shape = in.shape;
      bool ok = in.has_shape;
      for (size_t d = 0; d < shape.size(); d++)
        if (shape[d] < 0 && d != 0) {
          diag_->Add("graph input '" + in.name + "': dimension " + std::to_string(d) +
                     " is dynamic; only the first (batch) dimension may be");
          ok = false;
        }
      if (!in.has_shape) diag_->Add("graph input '" + in.name + "' has no shape");
      CTensor t;
      t.name = in.name;
      t.shape = shape;
      const int idx = AddTensor(std::move(t));
      m_->inputs.push_back(idx);
      float_of_[in.name] = idx;
      shape_of_[in.name] = shape;
      if (!ok) failed_.insert(in.name);
    }
    for (const auto& n : g_.nodes) Visit(n);
    for (const auto& o : g_.outputs) {
      auto it = float_of_.find(o.name);
      if (it != float_of_.end() && !g_.IsGraphInput(o.name)) {
        m_->outputs.push_back(it->second);
      } else if (!failed_.count(o.name)) {
        diag_->Add("graph output '" + o.name +
                   "' is not the DequantizeLinear of a quantized tensor nor the float output of a "
                   "Conv / Gemm / MatMul");
      }
    }
  }

 private:
  int AddTensor(CTensor t) {
    m_->tensors.push_back(std::move(t));
    return int(m_->tensors.size()) - 1;
  }

  CTensor QuantTensor(const QuantInfo& q, const std::vector<int64_t>& shape) {
    CTensor t;
    t.name = q.tensor_name;
    t.shape = shape;
    t.type = ElemType::kQuant;
    t.bits = q.bits;
    t.encoding = q.encoding;
    t.has_quant = true;
    t.scale = q.scale;
    t.zero_point = q.zero_point;
    t.axis = q.axis;
    t.qmin = q.qmin;
    t.qmax = q.qmax;
    return t;
  }

  // The quantized crumb tensor behind float value `v`, or -1 (with a problem reported unless an
  // earlier failure explains it).
  int QuantInput(const Node& n, const std::string& v) {
    auto it = quant_of_.find(v);
    if (it != quant_of_.end()) return it->second;
    if (!failed_.count(v))
      diag_->AddNode(n, "its input '" + v +
                            "' is not a quantized tensor (expected QuantizeLinear -> "
                            "DequantizeLinear before it)");
    return -1;
  }

  const Node* ProducerNode(const std::string& v) const {
    const int p = g_.Producer(v);
    return p < 0 ? nullptr : &g_.nodes[size_t(p)];
  }

  void Fail(const Node& n) {
    for (const auto& o : n.outputs) failed_.insert(o);
  }

  // E(v) of the requantizing epilogue for a float bound, as a code in [q.qmin, q.qmax].
  static int64_t CodeOf(float bound, const QuantInfo& q) {
    const float v = bound / q.scale[0];
    double c = std::nearbyint(double(v)) + double(q.zero_point[0]);
    c = std::min(std::max(c, double(q.qmin)), double(q.qmax));
    return int64_t(c);
  }

  CClamp ClampFor(const Node& n, const QuantInfo* out) {
    CClamp c;
    if (out) {
      c.qmin = out->qmin;
      c.qmax = out->qmax;
      if (n.clamp_lo != -kInf) c.qmin = std::max(c.qmin, CodeOf(n.clamp_lo, *out));
      if (n.clamp_hi != kInf) c.qmax = std::min(c.qmax, CodeOf(n.clamp_hi, *out));
      if (c.qmin > c.qmax) c.qmin = c.qmax = CodeOf(n.clamp_lo, *out);
    } else {
      c.fmin = n.clamp_lo;
      c.fmax = n.clamp_hi;
    }
    return c;
  }

  void Visit(const Node& n) {
    if (n.op_type == kQConstOp) return;  // materialized by the ops that read it
    if (n.op_type == kFakeQuantOp) return VisitFakeQuant(n);
    if (n.domain.empty() && !n.outputs.empty() && index_.count(n.outputs[0])) return VisitIndex(n);
    if (n.op_type == kSpatialMaskOp || n.op_type == kTableOp) return VisitCompute(n);
    static const std::set<std::string> compute = {
        "Conv",    "Gemm",    "MatMul", "Add",  "MaxPool", "AveragePool", "GlobalAveragePool",
        "Flatten", "Reshape", "Concat", "Relu", "Clip",    "Resize"};
    static const std::set<std::string> tensor_ops = {"Slice", "Softmax", "LayerNormalization",
                                                     "Transpose"};
    if (n.domain.empty() && (compute.count(n.op_type) || tensor_ops.count(n.op_type)))
      return VisitCompute(n);
    if (IsActivationMulOrSub(g_, n)) return VisitCompute(n);
    if (n.domain.empty() && n.op_type == "Split") return VisitSplit(n);
    // Anything else left here was reported by an earlier pass or has no place in a crumb model.
    for (const auto& i : n.inputs)
      if (failed_.count(i)) return Fail(n);
    if (n.op_type == "QuantizeLinear")
      diag_->AddNode(n, "its output is not read by a DequantizeLinear");
    else if (n.op_type != "BatchNormalization" && n.op_type != "DequantizeLinear" &&
             n.op_type != "Pad")  // (FoldPad said why)
      diag_->AddNode(n, "cannot be lowered here");
    Fail(n);
  }

  // Arithmetic on shapes: evaluated here, for the Slice / Split / Reshape that read it. Shape
  // reads the inferred shape of its input (the dynamic batch as kDynamicIndex).
  void VisitIndex(const Node& n) {
    std::vector<IndexValue> held(n.inputs.size());
    std::vector<const IndexValue*> in(n.inputs.size(), nullptr);
    for (size_t k = 0; k < n.inputs.size(); k++) {
      const std::string& v = n.inputs[k];
      if (v.empty()) continue;
      if (failed_.count(v)) return Fail(n);
      if (k == 0 && n.op_type == "Shape") {
        auto it = shape_of_.find(v);
        if (it == shape_of_.end()) {
          diag_->AddNode(
              n, "reads the shape of '" + v + "', which is not an activation crumb computes");
          return Fail(n);
        }
        held[k].dims = {int64_t(it->second.size())};
        for (int64_t d : it->second) held[k].v.push_back(d < 0 ? kDynamicIndex : d);
        in[k] = &held[k];
      } else if (const IndexValue* iv = lookup_(v)) {
        in[k] = iv;
      } else if (const Const* c = g_.FindConst(v)) {
        held[k].dims = c->dims;
        held[k].v = c->i;
        in[k] = &held[k];
      }
    }
    IndexValue out;
    std::string problem;
    if (!EvalIndexOp(n, in, &out, &problem)) {
      diag_->AddNode(n, "cannot be evaluated on the activations' shapes: " + problem);
      return Fail(n);
    }
    index_values_[n.outputs[0]] = std::move(out);
  }

  // Each output of a Split is a Slice of its part (opset-1 attributes, which ResolveSlice reads),
  // named "<split>:<output index>".
  void VisitSplit(const Node& n) {
    for (const auto& i : n.inputs)
      if (!i.empty() && failed_.count(i)) return Fail(n);
    auto it = shape_of_.find(n.Input(0));
    if (it == shape_of_.end()) {
      QuantInput(n, n.Input(0));  // reports the missing quantized input
      return Fail(n);
    }
    std::vector<SliceSpec> parts;
    std::string problem;
    if (!ResolveSplit(g_, lookup_, n, it->second, &parts, &problem)) {
      diag_->AddNode(n, problem);
      return Fail(n);
    }
    const int64_t axis = n.AttrInt("axis", 0) < 0
                             ? n.AttrInt("axis", 0) + int64_t(it->second.size())
                             : n.AttrInt("axis", 0);
    for (size_t k = 0; k < parts.size(); k++) {
      if (n.outputs[k].empty()) continue;
      Node s;
      s.name = n.name + ":" + std::to_string(k);
      s.op_type = "Slice";
      s.inputs = {n.Input(0)};
      s.outputs = {n.outputs[k]};
      const int64_t b = parts[k].starts[size_t(axis)];
      auto ints = [](std::vector<int64_t> v) {
        Attr a;
        a.kind = Attr::kInts;
        a.ints = std::move(v);
        return a;
      };
      s.attrs["starts"] = ints({b});
      s.attrs["ends"] = ints({b + parts[k].counts[size_t(axis)]});
      s.attrs["axes"] = ints({axis});
      VisitCompute(s);
    }
  }

  // A QuantizeLinear chain whose producer did not already write its tensor: the graph input
  // (QUANTIZE) or another quantized tensor (REQUANTIZE, or nothing when the parameters match).
  void VisitFakeQuant(const Node& n) {
    const QuantInfo& q = *n.quant;
    const std::string src = n.Input(0), x = n.outputs[0];
    if (!quant_of_.count(x)) {
      auto named = tensor_by_name_.find(q.tensor_name);
      if (named != tensor_by_name_.end()) {
        quant_of_[x] = named->second;
      } else if (failed_.count(src)) {
        return Fail(n);
      } else if (g_.IsGraphInput(src) || float_layer_out_.count(src)) {
        // A float value: QUANTIZE (a graph input, or the output of a float layer).
        const int out = AddTensor(QuantTensor(q, shape_of_[src]));
        COp op;
        op.opcode = OpCode::kQuantize;
        op.name = q.q_node;
        op.inputs = {float_of_[src]};
        op.outputs = {out};
        m_->ops.push_back(op);
        tensor_by_name_[q.tensor_name] = out;
        quant_of_[x] = out;
      } else if (quant_of_.count(src)) {
        const int in = quant_of_[src];
        const CTensor it = m_->tensors[size_t(in)];
        if (it.scale == q.scale && it.zero_point == q.zero_point && it.qmin == q.qmin &&
            it.qmax == q.qmax && it.bits == q.bits && it.encoding == q.encoding) {
          quant_of_[x] = in;  // QuantizeLinear(DequantizeLinear(y)) with y's own parameters
        } else {
          const int out = AddTensor(QuantTensor(q, it.shape));
          COp op;
          op.opcode = OpCode::kRequantize;
          op.name = q.q_node;
          op.inputs = {in};
          op.outputs = {out};
          op.has_clamp = true;
          op.clamp.qmin = q.qmin;
          op.clamp.qmax = q.qmax;
          m_->ops.push_back(op);
          tensor_by_name_[q.tensor_name] = out;
          quant_of_[x] = out;
        }
      } else {
        const Node* p = ProducerNode(src);
        diag_->AddNode(n, "the value it quantizes, '" + src + "', comes from " +
                              (p ? Diagnostics::Describe(*p) : std::string("outside the graph")) +
                              ", which cannot be lowered to a quantized op");
        return Fail(n);
      }
    }
    shape_of_[x] = m_->tensors[size_t(quant_of_[x])].shape;
    if (g_.IsGraphOutput(x)) {
      CTensor t;
      t.name = x;
      t.shape = shape_of_[x];
      const int out = AddTensor(std::move(t));
      COp op;
      op.opcode = OpCode::kDequantize;
      op.name = q.dq_node;
      op.inputs = {quant_of_[x]};
      op.outputs = {out};
      m_->ops.push_back(op);
      float_of_[x] = out;
    }
  }

  // ------------------------------------------------------------------ compute nodes

  struct Target {
    const QuantInfo* q = nullptr;  // null: FLOAT32 graph output
    std::string value;             // the float value the target defines (FakeQuant output)
  };

  void VisitCompute(const Node& n) {
    for (const auto& i : n.inputs)
      if (!i.empty() && failed_.count(i)) return Fail(n);
    if (IsFloatLayer(n)) return VisitFloatLayer(n);
    if (float_of_.count(n.Input(0)) && IsFloatSoftmax(n, n.Input(0))) return VisitFloatSoftmax(n);
    const std::string f = n.outputs[0];
    const bool float_out_ok = n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul";
    // Where does the float result go?
    std::vector<Target> targets;
    std::set<std::string> seen;
    bool other_readers = false, float_readers = false;
    for (int c : g_.Consumers(f)) {
      const Node& r = g_.nodes[size_t(c)];
      if (r.op_type == kFakeQuantOp) {
        if (seen.insert(r.quant->tensor_name).second) targets.push_back({r.quant.get(), ""});
      } else if (float_out_ok && ReadsAsFloatInput(r, f)) {
        float_readers = true;  // a float layer reads the FLOAT32 output directly
      } else {
        other_readers = true;
      }
    }
    const bool passthrough =
        n.op_type == "Flatten" || n.op_type == "Reshape" || n.op_type == "MaxPool" ||
        n.op_type == kSpatialMaskOp || n.op_type == "Slice" || n.op_type == "Transpose" ||
        (n.op_type == "Resize" && n.AttrString("mode", "nearest") == "nearest");
    if (g_.IsGraphOutput(f) || float_readers) {
      if (!float_out_ok) {
        diag_->AddNode(n, "its float output '" + f +
                              "' is a graph output; only Conv / Gemm / MatMul may give a float "
                              "output without a QuantizeLinear");
        return Fail(n);
      }
      targets.push_back({nullptr, f});
    }
    std::vector<int64_t> shape;
    if (!InferShape(n, &shape)) return Fail(n);
    shape_of_[f] = shape;
    if (other_readers) {
      if (!passthrough) {
        for (int c : g_.Consumers(f)) {
          const Node& r = g_.nodes[size_t(c)];
          if (r.op_type != kFakeQuantOp)
            diag_->AddNode(r, "its input '" + f + "' is the float output of " +
                                  Diagnostics::Describe(n) +
                                  "; insert QuantizeLinear -> DequantizeLinear between them");
        }
        return Fail(n);
      }
    }
    if (targets.empty() && !other_readers) return;  // dead code
    int k = 0;
    for (const Target& t : targets) {
      const std::string name = k == 0 ? n.name : n.name + "#" + std::to_string(k + 1);
      k++;
      int out;
      if (t.q) {
        out = AddTensor(QuantTensor(*t.q, shape));
        tensor_by_name_[t.q->tensor_name] = out;
      } else {
        CTensor ft;
        ft.name = f;
        ft.shape = shape;
        out = AddTensor(std::move(ft));
        float_of_[f] = out;
      }
      if (!Emit(n, name, t.q, out)) return Fail(n);
    }
    if (other_readers) {
      // Max pool, reshapes and masks commute with dequantization: without a QuantizeLinear after
      // them their output keeps the input's parameters.
      const int in = QuantInput(n, n.Input(0));
      if (in < 0) return Fail(n);
      CTensor t = m_->tensors[size_t(in)];
      t.name = f;
      t.shape = shape;
      t.spatial_mask.clear();  // a mask belongs to its tensor, not to what is computed from it
      QuantInfo qi;
      qi.scale = t.scale;
      qi.zero_point = t.zero_point;
      qi.qmin = t.qmin;
      qi.qmax = t.qmax;
      const int out = AddTensor(std::move(t));
      if (!Emit(n, targets.empty() ? n.name : n.name + "#" + std::to_string(k + 1), &qi, out))
        return Fail(n);
      quant_of_[f] = out;
    }
  }

  bool InferShape(const Node& n, std::vector<int64_t>* out) {
    auto in_shape = [&](size_t k) -> const std::vector<int64_t>* {
      auto it = shape_of_.find(n.Input(k));
      return it == shape_of_.end() ? nullptr : &it->second;
    };
    const std::vector<int64_t>* x = in_shape(0);
    if (!x) {
      QuantInput(n, n.Input(0));  // reports the missing quantized input
      return false;
    }
    const std::string& op = n.op_type;
    if (op == "Relu" || op == "Clip" || op == kTableOp) {
      *out = *x;
      return true;
    }
    if (op == kSpatialMaskOp) {
      const std::vector<int64_t> hw = n.AttrInts("mask_hw");
      if (x->size() != 4 || hw.size() != 2 || (*x)[2] != hw[0] || (*x)[3] != hw[1]) {
        diag_->AddNode(n, "multiplies a tensor of shape " + ShapeStr(*x) + " by a " +
                              (hw.size() == 2 ? std::to_string(hw[0]) + "x" + std::to_string(hw[1])
                                              : std::string("malformed")) +
                              " spatial mask; a mask needs a 4-D NCHW activation of its height "
                              "and width");
        return false;
      }
      *out = *x;
      return true;
    }
    if (op == "Conv" || op == "MaxPool" || op == "AveragePool") {
      Geometry geo;
      if (!WindowGeometry(n, *x, &geo)) return false;
      *out = {(*x)[0], geo.channels_out, geo.out_h, geo.out_w};
      return true;
    }
    if (op == "Resize") {
      Resize r;
      if (!ResizeGeometry(n, *x, &r)) return false;
      *out = {(*x)[0], (*x)[1], r.out_h, r.out_w};
      return true;
    }
    if (op == "GlobalAveragePool") {
      if (x->size() != 4) {
        diag_->AddNode(n, "needs a 4-D NCHW input, got " + ShapeStr(*x));
        return false;
      }
      *out = {(*x)[0], (*x)[1], 1, 1};
      return true;
    }
    if (ActivationMatMul(n)) {
      const std::vector<int64_t>* y = in_shape(1);
      if (!y) {
        QuantInput(n, n.Input(1));
        return false;
      }
      const bool shared_b = y->size() == 2;
      bool ok = x->size() >= 2 && y->size() >= 2 && (*x)[x->size() - 1] == (*y)[y->size() - 2] &&
                (shared_b || y->size() == x->size());
      for (size_t d = 0; ok && !shared_b && d + 2 < x->size(); d++) ok = (*x)[d] == (*y)[d];
      if (!ok) {
        diag_->AddNode(n, "multiplies activations of shapes " + ShapeStr(*x) + " and " +
                              ShapeStr(*y) +
                              ": crumb needs [..., M, K] x [..., K, N] with equal leading "
                              "dimensions or a second operand of rank 2");
        return false;
      }
      *out = *x;
      out->back() = y->back();
      return true;
    }
    if (op == "Softmax" || op == "LayerNormalization") {
      *out = *x;
      return true;
    }
    if (op == "Transpose") {
      std::vector<int64_t> perm = n.AttrInts("perm");
      if (!n.HasAttr("perm"))
        for (size_t d = x->size(); d-- > 0;) perm.push_back(int64_t(d));
      std::vector<bool> seen(x->size(), false);
      bool ok = perm.size() == x->size();
      for (size_t d = 0; ok && d < perm.size(); d++) {
        ok = perm[d] >= 0 && perm[d] < int64_t(x->size()) && !seen[size_t(perm[d])];
        if (ok) seen[size_t(perm[d])] = true;
      }
      if (!ok) {
        diag_->AddNode(n, "perm " + ShapeStr(perm) + " is not a permutation of the input's " +
                              std::to_string(x->size()) + " axes");
        return false;
      }
      if (!x->empty() && (*x)[0] < 0 && perm[0] != 0) {
        diag_->AddNode(n, "moves the dynamic batch dimension away from the front");
        return false;
      }
      out->clear();
      for (int64_t d : perm) out->push_back((*x)[size_t(d)]);
      return true;
    }
    if (op == "Gemm" || op == "MatMul") {
      const QuantInfo* w = WeightOf(n);
      if (!w) return false;
      if (w->dims.size() != 2) {
        diag_->AddNode(n, "needs a 2-D weight, got " + ShapeStr(w->dims));
        return false;
      }
      const bool trans_b = op == "Gemm" && n.AttrInt("transB", 0) != 0;
      const int64_t kdim = trans_b ? w->dims[1] : w->dims[0];
      const int64_t ndim = trans_b ? w->dims[0] : w->dims[1];
      if ((op == "Gemm" && x->size() != 2) || x->empty() || x->back() != kdim) {
        diag_->AddNode(n, "input shape " + ShapeStr(*x) + " does not match the weight shape " +
                              ShapeStr(w->dims));
        return false;
      }
      *out = *x;
      out->back() = ndim;
      return true;
    }
    if (op == "Mul") {
      const std::vector<int64_t>* y = in_shape(1);
      if (!y) {
        QuantInput(n, n.Input(1));
        return false;
      }
      if (*x == *y || IsGate(*y, *x)) {
        *out = *x;
      } else if (IsGate(*x, *y)) {
        *out = *y;
      } else {
        diag_->AddNode(n, "multiplies " + ShapeStr(*x) + " by " + ShapeStr(*y) +
                              "; crumb multiplies activations of one shape, or an [N, C, H, W] one "
                              "by an [N, C, 1, 1] one (a channel gate)");
        return false;
      }
      return true;
    }
    if (op == "Add" || op == "Sub") {
      const std::vector<int64_t>* y = in_shape(1);
      if (!y) {
        QuantInput(n, n.Input(1));
        return false;
      }
      if (*x != *y) {
        diag_->AddNode(n, "broadcasting " + op + " (" + ShapeStr(*x) +
                              (op == "Add" ? " + " : " - ") + ShapeStr(*y) + ") is not supported");
        return false;
      }
      *out = *x;
      return true;
    }
    if (op == "Flatten") {
      int64_t axis = n.AttrInt("axis", 1);
      if (axis < 0) axis += int64_t(x->size());
      if (axis < 0 || axis > int64_t(x->size())) {
        diag_->AddNode(n, "axis out of range");
        return false;
      }
      const bool dyn = !x->empty() && (*x)[0] < 0;
      if (dyn && axis != 1) {
        diag_->AddNode(n, "flattening the dynamic batch dimension (axis " + std::to_string(axis) +
                              ") is not supported");
        return false;
      }
      int64_t outer = 1, inner = 1;
      for (int64_t d = 0; d < int64_t(x->size()); d++)
        (d < axis ? outer : inner) *= (*x)[size_t(d)];
      *out = {dyn ? -1 : outer, inner};
      return true;
    }
    if (op == "Reshape") return ReshapeShape(n, *x, out);
    if (op == "Slice") {
      SliceSpec s;
      std::string problem;
      if (!ResolveSlice(g_, lookup_, n, *x, &s, &problem)) {
        diag_->AddNode(n, problem);
        return false;
      }
      *out = s.counts;
      return true;
    }
    if (op == "Concat") {
      int64_t axis = n.AttrInt("axis", 0);
      if (axis < 0) axis += int64_t(x->size());
      if (axis < 0 || axis >= int64_t(x->size())) {
        diag_->AddNode(n, "axis out of range");
        return false;
      }
      if (axis == 0 && (*x)[0] < 0) {
        diag_->AddNode(n, "concatenating along the dynamic batch dimension is not supported");
        return false;
      }
      *out = *x;
      for (size_t k = 1; k < n.inputs.size(); k++) {
        const std::vector<int64_t>* y = in_shape(k);
        if (!y) {
          QuantInput(n, n.Input(k));
          return false;
        }
        bool ok = y->size() == x->size();
        for (size_t d = 0; ok && d < y->size(); d++)
          if (int64_t(d) != axis && (*y)[d] != (*x)[d]) ok = false;
        if (!ok) {
          diag_->AddNode(n, "input shapes " + ShapeStr(*x) + " and " + ShapeStr(*y) +
                                " do not match outside axis " + std::to_string(axis));
          return false;
        }
        (*out)[size_t(axis)] += (*y)[size_t(axis)];
      }
      return true;
    }
    diag_->AddNode(n, "no shape rule");
    return false;
  }

  // The product of r[from..] but r[skip], or false when it overflows int64 (a hostile target).
  static bool TargetProduct(const std::vector<int64_t>& r, size_t from, int skip, int64_t* p) {
    *p = 1;
    for (size_t d = from; d < r.size(); d++)
      if (int(d) != skip && __builtin_mul_overflow(*p, r[d], p)) return false;
    return true;
  }

  bool ReshapeShape(const Node& n, const std::vector<int64_t>& x, std::vector<int64_t>* out) {
    const Const* c = g_.FindConst(n.Input(1));
    const IndexValue* iv = c ? nullptr : lookup_(n.Input(1));
    if ((!c || c->type != kInt64) && !iv) {
      diag_->AddNode(n, "the target shape '" + n.Input(1) +
                            "' must be an INT64 constant or computed from the shapes of "
                            "activations");
      return false;
    }
    std::vector<int64_t> target = c ? c->i : iv->v;
    for (size_t d = 0; d < target.size(); d++) {
      if (target[d] != kDynamicIndex) continue;
      // x.view(x.size(0), ...): the dynamic batch in front is ONNX's 0, "the input's".
      if (d != 0) {
        diag_->AddNode(
            n, "target dimension " + std::to_string(d) + " depends on the dynamic batch size");
        return false;
      }
      target[d] = 0;
    }
    const bool dyn = !x.empty() && x[0] < 0;
    int64_t known = 1;  // product of the input's static dims
    for (size_t d = dyn ? 1 : 0; d < x.size(); d++) known *= x[d];
    std::vector<int64_t> r = target;
    int infer = -1;
    bool batch_kept = false;
    auto too_large = [&] {
      diag_->AddNode(
          n, "the target shape " + ShapeStr(target) + " has more elements than int64 holds");
      return false;
    };
    for (size_t d = 0; d < r.size(); d++) {
      if (r[d] == 0) {
        if (d >= x.size()) {
          diag_->AddNode(n, "target dimension 0 copies a dimension the input does not have");
          return false;
        }
        r[d] = x[d];
        if (d == 0 && dyn) batch_kept = true;
      } else if (r[d] == -1) {
        if (infer >= 0) {
          diag_->AddNode(n, "the target shape has more than one -1");
          return false;
        }
        infer = int(d);
      } else if (r[d] < -1) {
        diag_->AddNode(n, "invalid target dimension " + std::to_string(r[d]));
        return false;
      }
    }
    if (dyn) {
      // The dynamic batch must stay the leading dimension: kept by 0, or the -1 in front.
      if (!batch_kept && infer != 0) {
        diag_->AddNode(n, "the target shape " + ShapeStr(target) +
                              " does not keep the dynamic batch dimension in front");
        return false;
      }
      if (batch_kept && infer > 0) {
        int64_t p = 1;
        if (!TargetProduct(r, 1, infer, &p)) return too_large();
        if (p == 0 || known % p != 0) {
          diag_->AddNode(n, "cannot infer the -1 of the target shape " + ShapeStr(target));
          return false;
        }
        r[size_t(infer)] = known / p;
      }
      int64_t p = 1;
      if (!TargetProduct(r, 1, -1, &p)) return too_large();
      if (p != known) {
        diag_->AddNode(
            n, "the target shape " + ShapeStr(target) + " does not fit input " + ShapeStr(x));
        return false;
      }
      r[0] = -1;
      *out = r;
      return true;
    }
    int64_t p = 1;
    if (!TargetProduct(r, 0, infer, &p)) return too_large();
    if (infer >= 0) {
      if (p == 0 || known % p != 0) {
        diag_->AddNode(n, "cannot infer the -1 of the target shape " + ShapeStr(target));
        return false;
      }
      r[size_t(infer)] = known / p;
      p *= r[size_t(infer)];
    }
    if (p != known) {
      diag_->AddNode(n,
                     "the target shape " + ShapeStr(target) + " does not fit input " + ShapeStr(x));
      return false;
    }
    *out = r;
    return true;
  }

  struct Resize {
    int64_t out_h = 0, out_w = 0;
    float scale_h = 1.f, scale_w = 1.f;
    int mode = 0, coordinates = 0, nearest = 0;  // schema ResizeMode / Coordinates / Nearest
  };

  // Output size and options of a Resize of H and W (CheckSupported refused the other forms), as
  // ONNX Runtime computes them: from scales, floor(scale * in) in float; from sizes, the scale
  // float(out) / float(in).
  bool ResizeGeometry(const Node& n, const std::vector<int64_t>& x, Resize* r) {
    if (x.size() != 4 || x[2] < 1 || x[3] < 1) {
      diag_->AddNode(
          n, "resizes only 4-D NCHW inputs with a static height and width, got " + ShapeStr(x));
      return false;
    }
    const Const* sc = n.Input(2).empty() ? nullptr : g_.FindConst(n.Input(2));
    const Const* sz = n.Input(3).empty() ? nullptr : g_.FindConst(n.Input(3));
    if (sc && sc->size() == 4 && sc->type == kFloat) {
      r->scale_h = sc->f[2];
      r->scale_w = sc->f[3];
      r->out_h = int64_t(r->scale_h * float(x[2]));
      r->out_w = int64_t(r->scale_w * float(x[3]));
    } else if (sz && sz->size() == 4 && sz->type == kInt64) {
      if (sz->i[0] != x[0] || sz->i[1] != x[1]) {
        diag_->AddNode(n, "its sizes " + ShapeStr(sz->i) + " change the batch or channels of " +
                              ShapeStr(x) +
                              " (only height and width are resized; with a dynamic batch, give "
                              "scales)");
        return false;
      }
      r->out_h = sz->i[2];
      r->out_w = sz->i[3];
      r->scale_h = float(r->out_h) / float(x[2]);
      r->scale_w = float(r->out_w) / float(x[3]);
    } else {
      diag_->AddNode(n, "needs constant scales or sizes");
      return false;
    }
    const float lo = 1.f / 65536.f, hi = 65536.f;
    if (!(r->scale_h >= lo && r->scale_h <= hi && r->scale_w >= lo && r->scale_w <= hi) ||
        r->out_h < 1 || r->out_w < 1 || r->out_h > (1 << 24) || r->out_w > (1 << 24)) {
      diag_->AddNode(n, "resizes " + ShapeStr(x) + " to " + std::to_string(r->out_h) + "x" +
                            std::to_string(r->out_w) +
                            "; scales must be in [2^-16, 2^16] and the output between 1 and 2^24 "
                            "pixels high and wide");
      return false;
    }
    r->mode = n.AttrString("mode", "nearest") == "linear" ? 1 : 0;
    const std::string coord = n.AttrString("coordinate_transformation_mode", "half_pixel");
    r->coordinates = coord == "asymmetric"           ? 1
                     : coord == "align_corners"      ? 2
                     : coord == "pytorch_half_pixel" ? 3
                                                     : 0;
    const std::string nearest = n.AttrString("nearest_mode", "round_prefer_floor");
    r->nearest = nearest == "round_prefer_ceil" ? 1
                 : nearest == "floor"           ? 2
                 : nearest == "ceil"            ? 3
                                                : 0;
    return true;
  }

  struct Geometry {
    int64_t kh = 0, kw = 0, sh = 1, sw = 1, dh = 1, dw = 1;
    int64_t pt = 0, pl = 0, pb = 0, pr = 0;
    int64_t groups = 1, channels_out = 0, out_h = 0, out_w = 0;
    bool ceil_mode = false;
  };

  bool WindowGeometry(const Node& n, const std::vector<int64_t>& x, Geometry* geo) {
    if (x.size() != 4) {
      diag_->AddNode(n, "only 2-D (NCHW) inputs are supported, got " + ShapeStr(x));
      return false;
    }
    const bool conv = n.op_type == "Conv";
    std::vector<int64_t> k = n.AttrInts("kernel_shape");
    geo->channels_out = x[1];
    if (conv) {
      const QuantInfo* w = WeightOf(n);
      if (!w) return false;
      if (w->dims.size() != 4) {
        diag_->AddNode(n, "needs a 4-D weight, got " + ShapeStr(w->dims));
        return false;
      }
      geo->groups = n.AttrInt("group", 1);
      if (geo->groups < 1 || x[1] % geo->groups != 0 || w->dims[0] % geo->groups != 0 ||
          x[1] / geo->groups != w->dims[1]) {
        diag_->AddNode(n, "input " + ShapeStr(x) + ", weight " + ShapeStr(w->dims) + " and group " +
                              std::to_string(geo->groups) + " do not match");
        return false;
      }
      if (k.empty()) k = {w->dims[2], w->dims[3]};
      if (k.size() != 2 || k[0] != w->dims[2] || k[1] != w->dims[3]) {
        diag_->AddNode(n, "kernel_shape does not match the weight shape " + ShapeStr(w->dims));
        return false;
      }
      geo->channels_out = w->dims[0];
    }
    if (k.size() != 2) {
      diag_->AddNode(n, "needs a 2-D kernel_shape");
      return false;
    }
    std::vector<int64_t> s = n.AttrInts("strides"), d = n.AttrInts("dilations"),
                         p = n.AttrInts("pads");
    if (s.empty()) s = {1, 1};
    if (d.empty()) d = {1, 1};
    if (p.empty()) p = {0, 0, 0, 0};
    if (s.size() != 2 || d.size() != 2 || p.size() != 4 || s[0] < 1 || s[1] < 1 || d[0] < 1 ||
        d[1] < 1 || p[0] < 0 || p[1] < 0 || p[2] < 0 || p[3] < 0 || k[0] < 1 || k[1] < 1) {
      diag_->AddNode(n, "invalid strides / dilations / pads");
      return false;
    }
    geo->kh = k[0];
    geo->kw = k[1];
    geo->sh = s[0];
    geo->sw = s[1];
    geo->dh = d[0];
    geo->dw = d[1];
    geo->pt = p[0];
    geo->pl = p[1];
    geo->pb = p[2];
    geo->pr = p[3];
    geo->ceil_mode = !conv && n.AttrInt("ceil_mode", 0) != 0;
    const std::string auto_pad = n.AttrString("auto_pad", "NOTSET");
    if (!WindowExtent(x[2], geo->kh, geo->sh, geo->dh, auto_pad, geo->ceil_mode, &geo->pt, &geo->pb,
                      &geo->out_h) ||
        !WindowExtent(x[3], geo->kw, geo->sw, geo->dw, auto_pad, geo->ceil_mode, &geo->pl, &geo->pr,
                      &geo->out_w)) {
      diag_->AddNode(n, "the window does not fit the input " + ShapeStr(x));
      return false;
    }
    if (!conv) {
      // As ONNX Runtime requires (and the runtime's loader checks): no window entirely in the
      // padding (found by fuzz_onnx_import).
      const int64_t eh = geo->dh * (geo->kh - 1) + 1, ew = geo->dw * (geo->kw - 1) + 1;
      if (geo->pt >= eh || geo->pb >= eh || geo->pl >= ew || geo->pr >= ew) {
        diag_->AddNode(n, "has pads " + std::to_string(geo->pt) + "," + std::to_string(geo->pl) +
                              "," + std::to_string(geo->pb) + "," + std::to_string(geo->pr) +
                              " that are not smaller than its " + std::to_string(eh) + "x" +
                              std::to_string(ew) + " window");
        return false;
      }
    }
    return true;
  }

  // The quantized constant weight (input 1) of a Conv / Gemm / MatMul.
  // Softmax / LayerNormalization compute from codes of at most 8 bits into a quantized output.
  bool PerTensorIn(const Node& n, const CTensor& x, const QuantInfo* q) {
    if (q && x.scale.size() == 1 && x.bits <= 8) return true;
    diag_->AddNode(n,
                   "needs a per-tensor quantized input of at most 8 bits and a QuantizeLinear "
                   "after it");
    return false;
  }

  // g is a per-image, per-channel gate of x: x [N, C, H, W], g [N, C, 1, 1].
  static bool IsGate(const std::vector<int64_t>& g, const std::vector<int64_t>& x) {
    return x.size() == 4 && g.size() == 4 && g[0] == x[0] && g[1] == x[1] && g[2] == 1 &&
           g[3] == 1 && x != g;
  }

  // MatMul of two activations (attention's Q K^T and P V): its second input is not a constant.
  bool ActivationMatMul(const Node& n) const {
    if (n.op_type != "MatMul") return false;
    const Node* p = ProducerNode(n.Input(1));
    return !(p && p->op_type == kQConstOp) && !g_.FindConst(n.Input(1));
  }

  // The weight (input 1) of a Conv / Gemm / MatMul: a quantized constant, or for a float layer
  // a plain float constant (described by its dims only, for the shape checks).
  const QuantInfo* WeightOf(const Node& n) {
    const Node* p = ProducerNode(n.Input(1));
    if (p && p->op_type == kQConstOp) return p->quant.get();
    const Const* c = p ? nullptr : g_.FindConst(n.Input(1));
    if (c && c->type == kFloat) {
      QuantInfo& d = float_weight_dims_[n.Input(1)];
      d.dims = c->dims;
      return &d;
    }
    diag_->AddNode(n, "its weight '" + n.Input(1) +
                          "' must be a constant: a quantized one (DequantizeLinear of an integer "
                          "initializer, or QuantizeLinear -> [Clip] -> DequantizeLinear of a "
                          "float one) or a FLOAT initializer (a float layer)");
    return nullptr;
  }

  // The bias values of a Conv / Gemm / MatMul with `co` output channels (input 2, zeros when
  // absent), Gemm's alpha and beta (1 otherwise), and the check that a folded BatchNormalization or
  // bias Add has one value per channel: what quantized and float layers alike scale and shift by.
  bool LayerBias(const Node& n, int64_t co, std::vector<double>* bias, double* alpha,
                 double* beta) {
    if (!BiasValues(n, 2, co, bias)) return false;
    *alpha = n.op_type == "Gemm" ? n.AttrFloat("alpha", 1.0f) : 1.0;
    *beta = n.op_type == "Gemm" ? n.AttrFloat("beta", 1.0f) : 1.0;
    if (!n.post_mul.empty() && int64_t(n.post_mul.size()) != co) {
      diag_->AddNode(n, "has " + std::to_string(co) +
                            " output channels, but the BatchNormalization or bias Add folded into "
                            "it has " +
                            std::to_string(n.post_mul.size()));
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ float layers

  // A Conv / Gemm / MatMul computed in float32 (CONV_2D / FULLY_CONNECTED version 2): its weight
  // is a plain FLOAT initializer (the layer was left unquantized), or --config keeps it float.
  bool IsFloatLayer(const Node& n) const {
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul"))
      return false;
    if (ActivationMatMul(n)) return false;
    const Node* p = ProducerNode(n.Input(1));
    if (p) return p->op_type == kQConstOp && keep_float_.count(n.name);
    const Const* c = g_.FindConst(n.Input(1));
    return c && c->type == kFloat;
  }

  // A Softmax of float value `v` giving a graph output that nothing else reads: SOFTMAX version 2
  // (a classifier's softmax over float logits).
  bool IsFloatSoftmax(const Node& r, const std::string& v) const {
    return r.domain.empty() && r.op_type == "Softmax" && r.Input(0) == v && r.outputs.size() == 1 &&
           g_.IsGraphOutput(r.outputs[0]) && g_.Consumers(r.outputs[0]).empty();
  }

  // r is a float layer or a float Softmax reading `v` as its activation (and only there).
  bool ReadsAsFloatInput(const Node& r, const std::string& v) const {
    if (IsFloatSoftmax(r, v)) return true;
    if (!IsFloatLayer(r) || r.Input(0) != v) return false;
    for (size_t k = 1; k < r.inputs.size(); k++)
      if (r.inputs[k] == v) return false;
    return true;
  }

  // A MaxPool / Flatten / Reshape reading float value `f` whose output only quantizers of one
  // tensor read: quantizing commutes with it (a max of values is the max of their codes, the
  // quantizer being monotone; the others reorder), so `f` can be quantized with that quantizer's
  // parameters first and the op run on codes, exactly. Null when it is not such a reader.
  const QuantInfo* CommutingQuantizer(const Node& r, const std::string& f) const {
    if (!r.domain.empty() || r.Input(0) != f || r.outputs.size() != 1) return nullptr;
    if (r.op_type != "MaxPool" && r.op_type != "Flatten" && r.op_type != "Reshape") return nullptr;
    const std::string& o = r.outputs[0];
    if (g_.IsGraphOutput(o)) return nullptr;
    const QuantInfo* q = nullptr;
    for (int c : g_.Consumers(o)) {
      const Node& fq = g_.nodes[size_t(c)];
      if (fq.op_type != kFakeQuantOp || (q && q->tensor_name != fq.quant->tensor_name))
        return nullptr;
      q = fq.quant.get();
    }
    return q;
  }

  void VisitFloatLayer(const Node& n) {
    const std::string f = n.outputs[0];
    // Its FLOAT32 output goes to quantizers (QUANTIZE), other float layers, the graph output, or
    // a max pool / reshape before a quantizer (quantized first: CommutingQuantizer); anything
    // else would need a float op crumb does not have.
    bool refused = false, read = g_.IsGraphOutput(f);
    const QuantInfo* early = nullptr;  // the quantizer moved before such readers
    for (int c : g_.Consumers(f)) {
      const Node& r = g_.nodes[size_t(c)];
      read = true;
      if (r.op_type == kFakeQuantOp || ReadsAsFloatInput(r, f)) continue;
      const QuantInfo* q = CommutingQuantizer(r, f);
      if (q && (!early || SameQuant(*early, *q))) {
        early = q;
        continue;
      }
      diag_->AddNode(r, "its input '" + f + "' is the float output of the float layer " +
                            Diagnostics::Describe(n) +
                            "; insert QuantizeLinear -> DequantizeLinear between them (only "
                            "quantizers, other float Conv / Gemm / MatMul layers, and a MaxPool / "
                            "Flatten / Reshape that a quantizer follows read a float layer's "
                            "output)");
      refused = true;
    }
    if (refused) return Fail(n);
    if (!read) return;  // dead code
    std::vector<int64_t> shape;
    if (!InferShape(n, &shape)) return Fail(n);
    shape_of_[f] = shape;
    CTensor t;
    t.name = f;
    t.shape = shape;
    const int out = AddTensor(std::move(t));
    if (!EmitFloatLayer(n, out)) return Fail(n);
    float_of_[f] = out;
    float_layer_out_.insert(f);
    if (early) {
      CTensor qt = QuantTensor(*early, shape);
      qt.name = f + "/quantized";
      const int qi = AddTensor(std::move(qt));
      COp op;
      op.opcode = OpCode::kQuantize;
      op.name = n.name + "/quantize";
      op.inputs = {out};
      op.outputs = {qi};
      m_->ops.push_back(op);
      quant_of_[f] = qi;
    }
  }

  static bool SameQuant(const QuantInfo& a, const QuantInfo& b) {
    return a.scale == b.scale && a.zero_point == b.zero_point && a.qmin == b.qmin &&
           a.qmax == b.qmax && a.bits == b.bits && a.encoding == b.encoding;
  }

  // The non-negative axis of a Softmax of a rank-`rank` input, or false after reporting: one axis,
  // and before opset 13 (where Softmax flattens at its axis) only the last.
  bool SoftmaxAxis(const Node& n, int64_t rank, int64_t* axis) {
    *axis = n.AttrInt("axis", g_.opset >= 13 ? -1 : 1);
    if (*axis < 0) *axis += rank;
    if (*axis < 0 || *axis >= rank || (g_.opset < 13 && *axis != rank - 1)) {
      diag_->AddNode(n, "softmax over axis " + std::to_string(n.AttrInt("axis", 1)) +
                            " is not supported (one axis; before opset 13 only the last)");
      return false;
    }
    return true;
  }

  // SOFTMAX version 2 over the float output of a float layer or of a Conv / Gemm / MatMul with a
  // float output, giving the graph's output.
  void VisitFloatSoftmax(const Node& n) {
    const int x = float_of_[n.Input(0)];
    const CTensor xt = m_->tensors[size_t(x)];
    int64_t axis = 0;
    if (!SoftmaxAxis(n, int64_t(xt.shape.size()), &axis)) return Fail(n);
    const std::string& f = n.outputs[0];
    CTensor t;
    t.name = f;
    t.shape = xt.shape;
    const int out = AddTensor(std::move(t));
    COp op;
    op.opcode = OpCode::kSoftmax;
    op.version = 2;
    op.name = n.name;
    op.axis = int(axis);
    op.inputs = {x};
    op.outputs = {out};
    m_->ops.push_back(op);
    float_of_[f] = out;
    shape_of_[f] = xt.shape;
  }

  // The FLOAT32 tensor holding value `v` for a float layer: a graph input, another float layer's
  // output, or the DEQUANTIZE (one per quantized tensor) of a quantized value.
  int FloatInput(const Node& n, const std::string& v) {
    auto f = float_of_.find(v);
    if (f != float_of_.end()) return f->second;
    auto q = quant_of_.find(v);
    if (q == quant_of_.end()) {
      if (!failed_.count(v))
        diag_->AddNode(n, "its input '" + v +
                              "' is neither a graph input, a quantized tensor (QuantizeLinear -> "
                              "DequantizeLinear before it) nor the output of another float layer");
      return -1;
    }
    auto d = dequant_of_.find(q->second);
    if (d != dequant_of_.end()) return d->second;
    CTensor t;
    t.name = m_->FindTensor(v) < 0 ? v : v + "/float";
    t.shape = m_->tensors[size_t(q->second)].shape;
    const int out = AddTensor(std::move(t));
    const Node* p = ProducerNode(v);
    COp op;
    op.opcode = OpCode::kDequantize;
    op.name = p && p->op_type == kFakeQuantOp ? p->quant->dq_node : v + "/dequantize";
    op.inputs = {q->second};
    op.outputs = {out};
    m_->ops.push_back(op);
    dequant_of_[q->second] = out;
    return out;
  }

  // The float layer itself: w [Cout, Cin/groups, KH, KW] (Conv) or [N, K] (Gemm / MatMul), DENSE
  // FLOAT32 in ONNX order, alpha, beta and folded BatchNorm / bias Add applied in double and
  // rounded once; the fused Relu / Clip as the float clamp.
  bool EmitFloatLayer(const Node& n, int out) {
    const int x = FloatInput(n, n.Input(0));
    if (x < 0) return false;
    const bool conv = n.op_type == "Conv";
    std::vector<int64_t> dims;
    std::vector<double> w;
    const Node* p = ProducerNode(n.Input(1));
    if (p && p->op_type == kQConstOp) {
      // Kept float by --config: w = sw * (q - zw) per output channel (bipolar codes are -1 / +1).
      const QuantInfo& q = *p->quant;
      dims = q.dims;
      int64_t inner = 1;
      for (size_t d = size_t(std::max(q.axis, 0)) + 1; d < dims.size(); d++) inner *= dims[d];
      w.resize(q.codes.size());
      for (size_t i = 0; i < w.size(); i++) {
        size_t k = 0;
        if (q.scale.size() > 1 && q.axis >= 0)
          k = size_t((int64_t(i) / inner) % dims[size_t(q.axis)]);
        w[i] = double(q.scale[k]) * double(q.codes[i] - q.zero_point[k]);
      }
    } else {
      const Const* c = g_.FindConst(n.Input(1));
      dims = c->dims;
      w.assign(c->f.begin(), c->f.end());
    }
    const bool transpose =
        n.op_type == "MatMul" || (n.op_type == "Gemm" && n.AttrInt("transB", 0) == 0);
    if (transpose) {  // [K, N] -> [N, K]
      const int64_t rows = dims[0], cols = dims[1];
      std::vector<double> t(w.size());
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) t[size_t(c * rows + r)] = w[size_t(r * cols + c)];
      w.swap(t);
      dims = {cols, rows};
    }
    const int64_t co = dims[0];
    std::vector<double> bias;
    double alpha = 1.0, beta = 1.0;
    if (!LayerBias(n, co, &bias, &alpha, &beta)) return false;
    const size_t per = co > 0 ? w.size() / size_t(co) : 0;
    std::vector<float> wf(w.size()), bf(static_cast<size_t>(co));
    for (size_t o = 0; o < size_t(co); o++) {
      const double pm = n.post_mul.empty() ? 1.0 : n.post_mul[o];
      const double pa = n.post_add.empty() ? 0.0 : n.post_add[o];
      bf[o] = float(beta * bias[o] * pm + pa);
      bool finite = std::isfinite(bf[o]);
      for (size_t i = o * per; i < (o + 1) * per; i++) {
        wf[i] = float(w[i] * alpha * pm);
        finite = finite && std::isfinite(wf[i]);
      }
      // The runtime's loader refuses non-finite constants: say so here, by name.
      if (!finite) {
        diag_->AddNode(n, "output channel " + std::to_string(o) +
                              " has a non-finite weight or bias: check its weights, bias, alpha / "
                              "beta and folded BatchNormalization for NaN, infinity or values "
                              "beyond the float range");
        return false;
      }
    }
    const bool has_bias = !n.Input(2).empty() || !n.post_add.empty();
    CTensor wt;
    wt.name = n.name + "/weight";
    wt.shape = dims;
    wt.is_const = true;
    wt.fdata = std::move(wf);
    const int wi = AddTensor(std::move(wt));
    COp op;
    op.opcode = conv ? OpCode::kConv2D : OpCode::kFullyConnected;
    op.version = 2;
    op.name = n.name;
    op.inputs = {x, wi, has_bias ? FloatConst(n.name + "/bias", bf) : -1};
    op.outputs = {out};
    op.has_clamp = true;
    op.clamp = ClampFor(n, nullptr);
    op.family = KernelFamily::kXnnpack;
    op.family_source = FamilySource::kTable;
    if (conv) {
      Geometry geo;
      if (!WindowGeometry(n, m_->tensors[size_t(x)].shape, &geo)) return false;
      SetGeometry(geo, &op);
      op.groups = int(geo.groups);
    }
    op.bits_label = "w32a32";
    m_->ops.push_back(op);
    return true;
  }

  // The crumb weight tensor [O, ...] for a Conv (as is) or Gemm / MatMul (as [N, K]).
  int WeightTensor(const Node& n, const QuantInfo& w, bool transpose) {
    const std::string key = w.tensor_name + (transpose ? "^T" : "");
    auto it = weight_of_.find(key);
    if (it != weight_of_.end()) return it->second;
    CTensor t;
    t.name = w.tensor_name;
    t.type = ElemType::kQuant;
    t.bits = w.bits;
    t.encoding = w.encoding;
    t.has_quant = true;
    t.qmin = w.qmin;
    t.qmax = w.qmax;
    t.is_const = true;
    int axis = w.axis;
    if (transpose) {
      const int64_t rows = w.dims[0], cols = w.dims[1];
      t.shape = {cols, rows};
      t.codes.resize(w.codes.size());
      for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
          t.codes[size_t(c * rows + r)] = w.codes[size_t(r * cols + c)];
      if (axis >= 0) axis = 1 - axis;
    } else {
      t.shape = w.dims;
      t.codes = w.codes;
    }
    // Bipolar codes are 0 for -1 and 1 for +1 (schema Encoding BIPOLAR).
    if (w.encoding == Encoding::kBipolar)
      for (int64_t& c : t.codes) c = (c + 1) / 2;
    if (axis > 0) {
      diag_->AddNode(n, "weights quantized per channel along an input axis are not supported");
      return -1;
    }
    // Weights are per output channel in a crumb model; per-tensor parameters are repeated.
    const size_t co = size_t(t.shape[0]);
    t.axis = 0;
    if (w.scale.size() == 1) {
      t.scale.assign(co, w.scale[0]);
      t.zero_point.assign(co, w.zero_point[0]);
    } else {
      t.scale = w.scale;
      t.zero_point = w.zero_point;
    }
    const int idx = AddTensor(std::move(t));
    weight_of_[key] = idx;
    return idx;
  }

  int FloatConst(const std::string& name, const std::vector<float>& v) {
    CTensor t;
    t.name = name;
    t.shape = {int64_t(v.size())};
    t.is_const = true;
    t.fdata = v;
    return AddTensor(std::move(t));
  }

  // Per-output-channel bias values of input `k` (absent: zeros), broadcast from [], [1] or
  // [1, ..., N].
  bool BiasValues(const Node& n, size_t k, int64_t channels, std::vector<double>* b) {
    b->assign(size_t(channels), 0.0);
    if (n.Input(k).empty()) return true;
    const Const* c = g_.FindConst(n.Input(k));
    if (!c || c->type != kFloat) {
      diag_->AddNode(n, "its bias '" + n.Input(k) + "' must be a FLOAT constant");
      return false;
    }
    if (c->f.size() == 1) {
      b->assign(size_t(channels), c->f[0]);
      return true;
    }
    if (int64_t(c->f.size()) != channels) {
      diag_->AddNode(n, "its bias '" + n.Input(k) + "' has " + std::to_string(c->f.size()) +
                            " values for " + std::to_string(channels) + " output channels");
      return false;
    }
    for (size_t o = 0; o < c->f.size(); o++) (*b)[o] = c->f[o];
    return true;
  }

  bool Emit(const Node& n, const std::string& name, const QuantInfo* q, int out) {
    const std::string& op_type = n.op_type;
    COp op;
    op.name = name;
    op.outputs = {out};
    op.has_clamp = true;
    op.clamp = ClampFor(n, q);
    if (ActivationMatMul(n)) {
      const int a = QuantInput(n, n.Input(0)), b = QuantInput(n, n.Input(1));
      if (a < 0 || b < 0) return false;
      const CTensor& ta = m_->tensors[size_t(a)];
      const CTensor& tb = m_->tensors[size_t(b)];
      if (ta.scale.size() != 1 || tb.scale.size() != 1) {
        diag_->AddNode(n,
                       "multiplies activations quantized per channel; crumb needs per-tensor "
                       "parameters on both");
        return false;
      }
      double m = double(ta.scale[0]) * double(tb.scale[0]);
      if (q) m /= double(q->scale[0]);
      op.multiplier = float(m);
      if (!std::isfinite(op.multiplier) || op.multiplier <= 0) {
        diag_->AddNode(n, "has no finite positive requantization multiplier (" +
                              std::to_string(op.multiplier) + ")");
        return false;
      }
      op.opcode = OpCode::kBatchMatMul;
      op.inputs = {a, b};
    } else if (op_type == "Conv" || op_type == "Gemm" || op_type == "MatMul") {
      const int x = QuantInput(n, n.Input(0));
      const QuantInfo* w = WeightOf(n);
      if (x < 0 || !w) return false;
      const bool conv = op_type == "Conv";
      const bool transpose =
          op_type == "MatMul" || (op_type == "Gemm" && n.AttrInt("transB", 0) == 0);
      const int wt = WeightTensor(n, *w, transpose);
      if (wt < 0) return false;
      const int64_t co = m_->tensors[size_t(wt)].shape[0];
      std::vector<double> bias;
      double alpha = 1.0, beta = 1.0;
      if (!LayerBias(n, co, &bias, &alpha, &beta)) return false;
      const CTensor xt = m_->tensors[size_t(x)];  // a copy: adding tensors below reallocates
      const std::vector<float> sw = m_->tensors[size_t(wt)].scale;
      std::vector<float> mul(static_cast<size_t>(co)), add(static_cast<size_t>(co));
      for (size_t o = 0; o < size_t(co); o++) {
        const double pm = n.post_mul.empty() ? 1.0 : n.post_mul[o];
        const double pa = n.post_add.empty() ? 0.0 : n.post_add[o];
        double mv = double(xt.scale[0]) * double(sw[o]) * alpha * pm;
        double av = beta * bias[o] * pm + pa;
        if (q) {
          mv /= double(q->scale[0]);
          av /= double(q->scale[0]);
        }
        mul[o] = float(mv);
        add[o] = float(av);
        // A NaN or infinite bias, alpha, beta or folded BatchNorm term, or a quotient past the
        // float range, leaves no requantization constant (the runtime refuses such a file).
        if (!std::isfinite(mul[o]) || !std::isfinite(add[o])) {
          diag_->AddNode(n, "output channel " + std::to_string(o) +
                                " has a non-finite requantization constant (multiplier " +
                                std::to_string(mul[o]) + ", offset " + std::to_string(add[o]) +
                                "): check its bias, scales and alpha / beta for NaN, infinity "
                                "or values beyond the float range");
          return false;
        }
      }
      op.opcode = conv ? OpCode::kConv2D : OpCode::kFullyConnected;
      op.inputs = {x, wt, FloatConst(name + "/mul", mul), FloatConst(name + "/add", add)};
      if (conv) {
        Geometry geo;
        WindowGeometry(n, xt.shape, &geo);
        SetGeometry(geo, &op);
        op.groups = int(geo.groups);
      }
      op.bits_label = "w" + std::to_string(w->bits) + "a" + std::to_string(xt.bits);
    } else if (op_type == "Mul") {
      int a = QuantInput(n, n.Input(0)), b = QuantInput(n, n.Input(1));
      if (a < 0 || b < 0) return false;
      // The product commutes: the gate goes second.
      if (IsGate(m_->tensors[size_t(a)].shape, m_->tensors[size_t(b)].shape)) std::swap(a, b);
      for (const int t : {a, b}) {
        const CTensor& ct = m_->tensors[size_t(t)];
        if (ct.scale.size() != 1 || ct.bits > 8 || ct.encoding == Encoding::kBipolar) {
          diag_->AddNode(n, "multiplies '" + ct.name +
                                "', which is not a per-tensor quantized activation of at most 8 "
                                "bits with signed or unsigned codes");
          return false;
        }
      }
      if (!q || q->scale.size() != 1 || q->encoding == Encoding::kBipolar) {
        diag_->AddNode(n, "needs a per-tensor QuantizeLinear after it");
        return false;
      }
      const double m = double(m_->tensors[size_t(a)].scale[0]) *
                       double(m_->tensors[size_t(b)].scale[0]) / double(q->scale[0]);
      op.multiplier = float(m);
      if (!std::isfinite(op.multiplier) || op.multiplier <= 0) {
        diag_->AddNode(n, "has no finite positive requantization multiplier (" +
                              std::to_string(op.multiplier) + ")");
        return false;
      }
      op.opcode = OpCode::kMul;
      op.inputs = {a, b};
    } else if (op_type == "Add" || op_type == "Sub") {
      const int a = QuantInput(n, n.Input(0)), b = QuantInput(n, n.Input(1));
      if (a < 0 || b < 0) return false;
      op.opcode = OpCode::kAdd;
      if (op_type == "Sub") op.version = 2;  // a - b
      op.inputs = {a, b};
    } else if (op_type == "Concat") {
      op.opcode = OpCode::kConcat;
      for (const auto& i : n.inputs) {
        const int t = QuantInput(n, i);
        if (t < 0) return false;
        op.inputs.push_back(t);
      }
      int64_t axis = n.AttrInt("axis", 0);
      if (axis < 0) axis += int64_t(m_->tensors[size_t(op.inputs[0])].shape.size());
      op.axis = int(axis);
    } else {
      const int x = QuantInput(n, n.Input(0));
      if (x < 0) return false;
      op.inputs = {x};
      if (op_type == "MaxPool" || op_type == "AveragePool") {
        Geometry geo;
        if (!WindowGeometry(n, m_->tensors[size_t(x)].shape, &geo)) return false;
        SetGeometry(geo, &op);
        op.ceil_mode = geo.ceil_mode;
        op.opcode = op_type == "MaxPool" ? OpCode::kMaxPool2D : OpCode::kAveragePool2D;
        op.count_include_pad = op_type == "AveragePool" && n.AttrInt("count_include_pad", 0) != 0;
      } else if (op_type == "GlobalAveragePool") {
        op.opcode = OpCode::kGlobalAveragePool;
      } else if (op_type == "Resize") {
        Resize r;
        if (!ResizeGeometry(n, m_->tensors[size_t(x)].shape, &r)) return false;
        op.opcode = OpCode::kResize;
        op.resize_mode = r.mode;
        op.resize_coordinates = r.coordinates;
        op.resize_nearest = r.nearest;
        op.scale_h = r.scale_h;
        op.scale_w = r.scale_w;
      } else if (op_type == "Softmax") {
        const CTensor xt = m_->tensors[size_t(x)];
        int64_t axis = 0;
        if (!SoftmaxAxis(n, int64_t(xt.shape.size()), &axis)) return false;
        if (!PerTensorIn(n, xt, q)) return false;
        // exp(-d * sx) for the code distance d to the vector's largest code, in float32 as
        // ONNX's float Softmax would compute exp(x - max): written here so that every runtime
        // reads the same bits.
        std::vector<float> table(256);
        for (int d = 0; d < 256; d++) table[size_t(d)] = std::exp(float(-d) * xt.scale[0]);
        op.opcode = OpCode::kSoftmax;
        op.axis = int(axis);
        op.inputs = {x, FloatConst(name + "/exp_table", table)};
      } else if (op_type == "LayerNormalization") {
        const CTensor xt = m_->tensors[size_t(x)];
        const int64_t rank = int64_t(xt.shape.size());
        int64_t axis = n.AttrInt("axis", -1);
        if (axis < 0) axis += rank;
        const int64_t c = rank > 0 ? xt.shape.back() : 0;
        const Const* scale = g_.FindConst(n.Input(1));
        const Const* bias = n.Input(2).empty() ? nullptr : g_.FindConst(n.Input(2));
        if (axis != rank - 1 || c <= 0) {
          diag_->AddNode(n, "normalizes from axis " + std::to_string(n.AttrInt("axis", -1)) +
                                "; crumb normalizes over the last axis only");
          return false;
        }
        if (!scale || scale->type != kFloat || int64_t(scale->f.size()) != c ||
            (!n.Input(2).empty() &&
             (!bias || bias->type != kFloat || int64_t(bias->f.size()) != c))) {
          diag_->AddNode(n, "needs FLOAT constant scale and bias of " + std::to_string(c) +
                                " values (the last axis)");
          return false;
        }
        // The runtime's loader refuses non-finite constants and epsilon: say so here, by name.
        for (const Const* k : {scale, bias}) {
          if (!k) continue;
          for (size_t i = 0; i < k->f.size(); i++) {
            if (!std::isfinite(k->f[i])) {
              diag_->AddNode(n, "its " + std::string(k == scale ? "scale" : "bias") +
                                    " has the non-finite value " + NumberText(k->f[i]) +
                                    " at index " + std::to_string(i));
              return false;
            }
          }
        }
        const float eps = n.AttrFloat("epsilon", 1e-5f);
        if (!(eps >= 0.f) || !std::isfinite(eps)) {
          diag_->AddNode(n, "has epsilon " + NumberText(eps) + "; it must be finite and >= 0");
          return false;
        }
        if (!PerTensorIn(n, xt, q)) return false;
        op.opcode = OpCode::kLayerNorm;
        op.epsilon = eps;
        op.inputs = {x, FloatConst(name + "/scale", scale->f),
                     bias ? FloatConst(name + "/bias", bias->f) : -1};
      } else if (op_type == "Transpose") {
        op.opcode = OpCode::kTranspose;
        std::vector<int64_t> perm = n.AttrInts("perm");
        if (!n.HasAttr("perm"))
          for (size_t d = m_->tensors[size_t(x)].shape.size(); d-- > 0;) perm.push_back(int64_t(d));
        op.perm.assign(perm.begin(), perm.end());
      } else if (op_type == "Slice") {
        SliceSpec s;
        std::string problem;
        if (!ResolveSlice(g_, lookup_, n, m_->tensors[size_t(x)].shape, &s, &problem)) {
          diag_->AddNode(n, problem);
          return false;
        }
        op.opcode = OpCode::kSlice;
        op.slice_starts = s.starts;
        op.slice_steps = s.steps;
      } else if (op_type == "Flatten" || op_type == "Reshape") {
        op.opcode = OpCode::kReshape;
      } else if (op_type == kSpatialMaskOp) {
        // The mask's zeros are the zero point of the output; elsewhere a plain requantization
        // (the identity when the parameters match, which FoldSpatialMasks then removes).
        op.opcode = OpCode::kRequantize;
        if (q) op.clamp = ClampFor(Node(), q);
        const std::vector<int64_t> mask = n.AttrInts("mask");
        CTensor& t = m_->tensors[size_t(out)];
        t.spatial_mask.assign(mask.begin(), mask.end());
      } else if (op_type == kTableOp) {
        // REQUANTIZE version 2: the output code is table[input byte].
        if (!q) {
          diag_->AddNode(n, "cannot give a float output");
          return false;
        }
        op.opcode = OpCode::kRequantize;
        op.version = 2;
        CTensor t;
        t.name = n.name + "/table";
        t.shape = {1, 256};
        t.type = ElemType::kQuant;
        t.bits = 8;
        t.encoding = Encoding::kUnsigned;
        t.has_quant = true;
        t.scale = {1.0f};
        t.zero_point = {0};
        t.qmin = 0;
        t.qmax = 255;
        t.is_const = true;
        for (int64_t c : n.AttrInts("table")) t.codes.push_back(c & 0xff);
        op.inputs.push_back(AddTensor(std::move(t)));
      } else {  // standalone Relu / Clip on a quantized tensor
        op.opcode = OpCode::kRequantize;
        float lo = 0, hi = kInf;
        if (op_type == "Clip") {
          lo = n.AttrFloat("min", -kInf);
          hi = n.AttrFloat("max", kInf);
          for (int k = 1; k <= 2; k++) {
            if (n.Input(size_t(k)).empty()) continue;
            const Const* c = g_.FindConst(n.Input(size_t(k)));
            if (!c || c->type != kFloat || c->f.size() != 1) {
              diag_->AddNode(
                  n, "its bound '" + n.Input(size_t(k)) + "' must be a FLOAT constant scalar");
              return false;
            }
            (k == 1 ? lo : hi) = c->f[0];
          }
        }
        Node tmp;
        tmp.clamp_lo = std::max(lo, n.clamp_lo);
        tmp.clamp_hi = std::min(hi, n.clamp_hi);
        op.clamp = ClampFor(tmp, q);
      }
      if (!q) {
        diag_->AddNode(n, "cannot give a float output");
        return false;
      }
    }
    m_->ops.push_back(op);
    return true;
  }

  static void SetGeometry(const Geometry& geo, COp* op) {
    op->kernel_h = int(geo.kh);
    op->kernel_w = int(geo.kw);
    op->stride_h = int(geo.sh);
    op->stride_w = int(geo.sw);
    op->dilation_h = int(geo.dh);
    op->dilation_w = int(geo.dw);
    op->pad_top = int(geo.pt);
    op->pad_left = int(geo.pl);
    op->pad_bottom = int(geo.pb);
    op->pad_right = int(geo.pr);
  }

  const Graph& g_;
  CModel* m_;
  Diagnostics* diag_;
  std::map<std::string, std::vector<int64_t>> shape_of_;  // float value -> logical shape
  std::map<std::string, int> quant_of_;                   // dequantized value -> QUANT tensor
  std::map<std::string, int> float_of_;                   // float value -> FLOAT32 tensor
  std::map<std::string, int> tensor_by_name_;             // QuantInfo::tensor_name -> tensor
  std::map<std::string, int> weight_of_;
  std::set<std::string> keep_float_;       // layers --config keeps float
  std::set<std::string> float_layer_out_;  // FLOAT32 outputs of float layers
  std::map<int, int> dequant_of_;          // QUANT tensor -> its DEQUANTIZE for float layers
  std::map<std::string, QuantInfo> float_weight_dims_;  // float weights' dims (WeightOf)
  std::set<std::string> failed_;  // values whose producer could not be lowered (reported)
  std::set<std::string> index_;   // outputs of arithmetic on shapes (IndexValues)
  std::map<std::string, IndexValue> index_values_;  // ... evaluated on the inferred shapes
  IndexLookup lookup_;
};

}  // namespace

void LowerToCrumb(const Graph& g, CModel* m, Diagnostics* diag,
                  std::vector<LayerOverride>* layers) {
  Lowerer(g, m, diag, layers).Run();
  for (const auto& op : m->ops)
    if (!op.bits_label.empty()) m->metadata.push_back({"bits:" + op.name, op.bits_label});
}

}  // namespace cv
}  // namespace crumb
