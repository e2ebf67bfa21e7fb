// crumb_q8_qs8_spmm_ukernel_32x4__avx512vnni: the sparse contract (kernels/sparse/sparse.h) on
// AVX-512 VNNI. 32 pixels (two zmm of 16 C4HW dwords) per tile; per output channel every block is
// one broadcast of its 4 int8 values and two vpdpbusd (u8 activations x s8 weights, four products
// added to an int32 lane without intermediate saturation, wrapping like the scalar kernel), so
// one block = 128 MACs. s8 activations are moved to the u8 domain with one vpxor per load
// (a_u = a ^ 0x80, za_u = za + 128). Pixel tails use masked loads (nothing past pixel mc is read).
// The epilogue is epilogue-avx512.h's (bit-exact with crumb_store_output); the codes of 4
// channels are merged into one dword per pixel, so a C4HW output is one (masked) store per 16
// pixels.
#include <immintrin.h>
#include <string.h>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/sparse/internal.h"
#include "kernels/sparse/sparse.h"

namespace {

constexpr size_t kMR = 32;

template <bool FLIP>
void Kernel(size_t mc, size_t n0, size_t nc, const uint8_t* a, size_t a_gs, const void* w,
            uint8_t* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  const int32_t* vsum = crumb_sparse_vsum(w);
  const uint32_t* start = crumb_sparse_start(w);
  const crumb_sparse_block* blocks = crumb_sparse_blocks(w);
  const int32_t za_u = params->a_zero_point + (FLIP ? 128 : 0);
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&params->out);
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const size_t esize = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  for (size_t p0 = 0; p0 < mc; p0 += kMR) {
    const size_t count = mc - p0 < kMR ? mc - p0 : kMR;
    const __mmask16 m0 = crumb_avx512_mask16(count);
    const __mmask16 m1 = crumb_avx512_mask16(count > 16 ? count - 16 : 0);
    const uint8_t* ap0 = a + 4 * p0;
    for (size_t i0 = 0; i0 < nc; i0 += 4) {
      const size_t nq = nc - i0 < 4 ? nc - i0 : 4;
      __m512i q[4][2];
      __m512 f[4][2];
      for (size_t c = 0; c < nq; c++) {
        const size_t o = n0 + i0 + c;
        __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
        __m512i acc2 = _mm512_setzero_si512(), acc3 = _mm512_setzero_si512();
        const uint8_t* ap = ap0;
        const crumb_sparse_block* b = blocks + start[o];
        const crumb_sparse_block* bend = blocks + start[o + 1];
        // Two blocks per iteration into separate accumulators (the vpdpbusd chains are the
        // latency bound at low block counts).
        for (; b + 2 <= bend; b += 2) {
          int32_t v0, v1;
          memcpy(&v0, b[0].v, 4);
          memcpy(&v1, b[1].v, 4);
          ap += (ptrdiff_t)b[0].delta * (ptrdiff_t)a_gs;
          __m512i x0 = _mm512_maskz_loadu_epi32(m0, ap);
          __m512i x1 = _mm512_maskz_loadu_epi32(m1, ap + 64);
          ap += (ptrdiff_t)b[1].delta * (ptrdiff_t)a_gs;
          __m512i x2 = _mm512_maskz_loadu_epi32(m0, ap);
          __m512i x3 = _mm512_maskz_loadu_epi32(m1, ap + 64);
          if (FLIP) {
            x0 = _mm512_xor_si512(x0, flip), x1 = _mm512_xor_si512(x1, flip);
            x2 = _mm512_xor_si512(x2, flip), x3 = _mm512_xor_si512(x3, flip);
          }
          const __m512i w0 = _mm512_set1_epi32(v0), w1 = _mm512_set1_epi32(v1);
          acc0 = _mm512_dpbusd_epi32(acc0, x0, w0);
          acc1 = _mm512_dpbusd_epi32(acc1, x1, w0);
          acc2 = _mm512_dpbusd_epi32(acc2, x2, w1);
          acc3 = _mm512_dpbusd_epi32(acc3, x3, w1);
        }
        if (b < bend) {
          int32_t v0;
          memcpy(&v0, b->v, 4);
          ap += (ptrdiff_t)b->delta * (ptrdiff_t)a_gs;
          __m512i x0 = _mm512_maskz_loadu_epi32(m0, ap);
          __m512i x1 = _mm512_maskz_loadu_epi32(m1, ap + 64);
          if (FLIP) x0 = _mm512_xor_si512(x0, flip), x1 = _mm512_xor_si512(x1, flip);
          const __m512i w0 = _mm512_set1_epi32(v0);
          acc0 = _mm512_dpbusd_epi32(acc0, x0, w0);
          acc1 = _mm512_dpbusd_epi32(acc1, x1, w0);
        }
        const __m512i corr = _mm512_set1_epi32((int32_t)((uint32_t)za_u * (uint32_t)vsum[o]));
        acc0 = _mm512_sub_epi32(_mm512_add_epi32(acc0, acc2), corr);
        acc1 = _mm512_sub_epi32(_mm512_add_epi32(acc1, acc3), corr);
        const __m512 mul = _mm512_set1_ps(params->mul[i0 + c]);
        const __m512 add = _mm512_set1_ps(params->add[i0 + c]);
        const __m512 y0 = crumb_avx512_scale(acc0, mul, add);
        const __m512 y1 = crumb_avx512_scale(acc1, mul, add);
        if (e.type == CRUMB_ELEM_F32) {
          f[c][0] = crumb_avx512_clamp(y0, &e), f[c][1] = crumb_avx512_clamp(y1, &e);
        } else {
          q[c][0] = crumb_avx512_requantize(y0, &e), q[c][1] = crumb_avx512_requantize(y1, &e);
        }
      }
      uint8_t* o = out + (i0 / 4) * ogs * esize;
      if (e.type != CRUMB_ELEM_F32 && nq == 4) {
        // Byte c of pixel p's dword = channel c's code (the low byte of its int32 code).
        const __m512i lowb = _mm512_set1_epi32(0xFF);
        __m512i wd[2];
        for (int h = 0; h < 2; h++) {
          const __m512i t01 = _mm512_or_si512(
              _mm512_and_si512(q[0][h], lowb),
              _mm512_maskz_slli_epi32(CRUMB_AVX512_ALL, _mm512_and_si512(q[1][h], lowb), 8));
          const __m512i t23 = _mm512_or_si512(
              _mm512_maskz_slli_epi32(CRUMB_AVX512_ALL, _mm512_and_si512(q[2][h], lowb), 16),
              _mm512_maskz_slli_epi32(CRUMB_AVX512_ALL, q[3][h], 24));
          wd[h] = _mm512_or_si512(t01, t23);
        }
        if (ps == 4) {
          _mm512_mask_storeu_epi32(o, m0, wd[0]);
          _mm512_mask_storeu_epi32(o + 64, m1, wd[1]);
        } else {
          alignas(64) uint32_t words[kMR];
          _mm512_store_si512(words, wd[0]);
          _mm512_store_si512(words + 16, wd[1]);
          crumb_sparse::StoreWords(words, count, o, ps);
        }
      } else {
        alignas(64) int32_t qs[4 * kMR];
        alignas(64) float fs[4 * kMR];
        for (size_t c = 0; c < nq; c++) {
          if (e.type == CRUMB_ELEM_F32) {
            _mm512_store_ps(fs + c * kMR, f[c][0]);
            _mm512_store_ps(fs + c * kMR + 16, f[c][1]);
          } else {
            _mm512_store_si512(qs + c * kMR, q[c][0]);
            _mm512_store_si512(qs + c * kMR + 16, q[c][1]);
          }
        }
        crumb_sparse::StoreTile(qs, fs, kMR, e.type, count, nq, o, ps);
      }
    }
    out += kMR * ps * esize;
  }
}

}  // namespace

extern "C" void crumb_q8_qs8_spmm_ukernel_32x4__avx512vnni(
    size_t mc, size_t n0, size_t nc, const void* a, size_t a_group_stride, const void* w, void* out,
    size_t out_pixel_stride, size_t out_group_stride, const crumb_spmm_params* params) {
  if (params->a_type == CRUMB_ELEM_S8) {
    Kernel<true>(mc, n0, nc, (const uint8_t*)a, a_group_stride, w, (uint8_t*)out, out_pixel_stride,
                 out_group_stride, params);
  } else {
    Kernel<false>(mc, n0, nc, (const uint8_t*)a, a_group_stride, w, (uint8_t*)out, out_pixel_stride,
                  out_group_stride, params);
  }
}
