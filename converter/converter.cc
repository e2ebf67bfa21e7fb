#include "converter/converter.h"

#include <exception>
#include <fstream>
#include <new>
#include <sstream>

#include "converter/layer_report.h"
#include "converter/onnx_import.h"
#include "converter/passes/passes.h"
#include "converter/sha256.h"
#include "converter/writer.h"
#include "onnx/onnx_pb.h"
#include "schema/crumb_generated.h"

namespace crumb {
namespace cv {

bool ParseTarget(const std::string& name, Target* target) {
  static const struct {
    const char* name;
    Target target;
  } kTargets[] = {{"portable", Target::kPortable},          {"x86-avx2", Target::kX86Avx2},
                  {"x86-avx512", Target::kX86Avx512},       {"arm64", Target::kArm64},
                  {"arm64-dotprod", Target::kArm64Dotprod}, {"armv7", Target::kArmv7}};
  for (const auto& t : kTargets) {
    if (name == t.name) {
      *target = t.target;
      return true;
    }
  }
  return false;
}

const char* TargetName(Target target) {
  switch (target) {
    case Target::kX86Avx2:
      return "x86-avx2";
    case Target::kX86Avx512:
      return "x86-avx512";
    case Target::kArm64:
      return "arm64";
    case Target::kArm64Dotprod:
      return "arm64-dotprod";
    case Target::kArmv7:
      return "armv7";
    default:
      return "portable";
  }
}

ConvertResult ConvertModel(const onnx::ModelProto& model, const std::string& source_hash,
                           const ConvertOptions& options) {
  ConvertResult r;
  Diagnostics diag;
  Graph& g = r.graph;
  std::vector<LayerOverride> layers = options.layers;
  ImportModel(model, &g, &diag);
  CheckGraphStructure(g, &diag);
  ConstantsToInitializers(&g, &diag);
  RemoveIdentity(&g, &diag);
  LowerQonnx(&g, &diag);
  LowerQOperator(&g, &diag);
  MergeDequantize(&g, &diag);
  FoldBlockedDequantize(&g, &diag);
  FoldBinaryWeights(&g, &diag);
  RecognizeSpatialMasks(&g, &diag);
  CheckSupported(g, &diag);
  if (diag.ok()) {
    RecognizeQuantizers(&g, &diag);
    FoldPad(&g, &diag);
    FoldWeightTranspose(&g, &diag);
    QuantizeFloatWeights(&g, &diag, &layers);
    FuseElementwiseTables(&g, &diag);
    FoldBiasAdd(&g, &diag);
    FoldBatchNorm(&g, &diag);
    FuseActivations(&g, &diag);
    LowerToCrumb(g, &r.model, &diag, &layers);
  }
  if (diag.ok()) {
    FoldSpatialMasks(&r.model, &diag);
    const Target table_row = options.target == Target::kArmv7 ? Target::kArm64 : options.target;
    ChooseKernelFamily(&r.model, options.family, unsigned(table_row), options.sparse, &layers);
    for (const LayerOverride& o : layers)
      if (o.matched == 0)
        diag.Add("config entry \"" + o.match +
                 "\" matches no quantized convolution or fully-connected layer (the names are "
                 "the ONNX node names crumb-convert's layer table prints)");
    PackWeights(&r.model, &diag);
  }
  if (diag.ok()) {
    const std::vector<LayerRow> rows = LayerRows(r.model, options.target);
    r.layer_table = FormatLayerTable(rows);
    for (const std::string& s : ScalarLayers(rows, options.target)) {
      if (options.strict) {
        diag.Add(s.substr(0, s.size() - 1) + " (refused by --strict).");
      } else {
        r.warnings.push_back(s);
      }
    }
  }
  if (diag.ok()) {
    CModel& m = r.model;
    m.description = std::string("converted from ONNX by crumb-convert ") + kConverterVersion;
    m.metadata.insert(m.metadata.begin(),
                      {{kMetaConverter, std::string("crumb-convert ") + kConverterVersion},
                       {kMetaSourceHash, source_hash}});
    if (options.target != Target::kPortable)
      m.metadata.insert(m.metadata.begin() + 2, {kMetaFamilyTarget, TargetName(options.target)});
    std::string err;
    if (!SerializeModel(m, &r.bytes, &err)) diag.Add(err);
  }
  r.problems = diag.problems();
  r.ok = diag.ok();
  if (!r.ok) r.bytes.clear();
  return r;
}

ConvertResult ConvertOnnxBytes(const std::string& bytes, const ConvertOptions& options) {
  ConvertResult r;
  // Nothing thrown on hostile input (std::bad_alloc on absurd sizes, a container's range check)
  // may end the process: it becomes one more problem.
  try {
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes)) {
      r.problems.push_back("the file is not an ONNX model (protobuf parse failed)");
      return r;
    }
    return ConvertModel(model, Sha256Hex(bytes.data(), bytes.size()), options);
  } catch (const std::bad_alloc&) {
    r.problems.push_back("out of memory while converting (a tensor or shape too large?)");
  } catch (const std::exception& e) {
    r.problems.push_back(std::string("internal error while converting: ") + e.what());
  }
  r.ok = false;
  r.bytes.clear();
  return r;
}

std::string FormatProblems(const std::string& source, const std::vector<std::string>& problems) {
  std::ostringstream s;
  s << "cannot convert " << source << ": " << problems.size()
    << (problems.size() == 1 ? " problem:" : " problems:");
  for (const auto& p : problems) s << "\n  " << p;
  return s.str();
}

bool ConvertFile(const std::string& in_path, const std::string& out_path,
                 const ConvertOptions& options, std::string* message, std::string* summary) {
  std::ifstream in(in_path, std::ios::binary);
  if (!in) {
    *message = "cannot open '" + in_path + "'";
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    *message = "cannot read '" + in_path + "'";
    return false;
  }
  ConvertResult r = ConvertOnnxBytes(buf.str(), options);
  if (!r.ok) {
    *message = FormatProblems(in_path, r.problems);
    return false;
  }
  std::string err;
  if (!WriteFileAtomically(out_path, r.bytes, &err)) {
    *message = "cannot write " + out_path + ": " + err;
    return false;
  }
  if (summary) {
    size_t weights = 0;
    for (const auto& t : r.model.tensors) weights += t.bytes.size();
    std::ostringstream s;
    s << "wrote " << out_path << ": " << r.model.ops.size() << " ops, " << r.model.tensors.size()
      << " tensors, " << weights << " bytes of constants, " << r.bytes.size() << " bytes";
    if (!r.layer_table.empty()) s << "\n" << r.layer_table;
    for (const std::string& w : r.warnings) s << "\nwarning: " << w;
    *summary = s.str();
  }
  return true;
}

std::vector<uint8_t> WithoutSourceHash(const std::vector<uint8_t>& crumb) {
  std::vector<uint8_t> out = crumb;
  flatbuffers::Verifier v(crumb.data(), crumb.size());
  if (!fb::VerifyModelBuffer(v)) return out;
  const fb::Model* m = fb::GetModel(crumb.data());
  if (!m->metadata()) return out;
  for (const auto* kv : *m->metadata()) {
    if (!kv->key() || !kv->value() || kv->key()->str() != kMetaSourceHash) continue;
    const size_t at = size_t(reinterpret_cast<const uint8_t*>(kv->value()->data()) - crumb.data());
    for (size_t k = 0; k < kv->value()->size(); k++) out[at + k] = '0';
  }
  return out;
}

}  // namespace cv
}  // namespace crumb
