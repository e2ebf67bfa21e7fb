// The forms of one model convert to the same crumb model; the file format and the atomic output.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "converter/converter.h"
#include "converter/writer.h"
#include "kernels/dot/dot.h"
#include "kernels/lut/lut.h"
#include "schema/crumb_generated.h"
#include "tests/converter/convert_test_util.h"
#include "tests/converter/onnx_builder.h"
#include "tests/converter/test_models.h"

namespace crumb {
namespace {

using cv::ConvertResult;
using testing::AnonymousModel;
using testing::ConvModel;
using testing::ConvModelSpec;
using testing::Form;
using testing::Joined;
using testing::OnnxBuilder;

ConvertResult ConvertSpec(const ConvModelSpec& spec) {
  ConvModel cm(spec);
  return cv::ConvertOnnxBytes(cm.Build().Bytes(), cv::ConvertOptions());
}

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> r;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") r.push_back(n);
    }
    closedir(d);
  }
  std::sort(r.begin(), r.end());
  return r;
}

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/crumb_converter_test.XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() {
    for (const auto& f : ListDir(path_)) unlink((path_ + "/" + f).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ------------------------------------------------------------------ forms

TEST(Forms, QcdqFoldedAndNativeGiveIdenticalCrumbFiles) {
  for (int wb : {2, 4, 8}) {
    for (int ab : {2, 4, 8}) {
      for (bool dynamic : {false, true}) {
        SCOPED_TRACE("w" + std::to_string(wb) + "a" + std::to_string(ab) +
                     (dynamic ? " dynamic batch" : ""));
        std::vector<uint8_t> ref;
        std::string ref_hash;
        for (Form f : {Form::kQcdq, Form::kFolded, Form::kNative}) {
          ConvModelSpec spec;
          spec.form = f;
          spec.wbits = wb;
          spec.abits = ab;
          spec.dynamic_batch = dynamic;
          ConvertResult r = ConvertSpec(spec);
          ASSERT_TRUE(r.ok) << Joined(r.problems);
          const std::vector<uint8_t> stripped = cv::WithoutSourceHash(r.bytes);
          EXPECT_NE(stripped, r.bytes) << "the source hash must be in the metadata";
          if (ref.empty()) {
            ref = stripped;
            ref_hash = cv::DumpModel(r.model);
          } else {
            EXPECT_EQ(stripped, ref);
            EXPECT_EQ(cv::DumpModel(r.model), ref_hash);
          }
        }
      }
    }
  }
}

TEST(Forms, Shape1ScalesGiveTheSameModelAsScalars) {
  ConvModelSpec a, b;
  b.shape1_scales = true;
  ConvertResult ra = ConvertSpec(a), rb = ConvertSpec(b);
  ASSERT_TRUE(ra.ok) << Joined(ra.problems);
  ASSERT_TRUE(rb.ok) << Joined(rb.problems);
  EXPECT_EQ(cv::WithoutSourceHash(ra.bytes), cv::WithoutSourceHash(rb.bytes));
}

// Identity nodes (also of constants and in front of the graph output) and Constant nodes change
// nothing in the converted model.
TEST(Forms, IdentityAndConstantNodesChangeNothing) {
  ConvModel plain_model{ConvModelSpec{}};
  OnnxBuilder& plain = plain_model.Build();
  ConvModel quirky_model{ConvModelSpec{}};
  OnnxBuilder& q = quirky_model.Build();
  onnx::GraphProto* g = q.graph();
  // Move the input scale into a Constant node behind an Identity.
  for (int k = 0; k < g->initializer_size(); k++) {
    if (g->initializer(k).name() != "/in/scale") continue;
    onnx::TensorProto t = g->initializer(k);
    g->mutable_initializer()->DeleteSubrange(k, 1);
    onnx::NodeProto c;
    c.set_op_type("Constant");
    c.set_name("const_scale");
    c.add_output("/in/scale_c");
    auto* a = c.add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    *a->mutable_t() = t;
    a->mutable_t()->clear_name();
    onnx::NodeProto id;
    id.set_op_type("Identity");
    id.set_name("id_scale");
    id.add_input("/in/scale_c");
    id.add_output("/in/scale");
    // Insert both at the front.
    onnx::GraphProto copy = *g;
    g->clear_node();
    *g->add_node() = c;
    *g->add_node() = id;
    for (const auto& n : copy.node()) *g->add_node() = n;
    break;
  }
  // Identity between the conv weight's DequantizeLinear and the Conv, and before the output.
  for (auto& n : *g->mutable_node()) {
    if (n.name() == "/conv/Conv") n.set_input(1, "w_id");
    if (n.output_size() && n.output(0) == "y") n.set_output(0, "y_pre");
  }
  q.Node("Identity", "id_w", {"/conv/w/DequantizeLinear_output_0"}, {"w_id"});
  q.Node("Identity", "id_y", {"y_pre"}, {"y"});
  ConvertResult rp = cv::ConvertOnnxBytes(plain.Bytes(), {});
  ConvertResult rq = cv::ConvertOnnxBytes(q.Bytes(), {});
  ASSERT_TRUE(rp.ok) << Joined(rp.problems);
  ASSERT_TRUE(rq.ok) << Joined(rq.problems);
  for (const auto& n : rq.graph.nodes) {
    EXPECT_NE(n.op_type, "Identity");
    EXPECT_NE(n.op_type, "Constant");
  }
  EXPECT_EQ(cv::DumpModel(rq.model), cv::DumpModel(rp.model));
  EXPECT_EQ(cv::WithoutSourceHash(rq.bytes), cv::WithoutSourceHash(rp.bytes));
}

// ------------------------------------------------------------------ file format

TEST(Writer, FileLayoutFollowsTheSchemaReadme) {
  ConvModelSpec spec;
  spec.dynamic_batch = true;
  ConvertResult r = ConvertSpec(spec);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  const std::vector<uint8_t>& bytes = r.bytes;
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()) + 4, 4), "CRMB");
  flatbuffers::Verifier v(bytes.data(), bytes.size());
  ASSERT_TRUE(fb::VerifyModelBuffer(v));
  const fb::Model* m = fb::GetModel(bytes.data());
  EXPECT_EQ(m->version(), 1u);
  ASSERT_TRUE(m->buffers() && m->buffers()->size() > 1);
  EXPECT_EQ(m->buffers()->Get(0)->offset(), 0u);
  EXPECT_EQ(m->buffers()->Get(0)->size(), 0u);
  uint64_t prev_end = 0;
  for (size_t k = 1; k < m->buffers()->size(); k++) {
    const fb::Buffer* b = m->buffers()->Get(uint32_t(k));
    EXPECT_EQ(b->offset() % 64, 0u);
    EXPECT_GE(b->offset(), prev_end);
    EXPECT_LE(b->offset() + b->size(), bytes.size());
    prev_end = b->offset() + b->size();
  }
  // Every constant tensor has its own buffer, with the packed size of its bits in its layout:
  // the conv's W2 x A8 weight for the dot family, the FC's W2 x A4 one for lut (one group each).
  for (const auto* t : *m->tensors()) {
    if (t->buffer() == 0) continue;
    const fb::Buffer* b = m->buffers()->Get(t->buffer());
    if (t->type() == fb::ElementType::QUANT) {
      const size_t n = size_t(t->shape()->Get(0)), kc = size_t(t->shape()->Get(1));
      size_t ks = 1;
      for (size_t d = 2; d < t->shape()->size(); d++) ks *= size_t(t->shape()->Get(uint32_t(d)));
      if (t->shape()->size() == 4) {
        EXPECT_EQ(t->layout(), fb::Layout::DOT_N16K4);
        EXPECT_EQ(b->size(), crumb_dot_packed_size(n, ks, kc, t->bits()));
      } else {
        EXPECT_EQ(t->layout(), fb::Layout::LUT_W2_N64);
        EXPECT_EQ(b->size(), crumb_lut_packed_size(n, ks, kc));
      }
    } else {
      EXPECT_EQ(t->layout(), fb::Layout::DENSE);
      EXPECT_EQ(b->size(), size_t(t->shape()->Get(0)) * 4);
    }
  }
  // The graph input keeps the dynamic batch dimension.
  const fb::Tensor* in = m->tensors()->Get(uint32_t(m->inputs()->Get(0)));
  EXPECT_EQ(in->shape()->Get(0), -1);
  EXPECT_EQ(in->type(), fb::ElementType::FLOAT32);
  std::map<std::string, std::string> meta;
  for (const auto* kv : *m->metadata()) meta[kv->key()->str()] = kv->value()->str();
  EXPECT_EQ(meta["converter"], std::string("crumb-convert ") + cv::kConverterVersion);
  EXPECT_EQ(meta["source_sha256"].size(), 64u);
  EXPECT_EQ(meta["bits:/conv/Conv"], "w2a8");
  EXPECT_EQ(meta["bits:/fc/Gemm"], "w2a4");
  // Ops in order, with their options.
  ASSERT_EQ(m->operators()->size(), 6u);
  EXPECT_EQ(m->operators()->Get(0)->opcode(), fb::OpCode::QUANTIZE);
  const fb::Operator* conv = m->operators()->Get(1);
  EXPECT_EQ(conv->opcode(), fb::OpCode::CONV_2D);
  EXPECT_EQ(conv->family(), fb::KernelFamily::DOT);
  EXPECT_EQ(m->operators()->Get(4)->opcode(), fb::OpCode::FULLY_CONNECTED);
  EXPECT_EQ(m->operators()->Get(4)->family(), fb::KernelFamily::LUT);
  EXPECT_EQ(m->operators()->Get(2)->family(), fb::KernelFamily::AUTO);
  ASSERT_NE(conv->options_as_Conv2DOptions(), nullptr);
  EXPECT_EQ(conv->options_as_Conv2DOptions()->pad_top(), 1);
  EXPECT_EQ(conv->options_as_Conv2DOptions()->clamp()->qmax(), 15);
  EXPECT_EQ(m->operators()->Get(5)->opcode(), fb::OpCode::DEQUANTIZE);
}

// ------------------------------------------------------------------ the file-level API

TEST(ConvertFile, WritesAtomicallyAndNothingOnFailure) {
  TempDir dir;
  const std::string good = dir.path() + "/good.onnx", bad = dir.path() + "/bad.onnx";
  const std::string out = dir.path() + "/out.crumb";
  {
    ConvModel cm{ConvModelSpec{}};
    std::ofstream(good, std::ios::binary) << cm.Build().Bytes();
    OnnxBuilder b;
    b.Input("x", {1, 4});
    b.Node("TopK", "softmax_1", {"x"}, {"a"});
    b.Node("Tanh", "tanh_1", {"a"}, {"y"});
    b.Output("y");
    std::ofstream(bad, std::ios::binary) << b.Bytes();
  }
  std::string msg, summary;
  ASSERT_TRUE(cv::ConvertFile(good, out, {}, &msg, &summary)) << msg;
  const std::string first = ReadFile(out);
  EXPECT_FALSE(first.empty());
  // A failed conversion lists every problem and leaves the existing output alone.
  EXPECT_FALSE(cv::ConvertFile(bad, out, {}, &msg, &summary));
  EXPECT_NE(msg.find("cannot convert " + bad + ": 2 problems:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'softmax_1' (op TopK): unsupported op"), std::string::npos) << msg;
  EXPECT_NE(msg.find("node 'tanh_1' (op Tanh): unsupported here"), std::string::npos) << msg;
  EXPECT_EQ(ReadFile(out), first);
  // No output and no temporary file when there was none before.
  const std::string out2 = dir.path() + "/out2.crumb";
  EXPECT_FALSE(cv::ConvertFile(bad, out2, {}, &msg, &summary));
  EXPECT_FALSE(Exists(out2));
  EXPECT_EQ(ListDir(dir.path()), (std::vector<std::string>{"bad.onnx", "good.onnx", "out.crumb"}));
  // Garbage input.
  const std::string junk = dir.path() + "/junk.onnx";
  std::ofstream(junk, std::ios::binary) << "\xff\xff\xff not a protobuf";
  EXPECT_FALSE(cv::ConvertFile(junk, out2, {}, &msg, &summary));
  EXPECT_FALSE(Exists(out2));
  unlink(junk.c_str());
  // An unwritable destination fails cleanly.
  EXPECT_FALSE(cv::ConvertFile(good, dir.path() + "/no/such/dir/x.crumb", {}, &msg, &summary));
  EXPECT_NE(msg.find("cannot write"), std::string::npos) << msg;
  EXPECT_EQ(ListDir(dir.path()), (std::vector<std::string>{"bad.onnx", "good.onnx", "out.crumb"}));
}

// ------------------------------------------------------------------ reference models on disk

// Converts the forms of every model directory under `root` whose name starts with one of
// `prefixes`: qcdq / folded / native (and binary_folded, binary_sign) must give identical files
// (source hash aside); the QONNX forms (qonnx, qonnx_mt, binary_qonnx) the same model up to names.
int CheckModelDirs(const std::string& root, const std::vector<std::string>& prefixes) {
  int checked = 0;
  for (const auto& d : ListDir(root)) {
    bool match = false;
    for (const auto& p : prefixes) match = match || d.rfind(p, 0) == 0;
    if (!match) continue;
    std::vector<uint8_t> ref;
    std::string ref_form, ref_anonymous;
    for (const char* form : {"folded", "qcdq", "native", "binary_folded", "binary_sign", "qonnx",
                             "qonnx_mt", "binary_qonnx"}) {
      const std::string path = root + "/" + d + "/" + form + ".onnx";
      if (!Exists(path)) continue;
      SCOPED_TRACE(path);
      ConvertResult r = cv::ConvertOnnxBytes(ReadFile(path), {});
      EXPECT_TRUE(r.ok) << Joined(r.problems);
      if (!r.ok) continue;
      checked++;
      const auto stripped = cv::WithoutSourceHash(r.bytes);
      const bool qonnx = std::string(form).find("qonnx") != std::string::npos;
      if (ref.empty()) {
        ref = stripped;
        ref_form = form;
        ref_anonymous = AnonymousModel(r.model);
      } else if (qonnx) {
        EXPECT_TRUE(AnonymousModel(r.model) == ref_anonymous)
            << form << " differs from " << ref_form;
      } else {
        EXPECT_TRUE(stripped == ref) << form << " differs from " << ref_form;
      }
    }
  }
  return checked;
}

// The extra models of the e2e label (CI points CRUMB_EXTRA_MODELS at ../shared/models).
TEST(ReferenceModels, ExtraModelsFormsAreIdentical) {
  const char* env = getenv("CRUMB_EXTRA_MODELS");
  if (!env || !*env) GTEST_SKIP() << "CRUMB_EXTRA_MODELS is not set";
  const std::string root = env;
  if (!Exists(root)) GTEST_SKIP() << root << " does not exist";
  const int n = CheckModelDirs(root, {""});
  if (n == 0) GTEST_SKIP() << "no qcdq / folded / native models under " << root;
}

#ifdef CRUMB_TEST_DATA_DIR
// smallcnn: conv 3x3 (8-bit) -> conv 3x3/s2 -> depthwise 3x3 -> 1x1 -> fc (see tests/data).
TEST(LayerReport, TableWarningsAndStrict) {
  const std::string onnx = ReadFile(std::string(CRUMB_TEST_DATA_DIR) + "/smallcnn_w2a4/qcdq.onnx");
  ASSERT_FALSE(onnx.empty());
  cv::ConvertOptions o;
  o.target = cv::Target::kX86Avx512;
  ConvertResult r = cv::ConvertOnnxBytes(onnx, o);
  ASSERT_TRUE(r.ok) << r.problems.size();
  EXPECT_TRUE(r.warnings.empty());
  for (const char* want : {"/conv1/Conv  conv 3x3/s1", "w8a8o4", "dwconv 3x3/s1", "16->16",
                           "/fc/Gemm", "5 layers, "}) {
    EXPECT_NE(r.layer_table.find(want), std::string::npos) << want << " in\n" << r.layer_table;
  }
  // A strict conversion for a target with optimized kernels for every layer is the same file.
  o.strict = true;
  ConvertResult strict = cv::ConvertOnnxBytes(onnx, o);
  ASSERT_TRUE(strict.ok);
  EXPECT_EQ(strict.bytes, r.bytes);

  // armv7: every GEMM / depthwise family runs its scalar kernels there.
  o.target = cv::Target::kArmv7;
  o.strict = false;
  ConvertResult a = cv::ConvertOnnxBytes(onnx, o);
  ASSERT_TRUE(a.ok);
  ASSERT_EQ(a.warnings.size(), 5u);
  EXPECT_NE(a.warnings[2].find("layer '/dw/Conv' (dwconv 3x3/s1, w2a4o4)"), std::string::npos)
      << a.warnings[2];
  EXPECT_NE(a.layer_table.find("5 on scalar kernels"), std::string::npos);
  o.strict = true;
  ConvertResult as = cv::ConvertOnnxBytes(onnx, o);
  EXPECT_FALSE(as.ok);
  EXPECT_TRUE(as.bytes.empty());
  ASSERT_EQ(as.problems.size(), 5u);
  EXPECT_NE(as.problems[0].find("refused by --strict"), std::string::npos) << as.problems[0];

  // A forced scalar family is named as the reason on any target.
  o.target = cv::Target::kX86Avx2;
  o.family = cv::KernelFamily::kScalar;
  ConvertResult sc = cv::ConvertOnnxBytes(onnx, o);
  EXPECT_FALSE(sc.ok);
  ASSERT_FALSE(sc.problems.empty());
  EXPECT_NE(sc.problems[0].find("forced to scalar"), std::string::npos) << sc.problems[0];
}

// --config: per-layer families by glob, the last matching entry winning per key; a sparse layer
// by name; every problem of a bad config listed; an entry matching no layer refused.
TEST(LayerConfig, OverridesFamiliesPerLayer) {
  const std::string onnx = ReadFile(std::string(CRUMB_TEST_DATA_DIR) + "/smallcnn_w4a4/qcdq.onnx");
  ASSERT_FALSE(onnx.empty());
  cv::ConvertOptions o;
  std::vector<std::string> problems;
  ASSERT_TRUE(cv::ParseLayerConfig(R"({"layers": [
      {"match": "/conv*", "family": "scalar"},
      {"match": "/conv1/Conv", "family": "auto"},
      {"match": "/pw/*", "family": "sparse"}]})",
                                   "c.json", &o.layers, &problems))
      << Joined(problems);
  ConvertResult r = cv::ConvertOnnxBytes(onnx, o);
  ASSERT_TRUE(r.ok) << Joined(r.problems);
  std::map<std::string, std::pair<cv::KernelFamily, cv::FamilySource>> fam;
  for (const auto& op : r.model.ops) fam[op.name] = {op.family, op.family_source};
  EXPECT_EQ(fam["/conv1/Conv"].first, cv::KernelFamily::kDot);
  EXPECT_EQ(fam["/conv1/Conv"].second, cv::FamilySource::kTable);
  EXPECT_EQ(fam["/conv2/Conv"].first, cv::KernelFamily::kScalar);
  EXPECT_EQ(fam["/conv2/Conv"].second, cv::FamilySource::kForced);
  EXPECT_EQ(fam["/pw/Conv"].first, cv::KernelFamily::kSparse);
  EXPECT_EQ(fam["/pw/Conv"].second, cv::FamilySource::kForced);
  EXPECT_EQ(fam["/fc/Gemm"].first, cv::KernelFamily::kDot);
  EXPECT_NE(r.layer_table.find("/conv2/Conv  conv 3x3/s2    8->16     w4a4o4  scalar"),
            std::string::npos)
      << r.layer_table;

  cv::ConvertOptions typo;
  ASSERT_TRUE(cv::ParseLayerConfig(R"({"layers": [{"match": "/cnv2/*", "family": "dot"}]})",
                                   "c.json", &typo.layers, &problems));
  ConvertResult t = cv::ConvertOnnxBytes(onnx, typo);
  EXPECT_FALSE(t.ok);
  EXPECT_NE(Joined(t.problems).find("config entry \"/cnv2/*\" matches no quantized convolution"),
            std::string::npos)
      << Joined(t.problems);

  std::vector<cv::LayerOverride> bad;
  EXPECT_FALSE(cv::ParseLayerConfig(
      R"({"layers": [{"family": "fast", "keep": "float", "float": 1, "x": 1}, 3], "y": 2})",
      "bad.json", &bad, &problems));
  const std::string all = Joined(problems);
  for (const char* want :
       {"config 'bad.json' has the unknown key \"y\"", "layers[0] needs \"match\"",
        "layers[0] has the key \"keep\"; to keep a layer float, write \"float\": true",
        "layers[0] has float of a non-boolean", "layers[0] has family 'fast'",
        "layers[0] has the unknown key \"x\"", "layers[1] must be an object"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
  }
  problems.clear();
  EXPECT_FALSE(cv::ParseLayerConfig("{not json", "j.json", &bad, &problems));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("config 'j.json' is not valid JSON"), std::string::npos);
  // Nesting is bounded: no stack overflow on a hostile file.
  problems.clear();
  EXPECT_FALSE(cv::ParseLayerConfig(std::string(200000, '['), "deep.json", &bad, &problems));
  ASSERT_EQ(problems.size(), 1u);
}

TEST(ReferenceModels, ProjectModelsFormsAreIdentical) {
  const std::string root = CRUMB_TEST_DATA_DIR;
  const int n = CheckModelDirs(root, {""});
  if (n == 0) GTEST_SKIP() << "no models under " << root;
}
#endif

}  // namespace
}  // namespace crumb
