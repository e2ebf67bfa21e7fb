// crumb_q8_qs8_spmm_ukernel_16x4__avx2: the sparse contract (kernels/sparse/sparse.h) on AVX2.
// 16 pixels (two ymm of 8 C4HW dwords) per tile, u8-domain activations (s8 codes: one vpxor per
// load, a_u = a ^ 0x80, za_u = za + 128). Two exact block products, chosen per call from the
// header's CRUMB_SPARSE_WIDE flag:
//   narrow (every |v| <= 64): vpmaddubsw(a_u, v) — a pair a0 v0 + a1 v1 is within +-2 * 255 * 64
//     = +-32640, so the int16 saturation never happens — then vpmaddwd with ones: one int32 per
//     pixel, 32 MACs per 3 instructions;
//   wide (some |v| > 64, 8-bit weights): a_u zero-extended to int16 (vpmovzxbw), vpmaddwd with the
//     block's 4 values sign-extended and broadcast: two int32 partial sums per pixel (channels
//     0+1, 2+3), added pairwise once per channel (vphaddd + vpermq).
// Pixel tails use vpmaskmovd loads (nothing past pixel mc is read). Epilogue: epilogue-avx2.h's
// steps (bit-exact with crumb_store_output), the codes of 4 channels merged into one dword per
// pixel.
#include <immintrin.h>
#include <string.h>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/sparse/internal.h"
#include "kernels/sparse/sparse.h"

namespace {

constexpr size_t kMR = 16;

inline __m256i PixelMask(size_t count) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), idx);
}

template <bool FLIP, bool FULL>
inline __m256i Load8(const uint8_t* p, __m256i mask, __m256i flip) {
  __m256i x =
      FULL ? _mm256_loadu_si256((const __m256i*)p) : _mm256_maskload_epi32((const int*)p, mask);
  if (FLIP) x = _mm256_xor_si256(x, flip);
  return x;
}

// Accumulators of the 16 pixels of one channel (int32 per pixel).
template <bool FLIP, bool WIDE, bool FULL>
inline void Channel(const uint8_t* ap, ptrdiff_t a_gs, const crumb_sparse_block* b,
                    const crumb_sparse_block* bend, __m256i mask0, __m256i mask1, __m256i* out0,
                    __m256i* out1) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  if (!WIDE) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (; b < bend; b++) {
      int32_t v;
      memcpy(&v, b->v, 4);
      ap += b->delta * a_gs;
      const __m256i wv = _mm256_set1_epi32(v);
      const __m256i x0 = Load8<FLIP, FULL>(ap, mask0, flip);
      const __m256i x1 = Load8<FLIP, FULL>(ap + 32, mask1, flip);
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x0, wv), ones));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x1, wv), ones));
    }
    *out0 = acc0, *out1 = acc1;
  } else {
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    __m256i a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
    for (; b < bend; b++) {
      int32_t v;
      memcpy(&v, b->v, 4);
      ap += b->delta * a_gs;
      const __m256i wv = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)));
      const __m256i x0 = Load8<FLIP, FULL>(ap, mask0, flip);
      const __m256i x1 = Load8<FLIP, FULL>(ap + 32, mask1, flip);
      a0 = _mm256_add_epi32(
          a0, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(x0)), wv));
      a1 = _mm256_add_epi32(
          a1, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(x0, 1)), wv));
      a2 = _mm256_add_epi32(
          a2, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(x1)), wv));
      a3 = _mm256_add_epi32(
          a3, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(x1, 1)), wv));
    }
    // a0 = pixels 0, 1 | 2, 3 as (c01, c23) pairs; vphaddd -> (p0 p1 p4 p5 | p2 p3 p6 p7).
    *out0 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xD8);
    *out1 = _mm256_permute4x64_epi64(_mm256_hadd_epi32(a2, a3), 0xD8);
  }
}

template <bool FLIP, bool WIDE>
void Kernel(size_t mc, size_t n0, size_t nc, const uint8_t* a, size_t a_gs, const void* w,
            uint8_t* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  const int32_t* vsum = crumb_sparse_vsum(w);
  const uint32_t* start = crumb_sparse_start(w);
  const crumb_sparse_block* blocks = crumb_sparse_blocks(w);
  const int32_t za_u = params->a_zero_point + (FLIP ? 128 : 0);
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&params->out);
  const size_t esize = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  for (size_t p0 = 0; p0 < mc; p0 += kMR) {
    const size_t count = mc - p0 < kMR ? mc - p0 : kMR;
    const __m256i mask0 = PixelMask(count), mask1 = PixelMask(count > 8 ? count - 8 : 0);
    const uint8_t* ap0 = a + 4 * p0;
    for (size_t i0 = 0; i0 < nc; i0 += 4) {
      const size_t nq = nc - i0 < 4 ? nc - i0 : 4;
      __m256i q[4][2];
      __m256 f[4][2];
      for (size_t c = 0; c < nq; c++) {
        const size_t o = n0 + i0 + c;
        __m256i acc0, acc1;
        if (count == kMR) {
          Channel<FLIP, WIDE, true>(ap0, (ptrdiff_t)a_gs, blocks + start[o], blocks + start[o + 1],
                                    mask0, mask1, &acc0, &acc1);
        } else {
          Channel<FLIP, WIDE, false>(ap0, (ptrdiff_t)a_gs, blocks + start[o], blocks + start[o + 1],
                                     mask0, mask1, &acc0, &acc1);
        }
        const __m256i corr = _mm256_set1_epi32((int32_t)((uint32_t)za_u * (uint32_t)vsum[o]));
        const __m256 mul = _mm256_set1_ps(params->mul[i0 + c]);
        const __m256 add = _mm256_set1_ps(params->add[i0 + c]);
        const __m256 y0 = crumb_avx2_scale(_mm256_sub_epi32(acc0, corr), mul, add);
        const __m256 y1 = crumb_avx2_scale(_mm256_sub_epi32(acc1, corr), mul, add);
        if (e.type == CRUMB_ELEM_F32) {
          f[c][0] = crumb_avx2_clamp(y0, &e), f[c][1] = crumb_avx2_clamp(y1, &e);
        } else {
          q[c][0] = crumb_avx2_requantize(y0, &e), q[c][1] = crumb_avx2_requantize(y1, &e);
        }
      }
      uint8_t* o = out + (i0 / 4) * ogs * esize;
      if (e.type != CRUMB_ELEM_F32 && nq == 4) {
        const __m256i lowb = _mm256_set1_epi32(0xFF);
        __m256i wd[2];
        for (int h = 0; h < 2; h++) {
          const __m256i t01 =
              _mm256_or_si256(_mm256_and_si256(q[0][h], lowb),
                              _mm256_slli_epi32(_mm256_and_si256(q[1][h], lowb), 8));
          const __m256i t23 =
              _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(q[2][h], lowb), 16),
                              _mm256_slli_epi32(q[3][h], 24));
          wd[h] = _mm256_or_si256(t01, t23);
        }
        if (ps == 4 && count == kMR) {
          _mm256_storeu_si256((__m256i*)o, wd[0]);
          _mm256_storeu_si256((__m256i*)(o + 32), wd[1]);
        } else if (ps == 4) {
          _mm256_maskstore_epi32((int*)o, mask0, wd[0]);
          _mm256_maskstore_epi32((int*)(o + 32), mask1, wd[1]);
        } else {
          alignas(32) uint32_t words[kMR];
          _mm256_store_si256((__m256i*)words, wd[0]);
          _mm256_store_si256((__m256i*)(words + 8), wd[1]);
          crumb_sparse::StoreWords(words, count, o, ps);
        }
      } else {
        alignas(32) int32_t qs[4 * kMR];
        alignas(32) float fs[4 * kMR];
        for (size_t c = 0; c < nq; c++) {
          if (e.type == CRUMB_ELEM_F32) {
            _mm256_store_ps(fs + c * kMR, f[c][0]);
            _mm256_store_ps(fs + c * kMR + 8, f[c][1]);
          } else {
            _mm256_store_si256((__m256i*)(qs + c * kMR), q[c][0]);
            _mm256_store_si256((__m256i*)(qs + c * kMR + 8), q[c][1]);
          }
        }
        crumb_sparse::StoreTile(qs, fs, kMR, e.type, count, nq, o, ps);
      }
    }
    out += kMR * ps * esize;
  }
}

}  // namespace

extern "C" void crumb_q8_qs8_spmm_ukernel_16x4__avx2(size_t mc, size_t n0, size_t nc, const void* a,
                                                     size_t a_group_stride, const void* w,
                                                     void* out, size_t out_pixel_stride,
                                                     size_t out_group_stride,
                                                     const crumb_spmm_params* params) {
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const bool wide = (((const crumb_sparse_header*)w)->flags & CRUMB_SPARSE_WIDE) != 0;
  auto* fn = s8 ? (wide ? Kernel<true, true> : Kernel<true, false>)
                : (wide ? Kernel<false, true> : Kernel<false, false>);
  fn(mc, n0, nc, (const uint8_t*)a, a_group_stride, w, (uint8_t*)out, out_pixel_stride,
     out_group_stride, params);
}
