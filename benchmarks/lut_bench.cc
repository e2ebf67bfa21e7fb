// Layer benchmarks of the lut family (kernels/lut/lut.inc) at the ResNet-18 shapes of
// ../shared/ANCHORS.md, beside XNNPACK's qs8 and f32 convolutions of the same shapes in the same
// process, and the DeepGEMM-style product-table reference (one product per lookup). Counter GOPS =
// 2 * MACs per second. Typical run (medians of 5, one thread):
//   bench_lut --benchmark_filter='/threads:1$' --benchmark_repetitions=5
//             --benchmark_report_aggregates_only=true
//
// Benchmarks are named as bench_dot's, <shape>/<implementation>/threads:<n>, with the same shape
// names (so benchmarks/ort_layers.js runs both binaries with one filter), e.g.
//   conv3x3_s1_56x56_64to64/lut_w2a2_avx512vbmi/threads:1    signed 2-bit weights, A2
//   conv3x3_s1_56x56_64to64/lut_t2a4_avx2/threads:2/real_time ternary weights, A4
//   fc_m1_k4096_n4096/lut_w2a8_avx512vbmi/threads:1          GEMV, s8 activations
//   conv3x3_s1_56x56_64to64/prodtable_w2a2 | xnn_qs8 | xnn_f32
// A lut layer is one kernel call over the whole output per thread (what the runtime does per
// layer and thread): IGEMM through an indirection buffer over packed activations, writing the
// next layer's packed codes. threads:1 times the calling thread's CPU time (time the shared
// machine gives to other processes does not count); threads:2 splits the layer over a pthreadpool
// as bench_dot does (output rows in multiples of 4, or 64-channel blocks when there are fewer than
// 4 rows per thread; GEMV: 64-channel blocks) and times wall time (real_time in the name).
// CRUMB_BENCH_YIELD_WORKERS=1 in the environment makes the threads:2 benchmarks pass
// PTHREADPOOL_FLAG_YIELD_WORKERS (XNNPACK: XNN_FLAG_YIELD_WORKERS): the worker sleeps between
// calls instead of spin-waiting, which on a machine whose cores other processes keep busy is
// the difference between ~15 ms and ~1 ms per call (benchmarks/README.md). Default: off, as
// bench_dot.
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/lut/lut.h"
#if defined(__x86_64__) || defined(__i386__)
#include "benchmarks/lut_prodtable.h"
#endif
#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace {

struct Shape {
  const char* name;  // bench_dot's
  int h, w, cin, cout, k, stride, pad;
  int OutH() const { return (h + 2 * pad - k) / stride + 1; }
  int OutW() const { return (w + 2 * pad - k) / stride + 1; }
  double Macs() const { return (double)OutH() * OutW() * cout * cin * k * k; }
};

// ResNet-18: the 3x3 convolutions of the four stages and the three 1x1 / 2 downsamples.
const Shape kShapes[] = {
    {"conv3x3_s1_56x56_64to64", 56, 56, 64, 64, 3, 1, 1},
    {"conv3x3_s1_28x28_128to128", 28, 28, 128, 128, 3, 1, 1},
    {"conv3x3_s1_14x14_256to256", 14, 14, 256, 256, 3, 1, 1},
    {"conv3x3_s1_7x7_512to512", 7, 7, 512, 512, 3, 1, 1},
    {"conv1x1_s2_56x56_64to128", 56, 56, 64, 128, 1, 2, 0},
    {"conv1x1_s2_28x28_128to256", 28, 28, 128, 256, 1, 2, 0},
    {"conv1x1_s2_14x14_256to512", 14, 14, 256, 512, 1, 2, 0},
};

enum class Isa { SCALAR, AVX2, AVX512, AVX512VBMI, NEON };
bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::SCALAR:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::AVX2:
      return __builtin_cpu_supports("avx2");
    case Isa::AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
    case Isa::AVX512VBMI:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi");
#endif
#if defined(__aarch64__)
    case Isa::NEON:
      return true;
#endif
    default:
      return false;
  }
}

void SetGops(benchmark::State& state, double macs) {
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
};

// The pthreadpool flags of every parallelize call (see the top of the file).
uint32_t PoolFlags() {
  static const char* env = getenv("CRUMB_BENCH_YIELD_WORKERS");
  static const uint32_t flags =
      env && strcmp(env, "") != 0 && strcmp(env, "0") != 0 ? PTHREADPOOL_FLAG_YIELD_WORKERS : 0;
  return flags;
}

// Tiles of an M x N layer for `threads`, as bench_dot's: rows in multiples of the register tile's
// 4, or 64-channel blocks (the lut weight block) when there are fewer than 4 rows per thread.
struct Tiling {
  size_t tile_m, tile_n;
  Tiling(size_t m, size_t n, size_t threads) {
    const bool split_n = m < 4 * threads;
    tile_m = split_n ? m : ((m + threads - 1) / threads + 3) / 4 * 4;
    tile_n = split_n ? ((n + threads - 1) / threads + 63) / 64 * 64 : n;
  }
};

// Indirection over NHWC rows of row_bytes bytes; padding taps point at `zero`.
std::vector<const void*> Indirection(const Shape& s, const uint8_t* x, size_t row_bytes,
                                     const void* zero) {
  std::vector<const void*> ind;
  for (int oy = 0; oy < s.OutH(); oy++) {
    for (int ox = 0; ox < s.OutW(); ox++) {
      for (int ky = 0; ky < s.k; ky++) {
        for (int kx = 0; kx < s.k; kx++) {
          const int iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
          ind.push_back(iy < 0 || ix < 0 || iy >= s.h || ix >= s.w
                            ? zero
                            : (const void*)(x + ((size_t)iy * s.w + ix) * row_bytes));
        }
      }
    }
  }
  return ind;
}

// ------------------------------------------------------------------------------- lut layers
// Weights: signed 2-bit {-2, -1, 0, 1}, or ternary {-1, 0, 1} (a narrower table: longer byte
// groups, see kernels/lut/lutgemm-avx512.cc).
void LutLayer(benchmark::State& state, crumb_lutigemm_ukernel_fn* igemm, Isa isa, unsigned a_bits,
              bool ternary, Shape s) {
  if (!IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the kernel's instruction set");
    return;
  }
  std::mt19937 rng(1);
  const int32_t amax = (1 << a_bits) - 1, za = 0;
  const size_t row_bytes = crumb_lut_act_row_bytes((size_t)s.cin, a_bits);
  std::vector<uint8_t> codes((size_t)s.h * s.w * s.cin);
  for (auto& c : codes) c = (uint8_t)(rng() % (amax + 1));
  std::vector<uint8_t> x((size_t)s.h * s.w * row_bytes);
  crumb_lut_pack_act(codes.data(), (size_t)s.h * s.w, (size_t)s.cin, (size_t)s.cin, a_bits,
                     x.data(), row_bytes);
  std::vector<uint8_t> zcodes((size_t)s.cin, (uint8_t)za), zero(row_bytes);
  crumb_lut_pack_act(zcodes.data(), 1, (size_t)s.cin, (size_t)s.cin, a_bits, zero.data(),
                     row_bytes);
  const size_t ks = (size_t)s.k * s.k, kk = ks * s.cin;
  std::vector<int32_t> w((size_t)s.cout * kk);
  for (auto& v : w) v = ternary ? (int32_t)(rng() % 3) - 1 : (int32_t)(rng() % 4) - 2;
  int8_t vmap[4];
  const int32_t zw = 0;
  crumb_lut_value_map(2, ternary ? CRUMB_ENC_TERNARY : CRUMB_ENC_SIGNED, &zw, 1, vmap);
  std::vector<uint8_t> packed(crumb_lut_packed_size((size_t)s.cout, ks, (size_t)s.cin));
  crumb_lut_pack_values(w.data(), vmap, (size_t)s.cout, ks, (size_t)s.cin, packed.data());
  std::vector<uint8_t> table_bytes(crumb_lut_table_size(a_bits) + 64);
  uint8_t* table = table_bytes.data() + (64 - (uintptr_t)table_bytes.data() % 64) % 64;
  crumb_lut_init_table(vmap, a_bits, table);
  std::vector<float> mul((size_t)s.cout, 0.02f), add((size_t)s.cout, 0.5f);
  crumb_lut_params p{};
  p.table = table;
  p.a_zero_point = za;
  p.out_bits = crumb_lut_storage_bits(a_bits);  // the next lut layer's format
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = amax;
  const std::vector<const void*> ind = Indirection(s, x.data(), row_bytes, zero.data());
  const size_t pixels = (size_t)s.OutH() * s.OutW();
  const size_t out_row = ((size_t)s.cout * p.out_bits + 7) / 8;
  std::vector<uint8_t> y(pixels * out_row);
  // Output rows [m0, m0 + mr), channels [n0, n0 + nc) (n0 a multiple of 64: whole weight blocks
  // and whole output bytes).
  struct Task {
    crumb_lutigemm_ukernel_fn* igemm;
    size_t kc, ks, block_bytes, out_row;
    const void** ind;
    const void* zero;
    const uint8_t* packed;
    uint8_t* y;
    const crumb_lut_params* p;
    void Run(size_t m0, size_t mr, size_t n0, size_t nc) const {
      crumb_lut_params q = *p;
      q.mul += n0;
      q.add += n0;
      igemm(mr, nc, kc, ks, ind + m0 * ks, 0, zero, packed + n0 / CRUMB_LUT_NR * block_bytes,
            y + m0 * out_row + n0 * p->out_bits / 8, out_row, &q);
    }
  } task{igemm, (size_t)s.cin, ks, crumb_lut_block_bytes(ks, (size_t)s.cin), out_row,
         const_cast<const void**>(ind.data()), zero.data(), packed.data(), y.data(), &p};
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  const Tiling t(pixels, (size_t)s.cout, threads);
  for (auto _ : state) {
    if (!pool.pool) {
      task.Run(0, pixels, 0, (size_t)s.cout);
    } else {
      pthreadpool_parallelize_2d_tile_2d(
          pool.pool,
          [](void* ctx, size_t i, size_t j, size_t ti, size_t tj) {
            static_cast<const Task*>(ctx)->Run(i, ti, j, tj);
          },
          &task, pixels, (size_t)s.cout, t.tile_m, t.tile_n, PoolFlags());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}

// Fully-connected layer at M = 1 (GEMV): K x N, 8-bit activations (s8), signed 2-bit weights,
// s8 outputs. The weights (K N / 4 bytes) are what the kernel streams; every iteration reads
// them again (from L2 or L3 depending on the size, as a model's FC layers would be).
void LutGemvLayer(benchmark::State& state, crumb_lutgemv_ukernel_fn* gemv, Isa isa, size_t k,
                  size_t n) {
  if (!IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the kernel's instruction set");
    return;
  }
  std::mt19937 rng(5);
  std::vector<int8_t> x(k);
  for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
  std::vector<int32_t> w(n * k);
  for (auto& v : w) v = (int32_t)(rng() % 4) - 2;
  int8_t vmap[4];
  const int32_t zw = 0;
  crumb_lut_value_map(2, CRUMB_ENC_SIGNED, &zw, 1, vmap);
  std::vector<uint8_t> packed(crumb_lut_packed_size(n, 1, k));
  crumb_lut_pack_values(w.data(), vmap, n, 1, k, packed.data());
  std::vector<uint8_t> table_bytes(crumb_lut_table_size(4) + 64);
  uint8_t* table = table_bytes.data() + (64 - (uintptr_t)table_bytes.data() % 64) % 64;
  crumb_lut_init_table(vmap, 4, table);
  std::vector<float> mul(n, 0.001f), add(n, 0.5f);
  crumb_lut_params p{};
  p.table = table;
  p.a_zero_point = 3;
  p.a_type = CRUMB_ELEM_S8;
  p.out_bits = 8;
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_S8;
  p.out.qmin = -128;
  p.out.qmax = 127;
  std::vector<uint8_t> y(n);
  // Channels [n0, n0 + nc), n0 a multiple of 64; a scratch per tile.
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  struct Task {
    crumb_lutgemv_ukernel_fn* gemv;
    size_t k, tile_n, block_bytes;
    const int8_t* x;
    const uint8_t* packed;
    uint8_t* y;
    const crumb_lut_params* p;
    std::vector<std::vector<uint8_t>> scratch;
    void Run(size_t n0, size_t nc) {
      crumb_lut_params q = *p;
      q.mul += n0;
      q.add += n0;
      gemv(nc, k, x, packed + n0 / CRUMB_LUT_NR * block_bytes, y + n0, &q,
           scratch[n0 / tile_n].data());
    }
  } task{gemv, k, Tiling(1, n, threads).tile_n, crumb_lut_block_bytes(1, k), x.data(),
         packed.data(), y.data(), &p, {}};
  task.scratch.assign((n + task.tile_n - 1) / task.tile_n,
                      std::vector<uint8_t>(crumb_lut_gemv_scratch_size(k)));
  for (auto _ : state) {
    if (!pool.pool) {
      task.Run(0, n);
    } else {
      pthreadpool_parallelize_1d_tile_1d(
          pool.pool,
          [](void* ctx, size_t i, size_t ti) { static_cast<Task*>(ctx)->Run(i, ti); }, &task, n,
          task.tile_n, PoolFlags());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGops(state, (double)k * n);
}

#if defined(__x86_64__) || defined(__i386__)
// The product-table reference, W2A2, activations one code per byte.
void ProdTableLayer(benchmark::State& state, Shape s) {
  if (!IsaSupported(Isa::AVX512)) {
    state.SkipWithError("this CPU lacks AVX-512BW");
    return;
  }
  std::mt19937 rng(2);
  std::vector<uint8_t> x((size_t)s.h * s.w * s.cin), zero((size_t)s.cin, 0);
  for (auto& c : x) c = (uint8_t)(rng() % 4);
  const size_t ks = (size_t)s.k * s.k, kk = ks * s.cin;
  const size_t nblocks = ((size_t)s.cout + 63) / 64;
  std::vector<uint8_t> w(nblocks * 64 * kk + 64);
  uint8_t* wa = w.data() + (64 - (uintptr_t)w.data() % 64) % 64;
  for (size_t i = 0; i < nblocks * 64 * kk; i++) wa[i] = (uint8_t)(rng() % 4);
  const std::vector<const void*> ind = Indirection(s, x.data(), (size_t)s.cin, zero.data());
  const size_t pixels = (size_t)s.OutH() * s.OutW();
  std::vector<int32_t> y(pixels * s.cout);
  // Rows [m0, m0 + mr) (this kernel's output has no channel offset: it splits M only).
  struct Task {
    size_t cout, cin, ks;
    const uint8_t** ind;
    const uint8_t* w;
    int32_t* y;
    void Run(size_t m0, size_t mr) const {
      crumb_bench_prodtable_igemm_4x64__avx512bw(mr, cout, cin, ks, ind + m0 * ks, w,
                                                 y + m0 * cout);
    }
  } task{(size_t)s.cout, (size_t)s.cin, ks, (const uint8_t**)ind.data(), wa, y.data()};
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  const size_t tile_m = ((pixels + threads - 1) / threads + 3) / 4 * 4;
  for (auto _ : state) {
    if (!pool.pool) {
      task.Run(0, pixels);
    } else {
      pthreadpool_parallelize_1d_tile_1d(
          pool.pool,
          [](void* ctx, size_t i, size_t ti) { static_cast<const Task*>(ctx)->Run(i, ti); }, &task,
          pixels, tile_m, PoolFlags());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}
#endif

// ------------------------------------------------------------------------------- XNNPACK
#ifdef CRUMB_HAVE_XNNPACK
uint32_t XnnFlags() { return PoolFlags() ? XNN_FLAG_YIELD_WORKERS : 0; }

struct XnnOp {
  xnn_operator_t op = nullptr;
  ~XnnOp() {
    if (op) xnn_delete_operator(op);
  }
};

void XnnQs8Layer(benchmark::State& state, Shape s) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(3);
  std::vector<int8_t> x((size_t)s.h * s.w * s.cin), w((size_t)s.cout * s.k * s.k * s.cin);
  for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
  for (auto& v : w) v = (int8_t)(rng() % 256 - 128);
  std::vector<int32_t> bias((size_t)s.cout, 100);
  std::vector<int8_t> y((size_t)s.OutH() * s.OutW() * s.cout);
  XnnOp op;
  if (xnn_create_convolution2d_nhwc_qs8(s.pad, s.pad, s.pad, s.pad, s.k, s.k, s.stride, s.stride, 1,
                                        1, 1, s.cin, s.cout, s.cin, s.cout, 0, 0.5f, 0.02f,
                                        w.data(), bias.data(), 0, 8.0f, -128, 127, XnnFlags(),
                                        &op.op) != xnn_status_success ||
      xnn_setup_convolution2d_nhwc_qs8(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK qs8 convolution setup failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}

void XnnF32Layer(benchmark::State& state, Shape s) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x((size_t)s.h * s.w * s.cin), w((size_t)s.cout * s.k * s.k * s.cin);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = d(rng);
  std::vector<float> bias((size_t)s.cout, 0.1f), y((size_t)s.OutH() * s.OutW() * s.cout);
  XnnOp op;
  if (xnn_create_convolution2d_nhwc_f32(s.pad, s.pad, s.pad, s.pad, s.k, s.k, s.stride, s.stride, 1,
                                        1, 1, s.cin, s.cout, s.cin, s.cout, w.data(), bias.data(),
                                        -INFINITY, INFINITY, XnnFlags(),
                                        &op.op) != xnn_status_success ||
      xnn_setup_convolution2d_nhwc_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK f32 convolution setup failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}
void XnnQs8Fc(benchmark::State& state, size_t k, size_t n) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(6);
  std::vector<int8_t> x(k), w(n * k), y(n);
  for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
  for (auto& v : w) v = (int8_t)(rng() % 256 - 128);
  std::vector<int32_t> bias(n, 10);
  XnnOp op;
  if (xnn_create_fully_connected_nc_qs8(k, n, k, n, 3, 0.5f, 0.02f, w.data(), bias.data(), 0, 8.0f,
                                        -128, 127, XnnFlags(), &op.op) != xnn_status_success ||
      xnn_setup_fully_connected_nc_qs8(op.op, 1, x.data(), y.data(), pool.pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK qs8 fully connected setup failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::ClobberMemory();
  }
  SetGops(state, (double)k * n);
}

void XnnF32Fc(benchmark::State& state, size_t k, size_t n) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(k), w(n * k), y(n), bias(n, 0.1f);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = d(rng);
  XnnOp op;
  if (xnn_create_fully_connected_nc_f32(k, n, k, n, w.data(), bias.data(), -INFINITY, INFINITY,
                                        XnnFlags(), &op.op) != xnn_status_success ||
      xnn_setup_fully_connected_nc_f32(op.op, 1, x.data(), y.data(), pool.pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK f32 fully connected setup failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::ClobberMemory();
  }
  SetGops(state, (double)k * n);
}
#endif

// Registers name/threads:1 (CPU time of the calling thread) and name/threads:2/real_time (wall
// time), as bench_dot does.
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

// "lut_w2a4_avx512vbmi" from the weights ("w2" signed, "t2" ternary), the activation bits and the
// kernel name's ISA suffix (after "__").
std::string LutName(const char* weights, unsigned a_bits, const char* kernel) {
  const char* isa = strstr(kernel, "__");
  return std::string("lut_") + weights + "a" + std::to_string(a_bits) + "_" +
         (isa ? isa + 2 : kernel);
}

void Register() {
  for (const Shape& s : kShapes) {
    const std::string shape = std::string(s.name) + "/";
#define CRUMB_LUT_UKERNEL_lutgemv(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutgemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutigemm(name, isa, abits)                                          \
  Register2(shape + LutName("w2", abits, #name), LutLayer, name, Isa::isa, abits, false, s); \
  Register2(shape + LutName("t2", abits, #name), LutLayer, name, Isa::isa, abits, true, s);
#define CRUMB_LUT_UKERNEL(kind, name, isa, abits) CRUMB_LUT_UKERNEL_##kind(name, isa, abits)
#include "kernels/lut/lut.inc"
#undef CRUMB_LUT_UKERNEL_lutgemv
#undef CRUMB_LUT_UKERNEL_lutgemm
#undef CRUMB_LUT_UKERNEL_lutigemm
#if defined(__x86_64__) || defined(__i386__)
    Register2(shape + "prodtable_w2a2", ProdTableLayer, s);
#endif
#ifdef CRUMB_HAVE_XNNPACK
    Register2(shape + "xnn_qs8", XnnQs8Layer, s);
    Register2(shape + "xnn_f32", XnnF32Layer, s);
#endif
  }
  // Fully-connected layers at M = 1 (ANCHORS.md: K, N in {512, 1024, 4096}), as in bench_dot.
  for (size_t k : {512, 1024, 4096}) {
    for (size_t n : {512, 1024, 4096}) {
      const std::string shape = "fc_m1_k" + std::to_string(k) + "_n" + std::to_string(n) + "/";
#define CRUMB_LUT_UKERNEL_lutgemv(name, isa, abits) \
  Register2(shape + LutName("w2", abits, #name), LutGemvLayer, name, Isa::isa, k, n);
#define CRUMB_LUT_UKERNEL_lutgemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutigemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL(kind, name, isa, abits) CRUMB_LUT_UKERNEL_##kind(name, isa, abits)
#include "kernels/lut/lut.inc"
#undef CRUMB_LUT_UKERNEL_lutgemv
#undef CRUMB_LUT_UKERNEL_lutgemm
#undef CRUMB_LUT_UKERNEL_lutigemm
#ifdef CRUMB_HAVE_XNNPACK
      Register2(shape + "xnn_qs8", XnnQs8Fc, k, n);
      Register2(shape + "xnn_f32", XnnF32Fc, k, n);
#endif
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef CRUMB_HAVE_XNNPACK
  if (xnn_initialize(nullptr) != xnn_status_success) {
    fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
#endif
  Register();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
