// A Transpose of a 2-D quantized weight, as torch.onnx.export writes F.linear on inputs of rank
// 3 and more (MatMul(x, Transpose(DequantizeLinear(W)))): the weight's codes are transposed here
// (its per-channel axis follows), so the MatMul reads a weight and becomes a fully-connected layer.
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void FoldWeightTranspose(Graph* g, Diagnostics*) {
  for (Node& n : g->nodes) {
    if (n.op_type != "Transpose" || !n.domain.empty() || n.outputs.empty()) continue;
    const int p = g->Producer(n.Input(0));
    if (p < 0 || g->nodes[size_t(p)].op_type != kQConstOp) continue;
    const QuantInfo& w = *g->nodes[size_t(p)].quant;
    const std::vector<int64_t> perm = n.AttrInts("perm");
    if (w.dims.size() != 2 || (n.HasAttr("perm") && perm != std::vector<int64_t>{1, 0}) ||
        int64_t(w.codes.size()) != w.dims[0] * w.dims[1])
      continue;
    auto t = std::make_shared<QuantInfo>(w);
    const int64_t rows = w.dims[0], cols = w.dims[1];
    t->dims = {cols, rows};
    for (int64_t r = 0; r < rows; r++)
      for (int64_t c = 0; c < cols; c++)
        t->codes[size_t(c * rows + r)] = w.codes[size_t(r * cols + c)];
    if (t->axis >= 0) t->axis = 1 - t->axis;
    t->tensor_name = n.outputs[0];
    Node q;
    q.name = n.name;
    q.op_type = kQConstOp;
    q.outputs = n.outputs;
    q.quant = std::move(t);
    q.fused = {n.name};
    n = std::move(q);
  }
}

}  // namespace cv
}  // namespace crumb
