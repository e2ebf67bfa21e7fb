// The converter on malformed or unsupported ONNX: one row per class of problem, each a good model
// with one thing broken. Every row must fail with its problem listed (naming the node or the
// tensor), never crash, and produce no bytes; ConvertFile must leave no output file.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "converter/converter.h"
#include "converter/onnx_import.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"
#include "tests/converter/test_models.h"

namespace crumb {
namespace {

using testing::ConvModel;
using testing::ConvModelSpec;
using testing::Joined;
using testing::OnnxBuilder;

constexpr const char* kQonnx = "qonnx.custom_op.general";

onnx::TensorProto* FindInit(onnx::ModelProto& m, const std::string& name) {
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

onnx::NodeProto* FindNode(onnx::ModelProto& m, const std::string& name) {
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.name() == name) return &n;
  return nullptr;
}

void SetExternal(onnx::TensorProto* t, const std::string& location) {
  t->clear_raw_data();
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value(location);
}

// A QONNX activation quantizer between two Q/DQ-free float ops: x -> Quant -> Relu -> y.
void QuantGraph(OnnxBuilder& b, float bits, const std::string& mode) {
  b.Input("x", {1, 4});
  b.InitF("qa/scale", {}, {0.1f});
  b.InitF("qa/zeropt", {}, {0.f});
  b.InitF("qa/bitwidth", {}, {bits});
  auto* n = b.Node("Quant", "qa", {"x", "qa/scale", "qa/zeropt", "qa/bitwidth"}, {"xq"}, kQonnx);
  OnnxBuilder::AttrI(n, "signed", 0);
  OnnxBuilder::AttrI(n, "narrow", 0);
  OnnxBuilder::AttrS(n, "rounding_mode", mode);
  b.Node("Relu", "relu", {"xq"}, {"y"});
  b.Output("y");
}

struct Row {
  const char* name;
  std::function<void(onnx::ModelProto&)> mutate;  // applied to the good ConvModel
  std::vector<const char*> fragments;             // each must appear in the joined problems
};

const std::vector<Row>& Rows() {
  static const std::vector<Row> rows = {
      {"missing initializer",
       [](onnx::ModelProto& m) {
         auto* g = m.mutable_graph();
         for (int k = 0; k < g->initializer_size(); k++) {
           if (g->initializer(k).name() == "/conv/w/weight") {
             g->mutable_initializer()->DeleteSubrange(k, 1);
             break;
           }
         }
       },
       {"node '/conv/w/QuantizeLinear' (op QuantizeLinear): reads '/conv/w/weight', which is "
        "neither a graph input, an initializer nor the output of a node (a missing "
        "initializer?)"}},
      {"weight rank mismatch",
       [](onnx::ModelProto& m) {
         auto* t = FindInit(m, "/conv/w/weight");
         t->clear_dims();
         for (int64_t d : {4, 2, 9}) t->add_dims(d);
       },
       {"/conv/Conv"}},
      {"zero-size input dimension",
       [](onnx::ModelProto& m) {
         m.mutable_graph()
             ->mutable_input(0)
             ->mutable_type()
             ->mutable_tensor_type()
             ->mutable_shape()
             ->mutable_dim(2)
             ->set_dim_value(0);
       },
       {"graph input 'x' has dimension 2 of size 0; sizes must be >= 1"}},
      {"zero-size initializer",
       [](onnx::ModelProto& m) {
         auto* t = FindInit(m, "conv.bias");
         t->clear_dims();
         t->add_dims(0);
         t->clear_raw_data();
       },
       {"conv.bias"}},
      {"initializer data shorter than its shape",
       [](onnx::ModelProto& m) {
         auto* t = FindInit(m, "/conv/w/weight");
         t->set_raw_data(t->raw_data().substr(0, 8));
       },
       {"initializer '/conv/w/weight'", "expected 72"}},
      {"inconsistent quantizer bit widths",
       [](onnx::ModelProto& m) {
         // The dequantizer reads codes as INT8 that the quantizer wrote as UINT8.
         auto* dq = FindNode(m, "/act1/DequantizeLinear");
         const std::string z = "/act1/zp_signed";
         OnnxBuilder::FillInt(m.mutable_graph()->add_initializer(), 3, {}, {0});
         m.mutable_graph()->mutable_initializer()->rbegin()->set_name(z);
         dq->set_input(2, z);
       },
       {"/act1/DequantizeLinear"}},
      {"16-bit quantizer",
       [](onnx::ModelProto& m) {
         auto* t = FindInit(m, "/act2/zp");
         t->Clear();
         OnnxBuilder::FillInt(t, 4, {}, {0});
         t->set_name("/act2/zp");
       },
       {"/act2/QuantizeLinear", "bit width 16"}},
      {"per-channel scales along the wrong axis",
       [](onnx::ModelProto& m) {
         // Four scales along axis 1, which has two input channels.
         for (const char* n : {"/conv/w/QuantizeLinear", "/conv/w/DequantizeLinear"})
           FindNode(m, n)->mutable_attribute(0)->set_i(1);
       },
       {"/conv/w/QuantizeLinear",
        "4 scales / zero points do not match axis 1 of "
        "'/conv/w/weight'"}},
      {"node without an output",
       [](onnx::ModelProto& m) { FindNode(m, "/act1/DequantizeLinear")->clear_output(); },
       {"node '/act1/DequantizeLinear' (op DequantizeLinear): has no first output"}},
      {"pool pads as large as the window",
       [](onnx::ModelProto& m) {
         // The global pool as a 5x5 max pool with 5 rows of padding on top: windows entirely in
         // the padding.
         auto* n = FindNode(m, "/gap");
         n->set_op_type("MaxPool");
         OnnxBuilder::AttrInts(n, "kernel_shape", {5, 5});
         OnnxBuilder::AttrInts(n, "pads", {5, 0, 0, 0});
       },
       {"node '/gap' (op MaxPool): has pads 5,0,0,0 that are not smaller than its 5x5 window"}},
      {"zero scale",
       [](onnx::ModelProto& m) { FindInit(m, "/act1/scale")->set_raw_data(std::string(4, '\0')); },
       {"/act1"}},
      {"external data with ..",
       [](onnx::ModelProto& m) { SetExternal(FindInit(m, "conv.bias"), "../../secret.bin"); },
       {"conv.bias", "'../../secret.bin'", "refused"}},
      {"external data at an absolute path",
       [](onnx::ModelProto& m) { SetExternal(FindInit(m, "fc.bias"), "/etc/passwd"); },
       {"fc.bias", "'/etc/passwd'", "refused"}},
      {"external data in the model's folder",
       [](onnx::ModelProto& m) { SetExternal(FindInit(m, "fc.bias"), "weights.bin"); },
       {"fc.bias", "not supported"}},
      {"value produced twice",
       [](onnx::ModelProto& m) { FindNode(m, "/gap")->set_output(0, "/conv/Conv_output_0"); },
       {"node '/gap' (op GlobalAveragePool): writes '/conv/Conv_output_0', which another node or "
        "a graph input already gives"}},
      {"graph output not produced",
       [](onnx::ModelProto& m) { m.mutable_graph()->mutable_output(0)->set_name("nowhere"); },
       {"graph output 'nowhere' is not the output of any node"}},
      {"negative input dimension",
       [](onnx::ModelProto& m) {
         m.mutable_graph()
             ->mutable_input(0)
             ->mutable_type()
             ->mutable_tensor_type()
             ->mutable_shape()
             ->mutable_dim(1)
             ->set_dim_value(-4);
       },
       {"graph input 'x' has dimension 1 of size -4"}},
      {"unsupported op",
       [](onnx::ModelProto& m) { FindNode(m, "/gap")->set_op_type("GlobalLpPool"); },
       {"node '/gap' (op GlobalLpPool): unsupported op"}},
      {"unsupported attribute",
       [](onnx::ModelProto& m) { OnnxBuilder::AttrI(FindNode(m, "/fc/Gemm"), "transA", 1); },
       {"node '/fc/Gemm' (op Gemm): transA=1 is not supported"}},
      {"non-float graph input",
       [](onnx::ModelProto& m) {
         m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(
             7);
       },
       {"graph input 'x'", "INT64"}},
      {"several problems in one message",
       [](onnx::ModelProto& m) {
         FindNode(m, "/gap")->set_op_type("GlobalLpPool");
         OnnxBuilder::AttrI(FindNode(m, "/fc/Gemm"), "transA", 1);
         SetExternal(FindInit(m, "conv.bias"), "/abs/path");
       },
       {"'/gap'", "'/fc/Gemm'", "conv.bias"}},
  };
  return rows;
}

TEST(ConvertBadOnnxTable, EveryRowFailsWithItsProblem) {
  size_t n = 0;
  for (const Row& row : Rows()) {
    ConvModel cm{ConvModelSpec()};
    OnnxBuilder& b = cm.Build();
    {
      cv::ConvertResult good = cv::ConvertOnnxBytes(b.Bytes(), cv::ConvertOptions());
      ASSERT_TRUE(good.ok) << Joined(good.problems);
    }
    row.mutate(b.model());
    cv::ConvertResult r = cv::ConvertOnnxBytes(b.Bytes(), cv::ConvertOptions());
    const std::string all = Joined(r.problems);
    EXPECT_FALSE(r.ok) << row.name << ": converted";
    EXPECT_TRUE(r.bytes.empty()) << row.name;
    for (const char* f : row.fragments)
      EXPECT_NE(all.find(f), std::string::npos) << row.name << ": no '" << f << "' in\n" << all;
    printf("[ problems ] %s:\n%s", row.name, all.c_str());
    n++;
  }
  EXPECT_GE(n, 18u);
}

TEST(ConvertBadOnnxTable, QonnxRows) {
  struct QRow {
    const char* name;
    float bits;
    const char* mode;
    const char* fragment;
  };
  const QRow rows[] = {
      {"unsupported rounding mode", 4, "HALF_UP", "rounding_mode"},
      {"rounding other than ROUND on an activation", 4, "FLOOR", "rounding_mode 'FLOOR'"},
      {"bit width 9", 9, "ROUND", "unsupported bit width 9"},
      {"fractional bit width", 2.5f, "ROUND", "is not an integer"},
  };
  for (const QRow& row : rows) {
    OnnxBuilder b;
    QuantGraph(b, row.bits, row.mode);
    cv::ConvertResult r = cv::ConvertOnnxBytes(b.Bytes(), cv::ConvertOptions());
    const std::string all = Joined(r.problems);
    EXPECT_FALSE(r.ok) << row.name;
    EXPECT_NE(all.find("node 'qa'"), std::string::npos) << row.name << ":\n" << all;
    EXPECT_NE(all.find(row.fragment), std::string::npos) << row.name << ":\n" << all;
    printf("[ problems ] %s:\n%s", row.name, all.c_str());
  }
}

TEST(ConvertBadOnnxTable, GarbageAndTruncatedBytesNeverCrash) {
  ConvModel cm{ConvModelSpec()};
  const std::string good = cm.Build().Bytes();
  for (size_t len :
       {size_t{0}, size_t{1}, size_t{7}, good.size() / 3, good.size() / 2, good.size() - 1}) {
    cv::ConvertResult r = cv::ConvertOnnxBytes(good.substr(0, len), cv::ConvertOptions());
    EXPECT_FALSE(r.ok) << "prefix of " << len << " bytes converted";
    EXPECT_FALSE(r.problems.empty());
    if (len == 0) {
      EXPECT_EQ(Joined(r.problems), "the graph declares no outputs\n");
    }
  }
  // Flipped bytes: converting may succeed or fail, but must not crash.
  uint32_t s = 7;
  for (int k = 0; k < 200; k++) {
    std::string b = good;
    for (int f = 0; f < 4; f++) {
      s = s * 1103515245u + 12345u;
      b[(s >> 8) % b.size()] ^= char(1 + (s >> 24) % 255);
    }
    cv::ConvertResult r = cv::ConvertOnnxBytes(b, cv::ConvertOptions());
    EXPECT_EQ(r.ok, r.problems.empty());
  }
}

TEST(ConvertBadOnnxTable, NoOutputFileOnFailure) {
  char dir[] = "/tmp/crumb-bad-onnx-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string in = std::string(dir) + "/bad.onnx", out = std::string(dir) + "/bad.crumb";
  ConvModel cm{ConvModelSpec()};
  OnnxBuilder& b = cm.Build();
  SetExternal(FindInit(b.model(), "conv.bias"), "../x.bin");
  std::ofstream(in, std::ios::binary) << b.Bytes();
  std::string message;
  EXPECT_FALSE(cv::ConvertFile(in, out, cv::ConvertOptions(), &message, nullptr));
  EXPECT_EQ(message.rfind("cannot convert " + in + ": 1 problem:", 0), 0u) << message;
  struct stat st;
  EXPECT_NE(stat(out.c_str(), &st), 0) << "an output file was written";
  unlink(in.c_str());
  rmdir(dir);
}

TEST(ConvertBadOnnxTable, ExternalPaths) {
  EXPECT_TRUE(cv::ExternalPathIsSafe("w.bin"));
  EXPECT_TRUE(cv::ExternalPathIsSafe("data/w..bin"));
  for (const char* p : {"", "/w.bin", "../w.bin", "a/../../w.bin", "a/..", "..", "\\\\srv\\w",
                        "C:\\w.bin", "a\\..\\w"})
    EXPECT_FALSE(cv::ExternalPathIsSafe(p)) << p;
}

}  // namespace
}  // namespace crumb
