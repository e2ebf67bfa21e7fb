// crumb_f32_spmm_ukernel_64x1__avx512: the SPARSE_F32 contract (kernels/sparse/sparse.h) on
// AVX-512 F. 64 pixels (4 zmm accumulators) per output channel; per non-zero one broadcast of the
// weight and 4 loads + 4 vfmadd231ps, i.e. 64 MACs, where XNNPACK's SSE kernel (Debian's 2022
// build has no AVX spmm on x86) does 32 with separate mul / add. The 4 chains per channel are
// exactly the FMA latency x throughput of Zen 4, and every channel keeps a single accumulator
// per pixel (the contract's summation order, so the bits equal fmaf's). Pixel tails use 16-pixel
// vectors with a masked last one (nothing past pixel mc is read or written).
#include <immintrin.h>

#include "kernels/sparse/sparse.h"

namespace {

// One tile of NV * 16 pixels (the last vector masked by `last` when MASKED) for channels
// [0, nc) of the call.
template <int NV, bool MASKED>
inline void Tile(size_t nc, const char* x, size_t xs, const uint32_t* start,
                 const crumb_sparse_f32_nz* nz, const float* bias, char* out, size_t os, __m512 vlo,
                 __m512 vhi, __mmask16 last) {
  const __mmask16 m[4] = {
      NV == 1 && MASKED ? last : (__mmask16)0xFFFF, NV == 2 && MASKED ? last : (__mmask16)0xFFFF,
      NV == 3 && MASKED ? last : (__mmask16)0xFFFF, NV == 4 && MASKED ? last : (__mmask16)0xFFFF};
  const crumb_sparse_f32_nz* b = nz + start[0];
  for (size_t i = 0; i < nc; i++) {
    const crumb_sparse_f32_nz* bend = nz + start[i + 1];
    __m512 acc[NV];
    for (int j = 0; j < NV; j++) acc[j] = _mm512_set1_ps(bias[i]);
    const char* xp = x;
    for (; b < bend; b++) {
      xp += (ptrdiff_t)b->delta * (ptrdiff_t)xs;
      const __m512 w = _mm512_set1_ps(b->v);
      for (int j = 0; j < NV; j++) {
        const __m512 xv = MASKED && j == NV - 1 ? _mm512_maskz_loadu_ps(m[j], xp + 64 * j)
                                                : _mm512_loadu_ps(xp + 64 * j);
        acc[j] = _mm512_fmadd_ps(xv, w, acc[j]);
      }
    }
    char* y = out + i * os;
    for (int j = 0; j < NV; j++) {
      // max(acc, lo) = acc > lo ? acc : lo, min(., hi) = . < hi ? . : hi (the contract's order).
      // maskz forms with all lanes: GCC 12's unmasked ones warn (-Wmaybe-uninitialized) on
      // their _mm512_undefined_ps pass-through.
      const __m512 v = _mm512_maskz_min_ps(0xFFFF, _mm512_maskz_max_ps(0xFFFF, acc[j], vlo), vhi);
      if (MASKED && j == NV - 1) {
        _mm512_mask_storeu_ps(y + 64 * j, m[j], v);
      } else {
        _mm512_storeu_ps(y + 64 * j, v);
      }
    }
  }
}

}  // namespace

extern "C" void crumb_f32_spmm_ukernel_64x1__avx512(size_t mc, size_t n0, size_t nc, const float* x,
                                                    size_t x_channel_stride, const void* w,
                                                    const float* bias, float* out,
                                                    size_t out_channel_stride,
                                                    const crumb_spmm_f32_params* params) {
  const uint32_t* start = crumb_sparse_f32_start(w) + n0;
  const crumb_sparse_f32_nz* nz = crumb_sparse_f32_nonzeros(w);
  const __m512 vlo = _mm512_set1_ps(params->min), vhi = _mm512_set1_ps(params->max);
  const char* xc = (const char*)x;
  char* oc = (char*)out;
  const size_t xs = x_channel_stride, os = out_channel_stride;
  size_t p = 0;
  for (; p + 64 <= mc; p += 64) {
    Tile<4, false>(nc, xc + 4 * p, xs, start, nz, bias, oc + 4 * p, os, vlo, vhi, 0);
  }
  const size_t r = mc - p;
  if (r == 0) return;
  const __mmask16 last = (__mmask16)(0xFFFFu >> (15 - (r - 1) % 16));
  switch ((r + 15) / 16) {
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
