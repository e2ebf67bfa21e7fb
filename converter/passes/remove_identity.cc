#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void RemoveIdentity(Graph* g, Diagnostics* diag) {
  (void)diag;
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& n = g->nodes[k];
    if (n.op_type != "Identity" || !n.domain.empty() || n.inputs.size() != 1 ||
        n.outputs.size() != 1)
      continue;
    const std::string in = n.inputs[0], out = n.outputs[0];
    if (!g->IsGraphOutput(out)) {
      g->ReplaceUses(out, in);
      dead.push_back(int(k));
      continue;
    }
    // The Identity names a graph output: keep that name by renaming the input value instead,
    // which is only possible when the input is a node output that is not itself a graph output.
    const int p = g->Producer(in);
    if (p < 0 || g->IsGraphOutput(in)) continue;  // left for the lowering to report
    for (auto& o : g->nodes[size_t(p)].outputs)
      if (o == in) o = out;
    for (size_t j = 0; j < g->nodes.size(); j++) {
      if (j == k) continue;
      for (auto& i : g->nodes[j].inputs)
        if (i == in) i = out;
    }
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
}

}  // namespace cv
}  // namespace crumb
