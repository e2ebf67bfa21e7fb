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
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"

namespace {

using namespace crumb_bench;

// ------------------------------------------------------------------------------- bitserial layers
void BsLayer(benchmark::State& state, crumb_bsigemm_ukernel_fn* igemm, Isa isa, unsigned a_bits,
             unsigned w_bits, LayerShape s) {
  if (!IsaOrSkip(state, isa)) return;
  std::mt19937 rng(1);
  const int32_t amax = (1 << a_bits) - 1, za = a_bits == 1 ? 0 : 1;
  const size_t row_bytes = crumb_bitserial_act_row_bytes(s.cin, a_bits);
  const PackedInput in = PackInput(s, crumb_bitserial_pack_act, a_bits, amax, za, row_bytes, rng);
  const size_t ks = s.k * s.k, kk = ks * s.cin;
  const uint32_t enc = w_bits == 1 ? CRUMB_ENC_BIPOLAR : CRUMB_ENC_SIGNED;
  std::vector<int32_t> wcodes(s.cout * kk);
  for (auto& v : wcodes) v = w_bits == 1 ? (int32_t)(rng() % 2) : (int32_t)(rng() % 4) - 2;
  std::vector<uint8_t> rows(crumb_rows_lsb_size(s.cout, kk, w_bits));
  crumb_pack_rows_lsb(wcodes.data(), s.cout, kk, w_bits, rows.data());
  std::vector<int32_t> zw(s.cout, 0);
  std::vector<uint8_t> packed_bytes(crumb_bitserial_packed_size(s.cout, ks, s.cin, w_bits) + 64);
  uint8_t* packed = packed_bytes.data() + (64 - (uintptr_t)packed_bytes.data() % 64) % 64;
  crumb_bitserial_pack(rows.data(), w_bits, enc, zw.data(), s.cout, ks, s.cin, packed);
  std::vector<float> mul(s.cout, 0.02f), add(s.cout, 0.5f);
  crumb_bitserial_params p{};
  p.a_zero_point = za;
  p.out_bits = a_bits;  // the next bitserial layer's planes
  p.out_plane_bytes = crumb_bitserial_plane_bytes(s.cout);
  p.mul = mul.data();
  p.add = add.data();
  p.out.type = CRUMB_ELEM_U8;
  p.out.qmin = 0;
  p.out.qmax = amax;
  const std::vector<const void*> ind = Indirection(s, in.x.data(), row_bytes, in.zero.data());
  const size_t pixels = s.OutH() * s.OutW();
  const size_t out_row = a_bits * p.out_plane_bytes;
  std::vector<uint8_t> y(pixels * out_row);
  const IgemmTask<crumb_bsigemm_ukernel_fn, crumb_bitserial_params> task{
      igemm,
      s.cin,
      ks,
      CRUMB_BITSERIAL_NR,
      crumb_bitserial_block_bytes(ks, s.cin, w_bits),
      out_row,
      1,
      const_cast<const void**>(ind.data()),
      in.zero.data(),
      packed,
      y.data(),
      &p};
  TimeTiled(state, task, pixels, s.cout, 6, y.data(), s.Macs());
}

// "bs_w2a2_avx512vpopcnt" from the weight and activation bits and the kernel name's ISA suffix.
std::string BsName(unsigned w_bits, unsigned a_bits, const char* kernel) {
  return "bs_w" + std::to_string(w_bits) + "a" + std::to_string(a_bits) + "_" + KernelIsa(kernel);
}

void Register() {
  for (const LayerShape& s : ResNet18Shapes()) {
    const std::string shape = std::string(s.name) + "/";
#define CRUMB_BS_UKERNEL_bsgemm(name, isa, abits, wbits)
#define CRUMB_BS_UKERNEL_bsigemm(name, isa, abits, wbits) \
  Register2(shape + BsName(wbits, abits, #name), BsLayer, name, Isa::isa, abits, wbits, s);
#define CRUMB_BITSERIAL_UKERNEL(kind, name, isa, abits, wbits) \
  CRUMB_BS_UKERNEL_##kind(name, isa, abits, wbits)
#include "kernels/bitserial/bitserial.inc"
#undef CRUMB_BS_UKERNEL_bsgemm
#undef CRUMB_BS_UKERNEL_bsigemm
    RegisterXnn(s);
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
