// crumb-convert --config FILE: per-layer overrides of the kernel family and the sparse choice, and
// layers to keep float.
//
//   {"layers": [
//     {"match": "/layer1/*", "family": "dot"},
//     {"match": "/fc/Gemm", "sparse": "off"},
//     {"match": "/conv1/Conv", "float": true},
//     {"match": "/head/Conv", "int8": true}
//   ]}
//
// `match` is a shell glob (fnmatch) over the ONNX node names of Conv / Gemm / MatMul layers (the
// names crumb-convert's layer table prints); the last entry matching a layer wins for each key it
// sets. A family is a preference honoured where the layer can run on it, then recorded as FORCED
// (as --kernel-family does for every layer).
#pragma once

#include <string>
#include <vector>

#include "converter/ir.h"

namespace crumb {
namespace cv {

struct LayerOverride {
  std::string match;
  bool has_family = false;
  KernelFamily family = KernelFamily::kAuto;
  bool has_sparse = false;
  SparseMode sparse = SparseMode::kAuto;
  // "float": true (or "exclude": true): the layer stays a float layer (CONV_2D /
  // FULLY_CONNECTED version 2), its quantized weights dequantized; LowerToCrumb applies it.
  bool has_float = false;
  bool keep_float = false;
  // "int8": true: a layer the model keeps float gets 8-bit weights (per output channel,
  // symmetric) and runs as a quantized layer; QuantizeFloatWeights applies it.
  bool has_int8 = false;
  bool int8 = false;
  size_t matched = 0;  // layers it applied to (ChooseKernelFamily counts)
};

// Parses a config file's text; every problem (malformed JSON, unknown keys or values, an entry
// without `match`) is appended to *problems as a sentence naming `path` and the entry.
bool ParseLayerConfig(const std::string& text, const std::string& path,
                      std::vector<LayerOverride>* out, std::vector<std::string>* problems);

// Whether an override's glob matches a layer name.
bool LayerMatches(const LayerOverride& o, const std::string& name);

}  // namespace cv
}  // namespace crumb
