// crumb_f32_spmm_ukernel_32x1__avx2: the SPARSE_F32 contract (kernels/sparse/sparse.h) on AVX2 +
// FMA (this file alone is compiled with -mfma; its only arithmetic is the explicit
// vfmadd231ps of the contract). 32 pixels (4 ymm accumulators) per output channel, one broadcast
// and 4 FMAs per non-zero; pixel tails in 8-pixel vectors, the last one through vmaskmovps (which
// neither reads nor writes masked-out lanes).
#include <immintrin.h>

#include "kernels/sparse/sparse.h"

namespace {

template <int NV, bool MASKED>
inline void Tile(size_t nc, const char* x, size_t xs, const uint32_t* start,
                 const crumb_sparse_f32_nz* nz, const float* bias, char* out, size_t os, __m256 vlo,
                 __m256 vhi, __m256i last) {
  const crumb_sparse_f32_nz* b = nz + start[0];
  for (size_t i = 0; i < nc; i++) {
    const crumb_sparse_f32_nz* bend = nz + start[i + 1];
    __m256 acc[NV];
    for (int j = 0; j < NV; j++) acc[j] = _mm256_set1_ps(bias[i]);
    const char* xp = x;
    for (; b < bend; b++) {
      xp += (ptrdiff_t)b->delta * (ptrdiff_t)xs;
      const __m256 w = _mm256_set1_ps(b->v);
      for (int j = 0; j < NV; j++) {
        const float* a = (const float*)(xp + 32 * j);
        const __m256 xv = MASKED && j == NV - 1 ? _mm256_maskload_ps(a, last) : _mm256_loadu_ps(a);
        acc[j] = _mm256_fmadd_ps(xv, w, acc[j]);
      }
    }
    char* y = out + i * os;
    for (int j = 0; j < NV; j++) {
      // vmaxps / vminps return their second operand unless the first compares greater / less:
      // acc > lo ? acc : lo, then . < hi ? . : hi, the contract's order.
      const __m256 v = _mm256_min_ps(_mm256_max_ps(acc[j], vlo), vhi);
      float* d = (float*)(y + 32 * j);
      if (MASKED && j == NV - 1) {
        _mm256_maskstore_ps(d, last, v);
      } else {
        _mm256_storeu_ps(d, v);
      }
    }
  }
}

}  // namespace

extern "C" void crumb_f32_spmm_ukernel_32x1__avx2(size_t mc, size_t n0, size_t nc, const float* x,
                                                  size_t x_channel_stride, const void* w,
                                                  const float* bias, float* out,
                                                  size_t out_channel_stride,
                                                  const crumb_spmm_f32_params* params) {
  const uint32_t* start = crumb_sparse_f32_start(w) + n0;
  const crumb_sparse_f32_nz* nz = crumb_sparse_f32_nonzeros(w);
  const __m256 vlo = _mm256_set1_ps(params->min), vhi = _mm256_set1_ps(params->max);
  const char* xc = (const char*)x;
  char* oc = (char*)out;
  const size_t xs = x_channel_stride, os = out_channel_stride;
  size_t p = 0;
  const __m256i none = _mm256_setzero_si256();
  for (; p + 32 <= mc; p += 32) {
    Tile<4, false>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, none);
  }
  const size_t r = mc - p;
  if (r == 0) return;
  const int lanes = (int)((r - 1) % 8 + 1);
  const __m256i last =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  switch ((r + 7) / 8) {
    case 1:
      Tile<1, true>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, last);
      break;
    case 2:
      Tile<2, true>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, last);
      break;
    case 3:
      Tile<3, true>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, last);
      break;
    default:
      Tile<4, true>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, last);
      break;
  }
}
