// Add of a constant per-output-channel bias on the float output of a Conv / Gemm / MatMul, as
// torch.onnx.export writes nn.Linear on inputs of rank 3 and more (MatMul, then Add): the bias goes
// into the node's post_add, so the lowering folds it into the per-channel add of the numeric
// contract. The Add must be the output's only reader.
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

// The bias values when `c` holds one per channel along the last axis (Gemm / MatMul: [N] or
// [1, ..., 1, N]) or axis 1 of an NCHW output (Conv: [1, N, 1, 1] or [N, 1, 1]).
bool PerChannel(const Const& c, bool conv, std::vector<double>* bias) {
  if (c.type != kFloat || c.f.empty()) return false;
  const size_t n = c.f.size();
  size_t non_one = 0, at = 0;
  for (size_t d = 0; d < c.dims.size(); d++) {
    if (c.dims[d] != 1) {
      non_one++;
      at = d;
    }
  }
  if (non_one > 1) return false;
  if (n > 1) {
    const size_t rank = c.dims.size();
    if (conv ? !((rank == 4 && at == 1) || (rank == 3 && at == 0)) : at + 1 != rank) return false;
  }
  bias->assign(c.f.begin(), c.f.end());
  return true;
}

}  // namespace

void FoldBiasAdd(Graph* g, Diagnostics*) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& add = g->nodes[k];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2) continue;
    for (int side = 0; side < 2; side++) {
      const std::string x = add.Input(size_t(side));
      const Const* b = g->FindConst(add.Input(size_t(1 - side)));
      const int p = g->Producer(x);
      if (!b || p < 0) continue;
      Node& prod = g->nodes[size_t(p)];
      const bool conv = prod.op_type == "Conv";
      if ((!conv && prod.op_type != "Gemm" && prod.op_type != "MatMul") || !prod.domain.empty() ||
          g->Consumers(x).size() != 1 || g->IsGraphOutput(x) || !prod.fused.empty())
        continue;
      // A weight, not a MatMul of two activations: quantized, or a float layer's FLOAT constant.
      const int w = g->Producer(prod.Input(1));
      const Const* fw = w < 0 ? g->FindConst(prod.Input(1)) : nullptr;
      if (w < 0 ? !fw || fw->type != kFloat : g->nodes[size_t(w)].op_type != kQConstOp) continue;
      std::vector<double> bias;
      // (A single value is left to the Add: its channel count is not known here.)
      if (!PerChannel(*b, conv, &bias) || bias.size() < 2) continue;
      if (!prod.post_add.empty() && prod.post_add.size() != bias.size()) continue;
      if (prod.post_add.empty()) {
        prod.post_mul.assign(bias.size(), 1.0);
        prod.post_add.assign(bias.size(), 0.0);
      }
      for (size_t o = 0; o < bias.size(); o++) prod.post_add[o] += bias[o];
      prod.outputs[0] = add.outputs[0];
      prod.fused.push_back(add.name);
      dead.push_back(int(k));
      break;
    }
  }
  g->EraseNodes(dead);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
