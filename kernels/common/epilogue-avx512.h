// The requantizing epilogue of kernels/common/requant.h on zmm registers: int32 accumulators of
// 16 (or 64) output channels in, the output row's bytes out. Include only from *-avx512.cc files
// (compiled with -mavx512f -mavx512bw -mavx512vl). GCC 12's plain intrinsics for several of these
// instructions start from _mm512_undefined_*() and warn -W(maybe-)uninitialized wherever they are
// inlined (a compiler false positive); the all-ones-masked forms below compile to the same
// unmasked instructions without the warning.
//
// Bit-exactness with crumb_store_output(): the same steps as epilogue-avx2.h — vcvtdq2ps, vmulps,
// vaddps (never fused), vmaxps(lo, y) / vminps(hi, v) with y second (the scalar compare order for
// every non-NaN y; y is never NaN, see epilogue-avx2.h), vcvtps2dq (RNE, the default MXCSR; the
// instruction's embedded rounding is not used so that both paths read the same mode), vpaddd z,
// saturating narrowing (vpmovsdb for s8, vpmovusdb for u8: codes already lie in [qmin, qmax] ⊆
// the type's range, so saturation never changes them). Tails use masked loads / stores: nothing
// outside [n, n + count) is read from mul / add or written to the row.
#pragma once

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crumb_epilogue_avx512 {
  __m512 lo;      // (float)(qmin - z), or fmin for float outputs
  __m512 hi;      // (float)(qmax - z), or fmax
  __m512i z;      // output zero point
  uint32_t type;  // crumb_elem_type
} crumb_epilogue_avx512;

static inline crumb_epilogue_avx512 crumb_epilogue_avx512_init(const crumb_output_params* p) {
  crumb_epilogue_avx512 e;
  e.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    e.lo = _mm512_set1_ps(p->fmin);
    e.hi = _mm512_set1_ps(p->fmax);
    e.z = _mm512_setzero_si512();
  } else {
    e.lo = _mm512_set1_ps((float)(p->qmin - p->zero_point));
    e.hi = _mm512_set1_ps((float)(p->qmax - p->zero_point));
    e.z = _mm512_set1_epi32(p->zero_point);
  }
  return e;
}

// Mask of the first count (0..16) lanes.
static inline __mmask16 crumb_avx512_mask16(size_t count) {
  return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

#define CRUMB_AVX512_ALL ((__mmask16)0xFFFF)

static inline __m512 crumb_avx512_scale(__m512i acc, __m512 mul, __m512 add) {
  const __m512 f = _mm512_maskz_cvtepi32_ps(CRUMB_AVX512_ALL, acc);
  return _mm512_add_ps(_mm512_mul_ps(f, mul), add);
}

static inline __m512 crumb_avx512_clamp(__m512 y, const crumb_epilogue_avx512* e) {
  const __m512 v = _mm512_maskz_max_ps(CRUMB_AVX512_ALL, e->lo, y);
  return _mm512_maskz_min_ps(CRUMB_AVX512_ALL, e->hi, v);
}

// E(y) as int32 codes.
static inline __m512i crumb_avx512_requantize(__m512 y, const crumb_epilogue_avx512* e) {
  const __m512i q = _mm512_maskz_cvtps_epi32(CRUMB_AVX512_ALL, crumb_avx512_clamp(y, e));
  return _mm512_add_epi32(q, e->z);
}

// 4 x 16 int32 codes (channels 0-15, 16-31, 32-47, 48-63) -> 64 bytes in channel order.
static inline __m512i crumb_avx512_pack64_u8(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  // Lane-wise packs give dword groups (q0 q1 q2 q3) per 128-bit lane; vpermd restores order.
  const __m512i b = _mm512_packus_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  return _mm512_maskz_permutexvar_epi32(
      CRUMB_AVX512_ALL, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
}
// The low 256 bits of x: a vector shuffle, where _mm512_castsi512_si256 (vextract on GCC 12) warns
// as above.
static inline __m256i crumb_avx512_low256(__m512i x) {
  typedef long long crumb_v8di __attribute__((vector_size(64)));
  return (__m256i)__builtin_shufflevector((crumb_v8di)x, (crumb_v8di)x, 0, 1, 2, 3);
}
// 2 x 16 int32 codes in [0, 255] (channels 0-15, 16-31) -> 32 bytes in channel order.
static inline __m256i crumb_avx512_pack32_u8(__m512i q0, __m512i q1) {
  // Per 128-bit lane L the packs give dwords (q0[4L..], q1[4L..], repeated): gather them back.
  const __m512i w = _mm512_packs_epi32(q0, q1);
  const __m512i b = _mm512_packus_epi16(w, w);
  return crumb_avx512_low256(_mm512_maskz_permutexvar_epi32(
      CRUMB_AVX512_ALL, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0), b));
}
static inline __m512i crumb_avx512_pack64_s8(__m512i q0, __m512i q1, __m512i q2, __m512i q3) {
  const __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(q0, q1), _mm512_packs_epi32(q2, q3));
  return _mm512_maskz_permutexvar_epi32(
      CRUMB_AVX512_ALL, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b);
}

// The whole epilogue for channels [n, n + count) (count 0..16) of one output row: acc holds their
// accumulators, mul / add point at the first element of the call's channel arrays (lanes
// n .. n + count - 1 are read, masked), row at the output row.
static inline void crumb_avx512_output16(__m512i acc, const float* mul, const float* add,
                                         const crumb_epilogue_avx512* e, void* row, size_t n,
                                         size_t count) {
  const __mmask16 k = crumb_avx512_mask16(count);
  const __m512 y =
      crumb_avx512_scale(acc, _mm512_maskz_loadu_ps(k, mul + n), _mm512_maskz_loadu_ps(k, add + n));
  if (e->type == CRUMB_ELEM_F32) {
    _mm512_mask_storeu_ps((float*)row + n, k, crumb_avx512_clamp(y, e));
  } else if (e->type == CRUMB_ELEM_U8) {
    // vpmovusdb reads int32 lanes as unsigned: codes are in [0, 255] here, so it is exact.
    _mm512_mask_cvtusepi32_storeu_epi8((uint8_t*)row + n, k, crumb_avx512_requantize(y, e));
  } else {
    _mm512_mask_cvtsepi32_storeu_epi8((int8_t*)row + n, k, crumb_avx512_requantize(y, e));
  }
}

// Same for a ymm of 8 accumulators (AVX512VL): channels [n, n + count), count 0..8.
static inline void crumb_avx512_output8(__m256i acc, const float* mul, const float* add,
                                        const crumb_epilogue_avx512* e, void* row, size_t n,
                                        size_t count) {
  crumb_avx512_output16(_mm512_castsi256_si512(acc), mul, add, e, row, n, count > 8 ? 8 : count);
}

#ifdef __cplusplus
}
#endif
