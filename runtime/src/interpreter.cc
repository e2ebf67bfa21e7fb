#include "interpreter.h"

#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <pthreadpool.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace crumb::rt {

namespace {

constexpr size_t kAlign = 64;
// Larger plans are refused instead of asking the system for absurd amounts of memory.
constexpr uint64_t kMaxArenaBytes = uint64_t(1) << 40;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string ShapeString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

}  // namespace

uint64_t CpuPresetMask(const std::string& preset, std::string* error) {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const int cpus = (int)std::min<long>(std::max<long>(online, 1), 64);
  const uint64_t all = cpus == 64 ? ~uint64_t(0) : (uint64_t(1) << cpus) - 1;
  if (preset == "all") return all;
  if (preset != "big" && preset != "little") {
    *error = "CPU preset '" + preset + "' is unknown (all, big or little).";
    return 0;
  }
  long freq[64] = {};
  long lo = -1, hi = -1;
  for (int c = 0; c < cpus; c++) {
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", c);
    FILE* f = fopen(path, "r");
    if (!f || fscanf(f, "%ld", &freq[c]) != 1) freq[c] = -1;
    if (f) fclose(f);
    if (freq[c] < 0) continue;
    lo = lo < 0 ? freq[c] : std::min(lo, freq[c]);
    hi = std::max(hi, freq[c]);
  }
  // Without cpufreq (VMs, some containers) every core counts as alike.
  if (hi < 0) return all;
  uint64_t mask = 0;
  for (int c = 0; c < cpus; c++) {
    if (freq[c] == (preset == "big" ? hi : lo)) mask |= uint64_t(1) << c;
  }
  return mask;
}

ScopedAffinity::ScopedAffinity(uint64_t mask) {
  static_assert(sizeof(cpu_set_t) <= sizeof(saved_), "cpu_set_t does not fit");
  if (mask == 0) return;
#ifdef __linux__
  cpu_set_t* saved = reinterpret_cast<cpu_set_t*>(saved_);
  if (pthread_getaffinity_np(pthread_self(), sizeof(cpu_set_t), saved) != 0) {
    ok_ = false;
    return;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = 0; c < 64; c++) {
    if (mask >> c & 1) CPU_SET(c, &set);
  }
  ok_ = pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t), &set) == 0;
  pinned_ = ok_;
#else
  ok_ = false;
#endif
}

ScopedAffinity::~ScopedAffinity() {
#ifdef __linux__
  if (pinned_) {
    pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t),
                           reinterpret_cast<const cpu_set_t*>(saved_));
  }
#endif
}

Workers::~Workers() {
  if (pool_) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
}

Status Workers::Init(size_t threads, uint64_t cpu_mask) {
  if (pool_) pthreadpool_destroy(static_cast<pthreadpool_t>(pool_));
  pool_ = nullptr;
  threads_ = 1;
  if (threads <= 1) return Status::Ok();
  // Threads inherit the affinity of the thread that creates them: pinned while the pool starts.
  ScopedAffinity pin(cpu_mask);
  if (!pin.ok()) {
    return InvalidArgument(
        StrFormat("Could not pin threads to CPU mask 0x%llx (no such CPUs, or not Linux).",
                  (unsigned long long)cpu_mask));
  }
  pool_ = pthreadpool_create(threads);
  if (!pool_) {
    return Status(CRUMB_ERROR_OUT_OF_MEMORY,
                  StrFormat("Could not start a pool of %zu threads.", threads));
  }
  threads_ = pthreadpool_get_threads_count(static_cast<pthreadpool_t>(pool_));
  return Status::Ok();
}

// pthreadpool comes from Debian uninstrumented: ThreadSanitizer cannot see that it hands a job to
// its workers and waits for them (atomics and futexes inside the library), and would report the
// job's data as races. Under TSan, the job's address carries the hand-over and the join.
#if defined(__SANITIZE_THREAD__)
#define CRUMB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CRUMB_TSAN 1
#endif
#endif
#ifdef CRUMB_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace {
void Release(const void* job) {
#ifdef CRUMB_TSAN
  __tsan_release(const_cast<void*>(job));
#else
  (void)job;
#endif
}
void Acquire(const void* job) {
#ifdef CRUMB_TSAN
  __tsan_acquire(const_cast<void*>(job));
#else
  (void)job;
#endif
}

void RunTask(void* fn, size_t task) {
  Acquire(fn);
  (*static_cast<const std::function<void(size_t)>*>(fn))(task);
  Release(fn);
}

void Parallelize(void* pool, const std::function<void(size_t)>& fn, size_t tasks, uint32_t flags) {
  Release(&fn);
  pthreadpool_parallelize_1d(static_cast<pthreadpool_t>(pool), RunTask,
                             const_cast<std::function<void(size_t)>*>(&fn), tasks, flags);
  Acquire(&fn);
}
}  // namespace

void Workers::Run(size_t tasks, const std::function<void(size_t)>& fn) const {
  if (tasks == 0) return;
  if (!pool_ || tasks == 1) {
    for (size_t t = 0; t < tasks; t++) fn(t);
    return;
  }
  // Between ops the workers spin briefly (pthreadpool), so the next op starts without a wake-up.
  Parallelize(pool_, fn, tasks, 0);
}

void Workers::Sleep() const {
  if (!pool_) return;
  // An empty job whose end sends every worker back to the scheduler: after an invoke no thread
  // keeps spinning on a core the application may want.
  const std::function<void(size_t)> nothing = [](size_t) {};
  Parallelize(pool_, nothing, threads_, PTHREADPOOL_FLAG_YIELD_WORKERS);
}

void Workers::Ranges(size_t n, size_t unit, size_t cost,
                     const std::function<void(size_t, size_t, size_t)>& fn) const {
  if (n == 0) return;
  const size_t units = (n + unit - 1) / unit;
  const double work = (double)n * (double)std::max<size_t>(cost, 1);
  const size_t by_work = (size_t)std::min<double>(work / (double)kMinTaskWork, 1e9);
  const size_t tasks = std::min({max_tasks(), units, std::max<size_t>(by_work, 1)});
  if (tasks <= 1) {
    fn(0, n, 0);
    return;
  }
  // Units dealt out evenly (the last, partial one to the last task): ResNet-18's 7x7 maps, 49
  // pixels in 7 units of 8, split 24 / 25 rather than 32 / 17.
  Run(tasks, [&](size_t t) {
    fn(units * t / tasks * unit, std::min(n, units * (t + 1) / tasks * unit), t);
  });
}

void OpContext::Ranges(size_t n, size_t unit, size_t cost,
                       const std::function<void(size_t, size_t, size_t)>& fn) const {
  if (workers) {
    workers->Ranges(n, unit, cost, fn);
  } else if (n) {
    fn(0, n, 0);
  }
}

std::string OpContext::Label() const {
  return StrFormat("%s '%s'", OpCodeName(desc.opcode), desc.name.c_str());
}

Interpreter::Interpreter(const Model* model, const crumb_options& options)
    : model_(model), options_(options) {}

Interpreter::~Interpreter() {
  free(arena_);
  free(scratch_);
}

Status Interpreter::Init() {
  CRUMB_RETURN_IF_ERROR(SelectKernels(options_.isa, &kernels_));
  size_t threads = (size_t)std::max(1, options_.num_threads);
  if (options_.num_threads < 0) {
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    threads = options_.cpu_mask ? (size_t)__builtin_popcountll(options_.cpu_mask)
              : cores > 0       ? (size_t)cores
                                : 1;
  }
  // More threads than CPUs to run them would wait on each other at every op.
  if (options_.cpu_mask) {
    threads = std::min(threads, (size_t)__builtin_popcountll(options_.cpu_mask));
  }
  if (options_.cpu_mask) {
    ScopedAffinity probe(options_.cpu_mask);  // fails now rather than at the first invoke
    if (!probe.ok()) {
      return InvalidArgument(
          StrFormat("Could not pin threads to CPU mask 0x%llx (no such CPUs, or not Linux).",
                    (unsigned long long)options_.cpu_mask));
    }
  }
  CRUMB_RETURN_IF_ERROR(workers_.Init(threads, options_.cpu_mask));
  kernels_.forced_family = options_.family;
  const Model& m = *model_;
  tensors_.resize(m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); i++) {
    const TensorDesc& d = m.tensors[i];
    TensorState& t = tensors_[i];
    t.shape = d.shape;
    for (int64_t& dim : t.shape) {
      if (dim < 0) dim = 1;  // dynamic dimensions default to 1
    }
    t.elem_size = d.is_float ? 4 : 1;
    if (d.is_constant()) t.data = const_cast<uint8_t*>(d.data);  // read only, never written
  }
  for (size_t i = 0; i < m.ops.size(); i++) {
    std::unique_ptr<Op> op = CreateOp(m.ops[i], kernels_);
    if (!op) {
      return Unsupported(StrFormat("%s is not supported by this runtime.", m.OpLabel(i).c_str()));
    }
    ops_.push_back(std::move(op));
  }
  op_us_.assign(m.ops.size(), 0.0);
  for (int32_t t : m.inputs) input_handles_.push_back(crumb_tensor{this, t});
  for (int32_t t : m.outputs) output_handles_.push_back(crumb_tensor{this, t});
  for (size_t i = 0; i < m.tensors.size(); i++)
    all_handles_.push_back(crumb_tensor{this, (int32_t)i});
  return Status::Ok();
}

crumb_tensor* Interpreter::HandleByName(const char* name) {
  for (crumb_tensor& h : input_handles_) {
    if (model_->tensors[h.index].name == name) return &h;
  }
  for (crumb_tensor& h : output_handles_) {
    if (model_->tensors[h.index].name == name) return &h;
  }
  return nullptr;
}

Status Interpreter::ResizeInput(int32_t index, const int32_t* dims, int32_t num_dims) {
  if (index < 0 || (size_t)index >= input_handles_.size()) {
    return InvalidArgument(StrFormat("Input index %d is out of range (the model has %zu inputs).",
                                     index, input_handles_.size()));
  }
  if (!dims && num_dims > 0) return InvalidArgument("The dims pointer is NULL.");
  const int32_t t = input_handles_[index].index;
  const TensorDesc& d = model_->tensors[t];
  if ((size_t)num_dims != d.shape.size()) {
    return InvalidArgument(StrFormat("Input %s has %zu dimensions, not %d.",
                                     model_->TensorLabel(t).c_str(), d.shape.size(), num_dims));
  }
  Shape s(d.shape.size());
  for (int32_t i = 0; i < num_dims; i++) {
    if (d.shape[i] == -1) {
      if (dims[i] < 1) {
        return InvalidArgument(StrFormat("Dimension %d of input %s must be >= 1, not %d.", i,
                                         model_->TensorLabel(t).c_str(), dims[i]));
      }
    } else if (dims[i] != d.shape[i]) {
      return InvalidArgument(
          StrFormat("Dimension %d of input %s is fixed at %lld by the model; "
                    "cannot make it %d (only dynamic dimensions change).",
                    i, model_->TensorLabel(t).c_str(), (long long)d.shape[i], dims[i]));
    }
    s[i] = dims[i];
  }
  tensors_[t].shape = s;
  allocated_ = false;
  return Status::Ok();
}

Status Interpreter::Allocate() {
  allocated_ = false;
  const Model& m = *model_;
  // Shapes: model inputs keep theirs; every op computes its outputs' from its inputs'.
  for (size_t i = 0; i < ops_.size(); i++) {
    OpContext ctx{m, m.ops[i], tensors_, kernels_};
    Status s = ops_[i]->Configure(ctx);
    if (!s.ok()) {
      return Status(s.code(),
                    StrFormat("Op %zu (%s): %s", i, ctx.Label().c_str(), s.message().c_str()));
    }
    const int32_t out = m.ops[i].outputs[0];
    const Shape& got = tensors_[out].shape;
    const Shape& declared = m.tensors[out].shape;
    bool match = got.size() == declared.size();
    for (size_t k = 0; match && k < got.size(); k++) {
      match = got[k] >= 1 && (declared[k] == -1 || declared[k] == got[k]);
    }
    if (!match) {
      return InvalidModel(
          StrFormat("Op %zu (%s) computes shape %s for %s, but the model "
                    "declares %s.",
                    i, ctx.Label().c_str(), ShapeString(got).c_str(), m.TensorLabel(out).c_str(),
                    ShapeString(declared).c_str()));
    }
  }
  if (!packed_linked_) {
    // Preserving every tensor means every tensor exists, one code per byte: a fused requantization
    // never writes its input and a packed activation is in a kernel's layout.
    if (!options_.preserve_all) {
      FuseRequantizations();
      LinkPackedActivations();
    }
    packed_linked_ = true;
  }
  // Byte sizes, with an overflow guard against hostile shapes.
  for (size_t i = 0; i < tensors_.size(); i++) {
    TensorState& t = tensors_[i];
    uint64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(n, (uint64_t)d, &n) || n > kMaxArenaBytes) {
        return Status(CRUMB_ERROR_OUT_OF_MEMORY,
                      StrFormat("%s would need more memory than supported (shape %s).",
                                m.TensorLabel((int32_t)i).c_str(), ShapeString(t.shape).c_str()));
      }
    }
    t.bytes = (size_t)(n * t.elem_size);
  }
  for (size_t i : packed_producers_) {
    TensorState& t = tensors_[m.ops[i].outputs[0]];
    t.bytes = std::max(t.bytes, ops_[i]->PackedOutputBytes());
  }
  CRUMB_RETURN_IF_ERROR(PlanMemory());
  for (size_t i = 0; i < ops_.size(); i++) {
    OpContext ctx{m, m.ops[i], tensors_, kernels_};
    Status s = ops_[i]->Setup(ctx);
    if (!s.ok()) {
      return Status(s.code(),
                    StrFormat("Op %zu (%s): %s", i, ctx.Label().c_str(), s.message().c_str()));
    }
  }
  size_t persistent = 0;
  for (const auto& op : ops_) persistent += op->persistent_bytes();
  CRUMB_RETURN_IF_ERROR(CheckMemoryLimit(arena_size_, scratch_size_, persistent));
  allocated_ = true;
  return Status::Ok();
}

// A REQUANTIZE whose input only it reads and a convolution writes (MobileNet's ReLU6 between
// two quantizers) runs inside that convolution: the convolution writes the REQUANTIZE's output,
// applying its table to each tile of rows it has just computed; the tensor between them is never
// written. Same bytes, one pass over the activation less.
void Interpreter::FuseRequantizations() {
  const Model& m = *model_;
  std::vector<int32_t> readers(m.tensors.size(), 0), producer(m.tensors.size(), -1);
  for (size_t i = 0; i < m.ops.size(); i++) {
    for (int32_t t : m.ops[i].inputs) readers[t]++;
    for (int32_t t : m.ops[i].outputs) producer[t] = (int32_t)i;
  }
  for (size_t r = 0; r < m.ops.size(); r++) {
    const OpDesc& op = m.ops[r];
    if (op.opcode != kOpRequantize || op.inputs.empty() || op.outputs.size() != 1) continue;
    const int32_t t1 = op.inputs[0], t2 = op.outputs[0];
    const TensorDesc &d1 = m.tensors[t1], &d2 = m.tensors[t2];
    if (d1.is_float || d2.is_float || d1.spatial_mask || d2.spatial_mask || readers[t1] != 1 ||
        producer[t1] < 0 || !ops_[r]->CodeTable()) {
      continue;
    }
    if (std::find(m.outputs.begin(), m.outputs.end(), t1) != m.outputs.end()) continue;
    const int32_t p = producer[t1];
    if (m.ops[p].opcode != kOpConv2D || m.ops[p].outputs.size() != 1) continue;
    if (!ops_[p]->FuseOutputTable(t2, ops_[r]->CodeTable())) continue;
    ops_[r]->SetFusedIntoProducer();
    tensors_[t1].fused_away = true;
    fused_producer_[t2] = p;
  }
}

void Interpreter::LinkPackedActivations() {
  const Model& m = *model_;
  for (size_t i = 0; i < ops_.size(); i++) {
    const unsigned format = ops_[i]->PackedOutputFormat();
    if (format == 0) continue;
    const int32_t t = m.ops[i].outputs[0];
    if (std::find(m.outputs.begin(), m.outputs.end(), t) != m.outputs.end()) continue;
    std::vector<size_t> consumers;
    bool all = true;
    for (size_t j = 0; j < ops_.size() && all; j++) {
      const auto& in = m.ops[j].inputs;
      for (size_t k = 0; k < in.size() && all; k++) {
        if (in[k] != t) continue;
        all = k == 0 && ops_[j]->PackedInputFormat() == format;
        if (all && (consumers.empty() || consumers.back() != j)) consumers.push_back(j);
      }
    }
    if (!all || consumers.empty()) continue;
    ops_[i]->UsePackedOutput();
    packed_producers_.push_back(i);
    for (size_t j : consumers) ops_[j]->UsePackedInput();
  }
}

// One arena for every computed tensor, offsets from lifetimes, greedy by size (TFLite's
// ArenaPlanner strategy): the largest tensors are placed first at the lowest offset that does not
// collide with any placed tensor whose lifetime overlaps.
Status Interpreter::PlanMemory() {
  const Model& m = *model_;
  const int32_t nops = (int32_t)m.ops.size();
  std::vector<int32_t> planned;
  for (size_t i = 0; i < tensors_.size(); i++) {
    TensorState& t = tensors_[i];
    if (m.tensors[i].is_constant()) continue;
    t.first_op = nops + 1;
    t.last_op = -2;
  }
  for (int32_t t : m.inputs) {
    tensors_[t].first_op = -1;
    tensors_[t].last_op = std::max(tensors_[t].last_op, -1);
  }
  for (int32_t i = 0; i < nops; i++) {
    for (int32_t t : m.ops[i].inputs) {
      if (!m.tensors[t].is_constant()) tensors_[t].last_op = std::max(tensors_[t].last_op, i);
    }
    for (int32_t t : m.ops[i].outputs) {
      tensors_[t].first_op = std::min(tensors_[t].first_op, i);
      tensors_[t].last_op = std::max(tensors_[t].last_op, i);
    }
  }
  for (int32_t t : m.outputs) tensors_[t].last_op = nops;
  // A fused REQUANTIZE's output is written by the convolution before it.
  for (const auto& kv : fused_producer_) {
    tensors_[kv.first].first_op = std::min(tensors_[kv.first].first_op, kv.second);
  }
  for (size_t i = 0; i < tensors_.size(); i++) {
    if (!m.tensors[i].is_constant() && !tensors_[i].fused_away &&
        tensors_[i].first_op <= tensors_[i].last_op) {
      planned.push_back((int32_t)i);
    }
  }
  // Preserved tensors live from before the first op to after the last: nothing shares memory.
  if (options_.preserve_all) {
    for (int32_t t : planned) {
      tensors_[t].first_op = -1;
      tensors_[t].last_op = nops;
    }
  }
  std::stable_sort(planned.begin(), planned.end(),
                   [&](int32_t a, int32_t b) { return tensors_[a].bytes > tensors_[b].bytes; });
  std::vector<size_t> offset(tensors_.size(), 0);
  std::vector<int32_t> placed;
  size_t arena = 0;
  for (int32_t t : planned) {
    const TensorState& ts = tensors_[t];
    const size_t size = AlignUp(std::max<size_t>(ts.bytes, 1));
    std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of live neighbours
    for (int32_t p : placed) {
      const TensorState& ps = tensors_[p];
      if (ps.first_op <= ts.last_op && ts.first_op <= ps.last_op) {
        busy.emplace_back(offset[p], offset[p] + AlignUp(std::max<size_t>(ps.bytes, 1)));
      }
    }
    std::sort(busy.begin(), busy.end());
    size_t at = 0;
    for (const auto& b : busy) {
      if (at + size <= b.first) break;
      at = std::max(at, b.second);
    }
    offset[t] = at;
    arena = std::max(arena, at + size);
    if (arena > kMaxArenaBytes) {
      return Status(CRUMB_ERROR_OUT_OF_MEMORY, "The activations need more memory than supported.");
    }
    placed.push_back(t);
  }
  size_t scratch = 0;
  for (const auto& op : ops_) scratch = std::max(scratch, op->scratch_bytes());
  size_t persistent = 0;  // from an earlier allocate; Allocate re-checks after Setup
  for (const auto& op : ops_) persistent += op->persistent_bytes();
  CRUMB_RETURN_IF_ERROR(CheckMemoryLimit(
      std::max<size_t>(arena, kAlign),
      AlignUp(std::max<size_t>(scratch, kAlign)) * workers_.max_tasks(), persistent));
  if (arena > arena_size_ || !arena_) {
    free(arena_);
    arena_ = nullptr;
    arena_size_ = 0;
    // kAlign bytes of tail: XNNPACK's fp32 kernels (float layers) may read up to 16 bytes past
    // the end of an input (XNN_EXTRA_BYTES), which may be the arena's last tensor.
    if (posix_memalign(&arena_, kAlign, std::max<size_t>(arena, kAlign) + kAlign) != 0) {
      arena_ = nullptr;
      return Status(CRUMB_ERROR_OUT_OF_MEMORY,
                    StrFormat("Out of memory allocating the %zu-byte activation arena.", arena));
    }
    arena_size_ = std::max<size_t>(arena, kAlign);
  }
  // One scratch slot per task an op may run at once.
  scratch_slot_ = AlignUp(std::max<size_t>(scratch, kAlign));
  scratch = scratch_slot_ * workers_.max_tasks();
  if (scratch > scratch_size_ || !scratch_) {
    free(scratch_);
    scratch_ = nullptr;
    scratch_size_ = 0;
    if (posix_memalign(&scratch_, kAlign, scratch) != 0) {
      scratch_ = nullptr;
      return Status(CRUMB_ERROR_OUT_OF_MEMORY,
                    StrFormat("Out of memory allocating %zu bytes of scratch.", scratch));
    }
    scratch_size_ = scratch;
  }
  for (size_t i = 0; i < tensors_.size(); i++) {
    if (m.tensors[i].is_constant()) continue;
    tensors_[i].data = static_cast<uint8_t*>(arena_) + offset[i];
  }
  return Status::Ok();
}

size_t Interpreter::arena_bytes() const {
  size_t n = arena_size_ + scratch_size_;
  for (const auto& op : ops_) n += op->persistent_bytes();
  return n;
}

// Runs op i; where its output carries a spatial mask the op does not write itself, puts the zero
// point into every channel of the masked pixels (schema/README.md "Spatial masks").
void Interpreter::RunOp(size_t i, const OpContext& ctx, uint8_t* scratch) {
  ops_[i]->Run(ctx, scratch);
  if (ctx.desc.outputs.size() != 1) return;
  const TensorDesc& d = ctx.OutDesc();
  if (!d.spatial_mask || ops_[i]->WritesSpatialMask()) return;
  TensorState& t = ctx.Out();
  const size_t hw = (size_t)(t.shape[2] * t.shape[3]), c = (size_t)t.shape[1];
  const uint8_t z = (uint8_t)d.zero_points[0];
  for (int64_t n = 0; n < t.shape[0]; n++) {
    uint8_t* image = t.data + (size_t)n * hw * c;
    for (size_t p = 0; p < hw; p++) {
      if (!d.spatial_mask[p]) memset(image + p * c, z, c);
    }
  }
}

Status Interpreter::Invoke() {
  if (!allocated_) {
    return Status(CRUMB_ERROR_NOT_READY,
                  "crumb_interpreter_invoke was called before crumb_interpreter_allocate (or "
                  "after a resize without a new allocate).");
  }
  const Model& m = *model_;
  // The caller runs tasks too: on the mask's CPUs for the invoke.
  ScopedAffinity pin(options_.cpu_mask);
  uint8_t* scratch = static_cast<uint8_t*>(scratch_);
  for (size_t i = 0; i < ops_.size(); i++) {
    OpContext ctx{m, m.ops[i], tensors_, kernels_, &workers_, scratch_slot_};
    if (options_.profiling) {
      const auto t0 = std::chrono::steady_clock::now();
      RunOp(i, ctx, scratch);
      const auto t1 = std::chrono::steady_clock::now();
      op_us_[i] += std::chrono::duration<double, std::micro>(t1 - t0).count();
    } else {
      RunOp(i, ctx, scratch);
    }
  }
  workers_.Sleep();
  if (options_.profiling) invokes_++;
  return Status::Ok();
}

// The cap of crumb_options_set_memory_limit on what allocate holds.
Status Interpreter::CheckMemoryLimit(uint64_t arena, uint64_t scratch, uint64_t persistent) const {
  const uint64_t limit = options_.memory_limit, needed = arena + scratch + persistent;
  if (limit == 0 || needed <= limit) return Status::Ok();
  return Status(
      CRUMB_ERROR_OUT_OF_MEMORY,
      StrFormat("The interpreter's memory limit is exceeded: needed %llu bytes, limit "
                "%llu (activation arena %llu, scratch %llu, prepared weights %llu "
                "bytes). Raise it with crumb_options_set_memory_limit or use smaller "
                "inputs.",
                (unsigned long long)needed, (unsigned long long)limit, (unsigned long long)arena,
                (unsigned long long)scratch, (unsigned long long)persistent));
}

Status Interpreter::Fail(Status s) {
  last_error_ = s.message();
  if (options_.error_fn) options_.error_fn(options_.error_user_data, last_error_.c_str());
  return s;
}

}  // namespace crumb::rt
