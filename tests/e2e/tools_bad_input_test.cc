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
  n1->set_op_type("Softmax"), n1->set_name("my_softmax"), n1->add_input("x"), n1->add_output("y");
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
