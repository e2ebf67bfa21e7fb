#include <limits>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

const std::set<std::string>& IndexOps() {
  static const std::set<std::string> ops = {"Shape",  "Gather", "Unsqueeze", "Squeeze",
                                            "Concat", "Add",    "Sub",       "Mul",
                                            "Div",    "Cast",   "Slice",     "Identity"};
  return ops;
}

// Scalars broadcast against vectors; otherwise equal lengths.
bool Binary(const Node& n, const IndexValue& a, const IndexValue& b, IndexValue* out,
            std::string* problem) {
  if (a.v.empty() || b.v.empty()) {
    *problem = "an operand is empty";
    return false;
  }
  const bool as = a.v.size() == 1 && a.dims.size() <= 1, bs = b.v.size() == 1 && b.dims.size() <= 1;
  if (a.v.size() != b.v.size() && !as && !bs) {
    *problem = "its operands have " + std::to_string(a.v.size()) + " and " +
               std::to_string(b.v.size()) + " values";
    return false;
  }
  *out = a.v.size() >= b.v.size() ? a : b;
  if (a.dims.size() > out->dims.size()) out->dims = a.dims;
  for (size_t k = 0; k < out->v.size(); k++) {
    const int64_t x = a.v[as ? 0 : k], y = b.v[bs ? 0 : k];
    if (x == kDynamicIndex || y == kDynamicIndex) {
      out->v[k] = kDynamicIndex;
      continue;
    }
    int64_t r = 0;
    bool overflow = false;
    if (n.op_type == "Add") {
      overflow = __builtin_add_overflow(x, y, &r);
    } else if (n.op_type == "Sub") {
      overflow = __builtin_sub_overflow(x, y, &r);
    } else if (n.op_type == "Mul") {
      overflow = __builtin_mul_overflow(x, y, &r);
    } else {
      // Integer Div truncates toward zero (C, ONNX Runtime).
      if (y == 0 || (x == std::numeric_limits<int64_t>::min() && y == -1)) {
        *problem = "it divides by zero";
        return false;
      }
      r = x / y;
    }
    if (overflow) {
      *problem = "its result overflows 64 bits";
      return false;
    }
    out->v[k] = r;
  }
  return true;
}

}  // namespace

bool IsIndexOp(const std::string& op) { return IndexOps().count(op) != 0; }

std::set<std::string> IndexValues(const Graph& g) {
  // Outputs of Shape, then of index ops whose inputs are all index values or integer constants,
  // in graph order (the importer keeps ONNX's topological order).
  std::set<std::string> index;
  for (const Node& n : g.nodes) {
    if (!n.domain.empty() || !IsIndexOp(n.op_type) || n.outputs.empty()) continue;
    bool ok = n.op_type == "Shape";
    if (!ok) {
      bool any = false;
      ok = true;
      for (size_t k = 0; k < n.inputs.size() && ok; k++) {
        const std::string& in = n.inputs[k];
        if (in.empty()) continue;
        if (index.count(in)) {
          any = true;
        } else {
          const Const* c = g.FindConst(in);
          ok = c && c->type != kFloat && c->type != kDouble && c->type != kFloat16;
        }
      }
      ok = ok && any;
    }
    if (ok) index.insert(n.outputs[0]);
  }
  return index;
}

bool EvalIndexOp(const Node& n, const std::vector<const IndexValue*>& in, IndexValue* out,
                 std::string* problem) {
  const std::string& op = n.op_type;
  for (size_t k = 0; k < in.size(); k++) {
    if (!in[k] && !(op == "Slice" && k > 0) && !(op == "Squeeze" || op == "Unsqueeze")) {
      *problem = "its input " + std::to_string(k) + " is missing";
      return false;
    }
  }
  if (in.empty() || !in[0]) {
    *problem = "it has no input";
    return false;
  }
  const IndexValue& x = *in[0];
  if (op == "Shape") {
    // in[0] holds the activation's shape; start / end (opset 15) select a part of it.
    const int64_t rank = int64_t(x.v.size());
    int64_t b = n.AttrInt("start", 0), e = n.AttrInt("end", rank);
    if (b < 0) b += rank;
    if (e < 0) e += rank;
    b = std::min(std::max<int64_t>(b, 0), rank);
    e = std::min(std::max<int64_t>(e, b), rank);
    out->v.assign(x.v.begin() + b, x.v.begin() + e);
    out->dims = {e - b};
    return true;
  }
  if (op == "Identity" || op == "Cast") {
    const int64_t to = n.AttrInt("to", kInt64);
    if (op == "Cast" && to != kInt64 && to != kInt32) {
      *problem = "it casts index values to a type other than INT64 / INT32";
      return false;
    }
    *out = x;
    return true;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    if (in.size() < 2 || !in[1]) {
      *problem = "it needs two operands";
      return false;
    }
    return Binary(n, x, *in[1], out, problem);
  }
  if (op == "Gather") {
    if (in.size() < 2 || !in[1] || x.dims.size() != 1 || n.AttrInt("axis", 0) != 0) {
      *problem = "only a Gather of a 1-D value along axis 0 is evaluated";
      return false;
    }
    const IndexValue& idx = *in[1];
    out->dims = idx.dims;
    out->v.clear();
    for (int64_t i : idx.v) {
      if (i < 0) i += int64_t(x.v.size());
      if (i < 0 || i >= int64_t(x.v.size())) {
        *problem = "its index is outside the data";
        return false;
      }
      out->v.push_back(x.v[size_t(i)]);
    }
    return true;
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    // Only the rank changes; scalars and 1-D values are all this evaluates.
    *out = x;
    if (op == "Unsqueeze") {
      if (x.dims.size() > 1) {
        *problem = "only scalars and 1-D values are unsqueezed";
        return false;
      }
      out->dims = {int64_t(x.v.size())};
    } else {
      out->dims =
          x.v.size() == 1 ? std::vector<int64_t>{} : std::vector<int64_t>{int64_t(x.v.size())};
    }
    return true;
  }
  if (op == "Concat") {
    out->v.clear();
    for (const IndexValue* p : in) {
      if (!p || p->dims.size() != 1) {
        *problem = "only 1-D index values are concatenated";
        return false;
      }
      out->v.insert(out->v.end(), p->v.begin(), p->v.end());
    }
    out->dims = {int64_t(out->v.size())};
    return true;
  }
  if (op == "Slice") {
    // A part of a 1-D value.
    if (x.dims.size() != 1 || in.size() < 3 || !in[1] || !in[2] || in[1]->v.size() != 1 ||
        in[2]->v.size() != 1 || (in.size() > 3 && in[3] && in[3]->v != std::vector<int64_t>{0}) ||
        (in.size() > 4 && in[4] && in[4]->v != std::vector<int64_t>{1})) {
      *problem = "only a Slice of a 1-D index value with step 1 is evaluated";
      return false;
    }
    const int64_t len = int64_t(x.v.size());
    int64_t b = in[1]->v[0], e = in[2]->v[0];
    if (b < 0) b = std::max<int64_t>(b + len, 0);
    if (e < 0) e = std::max<int64_t>(e + len, 0);
    b = std::min(b, len);
    e = std::min(std::max(e, b), len);
    out->v.assign(x.v.begin() + b, x.v.begin() + e);
    out->dims = {e - b};
    return true;
  }
  *problem = "it is not an index operation";
  return false;
}

bool IntOperand(const Graph& g, const IndexLookup& lookup, const Node& n, size_t k,
                std::vector<int64_t>* v, bool* present, std::string* problem) {
  *present = !n.Input(k).empty();
  if (!*present) return true;
  const Const* c = g.FindConst(n.Input(k));
  if (c && (c->type == kInt64 || c->type == kInt32) && c->dims.size() <= 1) {
    *v = c->i;
    return true;
  }
  if (!c && lookup) {
    const IndexValue* iv = lookup(n.Input(k));
    if (iv && iv->dims.size() <= 1) {
      for (int64_t x : iv->v) {
        if (x == kDynamicIndex) {
          *problem = "its input '" + n.Input(k) + "' depends on the dynamic batch size";
          return false;
        }
      }
      *v = iv->v;
      return true;
    }
  }
  *problem = "its input '" + n.Input(k) +
             "' must be a 1-D INT64 or INT32 constant or computed from the shapes of "
             "activations";
  return false;
}

}  // namespace cv
}  // namespace crumb
