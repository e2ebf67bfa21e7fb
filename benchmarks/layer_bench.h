// What bench_dot, bench_lut and bench_bitserial share: the layer shapes of ../shared/ANCHORS.md,
// the GOPS counter, the pthreadpool wrapper and tiling, the indirection buffer, XNNPACK's qs8 and
// f32 operators of a shape, the threads:1 / threads:2 registration and main().
//
// Benchmarks are named <shape>/<implementation>/threads:<n> with the same shape names in every
// binary (benchmarks/ort_layers.js runs them with one filter). threads:1 times the calling
// thread's CPU time (time the shared machine gives to other processes does not count); threads:2
// splits the layer over a pthreadpool and times wall time (real_time in the name).
// CRUMB_BENCH_YIELD_WORKERS=1 in the environment makes the threads:2 benchmarks of bench_lut and
// bench_bitserial pass PTHREADPOOL_FLAG_YIELD_WORKERS (XNNPACK: XNN_FLAG_YIELD_WORKERS): the
// worker sleeps between calls instead of spin-waiting (benchmarks/README.md).
#pragma once

#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>
#include <cstddef>
#include <deque>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace crumb_bench {

// A convolution (NHWC, square kernel, no dilation), or a fully-connected layer (fc: h = M rows,
// w = 1, k = 1, cin = K, cout = N).
struct LayerShape {
  const char* name;
  size_t h, w, cin, cout, k, stride, pad;
  bool fc;
  size_t OutH() const { return fc ? h : (h + 2 * pad - k) / stride + 1; }
  size_t OutW() const { return fc ? 1 : (w + 2 * pad - k) / stride + 1; }
  size_t Pixels() const { return OutH() * OutW(); }
  double Macs() const { return (double)Pixels() * (double)cout * (double)cin * (double)(k * k); }
};

// ResNet-18: the 3x3 convolutions of the four stages and the three 1x1 / 2 downsamples.
inline const std::vector<LayerShape>& ResNet18Shapes() {
  static const std::vector<LayerShape> v = {
      {"conv3x3_s1_56x56_64to64", 56, 56, 64, 64, 3, 1, 1, false},
      {"conv3x3_s1_28x28_128to128", 28, 28, 128, 128, 3, 1, 1, false},
      {"conv3x3_s1_14x14_256to256", 14, 14, 256, 256, 3, 1, 1, false},
      {"conv3x3_s1_7x7_512to512", 7, 7, 512, 512, 3, 1, 1, false},
      {"conv1x1_s2_56x56_64to128", 56, 56, 64, 128, 1, 2, 0, false},
      {"conv1x1_s2_28x28_128to256", 28, 28, 128, 256, 1, 2, 0, false},
      {"conv1x1_s2_14x14_256to512", 14, 14, 256, 512, 1, 2, 0, false},
  };
  return v;
}

// Fully-connected layers fc_m<M>_k<K>_n<N> (ANCHORS.md: K, N in {512, 1024, 4096}), M outermost.
inline std::vector<LayerShape> FcShapes(std::initializer_list<size_t> ms) {
  static std::deque<std::string> names;  // keeps the names alive (a deque does not move them)
  std::vector<LayerShape> v;
  for (size_t m : ms) {
    for (size_t k : {512, 1024, 4096}) {
      for (size_t n : {512, 1024, 4096}) {
        names.push_back("fc_m" + std::to_string(m) + "_k" + std::to_string(k) + "_n" +
                        std::to_string(n));
        v.push_back({names.back().c_str(), m, 1, k, n, 1, 1, 0, true});
      }
    }
  }
  return v;
}

// Counter GOPS: 2 * MACs per second / 1e9.
inline void SetGops(benchmark::State& state, double macs) {
  state.counters["GOPS"] = benchmark::Counter(2.0 * macs * (double)state.iterations() * 1e-9,
                                              benchmark::Counter::kIsRate);
}

// pthreadpool for threads > 1 (NULL: the calling thread).
struct Pool {
  pthreadpool_t pool = nullptr;
  explicit Pool(size_t threads) {
    if (threads > 1) pool = pthreadpool_create(threads);
  }
  ~Pool() {
    if (pool) pthreadpool_destroy(pool);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
};

// The pthreadpool flags of bench_lut's and bench_bitserial's parallelize calls (see the top).
inline uint32_t PoolFlags() {
  static const char* env = getenv("CRUMB_BENCH_YIELD_WORKERS");
  static const uint32_t flags =
      env && strcmp(env, "") != 0 && strcmp(env, "0") != 0 ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0;
  return flags;
}

// Tiles of an M x N layer for `threads`: rows in multiples of `mr` (the register tile), or
// 64-channel blocks (the weight block) when there are fewer than mr rows per thread.
struct Tiling {
  size_t tile_m, tile_n;
  Tiling(size_t m, size_t n, size_t threads, size_t mr) {
    const bool split_n = m < mr * threads;
    tile_m = split_n ? m : ((m + threads - 1) / threads + mr - 1) / mr * mr;
    tile_n = split_n ? ((n + threads - 1) / threads + 63) / 64 * 64 : n;
  }
};

// One call of task.Run(m0, mr, n0, nc) over the whole M x N layer on the calling thread (no
// pool), or one per tile of `t` on the pool.
template <typename Task>
void RunTiled(const Pool& pool, const Task& task, size_t m, size_t n, const Tiling& t) {
  if (!pool.pool) {
    task.Run(0, m, 0, n);
    return;
  }
  pthreadpool_parallelize_2d_tile_2d(
      pool.pool,
      [](void* ctx, size_t i, size_t j, size_t ti, size_t tj) {
        static_cast<const Task*>(ctx)->Run(i, ti, j, tj);
      },
      const_cast<Task*>(&task), m, n, t.tile_m, t.tile_n, PoolFlags());
}

// The shape's input as random codes in [0, amax] packed by a family's
// pack_act(codes, pixels, channels, stride, bits, out, row_bytes) into rows of row_bytes, and
// the zero row (every channel at za) the padding taps read.
struct PackedInput {
  std::vector<uint8_t> x, zero;
};
template <typename PackAct>
PackedInput PackInput(const LayerShape& s, PackAct* pack_act, unsigned a_bits, int32_t amax,
                      int32_t za, size_t row_bytes, std::mt19937& rng) {
  std::vector<uint8_t> codes(s.h * s.w * s.cin);
  for (auto& c : codes) c = (uint8_t)(rng() % (amax + 1));
  PackedInput in;
  in.x.resize(s.h * s.w * row_bytes);
  pack_act(codes.data(), s.h * s.w, s.cin, s.cin, a_bits, in.x.data(), row_bytes);
  const std::vector<uint8_t> zcodes(s.cin, (uint8_t)za);
  in.zero.resize(row_bytes);
  pack_act(zcodes.data(), 1, s.cin, s.cin, a_bits, in.zero.data(), row_bytes);
  return in;
}

// Times task over an M x N layer on state.range(0) threads (tiles: rows in multiples of mr) and
// sets GOPS; y is the output the kernels write.
template <typename Task>
void TimeTiled(benchmark::State& state, const Task& task, size_t m, size_t n, size_t mr,
               const void* y, double macs) {
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  const Tiling t(m, n, threads, mr);
  for (auto _ : state) {
    RunTiled(pool, task, m, n, t);
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  SetGops(state, macs);
}

// An IGEMM layer of a family whose kernels take per-channel mul / add: output rows [m0, m0 + mr),
// channels [n0, n0 + nc) per call (n0 a multiple of 64: whole weight blocks of nr channels and
// whole output bytes / words). A channel moves the output row by c_bits bits (packed planes: 1).
template <typename Fn, typename Params>
struct IgemmTask {
  Fn* igemm;
  size_t kc, ks, nr, block_bytes, out_row, c_bits;
  const void** ind;
  const void* zero;
  const uint8_t* packed;
  uint8_t* y;
  const Params* p;
  void Run(size_t m0, size_t mr, size_t n0, size_t nc) const {
    Params q = *p;
    q.mul += n0;
    q.add += n0;
    igemm(mr, nc, kc, ks, ind + m0 * ks, 0, zero, packed + n0 / nr * block_bytes,
          y + m0 * out_row + n0 * c_bits / 8, out_row, &q);
  }
};

// Indirection over NHWC rows of row_bytes bytes; padding taps point at `zero`.
inline std::vector<const void*> Indirection(const LayerShape& s, const uint8_t* x, size_t row_bytes,
                                            const void* zero) {
  std::vector<const void*> ind;
  for (size_t oy = 0; oy < s.OutH(); oy++) {
    for (size_t ox = 0; ox < s.OutW(); ox++) {
      for (size_t ky = 0; ky < s.k; ky++) {
        for (size_t kx = 0; kx < s.k; kx++) {
          const ptrdiff_t iy = (ptrdiff_t)(oy * s.stride + ky) - (ptrdiff_t)s.pad;
          const ptrdiff_t ix = (ptrdiff_t)(ox * s.stride + kx) - (ptrdiff_t)s.pad;
          ind.push_back(iy < 0 || ix < 0 || iy >= (ptrdiff_t)s.h || ix >= (ptrdiff_t)s.w
                            ? zero
                            : (const void*)(x + ((size_t)iy * s.w + (size_t)ix) * row_bytes));
        }
      }
    }
  }
  return ind;
}

// The isa column of the families' .inc files, and whether this CPU runs a kernel of it.
enum class Isa { SCALAR, AVX2, AVX512, AVX512VBMI, AVX512VPOPCNT, AVX512VNNI, NEON };
inline bool IsaSupported(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  if (isa == Isa::AVX2) return __builtin_cpu_supports("avx2");
  if (isa == Isa::AVX512) return avx512;
  if (isa == Isa::AVX512VBMI) return avx512 && __builtin_cpu_supports("avx512vbmi");
  if (isa == Isa::AVX512VPOPCNT) return avx512 && __builtin_cpu_supports("avx512vpopcntdq");
  if (isa == Isa::AVX512VNNI) return avx512 && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
  if (isa == Isa::NEON) return true;
#endif
  return isa == Isa::SCALAR;
}

// Whether this CPU runs the benchmark's kernel; if not, the benchmark is skipped with an error.
inline bool IsaOrSkip(benchmark::State& state, Isa isa) {
  if (IsaSupported(isa)) return true;
  state.SkipWithError("this CPU lacks the kernel's instruction set");
  return false;
}

// "w2a4_avx512vbmi"-style suffix: the kernel name's ISA suffix (after "__"), or the whole name.
inline const char* KernelIsa(const char* kernel) {
  const char* isa = strstr(kernel, "__");
  return isa ? isa + 2 : kernel;
}

// ------------------------------------------------------------------------------------ XNNPACK
#ifdef CRUMB_HAVE_XNNPACK
struct XnnOp {
  xnn_operator_t op = nullptr;
  ~XnnOp() {
    if (op) xnn_delete_operator(op);
  }
};

// How a binary drives XNNPACK: XNN_FLAG_YIELD_WORKERS with PoolFlags() (bench_lut,
// bench_bitserial) or never (bench_dot).
struct XnnOptions {
  bool yield_flag = true;
  uint32_t Flags() const { return yield_flag && PoolFlags() ? XNN_FLAG_YIELD_WORKERS : 0; }
};

// Runs a created operator (nullptr: setup failed) and sets GOPS.
inline void RunXnn(benchmark::State& state, const XnnOp& op, xnn_status st, const Pool& pool,
                   const void* y, const LayerShape& s, const char* error) {
  if (st != xnn_status_success) {
    state.SkipWithError(error);
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}

// XNNPACK's qs8 convolution or fully-connected operator of the shape.
inline void XnnQs8Bench(benchmark::State& state, LayerShape s, XnnOptions o) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(3);
  std::vector<int8_t> x(s.h * s.w * s.cin + 64), w(s.cout * s.k * s.k * s.cin);
  for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
  for (auto& v : w) v = (int8_t)(rng() % 256 - 128);
  std::vector<int32_t> bias(s.cout, 0);
  std::vector<int8_t> y(s.Pixels() * s.cout);
  const float in_scale = 0.5f, w_scale = 0.01f,
              out_scale = 0.5f * 0.01f * 64.0f * (float)(s.cin * s.k * s.k) / 16.0f;
  XnnOp op;
  xnn_status st;
  if (s.fc) {
    st = xnn_create_fully_connected_nc_qs8(s.cin, s.cout, s.cin, s.cout, 0, in_scale, w_scale,
                                           w.data(), bias.data(), 0, out_scale, -128, 127,
                                           o.Flags(), &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_fully_connected_nc_qs8(op.op, s.h, x.data(), y.data(), pool.pool);
  } else {
    st = xnn_create_convolution2d_nhwc_qs8((uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad,
                                           (uint32_t)s.pad, (uint32_t)s.k, (uint32_t)s.k,
                                           (uint32_t)s.stride, (uint32_t)s.stride, 1, 1, 1, s.cin,
                                           s.cout, s.cin, s.cout, 0, in_scale, w_scale, w.data(),
                                           bias.data(), 0, out_scale, -128, 127, o.Flags(), &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_qs8(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  }
  RunXnn(state, op, st, pool, y.data(), s, "XNNPACK qs8 operator setup failed");
}

// XNNPACK's f32 convolution or fully-connected operator of the shape.
inline void XnnF32Bench(benchmark::State& state, LayerShape s, XnnOptions o) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(s.h * s.w * s.cin + 16), w(s.cout * s.k * s.k * s.cin);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = d(rng);
  std::vector<float> bias(s.cout, 0.1f), y(s.Pixels() * s.cout);
  XnnOp op;
  xnn_status st;
  if (s.fc) {
    st = xnn_create_fully_connected_nc_f32(s.cin, s.cout, s.cin, s.cout, w.data(), bias.data(),
                                           -INFINITY, INFINITY, o.Flags(), &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_fully_connected_nc_f32(op.op, s.h, x.data(), y.data(), pool.pool);
  } else {
    st = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.k,
        (uint32_t)s.k, (uint32_t)s.stride, (uint32_t)s.stride, 1, 1, 1, s.cin, s.cout, s.cin,
        s.cout, w.data(), bias.data(), -INFINITY, INFINITY, o.Flags(), &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  }
  RunXnn(state, op, st, pool, y.data(), s, "XNNPACK f32 operator setup failed");
}
#endif

// Registers name/threads:1 (CPU time of the calling thread) and name/threads:2/real_time (wall
// time).
template <typename... Args>
void Register2(const std::string& name, Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), args...)
      ->ArgName("threads")
      ->Arg(1)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(name.c_str(), args...)
      ->ArgName("threads")
      ->Arg(2)
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

// <shape>/xnn_qs8 and <shape>/xnn_f32 (nothing without XNNPACK).
inline void RegisterXnn(const LayerShape& s, bool yield_flag = true) {
#ifdef CRUMB_HAVE_XNNPACK
  XnnOptions o;
  o.yield_flag = yield_flag;
  Register2(std::string(s.name) + "/xnn_qs8", XnnQs8Bench, s, o);
  Register2(std::string(s.name) + "/xnn_f32", XnnF32Bench, s, o);
#else
  (void)s, (void)yield_flag;
#endif
}

// main() of a layer benchmark: XNNPACK initialised, register(), Google Benchmark's flags.
inline int LayerBenchMain(int argc, char** argv, void (*register_all)()) {
#ifdef CRUMB_HAVE_XNNPACK
  if (xnn_initialize(nullptr) != xnn_status_success) {
    fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
#endif
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace crumb_bench
