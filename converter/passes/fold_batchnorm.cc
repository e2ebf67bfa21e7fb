// BatchNormalization after a Conv / Gemm: y = (conv - mean) * g + beta with g = gamma /
// sqrt(var + eps), so y = conv * g + (beta - mean * g). The lowering multiplies that into the
// per-channel mul / add of the numeric contract; the weight codes and scales stay as they are.
#include <cmath>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void FoldBatchNorm(Graph* g, Diagnostics* diag) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& bn = g->nodes[k];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty()) continue;
    const std::string x = bn.Input(0);
    const int p = g->Producer(x);
    if (p < 0 || (g->nodes[size_t(p)].op_type != "Conv" && g->nodes[size_t(p)].op_type != "Gemm") ||
        g->Consumers(x).size() != 1 || g->IsGraphOutput(x)) {
      diag->AddNode(bn,
                    "only a BatchNormalization directly on the output of a Conv or Gemm "
                    "(read by nothing else) can be folded");
      continue;
    }
    const Const* c[4];
    bool ok = true;
    for (int i = 0; i < 4; i++) {
      c[i] = g->FindConst(bn.Input(size_t(i + 1)));
      if (!c[i] || c[i]->type != kFloat) {
        diag->AddNode(bn,
                      "its parameter '" + bn.Input(size_t(i + 1)) + "' must be a FLOAT constant");
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    const size_t n = c[0]->f.size();
    if (c[1]->f.size() != n || c[2]->f.size() != n || c[3]->f.size() != n) {
      diag->AddNode(bn, "its parameters have different lengths");
      continue;
    }
    const double eps = bn.AttrFloat("epsilon", 1e-5f);
    Node& prod = g->nodes[size_t(p)];
    if (prod.post_mul.empty()) {
      prod.post_mul.assign(n, 1.0);
      prod.post_add.assign(n, 0.0);
    }
    if (prod.post_mul.size() != n) {
      diag->AddNode(bn, "its channel count differs from that of '" + prod.name + "'");
      continue;
    }
    for (size_t o = 0; o < n; o++) {
      const double gamma = c[0]->f[o], beta = c[1]->f[o], mean = c[2]->f[o], var = c[3]->f[o];
      const double s = gamma / std::sqrt(var + eps);
      prod.post_mul[o] *= s;
      prod.post_add[o] = (prod.post_add[o] - mean) * s + beta;
    }
    prod.outputs[0] = bn.outputs[0];
    prod.fused.push_back(bn.name);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
