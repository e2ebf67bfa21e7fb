// The C API: argument checks, status codes and error messages around the C++ core. Nothing
// thrown inside (std::bad_alloc) escapes.
#include <string.h>
#include <strings.h>

#include <new>
#include <string>

#include "c_api_internal.h"
#include "crumb/crumb.h"
#include "kernels/common/family.h"

#ifndef CRUMB_VERSION_STRING
#define CRUMB_VERSION_STRING "0.0.0"
#endif

namespace {

thread_local std::string g_last_error;
thread_local crumb_status g_last_status = CRUMB_OK;

crumb_status SetError(const crumb::rt::Status& s) {
  g_last_error = s.message();
  g_last_status = s.code();
  return s.code();
}

crumb_status Report(crumb_interpreter* interp, const crumb::rt::Status& s) {
  if (s.ok()) return CRUMB_OK;
  SetError(s);
  if (interp) interp->impl->Fail(s);
  return s.code();
}

template <typename F>
crumb_status Guard(crumb_interpreter* interp, F&& f) {
  try {
    return Report(interp, f());
  } catch (const std::bad_alloc&) {
    return Report(interp, crumb::rt::Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory."));
  } catch (...) {
    return Report(interp, crumb::rt::Status(CRUMB_ERROR_INTERNAL, "Internal error."));
  }
}

bool TensorReady(const crumb_tensor* t) { return t && t->interpreter; }

bool IsModelInputOrOutput(const crumb::rt::Interpreter* interp, int32_t t) {
  const crumb::rt::Model& m = interp->model();
  for (int32_t i : m.inputs) {
    if (i == t) return true;
  }
  for (int32_t o : m.outputs) {
    if (o == t) return true;
  }
  return false;
}

// QUANT data written by the caller: one code per byte (int8 for the signed encodings), each within
// the tensor's bit width, since the kernels index tables and pack bit planes with them.
crumb::rt::Status CheckCodes(const crumb::rt::TensorDesc& d, const std::string& label,
                             const void* data, size_t size) {
  if (d.is_float) return crumb::rt::Status::Ok();
  int32_t lo, hi;
  crumb::rt::EncodingRange(d.encoding, d.bits, &lo, &hi);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; i++) {
    const int32_t q = lo < 0 ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
    if (q < lo || q > hi) {
      return crumb::rt::InvalidArgument(crumb::rt::StrFormat(
          "Cannot write code %d at element %zu into %s: its %d-bit %s codes lie in [%d, %d].", q, i,
          label.c_str(), d.bits, crumb::rt::EncodingName(d.encoding), lo, hi));
    }
  }
  return crumb::rt::Status::Ok();
}

}  // namespace

extern "C" {

const char* crumb_version(void) { return CRUMB_VERSION_STRING; }

const char* crumb_status_string(crumb_status status) {
  switch (status) {
    case CRUMB_OK:
      return "ok";
    case CRUMB_ERROR_INVALID_ARGUMENT:
      return "invalid argument";
    case CRUMB_ERROR_IO:
      return "I/O error";
    case CRUMB_ERROR_INVALID_MODEL:
      return "invalid model";
    case CRUMB_ERROR_UNSUPPORTED:
      return "unsupported";
    case CRUMB_ERROR_OUT_OF_MEMORY:
      return "out of memory";
    case CRUMB_ERROR_NOT_READY:
      return "not ready";
    case CRUMB_ERROR_INTERNAL:
      return "internal error";
  }
  return "unknown status";
}

const char* crumb_last_error(void) { return g_last_error.c_str(); }

crumb_status crumb_last_status(void) { return g_last_status; }

static crumb_model* WrapModel(crumb::rt::Status s, crumb::rt::Model* m) {
  if (!s.ok()) {
    SetError(s);
    return nullptr;
  }
  crumb_model* h = new (std::nothrow) crumb_model{m};
  if (!h) {
    delete m;
    SetError(crumb::rt::Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory creating the model."));
  }
  return h;
}

crumb_model* crumb_model_create_from_file(const char* path) {
  try {
    crumb::rt::Model* m = nullptr;
    crumb::rt::Status s = crumb::rt::Model::FromFile(path, &m);
    return WrapModel(s, m);
  } catch (...) {
    SetError(crumb::rt::Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory loading the model."));
    return nullptr;
  }
}

crumb_model* crumb_model_create_from_buffer(const void* data, size_t size) {
  try {
    crumb::rt::Model* m = nullptr;
    crumb::rt::Status s = crumb::rt::Model::FromBuffer(data, size, &m);
    return WrapModel(s, m);
  } catch (...) {
    SetError(crumb::rt::Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory loading the model."));
    return nullptr;
  }
}

void crumb_model_delete(crumb_model* model) {
  if (!model) return;
  delete model->model;
  delete model;
}

const char* crumb_model_metadata(const crumb_model* model, const char* key) {
  if (!model || !key) return nullptr;
  return model->model->Metadata(key);
}

crumb_options* crumb_options_create(void) { return new (std::nothrow) crumb_options(); }
void crumb_options_delete(crumb_options* options) { delete options; }
void crumb_options_set_num_threads(crumb_options* options, int num_threads) {
  // -1 (any negative): every online core; 0 counts as 1.
  if (options) options->num_threads = num_threads < 0 ? -1 : num_threads == 0 ? 1 : num_threads;
}
void crumb_options_set_cpu_mask(crumb_options* options, uint64_t mask) {
  if (options) options->cpu_mask = mask;
}

uint64_t crumb_cpu_preset_mask(const char* preset) {
  std::string error;
  const uint64_t mask = crumb::rt::CpuPresetMask(preset ? preset : "", &error);
  if (mask == 0) SetError(crumb::rt::InvalidArgument(error));
  return mask;
}

void crumb_options_set_isa(crumb_options* options, crumb_isa isa) {
  if (options) options->isa = isa;
}
void crumb_options_set_error_callback(crumb_options* options, crumb_error_fn fn, void* user_data) {
  if (!options) return;
  options->error_fn = fn;
  options->error_user_data = user_data;
}
crumb_status crumb_options_set_kernel_family(crumb_options* options, const char* family) {
  if (!options) return SetError(crumb::rt::InvalidArgument("The options are NULL."));
  static const char* const kNames[] = {"auto", "scalar", "lut",   "bitserial",
                                       "dot",  "dwconv", "sparse"};
  for (int i = 0; i < 7; i++) {
    if (family && strcasecmp(family, kNames[i]) == 0) {
      options->family = i;
      return CRUMB_OK;
    }
  }
  return SetError(crumb::rt::InvalidArgument(
      crumb::rt::StrFormat("Kernel family '%s' is unknown (auto, scalar, lut, bitserial or dot).",
                           family ? family : "(null)")));
}

void crumb_options_set_profiling(crumb_options* options, int enable) {
  if (options) options->profiling = enable != 0;
}

void crumb_options_set_memory_limit(crumb_options* options, uint64_t bytes) {
  if (options) options->memory_limit = bytes;
}

void crumb_options_set_preserve_all_tensors(crumb_options* options, int enable) {
  if (options) options->preserve_all = enable != 0;
}

crumb_interpreter* crumb_interpreter_create(const crumb_model* model,
                                            const crumb_options* options) {
  const crumb_options opts = options ? *options : crumb_options();
  auto fail = [&](const crumb::rt::Status& s) -> crumb_interpreter* {
    SetError(s);
    if (opts.error_fn) opts.error_fn(opts.error_user_data, s.message().c_str());
    return nullptr;
  };
  if (!model) return fail(crumb::rt::InvalidArgument("The model is NULL."));
  try {
    auto* impl = new crumb::rt::Interpreter(model->model, opts);
    crumb::rt::Status s = impl->Init();
    if (!s.ok()) {
      delete impl;
      return fail(s);
    }
    return new crumb_interpreter{impl};
  } catch (const std::bad_alloc&) {
    return fail(
        crumb::rt::Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory creating the interpreter."));
  }
}

void crumb_interpreter_delete(crumb_interpreter* interpreter) {
  if (!interpreter) return;
  delete interpreter->impl;
  delete interpreter;
}

const char* crumb_interpreter_last_error(const crumb_interpreter* interpreter) {
  if (!interpreter) return "";
  return interpreter->impl->last_error().c_str();
}

int32_t crumb_interpreter_input_count(const crumb_interpreter* interpreter) {
  return interpreter ? (int32_t)interpreter->impl->model().inputs.size() : 0;
}

int32_t crumb_interpreter_output_count(const crumb_interpreter* interpreter) {
  return interpreter ? (int32_t)interpreter->impl->model().outputs.size() : 0;
}

crumb_tensor* crumb_interpreter_input(crumb_interpreter* interpreter, int32_t index) {
  if (!interpreter || index < 0 || index >= crumb_interpreter_input_count(interpreter)) {
    return nullptr;
  }
  return interpreter->impl->InputHandle(index);
}

const crumb_tensor* crumb_interpreter_output(const crumb_interpreter* interpreter, int32_t index) {
  if (!interpreter || index < 0 || index >= crumb_interpreter_output_count(interpreter)) {
    return nullptr;
  }
  return interpreter->impl->OutputHandle(index);
}

int32_t crumb_interpreter_tensor_count(const crumb_interpreter* interpreter) {
  return interpreter ? interpreter->impl->tensor_count() : 0;
}

const crumb_tensor* crumb_interpreter_tensor(const crumb_interpreter* interpreter, int32_t index) {
  if (!interpreter || index < 0 || index >= interpreter->impl->tensor_count()) return nullptr;
  return interpreter->impl->Handle(index);
}

crumb_tensor* crumb_interpreter_tensor_by_name(crumb_interpreter* interpreter, const char* name) {
  if (!interpreter || !name) return nullptr;
  return interpreter->impl->HandleByName(name);
}

crumb_status crumb_interpreter_resize_input(crumb_interpreter* interpreter, int32_t index,
                                            const int32_t* dims, int32_t num_dims) {
  if (!interpreter) return SetError(crumb::rt::InvalidArgument("The interpreter is NULL."));
  return Guard(interpreter, [&] { return interpreter->impl->ResizeInput(index, dims, num_dims); });
}

crumb_status crumb_interpreter_allocate(crumb_interpreter* interpreter) {
  if (!interpreter) return SetError(crumb::rt::InvalidArgument("The interpreter is NULL."));
  return Guard(interpreter, [&] { return interpreter->impl->Allocate(); });
}

crumb_status crumb_interpreter_invoke(crumb_interpreter* interpreter) {
  if (!interpreter) return SetError(crumb::rt::InvalidArgument("The interpreter is NULL."));
  return Guard(interpreter, [&] { return interpreter->impl->Invoke(); });
}

size_t crumb_interpreter_arena_bytes(const crumb_interpreter* interpreter) {
  return interpreter ? interpreter->impl->arena_bytes() : 0;
}

crumb_isa crumb_interpreter_isa(const crumb_interpreter* interpreter) {
  return interpreter ? interpreter->impl->kernels().isa : CRUMB_ISA_SCALAR;
}

const char* crumb_isa_name(crumb_isa isa) { return crumb::rt::IsaName(isa); }

int crumb_isa_parse(const char* name, crumb_isa* isa) {
  if (!name || !isa) return 0;
  return crumb::rt::ParseIsa(name, isa) ? 1 : 0;
}

int32_t crumb_interpreter_op_count(const crumb_interpreter* interpreter) {
  return interpreter ? interpreter->impl->op_count() : 0;
}

crumb_status crumb_interpreter_op_info(const crumb_interpreter* interpreter, int32_t op,
                                       const char** name, const char** type, const char** kernel,
                                       double* total_us, int64_t* invokes) {
  if (!interpreter) return SetError(crumb::rt::InvalidArgument("The interpreter is NULL."));
  const crumb::rt::Interpreter& impl = *interpreter->impl;
  if (op < 0 || op >= impl.op_count()) {
    return SetError(crumb::rt::InvalidArgument(crumb::rt::StrFormat(
        "Op index %d is out of range (the model has %d ops).", op, impl.op_count())));
  }
  const crumb::rt::OpDesc& d = impl.model().ops[op];
  if (name) *name = d.name.c_str();
  if (type) *type = crumb::rt::OpCodeName(d.opcode);
  if (kernel) *kernel = impl.OpKernelName(op);
  if (total_us) *total_us = impl.op_total_us(op);
  if (invokes) *invokes = impl.invokes();
  return CRUMB_OK;
}

crumb_status crumb_interpreter_op_family(const crumb_interpreter* interpreter, int32_t op,
                                         const char** family, const char** reason) {
  if (!interpreter) return SetError(crumb::rt::InvalidArgument("The interpreter is NULL."));
  const crumb::rt::Interpreter& impl = *interpreter->impl;
  if (op < 0 || op >= impl.op_count()) {
    return SetError(crumb::rt::InvalidArgument(crumb::rt::StrFormat(
        "Op index %d is out of range (the model has %d ops).", op, impl.op_count())));
  }
  const int f = impl.OpFamily(op);
  if (family) *family = f == CRUMB_FAMILY_AUTO ? "" : crumb_kernel_family_name(f);
  if (reason) *reason = impl.OpFamilyReason(op);
  return CRUMB_OK;
}

const char* crumb_tensor_name(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return "";
  return tensor->interpreter->model().tensors[tensor->index].name.c_str();
}

crumb_type crumb_tensor_type(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return CRUMB_TYPE_FLOAT32;
  return tensor->interpreter->model().tensors[tensor->index].is_float ? CRUMB_TYPE_FLOAT32
                                                                      : CRUMB_TYPE_QUANT;
}

int32_t crumb_tensor_num_dims(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return 0;
  return (int32_t)tensor->interpreter->tensor(tensor->index).shape.size();
}

int32_t crumb_tensor_dim(const crumb_tensor* tensor, int32_t index) {
  if (!TensorReady(tensor)) return 0;
  const crumb::rt::Shape& s = tensor->interpreter->tensor(tensor->index).shape;
  if (index < 0 || (size_t)index >= s.size()) return 0;
  return (int32_t)s[index];
}

size_t crumb_tensor_byte_size(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return 0;
  const crumb::rt::TensorState& t = tensor->interpreter->tensor(tensor->index);
  return (size_t)crumb::rt::ElementCount(t.shape) * t.elem_size;
}

int32_t crumb_tensor_bits(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return 0;
  return tensor->interpreter->model().tensors[tensor->index].bits;
}

int crumb_tensor_is_signed(const crumb_tensor* tensor) {
  if (!TensorReady(tensor)) return 0;
  const crumb::rt::TensorDesc& d = tensor->interpreter->model().tensors[tensor->index];
  if (d.is_float) return 1;
  int32_t lo, hi;
  crumb::rt::EncodingRange(d.encoding, d.bits, &lo, &hi);
  return lo < 0 ? 1 : 0;
}

int32_t crumb_tensor_quantization(const crumb_tensor* tensor, const float** scales,
                                  const int32_t** zero_points, int32_t* axis) {
  if (!TensorReady(tensor)) return 0;
  const crumb::rt::TensorDesc& d = tensor->interpreter->model().tensors[tensor->index];
  const bool q = !d.is_float && !d.scales.empty();
  if (scales) *scales = q ? d.scales.data() : nullptr;
  if (zero_points) *zero_points = q ? d.zero_points.data() : nullptr;
  if (axis) *axis = q ? d.axis : -1;
  return q ? (int32_t)d.scales.size() : 0;
}

crumb_status crumb_tensor_copy_from_buffer(crumb_tensor* tensor, const void* data, size_t size) {
  if (!TensorReady(tensor)) return SetError(crumb::rt::InvalidArgument("The tensor is NULL."));
  crumb::rt::Interpreter* interp = tensor->interpreter;
  const std::string label = interp->model().TensorLabel(tensor->index);
  crumb::rt::Status s;
  if (!data) {
    s = crumb::rt::InvalidArgument("The source buffer for " + label + " is NULL.");
  } else if (!interp->allocated()) {
    s = crumb::rt::Status(CRUMB_ERROR_NOT_READY,
                          "Cannot write " + label + " before crumb_interpreter_allocate.");
  } else if (size != crumb_tensor_byte_size(tensor)) {
    s = crumb::rt::InvalidArgument(
        crumb::rt::StrFormat("Cannot write %zu bytes into %s, which holds %zu "
                             "bytes.",
                             size, label.c_str(), crumb_tensor_byte_size(tensor)));
  } else {
    s = CheckCodes(interp->model().tensors[tensor->index], label, data, size);
    if (s.ok()) {
      crumb::rt::TensorState& t = interp->tensor(tensor->index);
      crumb::rt::LogicalToPhysical(t.shape, t.elem_size, data, t.data);
      return CRUMB_OK;
    }
  }
  SetError(s);
  interp->Fail(s);
  return s.code();
}

crumb_status crumb_tensor_copy_to_buffer(const crumb_tensor* tensor, void* data, size_t size) {
  if (!TensorReady(tensor)) return SetError(crumb::rt::InvalidArgument("The tensor is NULL."));
  crumb::rt::Interpreter* interp = tensor->interpreter;
  const std::string label = interp->model().TensorLabel(tensor->index);
  crumb::rt::Status s;
  if (!data) {
    s = crumb::rt::InvalidArgument("The destination buffer for " + label + " is NULL.");
  } else if (!interp->allocated()) {
    s = crumb::rt::Status(CRUMB_ERROR_NOT_READY,
                          "Cannot read " + label + " before crumb_interpreter_allocate.");
  } else if (interp->model().tensors[tensor->index].is_constant()) {
    s = crumb::rt::Status(CRUMB_ERROR_UNSUPPORTED,
                          "Cannot read " + label +
                              ": constants are stored in their kernel family's packed layout.");
  } else if (!interp->options().preserve_all && !IsModelInputOrOutput(interp, tensor->index)) {
    s = crumb::rt::Status(CRUMB_ERROR_NOT_READY,
                          "Cannot read " + label +
                              ": intermediate tensors are readable only with "
                              "crumb_options_set_preserve_all_tensors (their memory is reused).");
  } else if (size != crumb_tensor_byte_size(tensor)) {
    s = crumb::rt::InvalidArgument(
        crumb::rt::StrFormat("Cannot read %s (%zu bytes) into a %zu-byte "
                             "buffer.",
                             label.c_str(), crumb_tensor_byte_size(tensor), size));
  } else {
    const crumb::rt::TensorState& t = interp->tensor(tensor->index);
    crumb::rt::PhysicalToLogical(t.shape, t.elem_size, t.data, data);
    return CRUMB_OK;
  }
  SetError(s);
  interp->Fail(s);
  return s.code();
}

}  // extern "C"
