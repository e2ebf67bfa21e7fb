#include <cmath>
#include <set>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Ops whose float result the lowering turns into one crumb op with an output clamp.
bool Fusable(const Node& n) {
  static const std::set<std::string> ops = {
      "Conv",    "Gemm",    "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool",
      "Flatten", "Reshape", "Concat"};
  return n.domain.empty() && ops.count(n.op_type);
}

// Bounds of a float Clip (inputs since opset 11, attributes before); false when not constant.
bool FloatClipBounds(const Graph& g, const Node& c, float* lo, float* hi) {
  *lo = c.AttrFloat("min", -kInf);
  *hi = c.AttrFloat("max", kInf);
  for (int k = 1; k <= 2; k++) {
    const std::string& in = c.Input(size_t(k));
    if (in.empty()) continue;  // PyTorch's Clip(x, "", max)
    const Const* b = g.FindConst(in);
    if (!b || b->type != kFloat || b->f.size() != 1) return false;
    (k == 1 ? *lo : *hi) = b->f[0];
  }
  return true;
}

// True when `v` is read by exactly one node and is not a graph output.
bool SingleUse(const Graph& g, const std::string& v) {
  return g.Consumers(v).size() == 1 && !g.IsGraphOutput(v);
}

}  // namespace

void FuseActivations(Graph* g, Diagnostics* diag) {
  (void)diag;
  // MatMul -> Add(constant) is how PyTorch writes a Linear on >2-D input: the Add is the bias.
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& add = g->nodes[k];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    for (int side = 0; side < 2; side++) {
      const std::string x = add.inputs[size_t(side)], b = add.inputs[size_t(1 - side)];
      const Const* bc = g->FindConst(b);
      const int p = g->Producer(x);
      if (!bc || bc->type != kFloat || p < 0 || g->nodes[size_t(p)].op_type != "MatMul" ||
          g->nodes[size_t(p)].inputs.size() != 2 || !SingleUse(*g, x))
        continue;
      // Only a bias along the last axis (shape [N] or [1, ..., N]).
      bool last_axis_only = true;
      for (size_t d = 0; d + 1 < bc->dims.size(); d++)
        if (bc->dims[d] != 1) last_axis_only = false;
      if (!last_axis_only) continue;
      Node& mm = g->nodes[size_t(p)];
      mm.inputs.push_back(b);
      mm.outputs[0] = add.outputs[0];
      mm.fused.push_back(add.name);
      dead.push_back(int(k));
      break;
    }
  }
  g->EraseNodes(dead);

  dead.clear();
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& r = g->nodes[k];
    if ((r.op_type != "Relu" && r.op_type != "Clip") || !r.domain.empty()) continue;
    const std::string x = r.Input(0);
    const int p = g->Producer(x);
    if (p < 0 || !Fusable(g->nodes[size_t(p)]) || !SingleUse(*g, x)) continue;
    float lo = 0, hi = kInf;
    if (r.op_type == "Clip" && !FloatClipBounds(*g, r, &lo, &hi)) continue;
    Node& prod = g->nodes[size_t(p)];
    prod.clamp_lo = std::max(prod.clamp_lo, lo);
    prod.clamp_hi = std::min(prod.clamp_hi, hi);
    prod.outputs[0] = r.outputs[0];
    prod.fused.push_back(r.name);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
