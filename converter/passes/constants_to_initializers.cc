#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void ConstantsToInitializers(Graph* g, Diagnostics* diag) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& n = g->nodes[k];
    if (n.op_type != "Constant" || !n.domain.empty() || n.outputs.size() != 1) continue;
    Const c;
    auto it = n.attrs.begin();
    if (n.attrs.size() != 1) {
      diag->AddNode(n, "a Constant needs exactly one value attribute");
      continue;
    }
    const std::string& which = it->first;
    const Attr& a = it->second;
    if (which == "value") {
      if (!a.t) continue;  // the importer already reported why the tensor is unreadable
      c = *a.t;
    } else if (which == "value_float") {
      c.type = kFloat;
      c.f = {a.f};
    } else if (which == "value_floats") {
      c.type = kFloat;
      c.f = a.floats;
      c.dims = {int64_t(a.floats.size())};
    } else if (which == "value_int") {
      c.type = kInt64;
      c.i = {a.i};
    } else if (which == "value_ints") {
      c.type = kInt64;
      c.i = a.ints;
      c.dims = {int64_t(a.ints.size())};
    } else {
      diag->AddNode(n, "Constant attribute '" + which + "' is not supported");
      continue;
    }
    g->initializers[n.outputs[0]] = std::move(c);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
}

}  // namespace cv
}  // namespace crumb
