// Tester for the dot-family GEMM / IGEMM kernels (kernels/dot/dot.h): chained setters, seeded
// random data plus extreme fills, activation rows, zero row and packed weights placed right
// before an inaccessible page (an over-read faults), guard bytes around the outputs, ASSERT_EQ
// against kernels/reference bit for bit.
#pragma once

#include <gtest/gtest.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/dot/dot.h"
#include "kernels/reference/reference.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/kernel_testers.h"

namespace crumb_test {

// Bytes that end exactly where an inaccessible page begins.
class FencedBytes {
 public:
  explicit FencedBytes(size_t size) : size_(size) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    map_bytes_ = (size + page - 1) / page * page + page;
    map_ = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map_ == MAP_FAILED) abort();
    mprotect(static_cast<uint8_t*>(map_) + map_bytes_ - page, page, PROT_NONE);
    data_ = static_cast<uint8_t*>(map_) + map_bytes_ - page - size;
  }
  ~FencedBytes() { munmap(map_, map_bytes_); }
  FencedBytes(const FencedBytes&) = delete;
  FencedBytes& operator=(const FencedBytes&) = delete;
  uint8_t* data() { return data_; }
  size_t size() const { return size_; }

 private:
  void* map_ = nullptr;
  size_t map_bytes_ = 0, size_ = 0;
  uint8_t* data_ = nullptr;
};

enum class DotFill {
  kRandom,
  kActMaxWMin,  // activations at the top of the u8 domain, every w' at -2^(b-1): the largest
                // negative products (the vpmaddubsw / int16 run bounds are reached exactly)
  kActMaxWMax,  // and the largest positive ones
  kActMinWMax,  // activations at the bottom of their range
  kZeroPoints,  // activations equal to za and weights equal to zw: every acc is 0
};

enum class ZeroPoints { kSymmetric, kRandom };

// Value (as the encoding defines it) of a stored code.
inline int32_t DotValue(int32_t code, uint32_t bits, uint32_t enc) {
  const uint32_t c = (uint32_t)code & ((1u << bits) - 1u);
  return crumb_dot_code_value(c, bits, enc) + crumb_dot_weight_bias(bits, enc);
}

class DotGemmTester {
 public:
#define CRUMB_SETTER(type, name) CRUMB_TESTER_SETTER(DotGemmTester, type, name)
  CRUMB_SETTER(size_t, m)
  CRUMB_SETTER(size_t, n)
  CRUMB_SETTER(size_t, k)
  CRUMB_SETTER(size_t, ks)
  CRUMB_SETTER(uint32_t, bits)
  CRUMB_SETTER(uint32_t, w_encoding)
  CRUMB_SETTER(uint32_t, a_type)
  CRUMB_SETTER(int32_t, a_zero_point)
  CRUMB_SETTER(ZeroPoints, w_zero_points)
  CRUMB_SETTER(uint32_t, out_type)
  CRUMB_SETTER(int32_t, out_zero_point)
  CRUMB_SETTER(int32_t, qmin)
  CRUMB_SETTER(int32_t, qmax)
  CRUMB_SETTER(size_t, a_stride)
  CRUMB_SETTER(size_t, a_offset)
  CRUMB_SETTER(size_t, c_stride)
  CRUMB_SETTER(DotFill, fill)
  CRUMB_SETTER(uint32_t, seed)
  CRUMB_SETTER(bool, null_scratch)
  // IGEMM: this percentage of the (row, tap) pairs, at random, read the zero row (a spatial
  // mask's known zeros) besides the image's padding taps.
  CRUMB_SETTER(uint32_t, zero_taps)
#undef CRUMB_SETTER

  void TestGemm(crumb_gemm_ukernel_fn* gemm) const { Test(gemm, nullptr); }
  void TestIGemm(crumb_igemm_ukernel_fn* igemm) const { Test(nullptr, igemm); }

 private:
  void Test(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) const {
    SCOPED_TRACE(Describe(igemm != nullptr));
    std::mt19937 rng(seed_);
    const size_t ks = igemm ? ks_ : 1;
    const size_t kk = k_ * ks;
    const bool sa = a_type_ != CRUMB_ELEM_U8;
    const int32_t alo = sa ? -128 : 0, ahi = sa ? 127 : 255;
    const uint32_t bits = bits_, enc = w_encoding_;
    // Code ranges and the codes of the extreme w' values.
    int32_t clo, chi, cmin, cmax;  // code range; codes of the smallest / largest value
    if (enc == CRUMB_ENC_UNSIGNED || enc == CRUMB_ENC_BIPOLAR) {
      clo = 0, chi = (1 << bits) - 1, cmin = clo, cmax = chi;
    } else if (enc == CRUMB_ENC_TERNARY) {
      clo = -1, chi = 1, cmin = -1, cmax = 1;
    } else {
      clo = -(1 << (bits - 1)), chi = (1 << (bits - 1)) - 1, cmin = clo, cmax = chi;
    }
    const int32_t za = std::min(std::max(a_zero_point_, alo), ahi);

    // Weights (codes as stored) and zero points.
    std::vector<int32_t> wcode(n_ * kk);
    std::uniform_int_distribution<int32_t> cd(clo, chi);
    for (auto& c : wcode) {
      switch (fill_) {
        case DotFill::kActMaxWMin:
          c = cmin;
          break;
        case DotFill::kActMaxWMax:
        case DotFill::kActMinWMax:
          c = cmax;
          break;
        default:
          c = cd(rng);
          break;
      }
    }
    std::vector<int32_t> zw(n_, crumb_dot_weight_bias(bits, enc));
    if (w_zero_points_ == ZeroPoints::kRandom || fill_ == DotFill::kZeroPoints) {
      for (size_t i = 0; i < n_; i++) zw[i] = DotValue(cd(rng), bits, enc);
    }
    if (fill_ == DotFill::kZeroPoints) {
      // Every weight equal to its channel's zero point (where a code has that value).
      for (size_t i = 0; i < n_; i++) {
        int32_t code = clo;
        for (int32_t c = clo; c <= chi; c++)
          if (DotValue(c, bits, enc) == zw[i]) code = c;
        for (size_t j = 0; j < kk; j++) wcode[i * kk + j] = code;
      }
    }
    std::vector<int32_t> wvalue(wcode.size());
    for (size_t i = 0; i < wcode.size(); i++) wvalue[i] = DotValue(wcode[i], bits, enc);
    const size_t packed_size = crumb_dot_packed_size(n_, ks, k_, bits);
    FencedBytes packed(packed_size);
    crumb_dot_pack(wcode.data(), n_, ks, k_, bits, enc, packed.data());

    // Activations: `pixels` rows of a_offset + k codes, a_stride apart; the last row ends at the
    // fence. IGEMM: a 1-D image with ks / 2 zero taps at both ends.
    const size_t pad = ks / 2;
    const size_t pixels =
        igemm ? std::max<size_t>(m_ + ks - 1 - 2 * pad, 1) : std::max<size_t>(m_, 1);
    const size_t row = a_offset_ + k_;
    const size_t astride = std::max(a_stride_, row);
    FencedBytes abuf((pixels - 1) * astride + row);
    memset(abuf.data(), 0x5A, abuf.size());
    std::vector<int32_t> a(pixels * k_);
    std::uniform_int_distribution<int32_t> ad(alo, ahi);
    for (auto& x : a) {
      switch (fill_) {
        case DotFill::kActMaxWMin:
        case DotFill::kActMaxWMax:
          x = ahi;
          break;
        case DotFill::kActMinWMax:
          x = alo;
          break;
        case DotFill::kZeroPoints:
          x = za;
          break;
        default:
          x = ad(rng);
          break;
      }
    }
    for (size_t p = 0; p < pixels; p++)
      for (size_t c = 0; c < k_; c++)
        abuf.data()[p * astride + a_offset_ + c] = (uint8_t)a[p * k_ + c];
    FencedBytes zero(k_);
    memset(zero.data(), (uint8_t)za, k_);

    // Epilogue parameters: outputs spread over the code range.
    std::vector<float> mul(n_), add(n_);
    const float span =
        255.0f * (float)std::max(1, (1 << bits) - 1) * std::sqrt((float)std::max<size_t>(kk, 1));
    for (size_t i = 0; i < n_; i++) {
      mul[i] = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) *
               (out_type_ == CRUMB_ELEM_F32 ? 0.01f : 255.0f / span);
      add[i] = std::uniform_real_distribution<float>(-5.0f, 5.0f)(rng);
    }
    if (fill_ != DotFill::kRandom) {
      // Extreme accumulators: scale them into the output range so the bits are checked.
      const float big = 255.0f * 128.0f * (float)std::max<size_t>(kk, 1);
      for (size_t i = 0; i < n_; i++) mul[i] = (out_type_ == CRUMB_ELEM_F32 ? 1.0f : 100.0f) / big;
    }
    const int32_t olo = out_type_ == CRUMB_ELEM_U8 ? 0 : -128;
    const int32_t ohi = out_type_ == CRUMB_ELEM_U8 ? 255 : 127;
    crumb_gemm_params p{};
    p.a_type = a_type_;
    p.a_zero_point = za;
    p.w_bits = bits;
    p.w_encoding = enc;
    p.w_row_bytes = 0;  // not read by dot kernels
    p.w_zero_point = zw.data();
    p.mul = mul.data();
    p.add = add.data();
    p.out = ClippedOutput(out_type_, olo, ohi, out_zero_point_, qmin_, qmax_);
    const size_t elem = out_type_ == CRUMB_ELEM_F32 ? 4 : 1;
    const size_t cstride = std::max(c_stride_, n_) * elem;
    GuardedOutput out(m_, n_ * elem, cstride);
    // Scratch as the contract sizes it, with a fence after it.
    FencedBytes scratch(crumb_dot_scratch_bytes(ks, k_, bits) / 64 * 64);
    int32_t* scratch_ptr = null_scratch_ ? nullptr : reinterpret_cast<int32_t*>(scratch.data());

    // Padding taps point at the zero row itself; real taps at the pixel row minus a_offset.
    std::vector<int32_t> rows;
    std::vector<const void*> indirection;
    Im2col(m_, ks, k_, pixels, pad, igemm != nullptr, a, za, abuf.data(), astride, zero.data(),
           &rows, &indirection);
    if (igemm && zero_taps_ > 0) {
      std::uniform_int_distribution<uint32_t> pct(0, 99);
      for (size_t r = 0; r < m_; r++) {
        for (size_t t = 0; t < ks; t++) {
          if (pct(rng) >= zero_taps_) continue;
          indirection[r * ks + t] = zero.data();
          for (size_t c = 0; c < k_; c++) rows[r * kk + t * k_ + c] = za;
        }
      }
    }
    if (gemm) {
      gemm(m_, n_, k_, abuf.data() + a_offset_, astride, packed.data(), out.data(), cstride, &p,
           scratch_ptr);
    } else {
      igemm(m_, n_, k_, ks, indirection.data(), a_offset_, zero.data(), packed.data(), out.data(),
            cstride, &p, scratch_ptr);
    }
    out.CheckGuards();
    const RefOutputs want =
        Reference(m_, n_, kk, rows, za, wvalue, zw, mul.data(), add.data(), p.out);
    for (size_t r = 0; r < m_; r++) {
      ASSERT_NO_FATAL_FAILURE(ExpectRow(out.data() + r * cstride, r, 0, n_, out_type_, want));
    }
  }

  std::string Describe(bool igemm) const {
    char s[256];
    snprintf(s, sizeof(s),
             "%s m=%zu n=%zu k=%zu ks=%zu bits=%u enc=%u a_type=%u za=%d zw=%d out=%u zo=%d "
             "q=[%d,%d] fill=%d a_offset=%zu zero_taps=%u%% seed=%u%s",
             igemm ? "igemm" : "gemm", m_, n_, k_, igemm ? ks_ : 1, bits_, w_encoding_, a_type_,
             a_zero_point_, (int)w_zero_points_, out_type_, out_zero_point_, qmin_, qmax_,
             (int)fill_, a_offset_, zero_taps_, seed_, null_scratch_ ? " scratch=NULL" : "");
    return s;
  }

  size_t m_ = 1, n_ = 1, k_ = 1, ks_ = 9, a_stride_ = 0, a_offset_ = 0, c_stride_ = 0;
  uint32_t bits_ = 4, w_encoding_ = CRUMB_ENC_SIGNED, a_type_ = CRUMB_ELEM_U8,
           out_type_ = CRUMB_ELEM_U8, zero_taps_ = 0;
  int32_t a_zero_point_ = 3, out_zero_point_ = 5, qmin_ = -1000, qmax_ = 1000;
  ZeroPoints w_zero_points_ = ZeroPoints::kSymmetric;
  DotFill fill_ = DotFill::kRandom;
  uint32_t seed_ = 1;
  bool null_scratch_ = false;
};

}  // namespace crumb_test
