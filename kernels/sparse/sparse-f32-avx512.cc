// crumb_f32_spmm_ukernel_64x1__avx512: the SPARSE_F32 contract (kernels/sparse/sparse.h) on
// AVX-512 F. 64 pixels (4 zmm accumulators) per output channel; per non-zero one broadcast of the
// weight and 4 vfmadd231ps with the loads folded in, i.e. 64 MACs, where XNNPACK's SSE kernel
// (Debian's 2022 build has no AVX spmm on x86) does 32 with separate mul / add. Every channel
// keeps a single accumulator per pixel (the contract's summation order, so the bits equal
// fmaf's); to hide the FMA latency two channels are walked together (8 independent chains).
// On the shared Zen 4 VM that measured 0-10 % (at best ~1.3x in a quiet moment) over one channel
// at a time on the 90 % layers; 4 channels, and software prefetch of the next tile, did not
// measure faster. Pixel tails use 16-pixel vectors with a masked last one (nothing past
// pixel mc is read or written).
#include <immintrin.h>

#include "kernels/sparse/sparse.h"

namespace {

template <int NV, bool MASKED>
struct Acc {
  __m512 v[NV];
  const char* xp;
  inline void Init(float bias, const char* x) {
    for (int j = 0; j < NV; j++) v[j] = _mm512_set1_ps(bias);
    xp = x;
  }
  inline void Step(const crumb_sparse_f32_nz* b, size_t xs, __mmask16 last) {
    xp += (ptrdiff_t)b->delta * (ptrdiff_t)xs;
    const __m512 w = _mm512_set1_ps(b->v);
    for (int j = 0; j < NV; j++) {
      const __m512 xv = MASKED && j == NV - 1 ? _mm512_maskz_loadu_ps(last, xp + 64 * j)
                                              : _mm512_loadu_ps(xp + 64 * j);
      v[j] = _mm512_fmadd_ps(xv, w, v[j]);
    }
  }
  inline void Store(char* y, __m512 vlo, __m512 vhi, __mmask16 last) const {
    for (int j = 0; j < NV; j++) {
      // max(acc, lo) = acc > lo ? acc : lo, min(., hi) = . < hi ? . : hi (the contract's
      // order). maskz forms with all lanes: GCC 12's unmasked ones warn (-Wmaybe-uninitialized)
      // on their _mm512_undefined_ps pass-through.
      const __m512 r = _mm512_maskz_min_ps(0xFFFF, _mm512_maskz_max_ps(0xFFFF, v[j], vlo), vhi);
      if (MASKED && j == NV - 1) {
        _mm512_mask_storeu_ps(y + 64 * j, last, r);
      } else {
        _mm512_storeu_ps(y + 64 * j, r);
      }
    }
  }
};

// One tile of NV * 16 pixels (the last vector masked by `last` when MASKED) for channels
// [0, nc) of the call. Two channels at a time, their non-zeros interleaved: 2 x NV independent
// FMA chains, so a channel's chain latency hides behind the other's loads and FMAs.
template <int NV, bool MASKED>
inline void Tile(size_t nc, const char* x, size_t xs, const uint32_t* start,
                 const crumb_sparse_f32_nz* nz, const float* bias, char* out, size_t os, __m512 vlo,
                 __m512 vhi, __mmask16 last) {
  size_t i = 0;
  for (; i + 2 <= nc; i += 2) {
    const crumb_sparse_f32_nz* b0 = nz + start[i];
    const crumb_sparse_f32_nz* b1 = nz + start[i + 1];
    const crumb_sparse_f32_nz* e1 = nz + start[i + 2];
    const crumb_sparse_f32_nz* e0 = b1;
    Acc<NV, MASKED> a0, a1;
    a0.Init(bias[i], x);
    a1.Init(bias[i + 1], x);
    const size_t common = (size_t)(e0 - b0) < (size_t)(e1 - b1) ? e0 - b0 : e1 - b1;
    for (size_t c = 0; c < common; c++, b0++, b1++) {
      a0.Step(b0, xs, last);
      a1.Step(b1, xs, last);
    }
    for (; b0 < e0; b0++) a0.Step(b0, xs, last);
    for (; b1 < e1; b1++) a1.Step(b1, xs, last);
    a0.Store(out + i * os, vlo, vhi, last);
    a1.Store(out + (i + 1) * os, vlo, vhi, last);
  }
  if (i < nc) {
    Acc<NV, MASKED> a0;
    a0.Init(bias[i], x);
    for (const crumb_sparse_f32_nz* b = nz + start[i]; b < nz + start[i + 1]; b++) {
      a0.Step(b, xs, last);
    }
    a0.Store(out + i * os, vlo, vhi, last);
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
