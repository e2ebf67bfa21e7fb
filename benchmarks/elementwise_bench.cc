// The elementwise family against the scalar kernels on MobileNetV2 / ResNet-18 sizes, one thread:
//   x8lut_112x112x96       a Requantize table lookup over MobileNetV2's first expanded tensor
//   requantize_112x112x96  the same tensor through the float requantize path
//   quantize_224x224x3     the float input image to u8 codes
//   vadd_56x56x24          MobileNetV2's first residual add (u8 + u8 -> u8)
//   maxpool3x3s2_112x112x64  ResNet-18's stem max pooling (pad 1: NULL taps at the borders)
// Benchmarks are named <shape>/<kernel ISA>, e.g. vadd_56x56x24/avx512; the counter is elements
// per second (output elements; maxpool: output elements, each a 9-tap max).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/layer_bench.h"
#include "kernels/elementwise/elementwise.h"

namespace {

using namespace crumb_bench;

struct EwKernel {
  const char* name;
  const char* kind;
  Isa isa;
  crumb_x8lut_ukernel_fn* x8lut = nullptr;
  crumb_quantize_ukernel_fn* quantize = nullptr;
  crumb_vadd_ukernel_fn* vadd = nullptr;
  crumb_vmul_ukernel_fn* vmul = nullptr;
  crumb_maxpool_ukernel_fn* maxpool = nullptr;
  crumb_requantize_ukernel_fn* requantize = nullptr;
};

// The scalar kernel of each kind first, then elementwise.inc's.
std::vector<EwKernel> Kernels() {
  std::vector<EwKernel> v;
  EwKernel e{"crumb_x8_lut_ukernel__scalar", "x8lut", Isa::SCALAR};
  e.x8lut = crumb_x8_lut_ukernel__scalar;
  v.push_back(e);
  e = EwKernel{"crumb_q8_requantize_ukernel__scalar", "requantize", Isa::SCALAR};
  e.requantize = crumb_q8_requantize_ukernel__scalar;
  v.push_back(e);
  e = EwKernel{"crumb_f32_q8_quantize_ukernel__scalar", "quantize", Isa::SCALAR};
  e.quantize = crumb_f32_q8_quantize_ukernel__scalar;
  v.push_back(e);
  e = EwKernel{"crumb_q8_vadd_ukernel__scalar", "vadd", Isa::SCALAR};
  e.vadd = crumb_q8_vadd_ukernel__scalar;
  v.push_back(e);
  e = EwKernel{"crumb_q8_maxpool_ukernel__scalar", "maxpool", Isa::SCALAR};
  e.maxpool = crumb_q8_maxpool_ukernel__scalar;
  v.push_back(e);
#define CRUMB_ELEMENTWISE_UKERNEL(k, fn, isa_tag) \
  {                                               \
    EwKernel e{#fn, #k, Isa::isa_tag};            \
    e.k = fn;                                     \
    v.push_back(e);                               \
  }
#include "kernels/elementwise/elementwise.inc"
  return v;
}

crumb_output_params U8Out() {
  crumb_output_params o{};
  o.type = CRUMB_ELEM_U8, o.zero_point = 128, o.qmin = 0, o.qmax = 255;
  return o;
}

std::vector<uint8_t> RandomBytes(size_t n) {
  std::mt19937 rng(1);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = (uint8_t)rng();
  return v;
}

void X8Lut(benchmark::State& state, EwKernel k) {
  if (!IsaOrSkip(state, k.isa)) return;
  const size_t n = 112 * 112 * 96;
  const std::vector<uint8_t> x = RandomBytes(n), table = RandomBytes(256);
  std::vector<uint8_t> y(n);
  for (auto _ : state) {
    k.x8lut(n, x.data(), table.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] =
      benchmark::Counter((double)n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void Requantize(benchmark::State& state, EwKernel k) {
  if (!IsaOrSkip(state, k.isa)) return;
  const size_t n = 112 * 112 * 96;
  const std::vector<uint8_t> x = RandomBytes(n);
  std::vector<uint8_t> y(n);
  crumb_requant_params p{};
  p.in_type = CRUMB_ELEM_U8, p.in_zero_point = 128, p.scale = 0.73f, p.out = U8Out();
  for (auto _ : state) {
    k.requantize(n, x.data(), y.data(), &p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] =
      benchmark::Counter((double)n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void Quantize(benchmark::State& state, EwKernel k) {
  if (!IsaOrSkip(state, k.isa)) return;
  const size_t n = 224 * 224 * 3;
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  std::vector<uint8_t> y(n);
  crumb_quantize_params p{};
  p.scale = 0.0187f, p.out = U8Out();
  for (auto _ : state) {
    k.quantize(n, x.data(), y.data(), &p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] =
      benchmark::Counter((double)n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void VAdd(benchmark::State& state, EwKernel k) {
  if (!IsaOrSkip(state, k.isa)) return;
  const size_t n = 56 * 56 * 24;
  const std::vector<uint8_t> a = RandomBytes(n), b = RandomBytes(n + 1);
  std::vector<uint8_t> y(n);
  crumb_add_params p{};
  p.a_type = p.b_type = CRUMB_ELEM_U8;
  p.a_zero_point = 128, p.b_zero_point = 120, p.a_scale = 0.61f, p.b_scale = 0.37f;
  p.out = U8Out();
  for (auto _ : state) {
    k.vadd(n, a.data(), b.data() + 1, y.data(), &p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] =
      benchmark::Counter((double)n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void MaxPool(benchmark::State& state, EwKernel k) {
  if (!IsaOrSkip(state, k.isa)) return;
  const LayerShape s{"maxpool", 112, 112, 64, 64, 3, 2, 1, false};
  const size_t C = 64, ks = 9;
  const std::vector<uint8_t> x = RandomBytes(s.h * s.w * C);
  // Padding taps are NULL for max pooling (the runtime's convention); Indirection() points them
  // at a zero row, so they are replaced here.
  std::vector<uint8_t> zero(C);
  std::vector<const void*> ind = Indirection(s, x.data(), C, zero.data());
  for (auto& p : ind)
    if (p == zero.data()) p = nullptr;
  const size_t pixels = s.Pixels();
  std::vector<uint8_t> y(pixels * C);
  crumb_requant_params p{};
  p.in_type = CRUMB_ELEM_U8, p.in_zero_point = 0, p.scale = 1.0f, p.out = U8Out();
  p.out.zero_point = 0;
  for (auto _ : state) {
    k.maxpool(pixels, ks, C, ind.data(), 0, y.data(), C, &p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["Gelem/s"] = benchmark::Counter((double)(pixels * C) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void Register() {
  for (const EwKernel& k : Kernels()) {
    const std::string isa = KernelIsa(k.name);
    void (*fn)(benchmark::State&, EwKernel) = nullptr;
    std::string shape;
    if (!strcmp(k.kind, "x8lut")) fn = X8Lut, shape = "x8lut_112x112x96";
    if (!strcmp(k.kind, "requantize")) fn = Requantize, shape = "requantize_112x112x96";
    if (!strcmp(k.kind, "quantize")) fn = Quantize, shape = "quantize_224x224x3";
    if (!strcmp(k.kind, "vadd")) fn = VAdd, shape = "vadd_56x56x24";
    if (!strcmp(k.kind, "maxpool")) fn = MaxPool, shape = "maxpool3x3s2_112x112x64";
    if (!fn) continue;
    benchmark::RegisterBenchmark((shape + "/" + isa).c_str(), fn, k)->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) { return crumb_bench::LayerBenchMain(argc, argv, Register); }
