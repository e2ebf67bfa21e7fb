// crumb-convert as a library: fake-quantized ONNX -> .crumb. The tool (tools/crumb-convert.cc) is
// a thin main over ConvertFile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "converter/ir.h"
#include "converter/layer_config.h"

namespace onnx {
class ModelProto;
}

namespace crumb {
namespace cv {

constexpr const char* kConverterVersion = "0.1.0";
// Metadata keys written into every model.
constexpr const char* kMetaConverter = "converter";
constexpr const char* kMetaSourceHash = "source_sha256";
constexpr const char* kMetaBitsPrefix = "bits:";  // + op name -> "wXaY"

// The CPU class whose measured family table (kernels/common/family_table.h) picks each layer's
// family; kPortable applies the ISA-independent rule of kernels/common/family.h. Values are
// crumb_select_isa's.
// kArmv7 picks families as kArm64 (NEON) does; it differs in which of them have NEON kernels.
enum class Target {
  kPortable = 0,
  kX86Avx2 = 2,
  kX86Avx512 = 3,
  kArm64 = 4,
  kArm64Dotprod = 5,
  kArmv7 = 16
};
// "portable", "x86-avx2", "x86-avx512", "arm64", "arm64-dotprod", "armv7".
bool ParseTarget(const std::string& name, Target* target);
const char* TargetName(Target target);
constexpr const char* kMetaFamilyTarget = "crumb.family_target";

struct ConvertOptions {
  KernelFamily family = KernelFamily::kAuto;
  Target target = Target::kPortable;
  SparseMode sparse = SparseMode::kAuto;
  // A layer that would run on scalar kernels on the target is a problem (else a warning).
  bool strict = false;
  // --config: per-layer family / sparse overrides (converter/layer_config.h).
  std::vector<LayerOverride> layers;
};

struct ConvertResult {
  bool ok = false;
  std::vector<std::string> problems;  // every problem found, one sentence each
  std::vector<uint8_t> bytes;         // the .crumb file when ok
  Graph graph;                        // the IR after the graph passes (for tests and debugging)
  CModel model;                       // the crumb-level model
  std::string layer_table;            // per Conv / FC layer: bits, family, weight bytes
  std::vector<std::string> warnings;  // layers on scalar kernels on the target (without strict)
};

// Converts a parsed model. `source_hash` goes into the metadata (hex SHA-256 of the file).
ConvertResult ConvertModel(const onnx::ModelProto& model, const std::string& source_hash,
                           const ConvertOptions& options);
// Parses and converts the bytes of an .onnx file.
ConvertResult ConvertOnnxBytes(const std::string& bytes, const ConvertOptions& options);

// Reads `in_path`, converts, writes `out_path` atomically. On failure returns false, writes
// nothing, and `message` holds the whole report ("cannot convert X: N problems:\n  ...").
// `summary`: the "wrote" line, the layer table and a "warning: " line per warning.
bool ConvertFile(const std::string& in_path, const std::string& out_path,
                 const ConvertOptions& options, std::string* message, std::string* summary);

std::string FormatProblems(const std::string& source, const std::vector<std::string>& problems);

// A copy of a .crumb file with the source-hash metadata value blanked to '0's, so that models
// converted from different ONNX forms of one network compare byte for byte.
std::vector<uint8_t> WithoutSourceHash(const std::vector<uint8_t>& crumb);

}  // namespace cv
}  // namespace crumb
