// Every kernel of kernels/lut/lut.inc against kernels/reference, and the family's packers.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>

#include "lut_tester.h"

namespace crumb_test {
namespace {

struct LutKernel {
  crumb_lutgemm_ukernel_fn* gemm = nullptr;
  crumb_lutigemm_ukernel_fn* igemm = nullptr;
  LutIsa isa;
  unsigned a_bits;
  // The register tile's rows and channels, from which the shapes below are derived.
  size_t mr, nr;
};

void Run(const LutKernel& kn, const LutGemmTester& t) {
  LutGemmTester u = t;
  u.a_bits(kn.a_bits);
  if (kn.gemm) u.Test(kn.gemm);
  if (kn.igemm) u.Test(kn.igemm);
}

#define CHECK_RUN(kn, t) CRUMB_RETURN_ON_FATAL(Run(kn, t))

// Shapes below, at and above the tile and its multiples; K below, at and above the 4-code step,
// odd (pair padding), and long enough for several accumulation groups.
void Shapes(const LutKernel& kn) {
  const size_t mr = kn.mr, nr = kn.nr;
  uint32_t seed = 1;
  for (size_t m : {(size_t)1, mr - 1, mr, mr + 1, 2 * mr, 3 * mr - 1}) {
    if (m == 0) continue;
    for (size_t ks : {1, 9}) {
      CHECK_RUN(kn, LutGemmTester().m(m).n(nr + 3).k(13).ks(ks).seed(seed++));
    }
  }
  for (size_t n : {(size_t)1, (size_t)17, (size_t)63, (size_t)64, (size_t)65, nr - 1, nr, nr + 1,
                   2 * nr, 2 * nr + 64, 2 * nr + 65}) {
    CHECK_RUN(kn, LutGemmTester().m(mr + 1).n(n).k(9).ks(1).seed(seed++));
    CHECK_RUN(kn, LutGemmTester().m(mr + 1).n(n).k(9).ks(9).seed(seed++));
  }
  for (size_t k : {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 40, 63, 64, 65, 100, 129}) {
    for (size_t ks : {1, 9}) {
      CHECK_RUN(kn, LutGemmTester().m(mr + 2).n(70).k(k).ks(ks).seed(seed++));
    }
  }
  // Taps per output pixel.
  for (size_t ks : {2, 3, 5, 25}) {
    CHECK_RUN(kn, LutGemmTester().m(mr + 1).n(66).k(11).ks(ks).seed(seed++));
  }
}

// Many output pixels: kernels that group pixels beyond their register tile (the NEON
// super-tile kernels share weight indices among 32 pixels) see partial and several groups, K
// that does not fill their chunks (steps not a multiple of 3 or 4, chunks across taps), and
// 16-bit flushes (K long enough for more than 256 byte-sum groups) with several groups.
void ManyPixels(const LutKernel& kn) {
  uint32_t seed = 600;
  for (size_t m : {31, 32, 33, 64, 70}) {
    for (size_t ks : {1, 9}) {
      CHECK_RUN(kn, LutGemmTester().m(m).n(130).k(50).ks(ks).seed(seed++));
    }
  }
  for (size_t k : {4, 12, 13, 16, 24, 64}) {
    CHECK_RUN(kn, LutGemmTester().m(40).n(64).k(k).ks(9).out_bits(2).seed(seed++));
  }
  CHECK_RUN(kn, LutGemmTester().m(35).n(70).k(1100).ks(3).out_type(CRUMB_ELEM_F32).seed(seed++));
  CHECK_RUN(kn, LutGemmTester()
                    .m(34)
                    .n(65)
                    .k(6200)
                    .ks(1)
                    .a_fill(LutFill::kMax)
                    .w_fill(LutFill::kMin)
                    .out_type(CRUMB_ELEM_F32)
                    .seed(seed++));
}

void ZeroPointsAndOutputs(const LutKernel& kn) {
  const int32_t amax = (1 << kn.a_bits) - 1;
  uint32_t seed = 100;
  for (int32_t za : {0, 1, amax / 2, amax}) {
    for (uint32_t otype : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
      for (size_t ks : {1, 9}) {
        CHECK_RUN(kn, LutGemmTester()
                          .m(kn.mr + 1)
                          .n(kn.nr + 5)
                          .k(19)
                          .ks(ks)
                          .a_zero_point(za)
                          .out_type(otype)
                          .out_zero_point(otype == CRUMB_ELEM_U8 ? 128 : -7)
                          .seed(seed++));
      }
    }
  }
  // Packed outputs for the next low-bit layer: 2 and 4 bits (3-bit codes as 4), every tail of
  // the last byte, and calls on a later block.
  for (unsigned ob : {2u, 4u}) {
    for (size_t n : {1, 2, 3, 5, 63, 64, 65, 127, 130, 200}) {
      for (size_t ks : {1, 9}) {
        CHECK_RUN(
            kn, LutGemmTester().m(kn.mr + 1).n(n).k(21).ks(ks).out_bits(ob).out_zero_point(1).seed(
                    seed++));
      }
    }
    CHECK_RUN(kn, LutGemmTester()
                      .m(3)
                      .n(70)
                      .k(21)
                      .ks(9)
                      .out_bits(ob)
                      .qmin(1)
                      .qmax(ob == 4 ? 7 : 2)
                      .seed(seed++));
  }
  ClampRangeCases(LutGemmTester(), kn.mr, kn.nr, &seed, SweepRunner(Run, kn));
}

void StridesAndOffsets(const LutKernel& kn) {
  uint32_t seed = 200;
  StridesAndOffsetsCases(LutGemmTester(), kn.mr, kn.nr, 23, 17, {8u, 4u, 2u}, &seed,
                         SweepRunner(Run, kn));
}

// Weight encodings the packer maps onto 2-bit kernel codes.
void Encodings(const LutKernel& kn) {
  uint32_t seed = 300;
  struct E {
    unsigned bits;
    uint32_t enc;
    int32_t zw;
    bool per_channel;
  };
  for (E e : {E{2, CRUMB_ENC_SIGNED, 0, false}, E{2, CRUMB_ENC_TERNARY, 0, false},
              E{1, CRUMB_ENC_BIPOLAR, 0, false}, E{1, CRUMB_ENC_SIGNED, 0, false},
              E{1, CRUMB_ENC_UNSIGNED, 0, false}, E{1, CRUMB_ENC_UNSIGNED, 1, false},
              E{2, CRUMB_ENC_UNSIGNED, 1, false}, E{2, CRUMB_ENC_UNSIGNED, 2, false},
              E{1, CRUMB_ENC_UNSIGNED, 0, true}}) {
    for (size_t ks : {1, 9}) {
      CHECK_RUN(kn, LutGemmTester()
                        .m(kn.mr + 1)
                        .n(kn.nr + 1)
                        .k(15)
                        .ks(ks)
                        .w_bits(e.bits)
                        .w_encoding(e.enc)
                        .w_zero_point(e.zw)
                        .w_zero_point_per_channel(e.per_channel)
                        .seed(seed++));
    }
  }
}

// Overflow extremes: every activation at its maximum (and at 0 with the zero point at the
// maximum) against weights all at -2, all at +1, all at +2 (unsigned zero point 1, code 3), for K
// long enough to cross the byte groups, the 16-bit flushes (256 groups) and int32 sums far from 0.
void Extremes(const LutKernel& kn) {
  uint32_t seed = 400;
  for (LutFill af : {LutFill::kMax, LutFill::kMin}) {
    for (LutFill wf : {LutFill::kMax, LutFill::kMin}) {
      for (auto [k, ks] : {std::pair<size_t, size_t>{8192, 1}, {2052, 1}, {1200, 9}, {300, 9}}) {
        const int32_t za = af == LutFill::kMin ? (1 << kn.a_bits) - 1 : 0;
        CHECK_RUN(kn, LutGemmTester()
                          .m(kn.mr + 1)
                          .n(kn.nr + 1)
                          .k(k)
                          .ks(ks)
                          .a_fill(af)
                          .w_fill(wf)
                          .a_zero_point(za)
                          .out_type(CRUMB_ELEM_F32)
                          .seed(seed++));
        // Other value sets, hence other table widths and byte-group lengths: {-1, 0, 1, 2},
        // ternary, {0, 1}, bipolar.
        struct E {
          unsigned bits;
          uint32_t enc;
          int32_t zw;
        };
        for (E e : {E{2, CRUMB_ENC_UNSIGNED, 1}, E{2, CRUMB_ENC_TERNARY, 0},
                    E{1, CRUMB_ENC_UNSIGNED, 0}, E{1, CRUMB_ENC_BIPOLAR, 0}}) {
          CHECK_RUN(kn, LutGemmTester()
                            .m(2)
                            .n(65)
                            .k(k)
                            .ks(ks)
                            .a_fill(af)
                            .w_fill(wf)
                            .w_bits(e.bits)
                            .w_encoding(e.enc)
                            .w_zero_point(e.zw)
                            .a_zero_point(za)
                            .out_type(CRUMB_ELEM_F32)
                            .seed(seed++));
        }
      }
    }
  }
  // Long K with random data and every output format.
  for (unsigned ob : {8u, 2u}) {
    CHECK_RUN(kn, LutGemmTester().m(kn.mr + 1).n(kn.nr).k(4100).ks(1).out_bits(ob).seed(seed++));
    CHECK_RUN(kn, LutGemmTester().m(kn.mr + 1).n(kn.nr).k(520).ks(9).out_bits(ob).seed(seed++));
  }
}

#define CRUMB_LUT_KERNEL_DESC(kind, name, isa_tag, abits)                           \
  LutKernel Desc_##name() {                                                         \
    LutKernel k;                                                                    \
    k.CRUMB_LUT_FN_##kind = name;                                                   \
    k.isa = LutIsa::isa_tag;                                                        \
    k.a_bits = abits;                                                               \
    TileOf(#name, &k.mr, &k.nr);                                                    \
    return k;                                                                       \
  }                                                                                 \
  CRUMB_ISA_FIXTURE(Lut_##name, isa_tag)                                            \
  TEST_F(Lut_##name, Shapes) { Shapes(Desc_##name()); }                             \
  TEST_F(Lut_##name, ZeroPointsAndOutputs) { ZeroPointsAndOutputs(Desc_##name()); } \
  TEST_F(Lut_##name, StridesAndOffsets) { StridesAndOffsets(Desc_##name()); }       \
  TEST_F(Lut_##name, Encodings) { Encodings(Desc_##name()); }                       \
  TEST_F(Lut_##name, Extremes) { Extremes(Desc_##name()); }                         \
  TEST_F(Lut_##name, ManyPixels) { ManyPixels(Desc_##name()); }
#define CRUMB_LUT_FN_lutgemm gemm
#define CRUMB_LUT_FN_lutigemm igemm

// GEMV: one row of 8-bit codes (u8 or s8) against the same weights.
void GemvSuite(crumb_lutgemv_ukernel_fn* gemv) {
  uint32_t seed = 500;
  auto run = [&](LutGemmTester t) {
    t.Test(gemv);
    return !testing::Test::HasFatalFailure();
  };
  for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
    const int32_t zmid = at == CRUMB_ELEM_U8 ? 128 : 0;
    for (size_t n : {1, 17, 63, 64, 65, 127, 128, 129, 192, 300}) {
      if (!run(LutGemmTester().a_type(at).n(n).k(37).a_zero_point(zmid + 3).seed(seed++))) return;
    }
    for (size_t k : {1, 2, 3, 4, 5, 7, 8, 31, 63, 64, 65, 100, 127, 128, 129, 1000, 4096}) {
      if (!run(LutGemmTester().a_type(at).n(130).k(k).a_zero_point(zmid - 5).seed(seed++))) return;
    }
    for (int32_t za : {-128, -1, 0, 1, 127, 128, 255}) {
      for (uint32_t otype : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
        if (!run(LutGemmTester()
                     .a_type(at)
                     .n(70)
                     .k(50)
                     .a_zero_point(za)
                     .out_type(otype)
                     .out_zero_point(otype == CRUMB_ELEM_U8 ? 100 : -3)
                     .seed(seed++))) {
          return;
        }
      }
    }
    for (unsigned ob : {2u, 4u}) {
      if (!run(LutGemmTester().a_type(at).n(133).k(77).out_bits(ob).seed(seed++))) return;
    }
    for (size_t first : {64, 128}) {
      if (!run(LutGemmTester().a_type(at).n(first + 70).n_first(first).k(45).seed(seed++))) return;
    }
    if (!run(LutGemmTester().a_type(at).n(70).k(50).a_stride_extra(3).a_offset(5).seed(seed++))) {
      return;
    }
    if (!run(LutGemmTester()
                 .a_type(at)
                 .n(70)
                 .k(50)
                 .w_bits(2)
                 .w_encoding(CRUMB_ENC_TERNARY)
                 .seed(seed++))) {
      return;
    }
    if (!run(LutGemmTester()
                 .a_type(at)
                 .n(70)
                 .k(50)
                 .w_bits(2)
                 .w_encoding(CRUMB_ENC_UNSIGNED)
                 .w_zero_point(1)
                 .seed(seed++))) {
      return;
    }
    // Extremes: every code at either end, weights at either end, K long enough to flush.
    for (LutFill af : {LutFill::kMax, LutFill::kMin}) {
      for (LutFill wf : {LutFill::kMax, LutFill::kMin}) {
        for (size_t k : {4096, 8195}) {
          const int32_t za = af == LutFill::kMin ? zmid + 127 : zmid - 128;
          if (!run(LutGemmTester()
                       .a_type(at)
                       .n(129)
                       .k(k)
                       .a_fill(af)
                       .w_fill(wf)
                       .a_zero_point(za)
                       .out_type(CRUMB_ELEM_F32)
                       .seed(seed++))) {
            return;
          }
        }
      }
    }
  }
}

#define CRUMB_LUT_GEMV_DESC(name, isa_tag) \
  CRUMB_ISA_FIXTURE(Lut_##name, isa_tag)   \
  TEST_F(Lut_##name, Gemv) { GemvSuite(name); }
#define CRUMB_LUT_TESTS_lutgemm(name, isa_tag, abits) \
  CRUMB_LUT_KERNEL_DESC(lutgemm, name, isa_tag, abits)
#define CRUMB_LUT_TESTS_lutigemm(name, isa_tag, abits) \
  CRUMB_LUT_KERNEL_DESC(lutigemm, name, isa_tag, abits)
#define CRUMB_LUT_TESTS_lutgemv(name, isa_tag, abits) CRUMB_LUT_GEMV_DESC(name, isa_tag)
#define CRUMB_LUT_UKERNEL(kind, name, isa_tag, abits) CRUMB_LUT_TESTS_##kind(name, isa_tag, abits)
#include "kernels/lut/lut.inc"

// ------------------------------------------------------------------------------- packers
TEST(LutPack, ValueMaps) {
  int8_t v[4];
  const int32_t z0 = 0, z1 = 1, z2 = 2, z3 = 3;
  ASSERT_EQ(crumb_lut_value_map(2, CRUMB_ENC_SIGNED, &z0, 1, v), 1);
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 1);
  EXPECT_EQ(v[2], -2);
  EXPECT_EQ(v[3], -1);
  ASSERT_EQ(crumb_lut_value_map(2, CRUMB_ENC_TERNARY, &z0, 1, v), 1);  // code 2 unused: 0
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], 1);
  EXPECT_EQ(v[2], 0);
  EXPECT_EQ(v[3], -1);
  ASSERT_EQ(crumb_lut_value_map(1, CRUMB_ENC_BIPOLAR, &z0, 1, v), 1);  // -1 / +1: codes 3 / 1
  EXPECT_EQ(v[1], 1);
  EXPECT_EQ(v[2], 0);
  EXPECT_EQ(v[3], -1);
  ASSERT_EQ(crumb_lut_value_map(2, CRUMB_ENC_UNSIGNED, &z1, 1, v), 1);  // {-1, 0, 1, 2}
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[1], -1);
  EXPECT_EQ(v[2], 1);
  EXPECT_EQ(v[3], 2);
  ASSERT_EQ(crumb_lut_value_map(2, CRUMB_ENC_UNSIGNED, &z2, 1, v), 1);  // {-2 .. 1}
  EXPECT_EQ(v[2], -2);
  // Refused: values 3, -3, five values, more than 2 bits.
  EXPECT_EQ(crumb_lut_value_map(2, CRUMB_ENC_UNSIGNED, &z0, 1, v), 0);
  EXPECT_EQ(crumb_lut_value_map(2, CRUMB_ENC_UNSIGNED, &z3, 1, v), 0);
  const int32_t mixed[2] = {1, 2};
  EXPECT_EQ(crumb_lut_value_map(2, CRUMB_ENC_UNSIGNED, mixed, 2, v), 0);
  EXPECT_EQ(crumb_lut_value_map(3, CRUMB_ENC_SIGNED, &z0, 1, v), 0);
  EXPECT_EQ(crumb_lut_value_map(2, CRUMB_ENC_SIGNED, &z1, 1, v), 0);  // -3
}

TEST(LutPack, RefusesWhatItCannotRepresent) {
  const int32_t zw[2] = {0, 0};
  uint8_t rows[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  std::vector<uint8_t> dst(crumb_lut_packed_size(2, 1, 8), 0x5A);
  EXPECT_EQ(crumb_lut_pack(rows, 2, CRUMB_ENC_UNSIGNED, zw, 2, 1, 8, dst.data()), 0);
  for (uint8_t b : dst) ASSERT_EQ(b, 0x5A) << "a refused pack wrote its output";
  const int8_t vmap[4] = {0, 1, -2, -1};
  const int32_t values[4] = {0, 1, 2, -1};
  EXPECT_EQ(crumb_lut_pack_values(values, vmap, 1, 1, 4, dst.data()), 0);
}

TEST(LutPack, WeightsRoundTrip) {
  std::mt19937 rng(5);
  for (size_t n : {1, 63, 64, 65, 130}) {
    for (size_t ks : {1, 9}) {
      for (size_t kc : {1, 3, 4, 5, 17, 64}) {
        for (uint32_t enc : {CRUMB_ENC_SIGNED, CRUMB_ENC_TERNARY, CRUMB_ENC_UNSIGNED}) {
          const int32_t lo = enc == CRUMB_ENC_SIGNED ? -2 : -1;
          const int32_t hi = enc == CRUMB_ENC_UNSIGNED ? 2 : 1;
          std::vector<int32_t> values(n * ks * kc);
          for (auto& v : values) v = std::uniform_int_distribution<int32_t>(lo, hi)(rng);
          int8_t vmap[4];
          const int32_t zw = enc == CRUMB_ENC_UNSIGNED ? 1 : 0;
          ASSERT_EQ(crumb_lut_value_map(2, enc, &zw, 1, vmap), 1);
          std::vector<uint8_t> packed(crumb_lut_packed_size(n, ks, kc));
          ASSERT_EQ(crumb_lut_pack_values(values.data(), vmap, n, ks, kc, packed.data()), 1);
          std::vector<int32_t> back(values.size(), 99);
          ASSERT_EQ(crumb_lut_unpack(packed.data(), vmap, n, ks, kc, back.data()), 1);
          ASSERT_EQ(back, values) << "n " << n << " ks " << ks << " kc " << kc;
          // The ksum check catches a corrupted code.
          packed[CRUMB_LUT_BLOCK_HEADER] ^= 1;
          ASSERT_EQ(crumb_lut_unpack(packed.data(), vmap, n, ks, kc, back.data()), 0);
        }
      }
    }
  }
}

TEST(LutPack, WeightsFromRowsLsb) {
  // Signed 2-bit codes stay the model's codes: the packed bytes hold the ROWS_LSB codes.
  const size_t n = 3, ks = 2, kc = 6;
  std::vector<int32_t> codes(n * ks * kc);
  std::mt19937 rng(9);
  for (auto& c : codes) c = std::uniform_int_distribution<int32_t>(-2, 1)(rng);
  std::vector<uint8_t> rows(crumb_rows_lsb_size(n, ks * kc, 2));
  crumb_pack_rows_lsb(codes.data(), n, ks * kc, 2, rows.data());
  const int32_t zw[n] = {0, 0, 0};
  std::vector<uint8_t> packed(crumb_lut_packed_size(n, ks, kc));
  ASSERT_EQ(crumb_lut_pack(rows.data(), 2, CRUMB_ENC_SIGNED, zw, n, ks, kc, packed.data()), 1);
  for (size_t o = 0; o < n; o++) {
    int32_t ksum = 0;
    for (size_t t = 0; t < ks; t++) {
      for (size_t k = 0; k < kc; k++) {
        const int32_t c = codes[o * ks * kc + t * kc + k];
        ksum += c;
        const uint8_t b =
            packed[CRUMB_LUT_BLOCK_HEADER + (t * crumb_lut_steps(kc) + k / 4) * CRUMB_LUT_NR +
                   crumb_lut_lane((unsigned)o)];
        ASSERT_EQ((b >> (2 * (k % 4))) & 3, (uint32_t)c & 3);
      }
    }
    int32_t stored;
    memcpy(&stored, packed.data() + 4 * o, 4);
    ASSERT_EQ(stored, ksum);
  }
}

TEST(LutPack, ActivationsRoundTrip) {
  std::mt19937 rng(7);
  for (unsigned bits : {2u, 3u, 4u}) {
    for (size_t channels : {1, 2, 3, 4, 5, 7, 8, 9, 16, 24, 31, 64, 65, 100}) {
      // Padded strides, and rows back to back (the packer's flat path when channels % 4 == 0).
      for (bool tight : {false, true}) {
        const size_t pixels = 5, in_stride = channels + (tight ? 0 : 3);
        const size_t row_bytes = crumb_lut_act_row_bytes(channels, bits);
        ASSERT_EQ(row_bytes, ((channels + 3) / 4) * (bits == 2 ? 1 : 2));
        std::vector<uint8_t> codes(pixels * in_stride, 0xEE);
        std::vector<int32_t> flat(pixels * channels);
        for (size_t p = 0; p < pixels; p++) {
          for (size_t c = 0; c < channels; c++) {
            codes[p * in_stride + c] = (uint8_t)(rng() & ((1u << bits) - 1));
            flat[p * channels + c] = codes[p * in_stride + c];
          }
        }
        const size_t dst_stride = row_bytes + (tight ? 0 : 2), guard = 8;
        std::vector<uint8_t> packed(pixels * dst_stride + guard, 0xCC);
        crumb_lut_pack_act(codes.data(), pixels, channels, in_stride, bits, packed.data(),
                           dst_stride);
        const unsigned sb = crumb_lut_storage_bits(bits);
        const std::vector<uint8_t> want =
            crumb::ref::PackCodesLsb(flat, (int)pixels, (int)channels, (int)sb, (int)row_bytes);
        for (size_t p = 0; p < pixels; p++) {
          for (size_t i = 0; i < row_bytes; i++) {
            ASSERT_EQ(packed[p * dst_stride + i], want[p * row_bytes + i])
                << bits << "-bit, " << channels << " channels, pixel " << p << " byte " << i;
          }
          for (size_t i = row_bytes; i < dst_stride; i++)
            ASSERT_EQ(packed[p * dst_stride + i], 0xCC);
        }
        for (size_t i = 0; i < guard; i++) ASSERT_EQ(packed[pixels * dst_stride + i], 0xCC);
        std::vector<uint8_t> back(pixels * in_stride, 0xEE);
        crumb_lut_unpack_act(packed.data(), pixels, channels, dst_stride, bits, back.data(),
                             in_stride);
        ASSERT_EQ(back, codes);
      }
    }
  }
}

TEST(LutPack, TableBoundsAndGroups) {
  // The kernels' byte-sum argument: every entry within [0, width], a group's sum within 255.
  const int8_t maps[4][4] = {{0, 1, -2, -1}, {0, -1, 1, 2}, {0, -2, 2, 1}, {0, 1, 0, 0}};
  for (unsigned bits : {2u, 3u, 4u}) {
    const int32_t amax = (1 << bits) - 1;
    for (const auto& vmap : maps) {
      std::vector<uint8_t> table(crumb_lut_table_size(bits));
      crumb_lut_init_table(vmap, bits, table.data());
      const crumb_lut_table_info* info = crumb_lut_table_trailer(table.data(), bits);
      ASSERT_EQ(info->a_bits, (int32_t)bits);
      ASSERT_GE(info->steps_per_group, 1);
      ASSERT_LE(2 * info->steps_per_group * info->width, 255);
      const unsigned sb = crumb_lut_storage_bits(bits);
      for (int32_t a0 = 0; a0 <= amax; a0++) {
        for (int32_t a1 = 0; a1 <= amax; a1++) {
          for (unsigned c = 0; c < 16; c++) {
            const uint8_t* row = table.data() + ((unsigned)a1 << sb | (unsigned)a0) * CRUMB_LUT_ROW;
            const int32_t t = row[c];
            ASSERT_EQ(t - info->bias, vmap[c & 3] * a0 + vmap[c >> 2] * a1);
            ASSERT_LE(t, info->width);
            for (unsigned r = 1; r < CRUMB_LUT_ROW / 16; r++) ASSERT_EQ(row[16 * r + c], t);
          }
        }
      }
    }
  }
  // The group sizes the kernels get for signed 2-bit and ternary weights.
  const int8_t sgn[4] = {0, 1, -2, -1};
  const int32_t want_signed[5] = {0, 0, 7, 3, 1}, want_ternary[5] = {0, 0, 10, 4, 2};
  for (unsigned bits : {2u, 3u, 4u}) {
    std::vector<uint8_t> table(crumb_lut_table_size(bits));
    crumb_lut_init_table(sgn, bits, table.data());
    EXPECT_EQ(crumb_lut_table_trailer(table.data(), bits)->steps_per_group, want_signed[bits]);
    const int8_t ter[4] = {0, 1, 0, -1};
    crumb_lut_init_table(ter, bits, table.data());
    EXPECT_EQ(crumb_lut_table_trailer(table.data(), bits)->steps_per_group, want_ternary[bits]);
  }
}

}  // namespace
}  // namespace crumb_test
