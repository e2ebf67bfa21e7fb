// What crumb-convert wrote per layer: the table it prints (bit widths, kernel family, packed
// weight bytes) and the layers that would run on portable scalar kernels on the target (a
// warning, or with --strict a problem each).
#pragma once

#include <string>
#include <vector>

#include "converter/ir.h"

namespace crumb {
namespace cv {

enum class Target;

struct LayerRow {
  std::string name;
  std::string kind;    // "conv 3x3/s2", "dwconv 3x3/s1", "fc"
  std::string shape;   // "64->128"
  std::string bits;    // "w2a4o4" (o: the output's bits, f32 for a float output)
  std::string family;  // "lut", "dot", ...
  size_t weight_bytes = 0;
  std::string scalar_why;  // non-empty: the layer runs on scalar kernels on the target, and why
};

// One row per CONV_2D / FULLY_CONNECTED op, in op order, for the given target.
std::vector<LayerRow> LayerRows(const CModel& m, Target target);
// The rows as an aligned text table with a closing totals line.
std::string FormatLayerTable(const std::vector<LayerRow>& rows);
// One sentence per row that runs on scalar kernels on the target ("layer 'x' (conv 3x3/s1) would
// run on the portable scalar kernels on x86-avx2: ...").
std::vector<std::string> ScalarLayers(const std::vector<LayerRow>& rows, Target target);

}  // namespace cv
}  // namespace crumb
