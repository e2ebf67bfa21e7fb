// Popcount GEMM / IGEMM on AArch64 NEON (kernels/bitserial/bitserial.h).
//
// A q register holds one 32-bit weight word of 4 output channels (16 bytes of a block row); a
// tile of 16 channels is 4 q registers per weight plane (one ld1 {4 regs}). A pixel's activation
// word is broadcast to the 4 lanes (ld1r), and per 128 bits
//   and (vandq_u32) + cnt (vcntq_u8) + uadalp (vpadalq_u8: byte pairs into 16-bit lanes)
// count 128 bit-products: 3 instructions, Larq's bound for this form (>= 42 binary MACs per
// instruction before loads). Each 32-bit lane (a channel) is two 16-bit lanes; the 16-bit sums are
// flushed into uint32 per-channel sums with uadalp (vpadalq_u16) every kFlush (tap, word) steps
// (per step a 16-bit lane gains at most 2 x 16: 2 plane pairs of a class x 2 bytes x 8 bits, so
// 1024 steps stay below 2^16).
//
// Plane pairs (i, j) of the same weight 2^(i + j) share an accumulator ("class", as in
// gemm-avx512.cc): a_bits + w_bits - 1 classes, P = sum over classes e of class_e << e at the end.
// Tiles (32 q registers): MR pixels x 16 channels, classes x MR x 4 accumulators:
// A1W1 4 x 16 (16 acc), A2W1 / A1W2 3 x 16 (24), A2W2 2 x 16 (24). A tile runs the four 16-channel
// groups of a 64-channel block (groups past nc skipped) before the block's epilogue; pixel
// remainders run a tile of exactly their size. S_a per pixel by the scalar helper RowSum, once
// per chunk of pixels (with the first block).
//
// Epilogue: acc = (P << shift) - beta * S_a - za * vsum in NEON int32 lanes (wrapping), then
// kernels/common/epilogue-neon.h's steps (bit-exact with crumb_store_output): out_bits 8 by
// crumb_neon_output8, out_bits 1 / 2 as the U8 codes' bits gathered into whole 64-bit plane words.
#include <arm_neon.h>

#include "kernels/bitserial/internal.h"
#include "kernels/common/epilogue-neon.h"

namespace crumb_bitserial {
namespace {

constexpr size_t kRow = CRUMB_BITSERIAL_ROW_BYTES;
#ifndef CRUMB_BITSERIAL_NEON_FLUSH
#define CRUMB_BITSERIAL_NEON_FLUSH 1024
#endif
// (tap, word) steps between 16-bit -> 32-bit flushes (a -D to test the flush with small shapes)
constexpr size_t kFlush = CRUMB_BITSERIAL_NEON_FLUSH;

template <unsigned A, unsigned W>
struct Shape {
  static constexpr int kMR = A + W == 2 ? 4 : A + W == 3 ? 3 : 2;
};

// P (before the shift) of pixels m0 .. m0 + MR - 1 for the 16 channels at wb + header + 64 * g
// (g the group of 16 within the block), into p[m * 64 + 16 * g + l].
template <unsigned A, unsigned W, int MR, class Rows>
__attribute__((always_inline)) inline void Tile(size_t m0, size_t kc, size_t ks, const Rows& rows,
                                                const uint8_t* wg, uint32_t* p) {
  constexpr int E = (int)(A + W - 1);
  const size_t words = crumb_bitserial_words32(kc), pb = crumb_bitserial_plane_bytes(kc);
  uint16x8_t acc[E][MR][4];
  uint32x4_t sum[E][MR][4];
#pragma GCC unroll 4
  for (int e = 0; e < E; e++) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
      for (int g = 0; g < 4; g++) {
        acc[e][m][g] = vdupq_n_u16(0);
        sum[e][m][g] = vdupq_n_u32(0);
      }
    }
  }
  size_t steps = 0;
  const uint8_t* wr = wg + CRUMB_BITSERIAL_BLOCK_HEADER;
  for (size_t t = 0; t < ks; t++) {
    const uint8_t* ap[MR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) ap[m] = rows(m0 + (size_t)m, t);
    for (size_t d = 0; d < words; d++, wr += W * kRow) {
      uint8x16x4_t wv[W];
#pragma GCC unroll 2
      for (unsigned j = 0; j < W; j++) wv[j] = vld1q_u8_x4(wr + j * kRow);
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
        for (unsigned i = 0; i < A; i++) {
          const uint8x16_t a = vreinterpretq_u8_u32(vdupq_n_u32(Load32(ap[m] + i * pb + 4 * d)));
#pragma GCC unroll 2
          for (unsigned j = 0; j < W; j++) {
            acc[i + j][m][0] = vpadalq_u8(acc[i + j][m][0], vcntq_u8(vandq_u8(a, wv[j].val[0])));
            acc[i + j][m][1] = vpadalq_u8(acc[i + j][m][1], vcntq_u8(vandq_u8(a, wv[j].val[1])));
            acc[i + j][m][2] = vpadalq_u8(acc[i + j][m][2], vcntq_u8(vandq_u8(a, wv[j].val[2])));
            acc[i + j][m][3] = vpadalq_u8(acc[i + j][m][3], vcntq_u8(vandq_u8(a, wv[j].val[3])));
          }
        }
      }
      if (++steps == kFlush) {
        steps = 0;
#pragma GCC unroll 4
        for (int e = 0; e < E; e++) {
#pragma GCC unroll 8
          for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
              sum[e][m][g] = vpadalq_u16(sum[e][m][g], acc[e][m][g]);
              acc[e][m][g] = vdupq_n_u16(0);
            }
          }
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
      uint32x4_t s = vpadalq_u16(sum[0][m][g], acc[0][m][g]);
#pragma GCC unroll 4
      for (int e = 1; e < E; e++) {
        s = vaddq_u32(s, vshlq_u32(vpadalq_u16(sum[e][m][g], acc[e][m][g]), vdupq_n_s32(e)));
      }
      vst1q_u32(p + (size_t)m * 64 + 4 * (size_t)g, s);
    }
  }
}

// acc and E(y) of one pixel's channels [n0, n0 + count) of the block from P.
inline void StorePixel(const uint32_t* pm, uint32_t sa, const uint8_t* block, size_t n0,
                       size_t count, const crumb_bitserial_params* p, const crumb_epilogue_neon* e,
                       uint8_t* row) {
  const int32x4_t shift = vdupq_n_s32((int32_t)Shift(block));
  const uint32x4_t s = vdupq_n_u32(sa), za = vdupq_n_u32((uint32_t)p->a_zero_point);
  int32_t out[CRUMB_BITSERIAL_NR];
  for (size_t l = 0; l < CRUMB_BITSERIAL_NR; l += 4) {
    const uint32x4_t beta =
        vld1q_u32(reinterpret_cast<const uint32_t*>(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l));
    const uint32x4_t vsum = vld1q_u32(reinterpret_cast<const uint32_t*>(block + 4 * l));
    uint32x4_t a = vshlq_u32(vld1q_u32(pm + l), shift);
    a = vmlsq_u32(a, beta, s);
    a = vmlsq_u32(a, za, vsum);
    vst1q_s32(out + l, vreinterpretq_s32_u32(a));
  }
  if (p->out_bits == 1 || p->out_bits == 2) {
    // The codes as out_bits 8 U8 would get them (the same steps), then bit b of 4 lanes as 4 bits
    // of the plane word: (q >> b) & 1 shifted by the lane index, summed across lanes.
    const int32x4_t lane = {0, 1, 2, 3};
    uint64_t planes[2] = {0, 0};
    for (size_t l = 0; l < count; l += 4) {
      const size_t c4 = count - l < 4 ? count - l : 4;
      const float32x4_t y =
          crumb_neon_scale(vld1q_s32(out + l), crumb_neon_load_partial_f32(p->mul + n0 + l, c4),
                           crumb_neon_load_partial_f32(p->add + n0 + l, c4));
      const uint32x4_t q = vreinterpretq_u32_s32(crumb_neon_requantize(y, e));
      for (unsigned b = 0; b < p->out_bits; b++) {
        const uint32x4_t bit = vandq_u32(vshlq_u32(q, vdupq_n_s32(-(int32_t)b)), vdupq_n_u32(1));
        planes[b] |= (uint64_t)vaddvq_u32(vshlq_u32(bit, lane)) << l;
      }
    }
    const uint64_t valid = count < 64 ? ((uint64_t)1 << count) - 1 : ~(uint64_t)0;
    for (unsigned b = 0; b < p->out_bits; b++) {
      const uint64_t bits = planes[b] & valid;
      memcpy(row + b * p->out_plane_bytes + n0 / 8, &bits, 8);
    }
    return;
  }
  for (size_t l = 0; l < count; l += 8) {
    crumb_neon_output8(vld1q_s32(out + l), vld1q_s32(out + l + 4), p->mul, p->add, e, row, n0 + l,
                       count - l < 8 ? count - l : 8);
  }
}

template <unsigned A, unsigned W, int MR, class Rows>
void TileRun(size_t m0, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* block,
             size_t n0, const uint32_t* sa, const crumb_bitserial_params* p,
             const crumb_epilogue_neon* e, uint8_t* c, size_t c_stride) {
  uint32_t pv[MR * CRUMB_BITSERIAL_NR];
  const size_t count = nc - n0 < CRUMB_BITSERIAL_NR ? nc - n0 : CRUMB_BITSERIAL_NR;
  for (size_t g = 0; g < 4; g++) {
    if (16 * g >= count) {
      for (int m = 0; m < MR; m++) memset(pv + (size_t)m * 64 + 16 * g, 0, 64);
      continue;
    }
    Tile<A, W, MR>(m0, kc, ks, rows, block + 64 * g, pv + 16 * g);
  }
  for (int m = 0; m < MR; m++) {
    StorePixel(pv + (size_t)m * 64, sa[m], block, n0, count, p, e, c + (m0 + (size_t)m) * c_stride);
  }
}

template <unsigned A, unsigned W, int R, class Rows>
void Remainder(size_t r, size_t m0, size_t nc, size_t kc, size_t ks, const Rows& rows,
               const uint8_t* block, size_t n0, const uint32_t* sa, const crumb_bitserial_params* p,
               const crumb_epilogue_neon* e, uint8_t* c, size_t c_stride) {
  if constexpr (R > 0) {
    if (r == R) {
      TileRun<A, W, R>(m0, nc, kc, ks, rows, block, n0, sa, p, e, c, c_stride);
    } else {
      Remainder<A, W, R - 1>(r, m0, nc, kc, ks, rows, block, n0, sa, p, e, c, c_stride);
    }
  }
}

constexpr size_t kChunk = 240;  // a multiple of every MR

template <unsigned A, unsigned W, class Rows>
void BsGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w, void* c,
            size_t c_stride, const crumb_bitserial_params* p) {
  constexpr int MR = Shape<A, W>::kMR;
  static_assert(kChunk % MR == 0, "chunks of whole tiles");
  const crumb_epilogue_neon e = crumb_epilogue_neon_init(&p->out);
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, W);
  uint8_t* out = static_cast<uint8_t*>(c);
  uint32_t sa[kChunk];
  for (size_t mc = 0; mc < mr; mc += kChunk) {
    const size_t mlen = mr - mc < kChunk ? mr - mc : kChunk;
    for (size_t m = 0; m < mlen; m++) {
      uint32_t s = 0;
      for (size_t t = 0; t < ks; t++) s += RowSum<A>(rows(mc + m, t), kc);
      sa[m] = s;
    }
    for (size_t n0 = 0; n0 < nc; n0 += CRUMB_BITSERIAL_NR) {
      const uint8_t* block = w + (n0 / CRUMB_BITSERIAL_NR) * block_bytes;
      size_t m0 = 0;
      for (; m0 + MR <= mlen; m0 += MR) {
        TileRun<A, W, MR>(mc + m0, nc, kc, ks, rows, block, n0, sa + m0, p, &e, out, c_stride);
      }
      if (m0 < mlen) {
        Remainder<A, W, MR - 1>(mlen - m0, mc + m0, nc, kc, ks, rows, block, n0, sa + m0, p, &e,
                                out, c_stride);
      }
    }
  }
}

}  // namespace
}  // namespace crumb_bitserial

CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 1, 4x16, neon)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 1, 3x16, neon)
CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 2, 3x16, neon)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 2, 2x16, neon)
