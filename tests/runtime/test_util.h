// Helpers for runtime tests: run a built model through the C API, random codes.
#pragma once

#include <stdint.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "crumb/crumb.h"
#include "model_builder.h"

namespace crumb_test {

// Runs `bytes` on one input (raw logical-order bytes) and returns output 0's raw bytes.
// Fails the test (returns false) on any error, with the message in *error.
inline bool RunModel(const std::string& bytes, const std::vector<int32_t>& input_shape,
                     const std::string& input, std::string* output, std::string* error) {
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (!m) {
    *error = crumb_last_error();
    return false;
  }
  crumb_interpreter* it = crumb_interpreter_create(m, nullptr);
  bool ok = it != nullptr;
  if (ok && !input_shape.empty()) {
    ok = crumb_interpreter_resize_input(it, 0, input_shape.data(), (int32_t)input_shape.size()) ==
         CRUMB_OK;
  }
  ok = ok && crumb_interpreter_allocate(it) == CRUMB_OK;
  ok = ok && crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), input.data(),
                                           input.size()) == CRUMB_OK;
  ok = ok && crumb_interpreter_invoke(it) == CRUMB_OK;
  if (ok) {
    const crumb_tensor* out = crumb_interpreter_output(it, 0);
    output->assign(crumb_tensor_byte_size(out), '\0');
    ok = crumb_tensor_copy_to_buffer(out, &(*output)[0], output->size()) == CRUMB_OK;
  }
  if (!ok) *error = crumb_last_error();
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
  return ok;
}

inline std::vector<int32_t> RandomCodes(std::mt19937& rng, size_t n, int32_t lo, int32_t hi) {
  std::uniform_int_distribution<int32_t> d(lo, hi);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Codes as the runtime's one-byte storage.
inline std::string CodesToBytes(const std::vector<int32_t>& v) {
  std::string s(v.size(), '\0');
  for (size_t i = 0; i < v.size(); i++) s[i] = (char)(uint8_t)v[i];
  return s;
}

inline std::vector<int32_t> BytesToCodes(const std::string& s, bool is_unsigned) {
  std::vector<int32_t> v(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    v[i] = is_unsigned ? (int32_t)(uint8_t)s[i] : (int32_t)(int8_t)s[i];
  }
  return v;
}

inline std::vector<float> BytesToFloats(const std::string& s) {
  std::vector<float> v(s.size() / 4);
  memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

}  // namespace crumb_test
