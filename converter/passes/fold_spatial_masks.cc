// Folds the REQUANTIZE a masking Mul lowers to into the op that produces its input, so that the
// producer writes the masked tensor itself (schema/README.md "Spatial masks").
#include <algorithm>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

bool SameQuantization(const CTensor& a, const CTensor& b) {
  return a.type == b.type && a.bits == b.bits && a.encoding == b.encoding && a.scale == b.scale &&
         a.zero_point == b.zero_point && a.qmin == b.qmin && a.qmax == b.qmax && a.shape == b.shape;
}

bool Contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

void FoldSpatialMasks(CModel* m, Diagnostics* diag) {
  (void)diag;
  std::vector<bool> dead(m->ops.size(), false);
  for (size_t k = 0; k < m->ops.size(); k++) {
    const COp& op = m->ops[k];
    if (op.opcode != OpCode::kRequantize || op.inputs.size() != 1 || op.outputs.size() != 1)
      continue;
    const int x = op.inputs[0], y = op.outputs[0];
    const CTensor& xt = m->tensors[size_t(x)];
    const CTensor& yt = m->tensors[size_t(y)];
    if (yt.spatial_mask.empty() || !xt.spatial_mask.empty() || !SameQuantization(xt, yt) ||
        op.clamp.qmin > yt.qmin || op.clamp.qmax < yt.qmax)
      continue;
    if (Contains(m->inputs, x) || Contains(m->outputs, x)) continue;
    int producer = -1, readers = 0;
    for (size_t j = 0; j < m->ops.size(); j++) {
      if (dead[j]) continue;
      if (Contains(m->ops[j].outputs, x)) producer = int(j);
      readers += int(std::count(m->ops[j].inputs.begin(), m->ops[j].inputs.end(), x));
    }
    if (producer < 0 || readers != 1) continue;
    // The producer writes y (masked) instead of x, which nothing reads any more.
    for (int& o : m->ops[size_t(producer)].outputs)
      if (o == x) o = y;
    dead[k] = true;
  }
  std::vector<COp> kept;
  for (size_t k = 0; k < m->ops.size(); k++)
    if (!dead[k]) kept.push_back(std::move(m->ops[k]));
  m->ops = std::move(kept);
}

}  // namespace cv
}  // namespace crumb
