// The tools on bad input: each case is one clear message, a non-zero exit, no crash and no
// partial output file. Corrupt models are made by patching one field of a good converted model.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "schema/crumb_generated.h"

namespace {

std::string g_bin;  // folder holding crumb-convert, crumb-run, crumb-bench, crumb-inspect
std::string g_tmp;
const std::string kModel = std::string(CRUMB_TEST_DATA_DIR) + "/digits_w2a4/qcdq.onnx";
const std::string kInput = std::string(CRUMB_TEST_DATA_DIR) + "/digits_common/test.input.bin";

int RunCmd(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

std::string ReadAll(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteAll(const std::string& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), bytes.size());
}

class ToolsBadInput : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Exists(kModel)) return;
    good_ = g_tmp + "/good.crumb";
    std::string log;
    ASSERT_EQ(0, RunCmd(g_bin + "/crumb-convert " + kModel + " -o " + good_, &log)) << log;
    bytes_ = ReadAll(good_);
  }
  void SetUp() override {
    if (!Exists(kModel)) GTEST_SKIP() << kModel << " is missing";
  }

  // Every tool must refuse `path` with a message, a non-zero exit, and crumb-run must not write.
  void ExpectRefused(const std::string& path, const std::string& what) {
    const std::string out = g_tmp + "/out.bin";
    unlink(out.c_str());
    std::string log;
    int rc = RunCmd(g_bin + "/crumb-run " + path + " --input " + kInput +
                        " --input_shape 360,1,8,8 --output " + out,
                    &log);
    EXPECT_NE(rc, 0) << what << ": crumb-run accepted it";
    EXPECT_LT(rc, 128) << what << ": crumb-run crashed\n" << log;
    EXPECT_FALSE(log.empty()) << what << ": no message";
    EXPECT_FALSE(Exists(out)) << what << ": crumb-run left an output file";
    printf("[ message  ] %s: %s", what.c_str(), log.c_str());
    for (const char* tool : {"crumb-inspect ", "crumb-bench --num_runs=1 --graph="}) {
      log.clear();
      rc = RunCmd(g_bin + "/" + tool + path, &log);
      EXPECT_NE(rc, 0) << what << ": " << tool << "accepted it";
      EXPECT_LT(rc, 128) << what << ": " << tool << "crashed\n" << log;
      EXPECT_FALSE(log.empty()) << what << ": " << tool << "gave no message";
    }
  }

  // Patches a copy of the good model; `patch` gets the mutable FlatBuffer root.
  std::string Patched(const std::string& name,
                      const std::function<void(std::string*, crumb::fb::Model*)>& patch) {
    std::string b = bytes_;
    auto* model = crumb::fb::GetMutableModel(&b[0]);
    patch(&b, model);
    std::string p = g_tmp + "/" + name + ".crumb";
    WriteAll(p, b);
    return p;
  }

  static std::string good_, bytes_;
};
std::string ToolsBadInput::good_, ToolsBadInput::bytes_;

TEST_F(ToolsBadInput, GoodModelRuns) {
  std::string log;
  const std::string out = g_tmp + "/good.bin";
  ASSERT_EQ(0, RunCmd(g_bin + "/crumb-run " + good_ + " --input " + kInput +
                          " --input_shape 360,1,8,8 --output " + out,
                      &log))
      << log;
  struct stat st;
  ASSERT_EQ(0, stat(out.c_str(), &st));
  EXPECT_EQ(st.st_size, 360 * 10 * 4);
}

TEST_F(ToolsBadInput, MissingFile) { ExpectRefused(g_tmp + "/no-such-file.crumb", "missing file"); }

TEST_F(ToolsBadInput, TruncatedFile) {
  for (size_t len : {size_t{0}, size_t{3}, size_t{8}, size_t{64}, bytes_.size() / 3,
                     bytes_.size() / 2, bytes_.size() - 1}) {
    std::string p = g_tmp + "/trunc" + std::to_string(len) + ".crumb";
    WriteAll(p, bytes_.substr(0, len));
    ExpectRefused(p, "truncated to " + std::to_string(len) + " bytes");
  }
}

TEST_F(ToolsBadInput, WrongIdentifier) {
  ExpectRefused(
      Patched("ident", [](std::string* b, crumb::fb::Model*) { memcpy(&(*b)[4], "XXXX", 4); }),
      "wrong identifier");
}

TEST_F(ToolsBadInput, TensorIndexOutOfRange) {
  ExpectRefused(Patched("index",
                        [](std::string*, crumb::fb::Model* m) {
                          auto* op = m->mutable_operators()->GetMutableObject(1);
                          op->mutable_inputs()->Mutate(0, 100000);
                        }),
                "out-of-range tensor index");
}

TEST_F(ToolsBadInput, BufferShorterThanItsBits) {
  ExpectRefused(Patched("short",
                        [](std::string*, crumb::fb::Model* m) {
                          // The largest buffer is a weight tensor's packed codes.
                          auto* bufs = m->mutable_buffers();
                          size_t best = 1;
                          for (size_t i = 1; i < bufs->size(); i++)
                            if (bufs->Get(i)->size() > bufs->Get(best)->size()) best = i;
                          auto* b = bufs->GetMutableObject(best);
                          b->mutate_size(b->size() - 1);
                        }),
                "buffer shorter than its bits");
}

TEST_F(ToolsBadInput, NaNScale) {
  ExpectRefused(Patched("nan",
                        [](std::string*, crumb::fb::Model* m) {
                          auto* tensors = m->mutable_tensors();
                          for (size_t i = 0; i < tensors->size(); i++) {
                            auto* q = tensors->GetMutableObject(i)->mutable_quantization();
                            if (q && q->scale() && q->scale()->size() > 0) {
                              q->mutable_scale()->Mutate(0,
                                                         std::numeric_limits<float>::quiet_NaN());
                              return;
                            }
                          }
                        }),
                "NaN scale");
}

TEST_F(ToolsBadInput, WrongInputSize) {
  std::string log;
  const std::string small = g_tmp + "/small.bin", out = g_tmp + "/out2.bin";
  WriteAll(small, std::string(100, '\0'));
  int rc = RunCmd(g_bin + "/crumb-run " + good_ + " --input " + small +
                      " --input_shape 360,1,8,8 --output " + out,
                  &log);
  EXPECT_NE(rc, 0);
  EXPECT_LT(rc, 128) << log;
  EXPECT_FALSE(Exists(out));
}

TEST(ConvertBadInput, UnsupportedOpsAreListedTogether) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("bad");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d : {1, 4})
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  auto* n1 = g->add_node();
  n1->set_op_type("TopK"), n1->set_name("my_softmax"), n1->add_input("x"), n1->add_output("y");
  auto* n2 = g->add_node();
  n2->set_op_type("Erf"), n2->set_name("my_erf"), n2->add_input("y"), n2->add_output("z");
  g->add_output()->set_name("z");
  const std::string p = g_tmp + "/bad.onnx", out = g_tmp + "/bad.crumb";
  std::ofstream f(p, std::ios::binary);
  m.SerializeToOstream(&f);
  f.close();
  std::string log;
  int rc = RunCmd(g_bin + "/crumb-convert " + p + " -o " + out, &log);
  EXPECT_NE(rc, 0);
  EXPECT_LT(rc, 128) << log;
  EXPECT_NE(log.find("my_softmax"), std::string::npos) << log;
  EXPECT_NE(log.find("my_erf"), std::string::npos) << log;
  EXPECT_FALSE(Exists(out));
}

TEST(ConvertBadInput, NotAnOnnxFile) {
  const std::string p = g_tmp + "/garbage.onnx", out = g_tmp + "/garbage.crumb";
  WriteAll(p, "this is not a protobuf \xff\xff\xff");
  std::string log;
  int rc = RunCmd(g_bin + "/crumb-convert " + p + " -o " + out, &log);
  EXPECT_NE(rc, 0);
  EXPECT_LT(rc, 128) << log;
  EXPECT_FALSE(log.empty());
  EXPECT_FALSE(Exists(out));
}

// Issue 8's table for the tools: one row per class of corrupt .crumb file; crumb-run, crumb-bench
// and crumb-inspect must each exit non-zero (not by a signal) with a message naming the problem,
// and crumb-run must write nothing.
TEST_F(ToolsBadInput, TableOfCorruptModels) {
  using Patch = std::function<void(std::string*, crumb::fb::Model*)>;
  auto first_quant = [](crumb::fb::Model* m) -> crumb::fb::Quantization* {
    auto* tensors = m->mutable_tensors();
    for (size_t i = 0; i < tensors->size(); i++) {
      auto* q = tensors->GetMutableObject(i)->mutable_quantization();
      if (q && q->scale() && q->scale()->size() > 0 && q->zero_point() &&
          q->zero_point()->size() > 0)
        return q;
    }
    return nullptr;
  };
  const struct {
    const char* name;
    Patch patch;
    const char* fragment;
  } rows[] = {
      {"newer-version", [](std::string*, crumb::fb::Model* m) { m->mutate_version(9); },
       "format version 9"},
      {"constant-output",
       [](std::string*, crumb::fb::Model* m) {
         // Op 1's second input is a convolution's weights.
         const int32_t w = m->operators()->Get(1)->inputs()->Get(1);
         m->mutable_outputs()->Mutate(0, w);
       },
       "is a constant"},
      {"unknown-opcode",
       [](std::string*, crumb::fb::Model* m) {
         m->mutable_operators()->GetMutableObject(1)->mutate_opcode(
             static_cast<crumb::fb::OpCode>(555));
       },
       "unknown opcode 555"},
      {"zero-scale",
       [&](std::string*, crumb::fb::Model* m) { first_quant(m)->mutable_scale()->Mutate(0, 0.f); },
       "scales must be finite and > 0"},
      {"zero-point-range",
       [&](std::string*, crumb::fb::Model* m) {
         first_quant(m)->mutable_zero_point()->Mutate(0, 1000);
       },
       "zero point 1000"},
      {"negative-dim",
       [](std::string*, crumb::fb::Model* m) {
         for (size_t i = 0; i < m->tensors()->size(); i++) {
           auto* shape = m->mutable_tensors()->GetMutableObject(i)->mutable_shape();
           if (shape && shape->size() > 1) {
             shape->Mutate(1, -7);
             return;
           }
         }
       },
       "of size -7"},
      {"unaligned-buffer",
       [](std::string*, crumb::fb::Model* m) {
         auto* bufs = m->mutable_buffers();
         for (size_t i = 1; i < bufs->size(); i++) {
           if (bufs->Get(i)->size() > 0) {
             bufs->GetMutableObject(i)->mutate_offset(bufs->Get(i)->offset() + 4);
             return;
           }
         }
       },
       "not a multiple of 64"},
      {"buffer-past-end",
       [](std::string*, crumb::fb::Model* m) {
         auto* bufs = m->mutable_buffers();
         bufs->GetMutableObject(bufs->size() - 1)->mutate_offset(uint64_t(1) << 40);
       },
       "past the end"},
      {"tensor-produced-twice",
       [](std::string*, crumb::fb::Model* m) {
         auto* ops = m->mutable_operators();
         const int32_t first = ops->Get(0)->outputs()->Get(0);
         ops->GetMutableObject(1)->mutable_outputs()->Mutate(0, first);
       },
       "which already has a value"},
      {"cycle",
       [](std::string*, crumb::fb::Model* m) {
         auto* ops = m->mutable_operators();
         const int32_t last = ops->Get(ops->size() - 1)->outputs()->Get(0);
         ops->GetMutableObject(0)->mutable_inputs()->Mutate(0, last);
       },
       "before any op writes it"},
  };
  for (const auto& row : rows) {
    const std::string p = Patched(row.name, row.patch);
    ExpectRefused(p, row.name);
    std::string log;
    RunCmd(g_bin + "/crumb-inspect " + p, &log);
    EXPECT_NE(log.find(row.fragment), std::string::npos) << row.name << ": " << log;
  }
}

// A batch far past what the machine holds is refused with a message and an exit code, not a
// crash or an OOM kill (the indirection or the memory cap, whichever comes first).
TEST_F(ToolsBadInput, HugeBatch) {
  std::string log;
  const int rc = RunCmd(
      g_bin + "/crumb-bench --num_runs=1 --graph=" + good_ + " --input_shape=100000000,1,8,8",
      &log);
  EXPECT_NE(rc, 0) << log;
  EXPECT_LT(rc, 128) << log;
  EXPECT_NE(log.find("crumb-bench: "), std::string::npos) << log;
}

// crumb-convert on bad ONNX: exit code 1, every problem named, no output file.
class ConvertBadOnnx : public testing::Test {
 protected:
  void SetUp() override {
    if (!Exists(kModel)) GTEST_SKIP() << kModel << " is missing";
    ASSERT_TRUE(model_.ParseFromString(ReadAll(kModel)));
  }
  // Writes `m`, converts it, expects refusal with every fragment in the message.
  void ExpectRefused(const onnx::ModelProto& m, const std::string& name,
                     const std::vector<std::string>& fragments) {
    const std::string p = g_tmp + "/" + name + ".onnx", out = g_tmp + "/" + name + ".crumb";
    WriteAll(p, m.SerializeAsString());
    std::string log;
    const int rc = RunCmd(g_bin + "/crumb-convert " + p + " -o " + out, &log);
    EXPECT_EQ(rc, 1) << name << ": " << log;
    EXPECT_FALSE(Exists(out)) << name << ": an output file was written";
    EXPECT_NE(log.find("cannot convert"), std::string::npos) << name << ": " << log;
    for (const auto& f : fragments)
      EXPECT_NE(log.find(f), std::string::npos) << name << ": no '" << f << "' in " << log;
    printf("[ message  ] %s: %s", name.c_str(), log.c_str());
  }
  // The first FLOAT initializer with data.
  onnx::TensorProto* FloatInit(onnx::ModelProto& m) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
      if (t.data_type() == onnx::TensorProto::FLOAT && t.dims_size() > 0) return &t;
    return nullptr;
  }
  static void External(onnx::TensorProto* t, const std::string& location) {
    t->clear_raw_data();
    t->clear_float_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = t->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  }
  onnx::ModelProto model_;
};

TEST_F(ConvertBadOnnx, ExternalDataOutsideTheFolder) {
  for (const std::string loc : {"../../etc/shadow", "/etc/passwd"}) {
    onnx::ModelProto m = model_;
    onnx::TensorProto* t = FloatInit(m);
    ASSERT_NE(t, nullptr);
    External(t, loc);
    ExpectRefused(m, loc[0] == '/' ? "external-absolute" : "external-dotdot",
                  {"initializer '" + t->name() + "'", "'" + loc + "'", "refused"});
  }
}

TEST_F(ConvertBadOnnx, MissingInitializer) {
  onnx::ModelProto m = model_;
  onnx::TensorProto* t = FloatInit(m);
  ASSERT_NE(t, nullptr);
  const std::string name = t->name();
  auto* inits = m.mutable_graph()->mutable_initializer();
  inits->DeleteSubrange(int(t - &inits->Get(0)), 1);
  ExpectRefused(m, "missing-initializer", {"'" + name + "'"});
}

TEST_F(ConvertBadOnnx, ZeroSizeInputDimension) {
  onnx::ModelProto m = model_;
  auto* dims =
      m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  ASSERT_GT(dims->dim_size(), 1);
  dims->mutable_dim(1)->set_dim_value(0);
  ExpectRefused(m, "zero-size-dim", {"'" + m.graph().input(0).name() + "'"});
}

TEST_F(ConvertBadOnnx, SeveralProblemsInOneMessage) {
  onnx::ModelProto m = model_;
  External(FloatInit(m), "/abs.bin");
  auto* n = m.mutable_graph()->mutable_node(m.graph().node_size() - 1);
  const std::string node = n->name();
  n->set_op_type("TopK");
  ExpectRefused(m, "several", {" problems:\n", "'/abs.bin'", "node '" + node + "' (op TopK)"});
}

TEST_F(ConvertBadOnnx, UnsupportedRoundingMode) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("q");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d : {1, 4})
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  for (const char* p : {"s", "z", "b"}) {
    auto* t = g->add_initializer();
    t->set_name(p);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(p[0] == 's' ? 0.1f : p[0] == 'z' ? 0.f : 4.f);
  }
  auto* n = g->add_node();
  n->set_op_type("Quant"), n->set_domain("qonnx.custom_op.general"), n->set_name("my_quant");
  for (const char* i : {"x", "s", "z", "b"}) n->add_input(i);
  n->add_output("y");
  auto* a = n->add_attribute();
  a->set_name("rounding_mode"), a->set_type(onnx::AttributeProto::STRING), a->set_s("HALF_UP");
  g->add_output()->set_name("y");
  ExpectRefused(m, "rounding", {"node 'my_quant'", "rounding_mode"});
}

TEST_F(ConvertBadOnnx, TruncatedOnnx) {
  const std::string bytes = ReadAll(kModel);
  const std::string p = g_tmp + "/trunc.onnx", out = g_tmp + "/trunc.crumb";
  WriteAll(p, bytes.substr(0, bytes.size() / 2));
  std::string log;
  const int rc = RunCmd(g_bin + "/crumb-convert " + p + " -o " + out, &log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_FALSE(Exists(out));
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; i++)
    if (strncmp(argv[i], "--bin=", 6) == 0) g_bin = argv[i] + 6;
  char tmpl[] = "/tmp/crumb-tools-XXXXXX";
  if (g_bin.empty() || !mkdtemp(tmpl)) return 2;
  g_tmp = tmpl;
  int rc = RUN_ALL_TESTS();
  std::string ignored;
  RunCmd("rm -rf " + g_tmp, &ignored);
  return rc;
}
