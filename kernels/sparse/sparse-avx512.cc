// crumb_q8_qs8_spmm_ukernel_64x4__avx512vnni: the sparse contract (kernels/sparse/sparse.h) on
// AVX-512 VNNI. 64 pixels (four zmm of 16 C4HW dwords) per tile, four output channels (one C4HW
// output dword) per group. Per block: one broadcast of its 4 int8 values and one vpdpbusd per zmm
// (u8 activations x s8 weights, four products added to an int32 lane without intermediate
// saturation, wrapping like the scalar kernel): 256 MACs per block and tile. s8 activations are
// moved to the u8 domain with one vpxor per load, or once in the copy below (a_u = a ^ 0x80,
// za_u = za + 128); the accumulators start at -za_u * vsum[o].
//
// Loop order: pixel blocks of up to kPB, then groups of 4 channels, then 64-pixel tiles. The
// state of a channel group (block ranges, the constant output of channels without blocks) is set
// up once per pixel block, not per tile, and the per-channel block loops repeat the same trip
// counts tile after tile, so their branches predict. Where activation rows are off 64-byte
// alignment and read by many blocks, each pixel block is first copied to an aligned stack buffer
// (see Kernel).
//
// Layers with few blocks per channel (24->144 at 90 %: ~0.6) are bound by the epilogue, so it is
// cut to five float / convert steps per zmm and three integer steps per 64 outputs:
//   y = float(acc) * mul + add (two roundings, never fused), min(hi - z, y) (y second, as
//   epilogue-avx512.h), vcvtps2dq (RNE, the default MXCSR), then the four channels' int32 codes
//   narrowed with vpackssdw (to int16), vpaddsw z, vpackuswb / vpacksswb, vpmaxub / vpmaxsb qmin
//   and one vpshufb (4x4 byte transpose per 128-bit lane) to C4HW dwords.
// That equals crumb_store_output's clamp(round(y) + z, qmin, qmax) for every non-NaN y: qmax - z is
// an integer, so round(min(y, qmax - z)) = min(round(y), qmax - z); below it every step (int16 /
// int8 saturation, saturating + z, max qmin) is monotonic and the identity on [qmin, qmax], so a
// code below qmin ends at qmin (a float below -2^31 converts to INT_MIN, which ends there too).
// Channels without blocks have acc = 0 for every pixel: their codes are computed once per pixel
// block from a zero accumulator (the same steps, so the same bits) and not per tile.
// f32 outputs take the plain clamp (max lo, min hi) and the generic store.
#include <immintrin.h>
#include <string.h>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/sparse/internal.h"
#include "kernels/sparse/sparse.h"

namespace {

constexpr size_t kMR = 64;            // pixels per tile
constexpr size_t kNV = 4;             // zmm per tile
constexpr size_t kPB = 256;           // pixels per block at most
constexpr size_t kCopyBytes = 32768;  // the stack copy of a pixel block's activations

enum OutKind { kOutU8, kOutS8, kOutF32 };

// acc + vpdpbusd(x, w). As an asm statement because GCC 12 keeps the accumulators of
// _mm512_dpbusd_epi32 in the block loop in rotating registers, with four vmovdqa64 copies per
// block beside the four vpdpbusd (measured: 1-4 % slower on the 90 % layers).
inline __m512i Dpbusd(__m512i acc, __m512i x, __m512i w) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  return acc;
}

// One group of up to 4 output channels, set up once per pixel block.
struct Group {
  const crumb_sparse_block* b[4];  // first block of each channel
  uint32_t nb[4];                  // blocks (0 for channels >= nq)
  int32_t init[4];                 // accumulator start: -za_u * vsum
  float mul[4], add[4];
  __m512i qconst[4];  // int32 codes (before + z) of a channel without blocks
  __m512 fconst[4];   // f32 output of a channel without blocks
  size_t nq;
};

struct Epi {
  __m512 lo, hi;  // f32: fmin / fmax; codes: hi = qmax - z (lo unused)
  __m512i z16;    // output zero point as int16 lanes
  __m512i qmin8;  // qmin as bytes
  __m512i transpose;
};

// min(qmax - z, y) rounded to int32 (RNE); the rest of E(y) is done after narrowing.
inline __m512i Codes(__m512 y, const Epi& e) {
  return _mm512_maskz_cvtps_epi32(CRUMB_AVX512_ALL, _mm512_maskz_min_ps(CRUMB_AVX512_ALL, e.hi, y));
}

inline __m512 Clamp(__m512 y, const Epi& e) {
  const __m512 v = _mm512_maskz_max_ps(CRUMB_AVX512_ALL, e.lo, y);
  return _mm512_maskz_min_ps(CRUMB_AVX512_ALL, e.hi, v);
}

inline __m512 Scale(__m512i acc, float mul, float add) {
  const __m512 f = _mm512_maskz_cvtepi32_ps(CRUMB_AVX512_ALL, acc);
  return _mm512_add_ps(_mm512_mul_ps(f, _mm512_set1_ps(mul)), _mm512_set1_ps(add));
}

// Byte mask of a C4HW store of `pixels` (0..16) pixels x the group's nq channels.
inline __mmask64 StoreMask(size_t pixels, size_t nq) {
  const uint64_t px = pixels >= 16 ? ~0ull : (1ull << (4 * pixels)) - 1;
  return px & (0x1111111111111111ull * ((1ull << nq) - 1));
}

// One tile of NV zmm (16 * NV pixels, the last zmm masked by `mlast` unless FULL) x one group.
// PADDED: the activations are the kernel's copy, readable to whole zmm: no masked loads.
template <bool FLIP, int OUT, size_t NV, bool FULL, bool PADDED>
inline void Tile(const uint8_t* ap0, ptrdiff_t a_gs, const Group& g, const Epi& e, size_t count,
                 __mmask16 mlast, uint8_t* o, size_t ps) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i q[4][NV];
  __m512 f[4][NV];
  // Unrolled, so that q / f stay in registers (a rolled loop goes through the stack).
#pragma GCC unroll 4
  for (size_t c = 0; c < 4; c++) {
    if (g.nb[c] == 0) {
      for (size_t v = 0; v < NV; v++) {
        if (OUT == kOutF32) {
          f[c][v] = g.fconst[c];
        } else {
          q[c][v] = g.qconst[c];
        }
      }
      continue;
    }
    __m512i acc[NV];
    for (size_t v = 0; v < NV; v++) acc[v] = _mm512_set1_epi32(g.init[c]);
    const uint8_t* ap = ap0;
    const crumb_sparse_block* b = g.b[c];
    for (uint32_t n = g.nb[c]; n != 0; n--, b++) {
      ap += (ptrdiff_t)b->delta * a_gs;
      int32_t wv;
      memcpy(&wv, b->v, 4);
      const __m512i w = _mm512_set1_epi32(wv);
      for (size_t v = 0; v < NV; v++) {
        __m512i x = (FULL || PADDED || v + 1 < NV) ? _mm512_loadu_si512(ap + 64 * v)
                                                   : _mm512_maskz_loadu_epi32(mlast, ap + 64 * v);
        if (FLIP) x = _mm512_xor_si512(x, flip);
        acc[v] = Dpbusd(acc[v], x, w);
      }
    }
    for (size_t v = 0; v < NV; v++) {
      const __m512 y = Scale(acc[v], g.mul[c], g.add[c]);
      if (OUT == kOutF32) {
        f[c][v] = Clamp(y, e);
      } else {
        q[c][v] = Codes(y, e);
      }
    }
  }
  if (OUT == kOutF32) {
    alignas(64) float fs[4 * kMR];
    for (size_t c = 0; c < 4; c++) {
      for (size_t v = 0; v < NV; v++) _mm512_store_ps(fs + c * kMR + 16 * v, f[c][v]);
    }
    crumb_sparse::StoreTile(nullptr, fs, kMR, CRUMB_ELEM_F32, count, g.nq, o, ps);
    return;
  }
  alignas(64) uint32_t words[kMR];
  for (size_t v = 0; v < NV; v++) {
    const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(q[0][v], q[1][v]), e.z16);
    const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(q[2][v], q[3][v]), e.z16);
    __m512i bytes;
    if (OUT == kOutU8) {
      bytes = _mm512_max_epu8(_mm512_packus_epi16(w01, w23), e.qmin8);
    } else {
      bytes = _mm512_max_epi8(_mm512_packs_epi16(w01, w23), e.qmin8);
    }
    // Lane-wise packs leave (channel 0 pixels 0-3, channel 1 pixels 0-3, ...) per 128-bit lane.
    bytes = _mm512_shuffle_epi8(bytes, e.transpose);
    if (ps == 4) {
      if ((FULL || v + 1 < NV) && g.nq == 4) {
        _mm512_storeu_si512(o + 64 * v, bytes);
      } else {
        const size_t px = (FULL || v + 1 < NV) ? 16 : count - 16 * v;
        _mm512_mask_storeu_epi8(o + 64 * v, StoreMask(px, g.nq), bytes);
      }
    } else {
      _mm512_store_si512(words + 16 * v, bytes);
    }
  }
  if (ps != 4) crumb_sparse::StoreWords(words, count, g.nq, o, ps);
}

// Copies pixels [0, count) of activation groups [0, groups) (a_gs bytes apart) to buf (stride
// bytes apart, 64-byte aligned, count rounded up to 16 pixels with zeros), moving s8 codes to the
// u8 domain on the way.
template <bool FLIP>
void CopyActivations(const uint8_t* a, size_t a_gs, size_t groups, size_t count, uint8_t* buf,
                     size_t stride) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const size_t nv = (count + 15) / 16;
  const __mmask16 mlast = crumb_avx512_mask16(count - 16 * (nv - 1));
  for (size_t g = 0; g < groups; g++) {
    const uint8_t* src = a + g * a_gs;
    uint8_t* dst = buf + g * stride;
    for (size_t v = 0; v < nv; v++) {
      __m512i x = v + 1 < nv ? _mm512_loadu_si512(src + 64 * v)
                             : _mm512_maskz_loadu_epi32(mlast, src + 64 * v);
      if (FLIP) x = _mm512_mask_xor_epi32(x, v + 1 < nv ? CRUMB_AVX512_ALL : mlast, x, flip);
      _mm512_store_si512(dst + 64 * v, x);
    }
  }
}

// COPY: each pixel block's activations are first copied to an aligned stack buffer (kCopyBytes),
// so that every tile load is one aligned zmm: C4HW groups of 4 * P bytes (784 at 14x14) put most
// rows off 64-byte alignment, and a load across two cache lines takes two of Zen 4's load slots,
// which bound the block loop (256->256 at 14x14, 90 %: 14-22 % faster with the copy). Used when a
// 64-pixel block of all K / 4 groups fits the buffer (K <= 512), see the dispatch below.
template <bool FLIP, int OUT, bool COPY>
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
    e.lo = _mm512_set1_ps(op.fmin);
    e.hi = _mm512_set1_ps(op.fmax);
  } else {
    e.lo = _mm512_setzero_ps();
    e.hi = _mm512_set1_ps((float)(op.qmax - op.zero_point));
  }
  e.z16 = _mm512_set1_epi16((int16_t)op.zero_point);
  e.qmin8 = _mm512_set1_epi8((char)op.qmin);
  e.transpose = _mm512_maskz_broadcast_i32x4(
      CRUMB_AVX512_ALL, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  const size_t groups = crumb_sparse_groups(((const crumb_sparse_header*)w)->k);
  size_t pb_max = kPB;
  if (COPY) {
    const size_t fit = kCopyBytes / (4 * groups) / kMR * kMR;  // >= kMR (the caller checked)
    pb_max = fit < kPB ? fit : kPB;
  }
  alignas(64) uint8_t copy[COPY ? kCopyBytes : 64];
  constexpr bool kFlipLoads = FLIP && !COPY;  // the copy is already in the u8 domain
  for (size_t pb = 0; pb < mc; pb += pb_max) {
    const size_t pbc = mc - pb < pb_max ? mc - pb : pb_max;
    const size_t full = pbc / kMR, rest = pbc % kMR;
    const size_t nvr = (rest + 15) / 16;
    const __mmask16 mlast = crumb_avx512_mask16(rest - 16 * (nvr ? nvr - 1 : 0));
    const uint8_t* apb = a + 4 * pb;
    ptrdiff_t gs = (ptrdiff_t)a_gs;
    if (COPY) {
      const size_t stride = 4 * ((pbc + 15) / 16 * 16);
      CopyActivations<FLIP>(apb, a_gs, groups, pbc, copy, stride);
      apb = copy;
      gs = (ptrdiff_t)stride;
    }
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
        const __m512 y = Scale(_mm512_setzero_si512(), g.mul[c], g.add[c]);
        g.fconst[c] = OUT == kOutF32 ? Clamp(y, e) : _mm512_setzero_ps();
        g.qconst[c] = OUT == kOutF32 ? _mm512_setzero_si512() : Codes(y, e);
      }
      uint8_t* o = out + ((i0 / 4) * ogs + pb * ps) * esize;
      const uint8_t* ap = apb;
      for (size_t t = 0; t < full; t++) {
        Tile<kFlipLoads, OUT, kNV, true, COPY>(ap, gs, g, e, kMR, 0, o, ps);
        ap += 4 * kMR;
        o += kMR * ps * esize;
      }
      switch (nvr) {
        case 1:
          Tile<kFlipLoads, OUT, 1, false, COPY>(ap, gs, g, e, rest, mlast, o, ps);
          break;
        case 2:
          Tile<kFlipLoads, OUT, 2, false, COPY>(ap, gs, g, e, rest, mlast, o, ps);
          break;
        case 3:
          Tile<kFlipLoads, OUT, 3, false, COPY>(ap, gs, g, e, rest, mlast, o, ps);
          break;
        case 4:
          Tile<kFlipLoads, OUT, 4, false, COPY>(ap, gs, g, e, rest, mlast, o, ps);
          break;
        default:
          break;
      }
    }
  }
}

template <bool FLIP, bool COPY>
void KernelOut(size_t mc, size_t n0, size_t nc, const uint8_t* a, size_t a_gs, const void* w,
               uint8_t* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  switch (params->out.type) {
    case CRUMB_ELEM_U8:
      Kernel<FLIP, kOutU8, COPY>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
    case CRUMB_ELEM_S8:
      Kernel<FLIP, kOutS8, COPY>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
    default:
      Kernel<FLIP, kOutF32, COPY>(mc, n0, nc, a, a_gs, w, out, ps, ogs, params);
      break;
  }
}

}  // namespace

extern "C" void crumb_q8_qs8_spmm_ukernel_64x4__avx512vnni(
    size_t mc, size_t n0, size_t nc, const void* a, size_t a_group_stride, const void* w, void* out,
    size_t out_pixel_stride, size_t out_group_stride, const crumb_spmm_params* params) {
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const size_t groups = crumb_sparse_groups(((const crumb_sparse_header*)w)->k);
  // The copy pays where rows are off 64-byte alignment and each is read by many blocks (>= 8 per
  // group and pixel: 26 at 256->256 / 90 %; 144->24 / 90 %, 2.4 per group, measured 25-30 % slower
  // with the copy).
  const uint32_t* start = crumb_sparse_start(w);
  const bool copy = (((uintptr_t)a | a_group_stride) & 63) != 0 && 4 * groups * kMR <= kCopyBytes &&
                    start[n0 + nc] - start[n0] >= 8 * groups;
  auto* fn = copy ? (s8 ? KernelOut<true, true> : KernelOut<false, true>)
                  : (s8 ? KernelOut<true, false> : KernelOut<false, false>);
  fn(mc, n0, nc, (const uint8_t*)a, a_group_stride, w, (uint8_t*)out, out_pixel_stride,
     out_group_stride, params);
}
