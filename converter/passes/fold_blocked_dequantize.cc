// DequantizeLinear with block_size (opset 21: one scale and zero point per block of block_size
// elements along `axis`, as blockwise weight-only quantization exports 4-bit weights) of a
// constant integer initializer: folded into the float initializer it computes,
// y = float(x - zp[b]) * scale[b] rounded once, as ONNX Runtime evaluates it. crumb's weights are
// per tensor or per output channel, so a layer reading blocked weights is a float layer (the
// same numbers ONNX Runtime's float MatMul / Conv sees); a blocked DequantizeLinear of an
// activation stays, and CheckSupported refuses it by name.
#include <cmath>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void FoldBlockedDequantize(Graph* g, Diagnostics* diag) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& n = g->nodes[k];
    const int64_t block = n.AttrInt("block_size", 0);
    if (n.op_type != "DequantizeLinear" || !n.domain.empty() || block == 0 ||
        n.outputs.size() != 1 || g->IsGraphOutput(n.outputs[0]))
      continue;
    const Const* x = g->FindConst(n.Input(0));
    const Const* s = g->FindConst(n.Input(1));
    const Const* z = n.Input(2).empty() ? nullptr : g->FindConst(n.Input(2));
    if (!x || !s || (!n.Input(2).empty() && !z)) continue;  // not constant: CheckSupported says
    const size_t rank = x->dims.size();
    int64_t axis = n.AttrInt("axis", 1);
    if (axis < 0) axis += int64_t(rank);
    auto fail = [&](const std::string& why) {
      diag->AddNode(n, "blocked dequantization of '" + n.Input(0) + "': " + why);
    };
    if (!IsIntegerType(x->type) || s->type != kFloat) {
      fail("the data must be integers and the scale FLOAT");
      continue;
    }
    if (block < 1 || axis < 0 || axis >= int64_t(rank) ||
        int64_t(x->i.size()) != x->NumElements()) {
      fail("block_size " + std::to_string(block) + " or axis " +
           std::to_string(n.AttrInt("axis", 1)) + " does not fit its shape");
      continue;
    }
    // The scale (and zero point) have x's shape but ceil(d / block_size) along the axis.
    std::vector<int64_t> sd = x->dims;
    sd[size_t(axis)] = (x->dims[size_t(axis)] + block - 1) / block;
    if (s->dims != sd || (z && (z->dims != sd || !IsIntegerType(z->type)))) {
      fail("its scale" + std::string(z ? " and zero point" : "") +
           " must have the data's shape with ceil(dim / block_size) along axis " +
           std::to_string(axis));
      continue;
    }
    // Row-major strides of x and of the scale; element i's block index.
    std::vector<int64_t> xs(rank, 1), ss(rank, 1);
    for (size_t d = rank; d-- > 1;) {
      xs[d - 1] = xs[d] * x->dims[d];
      ss[d - 1] = ss[d] * sd[d];
    }
    Const out;
    out.type = kFloat;
    out.dims = x->dims;
    out.f.resize(x->i.size());
    bool finite = true;
    for (size_t i = 0; i < x->i.size(); i++) {
      int64_t rest = int64_t(i), j = 0;
      for (size_t d = 0; d < rank; d++) {
        int64_t c = rest / xs[d];
        rest %= xs[d];
        if (int64_t(d) == axis) c /= block;
        j += c * ss[d];
      }
      const int64_t zp = z ? z->i[size_t(j)] : 0;
      out.f[i] = float(double(x->i[i] - zp) * double(s->f[size_t(j)]));
      finite = finite && std::isfinite(out.f[i]);
    }
    if (!finite) {
      fail("a value is not finite (check the scales)");
      continue;
    }
    g->initializers[n.outputs[0]] = std::move(out);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
