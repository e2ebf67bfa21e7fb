// crumb-inspect MODEL.crumb: the verified model's ops (type, name, kernel, inputs and outputs
// with shapes), tensors (bits, encoding, quantization, layout, bytes), metadata and totals.
#include <stdio.h>

#include <string>

#include "c_api_internal.h"
#include "crumb/crumb.hpp"
#include "tool_util.h"

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "crumb-inspect: %s\n", message.c_str());
  return 1;
}

std::string Shape(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::string TypeString(const crumb::rt::TensorDesc& t) {
  if (t.is_float) return "FLOAT32";
  return "Q" + std::to_string(t.bits) + " " + crumb::rt::EncodingName(t.encoding);
}

std::string QuantString(const crumb::rt::TensorDesc& t) {
  if (t.is_float) return "-";
  char buf[160];
  if (t.scales.size() == 1) {
    snprintf(buf, sizeof buf, "scale=%g zp=%d range=[%d,%d]", (double)t.scales[0], t.zero_points[0],
             t.qmin, t.qmax);
  } else {
    float lo = t.scales[0], hi = t.scales[0];
    for (float s : t.scales) lo = s < lo ? s : lo, hi = s > hi ? s : hi;
    snprintf(buf, sizeof buf, "axis=%d x%zu scale=[%g..%g] range=[%d,%d]", t.axis, t.scales.size(),
             (double)lo, (double)hi, t.qmin, t.qmax);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  crumb_tools::Args args(argc, argv, {"help"}, {"help"});
  if (args.Has("help") || (args.ok() && args.positional().empty())) {
    printf("usage: crumb-inspect MODEL.crumb\n");
    return args.Has("help") ? 0 : 1;
  }
  if (!args.ok()) return Fail(args.error());
  if (args.positional().size() != 1) return Fail("expected one model file.");
  crumb::Model model = crumb::Model::FromFile(args.positional()[0].c_str());
  if (!model) return Fail(crumb_last_error());
  const crumb::rt::Model& m = *model.get()->model;
  // An interpreter (the best path this CPU has, batch 1) tells which kernel and family each op
  // runs, and why.
  crumb::Interpreter interp(model);
  const bool planned = interp && interp.Allocate() == CRUMB_OK;

  printf("Model: %s\n", args.positional()[0].c_str());
  printf("Format version: %u   file size: %zu bytes\n", m.version, m.size());
  if (!m.description.empty()) printf("Description: %s\n", m.description.c_str());
  printf("\nMetadata (%zu):\n", m.metadata.size());
  for (const auto& kv : m.metadata) printf("  %s = %s\n", kv.first.c_str(), kv.second.c_str());

  auto io = [&](const std::vector<int32_t>& ts) {
    std::string s;
    for (size_t i = 0; i < ts.size(); i++) {
      const auto& t = m.tensors[ts[i]];
      s += (i ? ", " : "") + std::to_string(ts[i]) + ":" + t.name + Shape(t.shape);
    }
    return s;
  };
  printf("\nInputs: %s\nOutputs: %s\n", io(m.inputs).c_str(), io(m.outputs).c_str());

  printf("\nOps (%zu):\n", m.ops.size());
  for (size_t i = 0; i < m.ops.size(); i++) {
    const crumb::rt::OpDesc& op = m.ops[i];
    static const char* const kSources[] = {"table", "forced", "tuned"};
    const crumb::OpInfo info = planned ? interp.Op((int32_t)i) : crumb::OpInfo();
    printf("  %3zu %-20s '%s'  family=%s (%s)  kernel=%s\n", i, crumb::rt::OpCodeName(op.opcode),
           op.name.c_str(), crumb::rt::KernelFamilyName(op.family),
           op.family_source >= 0 && op.family_source < 3 ? kSources[op.family_source] : "?",
           planned ? info.kernel.c_str() : "?");
    if (!info.family.empty()) {
      printf("        runs: %s, %s\n", info.family.c_str(), info.family_reason.c_str());
    }
    if (op.version != 1) {
      const bool float_layer =
          op.opcode == crumb::rt::kOpConv2D || op.opcode == crumb::rt::kOpFullyConnected;
      printf("        version=%d%s\n", op.version,
             float_layer ? " (float layer: FLOAT32 input, weights, bias)"
             : op.opcode == crumb::rt::kOpRequantize ? " (code table)"
             : op.opcode == crumb::rt::kOpAdd        ? " (subtraction: a - b)"
                                                     : "");
    }
    if (op.opcode == crumb::rt::kOpConv2D || op.opcode == crumb::rt::kOpMaxPool2D ||
        op.opcode == crumb::rt::kOpAveragePool2D) {
      printf("        kernel=%dx%d stride=%dx%d dilation=%dx%d pads=%d,%d,%d,%d", op.kernel_h,
             op.kernel_w, op.stride_h, op.stride_w, op.dilation_h, op.dilation_w, op.pad_top,
             op.pad_left, op.pad_bottom, op.pad_right);
      if (op.opcode == crumb::rt::kOpConv2D) printf(" groups=%d", op.groups);
      if (op.opcode != crumb::rt::kOpConv2D) {
        printf(" ceil_mode=%d count_include_pad=%d", op.ceil_mode, op.count_include_pad);
      }
      printf("\n");
    }
    if (op.opcode == crumb::rt::kOpConcat) printf("        axis=%d\n", op.axis);
    if (op.opcode == crumb::rt::kOpResize) {
      static const char* const kModes[] = {"nearest", "linear"};
      static const char* const kCoords[] = {"half_pixel", "asymmetric", "align_corners",
                                            "pytorch_half_pixel"};
      static const char* const kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                             "ceil"};
      // The loader checked every value's range.
      printf("        mode=%s coordinates=%s nearest=%s scales=%gx%g\n", kModes[op.resize_mode],
             kCoords[op.resize_coordinates], kNearest[op.resize_nearest], (double)op.scale_h,
             (double)op.scale_w);
    }
    if (op.opcode == crumb::rt::kOpSlice) {
      auto list = [](const std::vector<int64_t>& v) {
        std::string s = "[";
        for (size_t k = 0; k < v.size(); k++) s += (k ? ", " : "") + std::to_string(v[k]);
        return s + "]";
      };
      printf("        starts=%s steps=%s\n", list(op.slice_starts).c_str(),
             list(op.slice_steps).c_str());
    }
    if (op.opcode == crumb::rt::kOpSoftmax) printf("        axis=%d\n", op.axis);
    if (op.opcode == crumb::rt::kOpLayerNorm) {
      printf("        epsilon=%g bias=%s\n", (double)op.epsilon,
             op.inputs.size() == 3 ? "yes" : "absent");
    }
    if (op.opcode == crumb::rt::kOpBatchMatMul || op.opcode == crumb::rt::kOpMul) {
      printf("        multiplier=%.9g\n", (double)op.multiplier);
    }
    if (op.opcode == crumb::rt::kOpTranspose) {
      std::string p = "[";
      for (size_t k = 0; k < op.perm.size(); k++) p += (k ? ", " : "") + std::to_string(op.perm[k]);
      printf("        perm=%s\n", (p + "]").c_str());
    }
    printf("        in:  %s\n        out: %s\n", io(op.inputs).c_str(), io(op.outputs).c_str());
  }

  printf("\nTensors (%zu):\n", m.tensors.size());
  printf("  %4s %-32s %-16s %-12s %-9s %10s  %s\n", "id", "name", "shape", "type", "layout",
         "bytes", "quantization");
  uint64_t weight_bytes = 0, float_bytes = 0;
  for (size_t i = 0; i < m.tensors.size(); i++) {
    const crumb::rt::TensorDesc& t = m.tensors[i];
    if (t.is_constant()) (t.is_float ? float_bytes : weight_bytes) += t.data_size;
    printf("  %4zu %-32s %-16s %-12s %-9s %10llu  %s\n", i, t.name.c_str(), Shape(t.shape).c_str(),
           TypeString(t).c_str(), crumb::rt::LayoutName(t.layout), (unsigned long long)t.data_size,
           QuantString(t).c_str());
    if (t.spatial_mask) {
      const size_t hw = (size_t)(t.shape[2] * t.shape[3]);
      size_t masked = 0;
      for (size_t p = 0; p < hw; p++) masked += t.spatial_mask[p] == 0;
      printf("       spatial mask: %zu of %zu pixels masked (%.1f%%)\n", masked, hw,
             100.0 * (double)masked / (double)hw);
    }
  }
  printf("\nTotal weight bytes: %llu packed codes + %llu float (multipliers, biases) = %llu\n",
         (unsigned long long)weight_bytes, (unsigned long long)float_bytes,
         (unsigned long long)(weight_bytes + float_bytes));
  if (planned) printf("Arena bytes at batch 1: %zu\n", interp.ArenaBytes());
  return 0;
}
