// The AArch64 sparse kernels (sparse-neon.cc: smull + sadalp; sparse-neondot.cc: sdot), one
// template over the block product. Include only from *-neon.cc / *-neondot.cc files.
//
// Activations are moved to the s8 domain (a_s = a ^ 0x80 for u8 codes, as-is for s8), so that
// sum a_u v - za_u vsum = sum a_s v - za_s vsum with za_s = za_u - 128 (za - 128 for u8 codes,
// za for s8). 16 pixels per tile = four q registers of 4 C4HW dwords. Pixel tails: tiles of 4
// pixels, then the scalar kernel for the last 1..3 pixels (nothing past pixel mc is read).
// Epilogue: epilogue-neon.h's steps (bit-exact with crumb_store_output), the codes of 4 channels
// merged into one dword per pixel.
#pragma once

#include <arm_neon.h>
#include <string.h>

#include "kernels/common/epilogue-neon.h"
#include "kernels/sparse/internal.h"
#include "kernels/sparse/sparse.h"

namespace crumb_sparse_neon {

// Dot(acc[Q], x[Q], w): per pixel lane, acc += the 4 products of the block.
template <int Q, typename Dot>
inline void Channel(const uint8_t* ap, ptrdiff_t a_gs, const crumb_sparse_block* b,
                    const crumb_sparse_block* bend, uint8x16_t flip, int32x4_t* acc) {
  typename Dot::Acc st[Q];
  for (int j = 0; j < Q; j++) Dot::Init(&st[j]);
  for (; b < bend; b++) {
    int32_t v;
    memcpy(&v, b->v, 4);
    ap += b->delta * a_gs;
    const int8x16_t wv = vreinterpretq_s8_s32(vdupq_n_s32(v));
    for (int j = 0; j < Q; j++) {
      const int8x16_t x = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(ap + 16 * j), flip));
      Dot::Step(&st[j], x, wv);
    }
  }
  for (int j = 0; j < Q; j++) acc[j] = Dot::Finish(st[j]);
}

template <int Q, typename Dot>
inline void Tile(size_t count, const uint8_t* ap0, size_t a_gs, size_t n0, size_t nc,
                 const int32_t* vsum, const uint32_t* start, const crumb_sparse_block* blocks,
                 uint8x16_t flip, int32_t za_s, const crumb_spmm_params* params,
                 const crumb_epilogue_neon* e, uint8_t* out, size_t ps, size_t ogs, size_t esize) {
  constexpr size_t kMR = 4 * Q;
  for (size_t i0 = 0; i0 < nc; i0 += 4) {
    const size_t nq = nc - i0 < 4 ? nc - i0 : 4;
    int32x4_t q[4][Q];
    float32x4_t f[4][Q];
    for (size_t c = 0; c < nq; c++) {
      const size_t o = n0 + i0 + c;
      int32x4_t acc[Q];
      Channel<Q, Dot>(ap0, (ptrdiff_t)a_gs, blocks + start[o], blocks + start[o + 1], flip, acc);
      const int32x4_t corr = vdupq_n_s32((int32_t)((uint32_t)za_s * (uint32_t)vsum[o]));
      const float32x4_t mul = vdupq_n_f32(params->mul[i0 + c]);
      const float32x4_t add = vdupq_n_f32(params->add[i0 + c]);
      for (int j = 0; j < Q; j++) {
        const float32x4_t y = crumb_neon_scale(vsubq_s32(acc[j], corr), mul, add);
        if (e->type == CRUMB_ELEM_F32) {
          f[c][j] = crumb_neon_clamp(y, e);
        } else {
          q[c][j] = crumb_neon_requantize(y, e);
        }
      }
    }
    uint8_t* o = out + (i0 / 4) * ogs * esize;
    if (e->type != CRUMB_ELEM_F32 && nq == 4) {
      // Byte c of a pixel's dword = channel c's code: vst4 of the narrowed codes interleaves them.
      alignas(16) uint32_t words[kMR];
      for (int j = 0; j < Q; j++) {
        const uint32x4_t lowb = vdupq_n_u32(0xFF);
        const uint32x4_t w0 = vandq_u32(vreinterpretq_u32_s32(q[0][j]), lowb);
        const uint32x4_t w1 = vshlq_n_u32(vandq_u32(vreinterpretq_u32_s32(q[1][j]), lowb), 8);
        const uint32x4_t w2 = vshlq_n_u32(vandq_u32(vreinterpretq_u32_s32(q[2][j]), lowb), 16);
        const uint32x4_t w3 = vshlq_n_u32(vreinterpretq_u32_s32(q[3][j]), 24);
        const uint32x4_t wd = vorrq_u32(vorrq_u32(w0, w1), vorrq_u32(w2, w3));
        if (ps == 4) {
          vst1q_u32((uint32_t*)(void*)(o + 16 * j), wd);  // unaligned is fine on AArch64
        } else {
          vst1q_u32(words + 4 * j, wd);
        }
      }
      if (ps != 4) crumb_sparse::StoreWords(words, count, o, ps);
    } else {
      alignas(16) int32_t qs[4 * kMR];
      alignas(16) float fs[4 * kMR];
      for (size_t c = 0; c < nq; c++) {
        for (int j = 0; j < Q; j++) {
          if (e->type == CRUMB_ELEM_F32) {
            vst1q_f32(fs + c * kMR + 4 * j, f[c][j]);
          } else {
            vst1q_s32(qs + c * kMR + 4 * j, q[c][j]);
          }
        }
      }
      crumb_sparse::StoreTile(qs, fs, kMR, e->type, count, nq, o, ps);
    }
  }
}

template <typename Dot>
inline void Kernel(size_t mc, size_t n0, size_t nc, const void* a, size_t a_gs, const void* w,
                   void* out, size_t ps, size_t ogs, const crumb_spmm_params* params) {
  const int32_t* vsum = crumb_sparse_vsum(w);
  const uint32_t* start = crumb_sparse_start(w);
  const crumb_sparse_block* blocks = crumb_sparse_blocks(w);
  const bool u8 = params->a_type == CRUMB_ELEM_U8;
  const uint8x16_t flip = vdupq_n_u8(u8 ? 0x80 : 0);
  const int32_t za_s = params->a_zero_point - (u8 ? 128 : 0);
  const crumb_epilogue_neon e = crumb_epilogue_neon_init(&params->out);
  const size_t esize = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  const uint8_t* ap = (const uint8_t*)a;
  uint8_t* op = (uint8_t*)out;
  size_t p = 0;
  for (; p + 16 <= mc; p += 16) {
    Tile<4, Dot>(16, ap + 4 * p, a_gs, n0, nc, vsum, start, blocks, flip, za_s, params, &e,
                 op + p * ps * esize, ps, ogs, esize);
  }
  for (; p + 4 <= mc; p += 4) {
    Tile<1, Dot>(4, ap + 4 * p, a_gs, n0, nc, vsum, start, blocks, flip, za_s, params, &e,
                 op + p * ps * esize, ps, ogs, esize);
  }
  if (p < mc) {
    crumb_q8_qs8_spmm_ukernel_1x4__scalar(mc - p, n0, nc, ap + 4 * p, a_gs, w, op + p * ps * esize,
                                          ps, ogs, params);
  }
}

}  // namespace crumb_sparse_neon
