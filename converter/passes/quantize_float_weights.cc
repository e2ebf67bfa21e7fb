// crumb-convert --config "int8": true on a layer the model keeps float (a Conv / Gemm / MatMul
// with a plain float weight): its weights are quantized here to 8-bit codes, per output channel,
// symmetric and narrow (s[o] = max|w[o]| / 127, q = rne(w / s) in [-127, 127], as ONNX Runtime's
// quantize_static does for weights), and replace the float initializer with a quantized constant.
// The layer then lowers like any quantized one: integer accumulation on its quantized input (which
// must be a QuantizeLinear -> DequantizeLinear value) and the requantizing epilogue, instead of a
// float layer between DEQUANTIZE and QUANTIZE. Only the weights change, by at most half a step of
// their scale; the activations keep the model's quantizers.
#include <cmath>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

void QuantizeFloatWeights(Graph* g, Diagnostics* diag, std::vector<LayerOverride>* layers) {
  if (!layers) return;
  std::vector<Node> added;
  for (Node& n : g->nodes) {
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul"))
      continue;
    const LayerOverride* last = nullptr;
    for (LayerOverride& o : *layers) {
      if (!o.has_int8 || !LayerMatches(o, n.name)) continue;
      o.matched++;
      last = &o;
    }
    if (!last || !last->int8) continue;
    const std::string& wv = n.Input(1);
    const Const* c = g->Producer(wv) < 0 ? g->FindConst(wv) : nullptr;
    if (!c || c->type != kFloat) continue;  // already quantized: the model's codes stand
    const size_t rank = c->dims.size();
    if ((n.op_type == "Conv" && rank < 3) || (n.op_type != "Conv" && rank != 2) ||
        int64_t(c->f.size()) != c->NumElements()) {
      diag->AddNode(n, "its float weight '" + wv +
                           "' has a shape crumb cannot quantize per output channel (--config "
                           "int8)");
      continue;
    }
    // The output-channel axis: 0 for Conv and Gemm with transB, else the last ([K, N]).
    const bool rows_out = n.op_type == "Conv" || (n.op_type == "Gemm" && n.AttrInt("transB", 0));
    const int axis = rows_out ? 0 : 1;
    const int64_t channels = c->dims[size_t(axis)];
    const int64_t inner = rows_out ? c->NumElements() / std::max<int64_t>(channels, 1) : 1;
    auto q = std::make_shared<QuantInfo>();
    q->axis = axis;
    q->bits = 8;
    q->encoding = Encoding::kSigned;
    q->qmin = -127;
    q->qmax = 127;
    q->is_const = true;
    q->dims = c->dims;
    q->scale.assign(size_t(channels), 1.f);
    q->zero_point.assign(size_t(channels), 0);
    auto channel_of = [&](size_t i) {
      return rows_out ? int64_t(i) / inner : int64_t(i) % channels;
    };
    std::vector<float> amax(size_t(channels), 0.f);
    bool finite = true;
    for (size_t i = 0; i < c->f.size(); i++) {
      finite = finite && std::isfinite(c->f[i]);
      float& m = amax[size_t(channel_of(i))];
      m = std::max(m, std::fabs(c->f[i]));
    }
    if (!finite) {
      diag->AddNode(n, "its float weight '" + wv + "' holds a non-finite value (--config int8)");
      continue;
    }
    for (int64_t o = 0; o < channels; o++)
      if (amax[size_t(o)] > 0) q->scale[size_t(o)] = amax[size_t(o)] / 127.f;
    q->codes.resize(c->f.size());
    for (size_t i = 0; i < c->f.size(); i++) {
      const float v = std::nearbyint(c->f[i] / q->scale[size_t(channel_of(i))]);
      q->codes[i] = int64_t(std::min(std::max(v, -127.f), 127.f));
    }
    q->tensor_name = n.name + "/weight_int8";
    Node w;
    w.name = q->tensor_name;
    w.op_type = kQConstOp;
    w.outputs = {q->tensor_name};
    w.quant = std::move(q);
    n.inputs[1] = w.outputs[0];
    added.push_back(std::move(w));
  }
  // Constants first: a QConst has no input, and the lowering reads it through its reader.
  g->nodes.insert(g->nodes.begin(), added.begin(), added.end());
  g->DropUnusedInitializers();
}

}  // namespace cv
}  // namespace crumb
