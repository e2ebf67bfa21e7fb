// ONNX Pad through the converter: zero padding of a Conv's or AveragePool's input folds into that
// layer's pads (golden pads, through a requantizing Q/DQ pair), every other Pad is refused by name
// with its reason, and the reference executor pads in every ONNX mode.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>

#include "converter/converter.h"
#include "converter/reference_executor.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace {

using cv::ConvertResult;
using testing::Convert;
using testing::FindOp;
using testing::Joined;
using testing::OnnxBuilder;
using testing::Pads;
using testing::StringAttr;

// x [1, 4, 6, 7] -> Q/DQ -> `pad` (reads "xd", writes "p") -> [Q/DQ with other parameters when
// `requant`] -> `layer` (reads "l_in", writes "l_out") -> Q/DQ -> y.
OnnxBuilder Model(int opset, const std::function<void(OnnxBuilder&)>& pad, bool requant,
                  const std::function<void(OnnxBuilder&)>& layer) {
  OnnxBuilder b(opset);
  b.Input("x", {1, 4, 6, 7});
  b.InitF("s", {}, {0.1f});
  b.InitF("s2", {}, {0.07f});
  b.InitI("z", 2, {}, {128});
  b.InitI("z2", 2, {}, {120});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  pad(b);
  if (requant) {
    b.Node("QuantizeLinear", "qp", {"p", "s2", "z2"}, {"pq"});
    b.Node("DequantizeLinear", "dqp", {"pq", "s2", "z2"}, {"l_in"});
  } else {
    b.Node("Identity", "id", {"p"}, {"l_in"});
  }
  layer(b);
  b.Node("QuantizeLinear", "qy", {"l_out", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  return b;
}

// Pad "pd" of xd with pads as an input (opset 11+), and constant_value when `value` is given.
std::function<void(OnnxBuilder&)> PadInput(std::vector<int64_t> pads, const char* mode = nullptr,
                                           const float* value = nullptr) {
  return [=](OnnxBuilder& b) {
    b.InitI("pads", 7, {int64_t(pads.size())}, pads);
    std::vector<std::string> in = {"xd", "pads"};
    if (value) {
      b.InitF("value", {}, {*value});
      in.push_back("value");
    }
    auto* n = b.Node("Pad", "pd", in, {"p"});
    if (mode) OnnxBuilder::AttrS(n, "mode", mode);
  };
}

// Conv "cv": 5 output channels, 3x3, 4-bit codes per tensor, ONNX pads `pads` (none if empty).
std::function<void(OnnxBuilder&)> ConvLayer(std::vector<int64_t> pads,
                                            const char* auto_pad = nullptr) {
  return [=](OnnxBuilder& b) {
    std::vector<int64_t> codes(5 * 4 * 3 * 3);
    for (size_t k = 0; k < codes.size(); k++) codes[k] = int64_t(k * 7 % 15) - 7;
    b.InitI("w", 3, {5, 4, 3, 3}, codes);
    b.InitF("ws", {}, {0.05f});
    b.InitI("wz", 3, {}, {0});
    b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
    auto* n = b.Node("Conv", "cv", {"l_in", "wd"}, {"l_out"});
    OnnxBuilder::AttrInts(n, "kernel_shape", {3, 3});
    if (!pads.empty()) OnnxBuilder::AttrInts(n, "pads", pads);
    if (auto_pad) OnnxBuilder::AttrS(n, "auto_pad", auto_pad);
  };
}

std::function<void(OnnxBuilder&)> PoolLayer(const char* op, std::vector<int64_t> pads = {},
                                            int count_include_pad = 0) {
  return [=](OnnxBuilder& b) {
    auto* n = b.Node(op, "pool", {"l_in"}, {"l_out"});
    OnnxBuilder::AttrInts(n, "kernel_shape", {3, 3});
    OnnxBuilder::AttrInts(n, "strides", {2, 2});
    if (!pads.empty()) OnnxBuilder::AttrInts(n, "pads", pads);
    if (count_include_pad) OnnxBuilder::AttrI(n, "count_include_pad", 1);
  };
}

TEST(FoldPad, ZeroPaddingAddsToTheConvPads) {
  // nn.ZeroPad2d((2, 0, 1, 3)) then a Q/DQ pair with other parameters (padding commutes with a
  // quantizer that keeps 0), then a Conv with pads 1: top 1 + 1, left 2 + 1, bottom 3 + 1,
  // right 0 + 1.
  OnnxBuilder b = Model(13, PadInput({0, 0, 1, 2, 0, 0, 3, 0}), true, ConvLayer({1, 1, 1, 1}));
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "cv");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(Pads(*op), (std::vector<int>{2, 3, 4, 1}));
  EXPECT_EQ(FindOp(r.model, "pd"), nullptr);
  // 6 + 2 + 4 - 2 = 10 rows, 7 + 3 + 1 - 2 = 9 columns.
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape, (std::vector<int64_t>{1, 5, 10, 9}));
}

TEST(FoldPad, AttributeFormAndAutoPadValid) {
  // Opset 2-10: pads and value as attributes; auto_pad VALID means no pads of the Conv's own.
  OnnxBuilder b = Model(
      10,
      [](OnnxBuilder& b) {
        auto* n = b.Node("Pad", "pd", {"xd"}, {"p"});
        OnnxBuilder::AttrInts(n, "pads", {0, 0, 1, 1, 0, 0, 0, 2});
        OnnxBuilder::AttrF(n, "value", 0.f);
      },
      false, ConvLayer({}, "VALID"));
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "cv");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(Pads(*op), (std::vector<int>{1, 1, 0, 2}));
}

TEST(FoldPad, AveragePoolCountsTheZeros) {
  // Explicit zeros are averaged in: the fold sets count_include_pad. A constant_value of 0.
  const float zero = 0.f;
  for (bool own_pads : {false, true}) {
    SCOPED_TRACE(own_pads);
    OnnxBuilder b =
        Model(13, PadInput({0, 0, 1, 1, 0, 0, 1, 1}, "constant", &zero), false,
              own_pads ? PoolLayer("AveragePool", {1, 0, 0, 0}, 1) : PoolLayer("AveragePool"));
    ConvertResult r = Convert(b);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const cv::COp* op = FindOp(r.model, "pool");
    ASSERT_NE(op, nullptr);
    EXPECT_TRUE(op->count_include_pad);
    EXPECT_EQ(Pads(*op), (std::vector<int>{own_pads ? 2 : 1, 1, 1, 1}));
  }
}

TEST(FoldPad, OtherPadsAreRefusedByName) {
  const float one = 1.f;
  struct Case {
    const char* what;
    std::function<void(OnnxBuilder&)> pad;
    std::function<void(OnnxBuilder&)> layer;
    const char* problem;
  };
  const Case cases[] = {
      {"reflect", PadInput({0, 0, 1, 1, 0, 0, 1, 1}, "reflect"), ConvLayer({}),
       "only zero padding"},
      {"value 1", PadInput({0, 0, 1, 1, 0, 0, 1, 1}, "constant", &one), ConvLayer({}),
       "only zero padding"},
      {"channels", PadInput({0, 1, 0, 0, 0, 0, 0, 0}), ConvLayer({}), "height and width"},
      {"crop", PadInput({0, 0, -1, 0, 0, 0, 0, 0}), ConvLayer({}), "negative pads"},
      {"odd pads", PadInput({0, 0, 1, 1, 0, 0, 1}), ConvLayer({}), "two per axis"},
      {"huge pad", PadInput({0, 0, INT64_MAX, 0, 0, 0, 0, 0}), ConvLayer({}), "a pad above"},
      {"max pool", PadInput({0, 0, 1, 1, 0, 0, 1, 1}), PoolLayer("MaxPool"),
       "not read by one Conv or AveragePool"},
      {"auto_pad", PadInput({0, 0, 1, 1, 0, 0, 1, 1}), ConvLayer({}, "SAME_UPPER"),
       "auto_pad SAME_UPPER"},
      {"pool without counting its pads", PadInput({0, 0, 1, 1, 0, 0, 1, 1}),
       PoolLayer("AveragePool", {1, 1, 1, 1}), "count_include_pad 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    OnnxBuilder b = Model(13, c.pad, false, c.layer);
    ConvertResult r = Convert(b);
    ASSERT_FALSE(r.ok);
    const std::string all = Joined(r.problems);
    EXPECT_NE(all.find(c.problem), std::string::npos) << all;
    EXPECT_NE(all.find("'pd'"), std::string::npos) << all;
  }
}

TEST(ReferenceExecutor, PadInEveryMode) {
  // x = [[1, 2, 3], [4, 5, 6]], pads: rows 1 before, columns 2 before and 1 after.
  const std::map<std::string, std::vector<float>> want = {
      {"constant", {9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9}},
      {"edge", {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6}},
      {"reflect", {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}},
      {"wrap", {5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4}},
  };
  for (const auto& kv : want) {
    SCOPED_TRACE(kv.first);
    cv::Graph g;
    g.inputs.push_back(cv::ValueInfo{"x", cv::kFloat, {2, 3}, true, {}});
    cv::Const pads;
    pads.type = cv::kInt64;
    pads.dims = {4};
    pads.i = {1, 2, 0, 1};
    g.initializers["pads"] = pads;
    cv::Const value;
    value.type = cv::kFloat;
    value.f = {9.f};
    g.initializers["value"] = value;
    cv::Node pad;
    pad.name = "pd";
    pad.op_type = "Pad";
    pad.inputs = {"x", "pads", "value"};
    pad.outputs = {"y"};
    StringAttr(&pad, "mode", kv.first);
    g.nodes = {pad};
    std::map<std::string, cv::RefTensor> v;
    std::string error;
    ASSERT_TRUE(cv::RunReference(g, {{"x", cv::RefTensor{{2, 3}, {1, 2, 3, 4, 5, 6}}}}, &v, &error))
        << error;
    EXPECT_EQ(v["y"].dims, (std::vector<int64_t>{3, 6}));
    EXPECT_EQ(v["y"].data, kv.second);
  }
}

}  // namespace
}  // namespace crumb
