/* crumb: ultra-low-bit quantized neural network runtime. C API.
 *
 * Shape of the TFLite C API: a model (read-only, shareable between threads), options, and
 * interpreters (one per thread) created from a model. Every function returns a status or a
 * value; none throws, none aborts. Errors are full sentences: the last one is kept per
 * interpreter / per thread and is also passed to the error callback of the options.
 */
#ifndef CRUMB_CRUMB_H_
#define CRUMB_CRUMB_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CRUMB_API
#else
#define CRUMB_API __attribute__((visibility("default")))
#endif

typedef enum crumb_status {
  CRUMB_OK = 0,
  CRUMB_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a wrong size, an index out of range */
  CRUMB_ERROR_IO = 2,               /* the file could not be opened, read or mapped */
  CRUMB_ERROR_INVALID_MODEL = 3,    /* the file is not a valid crumb model (verifier, checks) */
  CRUMB_ERROR_UNSUPPORTED = 4,      /* a valid model needs something this build cannot do */
  CRUMB_ERROR_OUT_OF_MEMORY = 5,
  CRUMB_ERROR_NOT_READY = 6, /* invoke before allocate, tensor data before allocate */
  CRUMB_ERROR_INTERNAL = 7
} crumb_status;

typedef enum crumb_type {
  CRUMB_TYPE_FLOAT32 = 0,
  CRUMB_TYPE_QUANT = 1 /* integer codes; see crumb_tensor_bits / quantization accessors */
} crumb_type;

/* Instruction-set paths; CRUMB_ISA_AUTO picks the best the CPU has (detected once). */
typedef enum crumb_isa {
  CRUMB_ISA_AUTO = 0,
  CRUMB_ISA_SCALAR = 1,
  CRUMB_ISA_AVX2 = 2,
  CRUMB_ISA_AVX512 = 3,
  CRUMB_ISA_NEON = 4,
  CRUMB_ISA_NEONDOT = 5
} crumb_isa;

typedef struct crumb_model crumb_model;
typedef struct crumb_options crumb_options;
typedef struct crumb_interpreter crumb_interpreter;
typedef struct crumb_tensor crumb_tensor;

typedef void (*crumb_error_fn)(void* user_data, const char* message);

CRUMB_API const char* crumb_version(void);
CRUMB_API const char* crumb_status_string(crumb_status status);

/* The message of the last failed call on this thread (model creation has no handle to hold it).
 * Valid until the next failing call on the same thread. Never NULL. */
CRUMB_API const char* crumb_last_error(void);
/* The status of that call (CRUMB_OK before any failure on this thread): e.g. why
 * crumb_model_create_from_file returned NULL, CRUMB_ERROR_INVALID_MODEL or _UNSUPPORTED. */
CRUMB_API crumb_status crumb_last_status(void);

/* ---- model ---------------------------------------------------------------------------------
 * From a file: the file is mapped read-only and weights are used in place.
 * From a buffer: the caller keeps `data` alive and unchanged until crumb_model_delete; when
 * `data` is not 64-byte aligned the model copies it once into aligned memory instead.
 * Both verify the file fully (FlatBuffer verifier, then semantic checks) and return NULL with
 * crumb_last_error() set when it is not a valid model. */
CRUMB_API crumb_model* crumb_model_create_from_file(const char* path);
CRUMB_API crumb_model* crumb_model_create_from_buffer(const void* data, size_t size);
CRUMB_API void crumb_model_delete(crumb_model* model);
/* Metadata value for key, or NULL. */
CRUMB_API const char* crumb_model_metadata(const crumb_model* model, const char* key);

/* ---- options ------------------------------------------------------------------------------- */
CRUMB_API crumb_options* crumb_options_create(void);
CRUMB_API void crumb_options_delete(crumb_options* options);
/* Threads per invoke: 1 (the default) runs every op on the calling thread; N > 1 splits each op's
 * output tiles over a pool of N threads (the caller is one of them; the others sleep between
 * ops and invokes); -1: one thread per online core. */
CRUMB_API void crumb_options_set_num_threads(crumb_options* options, int num_threads);
/* Pins the interpreter's threads (its pool, and the calling thread while an invoke runs) to the
 * CPUs of `mask` (bit i: CPU i; 0, the default: no pinning). The pool has at most one thread per
 * CPU of the mask (num_threads -1: exactly one). Linux only (elsewhere a non-zero mask makes
 * crumb_interpreter_create fail). */
CRUMB_API void crumb_options_set_cpu_mask(crumb_options* options, uint64_t mask);
/* The mask of a CPU preset, as benchncnn's powersave / llama-bench's cpu mask offer: "all" (every
 * online CPU), "big" (the CPUs of the highest maximum frequency, from
 * /sys/devices/system/cpu/cpuN/cpufreq/cpuinfo_max_freq), "little" (the lowest). On a CPU whose
 * cores are all alike, "big" and "little" are every core. 0 when the preset is unknown or the
 * system does not say (crumb_last_error() tells). */
CRUMB_API uint64_t crumb_cpu_preset_mask(const char* preset);
/* Forces an instruction-set path (the environment variable CRUMB_ISA does the same; the option
 * wins). Asking for a path the CPU lacks makes crumb_interpreter_create fail, never SIGILL. */
CRUMB_API void crumb_options_set_isa(crumb_options* options, crumb_isa isa);
CRUMB_API void crumb_options_set_error_callback(crumb_options* options, crumb_error_fn fn,
                                                void* user_data);
/* Records the time of every op of every invoke (crumb_interpreter_op_profile). */
/* Forces one kernel family ("scalar", "lut", "bitserial", "dot", "dwconv", "sparse") on every
 * layer that can run it, whatever the model file recorded; "auto" (the default) follows the file
 * and the measured family table. Used by crumb-bench --tune and for comparisons. Returns
 * CRUMB_ERROR_INVALID_ARGUMENT for an unknown name. */
CRUMB_API crumb_status crumb_options_set_kernel_family(crumb_options* options, const char* family);
CRUMB_API void crumb_options_set_profiling(crumb_options* options, int enable);
/* Caps the bytes one interpreter allocates at crumb_interpreter_allocate (activation arena,
 * per-thread scratch and weights prepared at allocate; not the model itself). Past the cap,
 * allocate fails with CRUMB_ERROR_OUT_OF_MEMORY and "needed N bytes, limit M" before it allocates
 * the arena. The default is CRUMB_DEFAULT_MEMORY_LIMIT; 0 lifts the cap (a hard limit of 2^40
 * bytes remains). */
#define CRUMB_DEFAULT_MEMORY_LIMIT \
  ((uint64_t)(sizeof(void*) >= 8 ? (UINT64_C(4) << 30) : (UINT64_C(1) << 30)))
CRUMB_API void crumb_options_set_memory_limit(crumb_options* options, uint64_t bytes);
/* Like TFLite's preserve_all_tensors: every tensor keeps its own memory (the planner shares none)
 * and the plain layout crumb_tensor_copy_to_buffer reads, so that after an invoke every
 * intermediate tensor holds what the op that wrote it computed (crumb-convert --validate compares
 * them with the source graph). Costs memory (the sum of all activations) and the fusions that skip
 * writing a tensor (a REQUANTIZE run inside its convolution, activations kept bit-packed between
 * lut / bitserial layers); outputs are the same bits. Off by default. */
CRUMB_API void crumb_options_set_preserve_all_tensors(crumb_options* options, int enable);

/* ---- interpreter ---------------------------------------------------------------------------
 * The model must outlive the interpreter. options may be NULL and may be deleted after create. */
CRUMB_API crumb_interpreter* crumb_interpreter_create(const crumb_model* model,
                                                      const crumb_options* options);
CRUMB_API void crumb_interpreter_delete(crumb_interpreter* interpreter);
/* Last error message of this interpreter ("" when none). */
CRUMB_API const char* crumb_interpreter_last_error(const crumb_interpreter* interpreter);

CRUMB_API int32_t crumb_interpreter_input_count(const crumb_interpreter* interpreter);
CRUMB_API int32_t crumb_interpreter_output_count(const crumb_interpreter* interpreter);
CRUMB_API crumb_tensor* crumb_interpreter_input(crumb_interpreter* interpreter, int32_t index);
CRUMB_API const crumb_tensor* crumb_interpreter_output(const crumb_interpreter* interpreter,
                                                       int32_t index);
/* Input or output tensor by name, NULL when there is none. */
CRUMB_API crumb_tensor* crumb_interpreter_tensor_by_name(crumb_interpreter* interpreter,
                                                         const char* name);

/* Every tensor of the model (inputs, outputs, intermediates, constants), by index in the file,
 * for names, shapes and quantization. Reading data (crumb_tensor_copy_to_buffer) works for inputs
 * and outputs always, for intermediates only when the options preserved all tensors (else it
 * fails with CRUMB_ERROR_NOT_READY: their memory is reused), never for constants (stored packed;
 * CRUMB_ERROR_UNSUPPORTED). NULL when index is out of range. */
CRUMB_API int32_t crumb_interpreter_tensor_count(const crumb_interpreter* interpreter);
CRUMB_API const crumb_tensor* crumb_interpreter_tensor(const crumb_interpreter* interpreter,
                                                       int32_t index);

/* Sets the shape of an input (e.g. the batch of an N x 1 x 8 x 8 input). Only dimensions the
 * model declares dynamic (-1) may change. Call crumb_interpreter_allocate afterwards. */
CRUMB_API crumb_status crumb_interpreter_resize_input(crumb_interpreter* interpreter, int32_t index,
                                                      const int32_t* dims, int32_t num_dims);
/* Plans memory and prepares every op for the current input shapes. Dynamic dimensions not set
 * by crumb_interpreter_resize_input are 1. */
CRUMB_API crumb_status crumb_interpreter_allocate(crumb_interpreter* interpreter);
CRUMB_API crumb_status crumb_interpreter_invoke(crumb_interpreter* interpreter);

/* Bytes of the activation arena plus per-op scratch after allocate. */
CRUMB_API size_t crumb_interpreter_arena_bytes(const crumb_interpreter* interpreter);

/* The instruction-set path the interpreter runs (never CRUMB_ISA_AUTO). */
CRUMB_API crumb_isa crumb_interpreter_isa(const crumb_interpreter* interpreter);

/* Names of instruction-set paths: "auto", "scalar", "avx2", "avx512", "neon", "neondot". */
CRUMB_API const char* crumb_isa_name(crumb_isa isa);
/* Parses such a name (case-insensitive) into *isa; returns 1 on success, 0 otherwise. */
CRUMB_API int crumb_isa_parse(const char* name, crumb_isa* isa);

/* ---- per-op profile (after invokes with profiling on) ---------------------------------------- */
CRUMB_API int32_t crumb_interpreter_op_count(const crumb_interpreter* interpreter);
/* Name, type (e.g. "CONV_2D") and kernel chosen (e.g. "crumb_qu4_qs2_conv_ukernel__scalar") of
 * op i, and the total microseconds it took over all profiled invokes. */
CRUMB_API crumb_status crumb_interpreter_op_info(const crumb_interpreter* interpreter, int32_t op,
                                                 const char** name, const char** type,
                                                 const char** kernel, double* total_us,
                                                 int64_t* invokes);

/* Kernel family of op i ("lut", "bitserial", "dot", "scalar"; "" for ops with a single family)
 * and why it was chosen: "table, avx512 row: ...", "tuned (crumb-bench --tune on avx512)",
 * "forced at conversion (...)", "forced by the options (...)", with "; weights repacked from LUT
 * at prepare" when the file's packing was for another family. Valid after allocate. */
CRUMB_API crumb_status crumb_interpreter_op_family(const crumb_interpreter* interpreter, int32_t op,
                                                   const char** family, const char** reason);

/* ---- tensors ------------------------------------------------------------------------------- */
CRUMB_API const char* crumb_tensor_name(const crumb_tensor* tensor);
CRUMB_API crumb_type crumb_tensor_type(const crumb_tensor* tensor);
CRUMB_API int32_t crumb_tensor_num_dims(const crumb_tensor* tensor);
CRUMB_API int32_t crumb_tensor_dim(const crumb_tensor* tensor, int32_t index);
/* Bit width of the codes (1..8) of a QUANT tensor, 32 for FLOAT32. */
CRUMB_API int32_t crumb_tensor_bits(const crumb_tensor* tensor);
/* 1 when crumb_tensor_copy_to_buffer gives a QUANT tensor's codes as int8 (signed and ternary
 * encodings), 0 when as uint8 (unsigned, bipolar: code 0 is -1). */
CRUMB_API int crumb_tensor_is_signed(const crumb_tensor* tensor);
/* Quantization of a QUANT tensor: real value = scales[i] * (code - zero_points[i]), i the index
 * along *axis (-1: one per-tensor pair). Returns the number of pairs (0 for FLOAT32); the arrays
 * live as long as the model. Any output pointer may be NULL. */
CRUMB_API int32_t crumb_tensor_quantization(const crumb_tensor* tensor, const float** scales,
                                            const int32_t** zero_points, int32_t* axis);
/* Bytes of the tensor's data in its logical (ONNX, e.g. NCHW) order: float32 elements for
 * FLOAT32, one byte per element for QUANT. */
CRUMB_API size_t crumb_tensor_byte_size(const crumb_tensor* tensor);
/* Size-checked copies in the logical order; `size` must equal crumb_tensor_byte_size. */
CRUMB_API crumb_status crumb_tensor_copy_from_buffer(crumb_tensor* tensor, const void* data,
                                                     size_t size);
CRUMB_API crumb_status crumb_tensor_copy_to_buffer(const crumb_tensor* tensor, void* data,
                                                   size_t size);

#ifdef __cplusplus
}
#endif

#endif /* CRUMB_CRUMB_H_ */
