// The dot family: DOT_N16K4 pack -> unpack round trips, and every kernel of kernels/dot/dot.inc
// that this CPU can run against kernels/reference bit for bit (tests/kernels/dot_tester.h).
#include <gtest/gtest.h>

#include <string.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <random>
#include <utility>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/dot/dot.h"
#include "tests/kernels/dot_tester.h"

namespace crumb_test {
namespace {

bool CpuHas(const char* isa) {
  const std::string s = isa;
  if (s == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  if (s == "AVX2") return __builtin_cpu_supports("avx2");
  if (s == "AVXVNNI") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avxvnni");
  if (s == "AVX512VNNI") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512vbmi");
  }
#endif
#if defined(__aarch64__)
  if (s == "NEON") return true;
  if (s == "NEONDOT") return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
  return false;
}

// The (bits, encoding) pairs: every width signed and unsigned, ternary, bipolar.
std::vector<std::pair<uint32_t, uint32_t>> Encodings() {
  std::vector<std::pair<uint32_t, uint32_t>> v;
  for (uint32_t b = 1; b <= 8; b++) {
    v.push_back({b, CRUMB_ENC_SIGNED});
    v.push_back({b, CRUMB_ENC_UNSIGNED});
  }
  v.push_back({2, CRUMB_ENC_TERNARY});
  v.push_back({1, CRUMB_ENC_BIPOLAR});
  return v;
}

// ------------------------------------------------------------------------------- packing
TEST(DotPack, RoundTripAndSums) {
  std::mt19937 rng(7);
  for (auto [bits, enc] : Encodings()) {
    const bool is_signed = enc == CRUMB_ENC_SIGNED || enc == CRUMB_ENC_TERNARY;
    const int32_t lo = enc == CRUMB_ENC_TERNARY ? -1 : is_signed ? -(1 << (bits - 1)) : 0;
    const int32_t hi = enc == CRUMB_ENC_TERNARY ? 1
                       : is_signed              ? (1 << (bits - 1)) - 1
                                                : (1 << bits) - 1;
    for (size_t n : {1, 15, 16, 17, 33}) {
      for (size_t ks : {1, 3}) {
        for (size_t kc : {1, 2, 3, 4, 5, 7, 8, 9, 28, 31, 32, 33, 36, 64, 100}) {
          const size_t kk = ks * kc;
          std::vector<int32_t> codes(n * kk);
          std::uniform_int_distribution<int32_t> d(lo, hi);
          for (auto& c : codes) c = d(rng);
          const size_t size = crumb_dot_packed_size(n, ks, kc, bits);
          ASSERT_EQ(size % 64, 0u);
          std::vector<uint8_t> packed(size + 64, 0xA5);
          crumb_dot_pack(codes.data(), n, ks, kc, bits, enc, packed.data());
          for (size_t i = size; i < packed.size(); i++) ASSERT_EQ(packed[i], 0xA5) << "overrun";
          std::vector<int32_t> back(n * kk, 12345);
          crumb_dot_unpack(packed.data(), n, ks, kc, bits, is_signed, back.data());
          ASSERT_EQ(back, codes) << "bits " << bits << " enc " << enc << " n " << n << " ks " << ks
                                 << " kc " << kc;
          // The same bytes from ROWS_LSB rows.
          std::vector<uint8_t> rows(crumb_rows_lsb_size(n, kk, bits));
          crumb_pack_rows_lsb(codes.data(), n, kk, bits, rows.data());
          std::vector<uint8_t> packed2(size);
          crumb_dot_pack_rows_lsb(rows.data(), crumb_rows_lsb_row_bytes(kk, bits), n, ks, kc, bits,
                                  enc, packed2.data());
          ASSERT_TRUE(std::equal(packed2.begin(), packed2.end(), packed.begin()));
          // Block headers: the sum of w' of every channel, 0 for padding channels.
          const size_t block = crumb_dot_block_bytes(ks, kc, bits);
          for (size_t c = 0; c < (n + 15) / 16 * 16; c++) {
            int32_t want = 0;
            for (size_t k = 0; c < n && k < kk; k++) {
              want += crumb_dot_code_value((uint32_t)codes[c * kk + k] & ((1u << bits) - 1u), bits,
                                           enc);
            }
            int32_t got;
            memcpy(&got, packed.data() + c / 16 * block + 4 * (c % 16), 4);
            ASSERT_EQ(got, want) << "wsum of channel " << c;
          }
        }
      }
    }
  }
}

TEST(DotPack, SizeIsBitsOverEightPlusHeader) {
  // A full super-block is 64 * bits bytes: 16 channels x 32 k at `bits` bits each.
  for (unsigned bits = 1; bits <= 8; bits++) {
    EXPECT_EQ(crumb_dot_packed_size(64, 9, 64, bits), 4 * (64 + 9 * 2 * 64 * bits));
    EXPECT_EQ(crumb_dot_tap_bytes(32, bits), 64 * bits);
  }
  EXPECT_EQ(crumb_dot_tap_bytes(4, 4), 64u);    // one vector in one 4-bit chunk
  EXPECT_EQ(crumb_dot_tap_bytes(12, 3), 128u);  // three vectors: a 2-bit and a 1-bit chunk
}

// ------------------------------------------------------------------------------- kernels
// Rows below, at and above every row tile (1, 2, 4, 6) and the decoded-block threshold (2 tiles).
void Shapes(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm, bool null_scratch = false) {
  for (auto [bits, enc] : Encodings()) {
    for (size_t m : {1, 2, 3, 4, 5, 9, 12, 13, 19}) {
      for (size_t n : {1, 9, 16, 17, 48, 65}) {
        for (size_t k : {1, 3, 4, 5, 31, 32, 33, 67}) {
          DotGemmTester t;
          t.m(m)
              .n(n)
              .k(k)
              .ks(3)
              .bits(bits)
              .w_encoding(enc)
              .null_scratch(null_scratch)
              .seed((uint32_t)(m * 1000 + n * 10 + k));
          if (gemm)
            t.TestGemm(gemm);
          else
            t.TestIGemm(igemm);
          if (testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

void LargeK(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  for (auto [bits, enc] : Encodings()) {
    for (size_t k : {128, 255, 256, 300, 576}) {
      DotGemmTester t;
      t.m(13).n(33).k(k).ks(9).bits(bits).w_encoding(enc);
      if (gemm)
        t.TestGemm(gemm);
      else
        t.TestIGemm(igemm);
      if (testing::Test::HasFatalFailure()) return;
    }
  }
}

void Extremes(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  for (auto [bits, enc] : Encodings()) {
    for (DotFill f :
         {DotFill::kActMaxWMin, DotFill::kActMaxWMax, DotFill::kActMinWMax, DotFill::kZeroPoints}) {
      for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
        for (int32_t za : {0, 3, -128, 255}) {
          for (size_t k : {7, 512, 4608}) {
            // The longest K with every zero point would be slow: once per fill and type.
            if (k == 4608 && za != 0) continue;
            DotGemmTester t;
            t.m(13)
                .n(17)
                .k(k)
                .ks(igemm ? 3 : 1)
                .bits(bits)
                .w_encoding(enc)
                .fill(f)
                .a_type(at)
                .a_zero_point(za)
                .out_type(CRUMB_ELEM_S8)
                .out_zero_point(0)
                .w_zero_points(enc == CRUMB_ENC_UNSIGNED ? ZeroPoints::kRandom
                                                         : ZeroPoints::kSymmetric);
            if (gemm)
              t.TestGemm(gemm);
            else
              t.TestIGemm(igemm);
            if (testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

void ZeroPointsAndTypes(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  uint32_t seed = 1;
  for (auto [bits, enc] : Encodings()) {
    for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
      for (int32_t za : {0, 1, 128, -5, 255, -128}) {
        for (ZeroPoints zp : {ZeroPoints::kSymmetric, ZeroPoints::kRandom}) {
          for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
            DotGemmTester t;
            t.m(14)
                .n(72)  // a whole 64-channel block (the packed u8 store) and a partial one
                .k(37)
                .ks(3)
                .bits(bits)
                .w_encoding(enc)
                .a_type(at)
                .a_zero_point(za)
                .w_zero_points(zp)
                .out_type(ot)
                .out_zero_point(ot == CRUMB_ELEM_U8 ? 100 : -7)
                .seed(seed++);
            if (gemm)
              t.TestGemm(gemm);
            else
              t.TestIGemm(igemm);
            if (testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

void ClampsAndStrides(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  for (uint32_t bits : {2, 4, 8}) {
    for (auto [qmin, qmax] : {std::pair{0, 255}, {10, 20}, {-128, 127}, {-3, 3}, {0, 0}}) {
      // 70 channels: a whole 64-channel tile and a partial block; 100: also a whole 32-channel
      // pair (the AVX-512 kernel's 8 x 2 tile and its 32-byte u8 store).
      for (size_t n : {70, 100})
        for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
          DotGemmTester t;
          t.m(13)
              .n(n)
              .k(45)
              .ks(3)
              .bits(bits)
              .qmin(qmin)
              .qmax(qmax)
              .out_type(ot)
              .out_zero_point(3)
              .a_stride(61)
              .a_offset(5)
              .c_stride(83);
          if (gemm)
            t.TestGemm(gemm);
          else
            t.TestIGemm(igemm);
          if (testing::Test::HasFatalFailure()) return;
        }
    }
    DotGemmTester t;
    t.m(13)
        .n(70)
        .k(45)
        .ks(3)
        .bits(bits)
        .out_type(CRUMB_ELEM_F32)
        .a_stride(50)
        .a_offset(3)
        .c_stride(71);
    if (gemm)
      t.TestGemm(gemm);
    else
      t.TestIGemm(igemm);
  }
}

void Taps(crumb_igemm_ukernel_fn* igemm) {
  for (uint32_t bits : {1, 2, 3, 4, 8}) {
    for (size_t ks : {1, 2, 9, 25}) {
      for (size_t k : {1, 3, 16, 33, 64}) {
        DotGemmTester t;
        t.m(13).n(24).k(k).ks(ks).bits(bits).a_type(bits % 2 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8);
        t.TestIGemm(igemm);
        if (testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

// Taps reading the zero row at random (a spatial mask's known zeros; kernels may skip those rows
// when the activations' zero point is 0 in the u8 domain): every share of them, activation zero
// points that allow skipping (u8 0, s8 -128) and one that does not, row counts around the
// register tiles' (halves of them, single rows), whole and partial super-blocks and the short
// tails, weight zero points that need row sums.
void ZeroTaps(crumb_igemm_ukernel_fn* igemm) {
  uint32_t seed = 1;
  struct Za {
    uint32_t type;
    int32_t za;
  };
  for (Za za : {Za{CRUMB_ELEM_U8, 0}, Za{CRUMB_ELEM_S8, -128}, Za{CRUMB_ELEM_U8, 3}}) {
    for (uint32_t pct : {0u, 30u, 50u, 90u, 100u}) {
      for (size_t m : {1, 2, 3, 4, 5, 8, 13}) {
        for (size_t k : {16, 40, 64}) {
          for (auto [bits, enc] : {std::pair<uint32_t, uint32_t>{4, CRUMB_ENC_SIGNED},
                                   {2, CRUMB_ENC_UNSIGNED},
                                   {8, CRUMB_ENC_SIGNED}}) {
            DotGemmTester t;
            t.m(m)
                .n(seed % 3 == 0 ? 70 : 64)
                .k(k)
                .ks(9)
                .bits(bits)
                .w_encoding(enc)
                .a_type(za.type)
                .a_zero_point(za.za)
                .w_zero_points(enc == CRUMB_ENC_UNSIGNED || seed % 5 == 0 ? ZeroPoints::kRandom
                                                                          : ZeroPoints::kSymmetric)
                .a_offset(seed % 4 == 0 ? 3 : 0)
                .zero_taps(pct)
                .seed(seed);
            seed++;
            t.TestIGemm(igemm);
            if (testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// Small kc (fewer than 4 channels, or not a multiple of 4) over many taps (ks = 49: the 7x7 stem
// convolution has kc = 3): rows below and above the decoded-block threshold and over several
// chunks of the AVX2 packed-rows path (kernels/dot/gemm-avx2.h), extreme fills (int16 runs that
// cross taps there), s8 activations, zero points, an a_offset.
void SmallKManyTaps(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  uint32_t seed = 1;
  for (auto [bits, enc] : Encodings()) {
    for (size_t k : {1, 2, 3, 5, 7}) {
      for (size_t m : {5, 13, 230}) {
        for (DotFill f : {DotFill::kRandom, DotFill::kActMaxWMin, DotFill::kActMaxWMax}) {
          const bool extreme = f != DotFill::kRandom;
          DotGemmTester t;
          t.m(m)
              .n(m == 230 ? 40 : 17)
              .k(k)
              .ks(49)
              .bits(bits)
              .w_encoding(enc)
              .fill(f)
              .a_type(seed % 2 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
              .a_zero_point(seed % 3 ? 3 : -7)
              .w_zero_points(enc == CRUMB_ENC_UNSIGNED || seed % 4 == 0 ? ZeroPoints::kRandom
                                                                        : ZeroPoints::kSymmetric)
              .a_offset(seed % 2 ? 5 : 0)
              .out_type(extreme ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
              .out_zero_point(extreme ? 0 : 5)
              .seed(seed);
          seed++;
          if (gemm)
            t.TestGemm(gemm);
          else
            t.TestIGemm(igemm);
          if (testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

#define CRUMB_DOT_UKERNEL_gemm(name, isa)                             \
  TEST(DotGemm, name##_Shapes) {                                      \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    Shapes(name, nullptr);                                            \
  }                                                                   \
  TEST(DotGemm, name##_NoScratch) {                                   \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    if (strcmp(#isa, "SCALAR") == 0) GTEST_SKIP() << "needs scratch"; \
    Shapes(name, nullptr, true);                                      \
  }                                                                   \
  TEST(DotGemm, name##_LargeK) {                                      \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    LargeK(name, nullptr);                                            \
  }                                                                   \
  TEST(DotGemm, name##_Extremes) {                                    \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    Extremes(name, nullptr);                                          \
  }                                                                   \
  TEST(DotGemm, name##_ZeroPointsAndTypes) {                          \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    ZeroPointsAndTypes(name, nullptr);                                \
  }                                                                   \
  TEST(DotGemm, name##_ClampsAndStrides) {                            \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    ClampsAndStrides(name, nullptr);                                  \
  }                                                                   \
  TEST(DotGemm, name##_SmallKManyTaps) {                              \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    SmallKManyTaps(name, nullptr);                                    \
  }
#define CRUMB_DOT_UKERNEL_igemm(name, isa)                            \
  TEST(DotIGemm, name##_ZeroTaps) {                                   \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    ZeroTaps(name);                                                   \
  }                                                                   \
  TEST(DotIGemm, name##_Shapes) {                                     \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    Shapes(nullptr, name);                                            \
  }                                                                   \
  TEST(DotIGemm, name##_NoScratch) {                                  \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    if (strcmp(#isa, "SCALAR") == 0) GTEST_SKIP() << "needs scratch"; \
    Shapes(nullptr, name, true);                                      \
  }                                                                   \
  TEST(DotIGemm, name##_LargeK) {                                     \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    LargeK(nullptr, name);                                            \
  }                                                                   \
  TEST(DotIGemm, name##_Extremes) {                                   \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    Extremes(nullptr, name);                                          \
  }                                                                   \
  TEST(DotIGemm, name##_ZeroPointsAndTypes) {                         \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    ZeroPointsAndTypes(nullptr, name);                                \
  }                                                                   \
  TEST(DotIGemm, name##_ClampsAndStrides) {                           \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    ClampsAndStrides(nullptr, name);                                  \
  }                                                                   \
  TEST(DotIGemm, name##_Taps) {                                       \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    Taps(name);                                                       \
  }                                                                   \
  TEST(DotIGemm, name##_SmallKManyTaps) {                             \
    if (!CpuHas(#isa)) GTEST_SKIP() << "CPU lacks " #isa;             \
    SmallKManyTaps(nullptr, name);                                    \
  }
#define CRUMB_DOT_UKERNEL_igemmz(name, isa) CRUMB_DOT_UKERNEL_igemm(name, isa)
#define CRUMB_DOT_UKERNEL(kind, name, isa) CRUMB_DOT_UKERNEL_##kind(name, isa)
#include "kernels/dot/dot.inc"

}  // namespace
}  // namespace crumb_test
