// crumb_q8_qs8_spmm_ukernel_16x4__avx2: the sparse contract (kernels/sparse/sparse.h) on AVX2.
// 16 pixels (two ymm of 8 C4HW dwords) per tile, four output channels (one C4HW output dword) per
// group, u8-domain activations (s8 codes: one vpxor per load, a_u = a ^ 0x80, za_u = za + 128).
// Two exact block products, chosen per call from the header's CRUMB_SPARSE_WIDE flag:
//   narrow (every |v| <= 64): vpmaddubsw(a_u, v) — a pair a0 v0 + a1 v1 is within +-2 * 255 * 64
//     = +-32640, so the int16 saturation never happens — then vpmaddwd with ones: one int32 per
//     pixel, 32 MACs per 3 instructions;
//   wide (some |v| > 64, 8-bit weights): a_u zero-extended to int16 (vpmovzxbw), vpmaddwd with the
//     block's 4 values sign-extended and broadcast: two int32 partial sums per pixel (channels
//     0+1, 2+3), added pairwise once per channel (vphaddd + vpermq).
// Pixel tails use vpmaskmovd loads (nothing past pixel mc is read).
//
// Loop order and epilogue as the AVX-512 kernel (sparse-avx512.cc, which explains them): pixel
// blocks of kPB, groups of 4 channels set up once per block (channels without blocks give a
// constant computed once), tiles inside; y = float(acc) * mul + add, min(qmax - z, y), vcvtps2dq,
// then vpackssdw, vpaddsw z, vpackuswb / vpacksswb, vpmaxub / vpmaxsb qmin and one vpshufb to C4HW
// dwords — crumb_store_output's bits for every non-NaN y.
#include <immintrin.h>
#include <string.h>

#include "kernels/sparse/internal.h"
#include "kernels/sparse/sparse.h"

namespace {

constexpr size_t kMR = 16;
constexpr size_t kPB = 256;  // pixels per block

enum OutKind { kOutU8, kOutS8, kOutF32 };

struct Group {
  const crumb_sparse_block* b[4];
  uint32_t nb[4];   // blocks (0 for channels >= nq)
  int32_t init[4];  // -za_u * vsum
  float mul[4], add[4];
  __m256i qconst[4];  // codes (before + z) of a channel without blocks
  __m256 fconst[4];   // f32 output of a channel without blocks
  size_t nq;
};

struct Epi {
  __m256 lo, hi;  // f32: fmin / fmax; codes: hi = qmax - z
  __m256i z16, qmin8, transpose;
};

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

inline __m256 Scale(__m256i acc, float mul, float add) {
  const __m256 f = _mm256_cvtepi32_ps(acc);
  return _mm256_add_ps(_mm256_mul_ps(f, _mm256_set1_ps(mul)), _mm256_set1_ps(add));
}

// min(qmax - z, y) (y second: the scalar compare order) rounded to int32 (RNE, the default MXCSR).
inline __m256i Codes(__m256 y, const Epi& e) { return _mm256_cvtps_epi32(_mm256_min_ps(e.hi, y)); }

inline __m256 Clamp(__m256 y, const Epi& e) { return _mm256_min_ps(e.hi, _mm256_max_ps(e.lo, y)); }

// Accumulators of the 16 pixels of one channel (int32 per pixel), starting at init.
template <bool FLIP, bool WIDE, bool FULL>
inline void Channel(const uint8_t* ap, ptrdiff_t a_gs, const crumb_sparse_block* b, uint32_t nb,
                    int32_t init, __m256i mask0, __m256i mask1, __m256i* out0, __m256i* out1) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  if (!WIDE) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_set1_epi32(init), acc1 = acc0;
    for (; nb != 0; nb--, b++) {
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
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (; nb != 0; nb--, b++) {
      int32_t v;
      memcpy(&v, b->v, 4);
      ap += b->delta * a_gs;
      const __m256i wv = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)));
      if (FULL) {
        // Whole tiles: vpmovzxbw straight from memory (no vextracti128), 4 pixels each.
        __m256i z[4];
        for (int i = 0; i < 4; i++) {
          __m128i x = _mm_loadu_si128((const __m128i*)(ap + 16 * i));
          if (FLIP) x = _mm_xor_si128(x, _mm256_castsi256_si128(flip));
          z[i] = _mm256_madd_epi16(_mm256_cvtepu8_epi16(x), wv);
        }
        a0 = _mm256_add_epi32(a0, z[0]), a1 = _mm256_add_epi32(a1, z[1]);
        a2 = _mm256_add_epi32(a2, z[2]), a3 = _mm256_add_epi32(a3, z[3]);
        continue;
      }
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
    const __m256i i = _mm256_set1_epi32(init);
    *out0 = _mm256_add_epi32(_mm256_permute4x64_epi64(_mm256_hadd_epi32(a0, a1), 0xD8), i);
    *out1 = _mm256_add_epi32(_mm256_permute4x64_epi64(_mm256_hadd_epi32(a2, a3), 0xD8), i);
  }
}

// One 16-pixel tile (count pixels; FULL: count == 16) of one group.
template <bool FLIP, bool WIDE, int OUT, bool FULL>
inline void Tile(const uint8_t* ap0, ptrdiff_t a_gs, const Group& g, const Epi& e, size_t count,
                 __m256i mask0, __m256i mask1, uint8_t* o, size_t ps) {
  __m256i q[4][2];
  __m256 f[4][2];
  // Unrolled, so that q / f stay in registers.
#pragma GCC unroll 4
  for (size_t c = 0; c < 4; c++) {
    if (g.nb[c] == 0) {
      q[c][0] = q[c][1] = g.qconst[c];
      f[c][0] = f[c][1] = g.fconst[c];
      continue;
    }
    __m256i acc0, acc1;
    Channel<FLIP, WIDE, FULL>(ap0, a_gs, g.b[c], g.nb[c], g.init[c], mask0, mask1, &acc0, &acc1);
    const __m256 y0 = Scale(acc0, g.mul[c], g.add[c]), y1 = Scale(acc1, g.mul[c], g.add[c]);
    if (OUT == kOutF32) {
      f[c][0] = Clamp(y0, e), f[c][1] = Clamp(y1, e);
    } else {
      q[c][0] = Codes(y0, e), q[c][1] = Codes(y1, e);
    }
  }
  if (OUT == kOutF32) {
    alignas(32) float fs[4 * kMR];
    for (size_t c = 0; c < 4; c++) {
      _mm256_store_ps(fs + c * kMR, f[c][0]);
      _mm256_store_ps(fs + c * kMR + 8, f[c][1]);
    }
    crumb_sparse::StoreTile(nullptr, fs, kMR, CRUMB_ELEM_F32, count, g.nq, o, ps);
    return;
  }
  __m256i wd[2];
  for (int h = 0; h < 2; h++) {
    const __m256i w01 = _mm256_adds_epi16(_mm256_packs_epi32(q[0][h], q[1][h]), e.z16);
    const __m256i w23 = _mm256_adds_epi16(_mm256_packs_epi32(q[2][h], q[3][h]), e.z16);
    const __m256i bytes = OUT == kOutU8 ? _mm256_max_epu8(_mm256_packus_epi16(w01, w23), e.qmin8)
                                        : _mm256_max_epi8(_mm256_packs_epi16(w01, w23), e.qmin8);
    // Lane-wise packs leave (channel 0 pixels 0-3, channel 1 pixels 0-3, ...) per 128-bit lane.
    wd[h] = _mm256_shuffle_epi8(bytes, e.transpose);
  }
  if (ps == 4 && FULL && g.nq == 4) {
    _mm256_storeu_si256((__m256i*)o, wd[0]);
    _mm256_storeu_si256((__m256i*)(o + 32), wd[1]);
  } else if (ps == 4 && g.nq == 4) {
    _mm256_maskstore_epi32((int*)o, mask0, wd[0]);
    _mm256_maskstore_epi32((int*)(o + 32), mask1, wd[1]);
  } else {
    alignas(32) uint32_t words[kMR];
    _mm256_store_si256((__m256i*)words, wd[0]);
    _mm256_store_si256((__m256i*)(words + 8), wd[1]);
    crumb_sparse::StoreWords(words, count, g.nq, o, ps);
  }
}

template <bool FLIP, bool WIDE, int OUT>
void Kernel(size_t mc, size_t n0, size_t nc, const uint8_t* a, size_t a_gs, const void* w,
            uint8_t* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  const int32_t* vsum = crumb_sparse_vsum(w);
  const uint32_t* start = crumb_sparse_start(w);
  const crumb_sparse_block* blocks = crumb_sparse_blocks(w);
  const uint32_t za_u = (uint32_t)params->a_zero_point + (FLIP ? 128u : 0u);
  const crumb_output_params& op = params->out;
  const size_t esize = OUT == kOutF32 ? 4 : 1;
  Epi e;
  if (OUT == kOutF32) {
    e.lo = _mm256_set1_ps(op.fmin);
    e.hi = _mm256_set1_ps(op.fmax);
  } else {
    e.lo = _mm256_setzero_ps();
    e.hi = _mm256_set1_ps((float)(op.qmax - op.zero_point));
  }
  e.z16 = _mm256_set1_epi16((int16_t)op.zero_point);
  e.qmin8 = _mm256_set1_epi8((char)op.qmin);
  e.transpose = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12,
                                 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const ptrdiff_t gs = (ptrdiff_t)a_gs;
  for (size_t pb = 0; pb < mc; pb += kPB) {
    const size_t pbc = mc - pb < kPB ? mc - pb : kPB;
    const size_t full = pbc / kMR, rest = pbc % kMR;
    const __m256i mask0 = PixelMask(rest), mask1 = PixelMask(rest > 8 ? rest - 8 : 0);
    for (size_t i0 = 0; i0 < nc; i0 += 4) {
      Group g;
      g.nq = nc - i0 < 4 ? nc - i0 : 4;
      for (size_t c = 0; c < 4; c++) {
        if (c < g.nq) {
          const size_t o = n0 + i0 + c;
          g.b[c] = blocks + start[o];
          g.nb[c] = start[o + 1] - start[o];
          g.init[c] = (int32_t)(0u - za_u * (uint32_t)vsum[o]);
          g.mul[c] = params->mul[i0 + c];
          g.add[c] = params->add[i0 + c];
        } else {
          g.b[c] = blocks;
          g.nb[c] = 0;
          g.init[c] = 0;
          g.mul[c] = 0.0f;
          g.add[c] = 0.0f;
        }
        const __m256 y = Scale(_mm256_setzero_si256(), g.mul[c], g.add[c]);
        g.fconst[c] = OUT == kOutF32 ? Clamp(y, e) : _mm256_setzero_ps();
        g.qconst[c] = OUT == kOutF32 ? _mm256_setzero_si256() : Codes(y, e);
      }
      uint8_t* o = out + ((i0 / 4) * ogs + pb * ps) * esize;
      const uint8_t* ap = a + 4 * pb;
      for (size_t t = 0; t < full; t++) {
        Tile<FLIP, WIDE, OUT, true>(ap, gs, g, e, kMR, mask0, mask1, o, ps);
        ap += 4 * kMR;
        o += kMR * ps * esize;
      }
      if (rest != 0) Tile<FLIP, WIDE, OUT, false>(ap, gs, g, e, rest, mask0, mask1, o, ps);
    }
  }
}

template <bool FLIP, bool WIDE>
void KernelOut(size_t mc, size_t n0, size_t nc, const uint8_t* a, size_t a_gs, const void* w,
               uint8_t* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  switch (params->out.type) {
    case CRUMB_ELEM_U8:
      Kernel<FLIP, WIDE, kOutU8>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
    case CRUMB_ELEM_S8:
      Kernel<FLIP, WIDE, kOutS8>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
    default:
      Kernel<FLIP, WIDE, kOutF32>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
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
  auto* fn = s8 ? (wide ? KernelOut<true, true> : KernelOut<true, false>)
                : (wide ? KernelOut<false, true> : KernelOut<false, false>);
  fn(mc, n0, nc, (const uint8_t*)a, a_group_stride, w, (uint8_t*)out, out_pixel_stride,
     out_group_stride, params);
}
