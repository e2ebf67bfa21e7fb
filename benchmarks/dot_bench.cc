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

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/dot/dot.h"

namespace {

using namespace crumb_bench;

// The ResNet-18 convolutions, the 7x7 / 2 stem, and fully-connected layers at M = 1 and 64.
std::vector<LayerShape> Shapes() {
  std::vector<LayerShape> v = ResNet18Shapes();
  v.push_back({"conv7x7_s2_224x224_3to64", 224, 224, 3, 64, 7, 2, 3, false});
  for (const LayerShape& s : FcShapes({1, 64})) v.push_back(s);
  return v;
}

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
    if (!s.fc) indirection = Indirection(s, input.data(), s.cin, zero.data());
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
  const Tiling t(m, shape.cout, threads, 4);
  CrumbTask task{&layer, gemm, igemm, t.tile_m, t.tile_n, {}};
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
#define CRUMB_DOT_UKERNEL_igemmz(name, isa) slot(#isa).igemm = name;
#define CRUMB_DOT_UKERNEL(kind, name, isa) CRUMB_DOT_UKERNEL_##kind(name, isa)
#include "kernels/dot/dot.inc"
#undef CRUMB_DOT_UKERNEL_gemm
#undef CRUMB_DOT_UKERNEL_igemm
#undef CRUMB_DOT_UKERNEL_igemmz
  return v;
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
    RegisterXnn(s, /*yield_flag=*/false);
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
