// The C API and the C++ wrappers on a small model: create / allocate / invoke, batch resize,
// size-checked copies, tensors by name, error callback, profiling, NULL arguments.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "crumb/crumb.h"
#include "crumb/crumb.hpp"
#include "model_builder.h"

namespace crumb_test {
namespace {

// input [-1, 4] float -> quantize (u8) -> fc 4->3 (w 4-bit) -> dequantize -> output [-1, 3].
std::string FcModel() {
  ModelBuilder mb;
  const int32_t in = mb.AddFloat("input", {-1, 4});
  const int32_t x = mb.AddQuant("x", {-1, 4}, 8, kUnsigned, 0.1f, 0);
  const int32_t w =
      mb.AddWeights("w", {3, 4}, 4, kSigned, {1.0f}, {0}, {1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1});
  // mul = sx * sw / s_out = 0.1 * 1 / 0.1 = 1; add = 0.
  const int32_t mul = mb.AddFloatConst("mul", {1.0f, 1.0f, 1.0f});
  const int32_t add = mb.AddFloatConst("add", {0.0f, 0.0f, 0.0f});
  const int32_t y = mb.AddQuant("y", {-1, 3}, 8, kUnsigned, 0.1f, 0);
  const int32_t out = mb.AddFloat("output", {-1, 3});
  mb.AddOp(0, "quant", {in}, {x});
  mb.AddOp(3, "fc", {x, w, mul, add}, {y});
  mb.AddOp(1, "dequant", {y}, {out});
  mb.inputs = {in};
  mb.outputs = {out};
  return mb.Finish();
}

struct Errors {
  int calls = 0;
  std::string last;
};
void OnError(void* user, const char* message) {
  auto* e = static_cast<Errors*>(user);
  e->calls++;
  e->last = message;
}

TEST(CApi, CreateAllocateInvokeResize) {
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(m, nullptr) << crumb_last_error();
  crumb_options* o = crumb_options_create();
  crumb_options_set_num_threads(o, 2);
  crumb_options_set_profiling(o, 1);
  crumb_interpreter* it = crumb_interpreter_create(m, o);
  crumb_options_delete(o);
  ASSERT_NE(it, nullptr) << crumb_last_error();
  EXPECT_EQ(crumb_interpreter_input_count(it), 1);
  EXPECT_EQ(crumb_interpreter_output_count(it), 1);
  crumb_tensor* in = crumb_interpreter_input(it, 0);
  EXPECT_STREQ(crumb_tensor_name(in), "input");
  EXPECT_EQ(crumb_tensor_type(in), CRUMB_TYPE_FLOAT32);
  EXPECT_EQ(crumb_interpreter_invoke(it), CRUMB_ERROR_NOT_READY);
  const int32_t dims[2] = {2, 4};
  ASSERT_EQ(crumb_interpreter_resize_input(it, 0, dims, 2), CRUMB_OK);
  ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK) << crumb_interpreter_last_error(it);
  EXPECT_EQ(crumb_tensor_dim(in, 0), 2);
  EXPECT_EQ(crumb_tensor_byte_size(in), 2u * 4 * sizeof(float));
  const float x[8] = {1.0f, 2.0f, 3.0f, 4.0f, 0.5f, 0.25f, 0.0f, 10.0f};
  ASSERT_EQ(crumb_tensor_copy_from_buffer(in, x, sizeof x), CRUMB_OK);
  ASSERT_EQ(crumb_interpreter_invoke(it), CRUMB_OK);
  const crumb_tensor* out = crumb_interpreter_output(it, 0);
  EXPECT_EQ(crumb_tensor_num_dims(out), 2);
  EXPECT_EQ(crumb_tensor_dim(out, 0), 2);
  EXPECT_EQ(crumb_tensor_dim(out, 1), 3);
  float y[6];
  ASSERT_EQ(crumb_tensor_copy_to_buffer(out, y, sizeof y), CRUMB_OK);
  // Row 0: codes 10,20,30,40 -> y codes 10, 20, 100. Row 1: 5, 2 (2.5 rounds to even), 0, 100
  // -> 5, 2, 107.
  const float want[6] = {1.0f, 2.0f, 10.0f, 0.5f, 0.2f, 10.7f};
  for (int i = 0; i < 6; i++) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  // Profiling.
  EXPECT_EQ(crumb_interpreter_op_count(it), 3);
  const char *name, *type, *kernel;
  double us = -1;
  int64_t invokes = 0;
  ASSERT_EQ(crumb_interpreter_op_info(it, 1, &name, &type, &kernel, &us, &invokes), CRUMB_OK);
  EXPECT_STREQ(name, "fc");
  EXPECT_STREQ(type, "FULLY_CONNECTED");
  EXPECT_NE(std::string(kernel).find("_ukernel_"), std::string::npos);
  EXPECT_GE(us, 0.0);
  EXPECT_EQ(invokes, 1);
  EXPECT_NE(crumb_interpreter_op_info(it, 3, &name, &type, &kernel, &us, &invokes), CRUMB_OK);
  EXPECT_GT(crumb_interpreter_arena_bytes(it), 0u);
  // Resize again to a larger batch.
  const int32_t dims3[2] = {3, 4};
  ASSERT_EQ(crumb_interpreter_resize_input(it, 0, dims3, 2), CRUMB_OK);
  EXPECT_EQ(crumb_tensor_copy_from_buffer(in, x, sizeof x), CRUMB_ERROR_NOT_READY);
  ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK);
  EXPECT_EQ(crumb_tensor_byte_size(out), 3u * 3 * sizeof(float));
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
}

// CPU masks: presets resolve to CPUs this machine has, pinned interpreters give the same
// outputs, a mask of CPUs that do not exist fails at create with a sentence, never later.
TEST(CApi, CpuMaskAndPresets) {
  const uint64_t all = crumb_cpu_preset_mask("all");
  ASSERT_NE(all, 0u) << crumb_last_error();
  EXPECT_EQ(crumb_cpu_preset_mask("big") & ~all, 0u);
  EXPECT_NE(crumb_cpu_preset_mask("big"), 0u);
  EXPECT_NE(crumb_cpu_preset_mask("little"), 0u);
  EXPECT_EQ(crumb_cpu_preset_mask("medium"), 0u);
  EXPECT_NE(std::string(crumb_last_error()).find("'medium' is unknown"), std::string::npos);
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(m, nullptr) << crumb_last_error();
  const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  std::vector<std::vector<float>> outs;
  for (uint64_t mask : {uint64_t(0), all, uint64_t(1)}) {
    for (int threads : {1, 3, -1}) {
      crumb_options* o = crumb_options_create();
      crumb_options_set_num_threads(o, threads);
      crumb_options_set_cpu_mask(o, mask);
      crumb_interpreter* it = crumb_interpreter_create(m, o);
      crumb_options_delete(o);
      ASSERT_NE(it, nullptr) << crumb_last_error();
      ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK);
      ASSERT_EQ(crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), x, sizeof x),
                CRUMB_OK);
      ASSERT_EQ(crumb_interpreter_invoke(it), CRUMB_OK);
      std::vector<float> y(3);
      ASSERT_EQ(crumb_tensor_copy_to_buffer(crumb_interpreter_output(it, 0), y.data(), 12),
                CRUMB_OK);
      outs.push_back(y);
      crumb_interpreter_delete(it);
    }
  }
  for (const auto& y : outs) EXPECT_EQ(y, outs[0]);
  crumb_options* o = crumb_options_create();
  crumb_options_set_num_threads(o, 2);
  crumb_options_set_cpu_mask(o, uint64_t(1) << 63);  // no such CPU here
  EXPECT_EQ(crumb_interpreter_create(m, o), nullptr);
  EXPECT_NE(std::string(crumb_last_error()).find("CPU mask"), std::string::npos)
      << crumb_last_error();
  crumb_options_delete(o);
  crumb_model_delete(m);
}

TEST(CApi, SizeCheckedCopiesAndErrorCallback) {
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(m, nullptr);
  Errors errors;
  crumb_options* o = crumb_options_create();
  crumb_options_set_error_callback(o, OnError, &errors);
  crumb_interpreter* it = crumb_interpreter_create(m, o);
  crumb_options_delete(o);
  ASSERT_NE(it, nullptr);
  ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK);
  crumb_tensor* in = crumb_interpreter_input(it, 0);
  float x[5] = {0};
  EXPECT_EQ(crumb_tensor_copy_from_buffer(in, x, sizeof x), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(errors.calls, 1);
  EXPECT_NE(errors.last.find("input"), std::string::npos) << errors.last;
  EXPECT_EQ(errors.last, crumb_interpreter_last_error(it));
  EXPECT_EQ(crumb_tensor_copy_to_buffer(crumb_interpreter_output(it, 0), x, 4),
            CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(errors.calls, 2);
  // Fixed dimensions cannot change.
  const int32_t bad[2] = {1, 5};
  EXPECT_EQ(crumb_interpreter_resize_input(it, 0, bad, 2), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(errors.calls, 3);
  EXPECT_NE(errors.last.find("fixed"), std::string::npos) << errors.last;
  const int32_t bad_rank[1] = {1};
  EXPECT_EQ(crumb_interpreter_resize_input(it, 0, bad_rank, 1), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_interpreter_resize_input(it, 3, bad_rank, 1), CRUMB_ERROR_INVALID_ARGUMENT);
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
}

TEST(CApi, TensorByName) {
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  crumb_interpreter* it = crumb_interpreter_create(m, nullptr);
  ASSERT_NE(it, nullptr);
  EXPECT_EQ(crumb_interpreter_tensor_by_name(it, "input"), crumb_interpreter_input(it, 0));
  EXPECT_EQ(crumb_interpreter_tensor_by_name(it, "output"), crumb_interpreter_output(it, 0));
  EXPECT_EQ(crumb_interpreter_tensor_by_name(it, "x"), nullptr);  // not an input or output
  EXPECT_EQ(crumb_interpreter_tensor_by_name(it, nullptr), nullptr);
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
}

TEST(CApi, IsaSelection) {
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  crumb_options* o = crumb_options_create();
  crumb_options_set_isa(o, CRUMB_ISA_SCALAR);
  crumb_interpreter* it = crumb_interpreter_create(m, o);
  ASSERT_NE(it, nullptr);
  EXPECT_EQ(crumb_interpreter_isa(it), CRUMB_ISA_SCALAR);
  crumb_interpreter_delete(it);
#if defined(__x86_64__) || defined(__i386__)
  // NEON does not exist on x86: a clean failure, never SIGILL.
  Errors errors;
  crumb_options_set_error_callback(o, OnError, &errors);
  crumb_options_set_isa(o, CRUMB_ISA_NEON);
  EXPECT_EQ(crumb_interpreter_create(m, o), nullptr);
  EXPECT_NE(std::string(crumb_last_error()).find("neon"), std::string::npos);
  EXPECT_EQ(errors.calls, 1);
#endif
  crumb_isa isa;
  EXPECT_EQ(crumb_isa_parse("AVX2", &isa), 1);
  EXPECT_EQ(isa, CRUMB_ISA_AVX2);
  EXPECT_EQ(crumb_isa_parse("sse9", &isa), 0);
  EXPECT_STREQ(crumb_isa_name(CRUMB_ISA_NEONDOT), "neondot");
  // The environment variable, when the options say auto.
  crumb_options_set_isa(o, CRUMB_ISA_AUTO);
  setenv("CRUMB_ISA", "scalar", 1);
  it = crumb_interpreter_create(m, o);
  ASSERT_NE(it, nullptr);
  EXPECT_EQ(crumb_interpreter_isa(it), CRUMB_ISA_SCALAR);
  crumb_interpreter_delete(it);
  setenv("CRUMB_ISA", "bogus", 1);
  EXPECT_EQ(crumb_interpreter_create(m, o), nullptr);
  EXPECT_NE(std::string(crumb_last_error()).find("bogus"), std::string::npos);
  unsetenv("CRUMB_ISA");
  crumb_options_delete(o);
  crumb_model_delete(m);
}

TEST(CApi, NullArgumentsDoNotCrash) {
  EXPECT_NE(crumb_version(), nullptr);
  EXPECT_STREQ(crumb_status_string(CRUMB_OK), "ok");
  EXPECT_EQ(crumb_interpreter_create(nullptr, nullptr), nullptr);
  crumb_model_delete(nullptr);
  crumb_options_delete(nullptr);
  crumb_interpreter_delete(nullptr);
  crumb_options_set_num_threads(nullptr, 4);
  crumb_options_set_isa(nullptr, CRUMB_ISA_SCALAR);
  crumb_options_set_error_callback(nullptr, nullptr, nullptr);
  crumb_options_set_profiling(nullptr, 1);
  EXPECT_EQ(crumb_model_metadata(nullptr, "k"), nullptr);
  EXPECT_EQ(crumb_interpreter_input_count(nullptr), 0);
  EXPECT_EQ(crumb_interpreter_output_count(nullptr), 0);
  EXPECT_EQ(crumb_interpreter_input(nullptr, 0), nullptr);
  EXPECT_EQ(crumb_interpreter_output(nullptr, 0), nullptr);
  EXPECT_EQ(crumb_interpreter_tensor_by_name(nullptr, "x"), nullptr);
  EXPECT_EQ(crumb_interpreter_resize_input(nullptr, 0, nullptr, 0), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_interpreter_allocate(nullptr), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_interpreter_invoke(nullptr), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_interpreter_arena_bytes(nullptr), 0u);
  EXPECT_EQ(crumb_interpreter_op_count(nullptr), 0);
  EXPECT_NE(crumb_interpreter_op_info(nullptr, 0, nullptr, nullptr, nullptr, nullptr, nullptr),
            CRUMB_OK);
  EXPECT_STREQ(crumb_interpreter_last_error(nullptr), "");
  EXPECT_STREQ(crumb_tensor_name(nullptr), "");
  EXPECT_EQ(crumb_tensor_num_dims(nullptr), 0);
  EXPECT_EQ(crumb_tensor_dim(nullptr, 0), 0);
  EXPECT_EQ(crumb_tensor_byte_size(nullptr), 0u);
  EXPECT_EQ(crumb_tensor_copy_from_buffer(nullptr, nullptr, 0), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_tensor_copy_to_buffer(nullptr, nullptr, 0), CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_isa_parse(nullptr, nullptr), 0);
  // Valid interpreter, NULL data.
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  crumb_interpreter* it = crumb_interpreter_create(m, nullptr);
  ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK);
  EXPECT_EQ(crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), nullptr, 16),
            CRUMB_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(crumb_interpreter_resize_input(it, 0, nullptr, 2), CRUMB_ERROR_INVALID_ARGUMENT);
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
}

TEST(CppApi, RaiiWrappers) {
  const std::string bytes = FcModel();
  crumb::Model model = crumb::Model::FromBuffer(bytes.data(), bytes.size());
  ASSERT_TRUE(model);
  crumb::Options options;
  options.SetProfiling(true).SetIsa(CRUMB_ISA_SCALAR);
  crumb::Interpreter interp(model, options);
  ASSERT_TRUE(interp);
  ASSERT_EQ(interp.ResizeInput(0, {1, 4}), CRUMB_OK);
  ASSERT_EQ(interp.Allocate(), CRUMB_OK);
  const float x[4] = {1, 2, 3, 4};
  ASSERT_EQ(crumb_tensor_copy_from_buffer(interp.Input(0), x, sizeof x), CRUMB_OK);
  ASSERT_EQ(interp.Invoke(), CRUMB_OK);
  float y[3];
  ASSERT_EQ(crumb_tensor_copy_to_buffer(interp.Output(0), y, sizeof y), CRUMB_OK);
  EXPECT_FLOAT_EQ(y[2], 10.0f);
  EXPECT_EQ(interp.OpCount(), 3);
  EXPECT_EQ(interp.Op(0).type, "QUANTIZE");
  EXPECT_EQ(interp.Op(2).invokes, 1);
  crumb::Model bad = crumb::Model::FromBuffer("nope", 4);
  EXPECT_FALSE(bad);
  crumb::Interpreter none(bad);
  EXPECT_FALSE(none);
  EXPECT_FALSE(none.LastError().empty());
}

// Several interpreters share one model, each on its own thread; results are identical.
TEST(CApi, SharedModelManyInterpreters) {
  const std::string bytes = FcModel();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  std::vector<crumb_interpreter*> its;
  for (int i = 0; i < 3; i++) {
    its.push_back(crumb_interpreter_create(m, nullptr));
    ASSERT_EQ(crumb_interpreter_allocate(its.back()), CRUMB_OK);
  }
  const float x[4] = {0.3f, 0.7f, 1.1f, 2.5f};
  std::vector<std::vector<float>> ys;
  for (auto* it : its) {
    crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), x, sizeof x);
    ASSERT_EQ(crumb_interpreter_invoke(it), CRUMB_OK);
    std::vector<float> y(3);
    crumb_tensor_copy_to_buffer(crumb_interpreter_output(it, 0), y.data(), 12);
    ys.push_back(y);
  }
  EXPECT_EQ(ys[0], ys[1]);
  EXPECT_EQ(ys[0], ys[2]);
  for (auto* it : its) crumb_interpreter_delete(it);
  crumb_model_delete(m);
}

}  // namespace
}  // namespace crumb_test
