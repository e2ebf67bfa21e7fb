// FuseElementwiseTables: element-wise float functions between two quantizers become one
// REQUANTIZE (version 2) with a 256-entry code table equal to the graph's own arithmetic; what
// cannot be tabulated is refused by node name. Products of two activations become MUL.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "converter/converter.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace {

using cv::CModel;
using cv::ConvertResult;
using testing::Convert;
using testing::Joined;
using testing::OnnxBuilder;

constexpr int kU8 = 2, kI8 = 3;

// x -> QuantizeLinear -> DequantizeLinear named `name`; returns the dequantized value.
std::string Fq(OnnxBuilder& b, const std::string& name, const std::string& x, float scale,
               int64_t zp, int type = kU8) {
  b.InitF(name + "/s", {}, {scale});
  b.InitI(name + "/z", type, {}, {zp});
  b.Node("QuantizeLinear", name + "/Q", {x, name + "/s", name + "/z"}, {name + "/q"});
  b.Node("DequantizeLinear", name + "/DQ", {name + "/q", name + "/s", name + "/z"}, {name + "/dq"});
  return name + "/dq";
}

// The table a REQUANTIZE version 2 carries, as output codes by input byte.
std::vector<int64_t> TableOf(const CModel& m, size_t op) {
  const auto& o = m.ops[op];
  EXPECT_EQ(o.opcode, cv::OpCode::kRequantize);
  EXPECT_EQ(o.version, 2);
  EXPECT_EQ(o.inputs.size(), 2u);
  return m.tensors[size_t(o.inputs[1])].codes;
}

// The expected table: f in float32 on each input code, then QuantizeLinear.
std::vector<int64_t> Expected(float sa, int64_t za, bool in_signed, float sb, int64_t zb,
                              int64_t lo, int64_t hi, const std::function<float(float)>& f) {
  std::vector<int64_t> t(256);
  for (int byte = 0; byte < 256; byte++) {
    const int64_t code = in_signed ? int64_t(int8_t(byte)) : int64_t(byte);
    const float y = f(float(code - za) * sa);
    double r = std::nearbyint(double(y / sb)) + double(zb);
    t[size_t(byte)] = int64_t(std::min(std::max(r, double(lo)), double(hi))) & 0xff;
  }
  return t;
}

TEST(ElementwiseTables, SiluBecomesOneTable) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  const std::string a = Fq(b, "/a", "x", 0.05f, 128);
  b.Node("Sigmoid", "/silu/Sigmoid", {a}, {"s"});
  b.Node("Mul", "/silu/Mul", {a, "s"}, {"m"});
  Fq(b, "/b", "m", 0.03f, 20);
  b.Output("/b/dq");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  ASSERT_EQ(r.model.ops.size(), 3u);  // QUANTIZE, REQUANTIZE (table), DEQUANTIZE
  EXPECT_EQ(r.model.ops[1].name, "/silu/Mul");
  EXPECT_EQ(TableOf(r.model, 1), Expected(0.05f, 128, false, 0.03f, 20, 0, 255, [](float v) {
              return v * (1.0f / (1.0f + std::exp(-v)));
            }));
}

TEST(ElementwiseTables, SignedCodesAndScalarConstants) {
  // (x - 0.5) * 2 then Tanh, from int8 codes to int8 codes: bytes are two's complement.
  OnnxBuilder b;
  b.Input("x", {1, 4});
  const std::string a = Fq(b, "/a", "x", 0.1f, -3, kI8);
  b.InitF("half", {}, {0.5f});
  b.InitF("two", {1}, {2.0f});
  b.Node("Sub", "/sub", {a, "half"}, {"d"});
  b.Node("Mul", "/mul", {"d", "two"}, {"m"});
  b.Node("Tanh", "/tanh", {"m"}, {"t"});
  Fq(b, "/b", "t", 1.0f / 127, 0, kI8);
  b.Output("/b/dq");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  ASSERT_EQ(r.model.ops.size(), 3u);
  EXPECT_EQ(TableOf(r.model, 1), Expected(0.1f, -3, true, 1.0f / 127, 0, -128, 127,
                                          [](float v) { return std::tanh((v - 0.5f) * 2.0f); }));
}

TEST(ElementwiseTables, QLinearSigmoidAndLeakyReluGiveTheQdqTables) {
  // com.microsoft QLinearSigmoid / QLinearLeakyRelu (ONNX Runtime's QOperator form) convert to
  // the same tables as their QDQ twins.
  for (const char* op : {"Sigmoid", "LeakyRelu"}) {
    OnnxBuilder q, d;
    for (OnnxBuilder* b : {&q, &d}) {
      b->Input("x", {1, 8});
      b->InitF("xs", {}, {0.04f});
      b->InitI("xz", kU8, {}, {100});
      b->InitF("ys", {}, {0.01f});
      b->InitI("yz", kU8, {}, {50});
      b->Node("QuantizeLinear", "/qx", {"x", "xs", "xz"}, {"xq"});
    }
    auto* n = q.Node(std::string("QLinear") + op, "/op", {"xq", "xs", "xz", "ys", "yz"}, {"yq"},
                     "com.microsoft");
    d.Node("DequantizeLinear", "/dqx", {"xq", "xs", "xz"}, {"xf"});
    auto* f = d.Node(op, "/op", {"xf"}, {"yf"});
    d.Node("QuantizeLinear", "/qy", {"yf", "ys", "yz"}, {"yq"});
    if (std::string(op) == "LeakyRelu") {
      OnnxBuilder::AttrF(n, "alpha", 0.2f);
      OnnxBuilder::AttrF(f, "alpha", 0.2f);
    }
    for (OnnxBuilder* b : {&q, &d}) {
      b->Node("DequantizeLinear", "/dqy", {"yq", "ys", "yz"}, {"y"});
      b->Output("y");
    }
    ConvertResult rq = Convert(q), rd = Convert(d);
    ASSERT_TRUE(rq.ok) << op << ": " << Joined(rq.problems);
    ASSERT_TRUE(rd.ok) << op << ": " << Joined(rd.problems);
    ASSERT_EQ(rq.model.ops.size(), 3u) << op;
    ASSERT_EQ(rd.model.ops.size(), 3u) << op;
    EXPECT_EQ(TableOf(rq.model, 1), TableOf(rd.model, 1)) << op;
    const bool sig = std::string(op) == "Sigmoid";
    EXPECT_EQ(TableOf(rq.model, 1), Expected(0.04f, 100, false, 0.01f, 50, 0, 255,
                                             [sig](float v) {
                                               return sig ? 1.0f / (1.0f + std::exp(-v))
                                                          : (v < 0 ? 0.2f * v : v);
                                             }))
        << op;
  }
}

TEST(ElementwiseTables, RefusesASigmoidOfAFloatValue) {
  // Found before the quantizers are recognised (CheckSupported), with the other problems.
  OnnxBuilder b;
  b.Input("x", {1, 4});
  b.Node("Sigmoid", "/float_sigmoid", {"x"}, {"s"});
  Fq(b, "/a", "s", 0.01f, 0);
  b.Output("/a/dq");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  const std::string p = Joined(r.problems);
  EXPECT_NE(p.find("node '/float_sigmoid' (op Sigmoid): unsupported here: Sigmoid is supported "
                   "only inside an element-wise function of one per-tensor quantized activation"),
            std::string::npos)
      << p;
}

TEST(ElementwiseTables, MulOfTwoActivationsBecomesMul) {
  // Between quantizers, but a function of two activations: no table, a MUL with multiplier
  // sa * sb / s_out.
  OnnxBuilder b;
  b.Input("x", {1, 4});
  const std::string a = Fq(b, "/a", "x", 0.01f, 0);
  const std::string c = Fq(b, "/c", "x", 0.02f, 128);
  b.Node("Mul", "/two_inputs", {a, c}, {"m"});
  Fq(b, "/b", "m", 0.01f, 128);
  b.Output("/b/dq");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* mul = testing::FindOp(r.model, "/two_inputs");
  ASSERT_NE(mul, nullptr);
  EXPECT_EQ(mul->opcode, cv::OpCode::kMul);
  EXPECT_EQ(mul->multiplier, float(0.01 * 0.02 / 0.01));
  ASSERT_EQ(mul->inputs.size(), 2u);
  EXPECT_EQ(r.model.tensors[size_t(mul->inputs[0])].name, "/a/q");
  EXPECT_EQ(r.model.tensors[size_t(mul->inputs[1])].name, "/c/q");
  EXPECT_EQ(r.model.tensors[size_t(mul->outputs[0])].name, "/b/q");
}

// Sub of two activations: ADD version 2 (a - b); a Sub of an activation and a function of it
// stays a code table; broadcasting is refused by name.
TEST(ElementwiseTables, SubOfTwoActivationsBecomesAddVersion2) {
  OnnxBuilder b;
  b.Input("x", {1, 4});
  const std::string a = Fq(b, "/a", "x", 0.01f, 0);
  const std::string c = Fq(b, "/c", "x", 0.02f, 128);
  b.Node("Sub", "/diff", {a, c}, {"d"});
  Fq(b, "/b", "d", 0.01f, 128);
  b.Output("/b/dq");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* sub = testing::FindOp(r.model, "/diff");
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->opcode, cv::OpCode::kAdd);
  EXPECT_EQ(sub->version, 2);
  ASSERT_EQ(sub->inputs.size(), 2u);
  EXPECT_EQ(r.model.tensors[size_t(sub->inputs[0])].name, "/a/q");
  EXPECT_EQ(r.model.tensors[size_t(sub->inputs[1])].name, "/c/q");

  OnnxBuilder t;  // x - Sigmoid(x): one activation's function
  t.Input("x", {1, 4});
  const std::string xa = Fq(t, "/a", "x", 0.05f, 128);
  t.Node("Sigmoid", "/sig", {xa}, {"s"});
  t.Node("Sub", "/diff", {xa, "s"}, {"d"});
  Fq(t, "/b", "d", 0.02f, 128);
  t.Output("/b/dq");
  ConvertResult rt = Convert(t);
  ASSERT_TRUE(rt.ok) << Joined(rt.problems);
  ASSERT_EQ(rt.model.ops.size(), 3u);  // QUANTIZE, the table, DEQUANTIZE
  EXPECT_EQ(rt.model.ops[1].opcode, cv::OpCode::kRequantize);
  EXPECT_EQ(rt.model.ops[1].version, 2);

  OnnxBuilder w;  // [1, 4] - [1, 1]
  w.Input("x", {1, 4});
  w.Input("z", {1, 1});
  const std::string wa = Fq(w, "/a", "x", 0.01f, 0);
  const std::string wz = Fq(w, "/z", "z", 0.01f, 0);
  w.Node("Sub", "/diff", {wa, wz}, {"d"});
  Fq(w, "/b", "d", 0.01f, 128);
  w.Output("/b/dq");
  EXPECT_TRUE(testing::Refused(
      Convert(w), "node '/diff' (op Sub): broadcasting Sub ([1,4] - [1,1]) is not supported"));
}

// Squeeze-and-excitation: the [N, C, 1, 1] gate times the map, written gate first; MUL takes the
// map first.
TEST(ElementwiseTables, ChannelGateGoesSecond) {
  OnnxBuilder b;
  b.Input("x", {1, 3, 4, 4});
  const std::string a = Fq(b, "/a", "x", 0.05f, 0);
  b.Node("GlobalAveragePool", "/gap", {a}, {"g"});
  const std::string g = Fq(b, "/g", "g", 0.02f, 0);
  b.Node("Mul", "/se", {g, a}, {"m"});
  Fq(b, "/b", "m", 0.04f, 0);
  b.Output("/b/dq");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const cv::COp* mul = testing::FindOp(r.model, "/se");
  ASSERT_NE(mul, nullptr);
  EXPECT_EQ(mul->opcode, cv::OpCode::kMul);
  EXPECT_EQ(r.model.tensors[size_t(mul->inputs[0])].shape, (std::vector<int64_t>{1, 3, 4, 4}));
  EXPECT_EQ(r.model.tensors[size_t(mul->inputs[1])].shape, (std::vector<int64_t>{1, 3, 1, 1}));
  EXPECT_EQ(r.model.tensors[size_t(mul->outputs[0])].shape, (std::vector<int64_t>{1, 3, 4, 4}));
}

TEST(ElementwiseTables, RefusesOtherBroadcastsAndFloatFactors) {
  {
    // A [1, 1, H, W] activation (not a constant mask) broadcast over channels.
    OnnxBuilder b;
    b.Input("x", {1, 2, 3, 3});
    b.Input("y", {1, 1, 3, 3});
    const std::string a = Fq(b, "/a", "x", 0.05f, 0);
    const std::string c = Fq(b, "/c", "y", 0.05f, 0);
    b.Node("Mul", "/spatial", {a, c}, {"m"});
    Fq(b, "/b", "m", 0.04f, 0);
    b.Output("/b/dq");
    ConvertResult r = Convert(b);
    ASSERT_FALSE(r.ok);
    EXPECT_NE(Joined(r.problems)
                  .find("node '/spatial' (op Mul): multiplies [1,2,3,3] by [1,1,3,3]; crumb "
                        "multiplies activations of one shape, or an [N, C, H, W] one by an [N, C, "
                        "1, 1] one (a channel gate)"),
              std::string::npos)
        << Joined(r.problems);
  }
  {
    // The second factor is a float value (a Sigmoid without a quantizer after it): the Sigmoid
    // is what cannot run.
    OnnxBuilder b;
    b.Input("x", {1, 4});
    const std::string a = Fq(b, "/a", "x", 0.05f, 0);
    const std::string c = Fq(b, "/c", "x", 0.05f, 0);
    b.Node("Sigmoid", "/sig", {c}, {"s"});
    b.Node("Mul", "/gated", {a, "s"}, {"m"});
    Fq(b, "/b", "m", 0.04f, 0);
    b.Output("/b/dq");
    ConvertResult r = Convert(b);
    ASSERT_FALSE(r.ok);
    EXPECT_NE(Joined(r.problems).find("node '/sig' (op Sigmoid): unsupported here"),
              std::string::npos)
        << Joined(r.problems);
  }
}

TEST(ElementwiseTables, InnerValueReadElsewhereIsNotFused) {
  // The Sigmoid's output is also a graph output: the chain cannot disappear into a table.
  OnnxBuilder b;
  b.Input("x", {1, 4});
  const std::string a = Fq(b, "/a", "x", 0.05f, 128);
  b.Node("Sigmoid", "/sig", {a}, {"s"});
  Fq(b, "/b", "s", 1.0f / 255, 0);
  b.Output("/b/dq");
  b.Output("s");
  ConvertResult r = Convert(b);
  ASSERT_FALSE(r.ok);
  EXPECT_NE(Joined(r.problems).find("node '/sig' (op Sigmoid): unsupported here"),
            std::string::npos)
      << Joined(r.problems);
}

}  // namespace
}  // namespace crumb
