// kernels/common/epilogue-avx2.h against the scalar rule crumb_store_output(), bit for bit: random
// accumulators and multipliers, exact ties at .5, huge and infinite values, every output type and
// every tail length, guard bytes around each store.
#include <gtest/gtest.h>
#include <string.h>

#include <vector>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/common/requant.h"
#include "tests/kernels/dot_epilogue_cases.h"

namespace crumb_test {
namespace {

void RunAvx2(const EpilogueCase& c, uint8_t* row) {
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&c.out);
  for (size_t n = 0; n < c.nc; n += 8) {
    const size_t count = c.nc - n < 8 ? c.nc - n : 8;
    int32_t lanes[8] = {0};
    memcpy(lanes, c.acc.data() + n, count * sizeof(int32_t));
    const __m256i acc = _mm256_loadu_si256((const __m256i*)lanes);
    if (count == 8 && (n / 8) % 2 == 0) {
      crumb_avx2_output8(acc, _mm256_loadu_ps(c.mul.data() + n), _mm256_loadu_ps(c.add.data() + n),
                         &e, row, n, count);
    } else {
      crumb_avx2_output_partial(acc, c.mul.data(), c.add.data(), &e, row, n, count);
    }
  }
}

void RunAvx2Pack32(const EpilogueCase& c, uint8_t* row) {
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&c.out);
  for (size_t n = 0; n + 32 <= c.nc; n += 32) {
    __m256i q[4];
    for (int i = 0; i < 4; i++) {
      const size_t j = n + 8 * (size_t)i;
      q[i] = crumb_avx2_requantize(
          crumb_avx2_scale_load(_mm256_loadu_si256((const __m256i*)(c.acc.data() + j)),
                                c.mul.data() + j, c.add.data() + j),
          &e);
    }
    const __m256i b = c.out.type == CRUMB_ELEM_U8 ? crumb_avx2_pack32_u8(q[0], q[1], q[2], q[3])
                                                  : crumb_avx2_pack32_s8(q[0], q[1], q[2], q[3]);
    _mm256_storeu_si256((__m256i*)(row + n), b);
  }
}

TEST(DotEpilogueAvx2, MatchesScalarRule) {
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2";
  ForEachEpilogueCase([](const EpilogueCase& c) { CheckEpilogue(c, RunAvx2, "avx2"); });
}

TEST(DotEpilogueAvx2, Pack32MatchesScalarRule) {
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2";
  ForEachEpilogueCase([](const EpilogueCase& c) {
    if (c.out.type == CRUMB_ELEM_F32 || c.nc % 32 != 0) return;
    CheckEpilogue(c, RunAvx2Pack32, "avx2 pack32");
  });
}

}  // namespace
}  // namespace crumb_test
