// Popcount GEMM / IGEMM on AVX2 (kernels/bitserial/bitserial.h): no vector popcount, so the count
// is a vpshufb nibble table.
//
// A ymm holds one 32-bit weight word of 8 output channels (a row of the block layout); a pixel's
// activation word is broadcast. Per plane pair: lo = a & (w & 0x0F..), hi = (a >> 4) & ((w >> 4) &
// 0x0F..) (the weight halves are split once per load and shared by the tile's pixels), and two
// vpshufb look the 4-bit indices up in T_c[x] = c * popcount(x), c = 2^(i + j): the plane pair's
// weight comes with the table, so every pair of a pixel and 8 channels adds into one byte
// accumulator. A byte gains at most 8 * (sum of c) per 32-bit word (8 bits of a byte, lo and hi),
// so bytes are widened (vpmaddubsw + vpmaddwd: the four bytes of a channel's lane into its int32)
// every kGroup words: W1A1 31, W1A2 / W2A1 10, W2A2 3.
//
// Tiles MR pixels x 8 channels (one ymm): 16 registers hold the byte accumulators, the tables,
// the split weights and a pixel's words. Channel-tile-major order within chunks of pixels, the
// chunk's S_a counted with the first channel tile (as gemm-avx512.cc).
#include <immintrin.h>

#include "kernels/bitserial/internal.h"
#include "kernels/common/epilogue-avx2.h"

namespace crumb_bitserial {
namespace {

constexpr size_t kRow = CRUMB_BITSERIAL_ROW_BYTES;

template <unsigned A, unsigned W>
struct Shape {
  static constexpr int kMR = A + W == 4 ? 4 : 6;
  // Words per byte-sum group: 8 * sum over plane pairs of 2^(i + j) per word, at most 255.
  static constexpr size_t kGroup = 255 / (8 * ((1u << A) - 1) * ((1u << W) - 1));
};

inline __m256i Table(int c) {
  const __m128i t = _mm_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  return _mm256_broadcastsi128_si256(_mm_mullo_epi16(t, _mm_set1_epi16((short)c)));
}

// The four bytes of each 32-bit lane summed into an int32.
inline __m256i Widen(__m256i bytes) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
}

// P (before the shift) of pixels m0 .. m0 + MR - 1 for the 8 channels whose lanes start at wb (a
// block pointer advanced by 32 * group bytes); with kCount also their S_a.
template <unsigned A, unsigned W, int MR, bool kCount, class Rows>
__attribute__((always_inline)) inline void Tile(size_t m0, size_t kc, size_t ks, const Rows& rows,
                                                const uint8_t* wb, __m256i (&p)[MR], uint32_t* sa) {
  constexpr size_t kGroup = Shape<A, W>::kGroup;
  const size_t words = crumb_bitserial_words32(kc), pb = crumb_bitserial_plane_bytes(kc);
  const __m256i nib = _mm256_set1_epi8(15);
  __m256i table[A + W - 1];
#pragma GCC unroll 4
  for (unsigned e = 0; e < A + W - 1; e++) table[e] = Table(1 << e);
  __m256i acc[MR], bytes[MR];
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++) {
    acc[m] = bytes[m] = _mm256_setzero_si256();
    if (kCount) sa[m] = 0;
  }
  size_t filled = 0;  // words in the byte sums
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
      __m256i wl[W], wh[W];
#pragma GCC unroll 2
      for (unsigned j = 0; j < W; j++) {
        const __m256i w = _mm256_loadu_si256((const __m256i*)(wr + j * kRow));
        wl[j] = _mm256_and_si256(w, nib);
        wh[j] = _mm256_and_si256(_mm256_srli_epi16(w, 4), nib);
      }
#pragma GCC unroll 8
      for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
        for (unsigned i = 0; i < A; i++) {
          const __m256i a = _mm256_set1_epi32((int32_t)Load32(ap[m] + i * pb + 4 * d));
          const __m256i ah = _mm256_srli_epi32(a, 4);  // the split weights mask it
#pragma GCC unroll 2
          for (unsigned j = 0; j < W; j++) {
            const __m256i lo = _mm256_shuffle_epi8(table[i + j], _mm256_and_si256(a, wl[j]));
            const __m256i hi = _mm256_shuffle_epi8(table[i + j], _mm256_and_si256(ah, wh[j]));
            bytes[m] = _mm256_add_epi8(bytes[m], _mm256_add_epi8(lo, hi));
          }
        }
      }
      if (++filled == kGroup) {
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
          acc[m] = _mm256_add_epi32(acc[m], Widen(bytes[m]));
          bytes[m] = _mm256_setzero_si256();
        }
        filled = 0;
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; m++) p[m] = _mm256_add_epi32(acc[m], Widen(bytes[m]));
}

// The epilogue of 8 channels, prepared once per channel tile: acc = (P << shift) - beta * S_a -
// za * vsum (bitserial.h), then E(y) with kernels/common/epilogue-avx2.h's steps.
struct Epilogue {
  enum Mode { kBits1, kPlanes2, kCodes };
  __m128i shift;
  __m256i beta, corr;
  __m256 mul, add;
  size_t n, count;  // the channels' first, from the call's first one; how many are valid (1..8)
  uint32_t valid_bits;
  Mode mode;
  bool uniform_beta;  // all 8 beta equal: beta * S_a is one scalar product per pixel
  uint32_t beta0;
  __m256 thr;  // kBits1: as gemm-avx512.cc (y > lo + 0.5, or == when lo + 1 is even)
  bool ge;
  uint32_t constant;
  bool is_constant;

  void Init(const uint8_t* block, size_t l, size_t n0, size_t nc, const crumb_bitserial_params* p) {
    n = n0 + l;
    count = nc - n < 8 ? nc - n : 8;
    valid_bits = (1u << count) - 1;
    shift = _mm_cvtsi32_si128((int)Shift(block));
    mode = p->out_bits == 1 ? kBits1 : p->out_bits == 2 ? kPlanes2 : kCodes;
    beta = _mm256_loadu_si256((const __m256i*)(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l));
    beta0 = (uint32_t)Beta(block, l);
    uniform_beta =
        _mm256_movemask_epi8(_mm256_cmpeq_epi32(beta, _mm256_set1_epi32((int32_t)beta0))) == -1;
    corr = _mm256_mullo_epi32(_mm256_set1_epi32(p->a_zero_point),
                              _mm256_loadu_si256((const __m256i*)(block + 4 * l)));
    mul = crumb_avx2_load_partial_ps(p->mul + n, count);
    add = crumb_avx2_load_partial_ps(p->add + n, count);
    // Set for every mode (only kBits1 reads them).
    const int32_t lo = p->out.qmin - p->out.zero_point;
    thr = _mm256_set1_ps((float)lo + 0.5f);
    ge = ((lo + 1) & 1) == 0;
    is_constant = p->out.qmin == p->out.qmax;
    constant = p->out.qmin ? 0xFF : 0;
  }

  void Store(const __m256i* pv, const uint32_t* sa, size_t mr, const crumb_bitserial_params* p,
             const crumb_epilogue_avx2* e, uint8_t* c, size_t c_stride) const {
    for (size_t m = 0; m < mr; m++) {
      uint8_t* row = c + m * c_stride;
      const __m256i s = _mm256_set1_epi32((int32_t)(uniform_beta ? beta0 * sa[m] : sa[m]));
      const __m256i bs = uniform_beta ? s : _mm256_mullo_epi32(beta, s);
      const __m256i acc =
          _mm256_sub_epi32(_mm256_sub_epi32(_mm256_sll_epi32(pv[m], shift), bs), corr);
      switch (mode) {
        case kBits1: {
          const __m256 y = crumb_avx2_scale(acc, mul, add);
          const uint32_t bits =
              is_constant ? constant
                          : (uint32_t)_mm256_movemask_ps(ge ? _mm256_cmp_ps(y, thr, _CMP_GE_OQ)
                                                            : _mm256_cmp_ps(y, thr, _CMP_GT_OQ));
          row[n / 8] = (uint8_t)(bits & valid_bits);
          break;
        }
        case kPlanes2: {
          const __m256i q = crumb_avx2_requantize(crumb_avx2_scale(acc, mul, add), e);
          for (unsigned b = 0; b < 2; b++) {
            const uint32_t bits = (uint32_t)_mm256_movemask_ps(
                _mm256_castsi256_ps(_mm256_slli_epi32(q, 31 - (int)b)));
            row[b * p->out_plane_bytes + n / 8] = (uint8_t)(bits & valid_bits);
          }
          break;
        }
        case kCodes:
          crumb_avx2_output8(acc, mul, add, e, row, n, count);
          break;
      }
    }
  }
};

template <unsigned A, unsigned W, int MR, class Rows>
void TileRun(size_t m0, size_t kc, size_t ks, const Rows& rows, const uint8_t* wb, uint32_t* sa,
             bool count, const Epilogue& ep, const crumb_bitserial_params* p,
             const crumb_epilogue_avx2* e, uint8_t* c, size_t c_stride) {
  __m256i pv[MR];
  if (count) {
    Tile<A, W, MR, true>(m0, kc, ks, rows, wb, pv, sa);
  } else {
    Tile<A, W, MR, false>(m0, kc, ks, rows, wb, pv, sa);
  }
  ep.Store(pv, sa, MR, p, e, c + m0 * c_stride, c_stride);
}

// A pixel remainder of r < MR rows: the tile of exactly r rows.
template <unsigned A, unsigned W, int R, class Rows>
void Remainder(size_t r, size_t m0, size_t kc, size_t ks, const Rows& rows, const uint8_t* wb,
               uint32_t* sa, bool count, const Epilogue& ep, const crumb_bitserial_params* p,
               const crumb_epilogue_avx2* e, uint8_t* c, size_t c_stride) {
  if constexpr (R > 0) {
    if (r == R) {
      TileRun<A, W, R>(m0, kc, ks, rows, wb, sa, count, ep, p, e, c, c_stride);
    } else {
      Remainder<A, W, R - 1>(r, m0, kc, ks, rows, wb, sa, count, ep, p, e, c, c_stride);
    }
  }
}

constexpr size_t kChunk = 240;  // pixels whose S_a are kept; a multiple of every MR

template <unsigned A, unsigned W, class Rows>
void BsGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w, void* c,
            size_t c_stride, const crumb_bitserial_params* p) {
  constexpr int MR = Shape<A, W>::kMR;
  static_assert(kChunk % MR == 0, "chunks of whole tiles");
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&p->out);
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, W);
  uint8_t* out = static_cast<uint8_t*>(c);
  uint32_t sa[kChunk];
  for (size_t mc = 0; mc < mr; mc += kChunk) {
    const size_t mlen = mr - mc < kChunk ? mr - mc : kChunk;
    for (size_t n0 = 0; n0 < nc; n0 += CRUMB_BITSERIAL_NR) {
      const uint8_t* block = w + (n0 / CRUMB_BITSERIAL_NR) * block_bytes;
      for (size_t l = 0; l < CRUMB_BITSERIAL_NR; l += 8) {
        if (n0 + l >= nc) {
          // Packed outputs are written a whole 64-bit word at a time: 0 for channels >= nc.
          if (p->out_bits != 8) {
            for (size_t m = 0; m < mlen; m++) {
              for (unsigned b = 0; b < p->out_bits; b++) {
                out[(mc + m) * c_stride + b * p->out_plane_bytes + (n0 + l) / 8] = 0;
              }
            }
            continue;
          }
          break;
        }
        Epilogue ep;
        ep.Init(block, l, n0, nc, p);
        const uint8_t* wb = block + 4 * l;
        const bool count = n0 == 0 && l == 0;
        size_t m0 = 0;
        for (; m0 + MR <= mlen; m0 += MR) {
          TileRun<A, W, MR>(mc + m0, kc, ks, rows, wb, sa + m0, count, ep, p, &e, out, c_stride);
        }
        if (m0 < mlen) {
          Remainder<A, W, MR - 1>(mlen - m0, mc + m0, kc, ks, rows, wb, sa + m0, count, ep, p, &e,
                                  out, c_stride);
        }
      }
    }
  }
}

}  // namespace
}  // namespace crumb_bitserial

CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 1, 6x8, avx2)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 1, 6x8, avx2)
CRUMB_BITSERIAL_DEFINE_UKERNELS(1, 2, 6x8, avx2)
CRUMB_BITSERIAL_DEFINE_UKERNELS(2, 2, 4x8, avx2)
