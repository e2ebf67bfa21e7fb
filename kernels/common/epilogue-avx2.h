// The requantizing epilogue of kernels/common/requant.h on AVX2 registers: int32 accumulators of
// 8 (or 32) output channels in, the output row's bytes out. Include only from *-avx2.cc /
// *-avx512.cc files (compiled with -mavx2).
//
// Bit-exactness with crumb_store_output(), step by step:
//   y = float(acc) * mul + add   vcvtdq2ps (exact rounding as the (float) cast), vmulps, vaddps:
//                                two roundings, never vfmadd (the contract forbids fusing).
//   clamp to [lo - z, hi - z]    vmaxps(vlo, y) then vminps(vhi, v): with y as the SECOND operand
//                                the result is exactly the scalar `if (v < lo) v = lo; if (v > hi)
//                                v = hi;` for every non-NaN y, including -0.0 and +-inf.
//   round half to even           vcvtps2dq under the default MXCSR (RNE), the same as nearbyintf.
//                                The clamped value is within int32 range, so no 0x80000000.
//   + z, store                   vpaddd; saturating packs (vpackssdw, vpackuswb / vpacksswb). The
//                                value is already within [qmin, qmax] ⊆ the type's range, so the
//                                saturation never changes it (callers keep qmin/qmax inside the
//                                output type, as the runtime's verifier does).
//   float output                 the same clamp with fmin / fmax: NaN would pass through as the
//                                scalar rule lets it.
// y is never NaN for int32 accumulators with finite mul / add (the loader rejects non-finite
// scales): float(acc) is finite, the product is finite or +-inf, and adding a finite value to
// +-inf gives +-inf. So the scalar rule's NaN case needs no instruction here.
#pragma once

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

// Broadcast constants of one output, prepared once per kernel call.
typedef struct crumb_epilogue_avx2 {
  __m256 lo;      // (float)(qmin - z), or fmin for float outputs
  __m256 hi;      // (float)(qmax - z), or fmax
  __m256i z;      // output zero point
  uint32_t type;  // crumb_elem_type
} crumb_epilogue_avx2;

static inline crumb_epilogue_avx2 crumb_epilogue_avx2_init(const crumb_output_params* p) {
  crumb_epilogue_avx2 e;
  e.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    e.lo = _mm256_set1_ps(p->fmin);
    e.hi = _mm256_set1_ps(p->fmax);
    e.z = _mm256_setzero_si256();
  } else {
    e.lo = _mm256_set1_ps((float)(p->qmin - p->zero_point));
    e.hi = _mm256_set1_ps((float)(p->qmax - p->zero_point));
    e.z = _mm256_set1_epi32(p->zero_point);
  }
  return e;
}

// y = float(acc) * mul + add, rounded twice (never fused).
static inline __m256 crumb_avx2_scale(__m256i acc, __m256 mul, __m256 add) {
  return _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), mul), add);
}

// float(acc) * mul[0..7] + add[0..7].
static inline __m256 crumb_avx2_scale_load(__m256i acc, const float* mul, const float* add) {
  return crumb_avx2_scale(acc, _mm256_loadu_ps(mul), _mm256_loadu_ps(add));
}

// Clamp of y to [e->lo, e->hi] with the scalar rule's operand order.
static inline __m256 crumb_avx2_clamp(__m256 y, const crumb_epilogue_avx2* e) {
  return _mm256_min_ps(e->hi, _mm256_max_ps(e->lo, y));
}

// E(y) as int32 codes.
static inline __m256i crumb_avx2_requantize(__m256 y, const crumb_epilogue_avx2* e) {
  return _mm256_add_epi32(_mm256_cvtps_epi32(crumb_avx2_clamp(y, e)), e->z);
}

// 8 int32 codes -> 8 bytes in order (low 64 bits of the result).
static inline __m128i crumb_avx2_pack8_u8(__m256i q) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packus_epi16(w, w);
}
static inline __m128i crumb_avx2_pack8_s8(__m256i q) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packs_epi16(w, w);
}

// 4 x 8 int32 codes (channels 0-7, 8-15, 16-23, 24-31) -> 32 bytes in channel order.
static inline __m256i crumb_avx2_pack32_u8(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  // vpackssdw / vpackuswb work within 128-bit lanes: bytes come out as dword groups
  // (q0l q1l q2l q3l | q0h q1h q2h q3h); vpermd puts the 4-byte groups back in order.
  const __m256i w01 = _mm256_packs_epi32(q0, q1);
  const __m256i w23 = _mm256_packs_epi32(q2, q3);
  const __m256i b = _mm256_packus_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
static inline __m256i crumb_avx2_pack32_s8(__m256i q0, __m256i q1, __m256i q2, __m256i q3) {
  const __m256i w01 = _mm256_packs_epi32(q0, q1);
  const __m256i w23 = _mm256_packs_epi32(q2, q3);
  const __m256i b = _mm256_packs_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Stores the low `count` bytes (1..8) of v.
static inline void crumb_avx2_store_bytes8(void* out, __m128i v, size_t count) {
  if (count == 8) {
    _mm_storel_epi64((__m128i*)out, v);
  } else {
    uint64_t bits = (uint64_t)_mm_cvtsi128_si64(v);
    memcpy(out, &bits, count);
  }
}

// The whole epilogue for channels [n, n + count) (count 1..8) of one output row: acc holds their
// accumulators (lanes >= count are ignored), mul / add point at channel n (all 8 loaded: the
// caller pads mul / add to a multiple of 8, or uses crumb_avx2_output_partial), out points at the
// row; the elements written are n .. n + count - 1.
static inline void crumb_avx2_output8(__m256i acc, __m256 mul, __m256 add,
                                      const crumb_epilogue_avx2* e, void* row, size_t n,
                                      size_t count) {
  const __m256 y = crumb_avx2_scale(acc, mul, add);
  if (e->type == CRUMB_ELEM_F32) {
    const __m256 v = crumb_avx2_clamp(y, e);
    float* o = (float*)row + n;
    if (count == 8) {
      _mm256_storeu_ps(o, v);
    } else {
      const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      _mm256_maskstore_ps(o, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), idx), v);
    }
    return;
  }
  const __m256i q = crumb_avx2_requantize(y, e);
  const __m128i b = e->type == CRUMB_ELEM_U8 ? crumb_avx2_pack8_u8(q) : crumb_avx2_pack8_s8(q);
  crumb_avx2_store_bytes8((uint8_t*)row + n, b, count);
}

// Loads count (0..8) floats, zero in the other lanes, never reading past p[count - 1].
static inline __m256 crumb_avx2_load_partial_ps(const float* p, size_t count) {
  if (count >= 8) return _mm256_loadu_ps(p);
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), idx));
}

// As crumb_avx2_output8 with mul / add read for `count` channels only (the tail of nc).
static inline void crumb_avx2_output_partial(__m256i acc, const float* mul, const float* add,
                                             const crumb_epilogue_avx2* e, void* row, size_t n,
                                             size_t count) {
  crumb_avx2_output8(acc, crumb_avx2_load_partial_ps(mul + n, count),
                     crumb_avx2_load_partial_ps(add + n, count), e, row, n, count);
}

#ifdef __cplusplus
}
#endif
