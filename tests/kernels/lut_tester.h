// Tester of the lut family's GEMM / IGEMM contract (kernels/lut/lut.h): chained setters, seeded
// random data plus edge fills, garbage in every byte a kernel must ignore (row padding codes,
// stride gaps), guard bytes around the output, ASSERT_EQ against kernels/reference.
#pragma once

#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/lut/lut.h"
#include "kernels/reference/lut_reference.h"
#include "kernels/reference/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {

using LutIsa = KernelIsa;

enum class LutFill { kRandom, kMax, kMin };

class LutGemmTester {
 public:
#define CRUMB_SETTER(type, name) CRUMB_TESTER_SETTER(LutGemmTester, type, name)
  CRUMB_SETTER(size_t, m)
  CRUMB_SETTER(size_t, n)
  CRUMB_SETTER(size_t, k)
  CRUMB_SETTER(size_t, ks)        // IGEMM taps
  CRUMB_SETTER(size_t, n_first)   // call for channels [n_first, n) (a multiple of 64)
  CRUMB_SETTER(unsigned, a_bits)  // 2, 3, 4
  CRUMB_SETTER(unsigned, w_bits)  // 1, 2
  CRUMB_SETTER(uint32_t, w_encoding)
  CRUMB_SETTER(int32_t, w_zero_point)           // unsigned weights: a per-tensor zero point
  CRUMB_SETTER(bool, w_zero_point_per_channel)  // unsigned: zw[n] random in {lo, lo + 1}
  CRUMB_SETTER(int32_t, a_zero_point)
  CRUMB_SETTER(uint32_t, out_type)  // CRUMB_ELEM_*
  CRUMB_SETTER(unsigned, out_bits)  // 8, 2, 4
  CRUMB_SETTER(int32_t, out_zero_point)
  CRUMB_SETTER(int32_t, qmin)
  CRUMB_SETTER(int32_t, qmax)
  CRUMB_SETTER(size_t, a_stride_extra)  // bytes between activation rows beyond the row
  CRUMB_SETTER(size_t, a_offset)        // IGEMM: the a_offset argument
  CRUMB_SETTER(size_t, c_stride_extra)
  CRUMB_SETTER(LutFill, a_fill)
  CRUMB_SETTER(LutFill, w_fill)
  CRUMB_SETTER(uint32_t, seed)

  CRUMB_SETTER(uint32_t, a_type)  // GEMV: CRUMB_ELEM_U8 / CRUMB_ELEM_S8 8-bit codes

  void Test(crumb_lutgemm_ukernel_fn* gemm) const { Run(gemm, nullptr, nullptr); }
  void Test(crumb_lutigemm_ukernel_fn* igemm) const { Run(nullptr, igemm, nullptr); }
  // GEMV: one row (m is 1), 8-bit activations one code per byte.
  void Test(crumb_lutgemv_ukernel_fn* gemv) const { Run(nullptr, nullptr, gemv); }
#undef CRUMB_SETTER

 private:
  void Run(crumb_lutgemm_ukernel_fn* gemm, crumb_lutigemm_ukernel_fn* igemm,
           crumb_lutgemv_ukernel_fn* gemv) const {
    const size_t m_ = gemv ? 1 : this->m_;
    std::mt19937 rng(seed_);
    auto uni = [&](int32_t lo, int32_t hi) {
      return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
    };
    const size_t ks = igemm ? ks_ : 1;
    const size_t kk = ks * k_;
    // GEMV: 8-bit codes, one per byte (s8 or u8); else a_bits-bit unsigned codes, packed.
    const unsigned a_bits = gemv ? 8 : a_bits_;
    const int32_t amin = gemv && a_type_ == CRUMB_ELEM_S8 ? -128 : 0;
    const int32_t amax = gemv ? amin + 255 : (1 << a_bits) - 1;
    const int32_t za = std::min(std::max(a_zero_point_, amin), amax);
    const unsigned sb = gemv ? 8 : crumb_lut_storage_bits(a_bits);

    // Activations: one row per pixel of a 1-D image padded by ks / 2 (IGEMM), else m rows.
    const size_t pad = ks / 2;
    const size_t pixels = igemm ? m_ + ks - 1 - 2 * pad : m_;
    auto code = [&](LutFill f) {
      return f == LutFill::kMax ? amax : f == LutFill::kMin ? amin : uni(amin, amax);
    };
    std::vector<int32_t> a(std::max<size_t>(pixels, 1) * k_);
    for (auto& x : a) x = code(a_fill_);
    const size_t row_bytes = gemv ? k_ : crumb_lut_act_row_bytes(k_, a_bits);
    const size_t a_stride = row_bytes + a_stride_extra_;
    // Every byte the kernel must not interpret is garbage: padding codes of a row, stride gaps.
    std::vector<uint8_t> abytes(a_offset_ + std::max<size_t>(pixels, 1) * a_stride + 64);
    for (auto& b : abytes) b = (uint8_t)rng();
    std::vector<int32_t> a_stored = a;  // s8 codes stored as their bytes
    for (auto& x : a_stored) x &= (1 << sb) - 1;
    const std::vector<uint8_t> packed_a =
        crumb::ref::PackCodesLsb(a_stored, (int)pixels, (int)k_, (int)sb, (int)row_bytes);
    for (size_t p = 0; p < pixels; p++) {
      uint8_t* row = abytes.data() + a_offset_ + p * a_stride;
      memcpy(row, packed_a.data() + p * row_bytes, row_bytes);
      for (size_t c = k_; c < row_bytes * 8 / sb; c++) {
        const uint32_t garbage = (uint32_t)uni(0, (1 << sb) - 1);
        row[c * sb / 8] = (uint8_t)((row[c * sb / 8] & ~(((1u << sb) - 1) << (c * sb % 8))) |
                                    garbage << (c * sb % 8));
      }
    }
    std::vector<int32_t> zero_codes(k_, za & ((1 << sb) - 1));
    std::vector<uint8_t> zero =
        crumb::ref::PackCodesLsb(zero_codes, 1, (int)k_, (int)sb, (int)row_bytes);
    for (size_t c = k_; c < row_bytes * 8 / sb; c++)
      zero[c * sb / 8] |= (uint8_t)(uni(0, (1 << sb) - 1) << (c * sb % 8));

    // Weights: codes of the encoding, as ROWS_LSB.
    int32_t qlo, qhi;
    WeightCodeRange(w_encoding_, w_bits_, &qlo, &qhi);
    std::vector<int32_t> zw(n_, 0);
    if (w_encoding_ == CRUMB_ENC_UNSIGNED) {
      for (auto& z : zw) z = w_zero_point_per_channel_ ? w_zero_point_ + uni(0, 1) : w_zero_point_;
    }
    std::vector<int32_t> wcodes(n_ * kk);
    for (auto& x : wcodes)
      x = w_fill_ == LutFill::kMax ? qhi : w_fill_ == LutFill::kMin ? qlo : uni(qlo, qhi);
    const std::vector<int32_t> wvalues = WeightValues(wcodes, w_encoding_);
    std::vector<uint8_t> rows(crumb_rows_lsb_size(n_, kk, w_bits_) + 1);
    crumb_pack_rows_lsb(wcodes.data(), n_, kk, w_bits_, rows.data());
    std::vector<uint8_t> w(crumb_lut_packed_size(n_, ks, k_) + 64);
    for (auto& b : w) b = 0xEE;
    ASSERT_EQ(crumb_lut_pack(rows.data(), w_bits_, w_encoding_, zw.data(), n_, ks, k_, w.data()), 1)
        << "the packer refused the weights";
    int8_t vmap[4];
    ASSERT_EQ(crumb_lut_value_map(w_bits_, w_encoding_, zw.data(), n_, vmap), 1);
    // Kernels read the table with aligned loads: 64-byte aligned, as crumb_lut_init_table asks.
    const unsigned table_bits = gemv ? 4 : a_bits;
    std::vector<uint8_t> table_bytes(crumb_lut_table_size(table_bits) + 64);
    uint8_t* table = table_bytes.data() + (64 - (uintptr_t)table_bytes.data() % 64) % 64;
    crumb_lut_init_table(vmap, table_bits, table);

    // Epilogue: multipliers spread the outputs over the codes' range, plus offsets.
    std::vector<float> mul(n_), add(n_);
    const bool packed_out = out_bits_ == 2 || out_bits_ == 4;
    const uint32_t otype = packed_out ? (uint32_t)CRUMB_ELEM_U8 : out_type_;
    int32_t olo = otype == CRUMB_ELEM_U8 ? 0 : -128, ohi = otype == CRUMB_ELEM_U8 ? 255 : 127;
    if (packed_out) ohi = (1 << out_bits_) - 1;
    const float span = (float)(amax - amin) * 2.0f * std::sqrt((float)std::max<size_t>(kk, 1));
    for (size_t i = 0; i < n_; i++) {
      mul[i] = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) *
               (otype == CRUMB_ELEM_F32 ? 0.01f : (float)(ohi - olo + 1) / span);
      add[i] = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
    }
    crumb_lut_params p{};
    p.table = table;
    p.a_zero_point = za;
    p.a_type = a_type_;
    p.out_bits = packed_out ? out_bits_ : 8;
    p.mul = mul.data() + n_first_;
    p.add = add.data() + n_first_;
    p.out = ClippedOutput(otype, olo, ohi, out_zero_point_, qmin_, qmax_);

    // Output rows with guard bytes before, after and between them.
    const size_t out_row_bytes =
        packed_out ? (n_ * out_bits_ + 7) / 8 : n_ * (otype == CRUMB_ELEM_F32 ? 4 : 1);
    const size_t c_stride = out_row_bytes + c_stride_extra_;
    const size_t first_byte =
        packed_out ? n_first_ * out_bits_ / 8 : n_first_ * (otype == CRUMB_ELEM_F32 ? 4 : 1);
    GuardedRows out(m_, out_row_bytes, c_stride);
    uint8_t* c = out.data();
    constexpr uint8_t kGuard = GuardedRows::kByte;
    constexpr size_t kGuardBytes = GuardedRows::kPad;

    // The im2col rows of the reference, and the indirection buffer.
    std::vector<int32_t> im2col;
    std::vector<const void*> indirection;
    Im2col(m_, ks, k_, pixels, pad, igemm != nullptr, a, za, abytes.data(), a_stride, zero.data(),
           &im2col, &indirection);
    const size_t nc = n_ - n_first_;
    const uint8_t* wcall = w.data() + (n_first_ / CRUMB_LUT_NR) * crumb_lut_block_bytes(ks, k_);
    std::vector<uint8_t> scratch(crumb_lut_gemv_scratch_size(k_) + 2 * kGuardBytes, kGuard);
    if (gemv) {
      gemv(nc, k_, abytes.data() + a_offset_, wcall, c + first_byte, &p,
           scratch.data() + kGuardBytes);
      for (size_t i = 0; i < kGuardBytes; i++) {
        ASSERT_EQ(scratch[i], kGuard) << "the kernel wrote before its scratch";
        ASSERT_EQ(scratch[scratch.size() - 1 - i], kGuard) << "the kernel wrote past its scratch";
      }
    } else if (gemm) {
      gemm(m_, nc, k_, abytes.data() + a_offset_, a_stride, wcall, c + first_byte, c_stride, &p);
    } else {
      igemm(m_, nc, k_, ks, indirection.data(), a_offset_, zero.data(), wcall, c + first_byte,
            c_stride, &p);
    }

    const RefOutputs want =
        Reference(m_, n_, kk, im2col, za, wvalues, zw, mul.data(), add.data(), p.out);

    // Guards: nothing outside [first_byte, row end) of each row changed.
    const size_t call_bytes = out_row_bytes - first_byte;
    ASSERT_NO_FATAL_FAILURE(out.CheckGuards([&](size_t off) {
      return off % c_stride >= first_byte && off % c_stride < first_byte + call_bytes;
    }));
    for (size_t r = 0; r < m_; r++) {
      const uint8_t* row = c + r * c_stride;
      if (packed_out) {
        std::vector<int32_t> codes(n_, 0);
        for (size_t j = n_first_; j < n_; j++) codes[j] = want.q[r * n_ + j];
        const std::vector<uint8_t> want =
            crumb::ref::PackCodesLsb(codes, 1, (int)n_, (int)out_bits_, (int)out_row_bytes);
        for (size_t i = first_byte; i < out_row_bytes; i++) {
          ASSERT_EQ(row[i], want[i]) << "row " << r << " packed byte " << i << " (channels from "
                                     << i * 8 / out_bits_ << ")";
        }
      } else {
        ASSERT_NO_FATAL_FAILURE(ExpectRow(row, r, n_first_, n_, otype, want));
      }
    }
  }

  size_t m_ = 1, n_ = 1, k_ = 1, ks_ = 9, n_first_ = 0;
  unsigned a_bits_ = 2, w_bits_ = 2;
  uint32_t w_encoding_ = CRUMB_ENC_SIGNED;
  int32_t w_zero_point_ = 0;
  bool w_zero_point_per_channel_ = false;
  int32_t a_zero_point_ = 1;
  uint32_t out_type_ = CRUMB_ELEM_U8;
  unsigned out_bits_ = 8;
  int32_t out_zero_point_ = 3, qmin_ = -1000, qmax_ = 1000;
  size_t a_stride_extra_ = 0, a_offset_ = 0, c_stride_extra_ = 0;
  LutFill a_fill_ = LutFill::kRandom, w_fill_ = LutFill::kRandom;
  uint32_t seed_ = 1;
  uint32_t a_type_ = CRUMB_ELEM_U8;
};

}  // namespace crumb_test
