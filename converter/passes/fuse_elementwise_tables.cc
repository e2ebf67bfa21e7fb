// Element-wise functions of one quantized activation become one 256-entry code table.
//
// Between a DequantizeLinear and the next QuantizeLinear a model may apply any chain of
// element-wise float ops to one activation: Sigmoid, HardSwish, LeakyRelu, SiLU (x * Sigmoid(x)),
// GELU written out as Div / Erf / Add / Mul, ... With a per-tensor quantized input of at most 8
// bits the whole chain is a function of the input code, so evaluating it once per code in
// float32 (as ONNX Runtime evaluates the fake-quantized graph) and quantizing the result gives a
// table that reproduces the graph for every input. The runtime applies it as a REQUANTIZE with a
// table (version 2), which it can also fuse into the convolution before it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

// Ops a table may hold.
const std::set<std::string>& TableOps() {
  static const std::set<std::string> ops = {
      "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Softplus", "Erf", "Gelu",
      "Neg",     "Abs",  "Exp",         "Relu",      "Clip",      "Mul", "Add",      "Sub", "Div"};
  return ops;
}

// Ops that reach the converter only through a table (Add, Relu and Clip have other lowerings).
bool TableOnly(const std::string& op) { return op != "Add" && op != "Relu" && op != "Clip"; }

bool IsActivationMulOrSub(const Graph& g, const Node& n) {
  return n.domain.empty() && (n.op_type == "Mul" || n.op_type == "Sub") && n.inputs.size() == 2 &&
         !n.Input(0).empty() && !n.Input(1).empty() && !g.FindConst(n.Input(0)) &&
         !g.FindConst(n.Input(1));
}

std::string TableOpProblem(const std::string& op) {
  const std::string mask = op == "Mul"
                               ? "by a constant 0/1 spatial mask of shape [1, 1, H, W], [1, H, "
                                 "W] or [H, W] (the same pixels in every channel), or "
                               : "";
  return "unsupported here: " + op + " is supported only " + mask +
         "inside an element-wise function of one per-tensor quantized activation (of at most 8 "
         "bits) whose result is quantized again, with constant operands that are scalars" +
         (op == "Mul" ? ", or as the product of two quantized activations" : "");
}

namespace {

// A size-1 float constant of rank <= 1: broadcasting it cannot change the activation's shape.
bool ScalarConst(const Graph& g, const std::string& v, float* out) {
  const Const* c = g.FindConst(v);
  if (!c || c->type != kFloat || c->f.size() != 1 || c->dims.size() > 1) return false;
  *out = c->f[0];
  return true;
}

}  // namespace

float ApplyElementwise(const Node& n, const std::vector<float>& x) {
  const std::string& op = n.op_type;
  const float a = x[0];
  if (op == "Sigmoid") return 1.0f / (1.0f + std::exp(-a));
  if (op == "Tanh") return std::tanh(a);
  if (op == "HardSigmoid") {
    const float alpha = n.AttrFloat("alpha", 0.2f), beta = n.AttrFloat("beta", 0.5f);
    return std::max(0.0f, std::min(1.0f, alpha * a + beta));
  }
  if (op == "HardSwish") return a * std::max(0.0f, std::min(1.0f, a * (1.0f / 6.0f) + 0.5f));
  if (op == "LeakyRelu") return a < 0 ? n.AttrFloat("alpha", 0.01f) * a : a;
  if (op == "Elu") return a < 0 ? n.AttrFloat("alpha", 1.0f) * (std::exp(a) - 1.0f) : a;
  if (op == "Softplus") return std::log(std::exp(a) + 1.0f);
  if (op == "Erf") return std::erf(a);
  if (op == "Gelu") {
    if (n.AttrString("approximate", "none") == "tanh") {
      const float k = std::sqrt(2.0f / float(M_PI));
      return 0.5f * a * (1.0f + std::tanh(k * (a + 0.044715f * a * a * a)));
    }
    return 0.5f * a * (1.0f + std::erf(a / std::sqrt(2.0f)));
  }
  if (op == "Neg") return -a;
  if (op == "Abs") return std::fabs(a);
  if (op == "Exp") return std::exp(a);
  if (op == "Relu") return std::max(a, 0.0f);
  if (op == "Clip") return std::min(std::max(a, x[1]), x[2]);
  if (op == "Mul") return a * x[1];
  if (op == "Add") return a + x[1];
  if (op == "Sub") return a - x[1];
  if (op == "Div") return a / x[1];
  return std::nanf("");
}

namespace {

// The inputs an op reads as values (Clip's bounds are inputs 1 and 2, absent = unbounded).
size_t ValueInputs(const Node& n) {
  const std::string& op = n.op_type;
  if (op == "Clip") return 3;
  if (op == "Mul" || op == "Add" || op == "Sub" || op == "Div") return 2;
  return 1;
}

struct Chain {
  std::vector<int> nodes;  // graph order
  std::string leaf;        // the FakeQuant output every path starts from
};

class Fuser {
 public:
  Fuser(Graph* g, Diagnostics* diag) : g_(*g), diag_(diag) {
    for (size_t k = 0; k < g_.nodes.size(); k++)
      for (const auto& i : g_.nodes[k].inputs)
        if (!i.empty()) readers_[i].push_back(int(k));
  }

  void Run() {
    std::vector<std::pair<int, Node>> tables;  // (index of the chain's last node, table node)
    std::vector<int> dead;
    for (size_t k = 0; k < g_.nodes.size(); k++) {
      const Node& fq = g_.nodes[k];
      if (fq.op_type != kFakeQuantOp || !fq.quant || fq.quant->is_const) continue;
      Chain c;
      if (!Collect(fq.Input(0), &c)) continue;
      const QuantInfo& in = *g_.nodes[size_t(g_.Producer(c.leaf))].quant;
      const QuantInfo& out = *fq.quant;
      if (!Quantizable(in) || !Quantizable(out)) continue;
      // Graph order is topological: the chain's last node writes the value fq reads.
      const int last = c.nodes.back();
      Node t;
      t.op_type = kTableOp;
      t.name = g_.nodes[size_t(last)].name;
      t.inputs = {c.leaf};
      t.outputs = {fq.Input(0)};
      std::vector<int64_t> table;
      if (!Tabulate(c, in, out, &table, &t)) continue;
      Attr a;
      a.kind = Attr::kInts;
      a.ints = table;
      t.attrs["table"] = a;
      for (int n : c.nodes) {
        t.fused.push_back(g_.nodes[size_t(n)].name);
        fused_.insert(n);
        if (n != last) dead.push_back(n);
      }
      tables.emplace_back(last, std::move(t));
    }
    // Table-only ops left over could not be tabulated: say why, by name (arithmetic on shapes
    // is evaluated at lowering).
    const std::set<std::string> index = IndexValues(g_);
    for (size_t k = 0; k < g_.nodes.size(); k++) {
      const Node& n = g_.nodes[k];
      if (!n.domain.empty() || !TableOps().count(n.op_type) || !TableOnly(n.op_type) ||
          fused_.count(int(k)) || (!n.outputs.empty() && index.count(n.outputs[0])) ||
          IsActivationMulOrSub(g_, n))  // lowered to MUL / ADD (which say why when they cannot)
        continue;
      diag_->AddNode(n, TableOpProblem(n.op_type));
    }
    for (auto& t : tables) g_.nodes[size_t(t.first)] = std::move(t.second);
    std::sort(dead.begin(), dead.end());
    for (auto it = dead.rbegin(); it != dead.rend(); ++it) g_.nodes.erase(g_.nodes.begin() + *it);
  }

 private:
  static bool Quantizable(const QuantInfo& q) {
    return q.scale.size() == 1 && q.zero_point.size() == 1 && q.bits <= 8 &&
           (q.encoding == Encoding::kSigned || q.encoding == Encoding::kUnsigned);
  }

  // Walks back from `v` (the value a FakeQuant quantizes) through table ops to one FakeQuant
  // output. Every value inside may be read only inside the chain.
  bool Collect(const std::string& v, Chain* c) {
    std::set<int> seen;
    std::vector<std::string> todo = {v};
    bool any_table_only = false;
    while (!todo.empty()) {
      const std::string x = todo.back();
      todo.pop_back();
      const int p = g_.Producer(x);
      if (p < 0) return false;  // a graph input (not quantized) or a constant
      const Node& n = g_.nodes[size_t(p)];
      if (n.op_type == kFakeQuantOp) {
        if (!n.quant || n.quant->is_const || x == v) return false;
        if (!c->leaf.empty() && c->leaf != x) return false;  // a function of two activations
        c->leaf = x;
        continue;
      }
      if (!n.domain.empty() || !TableOps().count(n.op_type) || fused_.count(p)) return false;
      if (!seen.insert(p).second) continue;
      if (g_.IsGraphOutput(x)) return false;
      any_table_only = any_table_only || TableOnly(n.op_type);
      for (size_t k = 0; k < ValueInputs(n); k++) {
        const std::string in = n.Input(k);
        float s;
        if (in.empty()) {
          if (n.op_type != "Clip" || k == 0) return false;
        } else if (!ScalarConst(g_, in, &s)) {
          todo.push_back(in);
        }
      }
      if (n.inputs.size() > ValueInputs(n)) return false;
    }
    if (c->leaf.empty() || !any_table_only) return false;
    // Nothing outside the chain (and the FakeQuant at its end) may read an inner value.
    for (int p : seen) {
      for (const auto& o : g_.nodes[size_t(p)].outputs) {
        auto r = readers_.find(o);
        if (r == readers_.end()) continue;
        for (int reader : r->second) {
          if (seen.count(reader)) continue;
          if (o == v && g_.nodes[size_t(reader)].op_type == kFakeQuantOp && r->second.size() == 1)
            continue;
          return false;
        }
      }
    }
    c->nodes.assign(seen.begin(), seen.end());  // ascending: graph order
    return true;
  }

  // table[b] for every stored byte b: the output code for input code b (as int8 for signed
  // inputs), by the chain in float32, then QuantizeLinear: round half to even, add the zero
  // point, saturate to the output's range. Bytes that are not input codes map like the nearest
  // code so the table never holds an out-of-range value.
  bool Tabulate(const Chain& c, const QuantInfo& in, const QuantInfo& out,
                std::vector<int64_t>* table, Node* t) {
    table->assign(256, 0);
    for (int b = 0; b < 256; b++) {
      int64_t code = in.encoding == Encoding::kSigned ? int64_t(int8_t(b)) : int64_t(b);
      code = std::min(std::max(code, in.qmin), in.qmax);
      std::map<std::string, float> val;
      val[c.leaf] = float(code - in.zero_point[0]) * in.scale[0];
      float y = 0;
      for (int p : c.nodes) {
        const Node& n = g_.nodes[size_t(p)];
        std::vector<float> x(ValueInputs(n));
        for (size_t k = 0; k < x.size(); k++) {
          const std::string& i = n.Input(k);
          float s;
          if (i.empty())
            x[k] = k == 1 ? -kInf : kInf;
          else if (ScalarConst(g_, i, &s))
            x[k] = s;
          else
            x[k] = val.at(i);
        }
        if (n.op_type == "Clip" && n.inputs.size() < 2) {
          x[1] = n.AttrFloat("min", -kInf);
          x[2] = n.AttrFloat("max", kInf);
        }
        y = ApplyElementwise(n, x);
        val[n.outputs[0]] = y;
      }
      const float q = y / out.scale[0];
      if (std::isnan(q)) {
        diag_->AddNode(*t, "is an element-wise function of '" + c.leaf +
                               "' that gives NaN for its code " + std::to_string(code));
        return false;
      }
      double r = std::nearbyint(double(q)) + double(out.zero_point[0]);
      r = std::min(std::max(r, double(out.qmin)), double(out.qmax));
      (*table)[size_t(b)] = int64_t(r);
    }
    return true;
  }

  Graph& g_;
  Diagnostics* diag_;
  std::map<std::string, std::vector<int>> readers_;
  std::set<int> fused_;
};

}  // namespace

bool InTablePosition(const Graph& g, size_t k) {
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < g.nodes.size(); i++)
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty()) readers[in].push_back(i);
  auto table_op = [&](const Node& n) { return n.domain.empty() && TableOps().count(n.op_type); };
  std::set<size_t> seen = {k};
  std::vector<size_t> todo = {k};
  while (!todo.empty()) {
    const Node& n = g.nodes[todo.back()];
    todo.pop_back();
    for (size_t i = 0; i < n.inputs.size(); i++) {
      const std::string& in = n.inputs[i];
      float s;
      if (in.empty()) continue;
      if (ScalarConst(g, in, &s)) continue;
      const int p = g.Producer(in);
      if (p < 0) return false;  // a graph input or a tensor constant
      const Node& pn = g.nodes[size_t(p)];
      if (pn.op_type == "DequantizeLinear" && pn.domain.empty()) continue;
      if (!table_op(pn)) return false;
      if (seen.insert(size_t(p)).second) todo.push_back(size_t(p));
    }
    for (const auto& o : n.outputs) {
      if (g.IsGraphOutput(o)) return false;
      for (size_t r : readers[o]) {
        const Node& rn = g.nodes[r];
        if (rn.op_type == "QuantizeLinear" && rn.domain.empty()) continue;
        if (!table_op(rn)) return false;
        if (seen.insert(r).second) todo.push_back(r);
      }
    }
  }
  return true;
}

void FuseElementwiseTables(Graph* g, Diagnostics* diag) { Fuser(g, diag).Run(); }

}  // namespace cv
}  // namespace crumb
