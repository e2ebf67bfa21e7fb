// The dot family at the layer shapes of ../shared/ANCHORS.md (ResNet-18 3x3 convs and 1x1/2
// downsamples as IGEMM, fully-connected layers at M = 1 and 64 as GEMM), for W8A8, W4A8 and W2A8,
// beside XNNPACK's qs8 and f32 operators of the same shapes in the same process.
//
// Benchmarks are named <shape>/<implementation>/threads:<n>, e.g.
//   conv3x3_s1_56x56_64to64/crumb_w4a8_avx512/threads:1
//   conv3x3_s1_56x56_64to64/xnn_qs8/threads:1
// so --benchmark_filter selects an ISA (avx2 | avx512 | scalar) the way CRUMB_ISA would. The
// counter GOPS is 2 * MACs per second / 1e9 (ANCHORS.md's unit). crumb's kernels are single
// threaded; with threads:2 the layer is split over a pthreadpool at block boundaries (rows for
// convolutions, 64-channel blocks for M = 1), as the runtime will.
//
// Time base: with threads:1 the process's CPU time (so that time the shared machine gives to
// other processes does not count, as in ONNX Runtime's per-kernel profile the peer script reads);
// with threads:2 wall time (real_time in the name).
#include <benchmark/benchmark.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#include <pthreadpool.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/dot/dot.h"

#ifdef CRUMB_HAVE_XNNPACK
#include <xnnpack.h>
#endif

namespace {

struct LayerShape {
  const char* name;
  size_t h, w, cin, cout, k, stride, pad;  // convolution; FC: h = M, w = 1, k = 1
  bool fc;
  size_t OutH() const { return fc ? h : (h + 2 * pad - k) / stride + 1; }
  size_t OutW() const { return fc ? 1 : (w + 2 * pad - k) / stride + 1; }
  size_t Pixels() const { return OutH() * OutW(); }
  double Macs() const { return (double)Pixels() * (double)cout * (double)cin * (double)(k * k); }
};

std::vector<LayerShape> Shapes() {
  std::vector<LayerShape> v = {
      {"conv3x3_s1_56x56_64to64", 56, 56, 64, 64, 3, 1, 1, false},
      {"conv3x3_s1_28x28_128to128", 28, 28, 128, 128, 3, 1, 1, false},
      {"conv3x3_s1_14x14_256to256", 14, 14, 256, 256, 3, 1, 1, false},
      {"conv3x3_s1_7x7_512to512", 7, 7, 512, 512, 3, 1, 1, false},
      {"conv1x1_s2_56x56_64to128", 56, 56, 64, 128, 1, 2, 0, false},
      {"conv1x1_s2_28x28_128to256", 28, 28, 128, 256, 1, 2, 0, false},
      {"conv1x1_s2_14x14_256to512", 14, 14, 256, 512, 1, 2, 0, false},
      {"conv7x7_s2_224x224_3to64", 224, 224, 3, 64, 7, 2, 3, false},
  };
  static std::vector<std::string> names;  // keeps the FC names alive
  names.reserve(32);
  for (size_t m : {1, 64}) {
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

void SetGops(benchmark::State& state, double macs) {
  state.counters["GOPS"] = benchmark::Counter(2.0 * macs * 1e-9 * (double)state.iterations(),
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

// ------------------------------------------------------------------------------------ crumb
struct CrumbLayer {
  LayerShape s;
  size_t bits, ks;
  std::vector<uint8_t> input, zero, output;
  std::vector<uint8_t, std::allocator<uint8_t>> packed_storage;
  uint8_t* packed = nullptr;
  std::vector<const void*> indirection;
  std::vector<int32_t> zw;
  std::vector<float> mul, add;
  crumb_gemm_params params{};

  CrumbLayer(const LayerShape& shape, size_t b) : s(shape), bits(b), ks(shape.k * shape.k) {
    std::mt19937 rng(1);
    const uint8_t za = 128;
    input.resize(s.h * s.w * s.cin);
    for (auto& x : input) x = (uint8_t)rng();
    zero.assign(s.cin, za);
    std::vector<int32_t> codes(s.cout * ks * s.cin);
    const int32_t lo = -(1 << (bits - 1));
    for (auto& c : codes) c = lo + (int32_t)(rng() % (1u << bits));
    const size_t size = crumb_dot_packed_size(s.cout, ks, s.cin, (unsigned)bits);
    packed_storage.resize(size + 64);
    packed = packed_storage.data() + (64 - (uintptr_t)packed_storage.data() % 64) % 64;
    crumb_dot_pack(codes.data(), s.cout, ks, s.cin, (unsigned)bits, CRUMB_ENC_SIGNED, packed);
    if (!s.fc) {
      for (size_t oy = 0; oy < s.OutH(); oy++)
        for (size_t ox = 0; ox < s.OutW(); ox++)
          for (size_t ky = 0; ky < s.k; ky++)
            for (size_t kx = 0; kx < s.k; kx++) {
              const ptrdiff_t iy = (ptrdiff_t)(oy * s.stride + ky) - (ptrdiff_t)s.pad;
              const ptrdiff_t ix = (ptrdiff_t)(ox * s.stride + kx) - (ptrdiff_t)s.pad;
              indirection.push_back(iy < 0 || ix < 0 || iy >= (ptrdiff_t)s.h || ix >= (ptrdiff_t)s.w
                                        ? (const void*)zero.data()
                                        : input.data() + ((size_t)iy * s.w + (size_t)ix) * s.cin);
            }
    }
    zw.assign(s.cout, 0);
    mul.assign(s.cout, 1.0f / (64.0f * (float)(s.cin * ks)));
    add.assign(s.cout, 0.5f);
    output.resize(s.Pixels() * s.cout);
    params.a_type = CRUMB_ELEM_U8;
    params.a_zero_point = za;
    params.w_bits = (uint32_t)bits;
    params.w_encoding = CRUMB_ENC_SIGNED;
    params.w_zero_point = zw.data();
    params.mul = mul.data();
    params.add = add.data();
    params.out.type = CRUMB_ELEM_U8;
    params.out.zero_point = 0;
    params.out.qmin = 0;
    params.out.qmax = 255;
  }

  size_t ScratchBytes() const { return crumb_dot_scratch_bytes(ks, s.cin, (unsigned)bits); }

  // Output rows [m0, m0 + mr), channels [n0, n0 + nc) (n0 a multiple of 16).
  void Run(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm, size_t m0, size_t mr,
           size_t n0, size_t nc, int32_t* scratch) {
    crumb_gemm_params p = params;
    p.w_zero_point += n0;
    p.mul += n0;
    p.add += n0;
    const uint8_t* w = packed + n0 / 16 * crumb_dot_block_bytes(ks, s.cin, (unsigned)bits);
    uint8_t* c = output.data() + m0 * s.cout + n0;
    if (s.fc) {
      gemm(mr, nc, s.cin, input.data() + m0 * s.cin, s.cin, w, c, s.cout, &p, scratch);
    } else {
      igemm(mr, nc, s.cin, ks, indirection.data() + m0 * ks, 0, zero.data(), w, c, s.cout, &p,
            scratch);
    }
  }
};

struct CrumbTask {
  CrumbLayer* layer;
  crumb_gemm_ukernel_fn* gemm;
  crumb_igemm_ukernel_fn* igemm;
  size_t tile_m, tile_n;
  std::vector<std::vector<int32_t>> scratch;  // one per tile
  int32_t* Scratch(size_t i, size_t j) {
    const size_t tiles_n = (layer->s.cout + tile_n - 1) / tile_n;
    return scratch[(i / tile_m) * tiles_n + j / tile_n].data();
  }
};

void CrumbBench(benchmark::State& state, LayerShape shape, size_t bits, crumb_gemm_ukernel_fn* gemm,
                crumb_igemm_ukernel_fn* igemm, bool supported) {
  if (!supported) {
    state.SkipWithError("CPU lacks the ISA");
    return;
  }
  const size_t threads = (size_t)state.range(0);
  CrumbLayer layer(shape, bits);
  Pool pool(threads);
  const size_t m = shape.Pixels();
  // Tiles: rows in multiples of 4 (the register tile), or 64-channel blocks for a single row.
  CrumbTask task{&layer, gemm, igemm, 0, 0, {}};
  const bool split_n = m < 4 * threads;
  task.tile_m = split_n ? m : ((m + threads - 1) / threads + 3) / 4 * 4;
  task.tile_n = split_n ? ((shape.cout + threads - 1) / threads + 63) / 64 * 64 : shape.cout;
  const size_t tiles =
      ((m + task.tile_m - 1) / task.tile_m) * ((shape.cout + task.tile_n - 1) / task.tile_n);
  task.scratch.assign(tiles, std::vector<int32_t>(layer.ScratchBytes() / 4 + 16));
  for (auto _ : state) {
    if (!pool.pool) {
      layer.Run(gemm, igemm, 0, m, 0, shape.cout, task.scratch[0].data());
    } else {
      pthreadpool_parallelize_2d_tile_2d(
          pool.pool,
          [](void* ctx, size_t i, size_t j, size_t ti, size_t tj) {
            auto* t = static_cast<CrumbTask*>(ctx);
            t->layer->Run(t->gemm, t->igemm, i, ti, j, tj, t->Scratch(i, j));
          },
          &task, m, shape.cout, task.tile_m, task.tile_n, 0);
    }
    benchmark::DoNotOptimize(layer.output.data());
  }
  SetGops(state, shape.Macs());
}

// ------------------------------------------------------------------------------------ XNNPACK
#ifdef CRUMB_HAVE_XNNPACK
struct XnnOp {
  xnn_operator_t op = nullptr;
  ~XnnOp() {
    if (op) xnn_delete_operator(op);
  }
};

void XnnQs8Bench(benchmark::State& state, LayerShape s) {
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  std::mt19937 rng(1);
  std::vector<int8_t> x(s.h * s.w * s.cin + 64), w(s.cout * s.k * s.k * s.cin);
  std::vector<int8_t> y(s.Pixels() * s.cout);
  std::vector<int32_t> bias(s.cout, 0);
  for (auto& v : x) v = (int8_t)rng();
  for (auto& v : w) v = (int8_t)rng();
  XnnOp op;
  const float in_scale = 0.5f, w_scale = 0.01f,
              out_scale = 0.5f * 0.01f * 64.0f * (float)(s.cin * s.k * s.k) / 16.0f;
  xnn_status st;
  if (s.fc) {
    st = xnn_create_fully_connected_nc_qs8(s.cin, s.cout, s.cin, s.cout, 0, in_scale, w_scale,
                                           w.data(), bias.data(), 0, out_scale, -128, 127, 0,
                                           &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_fully_connected_nc_qs8(op.op, s.h, x.data(), y.data(), pool.pool);
  } else {
    st = xnn_create_convolution2d_nhwc_qs8(
        (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.k,
        (uint32_t)s.k, (uint32_t)s.stride, (uint32_t)s.stride, 1, 1, 1, s.cin, s.cout, s.cin,
        s.cout, 0, in_scale, w_scale, w.data(), bias.data(), 0, out_scale, -128, 127, 0, &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_qs8(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  }
  if (st != xnn_status_success) {
    state.SkipWithError("XNNPACK qs8 operator creation failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::DoNotOptimize(y.data());
  }
  SetGops(state, s.Macs());
}

void XnnF32Bench(benchmark::State& state, LayerShape s) {
  const size_t threads = (size_t)state.range(0);
  Pool pool(threads);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> x(s.h * s.w * s.cin + 16), w(s.cout * s.k * s.k * s.cin);
  std::vector<float> y(s.Pixels() * s.cout), bias(s.cout, 0.0f);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = d(rng);
  XnnOp op;
  const float inf = __builtin_inff();
  xnn_status st;
  if (s.fc) {
    st = xnn_create_fully_connected_nc_f32(s.cin, s.cout, s.cin, s.cout, w.data(), bias.data(),
                                           -inf, inf, 0, &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_fully_connected_nc_f32(op.op, s.h, x.data(), y.data(), pool.pool);
  } else {
    st = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.pad, (uint32_t)s.k,
        (uint32_t)s.k, (uint32_t)s.stride, (uint32_t)s.stride, 1, 1, 1, s.cin, s.cout, s.cin,
        s.cout, w.data(), bias.data(), -inf, inf, 0, &op.op);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  }
  if (st != xnn_status_success) {
    state.SkipWithError("XNNPACK f32 operator creation failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::DoNotOptimize(y.data());
  }
  SetGops(state, s.Macs());
}
#endif

bool CpuHas(const char* isa) {
  const std::string s = isa;
  if (s == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  if (s == "AVX2") return __builtin_cpu_supports("avx2");
  if (s == "AVXVNNI") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
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

struct KernelPair {
  const char* isa_name;  // in benchmark names
  const char* isa;       // dot.inc's ISA column
  crumb_gemm_ukernel_fn* gemm = nullptr;
  crumb_igemm_ukernel_fn* igemm = nullptr;
};

// One entry per ISA: its GEMM and IGEMM from kernels/dot/dot.inc.
std::vector<KernelPair> Kernels() {
  std::vector<KernelPair> v;
  auto slot = [&](const char* isa) -> KernelPair& {
    for (auto& k : v)
      if (strcmp(k.isa, isa) == 0) return k;
    v.push_back(KernelPair{});
    v.back().isa = isa;
    v.back().isa_name = strcmp(isa, "NEONDOT") == 0      ? "neondot"
                        : strcmp(isa, "NEON") == 0       ? "neon"
                        : strcmp(isa, "AVX512VNNI") == 0 ? "avx512"
                        : strcmp(isa, "AVXVNNI") == 0    ? "avxvnni"
                        : strcmp(isa, "AVX2") == 0       ? "avx2"
                                                         : "scalar";
    return v.back();
  };
#define CRUMB_DOT_UKERNEL_gemm(name, isa) slot(#isa).gemm = name;
#define CRUMB_DOT_UKERNEL_igemm(name, isa) slot(#isa).igemm = name;
#define CRUMB_DOT_UKERNEL(kind, name, isa) CRUMB_DOT_UKERNEL_##kind(name, isa)
#include "kernels/dot/dot.inc"
#undef CRUMB_DOT_UKERNEL_gemm
#undef CRUMB_DOT_UKERNEL_igemm
  return v;
}

// Registers name/threads:1 (CPU time) and name/threads:2/real_time (wall time).
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

void Register() {
  const std::vector<KernelPair> kernels = Kernels();
  for (const LayerShape& s : Shapes()) {
    for (const KernelPair& k : kernels) {
      for (size_t bits : {8, 4, 2}) {
        Register2(std::string(s.name) + "/crumb_w" + std::to_string(bits) + "a8_" + k.isa_name,
                  CrumbBench, s, bits, k.gemm, k.igemm, CpuHas(k.isa));
      }
    }
#ifdef CRUMB_HAVE_XNNPACK
    Register2(std::string(s.name) + "/xnn_qs8", XnnQs8Bench, s);
    Register2(std::string(s.name) + "/xnn_f32", XnnF32Bench, s);
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
