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

// Runs `bytes` on one input (raw logical-order bytes) on one instruction-set path and returns
// output 0's raw bytes. Returns false with the message in *error; *missing_isa tells a CPU without
// the path apart from a real failure.
inline bool RunModelOnIsa(const std::string& bytes, const std::vector<int32_t>& input_shape,
                          const std::string& input, crumb_isa isa, std::string* output,
                          std::string* error, bool* missing_isa, int threads = 1) {
  *missing_isa = false;
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (!m) {
    *error = crumb_last_error();
    return false;
  }
  crumb_options* options = crumb_options_create();
  crumb_options_set_isa(options, isa);
  crumb_options_set_num_threads(options, threads);
  crumb_interpreter* it = crumb_interpreter_create(m, options);
  crumb_options_delete(options);
  if (!it) {
    *error = crumb_last_error();
    *missing_isa = isa != CRUMB_ISA_AUTO && error->find("lacks") != std::string::npos;
    crumb_model_delete(m);
    return false;
  }
  bool ok = true;
  if (!input_shape.empty()) {
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
  if (!ok) *error = crumb_interpreter_last_error(it);
  crumb_interpreter_delete(it);
  crumb_model_delete(m);
  return ok;
}

// Runs `bytes` on the path the runtime picks, on that path with 3 threads (ops split large
// tensors over the workers: the bytes must not depend on the split) and on every other path this
// CPU has (the scalar kernels, AVX2, AVX-512, NEON, NEON dot product): every run must give the
// same bytes, so each op test proves every ISA's kernels against the reference at once. Returns
// output 0's raw bytes, or false with the message in *error.
inline bool RunModel(const std::string& bytes, const std::vector<int32_t>& input_shape,
                     const std::string& input, std::string* output, std::string* error) {
  bool missing = false;
  if (!RunModelOnIsa(bytes, input_shape, input, CRUMB_ISA_AUTO, output, error, &missing)) {
    return false;
  }
  std::string threaded;
  if (!RunModelOnIsa(bytes, input_shape, input, CRUMB_ISA_AUTO, &threaded, error, &missing, 3)) {
    *error = "3 threads: " + *error;
    return false;
  }
  if (threaded != *output) {
    *error = "the 3-thread run's output differs from the 1-thread run's";
    return false;
  }
  for (crumb_isa isa :
       {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON, CRUMB_ISA_NEONDOT}) {
    std::string other;
    if (!RunModelOnIsa(bytes, input_shape, input, isa, &other, error, &missing)) {
      if (missing) continue;
      *error = std::string(crumb_isa_name(isa)) + ": " + *error;
      return false;
    }
    if (other != *output) {
      size_t i = 0;
      while (i < other.size() && i < output->size() && other[i] == (*output)[i]) i++;
      *error = std::string("the ") + crumb_isa_name(isa) +
               " path's output differs from the default path's at byte " + std::to_string(i);
      return false;
    }
  }
  return true;
}

// What a run with RunWith reports: output 0's bytes and, per op, its kernel and why its family.
struct RunResult {
  std::string output;
  std::vector<std::string> kernels, families, reasons;
};

// Runs `bytes` once on `input` (input 0's raw bytes, at the model's shape) with an ISA path, a
// kernel family forced by the options ("auto": none) and a thread count. Returns false with the
// message in *error; *missing_isa tells a CPU without the path apart from a real failure.
inline bool RunWith(const std::string& bytes, const std::string& input, crumb_isa isa,
                    const char* family, int threads, RunResult* r, std::string* error,
                    bool* missing_isa) {
  *missing_isa = false;
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (!m) {
    *error = crumb_last_error();
    return false;
  }
  crumb_options* o = crumb_options_create();
  crumb_options_set_isa(o, isa);
  crumb_options_set_kernel_family(o, family);
  crumb_options_set_num_threads(o, threads);
  crumb_interpreter* it = crumb_interpreter_create(m, o);
  crumb_options_delete(o);
  bool ok = it != nullptr;
  if (!ok) {
    *error = crumb_last_error();
    *missing_isa = error->find("lacks") != std::string::npos;
  }
  ok = ok && crumb_interpreter_allocate(it) == CRUMB_OK;
  ok = ok && crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), input.data(),
                                           input.size()) == CRUMB_OK;
  ok = ok && crumb_interpreter_invoke(it) == CRUMB_OK;
  if (ok) {
    const crumb_tensor* t = crumb_interpreter_output(it, 0);
    r->output.assign(crumb_tensor_byte_size(t), '\0');
    ok = crumb_tensor_copy_to_buffer(t, &r->output[0], r->output.size()) == CRUMB_OK;
    r->kernels.clear();
    r->families.clear();
    r->reasons.clear();
    for (int32_t i = 0; i < crumb_interpreter_op_count(it); i++) {
      const char *name = nullptr, *type = nullptr, *kernel = nullptr, *f = nullptr, *why = nullptr;
      double us = 0;
      int64_t invokes = 0;
      crumb_interpreter_op_info(it, i, &name, &type, &kernel, &us, &invokes);
      crumb_interpreter_op_family(it, i, &f, &why);
      r->kernels.push_back(kernel ? kernel : "");
      r->families.push_back(f ? f : "");
      r->reasons.push_back(why ? why : "");
    }
  }
  if (!ok && it) *error = crumb_interpreter_last_error(it);
  if (it) crumb_interpreter_delete(it);
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
