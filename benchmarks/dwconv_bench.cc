// The dwconv family on MobileNetV2's depthwise layers (3x3 stride 1 and 2) and a 5x5 one, at the
// bounds of W2A4, W4A4 and W8A8 (u8 activations of 4 / 4 / 8 bits, signed 2 / 4 / 8-bit weights:
// the int16 chain for the first two, the int32 path for W8A8), beside XNNPACK's qs8 and f32
// depthwise convolutions (xnn_create_convolution2d_nhwc_* with groups = channels, one input and
// one output channel per group: XNNPACK's dwconv path) of the same shapes in the same process.
//
// Benchmarks are named <shape>/<implementation>/threads:<n>, e.g.
//   dw3x3_s1_56x56_144/crumb_w4a4_avx512/threads:1
//   dw3x3_s1_56x56_144/xnn_qs8/threads:1
// The counter GOPS is 2 * MACs per second / 1e9 with MACs = output pixels * channels * kh * kw
// (ANCHORS.md's unit). crumb calls its kernel once per tile of output rows (width = rows x the
// output width, as the runtime does: ConvOp hands each task's whole pixel range to one call);
// with threads:2 the rows are split over a pthreadpool (benchmarks/layer_bench.h: threads:1 is the
// calling thread's CPU time, threads:2 wall time).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/common/pack.h"
#include "kernels/dwconv/dwconv.h"

namespace {

using namespace crumb_bench;

// Depthwise layers: cin = cout = channels.
std::vector<LayerShape> Shapes() {
  return {
      {"dw3x3_s1_56x56_144", 56, 56, 144, 144, 3, 1, 1, false},
      {"dw3x3_s1_28x28_192", 28, 28, 192, 192, 3, 1, 1, false},
      {"dw3x3_s1_14x14_384", 14, 14, 384, 384, 3, 1, 1, false},
      {"dw3x3_s1_14x14_576", 14, 14, 576, 576, 3, 1, 1, false},
      {"dw3x3_s1_7x7_960", 7, 7, 960, 960, 3, 1, 1, false},
      {"dw3x3_s2_56x56_144", 56, 56, 144, 144, 3, 2, 1, false},
      {"dw3x3_s2_28x28_192", 28, 28, 192, 192, 3, 2, 1, false},
      {"dw3x3_s2_14x14_576", 14, 14, 576, 576, 3, 2, 1, false},
      {"dw5x5_s1_14x14_480", 14, 14, 480, 480, 5, 1, 2, false},
  };
}

double DwMacs(const LayerShape& s) {
  return (double)s.Pixels() * (double)s.cin * (double)(s.k * s.k);
}

struct Config {
  const char* name;
  unsigned w_bits, a_bits;
};
const Config kConfigs[] = {{"w2a4", 2, 4}, {"w4a4", 4, 4}, {"w8a8", 8, 8}};

// ------------------------------------------------------------------------------------ crumb
struct DwLayer {
  LayerShape s;
  size_t ks, block_bytes;
  std::vector<uint8_t> input, zero, output, packed;
  std::vector<const void*> indirection;
  std::vector<float> mul, add;
  crumb_dwconv_params params{};
  crumb_dwconv_ukernel_fn* fn;

  DwLayer(const LayerShape& shape, const Config& cfg, crumb_dwconv_ukernel_fn* kernel)
      : s(shape), ks(shape.k * shape.k), block_bytes(crumb_dwconv_block_bytes(ks)), fn(kernel) {
    std::mt19937 rng(1);
    const size_t C = s.cin;
    const int32_t amax = (1 << cfg.a_bits) - 1, za = (amax + 1) / 2;
    input.resize(s.h * s.w * C);
    for (auto& x : input) x = (uint8_t)(rng() % (amax + 1));
    zero.assign(C, (uint8_t)za);
    std::vector<int32_t> codes(C * ks), zw(C, 0);
    const int32_t lo = -(1 << (cfg.w_bits - 1));
    for (auto& c : codes) c = lo + (int32_t)(rng() % (1u << cfg.w_bits));
    std::vector<uint8_t> rows(crumb_rows_lsb_size(C, ks, cfg.w_bits));
    crumb_pack_rows_lsb(codes.data(), C, ks, cfg.w_bits, rows.data());
    packed.resize(crumb_dwconv_packed_size(C, ks));
    uint32_t max_abs_v = 0;
    if (!crumb_dwconv_pack(rows.data(), cfg.w_bits, CRUMB_ENC_SIGNED, zw.data(), C, ks,
                           packed.data(), &max_abs_v)) {
      abort();
    }
    indirection = Indirection(s, input.data(), C, zero.data());
    mul.assign(C, 4.0f / ((float)amax * (float)max_abs_v * (float)ks));
    add.assign(C, 128.0f);
    output.resize(s.Pixels() * C);
    params.a_type = CRUMB_ELEM_U8;
    params.a_zero_point = za;
    params.a_bits = cfg.a_bits;
    params.max_abs_v = max_abs_v;
    params.mul = mul.data();
    params.add = add.data();
    params.out.type = CRUMB_ELEM_U8;
    params.out.zero_point = 0;
    params.out.qmin = 0;
    params.out.qmax = 255;
  }

  // Output rows [m0, m0 + mr), channels [n0, n0 + nc) (n0 a multiple of 64): the channel offset
  // rides on input_offset (the zero row holds za in every channel, so it needs none).
  void Run(size_t m0, size_t mr, size_t n0, size_t nc) const {
    crumb_dwconv_params p = params;
    p.mul += n0;
    p.add += n0;
    const size_t ow = s.OutW(), C = s.cin;
    fn(nc, mr * ow, ks, (const void**)indirection.data() + m0 * ow * ks, n0, zero.data(),
       packed.data() + n0 / CRUMB_DWCONV_BLOCK * block_bytes,
       (uint8_t*)output.data() + m0 * ow * C + n0, C, &p);
  }
};

void CrumbBench(benchmark::State& state, LayerShape s, Config cfg, crumb_dwconv_ukernel_fn* fn,
                Isa isa) {
  if (!IsaOrSkip(state, isa)) return;
  const DwLayer layer(s, cfg, fn);
  TimeTiled(state, layer, s.OutH(), s.cin, 1, layer.output.data(), DwMacs(s));
}

// ------------------------------------------------------------------------------------ XNNPACK
#ifdef CRUMB_HAVE_XNNPACK
void RunXnnDw(benchmark::State& state, const XnnOp& op, xnn_status st, const Pool& pool,
              const void* y, const LayerShape& s) {
  if (st != xnn_status_success) {
    state.SkipWithError("XNNPACK depthwise operator setup failed");
    return;
  }
  for (auto _ : state) {
    xnn_run_operator(op.op, pool.pool);
    benchmark::DoNotOptimize(y);
    benchmark::ClobberMemory();
  }
  SetGops(state, DwMacs(s));
}

void XnnQs8Dw(benchmark::State& state, LayerShape s) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(3);
  const size_t C = s.cin;
  std::vector<int8_t> x(s.h * s.w * C + 64), w(C * s.k * s.k);
  for (auto& v : x) v = (int8_t)(rng() % 256 - 128);
  for (auto& v : w) v = (int8_t)(rng() % 256 - 128);
  std::vector<int32_t> bias(C, 0);
  std::vector<int8_t> y(s.Pixels() * C);
  const float in_scale = 0.5f, w_scale = 0.01f, out_scale = 0.5f * 0.01f * 64.0f * 9.0f / 4.0f;
  XnnOp op;
  const uint32_t p = (uint32_t)s.pad, k = (uint32_t)s.k, st_ = (uint32_t)s.stride;
  xnn_status st = xnn_create_convolution2d_nhwc_qs8(
      p, p, p, p, k, k, st_, st_, 1, 1, (uint32_t)C, 1, 1, C, C, 0, in_scale, w_scale, w.data(),
      bias.data(), 0, out_scale, -128, 127, 0, &op.op);
  if (st == xnn_status_success)
    st = xnn_setup_convolution2d_nhwc_qs8(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  RunXnnDw(state, op, st, pool, y.data(), s);
}

void XnnF32Dw(benchmark::State& state, LayerShape s) {
  Pool pool((size_t)state.range(0));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  const size_t C = s.cin;
  std::vector<float> x(s.h * s.w * C + 16), w(C * s.k * s.k), bias(C, 0.1f), y(s.Pixels() * C);
  for (auto& v : x) v = d(rng);
  for (auto& v : w) v = d(rng);
  XnnOp op;
  const uint32_t p = (uint32_t)s.pad, k = (uint32_t)s.k, st_ = (uint32_t)s.stride;
  xnn_status st =
      xnn_create_convolution2d_nhwc_f32(p, p, p, p, k, k, st_, st_, 1, 1, (uint32_t)C, 1, 1, C, C,
                                        w.data(), bias.data(), -INFINITY, INFINITY, 0, &op.op);
  if (st == xnn_status_success)
    st = xnn_setup_convolution2d_nhwc_f32(op.op, 1, s.h, s.w, x.data(), y.data(), pool.pool);
  RunXnnDw(state, op, st, pool, y.data(), s);
}
#endif

struct DwKernel {
  const char* name;
  crumb_dwconv_ukernel_fn* fn;
  Isa isa;
};

void Register() {
  std::vector<DwKernel> kernels;
#define CRUMB_DWCONV_UKERNEL(name, isa) kernels.push_back({#name, name, Isa::isa});
#include "kernels/dwconv/dwconv.inc"
  for (const LayerShape& s : Shapes()) {
    for (const DwKernel& k : kernels) {
      for (const Config& cfg : kConfigs) {
        Register2(std::string(s.name) + "/crumb_" + cfg.name + "_" + KernelIsa(k.name), CrumbBench,
                  s, cfg, k.fn, k.isa);
      }
    }
#ifdef CRUMB_HAVE_XNNPACK
    Register2(std::string(s.name) + "/xnn_qs8", XnnQs8Dw, s);
    Register2(std::string(s.name) + "/xnn_f32", XnnF32Dw, s);
#endif
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
