// crumb: thin C++ RAII wrappers over the C API (crumb.h). Header only; no exceptions: check
// handles with operator bool and statuses against CRUMB_OK, messages with LastError().
#ifndef CRUMB_CRUMB_HPP_
#define CRUMB_CRUMB_HPP_

#include <memory>
#include <string>
#include <vector>

#include "crumb/crumb.h"

namespace crumb {

// A verified, read-only model; share one between interpreters (each on its own thread).
class Model {
 public:
  Model() = default;
  static Model FromFile(const char* path) { return Model(crumb_model_create_from_file(path)); }
  // The caller keeps `data` alive and unchanged while the model lives (unless it is unaligned,
  // in which case the model copies it).
  static Model FromBuffer(const void* data, size_t size) {
    return Model(crumb_model_create_from_buffer(data, size));
  }
  explicit operator bool() const { return model_ != nullptr; }
  const crumb_model* get() const { return model_.get(); }
  // Metadata value for key, or "" when absent.
  std::string Metadata(const char* key) const {
    const char* v = model_ ? crumb_model_metadata(model_.get(), key) : nullptr;
    return v ? v : "";
  }

 private:
  struct Deleter {
    void operator()(crumb_model* m) const { crumb_model_delete(m); }
  };
  explicit Model(crumb_model* m) : model_(m, Deleter()) {}
  std::shared_ptr<crumb_model> model_{nullptr, Deleter()};
};

class Options {
 public:
  Options() : options_(crumb_options_create()) {}
  Options& SetNumThreads(int n) {
    crumb_options_set_num_threads(options_.get(), n);
    return *this;
  }
  // Bit i: CPU i (crumb_cpu_preset_mask("big") gives the big cores' mask).
  Options& SetCpuMask(uint64_t mask) {
    crumb_options_set_cpu_mask(options_.get(), mask);
    return *this;
  }
  Options& SetIsa(crumb_isa isa) {
    crumb_options_set_isa(options_.get(), isa);
    return *this;
  }
  Options& SetErrorCallback(crumb_error_fn fn, void* user_data) {
    crumb_options_set_error_callback(options_.get(), fn, user_data);
    return *this;
  }
  // False for an unknown family name (crumb_last_error() says which).
  bool SetKernelFamily(const char* family) {
    return crumb_options_set_kernel_family(options_.get(), family) == CRUMB_OK;
  }
  Options& SetProfiling(bool enable) {
    crumb_options_set_profiling(options_.get(), enable ? 1 : 0);
    return *this;
  }
  Options& SetMemoryLimit(uint64_t bytes) {
    crumb_options_set_memory_limit(options_.get(), bytes);
    return *this;
  }
  const crumb_options* get() const { return options_.get(); }

 private:
  struct Deleter {
    void operator()(crumb_options* o) const { crumb_options_delete(o); }
  };
  std::unique_ptr<crumb_options, Deleter> options_;
};

// One op's profile (crumb_interpreter_op_info).
struct OpInfo {
  std::string name, type, kernel;
  std::string family, family_reason;  // Conv / FullyConnected only
  double total_us = 0;
  int64_t invokes = 0;
};

class Interpreter {
 public:
  // Keeps a reference to the model, so the model outlives the interpreter.
  Interpreter() = default;  // empty; assign one created from a model
  explicit Interpreter(const Model& model, const Options& options = Options())
      : model_(model),
        interpreter_(model ? crumb_interpreter_create(model.get(), options.get()) : nullptr) {}
  explicit operator bool() const { return interpreter_ != nullptr; }
  crumb_interpreter* get() const { return interpreter_.get(); }

  int32_t InputCount() const { return crumb_interpreter_input_count(get()); }
  int32_t OutputCount() const { return crumb_interpreter_output_count(get()); }
  crumb_tensor* Input(int32_t i) const { return crumb_interpreter_input(get(), i); }
  const crumb_tensor* Output(int32_t i) const { return crumb_interpreter_output(get(), i); }
  crumb_tensor* TensorByName(const char* name) const {
    return crumb_interpreter_tensor_by_name(get(), name);
  }
  crumb_status ResizeInput(int32_t i, const std::vector<int32_t>& dims) {
    return crumb_interpreter_resize_input(get(), i, dims.data(), (int32_t)dims.size());
  }
  crumb_status Allocate() { return crumb_interpreter_allocate(get()); }
  crumb_status Invoke() { return crumb_interpreter_invoke(get()); }
  size_t ArenaBytes() const { return crumb_interpreter_arena_bytes(get()); }
  crumb_isa Isa() const { return crumb_interpreter_isa(get()); }
  // The interpreter's last error, or the thread's when the interpreter could not be created.
  std::string LastError() const {
    return interpreter_ ? crumb_interpreter_last_error(get()) : crumb_last_error();
  }
  int32_t OpCount() const { return crumb_interpreter_op_count(get()); }
  OpInfo Op(int32_t i) const {
    OpInfo info;
    const char *name = "", *type = "", *kernel = "";
    crumb_interpreter_op_info(get(), i, &name, &type, &kernel, &info.total_us, &info.invokes);
    info.name = name;
    info.type = type;
    info.kernel = kernel;
    const char *family = "", *reason = "";
    crumb_interpreter_op_family(get(), i, &family, &reason);
    info.family = family;
    info.family_reason = reason;
    return info;
  }

 private:
  struct Deleter {
    void operator()(crumb_interpreter* i) const { crumb_interpreter_delete(i); }
  };
  Model model_;
  std::unique_ptr<crumb_interpreter, Deleter> interpreter_;
};

inline bool ParseIsa(const char* name, crumb_isa* isa) { return crumb_isa_parse(name, isa) != 0; }

}  // namespace crumb

#endif  // CRUMB_CRUMB_HPP_
