// Tester classes for the microkernel contracts (kernels/scalar/scalar.h): chained setters,
// seeded random data plus edge fills, guard bytes around outputs, ASSERT_EQ against
// kernels/reference.
#pragma once

#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/reference/reference.h"
#include "kernels/scalar/scalar.h"

namespace crumb_test {

enum class Fill { kRandom, kMax, kMin };

inline void Range(uint32_t type_or_enc, bool weights, uint32_t bits, int32_t* lo, int32_t* hi) {
  const bool is_unsigned =
      weights ? type_or_enc == CRUMB_ENC_UNSIGNED : type_or_enc == CRUMB_ELEM_U8;
  if (weights && (type_or_enc == CRUMB_ENC_BIPOLAR || type_or_enc == CRUMB_ENC_TERNARY)) {
    *lo = -1, *hi = 1;
  } else if (is_unsigned) {
    *lo = 0, *hi = (1 << bits) - 1;
  } else {
    *lo = -(1 << (bits - 1)), *hi = (1 << (bits - 1)) - 1;
  }
}

inline std::vector<int32_t> Codes(std::mt19937& rng, size_t n, int32_t lo, int32_t hi, Fill f) {
  std::vector<int32_t> v(n, f == Fill::kMax ? hi : lo);
  if (f == Fill::kRandom) {
    std::uniform_int_distribution<int32_t> d(lo, hi);
    for (auto& x : v) x = d(rng);
  }
  return v;
}

constexpr uint8_t kGuard = 0xCD;
constexpr size_t kGuardBytes = 64;

// Output buffer with guard bytes before, after and between rows.
struct GuardedOutput {
  std::vector<uint8_t> bytes;
  size_t rows, row_bytes, stride;
  GuardedOutput(size_t r, size_t rb, size_t s) : rows(r), row_bytes(rb), stride(s) {
    bytes.assign(kGuardBytes * 2 + (r ? (r - 1) * s + rb : 0), kGuard);
  }
  uint8_t* data() { return bytes.data() + kGuardBytes; }
  void CheckGuards() const {
    for (size_t i = 0; i < bytes.size(); i++) {
      const bool inside = i >= kGuardBytes &&
                          (i - kGuardBytes) < (rows ? (rows - 1) * stride + row_bytes : 0) &&
                          (i - kGuardBytes) % stride < row_bytes;
      if (!inside) {
        ASSERT_EQ(bytes[i], kGuard) << "kernel wrote outside its output at byte " << i;
      }
    }
  }
  int32_t Code(size_t r, size_t c, uint32_t type) const {
    const uint8_t b = bytes[kGuardBytes + r * stride + c];
    return type == CRUMB_ELEM_U8 ? (int32_t)b : (int32_t)(int8_t)b;
  }
  float Float(size_t r, size_t c) const {
    float f;
    memcpy(&f, &bytes[kGuardBytes + r * stride + c * 4], 4);
    return f;
  }
};

// GEMM and IGEMM (a convolution through an indirection buffer).
class GemmTester {
 public:
  GemmTester& m(size_t v) {
    m_ = v;
    return *this;
  }
  GemmTester& n(size_t v) {
    n_ = v;
    return *this;
  }
  GemmTester& k(size_t v) {
    k_ = v;
    return *this;
  }
  GemmTester& bits(uint32_t v) {
    bits_ = v;
    return *this;
  }
  GemmTester& w_encoding(uint32_t v) {
    wenc_ = v;
    return *this;
  }
  GemmTester& a_type(uint32_t v) {
    atype_ = v;
    return *this;
  }
  GemmTester& a_zero_point(int32_t v) {
    za_ = v;
    return *this;
  }
  GemmTester& w_zero_points(bool per_channel) {
    zw_per_channel_ = per_channel;
    return *this;
  }
  GemmTester& out_type(uint32_t v) {
    otype_ = v;
    return *this;
  }
  GemmTester& out_zero_point(int32_t v) {
    zo_ = v;
    return *this;
  }
  GemmTester& qmin(int32_t v) {
    qmin_ = v;
    return *this;
  }
  GemmTester& qmax(int32_t v) {
    qmax_ = v;
    return *this;
  }
  GemmTester& a_stride(size_t v) {
    a_stride_ = v;
    return *this;
  }
  GemmTester& c_stride(size_t v) {
    c_stride_ = v;
    return *this;
  }
  GemmTester& fill(Fill f) {
    fill_ = f;
    return *this;
  }
  GemmTester& seed(uint32_t s) {
    seed_ = s;
    return *this;
  }
  // IGEMM: ks taps over a 1-D "image" of m + ks - 1 pixels with `pad` zero taps at both ends.
  GemmTester& ks(size_t v) {
    ks_ = v;
    return *this;
  }

  void TestGemm(crumb_gemm_ukernel_fn* gemm) const { Test(gemm, nullptr); }
  void TestIGemm(crumb_igemm_ukernel_fn* igemm) const { Test(nullptr, igemm); }

 private:
  void Test(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) const {
    std::mt19937 rng(seed_);
    const size_t ks = igemm ? ks_ : 1;
    const size_t kk = k_ * ks;  // weight row length
    int32_t alo, ahi, wlo, whi;
    Range(atype_, false, 8, &alo, &ahi);
    Range(wenc_, true, bits_, &wlo, &whi);
    const int32_t za = std::min(std::max(za_, alo), ahi);
    // Activations: for IGEMM one "pixel" row per position of a 1-D image, padded by ks / 2.
    const size_t pad = ks / 2;
    const size_t pixels = igemm ? m_ + ks - 1 - 2 * pad : m_;
    const size_t astride = std::max(a_stride_, k_);
    std::vector<int32_t> a = Codes(rng, std::max<size_t>(pixels, 1) * k_, alo, ahi, fill_);
    std::vector<uint8_t> abytes(std::max<size_t>(pixels, 1) * astride + 8, 0x77);
    for (size_t p = 0; p < pixels; p++)
      for (size_t c = 0; c < k_; c++) abytes[p * astride + c] = (uint8_t)a[p * k_ + c];
    std::vector<int32_t> w = Codes(rng, n_ * kk, wlo, whi, fill_);
    if (wenc_ == CRUMB_ENC_BIPOLAR) {
      for (auto& x : w) x = x <= 0 ? -1 : 1;
    }
    std::vector<int32_t> stored = w;  // code values as packed
    if (wenc_ == CRUMB_ENC_BIPOLAR) {
      for (auto& x : stored) x = (x + 1) / 2;
    }
    std::vector<uint8_t> packed(crumb_rows_lsb_size(n_, kk, bits_) + 1);
    crumb_pack_rows_lsb(stored.data(), n_, kk, bits_, packed.data());
    std::vector<int32_t> zw(n_, 0);
    if (zw_per_channel_) {
      for (auto& z : zw) z = std::uniform_int_distribution<int32_t>(wlo, whi)(rng);
    }
    std::vector<float> mul(n_), add(n_);
    const float span = (float)std::max(1, ahi - alo) * (float)std::max(1, whi - wlo) *
                       std::sqrt((float)std::max<size_t>(kk, 1));
    for (size_t i = 0; i < n_; i++) {
      mul[i] = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) *
               (otype_ == CRUMB_ELEM_F32 ? 0.01f : 255.0f / span);
      add[i] = std::uniform_real_distribution<float>(-5.0f, 5.0f)(rng);
    }
    int32_t olo = otype_ == CRUMB_ELEM_U8 ? 0 : -128, ohi = otype_ == CRUMB_ELEM_U8 ? 255 : 127;
    crumb_gemm_params p{};
    p.a_type = atype_;
    p.a_zero_point = za;
    p.w_bits = bits_;
    p.w_encoding = wenc_;
    p.w_row_bytes = crumb_rows_lsb_row_bytes(kk, bits_);
    p.w_zero_point = zw.data();
    p.mul = mul.data();
    p.add = add.data();
    p.out.type = otype_;
    p.out.zero_point = std::min(std::max(zo_, olo), ohi);
    p.out.qmin = std::max(qmin_, olo);
    p.out.qmax = std::min(qmax_, ohi);
    p.out.fmin = -2.0f;
    p.out.fmax = 2.0f;
    const size_t elem = otype_ == CRUMB_ELEM_F32 ? 4 : 1;
    const size_t cstride = std::max(c_stride_, n_) * elem;
    GuardedOutput out(m_, n_ * elem, cstride);
    std::vector<int32_t> scratch(kk + 1);
    // Reference: rows of the (virtual) im2col matrix.
    std::vector<int32_t> rows(m_ * kk);
    std::vector<const void*> indirection;
    std::vector<uint8_t> zero(k_ + 8, (uint8_t)za);
    for (size_t r = 0; r < m_; r++) {
      for (size_t t = 0; t < ks; t++) {
        const ptrdiff_t src = (ptrdiff_t)(r + t) - (ptrdiff_t)pad;
        const bool padded = src < 0 || src >= (ptrdiff_t)pixels;
        if (igemm)
          indirection.push_back(padded ? (const void*)zero.data() : abytes.data() + src * astride);
        for (size_t c = 0; c < k_; c++) rows[r * kk + t * k_ + c] = padded ? za : a[src * k_ + c];
      }
    }
    if (gemm) {
      gemm(m_, n_, k_, abytes.data(), astride, packed.data(), out.data(), cstride, &p,
           scratch.data());
    } else {
      igemm(m_, n_, k_, ks, indirection.data(), 0, zero.data(), packed.data(), out.data(), cstride,
            &p, scratch.data());
    }
    out.CheckGuards();
    crumb::ref::Output ro;
    ro.is_float = otype_ == CRUMB_ELEM_F32;
    ro.zero_point = p.out.zero_point, ro.qmin = p.out.qmin, ro.qmax = p.out.qmax;
    ro.fmin = p.out.fmin, ro.fmax = p.out.fmax;
    std::vector<int32_t> want_q(m_ * n_);
    std::vector<float> want_f(m_ * n_);
    crumb::ref::FullyConnected((int)m_, (int)n_, (int)kk, rows.data(), za, w.data(), zw.data(),
                               mul.data(), add.data(), ro, want_q.data(), want_f.data());
    for (size_t r = 0; r < m_; r++) {
      for (size_t c = 0; c < n_; c++) {
        if (ro.is_float) {
          ASSERT_EQ(out.Float(r, c), want_f[r * n_ + c]) << "row " << r << " col " << c;
        } else {
          ASSERT_EQ(out.Code(r, c, otype_), want_q[r * n_ + c]) << "row " << r << " col " << c;
        }
      }
    }
  }

  size_t m_ = 1, n_ = 1, k_ = 1, ks_ = 3, a_stride_ = 0, c_stride_ = 0;
  uint32_t bits_ = 8, wenc_ = CRUMB_ENC_SIGNED, atype_ = CRUMB_ELEM_U8, otype_ = CRUMB_ELEM_U8;
  int32_t za_ = 3, zo_ = 5, qmin_ = -1000, qmax_ = 1000;
  bool zw_per_channel_ = true;
  Fill fill_ = Fill::kRandom;
  uint32_t seed_ = 1;
};

}  // namespace crumb_test
