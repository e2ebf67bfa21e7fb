// Every kernel of kernels/bitserial/bitserial.inc that this CPU runs against kernels/reference, and
// the family's packers (BITSERIAL_N64 weights, CHANNELS_PLANES64 activations) round trip.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/reference/reference.h"
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {
namespace {

enum class Fill { kRandom, kMax, kMin };

// Plain bit loops, independent of the packers: rows of CHANNELS_PLANES64 planes (plane i, channel
// c at bit c of the plane's bytes), everything else of the row_bytes left as it was.
void PutPlanes(const int32_t* codes, size_t channels, unsigned bits, uint8_t* row) {
  const size_t plane_bytes = 8 * ((channels + 63) / 64);
  for (unsigned i = 0; i < bits; i++) {
    for (size_t c = 0; c < channels; c++) {
      uint8_t& b = row[i * plane_bytes + c / 8];
      b = (uint8_t)((b & ~(1u << (c % 8))) | (((uint32_t)codes[c] >> i) & 1u) << (c % 8));
    }
  }
}
int32_t GetPlaneCode(const uint8_t* row, size_t plane_bytes, size_t c, unsigned bits) {
  int32_t code = 0;
  for (unsigned i = 0; i < bits; i++) code |= ((row[i * plane_bytes + c / 8] >> (c % 8)) & 1) << i;
  return code;
}

// Tester of the GEMM / IGEMM contract (bitserial.h): chained setters, seeded random data plus edge
// fills, garbage in every byte a kernel must ignore (plane padding bits, stride gaps, the zero
// row's padding), guard bytes around the output, ASSERT_EQ against crumb::ref::FullyConnected on
// the im2col rows.
class BsTester {
 public:
#define CRUMB_SETTER(type, name) CRUMB_TESTER_SETTER(BsTester, type, name)
  CRUMB_SETTER(size_t, m)
  CRUMB_SETTER(size_t, n)
  CRUMB_SETTER(size_t, k)
  CRUMB_SETTER(size_t, ks)        // IGEMM taps
  CRUMB_SETTER(size_t, n_first)   // call for channels [n_first, n) (a multiple of 64)
  CRUMB_SETTER(unsigned, a_bits)  // 1, 2
  CRUMB_SETTER(unsigned, w_bits)  // 1, 2
  CRUMB_SETTER(uint32_t, w_encoding)
  CRUMB_SETTER(int32_t, w_zero_point)           // unsigned weights
  CRUMB_SETTER(bool, w_zero_point_per_channel)  // unsigned: zw[n] = w_zero_point + {0, 1}
  CRUMB_SETTER(int32_t, a_zero_point)
  CRUMB_SETTER(uint32_t, out_type)  // CRUMB_ELEM_*
  CRUMB_SETTER(unsigned, out_bits)  // 8, 1, 2
  CRUMB_SETTER(size_t, out_plane_extra)
  CRUMB_SETTER(int32_t, out_zero_point)
  CRUMB_SETTER(int32_t, qmin)
  CRUMB_SETTER(int32_t, qmax)
  CRUMB_SETTER(size_t, a_stride_extra)  // GEMM: bytes between activation rows beyond the row
  CRUMB_SETTER(size_t, a_offset)        // IGEMM: the a_offset argument
  CRUMB_SETTER(size_t, c_stride_extra)
  CRUMB_SETTER(Fill, a_fill)
  CRUMB_SETTER(Fill, w_fill)
  CRUMB_SETTER(bool, ties)  // mul 0.5, add 0 or 0.5: many y exactly halfway between two codes
  CRUMB_SETTER(uint32_t, seed)
#undef CRUMB_SETTER

  void Test(crumb_bsgemm_ukernel_fn* gemm) const { Run(gemm, nullptr); }
  void Test(crumb_bsigemm_ukernel_fn* igemm) const { Run(nullptr, igemm); }

 private:
  void Run(crumb_bsgemm_ukernel_fn* gemm, crumb_bsigemm_ukernel_fn* igemm) const {
    std::mt19937 rng(seed_);
    auto uni = [&](int32_t lo, int32_t hi) {
      return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
    };
    const size_t ks = igemm ? ks_ : 1;
    const size_t kk = ks * k_;
    const int32_t amax = (1 << a_bits_) - 1;
    const int32_t za = std::min(std::max(a_zero_point_, 0), amax);

    // Activations: one row per pixel of a 1-D image padded by ks / 2 (IGEMM), else m rows.
    const size_t pad = ks / 2;
    const size_t pixels = igemm ? m_ + ks - 1 - 2 * pad : m_;
    std::vector<int32_t> a(std::max<size_t>(pixels, 1) * k_);
    for (auto& x : a) x = a_fill_ == Fill::kMax ? amax : a_fill_ == Fill::kMin ? 0 : uni(0, amax);
    const size_t row_bytes = crumb_bitserial_act_row_bytes(k_, a_bits_);
    const size_t a_stride = row_bytes + a_stride_extra_;
    // Garbage everywhere, then the codes' bits: padding bits of each plane stay random.
    std::vector<uint8_t> abytes(a_offset_ + std::max<size_t>(pixels, 1) * a_stride + 64);
    for (auto& b : abytes) b = (uint8_t)rng();
    for (size_t p = 0; p < pixels; p++) {
      PutPlanes(a.data() + p * k_, k_, a_bits_, abytes.data() + a_offset_ + p * a_stride);
    }
    std::vector<uint8_t> zero(row_bytes);
    for (auto& b : zero) b = (uint8_t)rng();
    const std::vector<int32_t> zero_codes(k_, za);
    PutPlanes(zero_codes.data(), k_, a_bits_, zero.data());

    // Weights: codes of the encoding, as ROWS_LSB.
    int32_t qlo, qhi;
    WeightCodeRange(w_encoding_, w_bits_, &qlo, &qhi);
    std::vector<int32_t> zw(n_, 0);
    if (w_encoding_ == CRUMB_ENC_UNSIGNED) {
      for (auto& z : zw) z = w_zero_point_per_channel_ ? w_zero_point_ + uni(0, 1) : w_zero_point_;
    }
    std::vector<int32_t> wcodes(n_ * kk);
    for (auto& x : wcodes)
      x = w_fill_ == Fill::kMax ? qhi : w_fill_ == Fill::kMin ? qlo : uni(qlo, qhi);
    const std::vector<int32_t> wvalues = WeightValues(wcodes, w_encoding_);
    std::vector<uint8_t> rows(crumb_rows_lsb_size(n_, kk, w_bits_) + 1);
    crumb_pack_rows_lsb(wcodes.data(), n_, kk, w_bits_, rows.data());
    std::vector<uint8_t> w(crumb_bitserial_packed_size(n_, ks, k_, w_bits_) + 64, 0xEE);
    ASSERT_EQ(
        crumb_bitserial_pack(rows.data(), w_bits_, w_encoding_, zw.data(), n_, ks, k_, w.data()), 1)
        << "the packer refused the weights";

    // Epilogue: multipliers spread the outputs over the codes' range, plus offsets.
    std::vector<float> mul(n_), add(n_);
    const bool packed_out = out_bits_ == 1 || out_bits_ == 2;
    const uint32_t otype = packed_out ? (uint32_t)CRUMB_ELEM_U8 : out_type_;
    int32_t olo = otype == CRUMB_ELEM_U8 ? 0 : -128, ohi = otype == CRUMB_ELEM_U8 ? 255 : 127;
    if (packed_out) ohi = (1 << out_bits_) - 1;
    const float wspan =
        w_encoding_ == CRUMB_ENC_UNSIGNED ? (float)(qhi + 1) : (float)(qhi - qlo + 1);
    const float span = (float)(amax + 1) * wspan * std::sqrt((float)std::max<size_t>(kk, 1));
    for (size_t i = 0; i < n_; i++) {
      mul[i] = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) *
               (otype == CRUMB_ELEM_F32 ? 0.01f : (float)(ohi - olo + 1) / span);
      add[i] = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng) +
               (packed_out ? (float)(ohi + 1) / 2 : 0.0f);
      if (ties_) mul[i] = 0.5f, add[i] = (float)(i % 2) * 0.5f;
    }
    crumb_bitserial_params p{};
    p.a_zero_point = za;
    p.out_bits = packed_out ? out_bits_ : 8;
    const size_t out_plane_bytes = crumb_bitserial_plane_bytes(n_) + out_plane_extra_;
    p.out_plane_bytes = packed_out ? out_plane_bytes : 0;
    p.mul = mul.data() + n_first_;
    p.add = add.data() + n_first_;
    p.out = ClippedOutput(otype, olo, ohi, out_zero_point_, qmin_, qmax_);

    // Output rows with guard bytes before, after and between them.
    const size_t esize = otype == CRUMB_ELEM_F32 ? 4 : 1;
    const size_t out_row_bytes = packed_out ? out_bits_ * out_plane_bytes : n_ * esize;
    const size_t c_stride = out_row_bytes + c_stride_extra_;
    const size_t first_byte = packed_out ? n_first_ / 8 : n_first_ * esize;
    GuardedRows out(m_, out_row_bytes, c_stride);
    uint8_t* c = out.data();

    // The im2col rows of the reference, and the indirection buffer.
    std::vector<int32_t> im2col;
    std::vector<const void*> indirection;
    Im2col(m_, ks, k_, pixels, pad, igemm != nullptr, a, za, abytes.data(), a_stride, zero.data(),
           &im2col, &indirection);
    const size_t nc = n_ - n_first_;
    const uint8_t* wcall =
        w.data() + (n_first_ / CRUMB_BITSERIAL_NR) * crumb_bitserial_block_bytes(ks, k_, w_bits_);
    if (gemm) {
      gemm(m_, nc, k_, abytes.data() + a_offset_, a_stride, wcall, c + first_byte, c_stride, &p);
    } else {
      igemm(m_, nc, k_, ks, indirection.data(), a_offset_, zero.data(), wcall, c + first_byte,
            c_stride, &p);
    }

    const RefOutputs want =
        Reference(m_, n_, kk, im2col, za, wvalues, zw, mul.data(), add.data(), p.out);

    // Guards: the kernel writes, per row, [first_byte, first_byte + call bytes) of the row, or of
    // each plane: ceil(nc / 64) whole words.
    auto inside = [&](size_t off) {
      const size_t in_row = off % c_stride;
      if (!packed_out) return in_row >= first_byte && in_row < out_row_bytes;
      const size_t plane = in_row / out_plane_bytes, in_plane = in_row % out_plane_bytes;
      return plane < out_bits_ && in_plane >= first_byte &&
             in_plane < first_byte + 8 * ((nc + 63) / 64);
    };
    ASSERT_NO_FATAL_FAILURE(out.CheckGuards(inside));
    for (size_t r = 0; r < m_; r++) {
      const uint8_t* row = c + r * c_stride;
      if (packed_out) {
        for (size_t j = n_first_; j < n_first_ + 64 * ((nc + 63) / 64); j++) {
          const int32_t got = GetPlaneCode(row, out_plane_bytes, j, out_bits_);
          ASSERT_EQ(got, j < n_ ? want.q[r * n_ + j] : 0)
              << "row " << r << " channel " << j << " (packed; >= n: padding)";
        }
      } else {
        ASSERT_NO_FATAL_FAILURE(ExpectRow(row, r, n_first_, n_, otype, want));
      }
    }
  }

  size_t m_ = 1, n_ = 1, k_ = 1, ks_ = 9, n_first_ = 0;
  unsigned a_bits_ = 1, w_bits_ = 1;
  uint32_t w_encoding_ = CRUMB_ENC_BIPOLAR;
  int32_t w_zero_point_ = 0;
  bool w_zero_point_per_channel_ = false;
  int32_t a_zero_point_ = 1;
  uint32_t out_type_ = CRUMB_ELEM_U8;
  unsigned out_bits_ = 8;
  size_t out_plane_extra_ = 0;
  int32_t out_zero_point_ = 3, qmin_ = -1000, qmax_ = 1000;
  size_t a_stride_extra_ = 0, a_offset_ = 0, c_stride_extra_ = 0;
  Fill a_fill_ = Fill::kRandom, w_fill_ = Fill::kRandom;
  bool ties_ = false;
  uint32_t seed_ = 1;
};

struct BsKernel {
  crumb_bsgemm_ukernel_fn* gemm = nullptr;
  crumb_bsigemm_ukernel_fn* igemm = nullptr;
  KernelIsa isa;
  unsigned a_bits, w_bits;
  // The register tile's rows and channels, from which the shapes below are derived.
  size_t mr, nr;
};

// The weights' encodings of w_bits planes, with a zero point for unsigned.
struct Enc {
  uint32_t encoding;
  int32_t zw;
};
std::vector<Enc> EncodingsOf(unsigned w_bits) {
  if (w_bits == 1) {
    return {{CRUMB_ENC_BIPOLAR, 0},
            {CRUMB_ENC_SIGNED, 0},
            {CRUMB_ENC_UNSIGNED, 0},
            {CRUMB_ENC_UNSIGNED, 1}};
  }
  return {{CRUMB_ENC_SIGNED, 0},
          {CRUMB_ENC_TERNARY, 0},
          {CRUMB_ENC_UNSIGNED, 0},
          {CRUMB_ENC_UNSIGNED, 2},
          {CRUMB_ENC_UNSIGNED, 3}};
}

void Run(const BsKernel& kn, const BsTester& t) {
  BsTester u = t;
  u.a_bits(kn.a_bits).w_bits(kn.w_bits);
  if (kn.gemm) u.Test(kn.gemm);
  if (kn.igemm) u.Test(kn.igemm);
}

#define CHECK_RUN(kn, t) CRUMB_RETURN_ON_FATAL(Run(kn, t))

// The default encoding of the kernel's weight bits: bipolar W1, signed W2.
BsTester Base(const BsKernel& kn) {
  return BsTester().w_encoding(kn.w_bits == 1 ? CRUMB_ENC_BIPOLAR : CRUMB_ENC_SIGNED);
}

// Shapes below, at and above the tile and its multiples; K below, at and above the 32- and 64-bit
// words and their multiples.
void Shapes(const BsKernel& kn) {
  const size_t mr = kn.mr, nr = kn.nr;
  uint32_t seed = 1;
  for (size_t m : {(size_t)1, mr - 1, mr, mr + 1, 2 * mr, 3 * mr - 1}) {
    if (m == 0) continue;
    for (size_t ks : {1, 9}) CHECK_RUN(kn, Base(kn).m(m).n(nr + 3).k(45).ks(ks).seed(seed++));
  }
  for (size_t n :
       {(size_t)1, (size_t)15, (size_t)16, (size_t)17, (size_t)31, (size_t)32, (size_t)33,
        (size_t)63, (size_t)64, (size_t)65, nr - 1, nr, nr + 1, 2 * nr, 2 * nr + 64, 2 * nr + 65}) {
    if (n == 0) continue;
    CHECK_RUN(kn, Base(kn).m(mr + 1).n(n).k(37).ks(1).seed(seed++));
    CHECK_RUN(kn, Base(kn).m(mr + 1).n(n).k(37).ks(9).seed(seed++));
  }
  for (size_t k :
       {1, 2, 7, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 129, 191, 192, 256, 300, 513}) {
    for (size_t ks : {1, 9}) CHECK_RUN(kn, Base(kn).m(mr + 2).n(70).k(k).ks(ks).seed(seed++));
  }
  for (size_t ks : {2, 3, 5, 25}) {
    CHECK_RUN(kn, Base(kn).m(mr + 1).n(66).k(40).ks(ks).seed(seed++));
  }
}

void ZeroPointsAndOutputs(const BsKernel& kn) {
  const int32_t amax = (1 << kn.a_bits) - 1;
  uint32_t seed = 100;
  for (int32_t za = 0; za <= amax; za++) {
    for (uint32_t otype : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
      for (size_t ks : {1, 9}) {
        CHECK_RUN(kn, Base(kn)
                          .m(kn.mr + 1)
                          .n(kn.nr + 5)
                          .k(70)
                          .ks(ks)
                          .a_zero_point(za)
                          .out_type(otype)
                          .out_zero_point(otype == CRUMB_ELEM_U8 ? 128 : -7)
                          .seed(seed++));
      }
    }
  }
  // Packed outputs for the next low-bit layer (CHANNELS_PLANES64): every tail of the last word,
  // gaps between the planes, calls on a later block.
  for (unsigned ob : {1u, 2u}) {
    for (size_t n : {1, 2, 31, 32, 33, 63, 64, 65, 127, 130, 200}) {
      for (size_t ks : {1, 9}) {
        CHECK_RUN(kn, Base(kn).m(kn.mr + 1).n(n).k(40).ks(ks).out_bits(ob).out_zero_point(0).seed(
                          seed++));
      }
    }
    CHECK_RUN(
        kn, Base(kn).m(3).n(70).k(77).ks(9).out_bits(ob).out_plane_extra(24).c_stride_extra(8).seed(
                seed++));
    CHECK_RUN(kn, Base(kn).m(3).n(70).k(21).ks(9).out_bits(ob).qmin(1).qmax(1).seed(seed++));
    for (int32_t za = 0; za <= amax; za++) {
      CHECK_RUN(kn, Base(kn)
                        .m(kn.mr + 2)
                        .n(kn.nr + 64)
                        .k(65)
                        .ks(9)
                        .out_bits(ob)
                        .a_zero_point(za)
                        .seed(seed++));
    }
  }
  // Round half to even at the clamp edges and inside: small K makes acc small, mul 0.5 puts y on
  // halves (1-bit outputs compare y with lo + 0.5, whose tie goes to the even code).
  for (unsigned ob : {8u, 2u, 1u}) {
    for (int32_t z : {0, 1, 2, 3}) {
      for (size_t k : {1, 2, 3}) {
        for (size_t ks : {1, 9}) {
          CHECK_RUN(kn, Base(kn)
                            .m(kn.mr + 1)
                            .n(kn.nr + 3)
                            .k(k)
                            .ks(ks)
                            .out_bits(ob)
                            .out_zero_point(z)
                            .ties(true)
                            .seed(seed++));
        }
      }
    }
  }
  ClampRangeCases(Base(kn), kn.mr, kn.nr, &seed, SweepRunner(Run, kn));
}

void StridesAndOffsets(const BsKernel& kn) {
  uint32_t seed = 200;
  StridesAndOffsetsCases(Base(kn), kn.mr, kn.nr, 70, 33, {8u, 2u, 1u}, &seed, SweepRunner(Run, kn));
}

void Encodings(const BsKernel& kn) {
  uint32_t seed = 300;
  for (Enc e : EncodingsOf(kn.w_bits)) {
    for (size_t ks : {1, 9}) {
      for (size_t k : {29, 64, 100}) {
        const int32_t za = (int32_t)seed % (1 << kn.a_bits);
        CHECK_RUN(kn, BsTester()
                          .m(kn.mr + 1)
                          .n(kn.nr + 1)
                          .k(k)
                          .ks(ks)
                          .w_encoding(e.encoding)
                          .w_zero_point(e.zw)
                          .a_zero_point(za)
                          .seed(seed++));
      }
    }
    if (e.encoding == CRUMB_ENC_UNSIGNED) {
      CHECK_RUN(kn, BsTester()
                        .m(kn.mr + 1)
                        .n(kn.nr + 1)
                        .k(50)
                        .ks(9)
                        .w_encoding(e.encoding)
                        .w_zero_point(e.zw)
                        .w_zero_point_per_channel(true)
                        .seed(seed++));
    }
  }
}

// Edge fills: activations all at the maximum code or all zero (with the zero point at the other
// end), weights all at either end of every encoding, K long enough for int32 sums far from 0.
void Extremes(const BsKernel& kn) {
  uint32_t seed = 400;
  const int32_t amax = (1 << kn.a_bits) - 1;
  for (Fill af : {Fill::kMax, Fill::kMin}) {
    for (Fill wf : {Fill::kMax, Fill::kMin}) {
      for (auto [k, ks] : {std::pair<size_t, size_t>{8192, 1}, {2047, 1}, {1200, 9}, {64, 9}}) {
        for (Enc e : EncodingsOf(kn.w_bits)) {
          CHECK_RUN(kn, BsTester()
                            .m(kn.mr + 1)
                            .n(kn.nr + 1)
                            .k(k)
                            .ks(ks)
                            .a_fill(af)
                            .w_fill(wf)
                            .w_encoding(e.encoding)
                            .w_zero_point(e.zw)
                            .a_zero_point(af == Fill::kMin ? amax : 0)
                            .out_type(CRUMB_ELEM_F32)
                            .seed(seed++));
        }
      }
    }
  }
  // Long K with random data and every output format.
  for (unsigned ob : {8u, 2u, 1u}) {
    CHECK_RUN(kn, Base(kn).m(kn.mr + 1).n(kn.nr).k(4100).ks(1).out_bits(ob).seed(seed++));
    CHECK_RUN(kn, Base(kn).m(kn.mr + 1).n(kn.nr).k(520).ks(9).out_bits(ob).seed(seed++));
  }
}

#define CRUMB_BS_KERNEL_DESC(kind, name, isa_tag, abits, wbits)                    \
  BsKernel Desc_##name() {                                                         \
    BsKernel k;                                                                    \
    k.CRUMB_BS_FN_##kind = name;                                                   \
    k.isa = KernelIsa::isa_tag;                                                    \
    k.a_bits = abits;                                                              \
    k.w_bits = wbits;                                                              \
    TileOf(#name, &k.mr, &k.nr);                                                   \
    return k;                                                                      \
  }                                                                                \
  CRUMB_ISA_FIXTURE(Bs_##name, isa_tag)                                            \
  TEST_F(Bs_##name, Shapes) { Shapes(Desc_##name()); }                             \
  TEST_F(Bs_##name, ZeroPointsAndOutputs) { ZeroPointsAndOutputs(Desc_##name()); } \
  TEST_F(Bs_##name, StridesAndOffsets) { StridesAndOffsets(Desc_##name()); }       \
  TEST_F(Bs_##name, Encodings) { Encodings(Desc_##name()); }                       \
  TEST_F(Bs_##name, Extremes) { Extremes(Desc_##name()); }
#define CRUMB_BS_FN_bsgemm gemm
#define CRUMB_BS_FN_bsigemm igemm
#define CRUMB_BITSERIAL_UKERNEL(kind, name, isa_tag, abits, wbits) \
  CRUMB_BS_KERNEL_DESC(kind, name, isa_tag, abits, wbits)
#include "kernels/bitserial/bitserial.inc"

// ------------------------------------------------------------------------------- packers
TEST(BitserialPack, Supports) {
  EXPECT_TRUE(crumb_bitserial_supports(1, CRUMB_ENC_BIPOLAR));
  EXPECT_TRUE(crumb_bitserial_supports(1, CRUMB_ENC_SIGNED));
  EXPECT_TRUE(crumb_bitserial_supports(1, CRUMB_ENC_UNSIGNED));
  EXPECT_TRUE(crumb_bitserial_supports(2, CRUMB_ENC_SIGNED));
  EXPECT_TRUE(crumb_bitserial_supports(2, CRUMB_ENC_TERNARY));
  EXPECT_TRUE(crumb_bitserial_supports(2, CRUMB_ENC_UNSIGNED));
  EXPECT_FALSE(crumb_bitserial_supports(2, CRUMB_ENC_BIPOLAR));
  EXPECT_FALSE(crumb_bitserial_supports(1, CRUMB_ENC_TERNARY));
  EXPECT_FALSE(crumb_bitserial_supports(3, CRUMB_ENC_SIGNED));
  EXPECT_FALSE(crumb_bitserial_supports(0, CRUMB_ENC_SIGNED));
}

TEST(BitserialPack, RefusesWhatItCannotRepresent) {
  const int32_t zw[2] = {0, 0};
  const uint8_t rows[2] = {0x02, 0x00};  // ternary code -2 first
  std::vector<uint8_t> dst(crumb_bitserial_packed_size(2, 1, 4, 2), 0x5A);
  EXPECT_EQ(crumb_bitserial_pack(rows, 2, CRUMB_ENC_TERNARY, zw, 2, 1, 4, dst.data()), 0);
  EXPECT_EQ(crumb_bitserial_pack(rows, 3, CRUMB_ENC_SIGNED, zw, 2, 1, 2, dst.data()), 0);
  for (uint8_t b : dst) ASSERT_EQ(b, 0x5A) << "a refused pack wrote its output";
}

// Codes -> ROWS_LSB -> BITSERIAL_N64 -> values: the values the reference multiplies, every
// encoding, n / ks / kc across block and word edges; the layout's bits and header fields by a
// plain loop; a corrupted bit or a non-zero padding bit is caught.
TEST(BitserialPack, WeightsRoundTrip) {
  std::mt19937 rng(5);
  for (unsigned bits : {1u, 2u}) {
    for (Enc e : EncodingsOf(bits)) {
      for (size_t n : {1, 63, 64, 65, 130}) {
        for (size_t ks : {1, 9}) {
          for (size_t kc : {1, 5, 31, 32, 33, 64, 65, 100}) {
            const int32_t lo = e.encoding == CRUMB_ENC_TERNARY  ? -1
                               : e.encoding == CRUMB_ENC_SIGNED ? -(1 << (bits - 1))
                                                                : 0;
            const int32_t hi = e.encoding == CRUMB_ENC_TERNARY  ? 1
                               : e.encoding == CRUMB_ENC_SIGNED ? (1 << (bits - 1)) - 1
                                                                : (1 << bits) - 1;
            const size_t kk = ks * kc;
            std::vector<int32_t> codes(n * kk);
            for (auto& c : codes) c = std::uniform_int_distribution<int32_t>(lo, hi)(rng);
            std::vector<int32_t> zw(n);
            for (auto& z : zw)
              z = e.encoding == CRUMB_ENC_UNSIGNED ? e.zw + (int32_t)(rng() % 2) : 0;
            std::vector<uint8_t> rows(crumb_rows_lsb_size(n, kk, bits));
            crumb_pack_rows_lsb(codes.data(), n, kk, bits, rows.data());
            const size_t size = crumb_bitserial_packed_size(n, ks, kc, bits);
            ASSERT_EQ(size % 64, 0u);
            std::vector<uint8_t> packed(size + 64, 0xA5);
            ASSERT_EQ(crumb_bitserial_pack(rows.data(), bits, e.encoding, zw.data(), n, ks, kc,
                                           packed.data()),
                      1);
            for (size_t i = size; i < packed.size(); i++) ASSERT_EQ(packed[i], 0xA5) << "overrun";
            std::vector<int32_t> back(n * kk, 12345);
            ASSERT_EQ(crumb_bitserial_unpack(packed.data(), bits, n, ks, kc, back.data()), 1);
            for (size_t o = 0; o < n; o++) {
              for (size_t i = 0; i < kk; i++) {
                const int32_t q = codes[o * kk + i];
                const int32_t v = e.encoding == CRUMB_ENC_BIPOLAR ? 2 * q - 1 : q - zw[o];
                ASSERT_EQ(back[o * kk + i], v) << "bits " << bits << " enc " << e.encoding << " n "
                                               << n << " ks " << ks << " kc " << kc;
              }
            }
            // The layout by a plain loop: plane j of u = v + beta (bipolar: the code) at bit k % 32
            // of lane o % 64 of the row of (t, k / 32, j).
            const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, bits);
            for (size_t o = 0; o < n; o++) {
              const uint8_t* block = packed.data() + (o / 64) * block_bytes;
              int32_t beta, shift, vsum;
              memcpy(&beta, block + 256 + 4 * (o % 64), 4);
              memcpy(&shift, block + 768, 4);
              memcpy(&vsum, block + 4 * (o % 64), 4);
              ASSERT_EQ(shift, e.encoding == CRUMB_ENC_BIPOLAR ? 1 : 0);
              int32_t want_sum = 0;
              for (size_t t = 0; t < ks; t++) {
                for (size_t k = 0; k < kc; k++) {
                  const int32_t v = back[o * kk + t * kc + k];
                  want_sum += v;
                  const uint32_t u = (uint32_t)(v + beta) >> shift;
                  for (unsigned j = 0; j < bits; j++) {
                    const uint8_t* row =
                        block + 832 + ((t * ((kc + 31) / 32) + k / 32) * bits + j) * 256;
                    ASSERT_EQ((row[4 * (o % 64) + (k % 32) / 8] >> (k % 8)) & 1, (u >> j) & 1);
                  }
                }
              }
              ASSERT_EQ(vsum, want_sum);
              int32_t hsum, want_hsum = 0;
              memcpy(&hsum, block + 512 + 4 * (o % 64), 4);
              for (size_t i = 0; i < kk && bits == 2; i++) {
                const int32_t u = back[o * kk + i] + beta;
                want_hsum -= u == 0 ? 4 : u == 1 ? 2 : 0;
              }
              ASSERT_EQ(hsum, want_hsum);
            }
            // A flipped weight bit breaks vsum; a set padding bit is refused.
            packed[832] ^= 1;
            ASSERT_EQ(crumb_bitserial_unpack(packed.data(), bits, n, ks, kc, back.data()), 0);
            packed[832] ^= 1;
            if (kc % 32) {
              // Lane 0, bit 31 of the tap's last word (plane 0): k >= kc.
              const size_t at = 832 + ((kc - 1) / 32) * bits * 256 + 3;
              packed[at] ^= 0x80;
              ASSERT_EQ(crumb_bitserial_unpack(packed.data(), bits, n, ks, kc, back.data()), 0);
              packed[at] ^= 0x80;
            }
          }
        }
      }
    }
  }
}

TEST(BitserialPack, ActivationsRoundTrip) {
  std::mt19937 rng(7);
  for (unsigned bits : {1u, 2u}) {
    for (size_t channels : {1, 2, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 128, 129}) {
      const size_t pixels = 5, in_stride = channels + 3;
      const size_t row_bytes = crumb_bitserial_act_row_bytes(channels, bits);
      ASSERT_EQ(row_bytes, bits * 8 * ((channels + 63) / 64));
      std::vector<uint8_t> codes(pixels * in_stride, 0xEE);
      for (size_t p = 0; p < pixels; p++) {
        for (size_t c = 0; c < channels; c++)
          codes[p * in_stride + c] = (uint8_t)(rng() % (1u << bits));
      }
      const size_t dst_stride = row_bytes + 2;
      std::vector<uint8_t> packed(pixels * dst_stride, 0xCC);
      crumb_bitserial_pack_act(codes.data(), pixels, channels, in_stride, bits, packed.data(),
                               dst_stride);
      for (size_t p = 0; p < pixels; p++) {
        std::vector<int32_t> flat(channels);
        for (size_t c = 0; c < channels; c++) flat[c] = codes[p * in_stride + c];
        std::vector<uint8_t> want(row_bytes, 0);  // padding bits 0
        PutPlanes(flat.data(), channels, bits, want.data());
        for (size_t i = 0; i < row_bytes; i++) {
          ASSERT_EQ(packed[p * dst_stride + i], want[i])
              << bits << "-bit, " << channels << " channels, pixel " << p << " byte " << i;
        }
        for (size_t i = row_bytes; i < dst_stride; i++) ASSERT_EQ(packed[p * dst_stride + i], 0xCC);
      }
      std::vector<uint8_t> back(pixels * in_stride, 0xEE);
      crumb_bitserial_unpack_act(packed.data(), pixels, channels, dst_stride, bits, back.data(),
                                 in_stride);
      ASSERT_EQ(back, codes);
    }
  }
}

}  // namespace
}  // namespace crumb_test
