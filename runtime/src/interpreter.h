// The interpreter: shapes, memory plan, prepared ops, invoke.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crumb/crumb.h"
#include "dispatch.h"
#include "layout.h"
#include "model.h"
#include "status.h"

struct crumb_options {
  int num_threads = 1;
  uint64_t cpu_mask = 0;  // 0: no pinning
  crumb_isa isa = CRUMB_ISA_AUTO;
  crumb_error_fn error_fn = nullptr;
  void* error_user_data = nullptr;
  bool profiling = false;
  int family = 0;  // crumb_kernel_family forced on every layer that can run it; 0 = the table
  uint64_t memory_limit = CRUMB_DEFAULT_MEMORY_LIMIT;  // 0: none (kMaxArenaBytes remains)
  // Every tensor keeps its own memory and its plain layout
  // (crumb_options_set_preserve_all_tensors).
  bool preserve_all = false;
};

namespace crumb::rt {
class Interpreter;
}

// A handle to one of the interpreter's tensors.
struct crumb_tensor {
  crumb::rt::Interpreter* interpreter;
  int32_t index;
};

namespace crumb::rt {

// Per-tensor state of one interpreter.
struct TensorState {
  Shape shape;                         // current logical shape
  size_t elem_size = 1;                // 4 for FLOAT32, 1 for QUANT codes
  size_t bytes = 0;                    // physical bytes
  uint8_t* data = nullptr;             // arena memory or the model's constant bytes
  int32_t first_op = 0, last_op = -1;  // lifetime in op indices (-1: before the first op)
  bool fused_away = false;             // never written: its producer writes the next tensor
};

class Interpreter;

// The mask of CPUs of a preset ("all", "big", "little"; crumb_cpu_preset_mask), 0 with *error set
// when unknown or unreadable.
uint64_t CpuPresetMask(const std::string& preset, std::string* error);

// Pins the calling thread to `mask` for its lifetime, restoring the previous affinity at the end
// (no-op for mask 0).
class ScopedAffinity {
 public:
  explicit ScopedAffinity(uint64_t mask);
  ~ScopedAffinity();
  bool ok() const { return ok_; }

 private:
  bool pinned_ = false, ok_ = true;
  unsigned char saved_[128] = {};  // cpu_set_t, kept opaque here
};

// The interpreter's threads (pthreadpool). Run(tasks, fn) calls fn(task) once for every task in
// [0, tasks): in parallel on the pool when there is one, else in order on the calling thread.
// Tasks get the scratch slot of their index, so an op never runs more than max_tasks() of them.
class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers();
  // threads >= 1; one thread means no pool. A non-zero cpu_mask pins the pool's threads there.
  Status Init(size_t threads, uint64_t cpu_mask);
  size_t threads() const { return threads_; }
  // The pthreadpool_t (null with one thread), for XNNPACK's operators.
  void* pool() const { return pool_; }
  size_t max_tasks() const { return threads_ == 1 ? 1 : 4 * threads_; }
  void Run(size_t tasks, const std::function<void(size_t)>& fn) const;
  // Sends the pool's threads to sleep (the end of an invoke).
  void Sleep() const;
  // Splits [0, n) into at most max_tasks() ranges of whole `unit`s (the last may be shorter),
  // fn(begin, end, task) each. `cost`: work per item (multiply-accumulates, or a few per byte
  // moved); each range gets at least kMinTaskWork of it, so that small ops stay on one thread
  // (waking the pool costs microseconds).
  void Ranges(size_t n, size_t unit, size_t cost,
              const std::function<void(size_t, size_t, size_t)>& fn) const;
  static constexpr size_t kMinTaskWork = size_t(1) << 18;

 private:
  void* pool_ = nullptr;  // pthreadpool_t
  size_t threads_ = 1;
};

// Everything an op sees.
struct OpContext {
  const Model& model;
  const OpDesc& desc;
  std::vector<TensorState>& tensors;
  const KernelTable& kernels;
  // At Run: the threads, and the bytes between the scratch slots of consecutive tasks.
  const Workers* workers = nullptr;
  size_t scratch_stride = 0;
  std::string Label() const;
  // Workers::Ranges, inline without workers (Configure / Setup).
  void Ranges(size_t n, size_t unit, size_t cost,
              const std::function<void(size_t, size_t, size_t)>& fn) const;
  TensorState& In(size_t k) const { return tensors[desc.inputs[k]]; }
  TensorState& Out() const { return tensors[desc.outputs[0]]; }
  const TensorDesc& InDesc(size_t k) const { return model.tensors[desc.inputs[k]]; }
  const TensorDesc& OutDesc() const { return model.tensors[desc.outputs[0]]; }
};

class Op {
 public:
  virtual ~Op() = default;
  // Computes the output shapes from the input shapes and the bytes of shared scratch needed.
  virtual Status Configure(const OpContext& ctx) = 0;
  // With every tensor in memory: builds indirection buffers and kernel parameters.
  virtual Status Setup(const OpContext& ctx) = 0;
  virtual void Run(const OpContext& ctx, uint8_t* scratch) = 0;
  // Name of the microkernel doing the work, e.g. "crumb_q8_qb_igemm_ukernel_1x1__scalar".
  virtual const char* KernelName() const = 0;
  // Conv / FullyConnected: the kernel family chosen at prepare and a sentence saying why.
  virtual int Family() const { return 0; }
  virtual const char* FamilyReason() const { return ""; }
  // Activations packed along channels between layers of the lut or bitserial family: the format
  // (GemmLayer::InputFormat's tags) of a packed output this op can write and of a packed input 0
  // it can read (0: none). The interpreter links a producer and its consumers after Configure
  // when every consumer reads the producer's format, so the tensor never exists one code per byte.
  virtual unsigned PackedOutputFormat() const { return 0; }
  virtual unsigned PackedInputFormat() const { return 0; }
  virtual void UsePackedOutput() {}
  // Bytes of the packed output at the current shapes (after Configure): a packed row of few
  // channels can be longer than one byte per code (a plane word holds up to 64 channels).
  virtual size_t PackedOutputBytes() const { return 0; }
  virtual void UsePackedInput() {}
  // Code-to-code requantization after a convolution (a ReLU6 between two quantizers): the
  // convolution applies the REQUANTIZE's 256-entry table to the rows it has just written and
  // writes tensor `out` itself. FuseOutputTable returns whether the op can; the table is filled
  // later (the REQUANTIZE's Setup), before the first Run.
  virtual bool FuseOutputTable(int32_t out, const uint8_t* table) {
    (void)out, (void)table;
    return false;
  }
  // REQUANTIZE: the table a fused producer applies (null when it uses float math), and the note
  // that the op no longer runs.
  virtual const uint8_t* CodeTable() const { return nullptr; }
  virtual void SetFusedIntoProducer() {}
  // Whether the op itself writes its output's spatial mask (schema Tensor.spatial_mask); else the
  // interpreter writes the zero point into the masked pixels after the op.
  virtual bool WritesSpatialMask() const { return false; }
  size_t scratch_bytes() const { return scratch_bytes_; }
  size_t persistent_bytes() const { return persistent_bytes_; }

 protected:
  size_t scratch_bytes_ = 0;
  size_t persistent_bytes_ = 0;
};

std::unique_ptr<Op> CreateOp(const OpDesc& desc, const KernelTable& kernels);

class Interpreter {
 public:
  Interpreter(const Model* model, const crumb_options& options);
  ~Interpreter();
  Status Init();

  const Model& model() const { return *model_; }
  size_t threads() const { return workers_.threads(); }
  const crumb_options& options() const { return options_; }
  const KernelTable& kernels() const { return kernels_; }

  Status ResizeInput(int32_t index, const int32_t* dims, int32_t num_dims);
  Status Allocate();
  Status Invoke();
  bool allocated() const { return allocated_; }
  size_t arena_bytes() const;

  crumb_tensor* InputHandle(int32_t i) { return &input_handles_[i]; }
  crumb_tensor* OutputHandle(int32_t i) { return &output_handles_[i]; }
  crumb_tensor* HandleByName(const char* name);
  // A handle to any tensor of the model (crumb_interpreter_tensor).
  crumb_tensor* Handle(int32_t i) { return &all_handles_[i]; }
  int32_t tensor_count() const { return (int32_t)all_handles_.size(); }
  TensorState& tensor(int32_t i) { return tensors_[i]; }
  const TensorState& tensor(int32_t i) const { return tensors_[i]; }

  int32_t op_count() const { return (int32_t)ops_.size(); }
  const char* OpKernelName(int32_t i) const { return ops_[i]->KernelName(); }
  // The kernel family op i runs on (CRUMB_FAMILY_AUTO for ops with one family) and why.
  int OpFamily(int32_t i) const { return ops_[i]->Family(); }
  const char* OpFamilyReason(int32_t i) const { return ops_[i]->FamilyReason(); }
  double op_total_us(int32_t i) const { return op_us_[i]; }
  int64_t invokes() const { return invokes_; }

  // Records an error (message kept, callback called) and returns it.
  Status Fail(Status s);
  const std::string& last_error() const { return last_error_; }

 private:
  void RunOp(size_t i, const OpContext& ctx, uint8_t* scratch);
  Status PlanMemory();
  Status CheckMemoryLimit(uint64_t arena, uint64_t scratch, uint64_t persistent) const;
  void LinkPackedActivations();
  void FuseRequantizations();

  const Model* model_;
  crumb_options options_;
  KernelTable kernels_;
  std::vector<TensorState> tensors_;
  std::vector<std::unique_ptr<Op>> ops_;
  std::vector<crumb_tensor> input_handles_, output_handles_, all_handles_;
  void* arena_ = nullptr;
  size_t arena_size_ = 0;
  void* scratch_ = nullptr;
  size_t scratch_size_ = 0;
  size_t scratch_slot_ = 0;  // bytes per task
  Workers workers_;
  bool allocated_ = false;
  bool packed_linked_ = false;
  std::vector<size_t> packed_producers_;       // ops writing a packed output
  std::map<int32_t, int32_t> fused_producer_;  // REQUANTIZE output -> the conv that writes it
  std::vector<double> op_us_;
  int64_t invokes_ = 0;
  std::string last_error_;
};

}  // namespace crumb::rt
