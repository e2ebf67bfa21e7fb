// LowerQOperator: each QOperator node lowered to its QDQ twin (golden graphs), a small
// QOperator model converting to the same crumb model as the hand-built QDQ model, and the
// constructs it refuses, each named by node.
#include <gtest/gtest.h>

#include <functional>

#include "converter/converter.h"
#include "converter/onnx_import.h"
#include "converter/passes/passes.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"
#include "tests/converter/test_models.h"

namespace crumb {
namespace {

using cv::ConvertResult;
using cv::Diagnostics;
using cv::Graph;
using testing::AnonymousModel;
using testing::Convert;
using testing::Joined;
using testing::OnnxBuilder;
using testing::TestCodes;

constexpr int kU8 = 2, kI8 = 3, kI32 = 6;
constexpr const char* kMs = "com.microsoft";

// The graph after LowerQOperator (problems in *d).
Graph Lowered(OnnxBuilder& b, Diagnostics* d) {
  Graph g;
  cv::ImportModel(b.model(), &g, d);
  cv::ConstantsToInitializers(&g, d);
  cv::RemoveIdentity(&g, d);
  cv::LowerQonnx(&g, d);
  cv::LowerQOperator(&g, d);
  return g;
}

const cv::Node* FindNode(const Graph& g, const std::string& name) {
  static const cv::Node none;
  for (const auto& n : g.nodes)
    if (n.name == name) return &n;
  ADD_FAILURE() << "no node " << name;
  return &none;
}

// x (float) -> QuantizeLinear(0.05, 128) -> "xq"
void QuantizedInput(OnnxBuilder& b, std::vector<int64_t> dims) {
  b.Input("x", dims);
  b.InitF("xs", {}, {0.05f});
  b.InitI("xz", kU8, {}, {128});
  b.Node("QuantizeLinear", "qx", {"x", "xs", "xz"}, {"xq"});
}

// "v" -> DequantizeLinear(s, z) -> y (float output)
void DequantizedOutput(OnnxBuilder& b, const std::string& v, const std::string& s,
                       const std::string& z) {
  b.Node("DequantizeLinear", "dq_out", {v, s, z}, {"y"});
  b.Output("y");
}

// QLinearConv with per-channel weights and an int32 bias.
OnnxBuilder ConvQOp(int64_t weight_scales = 2, bool channels_last = false,
                    bool const_scale = true) {
  OnnxBuilder b;
  QuantizedInput(b, {1, 1, 3, 3});
  b.InitI("w", kI8, {2, 1, 1, 1}, {3, -2});
  std::vector<float> ws = {0.5f, 0.25f, 0.125f};
  ws.resize(size_t(weight_scales));
  b.InitF("ws", {weight_scales}, ws);
  b.InitI("wz", kI8, {weight_scales}, std::vector<int64_t>(size_t(weight_scales), 0));
  if (const_scale) {
    b.InitF("ys", {}, {0.1f});
  } else {
    b.Input("ys", {});
  }
  b.InitI("yz", kU8, {}, {10});
  b.InitI("bias", kI32, {2}, {40, -8});
  auto* c = b.Node("QLinearConv", "conv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"},
                   {"yq"}, channels_last ? kMs : "");
  OnnxBuilder::AttrInts(c, "kernel_shape", {1, 1});
  if (channels_last) OnnxBuilder::AttrI(c, "channels_last", 1);
  DequantizedOutput(b, "yq", "ys", "yz");
  return b;
}

TEST(LowerQOperator, QLinearConvBecomesDequantizeConvQuantize) {
  OnnxBuilder b = ConvQOp();
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,1,3,3]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "DequantizeLinear 'conv/weight/DequantizeLinear' (w, ws, wz) -> (conv/weight)\n"
            "Conv 'conv' (xq/dequantized, conv/weight, conv/bias) -> "
            "(yq/float)\n"
            "QuantizeLinear 'conv/QuantizeLinear' (yq/float, ys, yz) -> (yq)\n"
            "DequantizeLinear 'dq_out' (yq, ys, yz) -> (y)\n"
            "output y\n");
  // DumpGraph leaves attributes out: the weight is per output channel, the Conv keeps its own.
  EXPECT_EQ(FindNode(g, "conv/weight/DequantizeLinear")->AttrInt("axis", -1), 0);
  EXPECT_EQ(FindNode(g, "conv")->AttrInts("kernel_shape"), (std::vector<int64_t>{1, 1}));
  // The int32 bias in floats: codes times x_scale * w_scale[c].
  const cv::Const* bias = g.FindConst("conv/bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->f, (std::vector<float>{40 * (0.05f * 0.5f), -8 * (0.05f * 0.25f)}));
  // The rest of the pipeline takes it.
  EXPECT_TRUE(Convert(b).ok) << Joined(Convert(b).problems);
}

TEST(LowerQOperator, QLinearMatMulWeightIsPerColumn) {
  OnnxBuilder b;
  QuantizedInput(b, {1, 3});
  b.InitI("w", kI8, {3, 2}, {1, -1, 2, 0, -3, 1});
  b.InitF("ws", {2}, {0.5f, 0.25f});
  b.InitI("wz", kI8, {2}, {0, 0});
  b.InitF("ys", {}, {0.1f});
  b.InitI("yz", kU8, {}, {128});
  b.Node("QLinearMatMul", "mm", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"yq"});
  DequantizedOutput(b, "yq", "ys", "yz");
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,3]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "DequantizeLinear 'mm/weight/DequantizeLinear' (w, ws, wz) -> (mm/weight)\n"
            "MatMul 'mm' (xq/dequantized, mm/weight) -> (yq/float)\n"
            "QuantizeLinear 'mm/QuantizeLinear' (yq/float, ys, yz) -> (yq)\n"
            "DequantizeLinear 'dq_out' (yq, ys, yz) -> (y)\n"
            "output y\n");
  // A [K, N] weight's per-column parameters run along axis 1.
  EXPECT_EQ(FindNode(g, "mm/weight/DequantizeLinear")->AttrInt("axis", -1), 1);
  EXPECT_TRUE(Convert(b).ok) << Joined(Convert(b).problems);
}

// QGemm without y_scale writes floats: the Gemm writes the output itself; C carries alpha.
TEST(LowerQOperator, QGemmFloatOutputAndBiasWithAlpha) {
  OnnxBuilder b;
  QuantizedInput(b, {1, 3});
  b.InitI("w", kI8, {2, 3}, {1, -1, 2, 0, -3, 1});
  b.InitF("ws", {}, {0.5f});
  b.InitI("wz", kI8, {}, {0});
  b.InitI("c", kI32, {2}, {4, -6});
  auto* n = b.Node("QGemm", "fc", {"xq", "xs", "xz", "w", "ws", "wz", "c"}, {"y"}, kMs);
  OnnxBuilder::AttrI(n, "transB", 1);
  OnnxBuilder::AttrF(n, "alpha", 2.0f);
  b.Output("y");
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,3]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "DequantizeLinear 'fc/weight/DequantizeLinear' (w, ws, wz) -> (fc/weight)\n"
            "Gemm 'fc' (xq/dequantized, fc/weight, fc/bias) -> (y)\n"
            "output y\n");
  const cv::Node* gemm = FindNode(g, "fc");
  EXPECT_EQ(gemm->AttrFloat("alpha", 0), 2.0f);
  EXPECT_EQ(gemm->AttrInt("transB", 0), 1);
  // Per-tensor weight parameters: no axis.
  EXPECT_FALSE(FindNode(g, "fc/weight/DequantizeLinear")->HasAttr("axis"));
  EXPECT_EQ(g.FindConst("fc/bias")->f,
            (std::vector<float>{4 * (2.0f * 0.05f * 0.5f), -6 * (2.0f * 0.05f * 0.5f)}));
  EXPECT_TRUE(Convert(b).ok) << Joined(Convert(b).problems);
}

// com.microsoft MatMulNBits: x [2, 20] (float) by 4-bit weights N 2, K 20 in blocks of 16 (the
// second block padded), packed LSB first; zero points packed per row.
OnnxBuilder MatMulNBitsModel(bool bias = true) {
  OnnxBuilder b;
  b.Input("x", {2, 20});
  // Row 0: codes k % 16 in both blocks; row 1: 15 - k % 16. Two codes per byte, low nibble first.
  std::vector<int64_t> packed;
  for (int r = 0; r < 2; r++)
    for (int blk = 0; blk < 2; blk++)
      for (int j = 0; j < 16; j += 2) {
        const int c0 = r == 0 ? j : 15 - j, c1 = r == 0 ? j + 1 : 14 - j;
        packed.push_back(c0 | c1 << 4);
      }
  b.InitI("B", kU8, {2, 2, 8}, packed);
  b.InitF("scales", {4}, {0.5f, 0.25f, 2.0f, 1.0f});
  b.InitI("zp", kU8, {2}, {3 | 5 << 4, 8});  // row 0: 3, 5; row 1: 8, 0
  std::vector<std::string> in = {"x", "B", "scales", "zp"};
  if (bias) {
    b.InitF("bias", {2}, {1.5f, -2.0f});
    in.push_back("");
    in.push_back("bias");
  }
  auto* n = b.Node("MatMulNBits", "mm", in, {"y"}, kMs);
  OnnxBuilder::AttrI(n, "K", 20);
  OnnxBuilder::AttrI(n, "N", 2);
  OnnxBuilder::AttrI(n, "bits", 4);
  OnnxBuilder::AttrI(n, "block_size", 16);
  b.Output("y");
  return b;
}

// The weights dequantized into a float initializer [K, N] that a MatMul reads (a float layer),
// the bias an Add.
TEST(LowerQOperator, MatMulNBitsBecomesAFloatMatMul) {
  OnnxBuilder b = MatMulNBitsModel();
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [2,20]\n"
            "MatMul 'mm/MatMul' (x, mm/weight) -> (y/matmul)\n"
            "Add 'mm/Add' (y/matmul, bias) -> (y)\n"
            "output y\n");
  const cv::Const* w = g.FindConst("mm/weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dims, (std::vector<int64_t>{20, 2}));
  for (int k = 0; k < 20; k++) {
    const int blk = k / 16, j = k % 16;
    const float w0 = float(j - (blk ? 5 : 3)) * (blk ? 0.25f : 0.5f);
    const float w1 = float(15 - j - (blk ? 0 : 8)) * (blk ? 1.0f : 2.0f);
    EXPECT_EQ(w->f[size_t(k * 2)], w0) << k;
    EXPECT_EQ(w->f[size_t(k * 2 + 1)], w1) << k;
  }
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
}

// QLinearAdd of two branches, QLinearConcat, QLinearAveragePool, QLinearGlobalAveragePool and a
// MaxPool of integer codes, one DequantizeLinear per integer tensor.
TEST(LowerQOperator, AddConcatPoolsAndIntegerMaxPool) {
  OnnxBuilder b;
  QuantizedInput(b, {1, 2, 4, 4});
  b.InitF("s1", {}, {0.1f});
  b.InitI("z1", kU8, {}, {0});
  b.Node("QLinearAdd", "add", {"xq", "xs", "xz", "xq", "xs", "xz", "s1", "z1"}, {"a"}, kMs);
  auto* mp = b.Node("MaxPool", "mp", {"a"}, {"m"});
  OnnxBuilder::AttrInts(mp, "kernel_shape", {2, 2});
  OnnxBuilder::AttrInts(mp, "strides", {2, 2});
  auto* cat =
      b.Node("QLinearConcat", "cat", {"s1", "z1", "m", "s1", "z1", "m", "s1", "z1"}, {"c"}, kMs);
  OnnxBuilder::AttrI(cat, "axis", 1);
  auto* ap = b.Node("QLinearAveragePool", "ap", {"c", "s1", "z1", "s1", "z1"}, {"p"}, kMs);
  OnnxBuilder::AttrInts(ap, "kernel_shape", {2, 2});
  OnnxBuilder::AttrI(ap, "channels_last", 0);
  b.Node("QLinearGlobalAveragePool", "gap", {"p", "s1", "z1", "s1", "z1"}, {"q"}, kMs);
  DequantizedOutput(b, "q", "s1", "z1");
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,2,4,4]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "Add 'add' (xq/dequantized, xq/dequantized) -> (a/float)\n"
            "QuantizeLinear 'add/QuantizeLinear' (a/float, s1, z1) -> (a)\n"
            "DequantizeLinear 'a/DequantizeLinear' (a, s1, z1) -> (a/dequantized)\n"
            "MaxPool 'mp' (a/dequantized) -> (m/float)\n"
            "QuantizeLinear 'mp/QuantizeLinear' (m/float, s1, z1) -> (m)\n"
            "DequantizeLinear 'm/DequantizeLinear' (m, s1, z1) -> (m/dequantized)\n"
            "Concat 'cat' (m/dequantized, m/dequantized) -> (c/float)\n"
            "QuantizeLinear 'cat/QuantizeLinear' (c/float, s1, z1) -> (c)\n"
            "DequantizeLinear 'c/DequantizeLinear' (c, s1, z1) -> (c/dequantized)\n"
            "AveragePool 'ap' (c/dequantized) -> (p/float)\n"
            "QuantizeLinear 'ap/QuantizeLinear' (p/float, s1, z1) -> (p)\n"
            "DequantizeLinear 'p/DequantizeLinear' (p, s1, z1) -> (p/dequantized)\n"
            "GlobalAveragePool 'gap' (p/dequantized) -> (q/float)\n"
            "QuantizeLinear 'gap/QuantizeLinear' (q/float, s1, z1) -> (q)\n"
            "DequantizeLinear 'dq_out' (q, s1, z1) -> (y)\n"
            "output y\n");
  EXPECT_EQ(FindNode(g, "mp")->AttrInts("strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(FindNode(g, "cat")->AttrInt("axis", 0), 1);
  EXPECT_FALSE(FindNode(g, "ap")->HasAttr("channels_last"));
  EXPECT_EQ(FindNode(g, "ap")->AttrInts("kernel_shape"), (std::vector<int64_t>{2, 2}));
}

// What ONNX Runtime's optimizer leaves on uint8 codes in a detector and an encoder: Split and
// Pad (a constant_value code) between QOperator nodes, QLinearMatMul of two activations,
// com.microsoft QLinearSoftmax.
TEST(LowerQOperator, SplitPadAttentionAndSoftmax) {
  OnnxBuilder b(13);
  QuantizedInput(b, {1, 4, 4});
  b.InitI("sizes", 7, {2}, {2, 2});
  auto* sp = b.Node("Split", "sp", {"xq", "sizes"}, {"a", "c"});
  OnnxBuilder::AttrI(sp, "axis", 1);
  b.InitI("pads", 7, {6}, {0, 0, 0, 0, 2, 0});  // c [1, 2, 4] -> [1, 4, 4]: a x cp is [1, 2, 4]
  b.InitI("pv", kU8, {}, {128});
  b.Node("Pad", "pd", {"c", "pads", "pv"}, {"cp"});
  b.InitF("s1", {}, {0.1f});
  b.InitI("z1", kU8, {}, {0});
  b.Node("QLinearMatMul", "mm", {"a", "xs", "xz", "cp", "xs", "xz", "s1", "z1"}, {"m"});
  b.InitF("s2", {}, {1.f / 256.f});
  auto* sm = b.Node("QLinearSoftmax", "sm", {"m", "s1", "z1", "s2", "z1"}, {"p"}, kMs);
  OnnxBuilder::AttrI(sm, "axis", -1);
  OnnxBuilder::AttrI(sm, "opset", 13);
  DequantizedOutput(b, "p", "s2", "z1");
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,4,4]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "Split 'sp' (xq/dequantized, sizes) -> (a/float, c/float)\n"
            "QuantizeLinear 'sp/QuantizeLinear_0' (a/float, xs, xz) -> (a)\n"
            "QuantizeLinear 'sp/QuantizeLinear_1' (c/float, xs, xz) -> (c)\n"
            "DequantizeLinear 'c/DequantizeLinear' (c, xs, xz) -> (c/dequantized)\n"
            "Pad 'pd' (c/dequantized, pads, pv/real) -> (cp/float)\n"
            "QuantizeLinear 'pd/QuantizeLinear' (cp/float, xs, xz) -> (cp)\n"
            "DequantizeLinear 'a/DequantizeLinear' (a, xs, xz) -> (a/dequantized)\n"
            "DequantizeLinear 'cp/DequantizeLinear' (cp, xs, xz) -> (cp/dequantized)\n"
            "MatMul 'mm' (a/dequantized, cp/dequantized) -> (m/float)\n"
            "QuantizeLinear 'mm/QuantizeLinear' (m/float, s1, z1) -> (m)\n"
            "DequantizeLinear 'm/DequantizeLinear' (m, s1, z1) -> (m/dequantized)\n"
            "Softmax 'sm' (m/dequantized) -> (p/float)\n"
            "QuantizeLinear 'sm/QuantizeLinear' (p/float, s2, z1) -> (p)\n"
            "DequantizeLinear 'dq_out' (p, s2, z1) -> (y)\n"
            "output y\n");
  // The pad code 128 is x's zero point: 0 on floats.
  ASSERT_EQ(g.initializers.count("pv/real"), 1u);
  EXPECT_EQ(g.initializers.at("pv/real").f, (std::vector<float>{0.f}));
  EXPECT_EQ(FindNode(g, "sm")->AttrInt("axis", 0), -1);
  EXPECT_FALSE(FindNode(g, "sm")->HasAttr("opset"));
}

// ONNX Runtime gives each reader of a quantized tensor its own DequantizeLinear copy; they
// become one, so that SiLU's x * Sigmoid(x) reads one value and becomes one code table.
TEST(MergeDequantize, CopiesOfOneDequantizeBecomeOne) {
  OnnxBuilder b(13);
  QuantizedInput(b, {1, 2, 3, 3});
  b.Node("DequantizeLinear", "dq", {"xq", "xs", "xz"}, {"xd"});
  b.Node("DequantizeLinear", "dq/duplicated", {"xq", "xs", "xz"}, {"xd2"});
  b.Node("Sigmoid", "sig", {"xd"}, {"s"});
  b.Node("Mul", "mul", {"xd2", "s"}, {"m"});
  b.Node("QuantizeLinear", "qm", {"m", "xs", "xz"}, {"mq"});
  DequantizedOutput(b, "mq", "xs", "xz");
  Diagnostics d;
  Graph g = Lowered(b, &d);
  cv::MergeDequantize(&g, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,2,3,3]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'dq' (xq, xs, xz) -> (xd)\n"
            "Sigmoid 'sig' (xd) -> (s)\n"
            "Mul 'mul' (xd, s) -> (m)\n"
            "QuantizeLinear 'qm' (m, xs, xz) -> (mq)\n"
            "DequantizeLinear 'dq_out' (mq, xs, xz) -> (y)\n"
            "output y\n");
  // The whole model converts: the SiLU is one table.
  ConvertResult r = Convert(b);
  EXPECT_TRUE(r.ok) << Joined(r.problems);
}

// ConvInteger -> Cast -> Mul(c): the weight's scale is c / x_scale when that is exact.
OnnxBuilder ConvIntegerModel(float c) {
  OnnxBuilder b;
  QuantizedInput(b, {1, 1, 3, 3});
  b.InitI("w", kI8, {2, 1, 1, 1}, {3, -2});
  b.InitI("wz", kI8, {}, {0});
  b.Node("ConvInteger", "ci", {"xq", "w", "xz", "wz"}, {"acc"});
  auto* cast = b.Node("Cast", "cast", {"acc"}, {"accf"});
  OnnxBuilder::AttrI(cast, "to", 1);
  b.InitF("c", {}, {c});
  b.Node("Mul", "mul", {"accf", "c"}, {"y"});
  b.Output("y");
  return b;
}

TEST(LowerQOperator, ConvIntegerCastMulIsExactDequantize) {
  OnnxBuilder b = ConvIntegerModel(0.025f);  // 0.05 * 0.5
  Diagnostics d;
  Graph g = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,1,3,3]\n"
            "QuantizeLinear 'qx' (x, xs, xz) -> (xq)\n"
            "DequantizeLinear 'xq/DequantizeLinear' (xq, xs, xz) -> (xq/dequantized)\n"
            "DequantizeLinear 'ci/weight/DequantizeLinear' (w, ci/weight_scale, wz) -> "
            "(ci/weight)\n"
            "Conv 'ci' (xq/dequantized, ci/weight) -> (y)\n"
            "output y\n");
  const float ws = g.FindConst("ci/weight_scale")->f[0];
  EXPECT_EQ(ws * 0.05f, 0.025f);
}

// The hand-built QDQ model and its QOperator twin (ORT's spelling: Clip on the codes of
// narrower activations, QGemm, QLinearGlobalAveragePool) give the same crumb model up to names.
//   x -> Q(0.05, 128) -> Conv 3x3 pad 1 (+int32 bias) -> Q(0.1, 0) -> Clip(0, 15)
//     -> GlobalAveragePool -> Q(0.1, 0) -> Clip -> Flatten -> Gemm(transB) (+int32 bias)
//     -> Q(0.2, 100) -> DQ -> y
struct TwinSpec {
  bool qoperator = false;
  bool shape1_scales = false;
};

OnnxBuilder TwinModel(const TwinSpec& t) {
  OnnxBuilder b;
  const std::vector<int64_t> sd =
      t.shape1_scales ? std::vector<int64_t>{1} : std::vector<int64_t>{};
  b.Input("x", {1, 2, 5, 5});
  b.InitF("in.s", sd, {0.05f});
  b.InitI("in.z", kU8, sd, {128});
  b.InitF("a.s", sd, {0.1f});
  b.InitI("a.z", kU8, sd, {0});
  b.InitF("out.s", sd, {0.2f});
  b.InitI("out.z", kU8, sd, {100});
  b.InitI("lo", kU8, {}, {0});
  b.InitI("hi", kU8, {}, {15});
  const std::vector<float> cs = {0.01f, 0.02f, 0.03f, 0.04f};
  b.InitI("conv.w", kI8, {4, 2, 3, 3}, TestCodes(4, 18, 2, 1));
  b.InitF("conv.ws", {4}, cs);
  b.InitI("conv.wz", kI8, {4}, {0, 0, 0, 0});
  b.InitI("conv.b", kI32, {4}, {200, -200, 200, -25});
  b.InitI("fc.w", kI8, {3, 4}, TestCodes(3, 4, 2, 2));
  b.InitF("fc.ws", {3}, {0.5f, 0.25f, 0.125f});
  b.InitI("fc.wz", kI8, {3}, {0, 0, 0});
  b.InitI("fc.b", kI32, {3}, {10, 0, -40});
  b.Node("QuantizeLinear", "/in/QuantizeLinear", {"x", "in.s", "in.z"}, {"xq"});
  auto conv_attrs = [](onnx::NodeProto* n) {
    OnnxBuilder::AttrInts(n, "kernel_shape", {3, 3});
    OnnxBuilder::AttrInts(n, "pads", {1, 1, 1, 1});
  };
  if (t.qoperator) {
    conv_attrs(b.Node(
        "QLinearConv", "/conv/Conv",
        {"xq", "in.s", "in.z", "conv.w", "conv.ws", "conv.wz", "a.s", "a.z", "conv.b"}, {"c.q"}));
    b.Node("Clip", "/act1/Clip", {"c.q", "lo", "hi"}, {"c.c"});
    b.Node("QLinearGlobalAveragePool", "/gap", {"c.c", "a.s", "a.z", "a.s", "a.z"}, {"g.q"}, kMs);
    b.Node("Clip", "/act2/Clip", {"g.q", "lo", "hi"}, {"g.c"});
    OnnxBuilder::AttrI(b.Node("Flatten", "/flatten", {"g.c"}, {"f.q"}), "axis", 1);
    b.Node("Clip", "/act3/Clip", {"f.q", "lo", "hi"}, {"f.c"});
    OnnxBuilder::AttrI(
        b.Node("QGemm", "/fc/Gemm",
               {"f.c", "a.s", "a.z", "fc.w", "fc.ws", "fc.wz", "fc.b", "out.s", "out.z"}, {"o.q"},
               kMs),
        "transB", 1);
  } else {
    // The QDQ spelling: every integer tensor dequantized, the int32 biases as DequantizeLinear
    // with scale x_scale * w_scale (what ORT's quantizer writes in QDQ form).
    auto dq = [&](const std::string& v, const std::string& s, const std::string& z,
                  const std::string& out, int axis = -1) {
      auto* n = b.Node("DequantizeLinear", out + "/DequantizeLinear", {v, s, z}, {out});
      if (axis >= 0) OnnxBuilder::AttrI(n, "axis", axis);
    };
    auto bias_scale = [](float xs, const std::vector<float>& ws) {
      std::vector<float> r;
      for (float w : ws) r.push_back(xs * w);
      return r;
    };
    b.InitF("conv.bs", {4}, bias_scale(0.05f, cs));
    b.InitF("fc.bs", {3}, bias_scale(0.1f, {0.5f, 0.25f, 0.125f}));
    dq("xq", "in.s", "in.z", "xf");
    dq("conv.w", "conv.ws", "conv.wz", "conv.wf", 0);
    dq("conv.b", "conv.bs", "", "conv.bf", 0);
    conv_attrs(b.Node("Conv", "/conv/Conv", {"xf", "conv.wf", "conv.bf"}, {"c.f"}));
    b.Node("QuantizeLinear", "/act1/QuantizeLinear", {"c.f", "a.s", "a.z"}, {"c.q"});
    b.Node("Clip", "/act1/Clip", {"c.q", "lo", "hi"}, {"c.c"});
    dq("c.c", "a.s", "a.z", "c.d");
    b.Node("GlobalAveragePool", "/gap", {"c.d"}, {"g.f"});
    b.Node("QuantizeLinear", "/act2/QuantizeLinear", {"g.f", "a.s", "a.z"}, {"g.q"});
    b.Node("Clip", "/act2/Clip", {"g.q", "lo", "hi"}, {"g.c"});
    dq("g.c", "a.s", "a.z", "g.d");
    OnnxBuilder::AttrI(b.Node("Flatten", "/flatten", {"g.d"}, {"f.f"}), "axis", 1);
    b.Node("QuantizeLinear", "/act3/QuantizeLinear", {"f.f", "a.s", "a.z"}, {"f.q"});
    b.Node("Clip", "/act3/Clip", {"f.q", "lo", "hi"}, {"f.c"});
    dq("f.c", "a.s", "a.z", "f.d");
    dq("fc.w", "fc.ws", "fc.wz", "fc.wf", 0);
    dq("fc.b", "fc.bs", "", "fc.bf", 0);
    OnnxBuilder::AttrI(b.Node("Gemm", "/fc/Gemm", {"f.d", "fc.wf", "fc.bf"}, {"o.f"}), "transB", 1);
    b.Node("QuantizeLinear", "/out/QuantizeLinear", {"o.f", "out.s", "out.z"}, {"o.q"});
  }
  b.Node("DequantizeLinear", "/out/DequantizeLinear", {"o.q", "out.s", "out.z"}, {"y"});
  b.Output("y");
  return b;
}

TEST(LowerQOperator, QOperatorModelConvertsToTheQdqModel) {
  for (bool shape1 : {false, true}) {
    OnnxBuilder qdq = TwinModel({false, shape1});
    OnnxBuilder qop = TwinModel({true, shape1});
    ConvertResult a = Convert(qdq), b = Convert(qop);
    ASSERT_TRUE(a.ok) << Joined(a.problems);
    ASSERT_TRUE(b.ok) << Joined(b.problems);
    EXPECT_EQ(AnonymousModel(a.model), AnonymousModel(b.model)) << "shape [1] scales: " << shape1;
    // Activation tensors and ops keep the graph's names in both.
    EXPECT_EQ(a.model.ops.size(), b.model.ops.size());
    for (size_t k = 0; k < a.model.ops.size() && k < b.model.ops.size(); k++)
      EXPECT_EQ(a.model.ops[k].name, b.model.ops[k].name);
  }
}

TEST(LowerQOperator, QdqModelsAreLeftAlone) {
  OnnxBuilder b = TwinModel({false, false});
  Diagnostics d;
  Graph before;
  cv::ImportModel(b.model(), &before, &d);
  Graph after = Lowered(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(after), cv::DumpGraph(before));
}

// ---------------------------------------------------------------- refused, naming the node

struct BadRow {
  const char* what;
  std::function<OnnxBuilder()> build;
  const char* expect;
  bool alone = true;  // the only problem (not also listed by CheckSupported)
};

TEST(LowerQOperator, RefusedConstructsNameTheNode) {
  const BadRow rows[] = {
      {"non-constant scale", [] { return ConvQOp(2, false, false); },
       "node 'conv' (op QLinearConv): its output scale 'ys' must be a constant initializer",
       false},  // the final DequantizeLinear reads it too
      {"channels_last=1", [] { return ConvQOp(2, true); },
       "node 'conv' (op com.microsoft.QLinearConv): channels_last=1 (NHWC) is not supported"},
      {"per-channel count", [] { return ConvQOp(3); },
       "node 'conv' (op QLinearConv): its weight scale 'ws' has 3 values for 2 output channels",
       false},  // and so has the zero point
      {"requantizing input",
       [] {
         OnnxBuilder b = ConvQOp();
         b.InitF("xs2", {}, {0.07f});
         b.graph()->mutable_node(1)->set_input(1, "xs2");
         return b;
       },
       "node 'conv' (op QLinearConv): it reads 'xq' with scale 0.0700000003 and zero point 128, "
       "but that tensor was quantized with scale 0.0500000007"},
      {"float input",
       [] {
         OnnxBuilder b = ConvQOp();
         b.graph()->mutable_node(1)->set_input(0, "x");
         return b;
       },
       "node 'conv' (op QLinearConv): its input 'x' is not an integer tensor with known "
       "parameters"},
      {"ConvInteger without Cast + Mul",
       [] {
         OnnxBuilder b = ConvIntegerModel(0.025f);
         b.graph()->mutable_node(2)->set_op_type("Relu");
         return b;
       },
       "node 'ci' (op ConvInteger): its INT32 output must be read only by a Cast to FLOAT",
       false},  // the Mul, now of a Relu, is unsupported on its own account
      {"ConvInteger inexact scale", [] { return ConvIntegerModel(0.013f); },
       "applied to the output of 'ci' is not exactly its input scale"},
      {"FusedConv LeakyRelu",
       [] {
         OnnxBuilder b;
         b.Input("x", {1, 1, 2, 2});
         b.InitF("w", {1, 1, 1, 1}, {1.0f});
         OnnxBuilder::AttrS(b.Node("FusedConv", "fc", {"x", "w"}, {"y"}, kMs), "activation",
                            "LeakyRelu");
         b.Output("y");
         return b;
       },
       "node 'fc' (op com.microsoft.FusedConv): activation 'LeakyRelu' is not supported"},
      {"MatMulNBits with g_idx",
       [] {
         OnnxBuilder b = MatMulNBitsModel(false);
         b.InitI("g_idx", 6, {20}, std::vector<int64_t>(20, 0));
         b.graph()->mutable_node(0)->add_input("g_idx");  // input 4
         return b;
       },
       "node 'mm' (op com.microsoft.MatMulNBits): has a g_idx input (act-order quantization), "
       "which is not supported"},
      {"MatMulNBits with float zero points",
       [] {
         OnnxBuilder b = MatMulNBitsModel(false);
         b.InitF("zpf", {4}, {8.f, 8.f, 8.f, 8.f});
         b.graph()->mutable_node(0)->set_input(3, "zpf");
         return b;
       },
       "its zero points 'zpf' must be 2 UINT8 values (packed codes per row); float zero points "
       "are not supported"},
      {"MatMulNBits with 1-bit codes",
       [] {
         OnnxBuilder b = MatMulNBitsModel(false);
         b.graph()->mutable_node(0)->mutable_attribute(2)->set_i(1);
         return b;
       },
       "node 'mm' (op com.microsoft.MatMulNBits): has bits 1; 2 to 8 are supported"},
      {"MatMulNBits with a short weight",
       [] {
         OnnxBuilder b = MatMulNBitsModel(false);
         b.graph()->mutable_node(0)->mutable_attribute(0)->set_i(40);
         return b;
       },
       "its quantized weight 'B' must be a UINT8 initializer of 2 x 3 x 8 bytes"},
      {"QLinearSoftmax with Softmax-1 semantics on axis 1 in an opset-13 graph",
       [] {
         OnnxBuilder b(13);
         QuantizedInput(b, {2, 3, 4});
         auto* sm = b.Node("QLinearSoftmax", "sm", {"xq", "xs", "xz", "xs", "xz"}, {"p"}, kMs);
         OnnxBuilder::AttrI(sm, "axis", 1);
         OnnxBuilder::AttrI(sm, "opset", 11);
         DequantizedOutput(b, "p", "xs", "xz");
         return b;
       },
       "node 'sm' (op com.microsoft.QLinearSoftmax): its axis 1 follows Softmax-11 semantics"},
  };
  for (const auto& row : rows) {
    OnnxBuilder b = row.build();
    ConvertResult r = Convert(b);
    ASSERT_FALSE(r.ok) << row.what;
    const std::string all = Joined(r.problems);
    EXPECT_NE(all.find(row.expect), std::string::npos) << row.what << ":\n" << all;
    // Reported once, not again by CheckSupported as an unsupported op.
    if (row.alone) {
      EXPECT_EQ(r.problems.size(), 1u) << row.what << ":\n" << all;
    }
  }
}

}  // namespace
}  // namespace crumb
