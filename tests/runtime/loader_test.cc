// The loader on bad input: each case a clear error naming what is wrong, and never a crash.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <limits>
#include <string>

#include "crumb/crumb.h"
#include "model_builder.h"

namespace crumb_test {
namespace {

// Expects the buffer to be refused with a message containing `needle`.
void ExpectRefused(const std::string& bytes, const std::string& needle) {
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (m) {
    crumb_model_delete(m);
    FAIL() << "accepted; expected an error containing '" << needle << "'";
  }
  const std::string msg = crumb_last_error();
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
}

TEST(Loader, GoodModelLoads) {
  const std::string b = SmallConvModel().Finish();
  crumb_model* m = crumb_model_create_from_buffer(b.data(), b.size());
  ASSERT_NE(m, nullptr) << crumb_last_error();
  EXPECT_STREQ(crumb_model_metadata(m, "converter"), "test");
  EXPECT_EQ(crumb_model_metadata(m, "missing"), nullptr);
  crumb_model_delete(m);
}

TEST(Loader, EveryTruncationIsRefused) {
  const std::string b = SmallConvModel().Finish();
  for (size_t len = 0; len < b.size(); len++) {
    // Copy into exact-size heap memory so that a read past the end is caught by sanitizers.
    std::string prefix = b.substr(0, len);
    crumb_model* m = crumb_model_create_from_buffer(prefix.data(), prefix.size());
    EXPECT_EQ(m, nullptr) << "prefix of " << len << " bytes loaded";
    if (m) crumb_model_delete(m);
    EXPECT_STRNE(crumb_last_error(), "");
  }
}

TEST(Loader, UnalignedBufferIsCopied) {
  const std::string b = SmallConvModel().Finish();
  std::string shifted(b.size() + 1, '\0');
  memcpy(&shifted[1], b.data(), b.size());
  crumb_model* m = crumb_model_create_from_buffer(shifted.data() + 1, b.size());
  ASSERT_NE(m, nullptr) << crumb_last_error();
  crumb_model_delete(m);
}

TEST(Loader, WrongIdentifier) {
  std::string b = SmallConvModel().Finish();
  memcpy(&b[4], "ABCD", 4);
  ExpectRefused(b, "file identifier is 'ABCD'");
}

TEST(Loader, NullAndEmpty) {
  EXPECT_EQ(crumb_model_create_from_buffer(nullptr, 10), nullptr);
  EXPECT_EQ(crumb_model_create_from_buffer("", 0), nullptr);
  EXPECT_EQ(crumb_model_create_from_file(nullptr), nullptr);
  EXPECT_EQ(crumb_model_create_from_file("/nonexistent/model.crumb"), nullptr);
  EXPECT_NE(std::string(crumb_last_error()).find("/nonexistent/model.crumb"), std::string::npos);
  EXPECT_EQ(crumb_model_create_from_file("/tmp"), nullptr);
}

TEST(Loader, OutOfRangeTensorIndex) {
  ModelBuilder mb = SmallConvModel();
  mb.ops[1].inputs[0] = 1000;
  ExpectRefused(mb.Finish(), "refers to tensor 1000");
  mb = SmallConvModel();
  mb.outputs = {-5};
  ExpectRefused(mb.Finish(), "tensor -5");
  mb = SmallConvModel();
  mb.ops[0].outputs[0] = 99;
  ExpectRefused(mb.Finish(), "tensor 99");
}

TEST(Loader, BufferShorterThanItsBits) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[2].size_delta = -1;
  ExpectRefused(mb.Finish(), "conv.weight");
  mb = SmallConvModel();
  mb.tensors[2].size_delta = 1;
  ExpectRefused(mb.Finish(), "needs exactly");
  // Declaring more bits than were packed.
  mb = SmallConvModel();
  mb.tensors[2].bits = 3;
  mb.tensors[2].qmin = -4, mb.tensors[2].qmax = 3;
  ExpectRefused(mb.Finish(), "conv.weight");
}

TEST(Loader, BufferOutsideFileOrUnaligned) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[4].size_delta = 1 << 20;
  ExpectRefused(mb.Finish(), "past the end");
  mb = SmallConvModel();
  mb.tensors[2].offset_delta = 8;
  ExpectRefused(mb.Finish(), "multiple of 64");
  mb = SmallConvModel();
  mb.tensors[2].buffer_override = 77;
  ExpectRefused(mb.Finish(), "buffer 77");
}

TEST(Loader, BadScales) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), 0.0f, -1.0f,
                    std::numeric_limits<float>::infinity()}) {
    ModelBuilder mb = SmallConvModel();
    mb.tensors[1].scales[0] = bad;
    ExpectRefused(mb.Finish(), "Tensor 1 ('x') has quantization scale");
    mb = SmallConvModel();
    mb.tensors[2].scales[1] = bad;
    ExpectRefused(mb.Finish(), "conv.weight");
  }
}

TEST(Loader, ZeroPointOutOfRange) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[1].zero_points[0] = 16;  // 4-bit unsigned: 0..15
  ExpectRefused(mb.Finish(), "zero point 16");
  mb = SmallConvModel();
  mb.tensors[2].zero_points[2] = -3;  // 2-bit signed: -2..1
  ExpectRefused(mb.Finish(), "zero point -3");
}

TEST(Loader, CodeRangeAndBits) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[1].qmax = 16;
  ExpectRefused(mb.Finish(), "code range");
  mb = SmallConvModel();
  mb.tensors[1].bits = 9;
  ExpectRefused(mb.Finish(), "9 bits");
  mb = SmallConvModel();
  mb.tensors[0].bits = 8;
  ExpectRefused(mb.Finish(), "FLOAT32 but declares 8 bits");
}

TEST(Loader, PerAxisCount) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[2].scales.push_back(1.0f);
  mb.tensors[2].zero_points.push_back(0);
  ExpectRefused(mb.Finish(), "per-axis");
}

TEST(Loader, NewerVersion) {
  ModelBuilder mb = SmallConvModel();
  mb.version = 2;
  ExpectRefused(mb.Finish(), "version 2");
}

TEST(Loader, UnknownOpcodeAndVersion) {
  ModelBuilder mb = SmallConvModel();
  mb.ops[2].opcode = 77;
  ExpectRefused(mb.Finish(), "unknown opcode 77");
  mb = SmallConvModel();
  mb.ops[1].version = 3;
  ExpectRefused(mb.Finish(), "version 3");
}

TEST(Loader, Shapes) {
  ModelBuilder mb = SmallConvModel();
  mb.tensors[5].shape[2] = 0;
  ExpectRefused(mb.Finish(), "dimension 2 of size 0");
  mb = SmallConvModel();
  mb.tensors[5].shape[1] = -1;
  ExpectRefused(mb.Finish(), "size -1");
  mb = SmallConvModel();
  mb.tensors[0].shape = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
  mb.tensors[1].shape = mb.tensors[0].shape;
  ExpectRefused(mb.Finish(), "overflows");
}

TEST(Loader, OpSignatures) {
  ModelBuilder mb = SmallConvModel();
  mb.ops[1].inputs.pop_back();
  ExpectRefused(mb.Finish(), "has 3 inputs; it takes 4");
  mb = SmallConvModel();
  mb.ops[1].kernel_h = 2;
  ExpectRefused(mb.Finish(), "kernel 2x3");
  mb = SmallConvModel();
  mb.ops[1].no_options = true;
  ExpectRefused(mb.Finish(), "needs Conv2DOptions");
  mb = SmallConvModel();
  mb.tensors[2].layout = kDense;
  ExpectRefused(mb.Finish(), "conv.weight");
  mb = SmallConvModel();
  mb.ops[1].stride_h = 0;
  ExpectRefused(mb.Finish(), "stride");
  mb = SmallConvModel();
  mb.ops[1].groups = 2;
  ExpectRefused(mb.Finish(), "groups");
}

TEST(Loader, ReadBeforeWrite) {
  ModelBuilder mb = SmallConvModel();
  std::swap(mb.ops[0], mb.ops[1]);
  ExpectRefused(mb.Finish(), "before any op writes it");
  mb = SmallConvModel();
  mb.ops[2].outputs[0] = 1;  // x is already written by op 0
  ExpectRefused(mb.Finish(), "already has a value");
}

TEST(Loader, MissingOutputs) {
  ModelBuilder mb = SmallConvModel();
  mb.outputs.clear();
  ExpectRefused(mb.Finish(), "no outputs");
}

// Random byte flips of a good model: either a clean load or a clean refusal.
TEST(Loader, RandomCorruptionNeverCrashes) {
  const std::string good = SmallConvModel().Finish();
  srand(42);
  for (int trial = 0; trial < 3000; trial++) {
    std::string b = good;
    const int flips = 1 + rand() % 4;
    for (int f = 0; f < flips; f++) b[(size_t)rand() % b.size()] ^= (char)(1 + rand() % 255);
    crumb_model* m = crumb_model_create_from_buffer(b.data(), b.size());
    if (!m) continue;
    // Whatever loads must also plan and run without crashing.
    crumb_interpreter* it = crumb_interpreter_create(m, nullptr);
    if (it && crumb_interpreter_allocate(it) == CRUMB_OK) {
      crumb_tensor* in = crumb_interpreter_input(it, 0);
      std::string zeros(crumb_tensor_byte_size(in), '\0');
      crumb_tensor_copy_from_buffer(in, zeros.data(), zeros.size());
      crumb_interpreter_invoke(it);
    }
    crumb_interpreter_delete(it);
    crumb_model_delete(m);
  }
}

}  // namespace
}  // namespace crumb_test
