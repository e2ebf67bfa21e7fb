// crumb_options_set_preserve_all_tensors: the outputs are the same bytes, and every intermediate
// tensor can be read after an invoke, holding what a model exposing it as an output computes —
// even those that the fast path never writes (a REQUANTIZE fused into its convolution) or keeps
// bit-packed between lut layers. Without it, intermediates and constants refuse to be read.
#include <gtest/gtest.h>

#include <random>

#include "crumb/crumb.h"
#include "model_builder.h"
#include "test_util.h"

namespace crumb_test {
namespace {

enum { kOpConv = 2, kOpRequantize = 10 };

// x -> conv1 (2-bit lut) -> t1 -> conv2 -> t2 -> REQUANTIZE -> t3. With expose_t1, t1 and t2 are
// outputs too (so the fast path keeps them plain).
std::string Build(bool expose) {
  std::mt19937 rng(5);
  ModelBuilder mb;
  const int c = 16, h = 6, w = 7;
  const int32_t x = mb.AddQuant("x", {1, c, h, w}, 2, kUnsigned, 0.1f, 0);
  int32_t prev = x;
  std::vector<int32_t> mids;
  for (int layer = 0; layer < 2; layer++) {
    const std::string n = std::to_string(layer + 1);
    const int32_t wt = mb.AddWeights("w" + n, {c, c, 1, 1}, 2, kSigned,
                                     std::vector<float>(c, 0.05f), std::vector<int32_t>(c, 0),
                                     RandomCodes(rng, (size_t)(c * c), -1, 1));
    std::vector<float> mul(c), add(c);
    for (int i = 0; i < c; i++) {
      mul[(size_t)i] = std::uniform_real_distribution<float>(0.2f, 0.6f)(rng);
      add[(size_t)i] = std::uniform_real_distribution<float>(0.f, 2.f)(rng);
    }
    const int bits = layer == 0 ? 2 : 8;
    const int32_t t = mb.AddQuant("t" + n, {1, c, h, w}, bits, kUnsigned, 0.1f, 0);
    OpSpec& conv = mb.AddOp(
        kOpConv, "conv" + n,
        {prev, wt, mb.AddFloatConst("mul" + n, mul), mb.AddFloatConst("add" + n, add)}, {t});
    conv.family = kFamilyLut;
    mids.push_back(t);
    prev = t;
  }
  const int32_t t3 = mb.AddQuant("t3", {1, c, h, w}, 4, kUnsigned, 0.4f, 0);
  OpSpec& req = mb.AddOp(kOpRequantize, "relu6", {prev}, {t3});
  req.has_clamp = true;
  req.clamp_qmin = 0;
  req.clamp_qmax = 13;
  mb.inputs = {x};
  mb.outputs = {t3};
  if (expose) mb.outputs = {t3, mids[0], mids[1]};
  return mb.Finish();
}

struct Handles {
  crumb_model* model = nullptr;
  crumb_interpreter* it = nullptr;
  ~Handles() {
    crumb_interpreter_delete(it);
    crumb_model_delete(model);
  }
};

void Invoke(const std::string& bytes, bool preserve, const std::string& input, Handles* r) {
  r->model = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(r->model, nullptr) << crumb_last_error();
  crumb_options* o = crumb_options_create();
  crumb_options_set_preserve_all_tensors(o, preserve ? 1 : 0);
  r->it = crumb_interpreter_create(r->model, o);
  crumb_options_delete(o);
  ASSERT_NE(r->it, nullptr) << crumb_last_error();
  ASSERT_EQ(crumb_interpreter_allocate(r->it), CRUMB_OK) << crumb_last_error();
  ASSERT_EQ(crumb_tensor_copy_from_buffer(crumb_interpreter_input(r->it, 0), input.data(),
                                          input.size()),
            CRUMB_OK);
  ASSERT_EQ(crumb_interpreter_invoke(r->it), CRUMB_OK) << crumb_last_error();
}

const crumb_tensor* Named(const crumb_interpreter* it, const std::string& name) {
  for (int32_t i = 0; i < crumb_interpreter_tensor_count(it); i++) {
    const crumb_tensor* t = crumb_interpreter_tensor(it, i);
    if (name == crumb_tensor_name(t)) return t;
  }
  return nullptr;
}

std::string Read(const crumb_tensor* t, crumb_status* status) {
  std::string s(crumb_tensor_byte_size(t), '\0');
  *status = crumb_tensor_copy_to_buffer(t, &s[0], s.size());
  return s;
}

TEST(PreserveAllTensors, SameOutputsAndReadableIntermediates) {
  std::mt19937 rng(9);
  const std::string input = CodesToBytes(RandomCodes(rng, 16 * 6 * 7, 0, 3));
  Handles fast, kept, exposed;
  Invoke(Build(false), false, input, &fast);
  Invoke(Build(false), true, input, &kept);
  Invoke(Build(true), false, input, &exposed);
  if (HasFatalFailure()) return;
  crumb_status st;
  const std::string want = Read(crumb_interpreter_output(fast.it, 0), &st);
  ASSERT_EQ(st, CRUMB_OK);
  EXPECT_EQ(Read(crumb_interpreter_output(kept.it, 0), &st), want);
  EXPECT_EQ(Read(crumb_interpreter_output(exposed.it, 0), &st), want);

  // Every intermediate of the preserved run equals the same tensor exposed as an output.
  for (int k = 1; k <= 2; k++) {
    const std::string name = "t" + std::to_string(k);
    SCOPED_TRACE(name);
    const crumb_tensor* t = Named(kept.it, name);
    ASSERT_NE(t, nullptr);
    const std::string got = Read(t, &st);
    ASSERT_EQ(st, CRUMB_OK) << crumb_last_error();
    EXPECT_EQ(got, Read(crumb_interpreter_output(exposed.it, k), &st));
    EXPECT_EQ(crumb_tensor_type(t), CRUMB_TYPE_QUANT);
    EXPECT_EQ(crumb_tensor_bits(t), k == 1 ? 2 : 8);
    EXPECT_EQ(crumb_tensor_is_signed(t), 0);
    const float* scales = nullptr;
    const int32_t* zps = nullptr;
    int32_t axis = 7;
    ASSERT_EQ(crumb_tensor_quantization(t, &scales, &zps, &axis), 1);
    EXPECT_FLOAT_EQ(scales[0], 0.1f);
    EXPECT_EQ(zps[0], 0);
    EXPECT_EQ(axis, -1);
  }

  // Without preserve: intermediates are not readable (their memory is reused), named anyway.
  const crumb_tensor* t1 = Named(fast.it, "t1");
  ASSERT_NE(t1, nullptr);
  Read(t1, &st);
  EXPECT_EQ(st, CRUMB_ERROR_NOT_READY);
  EXPECT_NE(std::string(crumb_last_error()).find("preserve_all_tensors"), std::string::npos);
  // Constants never (packed weights).
  const crumb_tensor* w1 = Named(kept.it, "w1");
  ASSERT_NE(w1, nullptr);
  Read(w1, &st);
  EXPECT_EQ(st, CRUMB_ERROR_UNSUPPORTED);
  EXPECT_EQ(crumb_interpreter_tensor(kept.it, crumb_interpreter_tensor_count(kept.it)), nullptr);
  EXPECT_EQ(crumb_interpreter_tensor(kept.it, -1), nullptr);
  EXPECT_GE(crumb_interpreter_arena_bytes(kept.it), crumb_interpreter_arena_bytes(fast.it));
}

}  // namespace
}  // namespace crumb_test
