// The sparse family at MobileNetV2's 1x1 layers: crumb_q8_qs8_spmm kernels (C4HW u8 activations
// in and out, W8 and W4 weights) at block sparsity 0 / 70 / 90 % beside crumb's dense dot GEMM
// (W8A8 and W4A8, NHWC) and XNNPACK's qs8 / f32 dense 1x1 convolutions of the same shapes, in
// the same process. The layer's pixels are the M of a GEMM: 1x1 convolutions need no indirection.
//
// Benchmarks are named <shape>/<implementation>/threads:1, e.g.
//   mnv2_1x1_56x56_24to144/crumb_sparse_w8_s90_avx512/threads:1
//   mnv2_1x1_56x56_24to144/crumb_dot_w8a8_avx512/threads:1
//   mnv2_1x1_56x56_24to144/xnn_qs8/threads:1
// GOPS counts the dense layer's MACs (2 * P * K * N per second / 1e9) for every implementation,
// so sparse speed-ups read directly as GOPS ratios. Time base: the process's CPU time. Medians of
// interleaved repetitions: --benchmark_repetitions=N --benchmark_enable_random_interleaving=true
// (benchmarks/sparse_results.md has the command).
//
// fp32 mode (benchmarks named <shape>/f32_*): crumb's SPARSE_F32 kernels (CHW) against XNNPACK's
// sparse fp32 path (NCHW 1x1 convolution = its SpMM) and its dense NHWC 1x1 convolution, same
// weights (1x1 sparsity 70 / 90 %), same bias, ReLU6 clamp, e.g.
//   mnv2_1x1_56x56_24to144/f32_crumb_sparse_s90_avx512/threads:1
//   mnv2_1x1_56x56_24to144/f32_xnn_sparse_s90/threads:1
//   mnv2_1x1_56x56_24to144/f32_xnn_dense_s90/threads:1
#include <benchmark/benchmark.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/dot/dot.h"
#include "kernels/sparse/sparse.h"

namespace {

using namespace crumb_bench;

std::vector<LayerShape> Shapes() {
  return {
      {"mnv2_1x1_56x56_24to144", 56, 56, 24, 144, 1, 1, 0, false},
      {"mnv2_1x1_56x56_144to24", 56, 56, 144, 24, 1, 1, 0, false},
      {"mnv2_1x1_7x7_960to160", 7, 7, 960, 160, 1, 1, 0, false},
      {"mnv2_1x1_7x7_320to1280", 7, 7, 320, 1280, 1, 1, 0, false},
      {"1x1_14x14_256to256", 14, 14, 256, 256, 1, 1, 0, false},
  };
}

// The fp32 comparison's layers (issue 6's target shapes).
std::vector<LayerShape> F32Shapes() {
  return {
      {"mnv2_1x1_56x56_24to144", 56, 56, 24, 144, 1, 1, 0, false},
      {"mnv2_1x1_56x56_144to24", 56, 56, 144, 24, 1, 1, 0, false},
      {"1x1_14x14_256to256", 14, 14, 256, 256, 1, 1, 0, false},
  };
}

bool CpuHas(const char* isa) {
  const std::string s = isa;
  if (s == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  if (s == "AVX2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (s == "AVX512F") return __builtin_cpu_supports("avx512f");
  if (s == "AVX512VNNI") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512vbmi");
  }
#endif
#if defined(__aarch64__)
  if (s == "NEON") return true;
  if (s == "NEONDOT") return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
  return false;
}

const char* IsaName(const char* isa) {
  return strcmp(isa, "NEONDOT") == 0      ? "neondot"
         : strcmp(isa, "NEON") == 0       ? "neon"
         : strcmp(isa, "AVX512VNNI") == 0 ? "avx512"
         : strcmp(isa, "AVX512F") == 0    ? "avx512"
         : strcmp(isa, "AVX2") == 0       ? "avx2"
                                          : "scalar";
}

// Weight values of a layer: signed `bits`-bit codes, zero point 0, a fraction `sparsity` of the
// 1x4 blocks zero (the others random, never all zero).
std::vector<int32_t> SparseValues(const LayerShape& s, unsigned bits, double sparsity,
                                  std::mt19937& rng) {
  std::vector<int32_t> v(s.cout * s.cin, 0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int32_t lo = bits == 8 ? -127 : -(1 << (bits - 1)), span = bits == 8 ? 255 : 1 << bits;
  for (size_t o = 0; o < s.cout; o++) {
    for (size_t g = 0; g < crumb_sparse_groups(s.cin); g++) {
      if (u(rng) < sparsity) continue;
      for (size_t c = 4 * g; c < 4 * g + 4 && c < s.cin; c++) {
        int32_t x = 0;
        while (x == 0) x = lo + (int32_t)(rng() % span);
        v[o * s.cin + c] = x;
      }
    }
  }
  return v;
}

void SparseBench(benchmark::State& state, LayerShape s, unsigned bits, double sparsity,
                 crumb_spmm_ukernel_fn* fn, bool supported) {
  if (!supported) {
    state.SkipWithError("CPU lacks the ISA");
    return;
  }
  std::mt19937 rng(1);
  const size_t m = s.Pixels(), gin = crumb_sparse_groups(s.cin), gout = crumb_sparse_groups(s.cout);
  std::vector<uint8_t> a(gin * 4 * m), y(gout * 4 * m);
  for (auto& x : a) x = (uint8_t)rng();
  const std::vector<int32_t> v = SparseValues(s, bits, sparsity, rng);
  std::vector<uint8_t> packed(
      crumb_sparse_packed_size(s.cout, crumb_sparse_count_blocks(v.data(), s.cout, s.cin)));
  if (crumb_sparse_pack(v.data(), s.cout, s.cin, packed.data()) != 0) {
    state.SkipWithError("pack failed");
    return;
  }
  std::vector<float> mul(s.cout, 1.0f / (64.0f * (float)s.cin)), add(s.cout, 0.5f);
  crumb_spmm_params p{};
  p.a_type = CRUMB_ELEM_U8;
  p.a_zero_point = 128;
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = 255;
  for (auto _ : state) {
    fn(m, 0, s.cout, a.data(), 4 * m, packed.data(), y.data(), 4, 4 * m, &p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const auto* h = (const crumb_sparse_header*)packed.data();
  state.counters["density"] = (double)h->blocks / (double)(s.cout * gin);
  SetGops(state, s.Macs());
}

// fp32 1x1 weights [cout][cin] with a fraction `sparsity` of the entries zero (1x1 blocks, as
// XNNPACK's sparse path packs them), the others uniform in +-1; the same for every
// implementation of a (shape, sparsity).
std::vector<float> F32SparseWeights(const LayerShape& s, double sparsity) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_real_distribution<float> v(0.05f, 1.0f);
  std::vector<float> w(s.cout * s.cin, 0.0f);
  for (auto& x : w) {
    if (u(rng) >= sparsity) x = (rng() & 1) ? v(rng) : -v(rng);
  }
  return w;
}

std::vector<float> F32Input(const LayerShape& s, size_t extra) {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(s.Pixels() * s.cin + extra);
  for (auto& e : x) e = d(rng);
  return x;
}

// ReLU6-clamped outputs for every fp32 implementation (XNNPACK's spmm clamps anyway).
constexpr float kF32Min = 0.0f, kF32Max = 6.0f;

// crumb's SPARSE_F32 kernel over the whole layer: CHW in / out, one call.
void F32SparseBench(benchmark::State& state, LayerShape s, double sparsity,
                    crumb_spmm_f32_ukernel_fn* fn, bool supported) {
  if (!supported) {
    state.SkipWithError("CPU lacks the ISA");
    return;
  }
  const size_t m = s.Pixels();
  const std::vector<float> w = F32SparseWeights(s, sparsity), x = F32Input(s, 0);
  std::vector<uint8_t> packed(
      crumb_sparse_f32_packed_size(s.cout, crumb_sparse_f32_count(w.data(), s.cout, s.cin)));
  crumb_sparse_f32_pack(w.data(), s.cout, s.cin, packed.data());
  std::vector<float> bias(s.cout, 0.1f), y(m * s.cout);
  const crumb_spmm_f32_params p = {kF32Min, kF32Max};
  for (auto _ : state) {
    fn(m, 0, s.cout, x.data(), 4 * m, packed.data(), bias.data(), y.data(), 4 * m, &p);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const auto* h = (const crumb_sparse_header*)packed.data();
  state.counters["density"] = (double)h->blocks / (double)(s.cout * s.cin);
  SetGops(state, s.Macs());
}

#ifdef CRUMB_HAVE_XNNPACK
// XNNPACK's fp32 1x1 convolution with the same weights: NCHW (its sparse path: a 1x1, stride 1,
// unpadded, ungrouped NCHW convolution always runs the SpMM microkernel over the non-zeros) or
// NHWC (the dense GEMM path).
void XnnF32SparseBench(benchmark::State& state, LayerShape s, double sparsity, bool nchw) {
  Pool pool(1);
  const std::vector<float> w = F32SparseWeights(s, sparsity), x = F32Input(s, 16);
  std::vector<float> bias(s.cout, 0.1f), y(s.Pixels() * s.cout);
  XnnOp op;
  xnn_status st;
  if (nchw) {
    st = xnn_create_convolution2d_nchw_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, s.cin, s.cout, s.cin,
                                           s.cout, w.data(), bias.data(), kF32Min, kF32Max, 0,
                                           &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nchw_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  } else {
    st = xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, s.cin, s.cout, s.cin,
                                           s.cout, w.data(), bias.data(), kF32Min, kF32Max, 0,
                                           &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  }
  RunXnn(state, op, st, pool, y.data(), s, "XNNPACK f32 operator setup failed");
}
#endif

// crumb's dense dot GEMM over the NHWC pixels (a 1x1 convolution is a GEMM with M = pixels).
void DotBench(benchmark::State& state, LayerShape s, unsigned bits, crumb_gemm_ukernel_fn* gemm,
              bool supported) {
  if (!supported) {
    state.SkipWithError("CPU lacks the ISA");
    return;
  }
  std::mt19937 rng(1);
  const size_t m = s.Pixels();
  std::vector<uint8_t> x(m * s.cin), y(m * s.cout);
  for (auto& b : x) b = (uint8_t)rng();
  std::vector<int32_t> codes(s.cout * s.cin);
  for (auto& c : codes) c = -(1 << (bits - 1)) + (int32_t)(rng() % (1u << bits));
  std::vector<uint8_t> packed(crumb_dot_packed_size(s.cout, 1, s.cin, bits) + 64);
  uint8_t* w = packed.data() + (64 - (uintptr_t)packed.data() % 64) % 64;
  crumb_dot_pack(codes.data(), s.cout, 1, s.cin, bits, CRUMB_ENC_SIGNED, w);
  std::vector<int32_t> zw(s.cout, 0);
  std::vector<float> mul(s.cout, 1.0f / (64.0f * (float)s.cin)), add(s.cout, 0.5f);
  std::vector<int32_t> scratch(crumb_dot_scratch_bytes(1, s.cin, bits) / 4 + 16);
  crumb_gemm_params p{};
  p.a_type = CRUMB_ELEM_U8;
  p.a_zero_point = 128;
  p.w_bits = bits;
  p.w_encoding = CRUMB_ENC_SIGNED;
  p.w_zero_point = zw.data();
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = 255;
  for (auto _ : state) {
    gemm(m, s.cout, s.cin, x.data(), s.cin, w, y.data(), s.cout, &p, scratch.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGops(state, s.Macs());
}

void Register() {
  for (const LayerShape& s : Shapes()) {
    const std::string base = s.name;
#define CRUMB_SPARSE_UKERNEL(name, mr, isa)                                                    \
  if (strcmp(#isa, "SCALAR") != 0) {                                                           \
    for (unsigned bits : {8u, 4u}) {                                                           \
      for (int sp : {0, 70, 90}) {                                                             \
        benchmark::RegisterBenchmark((base + "/crumb_sparse_w" + std::to_string(bits) + "_s" + \
                                      std::to_string(sp) + "_" + IsaName(#isa))                \
                                         .c_str(),                                             \
                                     SparseBench, s, bits, sp / 100.0, name, CpuHas(#isa))     \
            ->ArgName("threads")                                                               \
            ->Arg(1)                                                                           \
            ->Unit(benchmark::kMicrosecond);                                                   \
      }                                                                                        \
    }                                                                                          \
  }
#include "kernels/sparse/sparse.inc"
#define CRUMB_DOT_UKERNEL_gemm(name, isa)                                                 \
  if (strcmp(#isa, "SCALAR") != 0 && strcmp(#isa, "AVXVNNI") != 0) {                      \
    for (unsigned bits : {8u, 4u}) {                                                      \
      benchmark::RegisterBenchmark(                                                       \
          (base + "/crumb_dot_w" + std::to_string(bits) + "a8_" + IsaName(#isa)).c_str(), \
          DotBench, s, bits, name, CpuHas(#isa))                                          \
          ->ArgName("threads")                                                            \
          ->Arg(1)                                                                        \
          ->Unit(benchmark::kMicrosecond);                                                \
    }                                                                                     \
  }
#define CRUMB_DOT_UKERNEL_igemm(name, isa)
#define CRUMB_DOT_UKERNEL_igemmz(name, isa)
#define CRUMB_DOT_UKERNEL(kind, name, isa) CRUMB_DOT_UKERNEL_##kind(name, isa)
#include "kernels/dot/dot.inc"
#undef CRUMB_DOT_UKERNEL_gemm
#undef CRUMB_DOT_UKERNEL_igemm
#undef CRUMB_DOT_UKERNEL_igemmz
#ifdef CRUMB_HAVE_XNNPACK
    XnnOptions o;
    o.yield_flag = false;
    benchmark::RegisterBenchmark((base + "/xnn_qs8").c_str(), XnnQs8Bench, s, o)
        ->ArgName("threads")
        ->Arg(1)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((base + "/xnn_f32").c_str(), XnnF32Bench, s, o)
        ->ArgName("threads")
        ->Arg(1)
        ->Unit(benchmark::kMicrosecond);
#endif
  }
  // fp32: crumb SPARSE_F32 vs XNNPACK's sparse (NCHW SpMM) and dense (NHWC) 1x1 convolutions.
  for (const LayerShape& s : F32Shapes()) {
    const std::string base = s.name;
    for (int sp : {70, 90}) {
      const std::string tag = "_s" + std::to_string(sp);
#define CRUMB_SPARSE_F32_UKERNEL(name, mr, isa)                                                    \
  if (strcmp(#isa, "SCALAR") != 0) {                                                               \
    benchmark::RegisterBenchmark((base + "/f32_crumb_sparse" + tag + "_" + IsaName(#isa)).c_str(), \
                                 F32SparseBench, s, sp / 100.0, name, CpuHas(#isa))                \
        ->ArgName("threads")                                                                       \
        ->Arg(1)                                                                                   \
        ->Unit(benchmark::kMicrosecond);                                                           \
  }
#include "kernels/sparse/sparse.inc"
#ifdef CRUMB_HAVE_XNNPACK
      benchmark::RegisterBenchmark((base + "/f32_xnn_sparse" + tag).c_str(), XnnF32SparseBench, s,
                                   sp / 100.0, true)
          ->ArgName("threads")
          ->Arg(1)
          ->Unit(benchmark::kMicrosecond);
      benchmark::RegisterBenchmark((base + "/f32_xnn_dense" + tag).c_str(), XnnF32SparseBench, s,
                                   sp / 100.0, false)
          ->ArgName("threads")
          ->Arg(1)
          ->Unit(benchmark::kMicrosecond);
#endif
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
