#include "converter/layer_report.h"

#include <algorithm>
#include <sstream>

#include "converter/converter.h"
#include "kernels/common/family.h"

namespace crumb {
namespace cv {

namespace {

std::string BitsOf(const CTensor& t) {
  return t.type == ElemType::kFloat32 ? std::string("f32") : std::to_string(t.bits);
}

// Why a layer of this family runs on scalar kernels on the target, or "" when it does not.
std::string ScalarWhy(const COp& op, Target target) {
  if (op.version == 2) return "";  // float layers run XNNPACK's fp32 operators on every target
  if (op.family == KernelFamily::kScalar) {
    return op.family_source == FamilySource::kForced
               ? "its kernel family was forced to scalar (--kernel-family scalar or --config)"
               : "no optimized family runs it (grouped convolutions with fewer than 16 channels "
                 "per group run the scalar kernels)";
  }
  if (target == Target::kArmv7 && op.family != KernelFamily::kAuto) {
    return "32-bit Arm builds have NEON kernels for the element-wise ops only; the " +
           std::string(crumb_kernel_family_name(int(op.family))) +
           " family runs its scalar kernels there";
  }
  return "";
}

}  // namespace

std::vector<LayerRow> LayerRows(const CModel& m, Target target) {
  std::vector<LayerRow> rows;
  for (const COp& op : m.ops) {
    if (op.opcode != OpCode::kConv2D && op.opcode != OpCode::kFullyConnected) continue;
    const CTensor& x = m.tensors[size_t(op.inputs[0])];
    const CTensor& w = m.tensors[size_t(op.inputs[1])];
    const CTensor& y = m.tensors[size_t(op.outputs[0])];
    LayerRow r;
    r.name = op.name;
    const int64_t cout = w.shape.empty() ? 0 : w.shape[0];
    int64_t cin = w.shape.size() > 1 ? w.shape[1] : 0;
    if (op.opcode == OpCode::kConv2D) {
      const bool depthwise = op.groups > 1 && op.groups == cout && cin == 1;
      cin *= op.groups;
      std::ostringstream k;
      k << (depthwise       ? "dwconv "
            : op.groups > 1 ? "gconv "
                            : "conv ")
        << op.kernel_h << "x" << op.kernel_w << "/s" << op.stride_h;
      r.kind = k.str();
    } else {
      r.kind = "fc";
    }
    r.shape = std::to_string(cin) + "->" + std::to_string(cout);
    r.bits = "w" + BitsOf(w) + "a" + BitsOf(x) + "o" + BitsOf(y);
    const char* family = crumb_kernel_family_name(int(op.family));
    r.family = *family ? family : "float";
    if (op.version == 2) {  // a float layer: 32-bit float weights, input and output, on XNNPACK
      r.bits = "f32";
      r.family = "xnnpack";
    }
    r.weight_bytes = w.bytes.size();
    r.scalar_why = ScalarWhy(op, target);
    rows.push_back(r);
  }
  return rows;
}

std::string FormatLayerTable(const std::vector<LayerRow>& rows) {
  const char* heads[] = {"layer", "kind", "channels", "bits", "family", "weight bytes"};
  size_t width[6];
  for (int c = 0; c < 6; c++) width[c] = std::string(heads[c]).size();
  auto cells = [](const LayerRow& r) {
    return std::vector<std::string>{r.name, r.kind,   r.shape,
                                    r.bits, r.family, std::to_string(r.weight_bytes)};
  };
  for (const LayerRow& r : rows) {
    const auto c = cells(r);
    for (int i = 0; i < 6; i++) width[i] = std::max(width[i], c[size_t(i)].size());
  }
  std::ostringstream s;
  auto line = [&](const std::vector<std::string>& c, const std::string& note) {
    for (int i = 0; i < 6; i++) {
      const std::string& v = c[size_t(i)];
      const std::string pad(width[i] - v.size(), ' ');
      // Names and words left-aligned, the byte count right-aligned.
      s << (i == 5 ? pad + v : v + (i == 5 ? "" : pad)) << (i == 5 ? "" : "  ");
    }
    s << note << "\n";
  };
  line({heads, heads + 6}, "");
  size_t total = 0, scalar = 0;
  for (const LayerRow& r : rows) {
    line(cells(r), r.scalar_why.empty() ? "" : "  (scalar kernels)");
    total += r.weight_bytes;
    scalar += !r.scalar_why.empty();
  }
  s << rows.size() << " layers, " << total << " bytes of packed weights";
  if (scalar) s << ", " << scalar << " on scalar kernels";
  return s.str();
}

std::vector<std::string> ScalarLayers(const std::vector<LayerRow>& rows, Target target) {
  std::vector<std::string> out;
  for (const LayerRow& r : rows) {
    if (r.scalar_why.empty()) continue;
    out.push_back("layer '" + r.name + "' (" + r.kind + ", " + r.bits + ") would run on the " +
                  "portable scalar kernels on " + TargetName(target) + ": " + r.scalar_why + ".");
  }
  return out;
}

}  // namespace cv
}  // namespace crumb
