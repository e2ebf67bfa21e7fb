// crumb_x8_lut_ukernel__avx512vbmi: the byte table lookup of kernels/scalar/scalar.h with AVX-512
// VBMI. The 256-byte table is four zmm registers; vpermi2b picks from 128 bytes by an index's low
// 7 bits, so two of them (table bytes 0-127 and 128-255) and a blend on each index's bit 7 give
// 64 lookups. The tail is one masked load and store: nothing past x[n - 1] / y[n - 1] is touched.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/elementwise/elementwise.h"

namespace {

inline __m512i Lookup64(__m512i x, __m512i t0, __m512i t1, __m512i t2, __m512i t3) {
  const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1);
  const __m512i hi = _mm512_permutex2var_epi8(t2, x, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi);
}

}  // namespace

extern "C" void crumb_x8_lut_ukernel__avx512vbmi(size_t n, const uint8_t* x,
                                                 const uint8_t table[256], uint8_t* y) {
  const __m512i t0 = _mm512_loadu_si512(table);
  const __m512i t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128);
  const __m512i t3 = _mm512_loadu_si512(table + 192);
  // Two independent chains per iteration hide the permutes' latency.
  for (; n >= 128; n -= 128, x += 128, y += 128) {
    const __m512i a = _mm512_loadu_si512(x);
    const __m512i b = _mm512_loadu_si512(x + 64);
    _mm512_storeu_si512(y, Lookup64(a, t0, t1, t2, t3));
    _mm512_storeu_si512(y + 64, Lookup64(b, t0, t1, t2, t3));
  }
  for (; n >= 64; n -= 64, x += 64, y += 64) {
    _mm512_storeu_si512(y, Lookup64(_mm512_loadu_si512(x), t0, t1, t2, t3));
  }
  if (n != 0) {
    const __mmask64 k = (__mmask64)((1ull << n) - 1ull);
    _mm512_mask_storeu_epi8(y, k, Lookup64(_mm512_maskz_loadu_epi8(k, x), t0, t1, t2, t3));
  }
}
