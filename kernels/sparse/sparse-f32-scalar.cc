// crumb_f32_spmm_ukernel_1x1__scalar: the portable SPARSE_F32 kernel (kernels/sparse/sparse.h),
// the definition of the fp32 contract's bits: fmaf per non-zero in packed order from the bias.
// Pixel-outer so that one channel's walk over its non-zeros is the whole inner loop.
#include <math.h>

#include "kernels/sparse/sparse.h"

extern "C" void crumb_f32_spmm_ukernel_1x1__scalar(size_t mc, size_t n0, size_t nc, const float* x,
                                                   size_t x_channel_stride, const void* w,
                                                   const float* bias, float* out,
                                                   size_t out_channel_stride,
                                                   const crumb_spmm_f32_params* params) {
  const uint32_t* start = crumb_sparse_f32_start(w);
  const crumb_sparse_f32_nz* nz = crumb_sparse_f32_nonzeros(w);
  const float lo = params->min, hi = params->max;
  for (size_t i = 0; i < nc; i++) {
    const crumb_sparse_f32_nz* b0 = nz + start[n0 + i];
    const crumb_sparse_f32_nz* b1 = nz + start[n0 + i + 1];
    float* y = (float*)((char*)out + i * out_channel_stride);
    for (size_t p = 0; p < mc; p++) {
      float acc = bias[i];
      const char* xp = (const char*)(x + p);
      for (const crumb_sparse_f32_nz* b = b0; b < b1; b++) {
        xp += (ptrdiff_t)b->delta * (ptrdiff_t)x_channel_stride;
        acc = fmaf(b->v, *(const float*)xp, acc);
      }
      acc = acc > lo ? acc : lo;
      y[p] = acc < hi ? acc : hi;
    }
  }
}
