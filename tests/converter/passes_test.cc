// Golden tests per converter pass, on small ONNX graphs built in C++.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "converter/converter.h"
#include "converter/onnx_import.h"
#include "converter/passes/passes.h"
#include "converter/sha256.h"
#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"
#include "kernels/dot/dot.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/lut/lut.h"
#include "kernels/sparse/sparse.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"
#include "tests/converter/test_models.h"

namespace crumb {
namespace {

using cv::ConvertModel;
using cv::ConvertResult;
using cv::Diagnostics;
using cv::Graph;
using cv::Node;
using testing::Convert;
using testing::ConvModel;
using testing::ConvModelSpec;
using testing::FindOp;
using testing::Form;
using testing::Joined;
using testing::OnnxBuilder;
using testing::Pads;

Graph Import(OnnxBuilder& b, Diagnostics* d) {
  Graph g;
  cv::ImportModel(b.model(), &g, d);
  return g;
}

// ------------------------------------------------------------------ import (sub-byte types)

TEST(Import, UnpacksInt2OddElementCountLsbFirst) {
  onnx::TensorProto t;
  OnnxBuilder::FillInt(&t, 26, {5}, {-2, -1, 0, 1, -1});
  ASSERT_EQ(t.raw_data().size(), 2u);
  // First element in the least-significant bits: -2 = 0b10, -1 = 0b11, 0, 1 = 0b01.
  EXPECT_EQ(uint8_t(t.raw_data()[0]), 0x4E);
  EXPECT_EQ(uint8_t(t.raw_data()[1]), 0x03);
  cv::Const c;
  std::string err;
  ASSERT_TRUE(cv::DecodeTensor(t, &c, &err)) << err;
  EXPECT_EQ(c.i, (std::vector<int64_t>{-2, -1, 0, 1, -1}));

  onnx::TensorProto u;
  OnnxBuilder::FillInt(&u, 25, {3}, {3, 0, 2});
  ASSERT_TRUE(cv::DecodeTensor(u, &c, &err)) << err;
  EXPECT_EQ(c.i, (std::vector<int64_t>{3, 0, 2}));
}

TEST(Import, UnpacksInt4FromRawAndInt32Data) {
  onnx::TensorProto t;
  OnnxBuilder::FillInt(&t, 22, {3}, {-8, 7, -1});
  cv::Const c;
  std::string err;
  ASSERT_TRUE(cv::DecodeTensor(t, &c, &err)) << err;
  EXPECT_EQ(c.i, (std::vector<int64_t>{-8, 7, -1}));
  // Without raw_data ONNX keeps one packed byte per int32_data entry.
  onnx::TensorProto u;
  u.set_data_type(21);
  u.add_dims(3);
  u.add_int32_data(0xF0);  // elements 0 and 15
  u.add_int32_data(0x09);  // element 9
  ASSERT_TRUE(cv::DecodeTensor(u, &c, &err)) << err;
  EXPECT_EQ(c.i, (std::vector<int64_t>{0, 15, 9}));
}

TEST(Import, RejectsShortPackedData) {
  onnx::TensorProto t;
  t.set_data_type(26);
  t.add_dims(9);
  t.set_raw_data(std::string(2, '\0'));  // 9 INT2 values need 3 bytes
  cv::Const c;
  std::string err;
  EXPECT_FALSE(cv::DecodeTensor(t, &c, &err));
  EXPECT_NE(err.find("expected 3"), std::string::npos) << err;
}

// ------------------------------------------------------------------ constants / identity

TEST(ConstantsToInitializers, ConstantNodesBecomeInitializers) {
  OnnxBuilder b;
  auto* c = b.Node("Constant", "c0", {}, {"k"});
  OnnxBuilder::FillFloat(OnnxBuilder::AttrT(c, "value"), {}, {0.5f});
  auto* c1 = b.Node("Constant", "c1", {}, {"k1"});
  OnnxBuilder::AttrF(c1, "value_float", 2.0f);
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::ConstantsToInitializers(&g, &d);
  EXPECT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_TRUE(g.nodes.empty());
  ASSERT_NE(g.FindConst("k"), nullptr);
  EXPECT_EQ(g.FindConst("k")->f, std::vector<float>{0.5f});
  EXPECT_EQ(g.FindConst("k1")->f, std::vector<float>{2.0f});
}

TEST(RemoveIdentity, GoldenGraph) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("c", {}, {1.f});
  b.Node("Identity", "i0", {"x"}, {"x1"});
  b.Node("Identity", "i1", {"c"}, {"c1"});  // Identity of a constant
  b.Node("Add", "add", {"x1", "c1"}, {"s"});
  b.Node("Identity", "i2", {"s"}, {"y"});  // names the graph output
  b.Output("y");
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::RemoveIdentity(&g, &d);
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,4]\n"
            "Add 'add' (x, c) -> (y)\n"
            "output y\n");
}

// ------------------------------------------------------------------ check supported

TEST(CheckSupported, ListsEveryProblemInOneRun) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.Node("TopK", "sm", {"x"}, {"a"});
  b.Node("Sigmoid", "sig", {"a"}, {"b"});
  // A QONNX op LowerQonnx does not rewrite stays for CheckSupported to list.
  b.Node("Trunc", "qonnx_t", {"b", "s", "z", "bw"}, {"c"}, "qonnx.custom_op.general");
  b.InitF("s", {}, {0.1f});
  b.InitI("z16", 5, {}, {0});
  b.Node("QuantizeLinear", "q16", {"c", "s", "z16"}, {"d"});
  b.InitI("bad", 11, {}, {});
  b.graph()->mutable_initializer(b.graph()->initializer_size() - 1)->set_data_type(11);
  b.Output("d");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  const std::string all = Joined(r.problems);
  EXPECT_NE(all.find("node 'sm' (op TopK): unsupported op"), std::string::npos) << all;
  EXPECT_NE(all.find("node 'sig' (op Sigmoid): unsupported here"), std::string::npos) << all;
  EXPECT_NE(all.find("node 'qonnx_t' (op qonnx.custom_op.general.Trunc): unsupported op"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("node 'q16' (op QuantizeLinear): unsupported bit width 16"), std::string::npos)
      << all;
  EXPECT_NE(all.find("initializer 'bad'"), std::string::npos) << all;
  EXPECT_NE(all.find("DOUBLE"), std::string::npos) << all;
  EXPECT_EQ(r.problems.size(), 5u) << all;
  EXPECT_TRUE(r.bytes.empty());
  const std::string msg = cv::FormatProblems("m.onnx", r.problems);
  EXPECT_EQ(msg.rfind("cannot convert m.onnx: 5 problems:\n  ", 0), 0u) << msg;
}

// ------------------------------------------------------------------ recognise quantizers

struct RecognizedWeights {
  cv::QuantInfo conv, act;
};

RecognizedWeights RecognizeConvModel(const ConvModelSpec& spec, std::vector<int64_t>* codes) {
  ConvModel cm(spec);
  OnnxBuilder& b = cm.Build();
  *codes = cm.conv_codes;
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::ConstantsToInitializers(&g, &d);
  cv::RemoveIdentity(&g, &d);
  cv::CheckSupported(g, &d);
  cv::RecognizeQuantizers(&g, &d);
  EXPECT_TRUE(d.ok()) << Joined(d.problems());
  RecognizedWeights r;
  for (const auto& n : g.nodes) {
    if (n.op_type == cv::kQConstOp && n.name == "/conv/w/DequantizeLinear") r.conv = *n.quant;
    if (n.op_type == cv::kFakeQuantOp && n.name == "/act1/QuantizeLinear") r.act = *n.quant;
    EXPECT_NE(n.op_type, "QuantizeLinear");
    EXPECT_NE(n.op_type, "DequantizeLinear");
    EXPECT_NE(n.op_type, "Clip");
  }
  return r;
}

TEST(RecognizeQuantizers, SameQuantInfoFromEveryForm) {
  for (int wb : {2, 4, 8}) {
    for (int ab : {2, 4, 8}) {
      std::vector<int64_t> codes;
      RecognizedWeights ref;
      for (Form f : {Form::kQcdq, Form::kFolded, Form::kNative}) {
        ConvModelSpec spec;
        spec.form = f;
        spec.wbits = wb;
        spec.abits = ab;
        RecognizedWeights r = RecognizeConvModel(spec, &codes);
        SCOPED_TRACE("w" + std::to_string(wb) + "a" + std::to_string(ab) + " form " +
                     std::to_string(int(f)));
        EXPECT_EQ(r.conv.codes, codes);
        EXPECT_EQ(r.conv.bits, wb);
        // Narrow signed codes: 2-bit is TERNARY, wider SIGNED with qmin = -(2^(b-1)-1).
        EXPECT_EQ(r.conv.encoding, wb == 2 ? cv::Encoding::kTernary : cv::Encoding::kSigned);
        EXPECT_EQ(r.conv.qmin, -((1 << (wb - 1)) - 1));
        EXPECT_EQ(r.conv.qmax, (1 << (wb - 1)) - 1);
        EXPECT_EQ(r.conv.axis, 0);
        EXPECT_EQ(r.act.bits, ab);
        EXPECT_EQ(r.act.encoding, cv::Encoding::kUnsigned);
        EXPECT_EQ(r.act.qmin, 0);
        EXPECT_EQ(r.act.qmax, (1 << ab) - 1);
        EXPECT_EQ(r.act.tensor_name, "/act1/QuantizeLinear_output_0");
      }
    }
  }
}

// A weight-only graph: x -> Q/DQ -> MatMul(DQ(w)) -> Q/DQ -> y, with the weight given by `add`.
template <typename F>
cv::QuantInfo RecognizeWeight(F add, int opset = 13) {
  OnnxBuilder b(opset);
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  add(b);  // defines "wd" ([4, 2])
  b.Node("MatMul", "mm", {"xd", "wd"}, {"m"});
  b.Node("QuantizeLinear", "qy", {"m", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::RecognizeQuantizers(&g, &d);
  EXPECT_TRUE(d.ok()) << Joined(d.problems());
  for (const auto& n : g.nodes)
    if (n.op_type == cv::kQConstOp) return *n.quant;
  ADD_FAILURE() << "no weight recognised";
  return {};
}

TEST(RecognizeQuantizers, FoldedWeightWidthFromValueRange) {
  cv::QuantInfo q = RecognizeWeight([](OnnxBuilder& b) {
    b.InitI("w", 3, {4, 2}, {-5, 6, 0, 1, 2, 3, -1, 4});
    b.InitF("ws", {}, {0.5f});
    b.InitI("wz", 3, {}, {0});
    b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  });
  EXPECT_EQ(q.bits, 4);
  EXPECT_EQ(q.encoding, cv::Encoding::kSigned);
  EXPECT_EQ(q.qmin, -7);  // no code is -8: narrow
  EXPECT_EQ(q.qmax, 7);
  EXPECT_EQ(q.axis, -1);
}

TEST(RecognizeQuantizers, FullRangeWhenTheMostNegativeCodeOccurs) {
  cv::QuantInfo q = RecognizeWeight([](OnnxBuilder& b) {
    b.InitI("w", 3, {4, 2}, {-2, 1, 0, 1, -1, 0, 1, 1});
    b.InitF("ws", {}, {0.5f});
    b.InitI("wz", 3, {}, {0});
    b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  });
  EXPECT_EQ(q.bits, 2);
  EXPECT_EQ(q.encoding, cv::Encoding::kSigned);
  EXPECT_EQ(q.qmin, -2);
  EXPECT_EQ(q.qmax, 1);
}

// fuzz_onnx_import finding 4 (tests/fuzz/README.md; its input was lost): 2-bit codes that avoid -2
// are TERNARY only when the zero points avoid it too; a per-channel zero point of -2 makes them
// SIGNED (a TERNARY tensor cannot hold it, and the runtime refused such files).
TEST(RecognizeQuantizers, TernaryOnlyWhenTheZeroPointsFitToo) {
  for (int64_t z1 : {0, -2}) {
    cv::QuantInfo q = RecognizeWeight([z1](OnnxBuilder& b) {
      b.InitI("w", 3, {4, 2}, {-1, 0, 1, 1, 0, -1, 1, 0});
      b.InitF("ws", {2}, {0.5f, 0.25f});
      b.InitI("wz", 3, {2}, {0, z1});
      auto* n = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
      OnnxBuilder::AttrI(n, "axis", 1);
    });
    EXPECT_EQ(q.bits, 2) << z1;
    EXPECT_EQ(q.encoding, z1 == 0 ? cv::Encoding::kTernary : cv::Encoding::kSigned) << z1;
    EXPECT_EQ(q.qmin, z1 == 0 ? -1 : -2) << z1;
    EXPECT_EQ(q.qmax, 1) << z1;
  }
}

TEST(RecognizeQuantizers, NativeUint4WeightKeepsDeclaredWidthAndZeroPoint) {
  cv::QuantInfo q = RecognizeWeight(
      [](OnnxBuilder& b) {
        b.InitI("w", 21, {4, 2}, {0, 15, 3, 8, 8, 1, 2, 9});
        b.InitF("ws", {2}, {0.5f, 0.25f});
        b.InitI("wz", 21, {2}, {8, 7});
        auto* n = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
        OnnxBuilder::AttrI(n, "axis", 1);
      },
      21);
  EXPECT_EQ(q.bits, 4);
  EXPECT_EQ(q.encoding, cv::Encoding::kUnsigned);
  EXPECT_EQ(q.qmin, 0);
  EXPECT_EQ(q.qmax, 15);
  EXPECT_EQ(q.axis, 1);
  EXPECT_EQ(q.zero_point, (std::vector<int64_t>{8, 7}));
  EXPECT_EQ(q.codes, (std::vector<int64_t>{0, 15, 3, 8, 8, 1, 2, 9}));
}

TEST(RecognizeQuantizers, QcdqWeightQuantizesLikeQuantizeLinear) {
  cv::QuantInfo q = RecognizeWeight([](OnnxBuilder& b) {
    // w / s = 0.5 (ties to even: 0), 1.5 (2 -> clipped to 1), -2.6 (-3 -> -1), 0.4, ...
    b.InitF("w", {4, 2}, {0.05f, 0.15f, -0.26f, 0.04f, 0.1f, -0.1f, 0.25f, 0.0f});
    b.InitF("ws", {}, {0.1f});
    b.InitI("wz", 3, {}, {0});
    b.InitI("lo", 3, {}, {-1});
    b.InitI("hi", 3, {}, {1});
    b.Node("QuantizeLinear", "qw", {"w", "ws", "wz"}, {"wq"});
    b.Node("Clip", "cw", {"wq", "lo", "hi"}, {"wc"});
    b.Node("DequantizeLinear", "dqw", {"wc", "ws", "wz"}, {"wd"});
  });
  EXPECT_EQ(q.bits, 2);
  EXPECT_EQ(q.encoding, cv::Encoding::kTernary);
  EXPECT_EQ(q.codes, (std::vector<int64_t>{0, 1, -1, 0, 1, -1, 1, 0}));
  EXPECT_EQ(q.tensor_name, "wd");
}

// A layer whose codes never reach its declared bounds: QCDQ Clip(-7, 7), an int8 initializer and
// an INT4 tensor holding the same codes must give the same crumb tensor (width from the codes).
TEST(RecognizeQuantizers, WidthIsTheCodesRangeWhateverTheFormDeclares) {
  const std::vector<int64_t> codes = {-3, 2, 0, 1, 3, -2, 1, 0};
  cv::QuantInfo qcdq = RecognizeWeight([](OnnxBuilder& b) {
    b.InitF("w", {4, 2}, {-0.3f, 0.2f, 0.0f, 0.1f, 0.3f, -0.2f, 0.1f, 0.0f});
    b.InitF("ws", {}, {0.1f});
    b.InitI("wz", 3, {}, {0});
    b.InitI("lo", 3, {}, {-7});
    b.InitI("hi", 3, {}, {7});
    b.Node("QuantizeLinear", "qw", {"w", "ws", "wz"}, {"wq"});
    b.Node("Clip", "cw", {"wq", "lo", "hi"}, {"wc"});
    b.Node("DequantizeLinear", "dqw", {"wc", "ws", "wz"}, {"wd"});
  });
  cv::QuantInfo folded = RecognizeWeight([&](OnnxBuilder& b) {
    b.InitI("w", 3, {4, 2}, codes);
    b.InitF("ws", {}, {0.1f});
    b.InitI("wz", 3, {}, {0});
    b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  });
  cv::QuantInfo native = RecognizeWeight(
      [&](OnnxBuilder& b) {
        b.InitI("w", 22, {4, 2}, codes);
        b.InitF("ws", {}, {0.1f});
        b.InitI("wz", 22, {}, {0});
        b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
      },
      21);
  for (const cv::QuantInfo* q : {&qcdq, &folded, &native}) {
    EXPECT_EQ(q->codes, codes);
    EXPECT_EQ(q->bits, 3);
    EXPECT_EQ(q->encoding, cv::Encoding::kSigned);
    EXPECT_EQ(q->qmin, -3);
    EXPECT_EQ(q->qmax, 3);
  }
}

TEST(RecognizeQuantizers, ClipWithEmptyMinAndShape1Scales) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {1}, {0.1f});
  b.InitI("z", 2, {1}, {3});
  b.InitI("hi", 2, {}, {15});
  b.Node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
  b.Node("Clip", "c", {"xq", "", "hi"}, {"xc"});
  b.Node("DequantizeLinear", "dq", {"xc", "s", "z"}, {"y"});
  b.Output("y");
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::RecognizeQuantizers(&g, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,4]\n"
            "crumb.FakeQuant 'q' (x) -> (y) q{xq bits=4 UNSIGNED [0,15] scale=[0.100000001] "
            "zp=[3] axis=-1}\n"
            "output y\n");
}

TEST(RecognizeQuantizers, MissingZeroPointDefaultsToUint8) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.Node("QuantizeLinear", "q", {"x", "s"}, {"xq"});
  b.Node("DequantizeLinear", "dq", {"xq", "s"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const int t = r.model.FindTensor("xq");
  ASSERT_GE(t, 0);
  EXPECT_EQ(r.model.tensors[size_t(t)].bits, 8);
  EXPECT_EQ(r.model.tensors[size_t(t)].encoding, cv::Encoding::kUnsigned);
  EXPECT_EQ(r.model.tensors[size_t(t)].zero_point, std::vector<int64_t>{0});
  EXPECT_EQ(r.model.tensors[size_t(t)].qmax, 255);
}

TEST(RecognizeQuantizers, MismatchedQuantizeDequantizeParamsAreReported) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.InitF("s2", {}, {0.2f});
  b.Node("QuantizeLinear", "q", {"x", "s"}, {"xq"});
  b.Node("DequantizeLinear", "dq", {"xq", "s2"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("differ from those of QuantizeLinear 'q'"), std::string::npos)
      << Joined(r.problems);
}

// ------------------------------------------------------------------ lower QONNX

constexpr const char* kQonnx = "qonnx.custom_op.general";

// Quant(x, scale, zeropt, bitwidth) named `name` writing `y`; scale / zeropt of shape `pdims`.
onnx::NodeProto* AddQuant(OnnxBuilder& b, const std::string& name, const std::string& x,
                          const std::string& y, const std::vector<int64_t>& pdims,
                          const std::vector<float>& scale, const std::vector<float>& zp, float bits,
                          bool is_signed, bool narrow, const std::string& mode = "ROUND") {
  b.InitF(name + "/scale", pdims, scale);
  b.InitF(name + "/zeropt", pdims, zp);
  b.InitF(name + "/bitwidth", {}, {bits});
  auto* n = b.Node("Quant", name, {x, name + "/scale", name + "/zeropt", name + "/bitwidth"}, {y},
                   kQonnx);
  OnnxBuilder::AttrI(n, "signed", is_signed ? 1 : 0);
  OnnxBuilder::AttrI(n, "narrow", narrow ? 1 : 0);
  OnnxBuilder::AttrS(n, "rounding_mode", mode);
  return n;
}

// MultiThreshold(x, thresholds [C, T]) named `name` writing `y`.
void AddMultiThreshold(OnnxBuilder& b, const std::string& name, const std::string& x,
                       const std::string& y, int64_t channels, const std::vector<float>& t,
                       const std::string& dtype, float out_scale, float out_bias) {
  std::vector<float> all;
  for (int64_t c = 0; c < channels; c++) all.insert(all.end(), t.begin(), t.end());
  b.InitF(name + "/thresholds", {channels, int64_t(t.size())}, all);
  auto* n = b.Node("MultiThreshold", name, {x, name + "/thresholds"}, {y}, kQonnx);
  OnnxBuilder::AttrS(n, "out_dtype", dtype);
  OnnxBuilder::AttrF(n, "out_scale", out_scale);
  OnnxBuilder::AttrF(n, "out_bias", out_bias);
  OnnxBuilder::AttrS(n, "data_layout", "NCHW");
}

// The graph after LowerQonnx (in *lowered) and after RecognizeQuantizers (returned).
Graph LowerAndRecognize(OnnxBuilder& b, Diagnostics* d, std::string* lowered = nullptr) {
  Graph g = Import(b, d);
  cv::ConstantsToInitializers(&g, d);
  cv::RemoveIdentity(&g, d);
  cv::LowerQonnx(&g, d);
  if (lowered) *lowered = cv::DumpGraph(g);
  cv::CheckSupported(g, d);
  if (d->ok()) cv::RecognizeQuantizers(&g, d);
  return g;
}

const Node* FindNode(const Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

// x -> Quant (8-bit activation) -> Conv(Quant(w) per output channel, scale [2,1,1,1]) -> Quant -> y
TEST(LowerQonnx, QuantWeightPerChannelBecomesFoldedDequantize) {
  OnnxBuilder b;
  b.Input("x", {1, 3, 1, 1});
  AddQuant(b, "qx", "x", "xd", {}, {0.1f}, {0.f}, 8, false, false);
  // Channel 0 (scale 0.5): 0.6 / 0.5 = 1.2 -> 1, -0.5 -> -1, 0.1 -> 0; channel 1 (0.25): 0, 1, -1.
  b.InitF("w", {2, 3, 1, 1}, {0.6f, -0.5f, 0.1f, 0.f, 0.25f, -0.3f});
  AddQuant(b, "qw", "w", "wd", {2, 1, 1, 1}, {0.5f, 0.25f}, {0.f, 0.f}, 2, true, true);
  b.Node("Conv", "conv", {"xd", "wd"}, {"c"});
  AddQuant(b, "qy", "c", "y", {}, {0.2f}, {0.f}, 8, false, false);
  b.Output("y");
  Diagnostics d;
  std::string lowered;
  Graph g = LowerAndRecognize(b, &d, &lowered);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(lowered,
            "input x [1,3,1,1]\n"
            "QuantizeLinear 'qx' (x, xd/scale, xd/zero_point) -> (xd/quantized)\n"
            "DequantizeLinear 'qx/DequantizeLinear' (xd/quantized, xd/scale, xd/zero_point) -> "
            "(xd)\n"
            "DequantizeLinear 'qw' (wd/codes, wd/scale, wd/zero_point) -> (wd)\n"
            "Conv 'conv' (xd, wd) -> (c)\n"
            "QuantizeLinear 'qy' (c, y/scale, y/zero_point) -> (y/quantized)\n"
            "DequantizeLinear 'qy/DequantizeLinear' (y/quantized, y/scale, y/zero_point) -> (y)\n"
            "output y\n");
  const Node* w = FindNode(g, "qw");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->quant);
  EXPECT_EQ(w->op_type, cv::kQConstOp);
  EXPECT_EQ(w->quant->codes, (std::vector<int64_t>{1, -1, 0, 0, 1, -1}));
  EXPECT_EQ(w->quant->bits, 2);
  EXPECT_EQ(w->quant->encoding, cv::Encoding::kTernary);
  EXPECT_EQ(w->quant->axis, 0);
  EXPECT_EQ(w->quant->scale, (std::vector<float>{0.5f, 0.25f}));
  EXPECT_EQ(w->quant->zero_point, (std::vector<int64_t>{0, 0}));
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
}

// A [1, C] scale on a [K, N] MatMul weight is per column: axis 1.
TEST(LowerQonnx, QuantScaleOfShape1xCIsAxis1) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  AddQuant(b, "qx", "x", "xd", {}, {0.1f}, {0.f}, 8, false, false);
  b.InitF("w", {4, 2}, {1.f, 0.5f, -1.f, -0.5f, 0.f, 0.25f, 2.f, 0.f});
  AddQuant(b, "qw", "w", "wd", {1, 2}, {1.f, 0.25f}, {0.f, 0.f}, 4, true, true);
  b.Node("MatMul", "mm", {"xd", "wd"}, {"m"});
  AddQuant(b, "qy", "m", "y", {}, {0.2f}, {0.f}, 8, false, false);
  b.Output("y");
  Diagnostics d;
  Graph g = LowerAndRecognize(b, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  const Node* w = FindNode(g, "qw");
  ASSERT_TRUE(w && w->quant);
  EXPECT_EQ(w->quant->axis, 1);
  EXPECT_EQ(w->quant->scale, (std::vector<float>{1.f, 0.25f}));
  EXPECT_EQ(w->quant->codes, (std::vector<int64_t>{1, 2, -1, -2, 0, 1, 2, 0}));
  EXPECT_EQ(w->quant->bits, 3);  // codes in [-2, 2]: the width is the codes' range
}

TEST(LowerQonnx, QuantActivationBecomesQcdqWithTheDeclaredWidth) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  AddQuant(b, "q", "x", "y", {}, {0.1f}, {3.f}, 4, false, false);
  b.Output("y");
  Diagnostics d;
  std::string lowered;
  Graph g = LowerAndRecognize(b, &d, &lowered);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(lowered,
            "input x [1,4]\n"
            "QuantizeLinear 'q' (x, y/scale, y/zero_point) -> (y/quantized)\n"
            "Clip 'q/Clip' (y/quantized, y/qmin, y/qmax) -> (y/clipped)\n"
            "DequantizeLinear 'q/DequantizeLinear' (y/clipped, y/scale, y/zero_point) -> (y)\n"
            "output y\n");
  EXPECT_EQ(cv::DumpGraph(g),
            "input x [1,4]\n"
            "crumb.FakeQuant 'q' (x) -> (y) q{y/quantized bits=4 UNSIGNED [0,15] "
            "scale=[0.100000001] zp=[3] axis=-1}\n"
            "output y\n");
  // The same crumb model as the QCDQ spelling.
  OnnxBuilder c;
  c.Input("x", {1, 4});
  c.InitF("s", {}, {0.1f});
  c.InitI("z", 2, {}, {3});
  c.InitI("lo", 2, {}, {0});
  c.InitI("hi", 2, {}, {15});
  c.Node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
  c.Node("Clip", "clip", {"xq", "lo", "hi"}, {"xc"});
  c.Node("DequantizeLinear", "dq", {"xc", "s", "z"}, {"y"});
  c.Output("y");
  ConvertResult rq = Convert(b), rc = Convert(c);
  ASSERT_TRUE(rq.ok && rc.ok) << Joined(rq.problems) << Joined(rc.problems);
  EXPECT_EQ(testing::AnonymousModel(rq.model), testing::AnonymousModel(rc.model));
}

TEST(LowerQonnx, SignedNarrowAndUnsignedRanges) {
  struct Case {
    bool is_signed, narrow;
    int bits;
    int64_t qmin, qmax;
    cv::Encoding enc;
    bool clip;  // a Clip narrows the zero point type's range
  };
  const Case cases[] = {
      {true, true, 4, -7, 7, cv::Encoding::kSigned, true},
      {true, false, 4, -8, 7, cv::Encoding::kSigned, true},
      {false, true, 4, 0, 14, cv::Encoding::kUnsigned, true},
      {false, false, 4, 0, 15, cv::Encoding::kUnsigned, true},
      {true, true, 8, -127, 127, cv::Encoding::kSigned, true},
      {true, false, 8, -128, 127, cv::Encoding::kSigned, false},
      {false, false, 8, 0, 255, cv::Encoding::kUnsigned, false},
      {false, false, 2, 0, 3, cv::Encoding::kUnsigned, true},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.is_signed ? "signed" : "unsigned") + (k.narrow ? " narrow " : " ") +
                 std::to_string(k.bits));
    OnnxBuilder b;
    b.Input("x", {1, 4});
    AddQuant(b, "q", "x", "y", {}, {0.1f}, {0.f}, float(k.bits), k.is_signed, k.narrow);
    b.Output("y");
    Diagnostics d;
    std::string lowered;
    Graph g = LowerAndRecognize(b, &d, &lowered);
    ASSERT_TRUE(d.ok()) << Joined(d.problems());
    EXPECT_EQ(lowered.find("Clip") != std::string::npos, k.clip) << lowered;
    ASSERT_EQ(g.nodes.size(), 1u);
    ASSERT_TRUE(g.nodes[0].quant);
    const cv::QuantInfo& q = *g.nodes[0].quant;
    EXPECT_EQ(q.qmin, k.qmin);
    EXPECT_EQ(q.qmax, k.qmax);
    EXPECT_EQ(q.bits, k.bits);
    EXPECT_EQ(q.encoding, k.enc);
  }
}

// Weights are quantized offline exactly as QONNX does: v = x / scale + zeropt in float32, clamp,
// then the node's rounding mode (ROUND is numpy's half to even).
TEST(LowerQonnx, WeightCodesFollowTheRoundingMode) {
  // x / scale = 0.5, 1.5, -0.5, 2.5, -1.2, 9.7 (the last clamps to 7: signed 4-bit, not narrow).
  const std::vector<float> w = {0.25f, 0.75f, -0.25f, 1.25f, -0.6f, 4.85f};
  const std::map<std::string, std::vector<int64_t>> want = {
      {"ROUND", {0, 2, 0, 2, -1, 7}},
      {"CEIL", {1, 2, 0, 3, -1, 7}},
      {"FLOOR", {0, 1, -1, 2, -2, 7}},
  };
  for (const auto& kv : want) {
    SCOPED_TRACE(kv.first);
    OnnxBuilder b;
    b.InitF("w", {1, 6}, w);
    AddQuant(b, "qw", "w", "wd", {}, {0.5f}, {0.f}, 4, true, false, kv.first);
    b.Output("wd");
    Diagnostics d;
    Graph g = Import(b, &d);
    cv::LowerQonnx(&g, &d);
    ASSERT_TRUE(d.ok()) << Joined(d.problems());
    const cv::Const* codes = g.FindConst("wd/codes");
    ASSERT_NE(codes, nullptr);
    EXPECT_EQ(codes->type, cv::kInt8);
    EXPECT_EQ(codes->dims, (std::vector<int64_t>{1, 6}));
    EXPECT_EQ(codes->i, kv.second);
  }
  // The zero point is added before rounding: 0.5 + 1 = 1.5 rounds to 2 (QuantizeLinear's
  // round(0.5) + 1 would give 1). Unsigned codes are uint8 with a uint8 zero point.
  OnnxBuilder b;
  b.InitF("w", {1, 3}, {0.25f, -0.5f, 10.f});
  AddQuant(b, "qw", "w", "wd", {}, {0.5f}, {1.f}, 3, false, false);
  b.Output("wd");
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::LowerQonnx(&g, &d);
  ASSERT_TRUE(d.ok()) << Joined(d.problems());
  ASSERT_NE(g.FindConst("wd/codes"), nullptr);
  EXPECT_EQ(g.FindConst("wd/codes")->type, cv::kUint8);
  EXPECT_EQ(g.FindConst("wd/codes")->i, (std::vector<int64_t>{2, 0, 7}));
  EXPECT_EQ(g.FindConst("wd/zero_point")->type, cv::kUint8);
  EXPECT_EQ(g.FindConst("wd/zero_point")->i, (std::vector<int64_t>{1}));
}

// Everything LowerQonnx cannot rewrite exactly is reported, naming the node, in one run.
TEST(LowerQonnx, ListsEveryUnsupportedQonnxNode) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  AddQuant(b, "floor_act", "x", "a1", {}, {0.1f}, {0.f}, 4, false, false, "FLOOR");
  AddQuant(b, "nine_bits", "a1", "a2", {}, {0.1f}, {0.f}, 9, false, false);
  AddQuant(b, "half_bits", "a2", "a3", {}, {0.1f}, {0.f}, 2.5f, false, false);
  b.InitF("bs", {}, {0.5f});
  b.Node("BipolarQuant", "bipolar_act", {"a3", "bs"}, {"a4"}, kQonnx);
  AddMultiThreshold(b, "mt", "a4", "y", 1, {0.05f, 0.1f, 0.3f}, "UINT2", 0.1f, 0.f);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  const std::string all = Joined(r.problems);
  EXPECT_NE(all.find("node 'floor_act' (op qonnx.custom_op.general.Quant): rounding_mode 'FLOOR' "
                     "is supported on constant weights only"),
            std::string::npos)
      << all;
  EXPECT_NE(
      all.find("node 'nine_bits' (op qonnx.custom_op.general.Quant): unsupported bit width 9"),
      std::string::npos)
      << all;
  EXPECT_NE(all.find("node 'half_bits' (op qonnx.custom_op.general.Quant): the bit width 2.5 is "
                     "not an integer"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("node 'bipolar_act' (op qonnx.custom_op.general.BipolarQuant): bipolar "
                     "activations are not supported yet"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("node 'mt' (op qonnx.custom_op.general.MultiThreshold): non-uniform "
                     "thresholds"),
            std::string::npos)
      << all;
  EXPECT_EQ(r.problems.size(), 5u) << all;
}

// x -> Q/Clip/DQ (2-bit) -> Conv(weight) -> Q/DQ -> y with the weight given by `add` as "wd".
template <typename F>
ConvertResult ConvertWithWeight(F add) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.InitI("lo", 2, {}, {0});
  b.InitI("hi", 2, {}, {3});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("Clip", "clipx", {"xq", "lo", "hi"}, {"xc"});
  b.Node("DequantizeLinear", "dqx", {"xc", "s", "z"}, {"xd"});
  add(b);
  b.Node("Conv", "conv", {"xd", "wd"}, {"c"});
  b.InitF("so", {}, {0.2f});
  b.Node("QuantizeLinear", "qy", {"c", "so", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  b.Output("y");
  return Convert(b);
}

TEST(LowerQonnx, BipolarQuantWeightsAreBipolarOneBit) {
  const std::vector<float> w = {0.3f, -0.1f, 0.f, -2.f, 1.f, -0.5f, 0.2f, -0.f};
  ConvertResult rq = ConvertWithWeight([&](OnnxBuilder& b) {
    b.InitF("w", {4, 2, 1, 1}, w);
    b.InitF("ws", {4, 1, 1, 1}, {0.5f, 0.25f, 1.f, 2.f});
    b.Node("BipolarQuant", "bq", {"w", "ws"}, {"wd"}, kQonnx);
  });
  ASSERT_TRUE(rq.ok) << Joined(rq.problems);
  // The folded +-1 form (x >= 0 -> +1, so 0 and -0 are +1).
  ConvertResult rf = ConvertWithWeight([](OnnxBuilder& b) {
    b.InitI("w", 3, {4, 2, 1, 1}, {1, -1, 1, -1, 1, -1, 1, 1});
    b.InitF("ws", {4}, {0.5f, 0.25f, 1.f, 2.f});
    b.InitI("wz", 3, {4}, {0, 0, 0, 0});
    auto* n = b.Node("DequantizeLinear", "bq", {"w", "ws", "wz"}, {"wd"});
    OnnxBuilder::AttrI(n, "axis", 0);
  });
  ASSERT_TRUE(rf.ok) << Joined(rf.problems);
  const cv::COp* conv = FindOp(rq.model, "conv");
  ASSERT_NE(conv, nullptr);
  const auto& t = rq.model.tensors[size_t(conv->inputs[1])];
  EXPECT_EQ(t.bits, 1);
  EXPECT_EQ(t.encoding, cv::Encoding::kBipolar);
  EXPECT_EQ(t.scale, (std::vector<float>{0.5f, 0.25f, 1.f, 2.f}));
  EXPECT_EQ(testing::AnonymousModel(rq.model), testing::AnonymousModel(rf.model));
}

// ------------------------------------------------------------------ fold binary weights

// x -> Q/Clip/DQ (2-bit) -> `op`(xd, wd) -> Q/DQ -> y, the weight given by `add` as "wd". Conv
// reads x [1, 2, 3, 3] (weights [4, 2, 3, 3]); Gemm / MatMul read x [1, 4].
template <typename F>
ConvertResult ConvertWithWeightOp(const std::string& op, int64_t trans_b, F add) {
  OnnxBuilder b;
  if (op == "Conv")
    b.Input("x", {1, 2, 3, 3});
  else
    b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.InitI("lo", 2, {}, {0});
  b.InitI("hi", 2, {}, {3});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("Clip", "clipx", {"xq", "lo", "hi"}, {"xc"});
  b.Node("DequantizeLinear", "dqx", {"xc", "s", "z"}, {"xd"});
  add(b);
  auto* n = b.Node(op, "op", {"xd", "wd"}, {"c"});
  if (op == "Gemm") OnnxBuilder::AttrI(n, "transB", trans_b);
  b.InitF("so", {}, {0.2f});
  b.Node("QuantizeLinear", "qy", {"c", "so", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  b.Output("y");
  return Convert(b);
}

// Deterministic float weights without zeros, several magnitudes per channel.
std::vector<float> RandomWeights(size_t n, uint32_t seed) {
  std::vector<float> w(n);
  for (auto& v : w) {
    seed = seed * 1103515245u + 12345u;
    v = (float((seed >> 16) % 1000u) + 1.0f) / 997.0f * (((seed >> 8) & 1u) ? 1.0f : -1.0f);
  }
  return w;
}

std::vector<int64_t> Signs(const std::vector<float>& w, bool ge_zero_positive) {
  std::vector<int64_t> c;
  for (float v : w) c.push_back(v > 0 || (ge_zero_positive && v == 0) ? 1 : (v < 0 ? -1 : 0));
  return c;
}

// The folded reference: int8 codes -> DequantizeLinear(scale, zero point 0, axis).
void FoldedWeight(OnnxBuilder& b, const std::vector<int64_t>& dims,
                  const std::vector<int64_t>& codes, const std::vector<float>& scale, int axis) {
  b.InitI("w", 3, dims, codes);
  b.InitF("ws", {int64_t(scale.size())}, scale);
  b.InitI("wz", 3, {int64_t(scale.size())}, std::vector<int64_t>(scale.size(), 0));
  auto* n = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  OnnxBuilder::AttrI(n, "axis", axis);
}

// Every Sign / Where spelling of sign(W) * alpha a BNN trainer exports converts to the same crumb
// model as the folded +-1 form.
TEST(FoldBinaryWeights, SignAndWherePatternsEqualTheFoldedForm) {
  const std::vector<int64_t> dims = {4, 2, 3, 3};
  const std::vector<float> w = RandomWeights(72, 3);
  const std::vector<float> alpha = {0.5f, 0.25f, 0.37f, 1.3f};
  const std::vector<int64_t> codes = Signs(w, true);
  ConvertResult ref = ConvertWithWeightOp(
      "Conv", 0, [&](OnnxBuilder& b) { FoldedWeight(b, dims, codes, alpha, 0); });
  ASSERT_TRUE(ref.ok) << Joined(ref.problems);
  ConvertResult ref1 = ConvertWithWeightOp("Conv", 0, [&](OnnxBuilder& b) {
    FoldedWeight(b, dims, codes, std::vector<float>(4, 1.0f), 0);
  });
  ASSERT_TRUE(ref1.ok) << Joined(ref1.problems);
  const cv::COp* conv = FindOp(ref.model, "op");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(ref.model.tensors[size_t(conv->inputs[1])].encoding, cv::Encoding::kBipolar);

  struct Case {
    const char* name;
    bool unit_scale;
    std::function<void(OnnxBuilder&)> add;
  };
  const std::vector<Case> cases = {
      {"Mul(Sign(W), alpha[C,1,1,1])", false,
       [&](OnnxBuilder& b) {
         b.InitF("W", dims, w);
         b.InitF("alpha", {4, 1, 1, 1}, alpha);
         b.Node("Sign", "sign", {"W"}, {"sw"});
         b.Node("Mul", "mul", {"sw", "alpha"}, {"wd"});
       }},
      {"Sign(W)", true,
       [&](OnnxBuilder& b) {
         b.InitF("W", dims, w);
         b.Node("Sign", "sign", {"W"}, {"wd"});
       }},
      {"Where(GreaterOrEqual(W, 0), a, Neg(a))", false,
       [&](OnnxBuilder& b) {
         b.InitF("W", dims, w);
         b.InitF("zero", {}, {0.0f});
         b.InitF("a", {4, 1, 1, 1}, alpha);
         b.Node("GreaterOrEqual", "ge", {"W", "zero"}, {"pos"});
         b.Node("Neg", "neg", {"a"}, {"na"});
         b.Node("Where", "where", {"pos", "a", "na"}, {"wd"});
       }},
      {"Mul(Where(W >= 0, 1, -1), Unsqueeze(alpha[C]))", false,
       [&](OnnxBuilder& b) {
         b.InitF("W", dims, w);
         b.InitF("zero", {}, {0.0f});
         b.InitF("one", {}, {1.0f});
         b.InitF("minus_one", {}, {-1.0f});
         b.InitF("alpha", {4}, alpha);
         b.InitI("axes", 7, {3}, {1, 2, 3});
         b.Node("GreaterOrEqual", "ge", {"W", "zero"}, {"pos"});
         b.Node("Where", "where", {"pos", "one", "minus_one"}, {"pm"});
         b.Node("Unsqueeze", "unsq", {"alpha", "axes"}, {"a4"});
         b.Node("Mul", "mul", {"pm", "a4"}, {"wd"});
       }},
      {"Mul(Sub(Mul(Cast(Greater(W, 0)), 2), 1), Reshape(Neg(Neg(alpha))))", false,
       [&](OnnxBuilder& b) {
         b.InitF("W", dims, w);
         b.InitF("zero", {}, {0.0f});
         b.InitF("one", {}, {1.0f});
         b.InitF("two", {1}, {2.0f});
         b.InitF("alpha", {4}, alpha);
         b.InitI("shape", 7, {4}, {-1, 1, 1, 1});
         b.Node("Greater", "gt", {"W", "zero"}, {"pos"});
         OnnxBuilder::AttrI(b.Node("Cast", "cast", {"pos"}, {"posf"}), "to", 1);
         b.Node("Mul", "twice", {"posf", "two"}, {"p2"});
         b.Node("Sub", "sub", {"p2", "one"}, {"pm"});
         b.Node("Neg", "neg1", {"alpha"}, {"na"});
         b.Node("Neg", "neg2", {"na"}, {"a"});
         b.Node("Reshape", "reshape", {"a", "shape"}, {"a4"});
         b.Node("Mul", "mul", {"pm", "a4"}, {"wd"});
       }},
      {"Div(Sign(W), Cast(int32 1) / alpha)", false,
       [&](OnnxBuilder& b) {
         // 1 / (1 / alpha) is alpha again for these values: checked on the reference below.
         b.InitF("W", dims, w);
         b.InitI("one_i", 6, {}, {1});
         b.InitF("alpha", {4, 1, 1, 1}, alpha);
         OnnxBuilder::AttrI(b.Node("Cast", "cast", {"one_i"}, {"one"}), "to", 1);
         b.Node("Div", "inv", {"one", "alpha"}, {"inv_alpha"});
         b.Node("Sign", "sign", {"W"}, {"sw"});
         b.Node("Div", "div", {"sw", "inv_alpha"}, {"wd"});
       }},
      {"float +-alpha initializer", false,
       [&](OnnxBuilder& b) {
         std::vector<float> v(w.size());
         for (size_t k = 0; k < w.size(); k++) v[k] = float(codes[k]) * alpha[k / 18];
         b.InitF("wd", dims, v);
       }},
  };
  for (float a : alpha) ASSERT_EQ(1.0f / (1.0f / a), a);
  for (const auto& c : cases) {
    ConvertResult r = ConvertWithWeightOp("Conv", 0, c.add);
    ASSERT_TRUE(r.ok) << c.name << ":\n" << Joined(r.problems);
    EXPECT_EQ(testing::AnonymousModel(r.model),
              testing::AnonymousModel((c.unit_scale ? ref1 : ref).model))
        << c.name;
  }
}

// Gemm weights are per output channel along axis 0 with transB = 1 ([N, K]) and along axis 1
// with transB = 0 and for MatMul ([K, N]).
TEST(FoldBinaryWeights, GemmAndMatMulWeightsPerOutputChannel) {
  const std::vector<float> alpha = {0.5f, 0.75f, 0.125f};
  struct Case {
    const char* op;
    int64_t trans_b;
    std::vector<int64_t> dims;  // weight shape
    int axis;                   // the output-channel axis
  };
  for (const Case& c :
       {Case{"Gemm", 1, {3, 4}, 0}, Case{"Gemm", 0, {4, 3}, 1}, Case{"MatMul", 0, {4, 3}, 1}}) {
    const std::vector<float> w = RandomWeights(12, 9);
    const std::vector<int64_t> codes = Signs(w, false);
    std::vector<int64_t> adims = {1, 1};
    adims[size_t(c.axis)] = 3;
    ConvertResult r = ConvertWithWeightOp(c.op, c.trans_b, [&](OnnxBuilder& b) {
      b.InitF("W", c.dims, w);
      b.InitF("alpha", adims, alpha);
      b.Node("Sign", "sign", {"W"}, {"sw"});
      b.Node("Mul", "mul", {"alpha", "sw"}, {"wd"});
    });
    ASSERT_TRUE(r.ok) << c.op << " transB " << c.trans_b << ":\n" << Joined(r.problems);
    ConvertResult ref = ConvertWithWeightOp(
        c.op, c.trans_b, [&](OnnxBuilder& b) { FoldedWeight(b, c.dims, codes, alpha, c.axis); });
    ASSERT_TRUE(ref.ok) << Joined(ref.problems);
    EXPECT_EQ(testing::AnonymousModel(r.model), testing::AnonymousModel(ref.model))
        << c.op << " transB " << c.trans_b;
    const cv::COp* op = FindOp(r.model, "op");
    ASSERT_NE(op, nullptr);
    const auto& t = r.model.tensors[size_t(op->inputs[1])];
    EXPECT_EQ(t.bits, 1);
    EXPECT_EQ(t.scale, alpha);
  }
}

// Zeros in W give Sign() = 0: ternary {-1, 0, +1} codes, 2-bit TERNARY like the folded form.
TEST(FoldBinaryWeights, ZerosInSignOutputAreTernaryCodes) {
  const std::vector<int64_t> dims = {4, 2, 3, 3};
  std::vector<float> w = RandomWeights(72, 5);
  for (size_t k = 0; k < w.size(); k += 5) w[k] = k % 10 == 0 ? 0.0f : -0.0f;
  const std::vector<float> alpha = {0.5f, 0.25f, 0.37f, 1.3f};
  ConvertResult r = ConvertWithWeightOp("Conv", 0, [&](OnnxBuilder& b) {
    b.InitF("W", dims, w);
    b.InitF("alpha", {4, 1, 1, 1}, alpha);
    b.Node("Sign", "sign", {"W"}, {"sw"});
    b.Node("Mul", "mul", {"sw", "alpha"}, {"wd"});
  });
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  ConvertResult ref = ConvertWithWeightOp(
      "Conv", 0, [&](OnnxBuilder& b) { FoldedWeight(b, dims, Signs(w, false), alpha, 0); });
  ASSERT_TRUE(ref.ok) << Joined(ref.problems);
  EXPECT_EQ(testing::AnonymousModel(r.model), testing::AnonymousModel(ref.model));
  const cv::COp* conv = FindOp(r.model, "op");
  ASSERT_NE(conv, nullptr);
  const auto& t = r.model.tensors[size_t(conv->inputs[1])];
  EXPECT_EQ(t.bits, 2);
  EXPECT_EQ(t.encoding, cv::Encoding::kTernary);
}

// Three distinct magnitudes in one channel: not a binary weight; it stays a float weight, which
// the conversion then lowers as a float layer (CONV_2D version 2, tests/converter/
// float_layers_test.cc) holding the folded float32 values.
TEST(FoldBinaryWeights, ThreeMagnitudesInAChannelAreLeftAlone) {
  const std::vector<int64_t> dims = {4, 2, 1, 1};
  auto add = [&](OnnxBuilder& b) {
    b.InitF("W", dims, {1.f, -1.f, 1.f, 1.f, -1.f, -1.f, 2.f, -0.5f});
    b.InitF("alpha", {4, 1, 1, 1}, {0.5f, 0.25f, 0.37f, 1.3f});
    b.Node("Mul", "mul", {"W", "alpha"}, {"wd"});
  };
  Diagnostics d;
  OnnxBuilder b;
  b.Input("x", {1, 2, 1, 1});
  add(b);
  b.Node("Conv", "op", {"x", "wd"}, {"y"});
  b.Output("y");
  Graph g = Import(b, &d);
  cv::FoldBinaryWeights(&g, &d);
  EXPECT_TRUE(d.ok()) << Joined(d.problems());
  ASSERT_EQ(g.nodes.size(), 1u);  // the Mul was folded, the Conv still reads the float weight
  EXPECT_EQ(g.nodes[0].Input(1), "wd");
  ASSERT_NE(g.FindConst("wd"), nullptr);
  EXPECT_EQ(g.FindConst("wd")->f[6], 2.f * 1.3f);

  ConvertResult r = ConvertWithWeightOp("Conv", 0, [&](OnnxBuilder& b2) {
    b2.InitF("W", {4, 2, 1, 1}, {1.f, -1.f, 1.f, 1.f, -1.f, -1.f, 2.f, -0.5f});
    b2.InitF("alpha", {4, 1, 1, 1}, {0.5f, 0.25f, 0.37f, 1.3f});
    b2.Node("Mul", "mul", {"W", "alpha"}, {"wd"});
  });
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* conv = FindOp(r.model, "op");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->version, 2);
  const auto& w = r.model.tensors[size_t(conv->inputs[1])];
  EXPECT_EQ(w.type, cv::ElemType::kFloat32);
  ASSERT_EQ(w.fdata.size(), 8u);
  EXPECT_EQ(w.fdata[6], 2.f * 1.3f);
}

// Foldable ops that do not feed a weight are not touched.
TEST(FoldBinaryWeights, ConstantsNotFeedingAWeightStay) {
  Diagnostics d;
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("c", {4}, {1.f, -2.f, 3.f, -4.f});
  b.Node("Sign", "sign", {"c"}, {"sc"});
  b.Node("Add", "add", {"x", "sc"}, {"y"});
  b.Output("y");
  Graph g = Import(b, &d);
  const std::string before = cv::DumpGraph(g);
  cv::FoldBinaryWeights(&g, &d);
  EXPECT_TRUE(d.ok()) << Joined(d.problems());
  EXPECT_EQ(cv::DumpGraph(g), before);
}

// Sign on an activation (a BNN's binarized input) is reported by name, once.
TEST(FoldBinaryWeights, SignOnAnActivationIsReported) {
  ConvertResult r = ConvertWithWeightOp("Conv", 0, [&](OnnxBuilder& b) {
    b.InitF("W", {4, 2, 3, 3}, RandomWeights(72, 3));
    b.Node("Sign", "sign_w", {"W"}, {"wd"});
  });
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  b.Node("Sign", "binarize_x", {"x"}, {"xs"});
  b.InitF("W", {4, 2, 3, 3}, RandomWeights(72, 3));
  b.Node("Sign", "sign_w", {"W"}, {"wd"});
  b.Node("Conv", "conv", {"xs", "wd"}, {"c"});
  b.InitF("so", {}, {0.2f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "qy", {"c", "so", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  b.Output("y");
  ConvertResult bad = Convert(b);
  EXPECT_FALSE(bad.ok);
  ASSERT_EQ(bad.problems.size(), 1u) << Joined(bad.problems);
  EXPECT_EQ(bad.problems[0],
            "node 'binarize_x' (op Sign): bipolar (Sign) activations are not supported yet; "
            "quantize activations with QuantizeLinear / QONNX Quant");
}

// MultiThreshold with thresholds (k - 1/2 - z0) * s is QuantizeLinear -> Clip -> DequantizeLinear
// with scale s and zero point z0 = -out_bias / s (UINTn), or zero point qmin + z0 (INTn).
TEST(LowerQonnx, UniformMultiThresholdIsTheQcdqForm) {
  struct Case {
    std::string dtype;
    float bias;        // in steps of s
    int64_t channels;  // rows of the threshold matrix (1 = broadcast)
    int64_t zp, lo, hi;
    int zp_type;
  };
  const float s = 0.3f;
  const Case cases[] = {
      {"UINT2", 0.f, 1, 0, 0, 3, 2},
      {"UINT2", -1.f, 2, 1, 0, 3, 2},
      {"UINT4", 0.f, 2, 0, 0, 15, 2},
      {"INT2", -2.f, 1, 0, -2, 1, 3},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.dtype + " bias " + std::to_string(k.bias) + " rows " +
                 std::to_string(k.channels));
    const int64_t levels = k.hi - k.lo;
    std::vector<float> t;
    for (int64_t j = 1; j <= levels; j++) t.push_back(float((double(j) - 0.5 + k.bias) * s));
    OnnxBuilder b;
    b.Input("x", {1, 2, 2, 2});
    AddMultiThreshold(b, "mt", "x", "y", k.channels, t, k.dtype, s, k.bias * s);
    b.Output("y");
    Diagnostics d;
    std::string lowered;
    LowerAndRecognize(b, &d, &lowered);
    ASSERT_TRUE(d.ok()) << Joined(d.problems());
    EXPECT_EQ(lowered,
              "input x [1,2,2,2]\n"
              "QuantizeLinear 'mt' (x, y/scale, y/zero_point) -> (y/quantized)\n"
              "Clip 'mt/Clip' (y/quantized, y/qmin, y/qmax) -> (y/clipped)\n"
              "DequantizeLinear 'mt/DequantizeLinear' (y/clipped, y/scale, y/zero_point) -> (y)\n"
              "output y\n");
    OnnxBuilder c;
    c.Input("x", {1, 2, 2, 2});
    c.InitF("s", {}, {s});
    c.InitI("z", k.zp_type, {}, {k.zp});
    c.InitI("lo", k.zp_type, {}, {k.lo});
    c.InitI("hi", k.zp_type, {}, {k.hi});
    c.Node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
    c.Node("Clip", "clip", {"xq", "lo", "hi"}, {"xc"});
    c.Node("DequantizeLinear", "dq", {"xc", "s", "z"}, {"y"});
    c.Output("y");
    ConvertResult rm = Convert(b), rc = Convert(c);
    ASSERT_TRUE(rm.ok && rc.ok) << Joined(rm.problems) << Joined(rc.problems);
    EXPECT_EQ(testing::AnonymousModel(rm.model), testing::AnonymousModel(rc.model));
  }
}

// Thresholds must be the rounding boundaries up to float32 rounding (1e-5 relative); a threshold
// off by a thousandth of a step is another function and is reported.
TEST(LowerQonnx, NonUniformMultiThresholdIsReported) {
  const float s = 0.25f;
  for (double off : {1e-7, 1e-3}) {
    OnnxBuilder b;
    b.Input("x", {1, 4});
    AddMultiThreshold(b, "mt", "x", "y", 1,
                      {float(0.5 * s), float(1.5 * s * (1 + off)), float(2.5 * s)}, "UINT2", s,
                      0.f);
    b.Output("y");
    ConvertResult r = Convert(b);
    if (off < 1e-5) {
      EXPECT_TRUE(r.ok) << Joined(r.problems);
    } else {
      ASSERT_FALSE(r.ok);
      EXPECT_NE(Joined(r.problems)
                    .find("node 'mt' (op qonnx.custom_op.general.MultiThreshold): non-uniform "
                          "thresholds: threshold 2 of channel 0"),
                std::string::npos)
          << Joined(r.problems);
    }
  }
}

// ------------------------------------------------------------------ batch norm / fusion

// x -> Q/DQ -> Conv(1x1, 2 -> 2, no bias) -> BN -> Relu -> Q/DQ -> y
OnnxBuilder BnModel() {
  OnnxBuilder b;
  b.Input("x", {1, 2, 2, 2});
  b.InitF("s", {}, {0.5f});
  b.InitI("z", 2, {}, {10});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  b.InitI("w", 3, {2, 2, 1, 1}, {1, -1, 0, 1});
  b.InitF("ws", {2}, {0.25f, 0.125f});
  b.InitI("wz", 3, {2}, {0, 0});
  auto* dqw = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  OnnxBuilder::AttrI(dqw, "axis", 0);
  b.Node("Conv", "conv", {"xd", "wd"}, {"c"});
  b.InitF("gamma", {2}, {2.0f, -0.5f});
  b.InitF("beta", {2}, {0.25f, 1.0f});
  b.InitF("mean", {2}, {0.1f, -0.3f});
  b.InitF("var", {2}, {4.0f, 0.25f});
  auto* bn = b.Node("BatchNormalization", "bn", {"c", "gamma", "beta", "mean", "var"}, {"n"});
  OnnxBuilder::AttrF(bn, "epsilon", 0.0f);
  b.Node("Relu", "relu", {"n"}, {"r"});
  b.InitF("so", {}, {0.2f});
  b.InitI("zo", 2, {}, {0});
  b.Node("QuantizeLinear", "qy", {"r", "so", "zo"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "zo"}, {"y"});
  b.Output("y");
  return b;
}

TEST(FoldBatchNorm, FoldsIntoMulAddWithoutTouchingCodes) {
  OnnxBuilder b = BnModel();
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* conv = FindOp(r.model, "conv");
  ASSERT_NE(conv, nullptr);
  ASSERT_EQ(conv->inputs.size(), 4u);
  const auto& w = r.model.tensors[size_t(conv->inputs[1])];
  EXPECT_EQ(w.codes, (std::vector<int64_t>{1, -1, 0, 1}));
  EXPECT_EQ(w.scale, (std::vector<float>{0.25f, 0.125f}));
  const auto& mul = r.model.tensors[size_t(conv->inputs[2])].fdata;
  const auto& add = r.model.tensors[size_t(conv->inputs[3])].fdata;
  const double g0 = 2.0 / std::sqrt(4.0), g1 = -0.5 / std::sqrt(0.25);
  EXPECT_EQ(mul[0], float(0.5 * 0.25 * g0 / double(0.2f)));
  EXPECT_EQ(mul[1], float(0.5 * 0.125 * g1 / double(0.2f)));
  EXPECT_EQ(add[0], float((0.25 - double(0.1f) * g0) / double(0.2f)));
  EXPECT_EQ(add[1], float((1.0 - double(-0.3f) * g1) / double(0.2f)));
  // The fused Relu clamps at the output zero point.
  EXPECT_EQ(conv->clamp.qmin, 0);
  EXPECT_EQ(conv->clamp.qmax, 255);
  for (const auto& n : r.graph.nodes) EXPECT_NE(n.op_type, "BatchNormalization");
}

TEST(FoldBatchNorm, UnfoldableBatchNormIsReported) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 2, 2});
  b.InitF("g", {2}, {1, 1});
  b.Node("BatchNormalization", "bn", {"x", "g", "g", "g", "g"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("node 'bn' (op BatchNormalization)"), std::string::npos);
}

TEST(FuseActivations, ReluAndClipFoldIntoTheProducerClamp) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.5f});
  b.InitI("z", 2, {}, {100});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  b.Node("Add", "add", {"xd", "xd"}, {"a"});
  b.InitF("lo", {}, {-1.0f});
  b.InitF("hi", {}, {6.0f});
  b.Node("Clip", "clip", {"a", "lo", "hi"}, {"c"});
  b.Node("Relu", "relu", {"c"}, {"r"});
  b.Node("QuantizeLinear", "qy", {"r", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* add = FindOp(r.model, "add");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->opcode, cv::OpCode::kAdd);
  // Relu: q >= z = 100; Clip max 6: E(6 / 0.5) = 12 + 100.
  EXPECT_EQ(add->clamp.qmin, 100);
  EXPECT_EQ(add->clamp.qmax, 112);
  EXPECT_EQ(r.model.ops.size(), 3u);  // QUANTIZE, ADD, DEQUANTIZE
}

TEST(FuseActivations, StandaloneClipOnQuantizedTensorBecomesRequantize) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  b.InitF("lo", {}, {0.0f});
  b.InitF("hi", {}, {6.0f});
  b.Node("Clip", "relu6", {"xd", "lo", "hi"}, {"c"});
  b.Node("QuantizeLinear", "qy", {"c", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "relu6");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->opcode, cv::OpCode::kRequantize);
  EXPECT_EQ(op->clamp.qmin, 0);
  EXPECT_EQ(op->clamp.qmax, 60);
}

// ------------------------------------------------------------------ lowering

TEST(LowerToCrumb, RequantizeOnlyWhenParametersDiffer) {
  for (bool same : {true, false}) {
    OnnxBuilder b;
    b.Input("x", {1, 4});
    b.InitF("s", {}, {0.1f});
    b.InitF("s2", {}, {same ? 0.1f : 0.3f});
    b.InitI("z", 2, {}, {0});
    b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
    b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
    b.Node("QuantizeLinear", "q2", {"xd", "s2", "z"}, {"x2"});
    b.Node("DequantizeLinear", "dq2", {"x2", "s2", "z"}, {"y"});
    b.Output("y");
    ConvertResult r = Convert(b);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    EXPECT_EQ(r.model.ops.size(), same ? 2u : 3u);
    if (!same) {
      EXPECT_EQ(r.model.ops[1].opcode, cv::OpCode::kRequantize);
    }
  }
}

// x -> Q/DQ -> Gemm / MatMul with a [K, N] weight quantized per column -> [Q/DQ] -> y
OnnxBuilder FcModel(const std::string& op, bool float_output) {
  OnnxBuilder b;
  b.Input("x", {2, 3});
  b.InitF("s", {}, {0.5f});
  b.InitI("z", 2, {}, {128});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  b.InitI("w", 3, {3, 2}, {1, -3, 2, 0, -1, 3});  // [K=3, N=2]
  b.InitF("ws", {2}, {0.25f, 0.5f});
  b.InitI("wz", 3, {2}, {0, 0});
  auto* dqw = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  OnnxBuilder::AttrI(dqw, "axis", 1);
  b.InitF("bias", {2}, {1.0f, -2.0f});
  const std::string out = float_output ? "y" : "m";
  if (op == "Gemm") {
    auto* g = b.Node("Gemm", "fc", {"xd", "wd", "bias"}, {out});
    OnnxBuilder::AttrF(g, "alpha", 2.0f);
    OnnxBuilder::AttrF(g, "beta", 0.5f);
  } else {
    b.Node("MatMul", "fc", {"xd", "wd"}, {"mm"});
    b.Node("Add", "bias_add", {"mm", "bias"}, {out});
  }
  if (!float_output) {
    b.InitF("so", {}, {0.25f});
    b.Node("QuantizeLinear", "qy", {"m", "so", "z"}, {"yq"});
    b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  }
  b.Output("y");
  return b;
}

TEST(LowerToCrumb, GemmTransB0TransposesTheWeightAndFoldsAlphaBeta) {
  OnnxBuilder b = FcModel("Gemm", false);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* fc = FindOp(r.model, "fc");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->opcode, cv::OpCode::kFullyConnected);
  const auto& w = r.model.tensors[size_t(fc->inputs[1])];
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.codes, (std::vector<int64_t>{1, 2, -1, -3, 0, 3}));
  EXPECT_EQ(w.axis, 0);
  EXPECT_EQ(w.scale, (std::vector<float>{0.25f, 0.5f}));
  EXPECT_EQ(w.bits, 3);  // codes in [-3, 3]
  const auto& mul = r.model.tensors[size_t(fc->inputs[2])].fdata;
  const auto& add = r.model.tensors[size_t(fc->inputs[3])].fdata;
  EXPECT_EQ(mul,
            (std::vector<float>{float(0.5 * 0.25 * 2.0 / 0.25), float(0.5 * 0.5 * 2.0 / 0.25)}));
  EXPECT_EQ(add, (std::vector<float>{float(0.5 * 1.0 / 0.25), float(0.5 * -2.0 / 0.25)}));
  EXPECT_EQ(r.model.tensors[size_t(fc->outputs[0])].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(fc->bits_label, "w3a8");
}

TEST(LowerToCrumb, MatMulWithBiasAddAndFloatOutput) {
  OnnxBuilder b = FcModel("MatMul", true);
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* fc = FindOp(r.model, "fc");
  ASSERT_NE(fc, nullptr);
  const auto& out = r.model.tensors[size_t(fc->outputs[0])];
  EXPECT_EQ(out.type, cv::ElemType::kFloat32);
  EXPECT_EQ(out.name, "y");
  const auto& mul = r.model.tensors[size_t(fc->inputs[2])].fdata;
  const auto& add = r.model.tensors[size_t(fc->inputs[3])].fdata;
  EXPECT_EQ(mul, (std::vector<float>{0.125f, 0.25f}));  // sx * sw, no output scale
  EXPECT_EQ(add, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(r.model.outputs, std::vector<int>{fc->outputs[0]});
}

TEST(LowerToCrumb, ReshapeZeroAndMinusOneWithDynamicBatch) {
  for (bool dynamic : {true, false}) {
    OnnxBuilder b;
    b.Input("x", {dynamic ? -1 : 2, 4, 2, 2});
    b.InitF("s", {}, {0.1f});
    b.InitI("z", 2, {}, {0});
    b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
    b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
    b.InitI("shape", 7, {3}, {0, -1, 4});
    b.Node("Reshape", "reshape", {"xd", "shape"}, {"r"});
    b.Node("QuantizeLinear", "qr", {"r", "s", "z"}, {"rq"});
    b.Node("DequantizeLinear", "dqr", {"rq", "s", "z"}, {"y"});
    b.Output("y");
    ConvertResult r = Convert(b);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const cv::COp* op = FindOp(r.model, "reshape");
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->opcode, cv::OpCode::kReshape);
    EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape,
              (std::vector<int64_t>{dynamic ? -1 : 2, 4, 4}));
    EXPECT_EQ(r.model.tensors[size_t(r.model.inputs[0])].shape[0], dynamic ? -1 : 2);
  }
}

TEST(LowerToCrumb, ConvGeometryWithAutoPadAndGroups) {
  OnnxBuilder b;
  b.Input("x", {1, 4, 7, 7});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s", "z"}, {"xd"});
  std::vector<int64_t> codes(4 * 9, 1);
  b.InitI("w", 3, {4, 1, 3, 3}, codes);
  b.InitF("ws", {}, {0.5f});
  b.Node("DequantizeLinear", "dqw", {"w", "ws"}, {"wd"});
  auto* c = b.Node("Conv", "dw", {"xd", "wd"}, {"c"});
  OnnxBuilder::AttrI(c, "group", 4);
  OnnxBuilder::AttrS(c, "auto_pad", "SAME_LOWER");
  OnnxBuilder::AttrInts(c, "strides", {2, 2});
  OnnxBuilder::AttrInts(c, "dilations", {2, 1});
  b.Node("QuantizeLinear", "qy", {"c", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* op = FindOp(r.model, "dw");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->groups, 4);
  // out = ceil(7 / 2) = 4; H: effective kernel 5, total pad 3*2 + 5 - 7 = 4 -> 2 / 2;
  // W: effective kernel 3, total pad 2 -> SAME_LOWER puts the odd one first: 1 / 1.
  EXPECT_EQ(Pads(*op), (std::vector<int>{2, 1, 2, 1}));
  EXPECT_EQ(r.model.tensors[size_t(op->outputs[0])].shape, (std::vector<int64_t>{1, 4, 4, 4}));
  // Per-tensor weight parameters become per output channel.
  const auto& w = r.model.tensors[size_t(op->inputs[1])];
  EXPECT_EQ(w.scale.size(), 4u);
  EXPECT_EQ(w.zero_point, (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(LowerToCrumb, Int32QuantizedBiasIsEvaluatedToFloats) {
  OnnxBuilder b = FcModel("Gemm", true);
  onnx::GraphProto* g = b.graph();
  // Replace the float bias by DequantizeLinear(int32 codes, scale 0.5).
  for (auto& n : *g->mutable_node())
    if (n.name() == "fc") n.set_input(2, "bias_dq");
  b.InitI("bias_q", 6, {2}, {2, -4});
  b.InitF("bias_s", {}, {0.5f});
  auto* dq = g->add_node();
  dq->set_op_type("DequantizeLinear");
  dq->set_name("dq_bias");
  dq->add_input("bias_q");
  dq->add_input("bias_s");
  dq->add_output("bias_dq");
  g->mutable_node()->SwapElements(0, g->node_size() - 1);  // keep it before its reader
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* fc = FindOp(r.model, "fc");
  ASSERT_NE(fc, nullptr);
  // Float output: add = beta * bias = 0.5 * (1, -2).
  EXPECT_EQ(r.model.tensors[size_t(fc->inputs[3])].fdata, (std::vector<float>{0.5f, -1.0f}));
}

TEST(LowerToCrumb, FloatOutputOfAnUnquantizedOpIsReported) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.InitF("s", {}, {0.1f});
  b.Node("QuantizeLinear", "qx", {"x", "s"}, {"xq"});
  b.Node("DequantizeLinear", "dqx", {"xq", "s"}, {"xd"});
  b.Node("Add", "add", {"xd", "xd"}, {"y"});
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("node 'add' (op Add)"), std::string::npos);
}

// ------------------------------------------------------------------ family / pack / write

// x -> Q/[Clip]/DQ (abits, unsigned) -> Conv (int8 / uint8 weight codes, per channel) -> Q/DQ
// (8-bit) -> y. The weight codes are deterministic in [wlo, whi], every output channel reaching
// both ends so that the inferred width and encoding are known.
struct ConvSpec {
  int64_t cin = 8, cout = 16, groups = 1, kh = 3, kw = 3;
  int abits = 2;
  int64_t wlo = -2, whi = 1;  // int8 storage, or uint8 when wlo >= 0 and wzp > 0
  int64_t wzp = 0;
  bool binary = false;        // codes -1 / +1 only (a trainer's sign(), folded)
  int zero_blocks_of_10 = 0;  // 1x4 blocks (along k) set to the zero point: this many of every 10
};

OnnxBuilder ConvNet(const ConvSpec& s, std::vector<int64_t>* codes) {
  OnnxBuilder b;
  b.Input("x", {1, s.cin, 5, 5});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "qx", {"x", "s", "z"}, {"xq"});
  std::string xq = "xq";
  if (s.abits < 8) {
    b.InitI("lo", 2, {}, {0});
    b.InitI("hi", 2, {}, {(int64_t(1) << s.abits) - 1});
    b.Node("Clip", "clipx", {"xq", "lo", "hi"}, {"xc"});
    xq = "xc";
  }
  b.Node("DequantizeLinear", "dqx", {xq, "s", "z"}, {"xd"});
  const int64_t k = s.cin / s.groups * s.kh * s.kw;
  codes->assign(size_t(s.cout * k), 0);
  uint32_t r = 7;
  for (int64_t o = 0; o < s.cout; o++)
    for (int64_t e = 0; e < k; e++) {
      r = r * 1103515245u + 12345u;
      int64_t c = s.wlo + int64_t((r >> 16) % uint32_t(s.whi - s.wlo + 1));
      if (e == 0) c = s.wlo;
      if (e == 1) c = s.whi;
      if (s.binary) c = c < 0 ? -1 : 1;
      if (int64_t((o * ((k + 3) / 4) + e / 4) % 10) < s.zero_blocks_of_10) c = s.wzp;
      (*codes)[size_t(o * k + e)] = c;
    }
  const int wtype = s.wzp > 0 ? 2 : 3;
  b.InitI("w", wtype, {s.cout, s.cin / s.groups, s.kh, s.kw}, *codes);
  b.InitF("ws", {s.cout}, std::vector<float>(size_t(s.cout), 0.05f));
  b.InitI("wz", wtype, {s.cout}, std::vector<int64_t>(size_t(s.cout), s.wzp));
  auto* dqw = b.Node("DequantizeLinear", "dqw", {"w", "ws", "wz"}, {"wd"});
  OnnxBuilder::AttrI(dqw, "axis", 0);
  auto* c = b.Node("Conv", "conv", {"xd", "wd"}, {"c"});
  OnnxBuilder::AttrInts(c, "kernel_shape", {s.kh, s.kw});
  OnnxBuilder::AttrInts(c, "pads", {s.kh / 2, s.kw / 2, s.kh / 2, s.kw / 2});
  if (s.groups > 1) OnnxBuilder::AttrI(c, "group", s.groups);
  b.InitF("so", {}, {0.2f});
  b.Node("QuantizeLinear", "qy", {"c", "so", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dqy", {"yq", "so", "z"}, {"y"});
  b.Output("y");
  return b;
}

ConvertResult ConvertWith(OnnxBuilder& b, cv::KernelFamily family,
                          cv::Target target = cv::Target::kPortable) {
  cv::ConvertOptions o;
  o.family = family;
  o.target = target;
  return ConvertModel(b.model(), std::string(64, 'a'), o);
}

// ONNX [O, Cin/G, KH, KW] codes -> rows of (tap, channel) order, as every layout reads them.
std::vector<int32_t> TapMajor(const std::vector<int64_t>& codes, const ConvSpec& s) {
  const int64_t ci = s.cin / s.groups, taps = s.kh * s.kw, k = ci * taps;
  std::vector<int32_t> v(codes.size());
  for (int64_t o = 0; o < s.cout; o++)
    for (int64_t c = 0; c < ci; c++)
      for (int64_t t = 0; t < taps; t++)
        v[size_t(o * k + t * ci + c)] = int32_t(codes[size_t(o * k + c * taps + t)]);
  return v;
}

// Unpacks a LUT_W2_N64 weight group by group into values (code - zero point).
std::vector<int32_t> UnpackLut(const cv::CTensor& w, const ConvSpec& s) {
  const size_t og = size_t(s.cout / s.groups), ks = size_t(s.kh * s.kw);
  const size_t kc = size_t(s.cin / s.groups), k = ks * kc;
  std::vector<int32_t> zw(w.zero_point.begin(), w.zero_point.end());
  int8_t vmap[4];
  EXPECT_EQ(crumb_lut_value_map(unsigned(w.bits), unsigned(w.encoding), zw.data(), zw.size(), vmap),
            1);
  std::vector<int32_t> values(size_t(s.cout) * k);
  const size_t group_bytes = crumb_lut_packed_size(og, ks, kc);
  for (size_t g = 0; g < size_t(s.groups); g++)
    EXPECT_EQ(crumb_lut_unpack(w.bytes.data() + g * group_bytes, vmap, og, ks, kc,
                               values.data() + g * og * k),
              1)
        << "group " << g;
  return values;
}

std::vector<int32_t> UnpackDot(const cv::CTensor& w, const ConvSpec& s) {
  const size_t og = size_t(s.cout / s.groups), ks = size_t(s.kh * s.kw);
  const size_t kc = size_t(s.cin / s.groups), k = ks * kc;
  std::vector<int32_t> codes(size_t(s.cout) * k);
  const size_t group_bytes = crumb_dot_packed_size(og, ks, kc, unsigned(w.bits));
  const int is_signed = w.encoding != cv::Encoding::kUnsigned;
  for (size_t g = 0; g < size_t(s.groups); g++)
    crumb_dot_unpack(w.bytes.data() + g * group_bytes, og, ks, kc, unsigned(w.bits), is_signed,
                     codes.data() + g * og * k);
  return codes;
}

// ConvNet(s) converted with `family` preferred: the codes, the result, its op "conv" and the
// conv's weight tensor. ASSERTs that it converted and has the op (callers wrap the call in
// ASSERT_NO_FATAL_FAILURE).
struct ConvertedConv {
  std::vector<int64_t> codes;
  ConvertResult r;
  const cv::COp* conv = nullptr;
  const cv::CTensor& weight() const { return r.model.tensors[size_t(conv->inputs[1])]; }
};
void ConvertConv(const ConvSpec& s, ConvertedConv* out,
                 cv::KernelFamily family = cv::KernelFamily::kAuto,
                 cv::SparseMode sparse = cv::SparseMode::kAuto) {
  OnnxBuilder b = ConvNet(s, &out->codes);
  cv::ConvertOptions o;
  o.family = family;
  o.sparse = sparse;
  out->r = ConvertModel(b.model(), std::string(64, 'a'), o);
  ASSERT_TRUE(out->r.ok) << Joined(out->r.problems);
  out->conv = FindOp(out->r.model, "conv");
  ASSERT_NE(out->conv, nullptr);
}

// Folded +-1 weights are bipolar 1-bit; with 1- or 2-bit activations they go to the bitserial
// family (as do ternary weights times 1-bit activations) and are packed BITSERIAL_N64.
TEST(PackWeights, BinaryAndOneBitActivationLayersAreBitserialN64) {
  ConvSpec binary_a2;
  binary_a2.binary = true, binary_a2.wlo = -1, binary_a2.whi = 1, binary_a2.cout = 70;
  ConvSpec binary_a1 = binary_a2;
  binary_a1.abits = 1, binary_a1.cin = 5;
  ConvSpec ternary_a1;
  ternary_a1.abits = 1, ternary_a1.wlo = -1, ternary_a1.whi = 1;
  for (const ConvSpec& s : {binary_a2, binary_a1, ternary_a1}) {
    ConvertedConv cc;
    ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
    const cv::COp* conv = cc.conv;
    const std::vector<int64_t>& codes = cc.codes;
    EXPECT_EQ(conv->family, cv::KernelFamily::kBitserial);
    const auto& w = cc.weight();
    EXPECT_EQ(w.bits, s.binary ? 1 : 2);
    EXPECT_EQ(w.encoding, s.binary ? cv::Encoding::kBipolar : cv::Encoding::kTernary);
    EXPECT_EQ(w.layout, cv::Layout::kBitserialN64);
    const size_t ks = size_t(s.kh * s.kw), kc = size_t(s.cin);
    ASSERT_EQ(w.bytes.size(),
              crumb_bitserial_packed_size(size_t(s.cout), ks, kc, unsigned(w.bits)));
    std::vector<int32_t> values(size_t(s.cout) * ks * kc);
    ASSERT_EQ(crumb_bitserial_unpack(w.bytes.data(), unsigned(w.bits), size_t(s.cout), ks, kc,
                                     values.data()),
              1);
    EXPECT_EQ(values, TapMajor(codes, s));
  }
}

TEST(ChooseKernelFamily, ConvAndFcByTheRuleOtherOpsAutoScalarWhenForced) {
  ConvModel cm(ConvModelSpec{});  // conv: W2 x A8 (dot); FC: ternary W2 x unsigned A4 (lut)
  OnnxBuilder& b = cm.Build();
  ConvertResult a = ConvertWith(b, cv::KernelFamily::kAuto);
  ConvertResult s = ConvertWith(b, cv::KernelFamily::kScalar);
  ASSERT_TRUE(a.ok && s.ok) << Joined(a.problems) << Joined(s.problems);
  for (const auto& op : a.model.ops) {
    const cv::KernelFamily want = op.name == "/conv/Conv" ? cv::KernelFamily::kDot
                                  : op.name == "/fc/Gemm" ? cv::KernelFamily::kLut
                                                          : cv::KernelFamily::kAuto;
    EXPECT_EQ(op.family, want) << op.name;
  }
  for (const auto& op : s.model.ops) EXPECT_EQ(op.family, cv::KernelFamily::kScalar) << op.name;
  for (const auto& t : s.model.tensors) {
    if (t.is_const && t.type == cv::ElemType::kQuant) {
      EXPECT_EQ(t.layout, cv::Layout::kRowsLsb);
    }
  }
  // The FC weight: one group, one tap of K = 4 channels.
  const cv::COp* fc = FindOp(a.model, "/fc/Gemm");
  ASSERT_NE(fc, nullptr);
  const auto& w = a.model.tensors[size_t(fc->inputs[1])];
  EXPECT_EQ(w.encoding, cv::Encoding::kTernary);
  EXPECT_EQ(w.layout, cv::Layout::kLutW2N64);
  ASSERT_EQ(w.bytes.size(), crumb_lut_packed_size(3, 1, 4));
  int8_t vmap[4];
  const int32_t zw[3] = {0, 0, 0};
  ASSERT_EQ(crumb_lut_value_map(2, CRUMB_ENC_TERNARY, zw, 3, vmap), 1);
  std::vector<int32_t> values(12);
  ASSERT_EQ(crumb_lut_unpack(w.bytes.data(), vmap, 3, 1, 4, values.data()), 1);
  EXPECT_EQ(values, std::vector<int32_t>(cm.fc_codes.begin(), cm.fc_codes.end()));
}

// A named target takes each layer's family from that CPU class's table row: the FC (ternary W2 x
// unsigned A4, one output row) is lut by the portable rule but dot on the x86 rows (int8 dot
// products at M = 1), recorded with the dot packing and the target in the metadata; the 3x3
// conv (W2 x A8) is dot everywhere. A forced family still wins over a target, as FORCED.
// 1x1 convolutions whose weights are mostly zero 1x4 blocks are stored SPARSE_B4 (the values
// unpack to code - zero point); with 25 output rows the threshold is 0.85, so 70 % stays dense
// unless --sparse on forces it, and --sparse off keeps 90 % dense.
TEST(ChooseKernelFamily, SparseOneByOneByBlockSparsity) {
  ConvSpec s;
  s.cin = 32, s.cout = 16, s.kh = s.kw = 1, s.abits = 4, s.wlo = -7, s.whi = 7;
  s.zero_blocks_of_10 = 9;
  ConvertedConv cc;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
  EXPECT_EQ(cc.conv->family, cv::KernelFamily::kSparse);
  EXPECT_EQ(cc.conv->family_source, cv::FamilySource::kTable);
  const auto& w = cc.weight();
  ASSERT_EQ(w.layout, cv::Layout::kSparseB4);
  std::vector<int32_t> v(16 * 32);
  ASSERT_EQ(crumb_sparse_unpack(w.bytes.data(), w.bytes.size(), v.data()), 0);
  for (size_t i = 0; i < v.size(); i++) ASSERT_EQ(v[i], cc.codes[i]) << i;
  ConvertedConv off;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &off, cv::KernelFamily::kAuto, cv::SparseMode::kOff));
  EXPECT_NE(off.conv->family, cv::KernelFamily::kSparse);
  s.zero_blocks_of_10 = 7;
  ConvertedConv dense, forced;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &dense));
  EXPECT_NE(dense.conv->family, cv::KernelFamily::kSparse);
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &forced, cv::KernelFamily::kAuto, cv::SparseMode::kOn));
  EXPECT_EQ(forced.conv->family, cv::KernelFamily::kSparse);
  EXPECT_EQ(forced.conv->family_source, cv::FamilySource::kForced);
  // A 3x3 conv is never sparse (the kernels take one tap).
  s.kh = s.kw = 3, s.zero_blocks_of_10 = 10;
  ConvertedConv spatial;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &spatial, cv::KernelFamily::kAuto, cv::SparseMode::kOn));
  EXPECT_NE(spatial.conv->family, cv::KernelFamily::kSparse);
}

TEST(ChooseKernelFamily, TargetUsesItsTableRow) {
  ConvModel cm(ConvModelSpec{});
  OnnxBuilder& b = cm.Build();
  for (cv::Target t : {cv::Target::kX86Avx2, cv::Target::kX86Avx512}) {
    ConvertResult r = ConvertWith(b, cv::KernelFamily::kAuto, t);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const cv::COp* fc = FindOp(r.model, "/fc/Gemm");
    const cv::COp* conv = FindOp(r.model, "/conv/Conv");
    ASSERT_TRUE(fc && conv);
    EXPECT_EQ(fc->family, cv::KernelFamily::kDot) << cv::TargetName(t);
    EXPECT_EQ(fc->family_source, cv::FamilySource::kTable);
    EXPECT_EQ(r.model.tensors[size_t(fc->inputs[1])].layout, cv::Layout::kDotN16K4);
    EXPECT_EQ(conv->family, cv::KernelFamily::kDot);
    bool has_target = false;
    for (const auto& kv : r.model.metadata)
      has_target |= kv.first == cv::kMetaFamilyTarget && kv.second == cv::TargetName(t);
    EXPECT_TRUE(has_target) << cv::TargetName(t);
  }
  ConvertResult forced = ConvertWith(b, cv::KernelFamily::kLut, cv::Target::kX86Avx512);
  ASSERT_TRUE(forced.ok) << Joined(forced.problems);
  const cv::COp* fc = FindOp(forced.model, "/fc/Gemm");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->family, cv::KernelFamily::kLut);
  EXPECT_EQ(fc->family_source, cv::FamilySource::kForced);
  cv::Target parsed;
  EXPECT_TRUE(cv::ParseTarget("arm64-dotprod", &parsed));
  EXPECT_EQ(parsed, cv::Target::kArm64Dotprod);
  EXPECT_FALSE(cv::ParseTarget("x86", &parsed));
}

TEST(PackWeights, ConvRowsAreKhKwCiOrderLsbFirst) {
  ConvModelSpec spec;
  spec.wbits = 2;
  ConvModel cm(spec);
  OnnxBuilder& b = cm.Build();
  ConvertResult r = ConvertWith(b, cv::KernelFamily::kScalar);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* conv = FindOp(r.model, "/conv/Conv");
  ASSERT_NE(conv, nullptr);
  const auto& w = r.model.tensors[size_t(conv->inputs[1])];
  EXPECT_EQ(w.layout, cv::Layout::kRowsLsb);
  const size_t k = 18;
  ASSERT_EQ(w.bytes.size(), crumb_rows_lsb_size(4, k, 2));
  std::vector<int32_t> un(4 * k);
  crumb_unpack_rows_lsb(w.bytes.data(), 4, k, 2, 1, un.data());
  for (size_t o = 0; o < 4; o++)
    for (size_t c = 0; c < 2; c++)
      for (size_t y = 0; y < 3; y++)
        for (size_t x = 0; x < 3; x++)
          ASSERT_EQ(un[o * k + (y * 3 + x) * 2 + c], cm.conv_codes[((o * 2 + c) * 3 + y) * 3 + x]);
}

TEST(PackWeights, W2A2ConvIsLutW2N64) {
  // Signed 2-bit (the model's codes are the kernel's), and unsigned 2-bit with zero point 1
  // (values -1..2: the value map renumbers them); 70 channels span two 64-channel blocks.
  ConvSpec signed2;
  signed2.cout = 70;
  ConvSpec unsigned2;
  unsigned2.wlo = 0, unsigned2.whi = 3, unsigned2.wzp = 1, unsigned2.cin = 5;
  for (const ConvSpec& s : {signed2, unsigned2}) {
    ConvertedConv cc;
    ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
    const cv::COp* conv = cc.conv;
    const std::vector<int64_t>& codes = cc.codes;
    EXPECT_EQ(conv->family, cv::KernelFamily::kLut);
    const auto& w = cc.weight();
    EXPECT_EQ(w.bits, 2);
    EXPECT_EQ(w.layout, cv::Layout::kLutW2N64);
    ASSERT_EQ(w.bytes.size(), crumb_lut_packed_size(size_t(s.cout), 9, size_t(s.cin)));
    std::vector<int32_t> want = TapMajor(codes, s);
    for (auto& v : want) v -= int32_t(s.wzp);
    EXPECT_EQ(UnpackLut(w, s), want);
  }
}

TEST(PackWeights, W4A8ConvIsDotN16K4) {
  ConvSpec s;
  s.abits = 8, s.wlo = -7, s.whi = 7, s.cout = 20, s.cin = 6;
  ConvertedConv cc;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
  const cv::COp* conv = cc.conv;
  const std::vector<int64_t>& codes = cc.codes;
  EXPECT_EQ(conv->family, cv::KernelFamily::kDot);
  const auto& w = cc.weight();
  EXPECT_EQ(w.bits, 4);
  EXPECT_EQ(w.layout, cv::Layout::kDotN16K4);
  ASSERT_EQ(w.bytes.size(), crumb_dot_packed_size(20, 9, 6, 4));
  EXPECT_EQ(UnpackDot(w, s), TapMajor(codes, s));
}

TEST(PackWeights, GroupedConvPacksEachGroupAndConcatenates) {
  // 20 channels per group: packing the tensor whole would fill 3 dot blocks, per group 2 + 2;
  // 16 per group: one lut block per group instead of one for both.
  ConvSpec dot32;
  dot32.groups = 2, dot32.cout = 32, dot32.cin = 6, dot32.abits = 8, dot32.wlo = -7, dot32.whi = 7;
  ConvSpec dot40 = dot32;
  dot40.cout = 40;
  ConvSpec lut32 = dot32;
  lut32.abits = 2, lut32.wlo = -1, lut32.whi = 1;  // ternary
  for (const ConvSpec& s : {dot32, dot40, lut32}) {
    ConvertedConv cc;
    ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
    const cv::COp* conv = cc.conv;
    const std::vector<int64_t>& codes = cc.codes;
    EXPECT_EQ(conv->groups, 2);
    const auto& w = cc.weight();
    const size_t per_group = size_t(s.cout / 2);
    if (s.abits == 8) {
      EXPECT_EQ(conv->family, cv::KernelFamily::kDot);
      EXPECT_EQ(w.layout, cv::Layout::kDotN16K4);
      ASSERT_EQ(w.bytes.size(), 2 * crumb_dot_packed_size(per_group, 9, 3, 4));
      EXPECT_EQ(UnpackDot(w, s), TapMajor(codes, s));
    } else {
      EXPECT_EQ(conv->family, cv::KernelFamily::kLut);
      EXPECT_EQ(w.layout, cv::Layout::kLutW2N64);
      ASSERT_EQ(w.bytes.size(), 2 * crumb_lut_packed_size(per_group, 9, 3));
      EXPECT_EQ(UnpackLut(w, s), TapMajor(codes, s));
    }
  }
}

// A depthwise conv goes to the dwconv family (a GEMM preference it cannot take falls back to the
// rule), packed DWCONV_C64; a grouped conv with 2 channels per group has no SIMD family and stays
// scalar on ROWS_LSB.
TEST(PackWeights, DepthwiseConvIsDwconvOtherSmallGroupsStayScalar) {
  ConvSpec s;
  s.groups = 8, s.cin = 8, s.cout = 8;
  ConvertedConv cc;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc, cv::KernelFamily::kLut));
  EXPECT_EQ(cc.conv->family, cv::KernelFamily::kDwconv);
  const auto& w = cc.weight();
  EXPECT_EQ(w.layout, cv::Layout::kDwconvC64);
  ASSERT_EQ(w.bytes.size(), crumb_dwconv_packed_size(8, 9));
  std::vector<int32_t> values(8 * 9);
  ASSERT_EQ(crumb_dwconv_unpack(w.bytes.data(), 8, 9, values.data()), 1);
  ConvSpec g;
  g.groups = 4, g.cin = 8, g.cout = 8;
  ConvertedConv gc;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(g, &gc, cv::KernelFamily::kAuto));
  EXPECT_EQ(gc.conv->family, cv::KernelFamily::kScalar);
  EXPECT_EQ(gc.weight().layout, cv::Layout::kRowsLsb);
  EXPECT_EQ(gc.weight().bytes.size(), crumb_rows_lsb_size(8, 2 * 9, 2));
}

TEST(ChooseKernelFamily, ForcedScalarKeepsRowsLsbAndPreferencesFallBackToTheRule) {
  ConvSpec w2a2;
  std::vector<int64_t> codes;
  OnnxBuilder b = ConvNet(w2a2, &codes);
  ConvertResult scalar = ConvertWith(b, cv::KernelFamily::kScalar);
  ConvertResult dot = ConvertWith(b, cv::KernelFamily::kDot);
  ASSERT_TRUE(scalar.ok && dot.ok) << Joined(scalar.problems) << Joined(dot.problems);
  const cv::COp* c = FindOp(scalar.model, "conv");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->family, cv::KernelFamily::kScalar);
  EXPECT_EQ(scalar.model.tensors[size_t(c->inputs[1])].layout, cv::Layout::kRowsLsb);
  c = FindOp(dot.model, "conv");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->family, cv::KernelFamily::kDot);
  EXPECT_EQ(dot.model.tensors[size_t(c->inputs[1])].layout, cv::Layout::kDotN16K4);
  // W4 x A8 cannot run on lut: the rule gives dot.
  ConvSpec w4a8;
  w4a8.abits = 8, w4a8.wlo = -7, w4a8.whi = 7;
  OnnxBuilder b4 = ConvNet(w4a8, &codes);
  ConvertResult lut = ConvertWith(b4, cv::KernelFamily::kLut);
  ASSERT_TRUE(lut.ok) << Joined(lut.problems);
  c = FindOp(lut.model, "conv");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->family, cv::KernelFamily::kDot);
}

TEST(ChooseKernelFamily, W2WeightsWithEightBitActivationsAreDot) {
  ConvSpec s;
  s.abits = 8;
  ConvertedConv cc;
  ASSERT_NO_FATAL_FAILURE(ConvertConv(s, &cc));
  const cv::COp* conv = cc.conv;
  const std::vector<int64_t>& codes = cc.codes;
  EXPECT_EQ(cc.r.model.tensors[size_t(conv->inputs[0])].bits, 8);
  EXPECT_EQ(conv->family, cv::KernelFamily::kDot);
  const auto& w = cc.weight();
  EXPECT_EQ(w.layout, cv::Layout::kDotN16K4);
  EXPECT_EQ(UnpackDot(w, s), TapMajor(codes, s));
}

TEST(PackWeights, WeightSharedByOpsOfDifferentFamiliesStaysRowsLsbAndAuto) {
  // One 2-bit weight read by a conv on 2-bit activations (lut) and one on 8-bit ones (dot).
  OnnxBuilder b;
  b.Input("x", {1, 4, 5, 5});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.InitI("lo", 2, {}, {0});
  b.InitI("hi", 2, {}, {3});
  b.Node("QuantizeLinear", "qa", {"x", "s", "z"}, {"aq"});
  b.Node("Clip", "clipa", {"aq", "lo", "hi"}, {"ac"});
  b.Node("DequantizeLinear", "dqa", {"ac", "s", "z"}, {"ad"});
  b.InitF("s8", {}, {0.05f});
  b.Node("QuantizeLinear", "qb", {"x", "s8", "z"}, {"bq"});
  b.Node("DequantizeLinear", "dqb", {"bq", "s8", "z"}, {"bd"});
  std::vector<int64_t> codes(16 * 4);
  for (size_t e = 0; e < codes.size(); e++) codes[e] = int64_t(e % 4) - 2;
  b.InitI("w", 3, {16, 4, 1, 1}, codes);
  b.InitF("ws", {}, {0.5f});
  b.Node("DequantizeLinear", "dqw", {"w", "ws"}, {"wd"});
  b.Node("Conv", "conv_a", {"ad", "wd"}, {"ca"});
  b.Node("Conv", "conv_b", {"bd", "wd"}, {"cb"});
  for (const char* y : {"a", "b"}) {
    const std::string c = std::string("c") + y, q = std::string("q") + y + "y";
    b.Node("QuantizeLinear", q, {c, "s", "z"}, {q + "_q"});
    b.Node("DequantizeLinear", "dq" + q, {q + "_q", "s", "z"}, {std::string("y") + y});
    b.Output(std::string("y") + y);
  }
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* a = FindOp(r.model, "conv_a");
  const cv::COp* c = FindOp(r.model, "conv_b");
  ASSERT_TRUE(a && c);
  ASSERT_EQ(a->inputs[1], c->inputs[1]);
  EXPECT_EQ(a->family, cv::KernelFamily::kAuto);
  EXPECT_EQ(c->family, cv::KernelFamily::kAuto);
  EXPECT_EQ(r.model.tensors[size_t(a->inputs[1])].layout, cv::Layout::kRowsLsb);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(cv::Sha256Hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(cv::Sha256Hex("", 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(cv::Sha256Hex(m.data(), m.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

// ------------------------------------------------------------------ spatial masks

TEST(RecognizeSpatialMasks, OnlyZeroOneMasksOverPixelsBecomeMasks) {
  OnnxBuilder b;
  b.Input("x", {1, 3, 2, 2});
  b.InitF("m4", {1, 1, 2, 2}, {1, 0, 0, 1});
  b.InitF("m2", {2, 2}, {0, 1, 1, 1});
  b.InitF("half", {1, 1, 2, 2}, {1, 0.5f, 0, 1});
  b.InitF("per_channel", {1, 3, 1, 1}, {1, 0, 1});
  b.Node("Mul", "a", {"x", "m4"}, {"ya"});
  b.Node("Mul", "b", {"m2", "ya"}, {"yb"});  // the mask first
  b.Node("Mul", "c", {"yb", "half"}, {"yc"});
  b.Node("Mul", "d", {"yc", "per_channel"}, {"y"});
  b.Output("y");
  Diagnostics d;
  Graph g = Import(b, &d);
  cv::RecognizeSpatialMasks(&g, &d);
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.nodes[0].op_type, cv::kSpatialMaskOp);
  EXPECT_EQ(g.nodes[0].inputs, std::vector<std::string>({"x"}));
  EXPECT_EQ(g.nodes[0].AttrInts("mask"), std::vector<int64_t>({1, 0, 0, 1}));
  EXPECT_EQ(g.nodes[0].AttrInts("mask_hw"), std::vector<int64_t>({2, 2}));
  EXPECT_EQ(g.nodes[1].op_type, cv::kSpatialMaskOp);
  EXPECT_EQ(g.nodes[1].inputs, std::vector<std::string>({"ya"}));
  EXPECT_EQ(g.nodes[1].AttrInts("mask"), std::vector<int64_t>({0, 1, 1, 1}));
  EXPECT_EQ(g.nodes[2].op_type, "Mul");  // not 0 / 1
  EXPECT_EQ(g.nodes[3].op_type, "Mul");  // differs per channel
  EXPECT_FALSE(g.FindConst("m4"));       // the masks' initializers are dropped
  EXPECT_TRUE(g.FindConst("half"));
  cv::CheckSupported(g, &d);
  ASSERT_EQ(d.problems().size(), 2u) << Joined(d.problems());
  EXPECT_NE(d.problems()[0].find("'c'"), std::string::npos) << d.problems()[0];
  EXPECT_NE(d.problems()[0].find("only by a constant 0/1 spatial mask"), std::string::npos);
}

// conv1 -> ReLU -> 4-bit QDQ -> Mul(mask) -> conv2 -> QDQ -> y, optionally with an Add that also
// reads conv1's unmasked activation.
cv::ConvertResult MaskedModel(Form form, bool also_unmasked) {
  testing::ConvModelSpec spec;
  spec.form = form;
  testing::ConvModel cm(spec);
  OnnxBuilder& b = cm.builder();
  b.Input("x", {1, 2, 4, 4});
  const std::string x = cm.Act("/in", "x", 0.05f, 128, 8);
  const std::vector<float> s4 = {0.01f, 0.02f, 0.03f, 0.04f};
  std::string w = cm.Weight("/c1/w", {4, 2, 3, 3}, testing::TestCodes(4, 18, 2, 1), s4, 2);
  auto* c1 = b.Node("Conv", "/c1/Conv", {x, w}, {"/c1/out"});
  OnnxBuilder::AttrInts(c1, "pads", {1, 1, 1, 1});
  b.Node("Relu", "/c1/Relu", {"/c1/out"}, {"/c1/relu"});
  const std::string a = cm.Act("/a1", "/c1/relu", 0.1f, 0, 4);
  b.InitF("mask", {1, 1, 4, 4}, {1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0});
  b.Node("Mul", "/Mul", {a, "mask"}, {"/masked"});
  w = cm.Weight("/c2/w", {4, 4, 3, 3}, testing::TestCodes(4, 36, 2, 2), s4, 2);
  auto* c2 = b.Node("Conv", "/c2/Conv", {"/masked", w}, {"/c2/out"});
  OnnxBuilder::AttrInts(c2, "pads", {1, 1, 1, 1});
  std::string y = cm.Act("/a2", "/c2/out", 0.1f, 0, 4);
  if (also_unmasked) {
    b.Node("Add", "/Add", {y, a}, {"/sum"});
    y = cm.Act("/a3", "/sum", 0.2f, 0, 8);
  }
  b.graph()->mutable_node(b.graph()->node_size() - 1)->set_output(0, "y");
  b.Output("y");
  return ConvertModel(b.model(), std::string(64, 'a'), cv::ConvertOptions());
}

TEST(SpatialMasks, FoldIntoTheProducingConvInEveryForm) {
  for (Form form : {Form::kQcdq, Form::kFolded, Form::kNative}) {
    const ConvertResult r = MaskedModel(form, false);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const cv::COp* c1 = FindOp(r.model, "/c1/Conv");
    const cv::COp* c2 = FindOp(r.model, "/c2/Conv");
    ASSERT_TRUE(c1 && c2);
    for (const auto& op : r.model.ops) EXPECT_NE(op.opcode, cv::OpCode::kRequantize) << op.name;
    // conv1 writes the masked tensor itself; conv2 reads it.
    EXPECT_EQ(c1->outputs[0], c2->inputs[0]);
    const cv::CTensor& t = r.model.tensors[size_t(c1->outputs[0])];
    EXPECT_EQ(t.spatial_mask,
              std::vector<uint8_t>({1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0}));
    EXPECT_EQ(t.bits, 4);
  }
}

TEST(SpatialMasks, StayARequantizeWhenTheUnmaskedTensorIsReadToo) {
  const ConvertResult r = MaskedModel(Form::kFolded, true);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* c1 = FindOp(r.model, "/c1/Conv");
  const cv::COp* c2 = FindOp(r.model, "/c2/Conv");
  const cv::COp* mask = FindOp(r.model, "/Mul");
  ASSERT_TRUE(c1 && c2 && mask);
  EXPECT_EQ(mask->opcode, cv::OpCode::kRequantize);
  EXPECT_EQ(mask->inputs[0], c1->outputs[0]);
  EXPECT_EQ(mask->outputs[0], c2->inputs[0]);
  EXPECT_TRUE(r.model.tensors[size_t(c1->outputs[0])].spatial_mask.empty());
  EXPECT_EQ(r.model.tensors[size_t(mask->outputs[0])].spatial_mask.size(), 16u);
}

TEST(SpatialMasks, AMaskOfTheWrongSizeIsReported) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 4, 4});
  b.InitF("s", {}, {0.1f});
  b.InitI("z", 2, {}, {0});
  b.Node("QuantizeLinear", "q", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", "dq", {"xq", "s", "z"}, {"xd"});
  b.InitF("mask", {1, 1, 2, 2}, {1, 0, 0, 1});
  b.Node("Mul", "m", {"xd", "mask"}, {"xm"});
  b.Node("QuantizeLinear", "q2", {"xm", "s", "z"}, {"yq"});
  b.Node("DequantizeLinear", "dq2", {"yq", "s", "z"}, {"y"});
  b.Output("y");
  const ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("2x2 spatial mask"), std::string::npos) << Joined(r.problems);
}

}  // namespace
}  // namespace crumb
