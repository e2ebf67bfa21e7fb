// Google Benchmark of the scalar GEMM / IGEMM (convolution) kernels over ROWS_LSB weights, for
// every kernel listed in kernels/scalar/scalar.inc, at typical low-bit layer shapes.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/scalar/scalar.h"

namespace {

// A 3x3 convolution, stride 1, padding 1, on an HxW image of Cin channels to Cout channels.
struct ConvProblem {
  size_t h, w, cin, cout, bits;
  std::vector<uint8_t> input, zero, packed, output;
  std::vector<const void*> indirection;
  std::vector<int32_t> zw, scratch;
  std::vector<float> mul, add;
  crumb_gemm_params params{};

  ConvProblem(size_t h_, size_t w_, size_t cin_, size_t cout_, size_t bits_, size_t ks_side)
      : h(h_), w(w_), cin(cin_), cout(cout_), bits(bits_) {
    std::mt19937 rng(1);
    input.resize(h * w * cin);
    for (auto& x : input) x = (uint8_t)(rng() % 16);
    zero.assign(cin, 0);
    const size_t ks = ks_side * ks_side, k = ks * cin;
    std::vector<int32_t> codes(cout * k);
    const int32_t lo = -(1 << (bits - 1)), span = 1 << bits;
    for (auto& c : codes) c = lo + (int32_t)(rng() % span);
    packed.resize(crumb_rows_lsb_size(cout, k, (unsigned)bits));
    crumb_pack_rows_lsb(codes.data(), cout, k, (unsigned)bits, packed.data());
    const ptrdiff_t pad = (ptrdiff_t)ks_side / 2;
    for (size_t y = 0; y < h; y++) {
      for (size_t x = 0; x < w; x++) {
        for (size_t ky = 0; ky < ks_side; ky++) {
          for (size_t kx = 0; kx < ks_side; kx++) {
            const ptrdiff_t iy = (ptrdiff_t)(y + ky) - pad, ix = (ptrdiff_t)(x + kx) - pad;
            indirection.push_back(iy < 0 || ix < 0 || iy >= (ptrdiff_t)h || ix >= (ptrdiff_t)w
                                      ? (const void*)zero.data()
                                      : input.data() + ((size_t)iy * w + (size_t)ix) * cin);
          }
        }
      }
    }
    zw.assign(cout, 0);
    mul.assign(cout, 0.01f);
    add.assign(cout, 0.5f);
    scratch.resize(k);
    output.resize(h * w * cout);
    params.a_type = CRUMB_ELEM_U8;
    params.a_zero_point = 0;
    params.w_bits = (uint32_t)bits;
    params.w_encoding = CRUMB_ENC_SIGNED;
    params.w_row_bytes = crumb_rows_lsb_row_bytes(k, (unsigned)bits);
    params.w_zero_point = zw.data();
    params.mul = mul.data();
    params.add = add.data();
    params.out.type = CRUMB_ELEM_U8;
    params.out.qmin = 0;
    params.out.qmax = 15;
  }
};

void SetCounters(benchmark::State& state, double macs) {
  state.counters["MACs"] =
      benchmark::Counter(macs * (double)state.iterations(), benchmark::Counter::kIsRate);
}

void IGemmBench(benchmark::State& state, crumb_igemm_ukernel_fn* igemm) {
  ConvProblem p((size_t)state.range(0), (size_t)state.range(0), (size_t)state.range(1),
                (size_t)state.range(2), (size_t)state.range(3), 3);
  for (auto _ : state) {
    igemm(p.h * p.w, p.cout, p.cin, 9, p.indirection.data(), 0, p.zero.data(), p.packed.data(),
          p.output.data(), p.cout, &p.params, p.scratch.data());
    benchmark::DoNotOptimize(p.output.data());
  }
  SetCounters(state, (double)(p.h * p.w * p.cout * p.cin * 9));
}

void GemmBench(benchmark::State& state, crumb_gemm_ukernel_fn* gemm) {
  ConvProblem p((size_t)state.range(0), (size_t)state.range(0), (size_t)state.range(1),
                (size_t)state.range(2), (size_t)state.range(3), 1);
  for (auto _ : state) {
    gemm(p.h * p.w, p.cout, p.cin, p.input.data(), p.cin, p.packed.data(), p.output.data(), p.cout,
         &p.params, p.scratch.data());
    benchmark::DoNotOptimize(p.output.data());
  }
  SetCounters(state, (double)(p.h * p.w * p.cout * p.cin));
}

// {image side, Cin, Cout, weight bits}
void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"hw", "cin", "cout", "bits"});
  for (int bits : {1, 2, 4, 8}) {
    b->Args({8, 16, 32, bits});   // digits CNN middle layer
    b->Args({16, 64, 64, bits});  // small CNN
    b->Args({56, 64, 64, bits});  // ResNet-18 stage 1
  }
}

#define CRUMB_UKERNEL_gemm(name) \
  BENCHMARK_CAPTURE(GemmBench, name, name)->Apply(Shapes)->Unit(benchmark::kMicrosecond);
#define CRUMB_UKERNEL_igemm(name) \
  BENCHMARK_CAPTURE(IGemmBench, name, name)->Apply(Shapes)->Unit(benchmark::kMicrosecond);
#define CRUMB_UKERNEL_maxpool(name)
#define CRUMB_UKERNEL_avgpool(name)
#define CRUMB_UKERNEL_gavgpool(name)
#define CRUMB_UKERNEL_quantize(name)
#define CRUMB_UKERNEL_dequantize(name)
#define CRUMB_UKERNEL_requantize(name)
#define CRUMB_UKERNEL_vadd(name)
#define CRUMB_UKERNEL_vmul(name)
#define CRUMB_UKERNEL_x8lut(name)
#define CRUMB_UKERNEL(kind, name) CRUMB_UKERNEL_##kind(name)
#include "kernels/scalar/scalar.inc"

}  // namespace

BENCHMARK_MAIN();
