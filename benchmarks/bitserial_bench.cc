// Layer benchmarks of the bitserial family (kernels/bitserial/bitserial.inc) at the ResNet-18
// shapes of ../shared/ANCHORS.md, beside XNNPACK's qs8 and f32 convolutions of the same shapes in
// the same process. Counter GOPS = 2 * MACs per second. Typical run (medians of 5, one thread):
//   bench_bitserial --benchmark_filter='/threads:1$' --benchmark_repetitions=5
//                   --benchmark_enable_random_interleaving=true
//                   --benchmark_report_aggregates_only=true
//
// Benchmarks are named as bench_lut's, <shape>/<implementation>/threads:<n>, with the same shape
// names, e.g.
//   conv3x3_s1_56x56_64to64/bs_w1a1_avx512vpopcnt/threads:1   bipolar weights, A1
//   conv3x3_s1_56x56_64to64/bs_w2a2_avx2/threads:2/real_time  signed 2-bit weights, A2
//   conv3x3_s1_56x56_64to64/xnn_qs8 | xnn_f32
// A bitserial layer is one kernel call over the whole output per thread (what the runtime does per
// layer and thread): IGEMM through an indirection buffer over CHANNELS_PLANES64 activations,
// writing the next layer's planes (as many as the layer's activation bits). Weights: bipolar for
// W1, signed two's complement for W2 (the same instructions for every encoding). threads:1 times
// the calling thread's CPU time; threads:2 splits the layer over a pthreadpool (output rows in
// multiples of 6, or 64-channel blocks when there are fewer than 6 rows per thread) and times wall
// time (real_time in the name). CRUMB_BENCH_YIELD_WORKERS=1 makes the threads:2 benchmarks pass
// PTHREADPOOL_FLAG_YIELD_WORKERS (XNNPACK: XNN_FLAG_YIELD_WORKERS), as in bench_lut.
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"
#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace {

struct Shape {
  const char* name;  // bench_dot's and bench_lut's
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

enum class Isa { SCALAR, AVX2, AVX512VPOPCNT, NEON };
bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::SCALAR:
      return true;
#if defined(__x86_64__) || defined(__i386__)
    case Isa::AVX2:
      return __builtin_cpu_supports("avx2");
    case Isa::AVX512VPOPCNT:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
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

// Tiles of an M x N layer for `threads`: rows in multiples of 6 (the widest register tile), or
// 64-channel blocks (the weight block, and whole words of packed outputs) when there are fewer
// than 6 rows per thread.
struct Tiling {
  size_t tile_m, tile_n;
  Tiling(size_t m, size_t n, size_t threads) {
    const bool split_n = m < 6 * threads;
    tile_m = split_n ? m : ((m + threads - 1) / threads + 5) / 6 * 6;
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

// ------------------------------------------------------------------------------- bitserial layers
void BsLayer(benchmark::State& state, crumb_bsigemm_ukernel_fn* igemm, Isa isa, unsigned a_bits,
             unsigned w_bits, Shape s) {
  if (!IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the kernel's instruction set");
    return;
  }
  std::mt19937 rng(1);
  const int32_t amax = (1 << a_bits) - 1, za = a_bits == 1 ? 0 : 1;
  const size_t row_bytes = crumb_bitserial_act_row_bytes((size_t)s.cin, a_bits);
  std::vector<uint8_t> codes((size_t)s.h * s.w * s.cin);
  for (auto& c : codes) c = (uint8_t)(rng() % (amax + 1));
  std::vector<uint8_t> x((size_t)s.h * s.w * row_bytes);
  crumb_bitserial_pack_act(codes.data(), (size_t)s.h * s.w, (size_t)s.cin, (size_t)s.cin, a_bits,
                           x.data(), row_bytes);
  std::vector<uint8_t> zcodes((size_t)s.cin, (uint8_t)za), zero(row_bytes);
  crumb_bitserial_pack_act(zcodes.data(), 1, (size_t)s.cin, (size_t)s.cin, a_bits, zero.data(),
                           row_bytes);
  const size_t ks = (size_t)s.k * s.k, kk = ks * s.cin;
  const uint32_t enc = w_bits == 1 ? CRUMB_ENC_BIPOLAR : CRUMB_ENC_SIGNED;
  std::vector<int32_t> wcodes((size_t)s.cout * kk);
  for (auto& v : wcodes) v = w_bits == 1 ? (int32_t)(rng() % 2) : (int32_t)(rng() % 4) - 2;
  std::vector<uint8_t> rows(crumb_rows_lsb_size((size_t)s.cout, kk, w_bits));
  crumb_pack_rows_lsb(wcodes.data(), (size_t)s.cout, kk, w_bits, rows.data());
  std::vector<int32_t> zw((size_t)s.cout, 0);
  std::vector<uint8_t> packed_bytes(
      crumb_bitserial_packed_size((size_t)s.cout, ks, (size_t)s.cin, w_bits) + 64);
  uint8_t* packed = packed_bytes.data() + (64 - (uintptr_t)packed_bytes.data() % 64) % 64;
  crumb_bitserial_pack(rows.data(), w_bits, enc, zw.data(), (size_t)s.cout, ks, (size_t)s.cin,
                       packed);
  std::vector<float> mul((size_t)s.cout, 0.02f), add((size_t)s.cout, 0.5f);
  crumb_bitserial_params p{};
  p.a_zero_point = za;
  p.out_bits = a_bits;  // the next bitserial layer's planes
  p.out_plane_bytes = crumb_bitserial_plane_bytes((size_t)s.cout);
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = amax;
  const std::vector<const void*> ind = Indirection(s, x.data(), row_bytes, zero.data());
  const size_t pixels = (size_t)s.OutH() * s.OutW();
  const size_t out_row = a_bits * p.out_plane_bytes;
  std::vector<uint8_t> y(pixels * out_row);
  // Output rows [m0, m0 + mr), channels [n0, n0 + nc) (n0 a multiple of 64: whole weight blocks
  // and whole output words).
  struct Task {
    crumb_bsigemm_ukernel_fn* igemm;
    size_t kc, ks, block_bytes, out_row;
    const void** ind;
    const void* zero;
    const uint8_t* packed;
    uint8_t* y;
    const crumb_bitserial_params* p;
    void Run(size_t m0, size_t mr, size_t n0, size_t nc) const {
      crumb_bitserial_params q = *p;
      q.mul += n0;
      q.add += n0;
      igemm(mr, nc, kc, ks, ind + m0 * ks, 0, zero, packed + n0 / CRUMB_BITSERIAL_NR * block_bytes,
            y + m0 * out_row + n0 / 8, out_row, &q);
    }
  } task{igemm,       (size_t)s.cin,
         ks,          crumb_bitserial_block_bytes(ks, (size_t)s.cin, w_bits),
         out_row,     const_cast<const void**>(ind.data()),
         zero.data(), packed,
         y.data(),    &p};
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
#endif

// Registers name/threads:1 (CPU time of the calling thread) and name/threads:2/real_time (wall
// time), as bench_lut does.
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

// "bs_w2a2_avx512vpopcnt" from the weight and activation bits and the kernel name's ISA suffix.
std::string BsName(unsigned w_bits, unsigned a_bits, const char* kernel) {
  const char* isa = strstr(kernel, "__");
  return "bs_w" + std::to_string(w_bits) + "a" + std::to_string(a_bits) + "_" +
         (isa ? isa + 2 : kernel);
}

void Register() {
  for (const Shape& s : kShapes) {
    const std::string shape = std::string(s.name) + "/";
#define CRUMB_BS_UKERNEL_bsgemm(name, isa, abits, wbits)
#define CRUMB_BS_UKERNEL_bsigemm(name, isa, abits, wbits) \
  Register2(shape + BsName(wbits, abits, #name), BsLayer, name, Isa::isa, abits, wbits, s);
#define CRUMB_BITSERIAL_UKERNEL(kind, name, isa, abits, wbits) \
  CRUMB_BS_UKERNEL_##kind(name, isa, abits, wbits)
#include "kernels/bitserial/bitserial.inc"
#undef CRUMB_BS_UKERNEL_bsgemm
#undef CRUMB_BS_UKERNEL_bsigemm
#ifdef CRUMB_HAVE_XNNPACK
    Register2(shape + "xnn_qs8", XnnQs8Layer, s);
    Register2(shape + "xnn_f32", XnnF32Layer, s);
#endif
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
