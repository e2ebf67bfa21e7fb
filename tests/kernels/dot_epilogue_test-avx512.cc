// kernels/common/epilogue-avx512.h against the scalar rule crumb_store_output(), bit for bit (the
// cases of dot_epilogue_cases.h).
#include <gtest/gtest.h>
#include <string.h>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/common/requant.h"
#include "tests/kernels/dot_epilogue_cases.h"

namespace crumb_test {
namespace {

bool HasAvx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
}

void RunAvx512(const EpilogueCase& c, uint8_t* row) {
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&c.out);
  for (size_t n = 0; n < c.nc; n += 16) {
    const size_t count = c.nc - n < 16 ? c.nc - n : 16;
    const __m512i acc = _mm512_maskz_loadu_epi32(crumb_avx512_mask16(count), c.acc.data() + n);
    crumb_avx512_output16(acc, c.mul.data(), c.add.data(), &e, row, n, count);
  }
}

void RunAvx512Ymm(const EpilogueCase& c, uint8_t* row) {
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&c.out);
  for (size_t n = 0; n < c.nc; n += 8) {
    const size_t count = c.nc - n < 8 ? c.nc - n : 8;
    const __m256i acc = _mm256_maskz_loadu_epi32((__mmask8)((1u << count) - 1u), c.acc.data() + n);
    crumb_avx512_output8(acc, c.mul.data(), c.add.data(), &e, row, n, count);
  }
}

void RunAvx512Pack64(const EpilogueCase& c, uint8_t* row) {
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&c.out);
  for (size_t n = 0; n + 64 <= c.nc; n += 64) {
    __m512i q[4];
    for (int i = 0; i < 4; i++) {
      const size_t j = n + 16 * (size_t)i;
      q[i] = crumb_avx512_requantize(
          crumb_avx512_scale(_mm512_loadu_si512(c.acc.data() + j),
                             _mm512_loadu_ps(c.mul.data() + j), _mm512_loadu_ps(c.add.data() + j)),
          &e);
    }
    const __m512i b = c.out.type == CRUMB_ELEM_U8 ? crumb_avx512_pack64_u8(q[0], q[1], q[2], q[3])
                                                  : crumb_avx512_pack64_s8(q[0], q[1], q[2], q[3]);
    _mm512_storeu_si512(row + n, b);
  }
}

TEST(DotEpilogueAvx512, MatchesScalarRule) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 F/BW/VL";
  ForEachEpilogueCase([](const EpilogueCase& c) { CheckEpilogue(c, RunAvx512, "avx512"); });
}

TEST(DotEpilogueAvx512, YmmMatchesScalarRule) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 F/BW/VL";
  ForEachEpilogueCase([](const EpilogueCase& c) { CheckEpilogue(c, RunAvx512Ymm, "avx512 ymm"); });
}

TEST(DotEpilogueAvx512, Pack64MatchesScalarRule) {
  if (!HasAvx512()) GTEST_SKIP() << "no AVX-512 F/BW/VL";
  ForEachEpilogueCase([](const EpilogueCase& c) {
    if (c.out.type == CRUMB_ELEM_F32 || c.nc % 64 != 0) return;
    CheckEpilogue(c, RunAvx512Pack64, "avx512 pack64");
  });
}

}  // namespace
}  // namespace crumb_test
