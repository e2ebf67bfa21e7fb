#include <limits>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

// Dimension `d` of rank `rank`, or false for one outside it.
bool Axis(int64_t a, size_t rank, size_t* d) {
  if (a < 0) a += int64_t(rank);
  if (a < 0 || a >= int64_t(rank)) return false;
  *d = size_t(a);
  return true;
}

}  // namespace

bool ResolveSlice(const Graph& g, const IndexLookup& lookup, const Node& n,
                  const std::vector<int64_t>& shape, SliceSpec* s, std::string* problem) {
  std::vector<int64_t> starts, ends, axes, steps;
  bool has_axes = false, has_steps = false;
  if (n.Input(1).empty() && n.HasAttr("starts")) {
    // Opset 1: attributes.
    starts = n.AttrInts("starts");
    ends = n.AttrInts("ends");
    has_axes = n.HasAttr("axes");
    axes = n.AttrInts("axes");
    has_steps = n.HasAttr("steps");  // only in the nodes lower.cc makes of a Split's outputs
    steps = n.AttrInts("steps");
  } else {
    bool present = false;
    if (!IntOperand(g, lookup, n, 1, &starts, &present, problem) ||
        !IntOperand(g, lookup, n, 2, &ends, &present, problem) ||
        !IntOperand(g, lookup, n, 3, &axes, &has_axes, problem) ||
        !IntOperand(g, lookup, n, 4, &steps, &has_steps, problem))
      return false;
  }
  if (!has_axes) {
    axes.clear();
    for (size_t d = 0; d < starts.size(); d++) axes.push_back(int64_t(d));
  }
  if (!has_steps) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    *problem = "its starts, ends, axes and steps differ in length";
    return false;
  }
  const size_t rank = shape.size();
  s->starts.assign(rank, 0);
  s->steps.assign(rank, 1);
  s->counts = shape;
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < starts.size(); k++) {
    size_t d = 0;
    if (!Axis(axes[k], rank, &d)) {
      *problem = "axis " + std::to_string(axes[k]) + " is outside the input's rank " +
                 std::to_string(rank);
      return false;
    }
    if (seen[d]) {
      *problem = "axis " + std::to_string(d) + " appears twice";
      return false;
    }
    seen[d] = true;
    const int64_t step = steps[k];
    if (step == 0) {
      *problem = "a step is 0";
      return false;
    }
    const int64_t dim = shape[d];
    int64_t b = starts[k], e = ends[k];
    if (dim < 0) {
      // The dynamic batch: only the whole of it.
      if (b != 0 || step != 1 || e < std::numeric_limits<int32_t>::max()) {
        *problem = "slicing the dynamic batch dimension is not supported";
        return false;
      }
      continue;
    }
    // ONNX: negative indices count from the end; then clamped (steps > 0: [0, dim], steps < 0:
    // starts to [0, dim - 1], ends to [-1, dim - 1]).
    if (b < 0) b = b < -dim ? -1 : b + dim;
    if (e < 0) e = e < -dim ? -1 : e + dim;
    int64_t count = 0;
    if (step > 0) {
      b = std::min(std::max<int64_t>(b, 0), dim);
      e = std::min(std::max<int64_t>(e, 0), dim);
      if (e > b) count = (e - b - 1) / step + 1;
    } else {
      b = std::min(std::max<int64_t>(b, 0), dim - 1);
      e = std::min(std::max<int64_t>(e, -1), dim - 1);
      // -step in unsigned: INT64_MIN has no positive int64.
      if (b > e) count = int64_t(uint64_t(b - e - 1) / (0 - uint64_t(step)) + 1);
    }
    if (count == 0) {
      *problem = "its output is empty along axis " + std::to_string(d);
      return false;
    }
    s->starts[d] = b;
    s->steps[d] = step;
    s->counts[d] = count;
  }
  return true;
}

bool ResolveSplit(const Graph& g, const IndexLookup& lookup, const Node& n,
                  const std::vector<int64_t>& shape, std::vector<SliceSpec>* parts,
                  std::string* problem) {
  size_t axis = 0;
  if (!Axis(n.AttrInt("axis", 0), shape.size(), &axis)) {
    *problem = "its axis is outside the input's rank " + std::to_string(shape.size());
    return false;
  }
  const int64_t dim = shape[axis];
  if (dim < 0) {
    *problem = "splitting the dynamic batch dimension is not supported";
    return false;
  }
  std::vector<int64_t> sizes;
  bool present = false;
  if (!IntOperand(g, lookup, n, 1, &sizes, &present, problem)) return false;
  if (!present && n.HasAttr("split")) sizes = n.AttrInts("split");  // before opset 13
  const int64_t outputs = int64_t(n.outputs.size());
  if (sizes.empty()) {
    // Equal parts; with opset 18's num_outputs the last may be smaller.
    const int64_t parts_n = n.AttrInt("num_outputs", outputs);
    if (parts_n != outputs || outputs == 0) {
      *problem = "num_outputs does not match its " + std::to_string(outputs) + " outputs";
      return false;
    }
    const int64_t each = n.HasAttr("num_outputs") ? (dim + outputs - 1) / outputs : dim / outputs;
    if (!n.HasAttr("num_outputs") && each * outputs != dim) {
      *problem = "axis " + std::to_string(axis) + " (" + std::to_string(dim) +
                 ") does not split into " + std::to_string(outputs) + " equal parts";
      return false;
    }
    for (int64_t k = 0, left = dim; k < outputs; k++, left -= each)
      sizes.push_back(std::min(each, left));
  }
  if (int64_t(sizes.size()) != outputs) {
    *problem = "it has " + std::to_string(sizes.size()) + " split sizes for " +
               std::to_string(outputs) + " outputs";
    return false;
  }
  int64_t start = 0;
  parts->clear();
  for (int64_t size : sizes) {
    if (size <= 0 || size > dim - start) {
      *problem = "its split sizes are not positive parts of axis " + std::to_string(axis) + " (" +
                 std::to_string(dim) + ")";
      return false;
    }
    SliceSpec s;
    s.starts.assign(shape.size(), 0);
    s.steps.assign(shape.size(), 1);
    s.counts = shape;
    s.starts[axis] = start;
    s.counts[axis] = size;
    parts->push_back(std::move(s));
    start += size;
  }
  if (start != dim) {
    *problem = "its split sizes add up to " + std::to_string(start) + ", not axis " +
               std::to_string(axis) + "'s " + std::to_string(dim);
    return false;
  }
  return true;
}

}  // namespace cv
}  // namespace crumb
