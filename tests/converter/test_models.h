// One small network written in each ONNX form the converter accepts, for the golden tests:
//   x -> Q/DQ (8-bit) -> Conv 3x3 pad 1 (+bias) -> Relu -> Q[/Clip]/DQ (abits) -> GlobalAveragePool
//     -> Q/DQ -> Flatten -> Q/DQ -> Gemm(transB=1) -> Q/DQ (8-bit) -> y
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "converter/ir.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace testing {

enum class Form { kQcdq, kFolded, kNative };

struct ConvModelSpec {
  Form form = Form::kQcdq;
  int wbits = 2;
  int abits = 4;
  bool dynamic_batch = false;
  bool shape1_scales = false;  // PyTorch's per-tensor parameters of shape [1]
};

// Deterministic narrow signed codes in [-(2^(b-1)-1), 2^(b-1)-1], each row reaching both ends.
inline std::vector<int64_t> TestCodes(int64_t rows, int64_t k, int bits, int seed) {
  const int64_t m = (int64_t(1) << (bits - 1)) - 1;
  std::vector<int64_t> c(size_t(rows * k));
  uint32_t s = 12345u + uint32_t(seed);
  for (auto& v : c) {
    s = s * 1103515245u + 12345u;
    v = int64_t((s >> 16) % uint32_t(2 * m + 1)) - m;
  }
  for (int64_t r = 0; r < rows; r++) {
    c[size_t(r * k)] = m;
    c[size_t(r * k + 1)] = -m;
  }
  return c;
}

inline int NativeType(int bits, bool is_signed) {
  if (bits <= 2) return is_signed ? 26 : 25;
  if (bits <= 4) return is_signed ? 22 : 21;
  return is_signed ? 3 : 2;
}

class ConvModel {
 public:
  explicit ConvModel(const ConvModelSpec& spec)
      : spec_(spec),
        b_(spec.form != Form::kNative             ? 13
           : (spec.wbits <= 2 || spec.abits <= 2) ? 25
                                                  : 21) {}

  // Quantizes `v` with per-tensor (scale, zp) and a Clip to [0, 2^bits - 1] in the form's way.
  std::string Act(const std::string& prefix, const std::string& v, float scale, int64_t zp,
                  int bits) {
    const bool native = spec_.form == Form::kNative && bits < 8;
    const int zp_type = native ? NativeType(bits, false) : 2;
    const std::string s = prefix + "/scale", z = prefix + "/zp";
    const std::vector<int64_t> dims =
        spec_.shape1_scales ? std::vector<int64_t>{1} : std::vector<int64_t>{};
    b_.InitF(s, dims, {scale});
    b_.InitI(z, zp_type, dims, {zp});
    const std::string q = prefix + "/QuantizeLinear_output_0";
    b_.Node("QuantizeLinear", prefix + "/QuantizeLinear", {v, s, z}, {q});
    std::string in = q;
    if (!native && bits < 8) {
      b_.InitI(prefix + "/lo", 2, {}, {0});
      b_.InitI(prefix + "/hi", 2, {}, {(int64_t(1) << bits) - 1});
      in = prefix + "/Clip_output_0";
      b_.Node("Clip", prefix + "/Clip", {q, prefix + "/lo", prefix + "/hi"}, {in});
    }
    const std::string dq = prefix + "/DequantizeLinear_output_0";
    b_.Node("DequantizeLinear", prefix + "/DequantizeLinear", {in, s, z}, {dq});
    return dq;
  }

  // A per-output-channel (axis 0) weight in the form's way; returns the DequantizeLinear output.
  std::string Weight(const std::string& prefix, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& codes, const std::vector<float>& scales,
                     int bits) {
    const int64_t m = (int64_t(1) << (bits - 1)) - 1;
    const std::string s = prefix + "/scale", z = prefix + "/zp";
    b_.InitF(s, {dims[0]}, scales);
    const std::string dq = prefix + "/DequantizeLinear_output_0";
    if (spec_.form == Form::kQcdq) {
      std::vector<float> w(codes.size());
      const size_t inner = codes.size() / size_t(dims[0]);
      for (size_t e = 0; e < codes.size(); e++) w[e] = float(codes[e]) * scales[e / inner];
      b_.InitF(prefix + "/weight", dims, w);
      b_.InitI(z, 3, {dims[0]}, std::vector<int64_t>(size_t(dims[0]), 0));
      auto* q = b_.Node("QuantizeLinear", prefix + "/QuantizeLinear", {prefix + "/weight", s, z},
                        {prefix + "/QuantizeLinear_output_0"});
      OnnxBuilder::AttrI(q, "axis", 0);
      std::string in = prefix + "/QuantizeLinear_output_0";
      if (bits < 8) {
        b_.InitI(prefix + "/lo", 3, {}, {-m});
        b_.InitI(prefix + "/hi", 3, {}, {m});
        b_.Node("Clip", prefix + "/Clip", {in, prefix + "/lo", prefix + "/hi"},
                {prefix + "/Clip_output_0"});
        in = prefix + "/Clip_output_0";
      }
      auto* d = b_.Node("DequantizeLinear", prefix + "/DequantizeLinear", {in, s, z}, {dq});
      OnnxBuilder::AttrI(d, "axis", 0);
    } else {
      const int type = spec_.form == Form::kNative ? NativeType(bits, true) : 3;
      b_.InitI(prefix + "/weight_quantized", type, dims, codes);
      b_.InitI(z, type, {dims[0]}, std::vector<int64_t>(size_t(dims[0]), 0));
      auto* d = b_.Node("DequantizeLinear", prefix + "/DequantizeLinear",
                        {prefix + "/weight_quantized", s, z}, {dq});
      OnnxBuilder::AttrI(d, "axis", 0);
    }
    return dq;
  }

  OnnxBuilder& Build() {
    const int wb = spec_.wbits, ab = spec_.abits;
    b_.Input("x", {spec_.dynamic_batch ? -1 : 1, 2, 5, 5});
    std::string x = Act("/in", "x", 0.05f, 128, 8);
    conv_codes = TestCodes(4, 18, wb, 1);
    std::vector<float> cs = {0.01f, 0.02f, 0.03f, 0.04f};
    std::string w = Weight("/conv/w", {4, 2, 3, 3}, conv_codes, cs, wb);
    b_.InitF("conv.bias", {4}, {0.1f, -0.2f, 0.3f, -0.05f});
    auto* conv = b_.Node("Conv", "/conv/Conv", {x, w, "conv.bias"}, {"/conv/Conv_output_0"});
    OnnxBuilder::AttrInts(conv, "kernel_shape", {3, 3});
    OnnxBuilder::AttrInts(conv, "pads", {1, 1, 1, 1});
    b_.Node("Relu", "/conv/Relu", {"/conv/Conv_output_0"}, {"/conv/Relu_output_0"});
    std::string a = Act("/act1", "/conv/Relu_output_0", 0.1f, 0, ab);
    b_.Node("GlobalAveragePool", "/gap", {a}, {"/gap_output_0"});
    a = Act("/act2", "/gap_output_0", 0.1f, 0, ab);
    auto* fl = b_.Node("Flatten", "/flatten", {a}, {"/flatten_output_0"});
    OnnxBuilder::AttrI(fl, "axis", 1);
    a = Act("/act3", "/flatten_output_0", 0.1f, 0, ab);
    fc_codes = TestCodes(3, 4, wb, 2);
    w = Weight("/fc/w", {3, 4}, fc_codes, {0.5f, 0.25f, 0.125f}, wb);
    b_.InitF("fc.bias", {3}, {0.5f, 0.f, -0.5f});
    auto* gemm = b_.Node("Gemm", "/fc/Gemm", {a, w, "fc.bias"}, {"/fc/Gemm_output_0"});
    OnnxBuilder::AttrI(gemm, "transB", 1);
    Act("/out", "/fc/Gemm_output_0", 0.2f, 100, 8);
    b_.graph()->mutable_node(b_.graph()->node_size() - 1)->set_output(0, "y");
    b_.Output("y");
    return b_;
  }

  std::vector<int64_t> conv_codes, fc_codes;
  // For tests that build their own graph with Act / Weight.
  OnnxBuilder& builder() { return b_; }

 private:
  ConvModelSpec spec_;
  OnnxBuilder b_;
};

// A converted model with its tensors and ops named by position, plus the packed bytes of every
// tensor: what two forms must share when they spell value and node names differently (the QONNX
// forms name their quantizers after the QONNX nodes).
inline std::string AnonymousModel(cv::CModel m) {
  for (size_t k = 0; k < m.tensors.size(); k++) m.tensors[k].name = "t" + std::to_string(k);
  for (size_t k = 0; k < m.ops.size(); k++) m.ops[k].name = "op" + std::to_string(k);
  std::string s = cv::DumpModel(m);
  for (const auto& t : m.tensors) s += std::string(t.bytes.begin(), t.bytes.end());
  return s;
}

}  // namespace testing
}  // namespace crumb
