// Helpers the kernel family testers share (lut_tester.h, dot_tester.h, bitserial_test.cc): setters,
// the range of a weight encoding's codes, the im2col rows of the reference beside the indirection
// buffer, output rows with guard bytes, the reference's expected outputs and their comparison, the
// register tile from a kernel's name.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "kernels/common/params.h"
#include "kernels/reference/reference.h"

// A chained setter of a tester class: cls& name(type v) sets name_.
#define CRUMB_TESTER_SETTER(cls, type, name) \
  cls& name(type v) {                        \
    name##_ = v;                             \
    return *this;                            \
  }

// Runs `call`, then returns from the calling void function when it failed fatally.
#define CRUMB_RETURN_ON_FATAL(call)                 \
  do {                                              \
    call;                                           \
    if (::testing::Test::HasFatalFailure()) return; \
  } while (0)

// A test fixture that skips its tests when this CPU lacks KernelIsa::isa_tag.
#define CRUMB_ISA_FIXTURE(fixture, isa_tag)                                    \
  class fixture : public testing::Test {                                       \
   protected:                                                                  \
    void SetUp() override {                                                    \
      if (!::crumb_test::KernelIsaSupported(::crumb_test::KernelIsa::isa_tag)) \
        GTEST_SKIP() << "CPU lacks " #isa_tag;                                 \
    }                                                                          \
  };

namespace crumb_test {

// The isa column of the families' .inc files, and whether this CPU runs a kernel of it.
enum class KernelIsa { SCALAR, AVX2, AVX512, AVX512VBMI, AVX512VPOPCNT, AVX512VNNI, NEON };
inline bool KernelIsaSupported(KernelIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  if (isa == KernelIsa::AVX2) return __builtin_cpu_supports("avx2");
  if (isa == KernelIsa::AVX512) return avx512;
  if (isa == KernelIsa::AVX512VBMI) return avx512 && __builtin_cpu_supports("avx512vbmi");
  if (isa == KernelIsa::AVX512VPOPCNT) return avx512 && __builtin_cpu_supports("avx512vpopcntdq");
  if (isa == KernelIsa::AVX512VNNI) return avx512 && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
  if (isa == KernelIsa::NEON) return true;
#endif
  return isa == KernelIsa::SCALAR;
}

// [lo, hi] of the stored codes of a weight encoding of `bits` bits (bipolar: 0 / 1).
inline void WeightCodeRange(uint32_t encoding, unsigned bits, int32_t* lo, int32_t* hi) {
  const int32_t half = 1 << (bits - 1);
  if (encoding == CRUMB_ENC_UNSIGNED) {
    *lo = 0, *hi = 2 * half - 1;
  } else if (encoding == CRUMB_ENC_BIPOLAR) {
    *lo = 0, *hi = 1;
  } else if (encoding == CRUMB_ENC_TERNARY) {
    *lo = -1, *hi = 1;
  } else {  // signed
    *lo = -half, *hi = half - 1;
  }
}

// The values of stored codes (bipolar: -1 / +1), before the zero point.
inline std::vector<int32_t> WeightValues(const std::vector<int32_t>& codes, uint32_t encoding) {
  std::vector<int32_t> v(codes.size());
  for (size_t i = 0; i < codes.size(); i++) {
    v[i] = encoding == CRUMB_ENC_BIPOLAR ? 2 * codes[i] - 1 : codes[i];
  }
  return v;
}

// The im2col rows of the reference (m x ks * k, padding taps at za) over `pixels` rows of k codes
// `a`, and the IGEMM indirection buffer: a 1-D image padded by `pad` (IGEMM) or the m rows
// themselves (GEMM). Pixel p's row is at a_rows + p * a_stride, padding taps point at `zero`.
inline void Im2col(size_t m, size_t ks, size_t k, size_t pixels, size_t pad, bool igemm,
                   const std::vector<int32_t>& a, int32_t za, const uint8_t* a_rows,
                   size_t a_stride, const void* zero, std::vector<int32_t>* im2col,
                   std::vector<const void*>* indirection) {
  const size_t kk = ks * k;
  im2col->assign(m * kk, 0);
  indirection->clear();
  for (size_t r = 0; r < m; r++) {
    for (size_t t = 0; t < ks; t++) {
      const ptrdiff_t src = igemm ? (ptrdiff_t)(r + t) - (ptrdiff_t)pad : (ptrdiff_t)r;
      const bool padded = src < 0 || src >= (ptrdiff_t)pixels;
      if (igemm) {
        indirection->push_back(padded ? zero : (const void*)(a_rows + src * a_stride));
      }
      for (size_t c = 0; c < k; c++) (*im2col)[r * kk + t * k + c] = padded ? za : a[src * k + c];
    }
  }
}

// Output parameters of `type` for codes in [lo, hi]: the zero point and the clamp clipped to it,
// floats clamped to [-2, 2].
inline crumb_output_params ClippedOutput(uint32_t type, int32_t lo, int32_t hi, int32_t zero_point,
                                         int32_t qmin, int32_t qmax) {
  crumb_output_params out{};
  out.type = type;
  out.zero_point = zero_point < lo ? lo : zero_point > hi ? hi : zero_point;
  out.qmin = qmin > lo ? qmin : lo;
  out.qmax = qmax < hi ? qmax : hi;
  out.fmin = -2.0f;
  out.fmax = 2.0f;
  return out;
}

// The reference's outputs of an m x n layer over im2col rows, under a kernel's output parameters.
struct RefOutputs {
  crumb::ref::Output ro;
  std::vector<int32_t> q;
  std::vector<float> f;
};
inline RefOutputs Reference(size_t m, size_t n, size_t kk, const std::vector<int32_t>& im2col,
                            int32_t za, const std::vector<int32_t>& wvalues,
                            const std::vector<int32_t>& zw, const float* mul, const float* add,
                            const crumb_output_params& out) {
  RefOutputs r;
  r.ro.is_float = out.type == CRUMB_ELEM_F32;
  r.ro.zero_point = out.zero_point, r.ro.qmin = out.qmin, r.ro.qmax = out.qmax;
  r.ro.fmin = out.fmin, r.ro.fmax = out.fmax;
  r.q.resize(m * n);
  r.f.resize(m * n);
  crumb::ref::FullyConnected((int)m, (int)n, (int)kk, im2col.data(), za, wvalues.data(), zw.data(),
                             mul, add, r.ro, r.q.data(), r.f.data());
  return r;
}

// ASSERTs that channels [n_first, n) of output row r (u8, s8 or f32 elements) are the reference's.
inline void ExpectRow(const uint8_t* row, size_t r, size_t n_first, size_t n, uint32_t type,
                      const RefOutputs& want) {
  for (size_t j = n_first; j < n; j++) {
    if (want.ro.is_float) {
      float f;
      memcpy(&f, row + 4 * j, 4);
      ASSERT_EQ(f, want.f[r * n + j]) << "row " << r << " channel " << j;
    } else {
      const int32_t got = type == CRUMB_ELEM_U8 ? (int32_t)row[j] : (int32_t)(int8_t)row[j];
      ASSERT_EQ(got, want.q[r * n + j]) << "row " << r << " channel " << j;
    }
  }
}

// Output rows (rows x stride bytes, the last row_bytes long) with kPad guard bytes before and
// after.
struct GuardedRows {
  static constexpr uint8_t kByte = 0xA5;
  static constexpr size_t kPad = 64;
  std::vector<uint8_t> bytes;
  size_t span;  // from data() to the end of the last row
  GuardedRows(size_t rows, size_t row_bytes, size_t stride)
      : span(rows ? (rows - 1) * stride + row_bytes : 0) {
    bytes.assign(2 * kPad + span, kByte);
  }
  uint8_t* data() { return bytes.data() + kPad; }
  // ASSERTs that the kernel wrote no byte outside what inside(offset from data()) accepts.
  template <typename Inside>
  void CheckGuards(Inside inside) const {
    for (size_t i = 0; i < bytes.size(); i++) {
      if (i < kPad || i - kPad >= span || !inside(i - kPad)) {
        ASSERT_EQ(bytes[i], kByte) << "the kernel wrote outside its output at byte " << i;
      }
    }
  }
};

// Test sweeps the family tests share. run(tester) runs a case for the kernel under test and
// returns false after a fatal failure (the sweep stops); seeds come from *seed.

// run(kn, t) as a sweep's runner.
template <typename Kernel, typename Tester>
auto SweepRunner(void (*run)(const Kernel&, const Tester&), const Kernel& kn) {
  return [run, &kn](const Tester& t) {
    run(kn, t);
    return !::testing::Test::HasFatalFailure();
  };
}

// Clamp ranges (a fused ReLU6-like range, one-sided ones) and a degenerate one, at m = mr, n = nr.
template <typename Tester, typename RunFn>
void ClampRangeCases(const Tester& base, size_t mr, size_t nr, uint32_t* seed, RunFn run) {
  for (auto [lo, hi] : {std::pair<int32_t, int32_t>{0, 6}, {10, 200}, {-128, -5}, {3, 3}}) {
    const uint32_t otype = lo < 0 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8;
    if (!run(Tester(base)
                 .m(mr)
                 .n(nr)
                 .k(27)
                 .ks(9)
                 .out_type(otype)
                 .qmin(lo)
                 .qmax(hi)
                 .out_zero_point(otype == CRUMB_ELEM_U8 ? 5 : 0)
                 .seed((*seed)++))) {
      return;
    }
  }
}

// Activation and output strides beyond the rows, an a_offset, and calls for the channels of later
// blocks (how a caller splits N) in every output format of out_bits; K = k, k_split for the
// latter.
template <typename Tester, typename RunFn>
void StridesAndOffsetsCases(const Tester& base, size_t mr, size_t nr, size_t k, size_t k_split,
                            std::initializer_list<unsigned> out_bits, uint32_t* seed, RunFn run) {
  for (size_t ks : {1, 9}) {
    const Tester t = Tester(base).m(mr + 3).n(nr + 7).k(k).ks(ks);
    if (!run(Tester(t).a_stride_extra(5).c_stride_extra(11).seed((*seed)++))) return;
    if (!run(Tester(t).a_offset(24).out_type(CRUMB_ELEM_F32).c_stride_extra(4).seed((*seed)++))) {
      return;
    }
    for (size_t first : {64, 128}) {
      for (unsigned ob : out_bits) {
        if (!run(Tester(base)
                     .m(mr + 1)
                     .n(first + 70)
                     .n_first(first)
                     .k(k_split)
                     .ks(ks)
                     .out_bits(ob)
                     .seed((*seed)++))) {
          return;
        }
      }
    }
  }
}

// The register tile "<mr>x<nr>" after "_ukernel_" in a kernel's name.
inline void TileOf(const char* name, size_t* mr, size_t* nr) {
  const char* tile = strstr(name, "_ukernel_") + 9;
  *mr = (size_t)atoi(tile);
  *nr = (size_t)atoi(strchr(tile, 'x') + 1);
}

}  // namespace crumb_test
