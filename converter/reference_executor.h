// The source graph's own semantics, for crumb-convert --validate: a float fake-quant executor of
// the ONNX-level graph the converter accepts, as ONNX Runtime would evaluate it (QuantizeLinear
// divides, rounds half to even, adds the zero point and saturates; everything else in float32,
// convolution / matrix sums accumulated in double). It runs on the graph after the passes that
// rewrite other spellings into QDQ (QONNX, QOperator, sign-form binary weights) and before any
// pass that folds or fuses for crumb, so every ONNX value the model names is still there.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "converter/ir.h"

namespace onnx {
class ModelProto;
}

namespace crumb {
namespace cv {

// A value in NCHW / ONNX order. Integer tensors (QuantizeLinear outputs, integer initializers)
// hold their integers as floats (exact: codes are at most 8 bits, int32 biases below 2^24).
struct RefTensor {
  std::vector<int64_t> dims;
  std::vector<float> data;
};

struct ReferenceOptions {
  // Test hook (crumb-convert's CRUMB_VALIDATE_TEST_HOOK=negate-weights): every Conv uses its
  // weights negated, so the reference computes another model and --validate must report the
  // disagreement.
  bool negate_weights = false;
};

// Imports `model` and runs the converter's graph passes up to and including FoldBinaryWeights
// (FoldBlockedDequantize among them).
// False with `problems` when the import or those passes find any.
bool PrepareReferenceGraph(const onnx::ModelProto& model, Graph* g,
                           std::vector<std::string>* problems);

// Evaluates `g` on `inputs` (one per graph input, by name). On success `values` holds every value
// computed (node outputs) and the inputs. False with a full sentence in `error` for an op or
// attribute it does not evaluate, or inconsistent shapes.
bool RunReference(const Graph& g, const std::map<std::string, RefTensor>& inputs,
                  std::map<std::string, RefTensor>* values, std::string* error,
                  const ReferenceOptions& options = ReferenceOptions());

// The scale and zero point of the QuantizeLinear writing `value` (per-tensor), or of the
// DequantizeLinear writing it (the step of a float output); false when neither or per-axis.
bool QuantizerStep(const Graph& g, const std::string& value, bool* is_codes, float* scale,
                   int64_t* zero_point);

}  // namespace cv
}  // namespace crumb
