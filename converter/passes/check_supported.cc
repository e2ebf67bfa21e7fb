#include <set>

#include "converter/passes/passes.h"

namespace crumb {
namespace cv {

namespace {

const std::set<std::string>& SupportedOps() {
  static const std::set<std::string> ops = {
      "QuantizeLinear", "DequantizeLinear", "Clip", "Relu", "Conv", "Gemm", "MatMul", "Add",
      "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Concat", "Resize",
      "Slice", "Split", "Softmax", "LayerNormalization", "Transpose", "Pad",
      // Inside element-wise functions of one quantized
      // activation (FuseElementwiseTables):
      "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Softplus", "Erf", "Gelu",
      "Neg", "Abs", "Exp", "Mul", "Sub", "Div", "BatchNormalization", "Identity", "Constant"};
  return ops;
}

bool IsQuantCodeType(int t) { return QuantTypeRange(t, nullptr, nullptr, nullptr, nullptr); }

std::string BitWidthOf(int type) {
  switch (type) {
    case kUint16:
    case kInt16:
      return "16";
    case kInt32:
    case kUint32:
      return "32";
    case kInt64:
    case kUint64:
      return "64";
    default:
      return "?";
  }
}

// Checks the zero point / output type of a QuantizeLinear or DequantizeLinear.
void CheckQuantizer(const Graph& g, const Node& n, Diagnostics* diag) {
  if (n.AttrInt("block_size", 0) != 0)
    diag->AddNode(n,
                  "blocked quantization (block_size) of a computed value is not supported (a "
                  "blocked DequantizeLinear of a constant weight becomes a float weight)");
  const Const* scale = g.FindConst(n.Input(1));
  if (!scale) {
    diag->AddNode(n, "the scale '" + n.Input(1) + "' must be a constant");
  } else if (scale->type != kFloat) {
    diag->AddNode(n, std::string("unsupported data type ") + OnnxTypeName(scale->type) +
                         " for the scale '" + n.Input(1) + "' (FLOAT expected)");
  }
  int type = kUint8;
  if (!n.Input(2).empty()) {
    const Const* zp = g.FindConst(n.Input(2));
    if (!zp) {
      diag->AddNode(n, "the zero point '" + n.Input(2) + "' must be a constant");
      return;
    }
    type = zp->type;
  } else if (n.op_type == "QuantizeLinear" && n.HasAttr("output_dtype")) {
    type = int(n.AttrInt("output_dtype", kUint8));
  } else if (n.op_type == "DequantizeLinear") {
    const Const* x = g.FindConst(n.Input(0));
    if (x) type = x->type;
  }
  if (IsQuantCodeType(type)) return;
  // A DequantizeLinear of a constant int32 tensor is a bias in ONNX's QDQ form: plain floats.
  if (n.op_type == "DequantizeLinear" && type == kInt32 && g.FindConst(n.Input(0))) return;
  if (IsIntegerType(type))
    diag->AddNode(n, "unsupported bit width " + BitWidthOf(type) + " (quantized type " +
                         OnnxTypeName(type) + "); crumb takes 1 to 8 bits");
  else
    diag->AddNode(n, std::string("unsupported quantized data type ") + OnnxTypeName(type));
}

// Resize: nearest or linear of H and W by constant scales or sizes, ONNX's usual coordinate
// transforms (lowered to RESIZE).
void CheckResize(const Graph& g, const Node& n, Diagnostics* diag) {
  const std::string mode = n.AttrString("mode", "nearest");
  if (mode != "nearest" && mode != "linear")
    diag->AddNode(n,
                  "mode '" + mode + "' is not supported; crumb resizes with 'nearest' or 'linear'");
  const std::string coord = n.AttrString("coordinate_transformation_mode", "half_pixel");
  if (coord != "half_pixel" && coord != "asymmetric" && coord != "align_corners" &&
      coord != "pytorch_half_pixel")
    diag->AddNode(n, "coordinate_transformation_mode '" + coord +
                         "' is not supported; crumb takes half_pixel, asymmetric, align_corners "
                         "and pytorch_half_pixel");
  const std::string nearest = n.AttrString("nearest_mode", "round_prefer_floor");
  if (nearest != "round_prefer_floor" && nearest != "round_prefer_ceil" && nearest != "floor" &&
      nearest != "ceil")
    diag->AddNode(n, "nearest_mode '" + nearest + "' is not supported");
  if (n.AttrInt("antialias", 0) != 0) diag->AddNode(n, "antialias=1 is not supported");
  if (n.AttrInt("exclude_outside", 0) != 0) diag->AddNode(n, "exclude_outside=1 is not supported");
  const std::string policy = n.AttrString("keep_aspect_ratio_policy", "stretch");
  if (policy != "stretch")
    diag->AddNode(n, "keep_aspect_ratio_policy '" + policy + "' is not supported (only stretch)");
  if (n.HasAttr("axes")) diag->AddNode(n, "the axes attribute is not supported");
  if (n.inputs.size() < 3) {
    diag->AddNode(n,
                  "the opset-10 form (X, scales) is not supported; export with opset 11 or "
                  "later (X, roi, scales, sizes)");
    return;
  }
  const std::string scales = n.Input(2), sizes = n.Input(3);
  const Const* sc = scales.empty() ? nullptr : g.FindConst(scales);
  const Const* sz = sizes.empty() ? nullptr : g.FindConst(sizes);
  // An empty scales tensor next to sizes is ONNX's way of leaving scales out.
  const bool has_scales = !scales.empty() && !(sc && sc->size() == 0 && !sizes.empty());
  if (has_scales == !sizes.empty()) {
    diag->AddNode(n, "needs exactly one of the scales and sizes inputs");
    return;
  }
  const std::string which = has_scales ? scales : sizes;
  const Const* c = has_scales ? sc : sz;
  if (!c) {
    diag->AddNode(n, "its " + std::string(has_scales ? "scales" : "sizes") + " input '" + which +
                         "' must be a constant (computed output sizes are not supported)");
    return;
  }
  if (c->size() != 4) {
    diag->AddNode(n, "its " + std::string(has_scales ? "scales" : "sizes") + " input '" + which +
                         "' has " + std::to_string(c->size()) +
                         " values; crumb resizes 4-D NCHW tensors");
    return;
  }
  if (!has_scales && c->type != kInt64)
    diag->AddNode(n, "its sizes input '" + which + "' must be INT64");
  if (has_scales && (c->type != kFloat || c->f[0] != 1.f || c->f[1] != 1.f))
    diag->AddNode(n,
                  "its scales must be FLOAT with 1 for the batch and channel axes (only height "
                  "and width are resized)");
}

}  // namespace

// The graph's wiring and declared shapes: every input of a supported node exists (a graph input,
// an initializer or a node's output), no value is produced twice, the graph has outputs and each
// is produced, graph inputs have no zero-size or negative dimension. (Nodes of other domains
// and unsupported ops are judged by the passes; their inputs are not checked here.)
void CheckGraphStructure(const Graph& g, Diagnostics* diag) {
  std::set<std::string> values, produced;
  for (const auto& v : g.inputs) values.insert(v.name);
  for (const auto& kv : g.initializers) values.insert(kv.first);
  values.insert(g.undecodable.begin(), g.undecodable.end());
  for (const auto& n : g.nodes) {
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      if (!produced.insert(o).second || values.count(o))
        diag->AddNode(n, "writes '" + o + "', which another node or a graph input already gives");
      values.insert(o);
    }
  }
  for (const auto& n : g.nodes) {
    if (!n.domain.empty() || !SupportedOps().count(n.op_type)) continue;
    for (const auto& i : n.inputs) {
      if (!i.empty() && !values.count(i))
        diag->AddNode(n, "reads '" + i +
                             "', which is neither a graph input, an initializer nor the output of "
                             "a node (a missing initializer?)");
    }
  }
  if (g.outputs.empty()) diag->Add("the graph declares no outputs");
  for (const auto& v : g.outputs) {
    if (!produced.count(v.name) && !g.undecodable.count(v.name))
      diag->Add("graph output '" + v.name + "' is not the output of any node");
  }
  for (const auto& in : g.inputs) {
    for (size_t k = 0; k < in.shape.size() && k < in.dim_params.size(); k++) {
      if (in.dim_params[k].empty() && in.shape[k] < 1) {
        diag->Add("graph input '" + in.name + "' has dimension " + std::to_string(k) + " of size " +
                  std::to_string(in.shape[k]) + "; sizes must be >= 1");
      }
    }
  }
}

void CheckSupported(const Graph& g, Diagnostics* diag) {
  for (const auto& in : g.inputs)
    if (in.type != kFloat)
      diag->Add("graph input '" + in.name + "': unsupported data type " + OnnxTypeName(in.type) +
                " (crumb models take FLOAT inputs)");
  for (const auto& out : g.outputs)
    if (out.type != kFloat && out.type != kUndefined)
      diag->Add("graph output '" + out.name + "': unsupported data type " + OnnxTypeName(out.type) +
                " (crumb models give FLOAT outputs)");
  for (const auto& kv : g.initializers) {
    const int t = kv.second.type;
    // Integer types are judged where they are used (a zero point's type is a bit width).
    if (t != kFloat && !IsIntegerType(t))
      diag->Add("initializer '" + kv.first + "': unsupported data type " + OnnxTypeName(t));
  }

  const std::set<std::string> index = IndexValues(g);
  for (size_t k = 0; k < g.nodes.size(); k++) {
    const Node& n = g.nodes[k];
    if (n.op_type == kSpatialMaskOp) continue;
    // Arithmetic on shapes, evaluated at lowering (where what it cannot evaluate is reported).
    if (n.domain.empty() && !n.outputs.empty() && index.count(n.outputs[0])) continue;
    if (n.domain.empty() && TableOps().count(n.op_type) && TableOnly(n.op_type) &&
        !InTablePosition(g, k) && !IsActivationMulOrSub(g, n)) {
      diag->AddNode(n, TableOpProblem(n.op_type));
      continue;
    }
    if (!n.domain.empty() || !SupportedOps().count(n.op_type)) {
      diag->AddNode(n, "unsupported op");
      continue;
    }
    const std::string& op = n.op_type;
    if (op == "QuantizeLinear" || op == "DequantizeLinear") {
      CheckQuantizer(g, n, diag);
    } else if (op == "Gemm") {
      if (n.AttrInt("transA", 0) != 0) diag->AddNode(n, "transA=1 is not supported");
    } else if (op == "Conv" || op == "MaxPool" || op == "AveragePool") {
      const std::string pad = n.AttrString("auto_pad", "NOTSET");
      if (pad != "NOTSET" && pad != "SAME_UPPER" && pad != "SAME_LOWER" && pad != "VALID")
        diag->AddNode(n, "unknown auto_pad '" + pad + "'");
      if (op == "MaxPool" && (n.outputs.size() > 1 && !n.outputs[1].empty()))
        diag->AddNode(n, "the Indices output is not supported");
      if (op == "MaxPool" && n.AttrInt("storage_order", 0) != 0)
        diag->AddNode(n, "storage_order=1 is not supported");
    } else if (op == "BatchNormalization") {
      if (n.AttrInt("training_mode", 0) != 0 || n.outputs.size() > 1)
        diag->AddNode(n, "training-mode BatchNormalization is not supported");
    } else if (op == "Reshape") {
      if (n.AttrInt("allowzero", 0) != 0) diag->AddNode(n, "allowzero=1 is not supported");
    } else if (op == "Resize") {
      CheckResize(g, n, diag);
    } else if (op == "Slice" || op == "Split" || op == "Pad") {
      // Their indices are resolved at lowering, on the input's shape: here only that they are
      // constants or arithmetic on shapes.
      for (size_t i = 1; i < n.inputs.size(); i++) {
        const std::string& v = n.inputs[i];
        if (v.empty() || (op == "Pad" && i == 2)) continue;  // Pad's constant_value: a float
        const Const* c = g.FindConst(v);
        if (index.count(v)) continue;
        if (!c || (c->type != kInt64 && c->type != kInt32))
          diag->AddNode(n, "its input '" + v +
                               "' must be an INT64 or INT32 constant or computed from the shapes "
                               "of activations (Shape, Gather, Concat, Add, Div, ...)");
      }
    }
  }
}

}  // namespace cv
}  // namespace crumb
