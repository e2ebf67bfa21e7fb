// A product-table IGEMM, DeepGEMM style (one product per lookup), for W2A2 on AVX-512BW: the
// reference point that shows what the pair table (two products per lookup, kernels/lut) buys.
// Benchmarks only; never selected by the runtime.
//
// Lanes are 64 output channels. For each k the lane index is (a << 2) | w (a: the pixel's 2-bit
// activation code broadcast, w: the lane's 2-bit weight code, one byte per (k, channel)) and
// vpshufb looks up the 16 products a * value(w), biased by +6 to [0, 9] so that 28 of them sum in
// a byte; byte sums are widened as in kernels/lut (accw += w16, acco += w16 >> 8). The products are
// exact; the kernel returns raw int32 sums (no requantization epilogue) so the comparison with the
// pair-table kernels is conservative for this one.
#include <immintrin.h>
#include <string.h>

#include "benchmarks/lut_prodtable.h"

namespace {
constexpr int kMR = 4;
constexpr int kGroup = 28;  // 28 * 9 = 252 <= 255
}  // namespace

void crumb_bench_prodtable_igemm_4x64__avx512bw(size_t mr, size_t nc, size_t kc, size_t ks,
                                               const uint8_t** a, const uint8_t* w,
                                               int32_t* c) {
  // products[a << 2 | code] + 6, two's complement codes {0, 1, -2, -1}.
  alignas(16) uint8_t prod[16];
  const int v[4] = {0, 1, -2, -1};
  for (int i = 0; i < 16; i++) prod[i] = (uint8_t)((i >> 2) * v[i & 3] + 6);
  const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i*)prod));
  alignas(64) uint8_t abits[4][64];
  for (int i = 0; i < 4; i++) memset(abits[i], i << 2, 64);
  const size_t kk = ks * kc;
  for (size_t m0 = 0; m0 < mr; m0 += kMR) {
    const size_t mv = mr - m0 < (size_t)kMR ? mr - m0 : (size_t)kMR;
    for (size_t n0 = 0; n0 < nc; n0 += 64) {
      const uint8_t* wb = w + n0 * kk;  // [kk][64] bytes per block of 64 channels
      alignas(64) int32_t acc32[kMR][64];
      memset(acc32, 0, sizeof(acc32));
      __m512i accw[kMR], acco[kMR];
      for (int m = 0; m < kMR; m++) accw[m] = acco[m] = _mm512_setzero_si512();
      int groups = 0;
      auto flush = [&]() {
        for (int m = 0; m < kMR; m++) {
          const __m512i ev = _mm512_sub_epi16(accw[m], _mm512_slli_epi16(acco[m], 8));
          const __m512i parts[4] = {_mm512_cvtepu16_epi32(_mm512_castsi512_si256(ev)),
                                    _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(ev, 1)),
                                    _mm512_cvtepu16_epi32(_mm512_castsi512_si256(acco[m])),
                                    _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(acco[m], 1))};
          for (int j = 0; j < 4; j++) {
            _mm512_store_si512(acc32[m] + 16 * j,
                               _mm512_add_epi32(_mm512_load_si512(acc32[m] + 16 * j), parts[j]));
          }
          accw[m] = acco[m] = _mm512_setzero_si512();
        }
      };
      for (size_t t = 0; t < ks; t++) {
        const uint8_t* ap[kMR];
        for (int m = 0; m < kMR; m++) ap[m] = a[(m0 + ((size_t)m < mv ? m : mv - 1)) * ks + t];
        const uint8_t* wt = wb + t * kc * 64;
        for (size_t k = 0; k < kc;) {
          const size_t kend = k + kGroup < kc ? k + kGroup : kc;
          __m512i g[kMR];
          for (int m = 0; m < kMR; m++) g[m] = _mm512_setzero_si512();
          for (; k < kend; k++) {
            const __m512i wv = _mm512_load_si512(wt + k * 64);
#pragma GCC unroll 4
            for (int m = 0; m < kMR; m++) {
              const __m512i idx = _mm512_or_si512(wv, _mm512_load_si512(abits[ap[m][k]]));
              g[m] = _mm512_add_epi8(g[m], _mm512_shuffle_epi8(table, idx));
            }
          }
          for (int m = 0; m < kMR; m++) {
            accw[m] = _mm512_add_epi16(accw[m], g[m]);
            acco[m] = _mm512_add_epi16(acco[m], _mm512_srli_epi16(g[m], 8));
          }
          if (++groups == 256) {
            flush();
            groups = 0;
          }
        }
      }
      flush();
      const int32_t bias = (int32_t)(6 * kk);
      for (size_t m = 0; m < mv; m++) {
        int32_t* row = c + (m0 + m) * nc + n0;
        for (int j = 0; j < 4; j++) {
          _mm512_storeu_si512(row + 16 * j, _mm512_sub_epi32(_mm512_load_si512(acc32[m] + 16 * j),
                                                             _mm512_set1_epi32(bias)));
        }
      }
    }
  }
}
