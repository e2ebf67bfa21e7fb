// ONNX Pad. crumb has no padding op of its own: zero padding of the height and width of a Conv's
// or AveragePool's input (nn.ZeroPad2d, F.pad, TensorFlow's asymmetric "SAME" exported as an
// explicit Pad) folds into that layer's own pads, which pad with the input's zero point (float
// 0). Any other Pad is refused here, by name and with the reason.
#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

bool ResolvePad(const Graph& g, const IndexLookup& lookup, const Node& n, size_t rank, PadSpec* s,
                std::string* problem) {
  std::vector<int64_t> pads, axes;
  bool has_axes = false;
  s->mode = n.AttrString("mode", "constant");
  s->value = 0;
  if (n.Input(1).empty()) {
    // Opset 2-10: attributes.
    if (!n.HasAttr("pads")) {
      *problem = "it has no pads";
      return false;
    }
    pads = n.AttrInts("pads");
    s->value = n.AttrFloat("value", 0.f);
  } else {
    bool present = false;
    if (!IntOperand(g, lookup, n, 1, &pads, &present, problem) ||
        !IntOperand(g, lookup, n, 3, &axes, &has_axes, problem))
      return false;
    if (!n.Input(2).empty()) {
      const Const* v = g.FindConst(n.Input(2));
      if (!v || v->size() != 1) {
        *problem = "its constant_value '" + n.Input(2) + "' must be a constant scalar";
        return false;
      }
      s->value = float(v->at(0));
    }
  }
  if (!has_axes)
    for (size_t d = 0; d < rank; d++) axes.push_back(int64_t(d));
  if (pads.size() != 2 * axes.size()) {
    *problem = "its pads hold " + std::to_string(pads.size()) + " values for " +
               std::to_string(axes.size()) + " axes (two per axis)";
    return false;
  }
  s->begin.assign(rank, 0);
  s->end.assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < axes.size(); k++) {
    int64_t a = axes[k] < 0 ? axes[k] + int64_t(rank) : axes[k];
    if (a < 0 || a >= int64_t(rank) || seen[size_t(a)]) {
      *problem = "its axis " + std::to_string(axes[k]) + " is out of range or repeated";
      return false;
    }
    seen[size_t(a)] = true;
    s->begin[size_t(a)] = pads[k];
    s->end[size_t(a)] = pads[k + axes.size()];
  }
  if (s->mode != "constant" && s->mode != "edge" && s->mode != "reflect" && s->mode != "wrap") {
    *problem = "its mode '" + s->mode + "' is not an ONNX Pad mode";
    return false;
  }
  return true;
}

namespace {

// A fake quantizer that maps float 0 to 0 (its zero point is a code it can hold): padding
// commutes with it, so a Pad may move past it.
bool KeepsZero(const Node& n) {
  if (n.op_type != kFakeQuantOp || !n.quant) return false;
  for (int64_t z : n.quant->zero_point)
    if (z < n.quant->qmin || z > n.quant->qmax) return false;
  return true;
}

constexpr int64_t kMaxPad = int64_t(1) << 20;

// Why the Pad `n` (with spec `s`, on an input of `rank`) cannot be folded into `layer`, or "".
std::string FoldProblem(const Node& layer, const PadSpec& s, size_t rank) {
  if (s.mode != "constant" || s.value != 0.f)
    return "only zero padding (mode constant, value 0) is supported, not mode '" + s.mode +
           "' with value " + std::to_string(s.value);
  if (rank != 4) return "only the padding of 4-D NCHW inputs is supported";
  for (size_t d = 0; d < 4; d++) {
    if (s.begin[d] < 0 || s.end[d] < 0)
      return "negative pads (cropping) are not supported; use Slice";
    // (Added to the layer's own pads, which the lowering checks; bounded so the sum cannot wrap.)
    if (s.begin[d] > kMaxPad || s.end[d] > kMaxPad)
      return "a pad above " + std::to_string(kMaxPad) + " is not supported";
  }
  if (s.begin[0] || s.end[0] || s.begin[1] || s.end[1])
    return "only the height and width may be padded (not the batch or channel axes)";
  const std::string auto_pad = layer.AttrString("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID")
    return "the " + layer.op_type + " '" + layer.name + "' it feeds has auto_pad " + auto_pad +
           ", which depends on the unpadded size";
  if (layer.op_type == "AveragePool") {
    std::vector<int64_t> pads = layer.AttrInts("pads");
    bool padded = false;
    for (int64_t p : pads) padded = padded || p != 0;
    if (padded && layer.AttrInt("count_include_pad", 0) == 0)
      return "the AveragePool '" + layer.name +
             "' it feeds pads without counting its pads (count_include_pad 0), which the "
             "explicit zeros would change";
    if (layer.AttrInt("ceil_mode", 0) != 0)
      return "the AveragePool '" + layer.name + "' it feeds has ceil_mode 1";
  }
  return "";
}

}  // namespace

void FoldPad(Graph* g, Diagnostics* diag) {
  std::vector<int> dead;
  for (size_t k = 0; k < g->nodes.size(); k++) {
    const Node& pad = g->nodes[k];
    if (pad.op_type != "Pad" || !pad.domain.empty()) continue;
    const auto refuse = [&](const std::string& why) {
      diag->AddNode(pad, why + " (a Pad folds into the pads of the Conv or AveragePool it feeds)");
    };
    const std::string& y = pad.outputs.empty() ? std::string() : pad.outputs[0];
    // The layer it feeds: directly or through fake quantizers that keep 0 (the QDQ pair a QAT
    // export puts on the padded activation), each read by the next alone.
    std::string v = y;
    std::vector<size_t> chain;
    int layer = -1;
    while (!v.empty() && !g->IsGraphOutput(v)) {
      const std::vector<int> readers = g->Consumers(v);
      if (readers.size() != 1) break;
      Node& r = g->nodes[size_t(readers[0])];
      if (KeepsZero(r)) {
        chain.push_back(size_t(readers[0]));
        v = r.outputs[0];
        continue;
      }
      if (r.domain.empty() && (r.op_type == "Conv" || r.op_type == "AveragePool") &&
          r.Input(0) == v)
        layer = readers[0];
      break;
    }
    if (layer < 0) {
      refuse("its output is not read by one Conv or AveragePool alone");
      continue;
    }
    Node& l = g->nodes[size_t(layer)];
    // The input's rank, from the layer: 2 + its spatial axes.
    size_t rank = 0;
    if (l.op_type == "Conv") {
      const int w = g->Producer(l.Input(1));
      if (w >= 0 && g->nodes[size_t(w)].quant) rank = g->nodes[size_t(w)].quant->dims.size();
    } else {
      rank = 2 + l.AttrInts("kernel_shape").size();
    }
    PadSpec s;
    std::string problem;
    if (rank == 0) {
      problem = "the rank of the " + l.op_type + " '" + l.name + "' it feeds is not known";
    } else if (ResolvePad(*g, nullptr, pad, rank, &s, &problem)) {
      problem = FoldProblem(l, s, rank);
    }
    if (!problem.empty()) {
      refuse(problem);
      continue;
    }
    std::vector<int64_t> lp = l.AttrInts("pads");
    lp.resize(4, 0);
    bool wraps = false;
    for (int64_t p : lp) wraps = wraps || p > kMaxPad || p < -kMaxPad;
    if (wraps) {
      refuse("the pads of the " + l.op_type + " '" + l.name + "' it feeds are out of range");
      continue;
    }
    // ONNX pads order: [H begin, W begin, H end, W end].
    lp[0] += s.begin[2];
    lp[1] += s.begin[3];
    lp[2] += s.end[2];
    lp[3] += s.end[3];
    Attr a;
    a.kind = Attr::kInts;
    a.ints = lp;
    l.attrs["pads"] = a;
    l.attrs.erase("auto_pad");
    if (l.op_type == "AveragePool") {
      Attr c;
      c.kind = Attr::kInt;
      c.i = 1;
      l.attrs["count_include_pad"] = c;
    }
    l.fused.push_back(pad.name);
    // The first reader of y now reads x: the padding happens in the layer.
    Node& first = chain.empty() ? l : g->nodes[chain[0]];
    for (std::string& in : first.inputs)
      if (in == y) in = pad.Input(0);
    dead.push_back(int(k));
  }
  g->EraseNodes(dead);
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
