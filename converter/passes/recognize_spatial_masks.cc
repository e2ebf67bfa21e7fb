// Semi-structured activation sparsity (Grimaldi et al., 2023) reaches ONNX as a Mul of an
// activation by a constant 0/1 mask that is the same for every channel. Such a Mul becomes a
// crumb.SpatialMask node: the lowering turns it into the mask of a tensor (schema Tensor
// .spatial_mask), which the runtime's convolutions use to skip known zeros.
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

// The mask's spatial extent when `c` is a 0/1 constant of shape [1, 1, H, W], [1, H, W] or
// [H, W] (a mask broadcast over batch and channels of an NCHW activation).
bool SpatialMaskShape(const Const& c, int64_t* h, int64_t* w) {
  const std::vector<int64_t>& d = c.dims;
  if (d.size() < 2 || d.size() > 4) return false;
  for (size_t k = 0; k + 2 < d.size(); k++)
    if (d[k] != 1) return false;
  *h = d[d.size() - 2];
  *w = d[d.size() - 1];
  if (*h < 1 || *w < 1 || c.NumElements() != *h * *w) return false;
  for (size_t k = 0; k < c.size(); k++)
    if (c.at(k) != 0.0 && c.at(k) != 1.0) return false;
  return true;
}

}  // namespace

void RecognizeSpatialMasks(Graph* g, Diagnostics* diag) {
  (void)diag;
  for (Node& n : g->nodes) {
    if (n.op_type != "Mul" || !n.domain.empty() || n.inputs.size() != 2 || n.outputs.size() != 1)
      continue;
    // The mask may be either operand; the activation becomes input 0.
    for (size_t k = 0; k < 2; k++) {
      const Const* c = g->FindConst(n.inputs[k]);
      int64_t h = 0, w = 0;
      if (!c || g->FindConst(n.inputs[1 - k]) || !SpatialMaskShape(*c, &h, &w)) continue;
      Attr mask;
      mask.kind = Attr::kInts;
      for (size_t i = 0; i < c->size(); i++) mask.ints.push_back(c->at(i) != 0.0 ? 1 : 0);
      Attr dims;
      dims.kind = Attr::kInts;
      dims.ints = {h, w};
      n.op_type = kSpatialMaskOp;
      n.inputs = {n.inputs[1 - k]};
      n.attrs.clear();
      n.attrs["mask"] = mask;
      n.attrs["mask_hw"] = dims;
      break;
    }
  }
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
