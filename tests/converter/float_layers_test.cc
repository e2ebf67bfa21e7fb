// Float layers (issue 9): a Conv / Gemm / MatMul whose weight is a plain float initializer, or
// one --config keeps float, becomes CONV_2D / FULLY_CONNECTED version 2 (FLOAT32 input, DENSE
// weight in ONNX order [Cout, Cin/groups, KH, KW] / [N, K], bias, output; family XNNPACK) with a
// DEQUANTIZE before it when its input is quantized and a QUANTIZE for each quantizer after it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>

#include "converter/converter.h"
#include "converter/layer_config.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"

namespace crumb {
namespace {

using cv::CModel;
using cv::ConvertResult;
using cv::COp;
using cv::CTensor;
using cv::OpCode;
using testing::Convert;
using testing::FindOp;
using testing::Joined;
using testing::OnnxBuilder;

constexpr int kU8 = 2, kI8 = 3;
constexpr float kInf = std::numeric_limits<float>::infinity();

// x -> QuantizeLinear -> DequantizeLinear named `name`; returns the dequantized value.
std::string Fq(OnnxBuilder& b, const std::string& name, const std::string& x, float scale,
               int64_t zp) {
  b.InitF(name + "/s", {}, {scale});
  b.InitI(name + "/z", kU8, {}, {zp});
  b.Node("QuantizeLinear", name + "/Q", {x, name + "/s", name + "/z"}, {name + "/q"});
  b.Node("DequantizeLinear", name + "/DQ", {name + "/q", name + "/s", name + "/z"}, {name + "/dq"});
  return name + "/dq";
}

// A quantized weight: int8 codes -> DequantizeLinear (scale per tensor, zero point 0).
std::string QWeight(OnnxBuilder& b, const std::string& name, const std::vector<int64_t>& dims,
                    const std::vector<int64_t>& codes, float scale) {
  b.InitI(name + "/codes", kI8, dims, codes);
  b.InitF(name + "/ws", {}, {scale});
  b.InitI(name + "/wz", kI8, {}, {0});
  b.Node("DequantizeLinear", name + "/wDQ", {name + "/codes", name + "/ws", name + "/wz"},
         {name + "/w"});
  return name + "/w";
}

std::vector<float> Ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = scale * (float(i % 7) - 3.f) + 0.01f * float(i);
  return v;
}

const CTensor& T(const CModel& m, int i) { return m.tensors[size_t(i)]; }

// The op writing tensor t, or null.
const COp* Writer(const CModel& m, int t) {
  for (const auto& op : m.ops)
    for (int o : op.outputs)
      if (o == t) return &op;
  return nullptr;
}

std::vector<OpCode> Opcodes(const CModel& m) {
  std::vector<OpCode> v;
  for (const auto& op : m.ops) v.push_back(op.opcode);
  return v;
}

// x [1, 2, 4, 4] -> Q/DQ -> quantized 1x1 conv c1 (3 channels) -> Q/DQ a1 -> float 3x3 conv c2
// (4 channels, bias, pads 1) -> Relu -> Q/DQ a2 -> quantized 1x1 conv c3 -> Q/DQ -> y.
OnnxBuilder MixedModel() {
  OnnxBuilder b;
  b.Input("x", {1, 2, 4, 4});
  std::string v = Fq(b, "/in", "x", 0.05f, 128);
  b.Node("Conv", "c1", {v, QWeight(b, "/c1", {3, 2, 1, 1}, {1, -2, 3, -1, 2, 1}, 0.1f)},
         {"c1/out"});
  v = Fq(b, "/a1", "c1/out", 0.02f, 128);
  b.InitF("W2", {4, 3, 3, 3}, Ramp(4 * 3 * 9, 0.1f));
  b.InitF("B2", {4}, {0.5f, -0.25f, 0.125f, 1.f});
  auto* c2 = b.Node("Conv", "c2", {v, "W2", "B2"}, {"c2/out"});
  OnnxBuilder::AttrInts(c2, "pads", {1, 1, 1, 1});
  b.Node("Relu", "relu2", {"c2/out"}, {"relu2/out"});
  v = Fq(b, "/a2", "relu2/out", 0.05f, 0);
  b.Node("Conv", "c3", {v, QWeight(b, "/c3", {2, 4, 1, 1}, {1, 2, 3, -3, -2, -1, 0, 1}, 0.2f)},
         {"c3/out"});
  Fq(b, "/out", "c3/out", 0.1f, 128);
  b.Node("Identity", "id", {"/out/dq"}, {"y"});
  b.Output("y");
  return b;
}

TEST(FloatLayers, FloatConvBetweenQuantizedConvsGetsDequantizeAndQuantize) {
  OnnxBuilder b = MixedModel();
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const CModel& m = r.model;
  EXPECT_EQ(
      Opcodes(m),
      (std::vector<OpCode>{OpCode::kQuantize, OpCode::kConv2D, OpCode::kDequantize, OpCode::kConv2D,
                           OpCode::kQuantize, OpCode::kConv2D, OpCode::kDequantize}));
  const COp* c2 = FindOp(m, "c2");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->version, 2);
  EXPECT_EQ(c2->family, cv::KernelFamily::kXnnpack);
  EXPECT_EQ(c2->family_source, cv::FamilySource::kTable);
  ASSERT_EQ(c2->inputs.size(), 3u);
  // Input: the DEQUANTIZE of the quantized /a1 tensor, named after the DequantizeLinear output.
  const CTensor& x = T(m, c2->inputs[0]);
  EXPECT_EQ(x.type, cv::ElemType::kFloat32);
  EXPECT_EQ(x.name, "/a1/dq");
  EXPECT_EQ(x.shape, (std::vector<int64_t>{1, 3, 4, 4}));
  const COp* dq = Writer(m, c2->inputs[0]);
  ASSERT_NE(dq, nullptr);
  EXPECT_EQ(dq->opcode, OpCode::kDequantize);
  EXPECT_EQ(dq->name, "/a1/DQ");
  EXPECT_EQ(T(m, dq->inputs[0]).name, "/a1/q");
  // Weight: FLOAT32 DENSE in ONNX order, the initializer's bits.
  const CTensor& w = T(m, c2->inputs[1]);
  EXPECT_EQ(w.type, cv::ElemType::kFloat32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{4, 3, 3, 3}));
  EXPECT_EQ(w.layout, cv::Layout::kDense);
  EXPECT_EQ(w.fdata, Ramp(4 * 3 * 9, 0.1f));
  ASSERT_EQ(w.bytes.size(), 4u * 3 * 9 * 4);
  EXPECT_EQ(std::memcmp(w.bytes.data(), w.fdata.data(), w.bytes.size()), 0);
  EXPECT_EQ(w.name.find("W2"), std::string::npos);  // no initializer name reaches the file
  const CTensor& bias = T(m, c2->inputs[2]);
  EXPECT_EQ(bias.fdata, (std::vector<float>{0.5f, -0.25f, 0.125f, 1.f}));
  EXPECT_EQ(bias.layout, cv::Layout::kDense);
  // The fused Relu is the float clamp; geometry as for version 1.
  EXPECT_TRUE(c2->has_clamp);
  EXPECT_EQ(c2->clamp.fmin, 0.f);
  EXPECT_EQ(c2->clamp.fmax, kInf);
  EXPECT_EQ(testing::Pads(*c2), (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(c2->kernel_h, 3);
  EXPECT_EQ(c2->groups, 1);
  // Output: FLOAT32, then QUANTIZE into the /a2 tensor with its parameters.
  const CTensor& y = T(m, c2->outputs[0]);
  EXPECT_EQ(y.type, cv::ElemType::kFloat32);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{1, 4, 4, 4}));
  const COp& q = m.ops[4];
  EXPECT_EQ(q.name, "/a2/Q");
  EXPECT_EQ(q.inputs, (std::vector<int>{c2->outputs[0]}));
  const CTensor& qt = T(m, q.outputs[0]);
  EXPECT_EQ(qt.name, "/a2/q");
  EXPECT_EQ(qt.type, cv::ElemType::kQuant);
  EXPECT_EQ(qt.scale, (std::vector<float>{0.05f}));
  EXPECT_EQ(FindOp(m, "c3")->inputs[0], q.outputs[0]);
  // Quantized layers are unchanged.
  EXPECT_EQ(FindOp(m, "c1")->version, 1);
  EXPECT_EQ(FindOp(m, "c3")->version, 1);
  EXPECT_NE(r.layer_table.find("c2     conv 3x3/s1  3->4      f32     xnnpack           432"),
            std::string::npos)
      << r.layer_table;
  std::map<std::string, std::string> meta(m.metadata.begin(), m.metadata.end());
  EXPECT_EQ(meta["bits:c2"], "w32a32");
}

// x [2, 4] -> Q/DQ -> layer -> Q/DQ -> y, the layer a float Gemm or MatMul.
ConvertResult FcModel(const std::function<void(OnnxBuilder&, const std::string&)>& layer) {
  OnnxBuilder b;
  b.Input("x", {2, 4});
  const std::string v = Fq(b, "/in", "x", 0.05f, 128);
  layer(b, v);
  Fq(b, "/out", "fc/out", 0.1f, 128);
  b.Node("Identity", "id", {"/out/dq"}, {"y"});
  b.Output("y");
  return Convert(b);
}

TEST(FloatLayers, GemmAndMatMulWeightsAreNByK) {
  // [N, K] = [3, 4].
  const std::vector<float> nk = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<float> kn(12);
  for (int n = 0; n < 3; n++)
    for (int k = 0; k < 4; k++) kn[size_t(k * 3 + n)] = nk[size_t(n * 4 + k)];
  const std::vector<float> bias = {0.5f, -1.f, 2.f};
  struct Case {
    const char* what;
    std::function<void(OnnxBuilder&, const std::string&)> layer;
  };
  const std::vector<Case> cases = {
      {"Gemm transB=1",
       [&](OnnxBuilder& b, const std::string& v) {
         b.InitF("W", {3, 4}, nk);
         b.InitF("C", {3}, bias);
         OnnxBuilder::AttrI(b.Node("Gemm", "fc", {v, "W", "C"}, {"fc/out"}), "transB", 1);
       }},
      {"Gemm transB=0",
       [&](OnnxBuilder& b, const std::string& v) {
         b.InitF("W", {4, 3}, kn);
         b.InitF("C", {3}, bias);
         b.Node("Gemm", "fc", {v, "W", "C"}, {"fc/out"});
       }},
      {"MatMul + Add",
       [&](OnnxBuilder& b, const std::string& v) {
         b.InitF("W", {4, 3}, kn);
         b.InitF("C", {3}, bias);
         b.Node("MatMul", "fc", {v, "W"}, {"fc/mm"});
         b.Node("Add", "fc/add", {"fc/mm", "C"}, {"fc/out"});
       }},
  };
  for (const Case& c : cases) {
    ConvertResult r = FcModel(c.layer);
    ASSERT_TRUE(r.ok) << c.what << "\n" << Joined(r.problems);
    const COp* fc = FindOp(r.model, "fc");
    ASSERT_NE(fc, nullptr) << c.what;
    EXPECT_EQ(fc->opcode, OpCode::kFullyConnected) << c.what;
    EXPECT_EQ(fc->version, 2) << c.what;
    const CTensor& w = T(r.model, fc->inputs[1]);
    EXPECT_EQ(w.shape, (std::vector<int64_t>{3, 4})) << c.what;
    EXPECT_EQ(w.fdata, nk) << c.what;
    ASSERT_GE(fc->inputs[2], 0) << c.what;
    EXPECT_EQ(T(r.model, fc->inputs[2]).fdata, bias) << c.what;
    EXPECT_EQ(T(r.model, fc->outputs[0]).shape, (std::vector<int64_t>{2, 3})) << c.what;
  }
  // Gemm's alpha scales the weights, beta the bias (in double, rounded once).
  ConvertResult r = FcModel([&](OnnxBuilder& b, const std::string& v) {
    b.InitF("W", {3, 4}, nk);
    b.InitF("C", {3}, bias);
    auto* n = b.Node("Gemm", "fc", {v, "W", "C"}, {"fc/out"});
    OnnxBuilder::AttrI(n, "transB", 1);
    OnnxBuilder::AttrF(n, "alpha", 0.5f);
    OnnxBuilder::AttrF(n, "beta", 2.f);
  });
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const COp* fc = FindOp(r.model, "fc");
  EXPECT_EQ(T(r.model, fc->inputs[1]).fdata[3], 2.f);
  EXPECT_EQ(T(r.model, fc->inputs[2]).fdata, (std::vector<float>{1.f, -2.f, 4.f}));
  // Without a bias the input is absent (-1).
  r = FcModel([&](OnnxBuilder& b, const std::string& v) {
    b.InitF("W", {3, 4}, nk);
    OnnxBuilder::AttrI(b.Node("Gemm", "fc", {v, "W"}, {"fc/out"}), "transB", 1);
  });
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  EXPECT_EQ(FindOp(r.model, "fc")->inputs[2], -1);
}

TEST(FloatLayers, FloatConvReadsTheGraphInputAndFloatFcIsTheGraphOutput) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  b.InitF("W1", {4, 2, 1, 1}, Ramp(8, 0.5f));
  b.Node("Conv", "c1", {"x", "W1"}, {"c1/out"});
  std::string v = Fq(b, "/a1", "c1/out", 0.05f, 128);
  b.Node("GlobalAveragePool", "gap", {v}, {"gap/out"});
  v = Fq(b, "/a2", "gap/out", 0.05f, 128);
  b.Node("Flatten", "flat", {v}, {"flat/out"});
  b.InitF("W2", {5, 4}, Ramp(20, 0.25f));
  OnnxBuilder::AttrI(b.Node("Gemm", "fc", {"flat/out", "W2"}, {"y"}), "transB", 1);
  b.Output("y");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const CModel& m = r.model;
  // No DEQUANTIZE: the float conv reads the FLOAT32 graph input; QUANTIZE after it, and the FC's
  // FLOAT32 output is the graph output (no QUANTIZE / DEQUANTIZE after it).
  EXPECT_EQ(Opcodes(m),
            (std::vector<OpCode>{OpCode::kConv2D, OpCode::kQuantize, OpCode::kGlobalAveragePool,
                                 OpCode::kReshape, OpCode::kDequantize, OpCode::kFullyConnected}));
  const COp* c1 = FindOp(m, "c1");
  ASSERT_NE(c1, nullptr);
  EXPECT_EQ(c1->inputs[0], m.inputs[0]);
  EXPECT_EQ(c1->inputs[2], -1);
  EXPECT_EQ(c1->clamp.fmin, -kInf);
  EXPECT_EQ(m.ops[1].name, "/a1/Q");
  const COp* fc = FindOp(m, "fc");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->version, 2);
  ASSERT_EQ(m.outputs.size(), 1u);
  EXPECT_EQ(m.outputs[0], fc->outputs[0]);
  EXPECT_EQ(T(m, fc->outputs[0]).name, "y");
  EXPECT_EQ(T(m, fc->outputs[0]).type, cv::ElemType::kFloat32);
}

TEST(FloatLayers, FloatLayersInARowShareTheFloatTensorAndOneDequantize) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  const std::string v = Fq(b, "/in", "x", 0.05f, 128);
  b.InitF("W1", {4, 2, 1, 1}, Ramp(8, 0.5f));
  b.InitF("W2", {2, 4, 1, 1}, Ramp(8, 0.25f));
  b.InitF("W3", {3, 2, 1, 1}, Ramp(6, 0.125f));
  b.Node("Conv", "c1", {v, "W1"}, {"c1/out"});
  b.Node("Conv", "c2", {"c1/out", "W2"}, {"c2/out"});
  b.Node("Conv", "c3", {v, "W3"}, {"y2"});  // a second float layer on the same quantized tensor
  Fq(b, "/out", "c2/out", 0.1f, 128);
  b.Node("Identity", "id", {"/out/dq"}, {"y"});
  b.Output("y");
  b.Output("y2");
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const CModel& m = r.model;
  EXPECT_EQ(Opcodes(m), (std::vector<OpCode>{OpCode::kQuantize, OpCode::kDequantize,
                                             OpCode::kConv2D, OpCode::kConv2D, OpCode::kConv2D,
                                             OpCode::kQuantize, OpCode::kDequantize}));
  const COp* c1 = FindOp(m, "c1");
  const COp* c2 = FindOp(m, "c2");
  const COp* c3 = FindOp(m, "c3");
  EXPECT_EQ(c2->inputs[0], c1->outputs[0]);
  EXPECT_EQ(c3->inputs[0], c1->inputs[0]);
  EXPECT_EQ(T(m, c1->inputs[0]).name, "/in/dq");
}

// MixedModel() converted with the --config text `config` (which must parse).
ConvertResult ConvertMixedWithConfig(const std::string& config) {
  cv::ConvertOptions o;
  std::vector<std::string> problems;
  EXPECT_TRUE(cv::ParseLayerConfig(config, "c.json", &o.layers, &problems)) << Joined(problems);
  OnnxBuilder b = MixedModel();
  return cv::ConvertModel(b.model(), std::string(64, 'a'), o);
}

TEST(FloatLayers, ConfigKeepsAQuantizedLayerFloat) {
  ConvertResult r = ConvertMixedWithConfig(R"({"layers": [{"match": "c3", "float": true}]})");
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const CModel& m = r.model;
  const COp* c3 = FindOp(m, "c3");
  ASSERT_NE(c3, nullptr);
  EXPECT_EQ(c3->version, 2);
  EXPECT_EQ(c3->family, cv::KernelFamily::kXnnpack);
  // w = sw * (q - zw) in double, rounded once to float.
  const std::vector<int64_t> codes = {1, 2, 3, -3, -2, -1, 0, 1};
  std::vector<float> want;
  for (int64_t c : codes) want.push_back(float(double(0.2f) * double(c)));
  EXPECT_EQ(T(m, c3->inputs[1]).fdata, want);
  EXPECT_EQ(c3->inputs[2], -1);
  // Its input is the DEQUANTIZE of /a2; its FLOAT32 output is quantized by /out/Q.
  EXPECT_EQ(Writer(m, c3->inputs[0])->opcode, OpCode::kDequantize);
  EXPECT_EQ(T(m, c3->inputs[0]).name, "/a2/dq");
  EXPECT_EQ(Opcodes(m),
            (std::vector<OpCode>{OpCode::kQuantize, OpCode::kConv2D, OpCode::kDequantize,
                                 OpCode::kConv2D, OpCode::kQuantize, OpCode::kDequantize,
                                 OpCode::kConv2D, OpCode::kQuantize, OpCode::kDequantize}));
  EXPECT_EQ(FindOp(m, "c1")->version, 1);

  // "float": false on a quantized layer changes nothing; an entry matching no layer is a problem.
  ConvertResult r2 = ConvertMixedWithConfig(
      R"({"layers": [{"match": "c1", "float": false}, {"match": "nope", "float": true}]})");
  EXPECT_TRUE(testing::Refused(r2, "config entry \"nope\" matches no"));
  EXPECT_EQ(Joined(r2.problems).find("\"c1\""), std::string::npos) << Joined(r2.problems);
}

// --config "int8": the float conv c2 gets 8-bit weights (per output channel, max|w| / 127) and
// runs as a quantized layer between its quantized neighbours: no DEQUANTIZE / QUANTIZE.
TEST(FloatLayers, ConfigInt8QuantizesAFloatLayersWeights) {
  ConvertResult r = ConvertMixedWithConfig(R"({"layers": [{"match": "c2", "int8": true}]})");
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const CModel& m = r.model;
  EXPECT_EQ(Opcodes(m), (std::vector<OpCode>{OpCode::kQuantize, OpCode::kConv2D, OpCode::kConv2D,
                                             OpCode::kConv2D, OpCode::kDequantize}));
  const COp* c2 = FindOp(m, "c2");
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(c2->version, 1);
  EXPECT_EQ(T(m, c2->inputs[0]).name, "/a1/q");
  const CTensor& w = T(m, c2->inputs[1]);
  EXPECT_EQ(w.name, "c2/weight_int8");
  EXPECT_LE(w.bits, 8);
  ASSERT_EQ(w.scale.size(), 4u);
  const std::vector<float> v = Ramp(4 * 3 * 9, 0.1f);
  for (size_t ch = 0; ch < 4; ch++) {
    float amax = 0;
    for (size_t i = ch * 27; i < ch * 27 + 27; i++) amax = std::max(amax, std::fabs(v[i]));
    EXPECT_EQ(w.scale[ch], amax / 127.f) << ch;
  }
  // Both at once, or int8 of a non-boolean, are problems.
  std::vector<cv::LayerOverride> bad;
  std::vector<std::string> bad_problems;
  EXPECT_FALSE(cv::ParseLayerConfig(
      R"({"layers": [{"match": "c2", "int8": true, "float": true}, {"match": "c1", "int8": 1}]})",
      "c.json", &bad, &bad_problems));
  EXPECT_EQ(Joined(bad_problems),
            "config 'c.json' layers[0] asks for both float and int8; a layer is one or the other\n"
            "config 'c.json' layers[1] has int8 of a non-boolean; it takes true or false\n");
}

// x -> float 3x3 conv + Relu -> `reader` -> Q/DQ -> quantized 1x1 conv -> Q/DQ -> y: the quantizer
// moves before the MaxPool / Flatten / Reshape, which then runs on codes with its parameters.
OnnxBuilder FloatStem(const std::string& reader) {
  OnnxBuilder b;
  b.Input("x", {1, 2, 4, 4});
  b.InitF("W", {3, 2, 3, 3}, Ramp(3 * 2 * 9, 0.2f));
  auto* c = b.Node("Conv", "stem", {"x", "W"}, {"c"});
  OnnxBuilder::AttrInts(c, "pads", {1, 1, 1, 1});
  b.Node("Relu", "relu", {"c"}, {"r"});
  if (reader == "MaxPool") {
    auto* p = b.Node("MaxPool", "pool", {"r"}, {"p"});
    OnnxBuilder::AttrInts(p, "kernel_shape", {2, 2});
    OnnxBuilder::AttrInts(p, "strides", {2, 2});
  } else {
    b.Node("Flatten", "pool", {"r"}, {"p"});
  }
  std::string v = Fq(b, "/a1", "p", 0.04f, 0);
  if (reader == "MaxPool") {
    b.Node("Conv", "c2", {v, QWeight(b, "/c2", {2, 3, 1, 1}, {1, -2, 3, -1, 2, 1}, 0.1f)},
           {"c2/out"});
  } else {
    b.Node("Gemm", "c2", {v, QWeight(b, "/c2", {2, 48}, std::vector<int64_t>(96, 1), 0.1f)},
           {"c2/out"});
    OnnxBuilder::AttrI(b.graph()->mutable_node(b.graph()->node_size() - 1), "transB", 1);
  }
  Fq(b, "/out", "c2/out", 0.1f, 128);
  b.Node("Identity", "id", {"/out/dq"}, {"y"});
  b.Output("y");
  return b;
}

TEST(FloatLayers, AMaxPoolOrFlattenBeforeAQuantizerRunsOnCodes) {
  for (const char* reader : {"MaxPool", "Flatten"}) {
    SCOPED_TRACE(reader);
    OnnxBuilder b = FloatStem(reader);
    ConvertResult r = Convert(b);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const CModel& m = r.model;
    const OpCode move = std::string(reader) == "MaxPool" ? OpCode::kMaxPool2D : OpCode::kReshape;
    const OpCode last =
        std::string(reader) == "MaxPool" ? OpCode::kConv2D : OpCode::kFullyConnected;
    EXPECT_EQ(Opcodes(m), (std::vector<OpCode>{OpCode::kConv2D, OpCode::kQuantize, move, last,
                                               OpCode::kDequantize}));
    const COp& quantize = m.ops[1];
    EXPECT_EQ(quantize.name, "stem/quantize");
    EXPECT_EQ(quantize.inputs[0], m.ops[0].outputs[0]);
    // The stem's output quantized with the /a1 quantizer's parameters; the pool / flatten keeps
    // them (a code copy).
    const CTensor& q = T(m, quantize.outputs[0]);
    const CTensor& p = T(m, m.ops[2].outputs[0]);
    EXPECT_EQ(q.name, "r/quantized");  // the Relu fused into the stem
    EXPECT_EQ(q.shape, (std::vector<int64_t>{1, 3, 4, 4}));
    EXPECT_EQ(q.scale, std::vector<float>{0.04f});
    EXPECT_EQ(q.scale, p.scale);
    EXPECT_EQ(q.zero_point, p.zero_point);
    EXPECT_EQ(q.bits, p.bits);
    EXPECT_EQ(m.ops[2].inputs[0], quantize.outputs[0]);
    EXPECT_EQ(m.ops[0].clamp.fmin, 0.f);  // the fused Relu
  }
}

// Opset 21's blocked DequantizeLinear of a constant weight: folded into the float weight it
// computes (a float layer); of an activation, or with a scale of the wrong shape: refused by name.
OnnxBuilder BlockedModel(std::vector<int64_t> scale_dims, bool activation = false) {
  OnnxBuilder b(21);
  b.Input("x", {1, 4, 2, 2});
  const std::string v = Fq(b, "/in", "x", 0.05f, 128);
  // w [2, 4, 1, 1] int8, blocks of 2 input channels (axis 1): scale / zero point [2, 2, 1, 1].
  b.InitI("w", kI8, {2, 4, 1, 1}, {1, -2, 3, -4, 5, -6, 7, -8});
  std::vector<float> scales = {0.5f, 0.25f, 2.f, 1.f};
  int64_t n = 1;
  for (int64_t d : scale_dims) n *= d;
  scales.resize(size_t(n), 1.f);
  b.InitF("ws", scale_dims, scales);
  b.InitI("wz", kI8, scale_dims, std::vector<int64_t>(size_t(n), 1));
  auto* dq = b.Node("DequantizeLinear", "wdq", {activation ? v : "w", "ws", "wz"}, {"wf"});
  OnnxBuilder::AttrI(dq, "axis", 1);
  OnnxBuilder::AttrI(dq, "block_size", 2);
  b.Node("Conv", "conv", {v, "wf"}, {"y"});
  b.Output("y");
  return b;
}

TEST(FloatLayers, BlockedDequantizeOfAWeightIsFoldedToFloat) {
  OnnxBuilder b = BlockedModel({2, 2, 1, 1});
  ConvertResult r = Convert(b);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const COp* conv = FindOp(r.model, "conv");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->version, 2);
  // w = float(q - 1) * scale of its (output channel, block of 2 input channels).
  EXPECT_EQ(T(r.model, conv->inputs[1]).fdata,
            (std::vector<float>{0 * 0.5f, -3 * 0.5f, 2 * 0.25f, -5 * 0.25f, 4 * 2.f, -7 * 2.f,
                                6 * 1.f, -9 * 1.f}));

  OnnxBuilder wrong = BlockedModel({2, 4, 1, 1});
  EXPECT_TRUE(testing::Refused(
      Convert(wrong),
      "node 'wdq' (op DequantizeLinear): blocked dequantization of 'w': its scale and zero point "
      "must have the data's shape with ceil(dim / block_size) along axis 1"));

  OnnxBuilder act = BlockedModel({1, 2, 2, 2}, true);
  EXPECT_TRUE(testing::Refused(
      Convert(act), "blocked quantization (block_size) of a computed value is not supported"));
}

// A Softmax of float logits giving the graph output: SOFTMAX version 2 after a float layer, and
// after a quantized Gemm (which then writes FLOAT32 logits).
TEST(FloatLayers, SoftmaxOfFloatLogitsIsAFloatSoftmax) {
  for (bool float_fc : {true, false}) {
    SCOPED_TRACE(float_fc ? "float Gemm" : "quantized Gemm");
    OnnxBuilder b(13);
    b.Input("x", {2, 6});
    const std::string v = Fq(b, "/in", "x", 0.05f, 128);
    std::string w = "W";
    if (float_fc) {
      b.InitF("W", {4, 6}, Ramp(24, 0.3f));
    } else {
      w = QWeight(b, "/fc", {4, 6}, std::vector<int64_t>{1, -1, 2, 0, 3,  -2, 1, 1, 1, 1, 1, 1,
                                                         0, 0,  2, 2, -3, 3,  1, 2, 3, 4, 5, 6},
                  0.1f);
    }
    OnnxBuilder::AttrI(b.Node("Gemm", "fc", {v, w}, {"logits"}), "transB", 1);
    OnnxBuilder::AttrI(b.Node("Softmax", "softmax", {"logits"}, {"y"}), "axis", -1);
    b.Output("y");
    ConvertResult r = Convert(b);
    ASSERT_TRUE(r.ok) << Joined(r.problems);
    const CModel& m = r.model;
    if (float_fc) {  // the float layer reads the DEQUANTIZE of the quantized input
      EXPECT_EQ(Opcodes(m), (std::vector<OpCode>{OpCode::kQuantize, OpCode::kDequantize,
                                                 OpCode::kFullyConnected, OpCode::kSoftmax}));
    } else {
      EXPECT_EQ(Opcodes(m), (std::vector<OpCode>{OpCode::kQuantize, OpCode::kFullyConnected,
                                                 OpCode::kSoftmax}));
    }
    const COp* sm = FindOp(m, "softmax");
    ASSERT_NE(sm, nullptr);
    EXPECT_EQ(sm->version, 2);
    EXPECT_EQ(sm->axis, 1);
    ASSERT_EQ(sm->inputs.size(), 1u);
    EXPECT_EQ(T(m, sm->inputs[0]).type, cv::ElemType::kFloat32);
    EXPECT_EQ(T(m, sm->inputs[0]).name, "logits");
    EXPECT_EQ(FindOp(m, "fc")->version, float_fc ? 2 : 1);
    EXPECT_EQ(m.outputs, std::vector<int>{sm->outputs[0]});
  }
}

TEST(FloatLayers, OtherReadersOfAFloatLayerAreRefusedByName) {
  // A quantized Add reading a float layer's output without Q/DQ between them.
  OnnxBuilder b;
  b.Input("x", {1, 2, 3, 3});
  const std::string v = Fq(b, "/in", "x", 0.05f, 128);
  b.InitF("W", {2, 2, 1, 1}, Ramp(4, 0.5f));
  b.Node("Conv", "fconv", {v, "W"}, {"f"});
  b.Node("Add", "add", {"f", v}, {"s"});
  Fq(b, "/out", "s", 0.1f, 128);
  b.Node("Identity", "id", {"/out/dq"}, {"y"});
  b.Output("y");
  EXPECT_TRUE(testing::Refused(
      Convert(b),
      "node 'add' (op Add): its input 'f' is the float output of the float layer node 'fconv' "
      "(op Conv); insert QuantizeLinear -> DequantizeLinear between them"));

  // A float layer reading the float output of an op crumb computes on codes.
  OnnxBuilder b2;
  b2.Input("x", {1, 2, 4, 4});
  const std::string v2 = Fq(b2, "/in", "x", 0.05f, 128);
  b2.Node("AveragePool", "pool", {v2}, {"p"});
  OnnxBuilder::AttrInts(b2.graph()->mutable_node(b2.graph()->node_size() - 1), "kernel_shape",
                        {2, 2});
  b2.InitF("W", {2, 2, 1, 1}, Ramp(4, 0.5f));
  b2.Node("Conv", "fconv", {"p", "W"}, {"y"});
  b2.Output("y");
  EXPECT_TRUE(testing::Refused(
      Convert(b2),
      "node 'fconv' (op Conv): its input 'p' is the float output of node 'pool' (op AveragePool)"));
}

}  // namespace
}  // namespace crumb
