// Fuzz target: bytes -> crumb_model_create_from_buffer -> one interpreter (one thread) ->
// allocate -> inputs filled deterministically -> one invoke. Every C API call must return a
// status for any input: a crash, a sanitizer report, a leak or a hang is a bug in libcrumb.
#include <cstdint>
#include <cstring>
#include <vector>

#include "crumb/crumb.h"

namespace {

// The interpreter's memory cap: a declared shape may ask for any size, and allocate must refuse
// past the cap with a status instead of trying (libFuzzer's -rss_limit_mb would report it).
constexpr uint64_t kMemoryLimit = uint64_t{256} << 20;
// Larger inputs are still loaded and allocated, but not filled and run: the fuzzer looks for
// crashes, not for slow convolutions over huge declared shapes.
constexpr size_t kMaxInputBytes = size_t{4} << 20;
// Likewise models whose activations and scratch pass this after allocate: a small input can
// declare a huge intermediate tensor (a RESIZE to 3 x 2,818,060 x 10 took over 20 s of the
// instrumented scalar code, libFuzzer's timeout), and running it finds nothing allocate has not
// already checked.
constexpr size_t kMaxArenaBytes = size_t{16} << 20;

// Deterministic contents: small floats of both signs, or every byte value for integer codes.
void Fill(crumb_tensor* t) {
  const size_t bytes = crumb_tensor_byte_size(t);
  if (bytes == 0 || bytes > kMaxInputBytes) return;
  std::vector<uint8_t> data(bytes);
  if (crumb_tensor_type(t) == CRUMB_TYPE_FLOAT32) {
    for (size_t i = 0; i < bytes / sizeof(float); ++i) {
      const float v = static_cast<float>(static_cast<int>(i * 37 % 29) - 14) / 7.0f;
      std::memcpy(&data[i * sizeof(float)], &v, sizeof v);
    }
  } else {
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(i * 13);
  }
  crumb_tensor_copy_from_buffer(t, data.data(), data.size());
}

bool InputsSmall(crumb_interpreter* it) {
  for (int32_t i = 0; i < crumb_interpreter_input_count(it); ++i) {
    const crumb_tensor* t = crumb_interpreter_input(it, i);
    if (!t || crumb_tensor_byte_size(t) > kMaxInputBytes) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crumb_model* model = crumb_model_create_from_buffer(data, size);
  if (!model) return 0;
  crumb_options* options = crumb_options_create();
  crumb_options_set_num_threads(options, 1);
  crumb_options_set_memory_limit(options, kMemoryLimit);
#ifdef CRUMB_FUZZ_SCALAR
  // The libFuzzer build instruments the scalar kernels only (kernels/CMakeLists.txt).
  crumb_options_set_isa(options, CRUMB_ISA_SCALAR);
#endif
  crumb_interpreter* it = crumb_interpreter_create(model, options);
  crumb_options_delete(options);
  if (it && crumb_interpreter_allocate(it) == CRUMB_OK && InputsSmall(it) &&
      crumb_interpreter_arena_bytes(it) <= kMaxArenaBytes) {
    for (int32_t i = 0; i < crumb_interpreter_input_count(it); ++i) {
      Fill(crumb_interpreter_input(it, i));
    }
    if (crumb_interpreter_invoke(it) == CRUMB_OK) {
      // Read every output back, as a caller would.
      for (int32_t i = 0; i < crumb_interpreter_output_count(it); ++i) {
        const crumb_tensor* t = crumb_interpreter_output(it, i);
        const size_t bytes = t ? crumb_tensor_byte_size(t) : 0;
        if (bytes == 0 || bytes > kMaxInputBytes) continue;
        std::vector<uint8_t> out(bytes);
        crumb_tensor_copy_to_buffer(t, out.data(), out.size());
      }
    }
  }
  crumb_interpreter_delete(it);
  crumb_model_delete(model);
  return 0;
}
