// Popcount GEMM / IGEMM on AVX-512 with VPOPCNTDQ (kernels/bitserial/bitserial.h).
//
// Lanes are 32-bit: a zmm holds one 32-bit weight word of 16 output channels (a row of the block
// layout), a pixel's activation word is broadcast to all 16 (vpbroadcastd), and vpandd + vpopcntd
// + vpaddd count 512 bit-products into 16 int32 sums. 32-bit rather than 64-bit lanes halve the
// accumulator registers of a tile for the same work per instruction, and the sums come out in
// int32 lanes in channel order, as the epilogue (kernels/common/epilogue-avx512.h) wants them.
//
// Plane pairs (i, j) with the same weight 2^(i + j) share an accumulator, so a tile keeps
// a_bits + w_bits - 1 "class" accumulators per (pixel, 16 channels) and no shift runs in the inner
// loop: W1A1 1 class, W1A2 / W2A1 2, W2A2 3. P = sum over classes e of class_e << e at the end.
// Counts never exceed 32 per word, so a class sum wraps only where acc itself may wrap (int32).
//
// Tiles: MR pixels x a whole 64-channel block (4 zmm), classes x MR x 4 accumulators: W1A1 6 x 64,
// W1A2 / W2A1 3 x 64, W2A2 2 x 64 (24 zmm; weights beyond the free registers are read as memory
// operands). A whole block per tile measured 10-30 % faster than 32-channel tiles with more
// pixels: a pixel's activation words and S_a serve twice the channels. Pixel remainders run a tile
// of exactly their size (a 7x7 layer has 49 pixels: 8 x 6 + 1). Block-major order within chunks of
// pixels: a block's weights (ks * kc * w_bits * 8 bytes) stay in L1 / L2 while the chunk passes.
//
// bitserial.h's three-popcount A2 x W2 form is not used here: on Zen 5 vpternlogd competes with
// vpopcntd for the same two pipes, and the form measured 15-20 % slower than four AND-popcounts.
#include <immintrin.h>

#include "kernels/bitserial/internal.h"
#include "kernels/common/epilogue-avx512.h"

namespace crumb_bitserial {
namespace {

constexpr size_t kRow = CRUMB_BITSERIAL_ROW_BYTES;

// acc += popcount(a & w) per 32-bit lane, as one asm statement: left to itself GCC 12 schedules
// the ANDs of a whole step ahead of their adds, and the extra live temporaries push accumulators
// of the 2-bit tiles to the stack.
__attribute__((always_inline)) inline void AddPopcount(__m512i& acc, __m512i a, __m512i w) {
  __m512i t;
  __asm__(
      "vpandd %[w], %[a], %[t]\n\t"
      "vpopcntd %[t], %[t]\n\t"
      "vpaddd %[t], %[acc], %[acc]"
      : [acc] "+v"(acc), [t] "=&v"(t)
      : [a] "v"(a), [w] "vm"(w));
}

// The tile of each (a_bits, w_bits): MR pixels x a whole 64-channel block (NG = 4 zmm).
template <unsigned A, unsigned W>
struct Shape {
  static constexpr int kMR = A + W == 2 ? 6 : A + W == 3 ? 3 : 2;
  static constexpr int kNG = 4;
};

// P (before the shift) of pixels m0 .. m0 + MR - 1 for the NG groups of 16 channels at wb (a block
// pointer advanced by 64 * first group bytes); with kCount also their S_a, on the scalar side,
// which the vector loop leaves idle (a separate pass over the rows costs 20 % at 64 channels).
template <unsigned A, unsigned W, int MR, int NG, bool kCount, class Rows>
__attribute__((always_inline)) inline void Tile(size_t m0, size_t kc, size_t ks, const Rows& rows,
                                                const uint8_t* wb, __m512i (&p)[MR][NG],
                                                uint32_t* sa) {
  constexpr int E = (int)(A + W - 1);
  const size_t words = crumb_bitserial_words32(kc), pb = crumb_bitserial_plane_bytes(kc);
  if (kCount) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) sa[m] = 0;
  }
  __m512i acc[E][MR][NG];
#pragma GCC unroll 4
  for (int e = 0; e < E; e++) {
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
      for (int g = 0; g < NG; g++) acc[e][m][g] = _mm512_setzero_si512();
    }
  }
  const uint8_t* wr = wb + CRUMB_BITSERIAL_BLOCK_HEADER;
  for (size_t t = 0; t < ks; t++) {
    const uint8_t* ap[MR];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) ap[m] = rows(m0 + (size_t)m, t);
    if (kCount) {
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) sa[m] += RowSum<A>(ap[m], kc);
    }
    for (size_t d = 0; d < words; d++, wr += W * kRow) {
      __m512i wv[W][NG];
#pragma GCC unroll 2
      for (unsigned j = 0; j < W; j++) {
#pragma GCC unroll 4
        for (int g = 0; g < NG; g++) wv[j][g] = _mm512_loadu_si512(wr + j * kRow + 64 * g);
      }
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
        for (unsigned i = 0; i < A; i++) {
          const __m512i a = _mm512_set1_epi32((int32_t)Load32(ap[m] + i * pb + 4 * d));
#pragma GCC unroll 2
          for (unsigned j = 0; j < W; j++) {
#pragma GCC unroll 4
            for (int g = 0; g < NG; g++) AddPopcount(acc[i + j][m][g], a, wv[j][g]);
          }
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++) {
#pragma GCC unroll 4
    for (int g = 0; g < NG; g++) {
      __m512i s = acc[0][m][g];
#pragma GCC unroll 4
      for (int e = 1; e < E; e++) s = _mm512_add_epi32(s, _mm512_slli_epi32(acc[e][m][g], e));
      p[m][g] = s;
    }
  }
}

// The epilogue of a 64-channel block, prepared once per block: acc = (P << shift) - beta * S_a -
// za * vsum (bitserial.h), then E(y) with kernels/common/epilogue-avx512.h's steps (the
// instructions of crumb_avx512_output16, with mul / add loaded once per block).
struct Epilogue {
  enum Mode { kBits1, kPlanes2, kF32, kU8, kS8 };
  __m128i shift;
  __m512i beta[4], corr[4];
  __m512 mul[4], add[4];
  __mmask16 valid[4];
  size_t n0;
  Mode mode;
  // beta is the same for every channel of the block (every encoding but per-channel zero points):
  // beta * S_a is then one scalar product per pixel instead of a vpmulld per 16 outputs.
  bool uniform_beta;
  uint32_t beta0;
  // kBits1: with [qmin, qmax] = [lo + z, lo + z + 1], E(y) = qmax exactly when y > lo + 0.5, or
  // y == lo + 0.5 and lo + 1 is even (the clamp cannot matter and round-half-even picks the even
  // one), so the bit is one compare of y (qmin == qmax: a constant).
  __m512 thr;
  bool ge;
  uint64_t constant;  // ~0 / 0 when qmin == qmax, else unused
  bool is_constant;

  void Init(const uint8_t* block, size_t n, size_t nc, const crumb_bitserial_params* p,
            const crumb_epilogue_avx512* e) {
    n0 = n;
    shift = _mm_cvtsi32_si128((int)Shift(block));
    mode = p->out_bits == 1            ? kBits1
           : p->out_bits == 2          ? kPlanes2
           : e->type == CRUMB_ELEM_F32 ? kF32
           : e->type == CRUMB_ELEM_U8  ? kU8
                                       : kS8;
    beta0 = (uint32_t)Beta(block, 0);
    uniform_beta = true;
    for (int g = 0; g < 4; g++) {
      const size_t l = 16 * (size_t)g;
      valid[g] = crumb_avx512_mask16(n0 + l >= nc ? 0 : nc - n0 - l);
      beta[g] = _mm512_loadu_si512(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l);
      uniform_beta =
          uniform_beta && _mm512_cmpneq_epi32_mask(beta[g], _mm512_set1_epi32((int32_t)beta0)) == 0;
      corr[g] =
          _mm512_mullo_epi32(_mm512_set1_epi32(p->a_zero_point), _mm512_loadu_si512(block + 4 * l));
      mul[g] = _mm512_maskz_loadu_ps(valid[g], p->mul + n0 + l);
      add[g] = _mm512_maskz_loadu_ps(valid[g], p->add + n0 + l);
    }
    // Set for every mode (only kBits1 reads them).
    const int32_t lo = p->out.qmin - p->out.zero_point;
    thr = _mm512_set1_ps((float)lo + 0.5f);
    ge = ((lo + 1) & 1) == 0;
    is_constant = p->out.qmin == p->out.qmax;
    constant = p->out.qmin ? ~(uint64_t)0 : 0;
  }

  // pv[m * 4 + g]: P of pixel m, group g (pointers, not array references: GCC folds the identical
  // bodies of different MR and then warns about the bounds). Packed outputs write whole 64-bit
  // words, channels >= nc as 0.
  void Store(const __m512i* pv, const uint32_t* sa, size_t mr, const crumb_bitserial_params* p,
             const crumb_epilogue_avx512* e, uint8_t* c, size_t c_stride) const {
    const uint64_t all_valid = (uint64_t)valid[0] | (uint64_t)valid[1] << 16 |
                               (uint64_t)valid[2] << 32 | (uint64_t)valid[3] << 48;
    for (size_t m = 0; m < mr; m++) {
      uint8_t* row = c + m * c_stride;
      const __m512i s = _mm512_set1_epi32((int32_t)(uniform_beta ? beta0 * sa[m] : sa[m]));
      uint64_t planes[2] = {0, 0};
      for (int g = 0; g < 4; g++) {
        const __m512i bs = uniform_beta ? s : _mm512_mullo_epi32(beta[g], s);
        const __m512i acc =
            _mm512_sub_epi32(_mm512_sub_epi32(_mm512_sll_epi32(pv[m * 4 + g], shift), bs), corr[g]);
        const __m512 y = crumb_avx512_scale(acc, mul[g], add[g]);
        const size_t n = n0 + 16 * (size_t)g;
        switch (mode) {
          case kBits1:
            planes[0] |= (uint64_t)(ge ? _mm512_cmp_ps_mask(y, thr, _CMP_GE_OQ)
                                       : _mm512_cmp_ps_mask(y, thr, _CMP_GT_OQ))
                         << (16 * g);
            break;
          case kPlanes2: {
            const __m512i q = crumb_avx512_requantize(y, e);
            planes[0] |= (uint64_t)_mm512_test_epi32_mask(q, _mm512_set1_epi32(1)) << (16 * g);
            planes[1] |= (uint64_t)_mm512_test_epi32_mask(q, _mm512_set1_epi32(2)) << (16 * g);
            break;
          }
          case kF32:
            _mm512_mask_storeu_ps((float*)row + n, valid[g], crumb_avx512_clamp(y, e));
            break;
          case kU8:
            _mm512_mask_cvtusepi32_storeu_epi8(row + n, valid[g], crumb_avx512_requantize(y, e));
            break;
          case kS8:
            _mm512_mask_cvtsepi32_storeu_epi8(row + n, valid[g], crumb_avx512_requantize(y, e));
            break;
        }
      }
      if (mode == kBits1) {
        const uint64_t bits = (is_constant ? constant : planes[0]) & all_valid;
        memcpy(row + n0 / 8, &bits, 8);
      } else if (mode == kPlanes2) {
        for (int b = 0; b < 2; b++) {
          const uint64_t bits = planes[b] & all_valid;
          memcpy(row + b * p->out_plane_bytes + n0 / 8, &bits, 8);
        }
      }
    }
  }
};

template <unsigned A, unsigned W, int MR, int NG, class Rows>
void TileRun(size_t m0, size_t kc, size_t ks, const Rows& rows, const uint8_t* wb, uint32_t* sa,
             bool count, const Epilogue& ep, const crumb_bitserial_params* p,
             const crumb_epilogue_avx512* e, uint8_t* c, size_t c_stride) {
  __m512i pv[MR][NG];
  if (count) {
    Tile<A, W, MR, NG, true>(m0, kc, ks, rows, wb, pv, sa);
  } else {
    Tile<A, W, MR, NG, false>(m0, kc, ks, rows, wb, pv, sa);
  }
  ep.Store(&pv[0][0], sa, MR, p, e, c + m0 * c_stride, c_stride);
}

// A pixel remainder of r < MR rows: the tile of exactly r rows.
template <unsigned A, unsigned W, int R, int NG, class Rows>
void Remainder(size_t r, size_t m0, size_t kc, size_t ks, const Rows& rows, const uint8_t* wb,
               uint32_t* sa, bool count, const Epilogue& ep, const crumb_bitserial_params* p,
               const crumb_epilogue_avx512* e, uint8_t* c, size_t c_stride) {
  if constexpr (R > 0) {
    if (r == R) {
      TileRun<A, W, R, NG>(m0, kc, ks, rows, wb, sa, count, ep, p, e, c, c_stride);
    } else {
      Remainder<A, W, R - 1, NG>(r, m0, kc, ks, rows, wb, sa, count, ep, p, e, c, c_stride);
    }
  }
}

// Pixels per chunk: the S_a of a chunk's pixels are counted with the first block and kept on the
// stack for the others (a 7x7 layer with 512 channels would count them 8 times: +15 % of its time).
constexpr size_t kChunk = 240;  // a multiple of every MR

template <unsigned A, unsigned W, class Rows>
void BsGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w, void* c,
            size_t c_stride, const crumb_bitserial_params* p) {
  constexpr int MR = Shape<A, W>::kMR, NG = Shape<A, W>::kNG;
  static_assert(kChunk % MR == 0, "chunks of whole tiles");
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&p->out);
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, W);
  uint8_t* out = static_cast<uint8_t*>(c);
  uint32_t sa[kChunk];
  for (size_t mc = 0; mc < mr; mc += kChunk) {
    const size_t mlen = mr - mc < kChunk ? mr - mc : kChunk;
    for (size_t n0 = 0; n0 < nc; n0 += CRUMB_BITSERIAL_NR) {
      const uint8_t* block = w + (n0 / CRUMB_BITSERIAL_NR) * block_bytes;
      Epilogue ep;
      ep.Init(block, n0, nc, p, &e);
      size_t m0 = 0;
      for (; m0 + MR <= mlen; m0 += MR) {
        TileRun<A, W, MR, NG>(mc + m0, kc, ks, rows, block, sa + m0, n0 == 0, ep, p, &e, out,
                              c_stride);
      }
      if (m0 < mlen) {
        Remainder<A, W, MR - 1, NG>(mlen - m0, mc + m0, kc, ks, rows, block, sa + m0, n0 == 0, ep,
                                    p, &e, out, c_stride);
      }
    }
  }
}

}  // namespace
}  // namespace crumb_bitserial

CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 1, 6x64, avx512vpopcnt)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 1, 3x64, avx512vpopcnt)
CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 2, 3x64, avx512vpopcnt)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 2, 2x64, avx512vpopcnt)
