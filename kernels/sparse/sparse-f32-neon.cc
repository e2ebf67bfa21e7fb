// crumb_f32_spmm_ukernel_16x1__neon: the SPARSE_F32 contract (kernels/sparse/sparse.h) on AArch64
// Advanced SIMD. 16 pixels (4 q accumulators) per output channel, one fmla by the weight per 4
// pixels and non-zero; tails in 4-pixel vectors, then up to 3 pixels with fmaf (an fmadd on
// AArch64, the same single rounding as fmla). AArch64 only: Armv7 NEON has no fused
// multiply-add in every core, so an Armv7 build lists only the scalar kernel.
#include <arm_neon.h>
#include <math.h>

#include "kernels/sparse/sparse.h"

namespace {

template <int NV>
inline void Tile(size_t nc, const char* x, size_t xs, const uint32_t* start,
                 const crumb_sparse_f32_nz* nz, const float* bias, char* out, size_t os,
                 float32x4_t vlo, float32x4_t vhi) {
  const crumb_sparse_f32_nz* b = nz + start[0];
  for (size_t i = 0; i < nc; i++) {
    const crumb_sparse_f32_nz* bend = nz + start[i + 1];
    float32x4_t acc[NV];
    for (int j = 0; j < NV; j++) acc[j] = vdupq_n_f32(bias[i]);
    const char* xp = x;
    for (; b < bend; b++) {
      xp += (ptrdiff_t)b->delta * (ptrdiff_t)xs;
      const float v = b->v;
      for (int j = 0; j < NV; j++) {
        acc[j] = vfmaq_n_f32(acc[j], vld1q_f32((const float*)(xp + 16 * j)), v);
      }
    }
    char* y = out + i * os;
    for (int j = 0; j < NV; j++) {
      // acc > lo ? acc : lo, then . < hi ? . : hi (bsl on the compare, not fmax / fmin, whose
      // zero-sign rule differs from the scalar kernel's compare).
      float32x4_t t = vbslq_f32(vcgtq_f32(acc[j], vlo), acc[j], vlo);
      t = vbslq_f32(vcltq_f32(t, vhi), t, vhi);
      vst1q_f32((float*)(y + 16 * j), t);
    }
  }
}

}  // namespace

extern "C" void crumb_f32_spmm_ukernel_16x1__neon(size_t mc, size_t n0, size_t nc, const float* x,
                                                  size_t x_channel_stride, const void* w,
                                                  const float* bias, float* out,
                                                  size_t out_channel_stride,
                                                  const crumb_spmm_f32_params* params) {
  const uint32_t* start = crumb_sparse_f32_start(w) + n0;
  const crumb_sparse_f32_nz* nz = crumb_sparse_f32_nonzeros(w);
  const float lo = params->min, hi = params->max;
  const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
  const char* xc = (const char*)x;
  char* oc = (char*)out;
  const size_t xs = x_channel_stride, os = out_channel_stride;
  size_t p = 0;
  for (; p + 16 <= mc; p += 16) {
    Tile<4>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi);
  }
  switch ((mc - p) / 4) {
    case 1:
      Tile<1>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi);
      break;
    case 2:
      Tile<2>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi);
      break;
    case 3:
      Tile<3>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi);
      break;
    default:
      break;
  }
  p += (mc - p) / 4 * 4;
  for (; p < mc; p++) {
    for (size_t i = 0; i < nc; i++) {
      float acc = bias[i];
      const char* xp = xc + 4 * p;
      for (const crumb_sparse_f32_nz* b = nz + start[i]; b < nz + start[i + 1]; b++) {
        xp += (ptrdiff_t)b->delta * (ptrdiff_t)xs;
        acc = fmaf(b->v, *(const float*)xp, acc);
      }
      acc = acc > lo ? acc : lo;
      *(float*)(oc + i * os + 4 * p) = acc < hi ? acc : hi;
    }
  }
}
