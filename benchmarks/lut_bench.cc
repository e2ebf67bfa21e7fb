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
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/lut/lut.h"
#if defined(__x86_64__) || defined(__i386__)
#include "benchmarks/lut_prodtable.h"
#endif

namespace {

using namespace crumb_bench;

// ------------------------------------------------------------------------------- lut layers
// Weights: signed 2-bit {-2, -1, 0, 1}, or ternary {-1, 0, 1} (a narrower table: longer byte
// groups, see kernels/lut/lutgemm-avx512.cc).
void LutLayer(benchmark::State& state, crumb_lutigemm_ukernel_fn* igemm, Isa isa, unsigned a_bits,
              bool ternary, LayerShape s) {
  if (!IsaOrSkip(state, isa)) return;
  std::mt19937 rng(1);
  const int32_t amax = (1 << a_bits) - 1, za = 0;
  const size_t row_bytes = crumb_lut_act_row_bytes(s.cin, a_bits);
  const PackedInput in = PackInput(s, crumb_lut_pack_act, a_bits, amax, za, row_bytes, rng);
  const size_t ks = s.k * s.k, kk = ks * s.cin;
  std::vector<int32_t> w(s.cout * kk);
  for (auto& v : w) v = ternary ? (int32_t)(rng() % 3) - 1 : (int32_t)(rng() % 4) - 2;
  int8_t vmap[4];
  const int32_t zw = 0;
  crumb_lut_value_map(2, ternary ? CRUMB_ENC_TERNARY : CRUMB_ENC_SIGNED, &zw, 1, vmap);
  std::vector<uint8_t> packed(crumb_lut_packed_size(s.cout, ks, s.cin));
  crumb_lut_pack_values(w.data(), vmap, s.cout, ks, s.cin, packed.data());
  std::vector<uint8_t> table_bytes(crumb_lut_table_size(a_bits) + 64);
  uint8_t* table = table_bytes.data() + (64 - (uintptr_t)table_bytes.data() % 64) % 64;
  crumb_lut_init_table(vmap, a_bits, table);
  std::vector<float> mul(s.cout, 0.02f), add(s.cout, 0.5f);
  crumb_lut_params p{};
  p.table = table;
  p.a_zero_point = za;
  p.out_bits = crumb_lut_storage_bits(a_bits);  // the next lut layer's format
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = amax;
  const std::vector<const void*> ind = Indirection(s, in.x.data(), row_bytes, in.zero.data());
  const size_t pixels = s.OutH() * s.OutW();
  const size_t out_row = (s.cout * p.out_bits + 7) / 8;
  std::vector<uint8_t> y(pixels * out_row);
  const IgemmTask<crumb_lutigemm_ukernel_fn, crumb_lut_params> task{
      igemm,
      s.cin,
      ks,
      CRUMB_LUT_NR,
      crumb_lut_block_bytes(ks, s.cin),
      out_row,
      p.out_bits,
      const_cast<const void**>(ind.data()),
      in.zero.data(),
      packed.data(),
      y.data(),
      &p};
  TimeTiled(state, task, pixels, s.cout, 4, y.data(), s.Macs());
}

// Fully-connected layer at M = 1 (GEMV): K x N, 8-bit activations (s8), signed 2-bit weights,
// s8 outputs. The weights (K N / 4 bytes) are what the kernel streams; every iteration reads
// them again (from L2 or L3 depending on the size, as a model's FC layers would be).
void LutGemvLayer(benchmark::State& state, crumb_lutgemv_ukernel_fn* gemv, Isa isa, size_t k,
                  size_t n) {
  if (!IsaOrSkip(state, isa)) return;
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
  } task{gemv,
         k,
         Tiling(1, n, threads, 4).tile_n,
         crumb_lut_block_bytes(1, k),
         x.data(),
         packed.data(),
         y.data(),
         &p,
         {}};
  task.scratch.assign((n + task.tile_n - 1) / task.tile_n,
                      std::vector<uint8_t>(crumb_lut_gemv_scratch_size(k)));
  for (auto _ : state) {
    if (!pool.pool) {
      task.Run(0, n);
    } else {
      pthreadpool_parallelize_1d_tile_1d(
          pool.pool, [](void* ctx, size_t i, size_t ti) { static_cast<Task*>(ctx)->Run(i, ti); },
          &task, n, task.tile_n, PoolFlags());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetGops(state, (double)k * n);
}

#if defined(__x86_64__) || defined(__i386__)
// The product-table reference, W2A2, activations one code per byte.
void ProdTableLayer(benchmark::State& state, LayerShape s) {
  if (!IsaSupported(Isa::AVX512)) {
    state.SkipWithError("this CPU lacks AVX-512BW");
    return;
  }
  std::mt19937 rng(2);
  std::vector<uint8_t> x(s.h * s.w * s.cin), zero(s.cin, 0);
  for (auto& c : x) c = (uint8_t)(rng() % 4);
  const size_t ks = s.k * s.k, kk = ks * s.cin;
  const size_t nblocks = (s.cout + 63) / 64;
  std::vector<uint8_t> w(nblocks * 64 * kk + 64);
  uint8_t* wa = w.data() + (64 - (uintptr_t)w.data() % 64) % 64;
  for (size_t i = 0; i < nblocks * 64 * kk; i++) wa[i] = (uint8_t)(rng() % 4);
  const std::vector<const void*> ind = Indirection(s, x.data(), s.cin, zero.data());
  const size_t pixels = s.OutH() * s.OutW();
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
  } task{s.cout, s.cin, ks, (const uint8_t**)ind.data(), wa, y.data()};
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

// "lut_w2a4_avx512vbmi" from the weights ("w2" signed, "t2" ternary), the activation bits and the
// kernel name's ISA suffix (after "__").
std::string LutName(const char* weights, unsigned a_bits, const char* kernel) {
  return std::string("lut_") + weights + "a" + std::to_string(a_bits) + "_" + KernelIsa(kernel);
}

void Register() {
  for (const LayerShape& s : ResNet18Shapes()) {
    const std::string shape = std::string(s.name) + "/";
#define CRUMB_LUT_UKERNEL_lutgemv(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutgemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutigemm(name, isa, abits)                                         \
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
    RegisterXnn(s);
  }
  // Fully-connected layers at M = 1 (ANCHORS.md: K, N in {512, 1024, 4096}), as in bench_dot.
  for (const LayerShape& s : FcShapes({1})) {
    const std::string shape = std::string(s.name) + "/";
#define CRUMB_LUT_UKERNEL_lutgemv(name, isa, abits) \
  Register2(shape + LutName("w2", abits, #name), LutGemvLayer, name, Isa::isa, s.cin, s.cout);
#define CRUMB_LUT_UKERNEL_lutgemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL_lutigemm(name, isa, abits)
#define CRUMB_LUT_UKERNEL(kind, name, isa, abits) CRUMB_LUT_UKERNEL_##kind(name, isa, abits)
#include "kernels/lut/lut.inc"
#undef CRUMB_LUT_UKERNEL_lutgemv
#undef CRUMB_LUT_UKERNEL_lutgemm
#undef CRUMB_LUT_UKERNEL_lutigemm
    RegisterXnn(s);
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
