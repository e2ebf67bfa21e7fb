// Transformer layers through the converter: Softmax (with its exp table), LayerNormalization,
// MatMul of two activations, Transpose, and the two folds torch.onnx.export needs for nn.Linear on
// rank-3 inputs (Transpose of the weight, bias Add).
#include <gtest/gtest.h>

#include <cmath>

#include "converter/converter.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace {

using cv::ConvertModel;
using cv::ConvertResult;
using testing::Convert;
using testing::FindOp;
using testing::Joined;
using testing::OnnxBuilder;

// x [1, 4, 8] -> Q/DQ (scale 0.05) -> ...
void QuantIn(OnnxBuilder& b, const std::string& x, const std::string& name, float scale) {
  b.InitF(name + "/s", {}, {scale});
  b.InitI(name + "/z", 2, {}, {128});
  b.Node("QuantizeLinear", name + "/q", {x, name + "/s", name + "/z"}, {name + "/xq"});
  b.Node("DequantizeLinear", name + "/dq", {name + "/xq", name + "/s", name + "/z"}, {name});
}

TEST(LowerToCrumb, SoftmaxLayerNormTranspose) {
  OnnxBuilder b(17);
  b.Input("x", {1, 4, 8});
  QuantIn(b, "x", "xd", 0.05f);
  b.Node("Softmax", "softmax", {"xd"}, {"p"});
  QuantIn(b, "p", "pd", 1.f / 255);
  b.InitF("gamma", {8}, {1, 2, 3, 4, 5, 6, 7, 8});
  b.InitF("beta", {8}, {0, 0, 0, 0, 1, 1, 1, 1});
  auto* ln = b.Node("LayerNormalization", "ln", {"pd", "gamma", "beta"}, {"l"});
  OnnxBuilder::AttrF(ln, "epsilon", 1e-3f);
  QuantIn(b, "l", "ld", 0.1f);
  auto* t = b.Node("Transpose", "tr", {"ld"}, {"t"});
  OnnxBuilder::AttrInts(t, "perm", {0, 2, 1});
  QuantIn(b, "t", "y", 0.1f);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* sm = FindOp(r.model, "softmax");
  ASSERT_NE(sm, nullptr);
  EXPECT_EQ(sm->opcode, cv::OpCode::kSoftmax);
  EXPECT_EQ(sm->axis, 2);
  ASSERT_EQ(sm->inputs.size(), 2u);
  const cv::CTensor& table = r.model.tensors[size_t(sm->inputs[1])];
  ASSERT_EQ(table.fdata.size(), 256u);
  for (int d = 0; d < 256; d++) EXPECT_EQ(table.fdata[size_t(d)], std::exp(float(-d) * 0.05f)) << d;
  const cv::COp* l = FindOp(r.model, "ln");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->opcode, cv::OpCode::kLayerNorm);
  EXPECT_EQ(l->epsilon, 1e-3f);
  ASSERT_EQ(l->inputs.size(), 3u);
  EXPECT_EQ(r.model.tensors[size_t(l->inputs[1])].fdata,
            (std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}));
  const cv::COp* tr = FindOp(r.model, "tr");
  ASSERT_NE(tr, nullptr);
  EXPECT_EQ(tr->opcode, cv::OpCode::kTranspose);
  EXPECT_EQ(tr->perm, (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(r.model.tensors[size_t(tr->outputs[0])].shape, (std::vector<int64_t>{1, 8, 4}));
}

// q [1, 2, 4, 8] x k^T [1, 2, 8, 4]: BATCH_MATMUL with sa * sb / s_out.
TEST(LowerToCrumb, MatMulOfTwoActivations) {
  OnnxBuilder b(17);
  b.Input("q", {1, 2, 4, 8});
  b.Input("k", {1, 2, 4, 8});
  QuantIn(b, "q", "qd", 0.05f);
  QuantIn(b, "k", "kd", 0.04f);
  auto* t = b.Node("Transpose", "kt", {"kd"}, {"ktd"});
  OnnxBuilder::AttrInts(t, "perm", {0, 1, 3, 2});
  b.Node("MatMul", "scores", {"qd", "ktd"}, {"s"});
  QuantIn(b, "s", "y", 0.3f);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* mm = FindOp(r.model, "scores");
  ASSERT_NE(mm, nullptr);
  EXPECT_EQ(mm->opcode, cv::OpCode::kBatchMatMul);
  EXPECT_EQ(mm->multiplier, float(double(0.05f) * double(0.04f) / double(0.3f)));
  EXPECT_EQ(r.model.tensors[size_t(mm->outputs[0])].shape, (std::vector<int64_t>{1, 2, 4, 4}));
}

// nn.Linear on [1, 4, 8] as torch exports it: MatMul(x, Transpose(DQ(W))) + Add(bias).
TEST(LowerToCrumb, LinearOnRank3FoldsTheTransposeAndTheBias) {
  OnnxBuilder b(13);
  b.Input("x", {1, 4, 8});
  QuantIn(b, "x", "xd", 0.05f);
  std::vector<int64_t> codes(3 * 8);
  for (size_t i = 0; i < codes.size(); i++) codes[i] = int64_t(i % 15) - 7;
  b.InitI("w", 3, {3, 8}, codes);  // int8 [N, K]
  b.InitF("ws", {3}, {0.1f, 0.2f, 0.3f});
  b.InitI("wz", 3, {3}, {0, 0, 0});
  auto* dq = b.Node("DequantizeLinear", "wdq", {"w", "ws", "wz"}, {"wd"});
  OnnxBuilder::AttrI(dq, "axis", 0);
  b.Node("Transpose", "wt", {"wd"}, {"wt"});
  b.Node("MatMul", "fc", {"xd", "wt"}, {"m"});
  b.InitF("bias", {3}, {1.f, -2.f, 0.5f});
  b.Node("Add", "fc_bias", {"m", "bias"}, {"a"});
  QuantIn(b, "a", "y", 0.2f);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* fc = FindOp(r.model, "fc");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->opcode, cv::OpCode::kFullyConnected);
  ASSERT_EQ(fc->inputs.size(), 4u);
  const cv::CTensor& add = r.model.tensors[size_t(fc->inputs[3])];
  ASSERT_EQ(add.fdata.size(), 3u);
  EXPECT_EQ(add.fdata[1], float(-2.0 / double(0.2f)));
  EXPECT_EQ(r.model.tensors[size_t(fc->outputs[0])].shape, (std::vector<int64_t>{1, 4, 3}));
  EXPECT_EQ(r.model.ops.size(), 3u) << cv::DumpModel(r.model);  // QUANTIZE, FC, DEQUANTIZE
}

TEST(LowerToCrumb, TransformerProblemsNameTheNode) {
  OnnxBuilder b(17);
  b.Input("x", {1, 4, 8});
  QuantIn(b, "x", "xd", 0.05f);
  b.InitF("gamma", {8}, std::vector<float>(8, 1.f));
  auto* ln = b.Node("LayerNormalization", "ln", {"xd", "gamma"}, {"l"});
  OnnxBuilder::AttrI(ln, "axis", 1);
  QuantIn(b, "l", "y", 0.1f);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("'ln'"), std::string::npos) << Joined(r.problems);
  EXPECT_NE(Joined(r.problems).find("last axis"), std::string::npos) << Joined(r.problems);
}

}  // namespace
}  // namespace crumb
