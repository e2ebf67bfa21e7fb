// The kernel-family choice is data the runtime reads per op. With only the portable scalar
// kernels in this issue the choice is AUTO (the runtime picks what its build has) unless the
// user forces one; later issues fill in a table keyed by (bits, encoding, shape class, ISA).
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void ChooseKernelFamily(CModel* m, KernelFamily family) {
  for (auto& op : m->ops) op.family = family;
}

}  // namespace cv
}  // namespace crumb
