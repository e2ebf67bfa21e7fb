// The requantizing epilogue of kernels/common/requant.h on NEON registers (AArch64): int32
// accumulators of 4 (or 8) output channels in, the output row's bytes out. Include only from
// *-neon.cc / *-neondot.cc files.
//
// Bit-exactness with crumb_store_output(): y = float(acc) * mul + add with scvtf, fmul, fadd
// (never fmla: the build has -ffp-contract=off, so the compiler does not fuse them either); the
// clamp as compare-and-select, which is the scalar `if (v < lo) v = lo; if (v > hi) v = hi;`
// exactly (fmax / fmin would order -0.0 below +0.0, which the scalar compare does not); fcvtns
// (round to nearest, ties to even); + z; saturating narrowing (codes already lie in
// [qmin, qmax] within the type's range). y is never NaN (finite mul / add, see epilogue-avx2.h).
#pragma once

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crumb_epilogue_neon {
  float32x4_t lo;  // (float)(qmin - z), or fmin for float outputs
  float32x4_t hi;  // (float)(qmax - z), or fmax
  int32x4_t z;
  uint32_t type;  // crumb_elem_type
} crumb_epilogue_neon;

static inline crumb_epilogue_neon crumb_epilogue_neon_init(const crumb_output_params* p) {
  crumb_epilogue_neon e;
  e.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    e.lo = vdupq_n_f32(p->fmin);
    e.hi = vdupq_n_f32(p->fmax);
    e.z = vdupq_n_s32(0);
  } else {
    e.lo = vdupq_n_f32((float)(p->qmin - p->zero_point));
    e.hi = vdupq_n_f32((float)(p->qmax - p->zero_point));
    e.z = vdupq_n_s32(p->zero_point);
  }
  return e;
}

static inline float32x4_t crumb_neon_scale(int32x4_t acc, float32x4_t mul, float32x4_t add) {
  return vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc), mul), add);
}

static inline float32x4_t crumb_neon_clamp(float32x4_t y, const crumb_epilogue_neon* e) {
  const float32x4_t v = vbslq_f32(vcltq_f32(y, e->lo), e->lo, y);
  return vbslq_f32(vcgtq_f32(v, e->hi), e->hi, v);
}

// E(y) as int32 codes.
static inline int32x4_t crumb_neon_requantize(float32x4_t y, const crumb_epilogue_neon* e) {
  return vaddq_s32(vcvtnq_s32_f32(crumb_neon_clamp(y, e)), e->z);
}

// Loads count (0..4) floats, zero in the other lanes, never reading past p[count - 1].
static inline float32x4_t crumb_neon_load_partial_f32(const float* p, size_t count) {
  if (count >= 4) return vld1q_f32(p);
  float b[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (size_t i = 0; i < count; i++) b[i] = p[i];
  return vld1q_f32(b);
}

// The whole epilogue for channels [n, n + count) (count 1..8) of one output row: acc0 / acc1
// hold channels n .. n + 3 / n + 4 .. n + 7; mul / add point at the call's channel arrays.
static inline void crumb_neon_output8(int32x4_t acc0, int32x4_t acc1, const float* mul,
                                      const float* add, const crumb_epilogue_neon* e, void* row,
                                      size_t n, size_t count) {
  const size_t c0 = count < 4 ? count : 4, c1 = count > 4 ? count - 4 : 0;
  const float32x4_t y0 = crumb_neon_scale(acc0, crumb_neon_load_partial_f32(mul + n, c0),
                                          crumb_neon_load_partial_f32(add + n, c0));
  const float32x4_t y1 = crumb_neon_scale(acc1, crumb_neon_load_partial_f32(mul + n + 4, c1),
                                          crumb_neon_load_partial_f32(add + n + 4, c1));
  if (e->type == CRUMB_ELEM_F32) {
    float* o = (float*)row + n;
    if (count == 8) {
      vst1q_f32(o, crumb_neon_clamp(y0, e));
      vst1q_f32(o + 4, crumb_neon_clamp(y1, e));
    } else {
      float b[8];
      vst1q_f32(b, crumb_neon_clamp(y0, e));
      vst1q_f32(b + 4, crumb_neon_clamp(y1, e));
      memcpy(o, b, count * sizeof(float));
    }
    return;
  }
  const int16x8_t w = vcombine_s16(vqmovn_s32(crumb_neon_requantize(y0, e)),
                                   vqmovn_s32(crumb_neon_requantize(y1, e)));
  const uint8x8_t b = e->type == CRUMB_ELEM_U8 ? vqmovun_s16(w) : vreinterpret_u8_s8(vqmovn_s16(w));
  uint8_t* o = (uint8_t*)row + n;
  if (count == 8) {
    vst1_u8(o, b);
  } else {
    uint8_t t[8];
    vst1_u8(t, b);
    memcpy(o, t, count);
  }
}

#ifdef __cplusplus
}
#endif
