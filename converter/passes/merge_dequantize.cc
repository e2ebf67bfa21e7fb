// DequantizeLinear nodes that read the same integer tensor with the same parameters become one.
// ONNX Runtime's optimizer gives each reader of a quantized tensor its own copy
// (`<name>/duplicated`), and LowerQOperator adds one for the QOperator nodes it rewrites; the
// passes after it recognise an element-wise function (SiLU's x * Sigmoid(x), GELU) or a shared
// activation by the one value it reads, which copies would hide.
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

// Two DequantizeLinear nodes compute the same value: same inputs and the same axis / block size.
bool SameDequantize(const Node& a, const Node& b) {
  return a.inputs == b.inputs && a.AttrInt("axis", 1) == b.AttrInt("axis", 1) &&
         a.AttrInt("block_size", 0) == b.AttrInt("block_size", 0);
}

}  // namespace

void MergeDequantize(Graph* g, Diagnostics* diag) {
  (void)diag;
  std::vector<int> dead;
  std::vector<size_t> kept;  // the first of each kind, in node order
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& n = g->nodes[k];
    if (n.op_type != "DequantizeLinear" || !n.domain.empty() || n.outputs.size() != 1 ||
        n.outputs[0].empty())
      continue;
    bool merged = false;
    for (size_t first : kept) {
      // Nodes are in topological order, so `first` is computed before every reader of n.
      if (!SameDequantize(g->nodes[first], n) || g->IsGraphOutput(n.outputs[0])) continue;
      g->ReplaceUses(n.outputs[0], g->nodes[first].outputs[0]);
      dead.push_back(int(k));
      merged = true;
      break;
    }
    if (!merged) kept.push_back(k);
  }
  g->EraseNodes(dead);
}

}  // namespace cv
}  // namespace crumb
