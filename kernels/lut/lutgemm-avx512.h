// Pair-table GEMM / IGEMM on AVX-512 (kernels/lut/lut.h), the body shared by the F/BW kernels
// (lutgemm-avx512.cc: vpshufb) and the VBMI ones (lutgemm-vbmi-avx512.cc: vpermb, which ignores
// index bits 6-7 and, the rows being replicated, bits 4-5: no masking of the nibble codes).
// Include only from *-avx512.cc files, once, with CRUMB_LUT_AVX512_VBMI 0 or 1 defined.
// Register tile: 4 output pixels x 128 output channels (two 64-channel blocks, a zmm of 64 byte
// lanes each), and 8 x 64 for an odd last block.
//
// Per step (4 codes of k = two pairs) and pixel: the activation byte(s) name two rows of the
// constant pair table, each stored replicated to the four 128-bit lanes (a plain 64-byte load;
// a vbroadcasti32x4 would take a shuffle slot from the lookups), and vpshufb / vpermb looks each
// up with the 64 lanes' 4-bit weight-pair codes: 2 lookups, 4 MACs per lane. The nibble codes
// are extracted once per step and shared by the tile's pixels.
//
// Accumulation and its bound. Table entries are biased to unsigned bytes, 0 <= T' <= width
// (lut.h: width = 2 amax (max vmap - min vmap) <= 8 amax), and the table's trailer says how many
// steps (two lookups each) make a "group" whose byte sums cannot wrap: 2 steps_per_group width
// <= 255 (signed 2-bit weights: A2 14 lookups x 18, A3 6 x 42, A4 2 x 90; at worst A4 2 x 120 =
// 240). After each group the byte sums s (one per lane) are widened without shuffles, reading the
// zmm as 16-bit lanes w = s_even + 256 s_odd:
//   accw += w            (mod 2^16)
//   acco += w >> 8       = s_odd
// After G groups, acco = sum s_odd <= 255 G and sum s_even = accw - (acco << 8) (mod 2^16), both
// exact while 255 G < 2^16: G <= 257. The kernel flushes to int32 every 256 groups (and at the
// end of the tile). The even bytes of the weights' lanes hold channels 0-31 of a block and the odd
// ones 32-63, so the flushed int32 sums come out in channel order. Finally
//   acc = sum T' - bias * (pairs looked up) - za * ksum[n] = sum (a - za) v   (wrapping int32),
// padding pairs included on both sides (their weights are 0, their T' = bias).
#pragma once

#include <immintrin.h>
#include <string.h>

#include <type_traits>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/lut/lut.h"

namespace crumb_lut_avx512 {
namespace {

// Tiles: kMR pixels x 2 blocks, and kMR1 pixels x 1 block for an odd last block (64-channel
// layers). Both keep accw, acco and the byte sums of the tile in registers (3 x MR x NB zmm).
// A2 on VBMI, one-block tiles: one load of a step row per pixel and step (lut.h) instead of two
// pair rows. Worth it where loads and address arithmetic per pixel weigh most (64-channel layers:
// +25%); two-block tiles are bound by vector ops and lose the two extra index ops (-5%).
#ifndef CRUMB_LUT_AVX512_A2_STEP_ROWS
#define CRUMB_LUT_AVX512_A2_STEP_ROWS CRUMB_LUT_AVX512_VBMI
#endif
#ifndef CRUMB_LUT_AVX512_QUAD
#define CRUMB_LUT_AVX512_QUAD 1
#endif
#ifndef CRUMB_LUT_AVX512_MR
#define CRUMB_LUT_AVX512_MR 4
#define CRUMB_LUT_AVX512_MR1 8
#endif
constexpr int kMR = CRUMB_LUT_AVX512_MR;
constexpr int kMR1 = CRUMB_LUT_AVX512_MR1;
constexpr size_t kFlushGroups = 256;  // <= 257, see above

// acc += x in 16-bit lanes, in place: without the constraint GCC 12 computes some sums into a
// fresh register and copies them back every group (a move per accumulator in the hot loop).
inline void AddInPlace16(__m512i& acc, __m512i x) {
  __asm__("vpaddw %1, %0, %0" : "+v"(acc) : "v"(x));
}

struct DirectRows {
  const uint8_t* a;
  size_t stride;
  const uint8_t* operator()(size_t m, size_t) const { return a + m * stride; }
};
struct IndirectRows {
  const void** a;
  size_t ks, offset;
  const void* zero;
  const uint8_t* operator()(size_t m, size_t t) const {
    const uint8_t* p = static_cast<const uint8_t*>(a[m * ks + t]);
    return p == zero ? p : p + offset;
  }
};

// 64 codes (int32 x 4, channels 0-63 of a block, [0, count) valid) to the row as packed
// out_bits codes starting at channel n (a multiple of 64).
inline void StorePacked(__m512i q0, __m512i q1, __m512i q2, __m512i q3, unsigned ob, size_t count,
                        uint8_t* row, size_t n) {
  const __mmask64 valid = count >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
  const __m512i b = _mm512_maskz_mov_epi8(valid, crumb_avx512_pack64_u8(q0, q1, q2, q3));
  // Adjacent bytes c0 + 16 c1 (4-bit), or c0 + 4 c1 then pairs of those (2-bit).
  if (ob == 4) {
    const __m512i w = _mm512_maddubs_epi16(b, _mm512_set1_epi16(0x1001));
    const __m256i bytes = _mm512_cvtepi16_epi8(w);
    const size_t nbytes = (count * 4 + 7) / 8;
    _mm256_mask_storeu_epi8(row + n / 2,
                            (__mmask32)(nbytes >= 32 ? 0xFFFFFFFFu : ((1u << nbytes) - 1)), bytes);
  } else {
    const __m512i w = _mm512_maddubs_epi16(b, _mm512_set1_epi16(0x0401));
    const __m512i d = _mm512_madd_epi16(w, _mm512_set1_epi32(0x00100001));
    const __m128i bytes = _mm512_cvtepi32_epi8(d);
    const size_t nbytes = (count * 2 + 7) / 8;
    _mm_mask_storeu_epi8(row + n / 4, (__mmask16)(nbytes >= 16 ? 0xFFFFu : ((1u << nbytes) - 1)),
                         bytes);
  }
}

// v[4]: the int32 accumulators of channels n .. n + 63 (16 per vector, [0, count) valid); E(y)
// into the row.
inline void StoreBlock(const __m512i* v, size_t n, size_t count, const crumb_lut_params* p,
                       const crumb_epilogue_avx512* e, uint8_t* row) {
  if (p->out_bits == 2 || p->out_bits == 4) {
    __m512i q[4];
    for (int j = 0; j < 4; j++) {
      const size_t cj = count > 16 * (size_t)j ? count - 16 * j : 0;
      const __mmask16 k = crumb_avx512_mask16(cj);
      const __m512 y = crumb_avx512_scale(v[j], _mm512_maskz_loadu_ps(k, p->mul + n + 16 * j),
                                          _mm512_maskz_loadu_ps(k, p->add + n + 16 * j));
      q[j] = crumb_avx512_requantize(y, e);
    }
    StorePacked(q[0], q[1], q[2], q[3], p->out_bits, count, row, n);
    return;
  }
  if (e->type == CRUMB_ELEM_U8 && count >= 64) {
    // One pack and one 64-byte store instead of four masked vpmovusdb stores.
    __m512i q[4];
    for (int j = 0; j < 4; j++) {
      q[j] = crumb_avx512_requantize(crumb_avx512_scale(v[j], _mm512_loadu_ps(p->mul + n + 16 * j),
                                                        _mm512_loadu_ps(p->add + n + 16 * j)),
                                     e);
    }
    _mm512_storeu_si512(row + n, crumb_avx512_pack64_u8(q[0], q[1], q[2], q[3]));
    return;
  }
  for (int j = 0; j < 4 && 16 * (size_t)j < count; j++) {
    crumb_avx512_output16(v[j], p->mul, p->add, e, row, n + 16 * j, count - 16 * j);
  }
}

// The 16-bit sums as int32 in channel order: even bytes (channels 0-31) = accw - (acco << 8),
// odd bytes (32-63) = acco.
inline void Widen(__m512i accw, __m512i acco, __m512i parts[4]) {
  const __m512i ev = _mm512_sub_epi16(accw, _mm512_slli_epi16(acco, 8));
  parts[0] = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(ev));
  parts[1] = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(ev, 1));
  parts[2] = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(acco));
  parts[3] = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(acco, 1));
}

// The int32 accumulators of pixels m0 .. m0 + mvalid - 1 (rows(m, t) reads them) for the NB
// blocks at w: sink(m, b, v) receives v[4] = acc of channels 64b .. 64b + 63 for m < mvalid.
template <unsigned ABITS, int MR, int NB, class Rows, class Sink>
inline void Tile(size_t m0, size_t mvalid, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
                 size_t block_bytes, const uint8_t* table, int32_t a_zero_point, const Sink& sink) {
  const crumb_lut_table_info* info = crumb_lut_table_trailer(table, ABITS);
  // Steps per byte-sum group: the table's bound, shortened to what the fast paths below take
  // (shorter groups are always exact): A2 at most 8 steps (one 8-byte load of activation
  // codes), A3 / A4 1 step (four steps per 8-byte load).
  size_t spg = (size_t)info->steps_per_group;
  if (ABITS == 2) {
    spg = spg < 8 ? spg : 8;
  } else {
    // Longer groups keep the byte sums of the tile live across steps (8 more zmm: spills);
    // widening after every step measures faster, even for ternary weights.
    spg = 1;
  }
  const size_t steps = crumb_lut_steps(kc);
  const size_t tap_groups = (steps + spg - 1) / spg;          // the last one may be short
  [[maybe_unused]] const __m512i nib = _mm512_set1_epi8(15);  // vpshufb only
  // Int32 sums of earlier flushes; only used (and only written) when K needs more than one.
  alignas(64) int32_t acc32[MR][NB][CRUMB_LUT_NR];
  bool flushed = false;
  __m512i accw[MR][NB], acco[MR][NB];
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
    for (int b = 0; b < NB; b++) accw[m][b] = acco[m][b] = _mm512_setzero_si512();
  }
  auto flush = [&]() __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
      for (int b = 0; b < NB; b++) {
        __m512i parts[4];
        Widen(accw[m][b], acco[m][b], parts);
        for (int j = 0; j < 4; j++) {
          int32_t* d = acc32[m][b] + 16 * j;
          _mm512_store_si512(d,
                             flushed ? _mm512_add_epi32(_mm512_load_si512(d), parts[j]) : parts[j]);
        }
        accw[m][b] = acco[m][b] = _mm512_setzero_si512();
      }
    }
    flushed = true;
  };
  size_t groups = 0;  // since the last flush
  for (size_t t = 0; t < ks; t++) {
    const uint8_t* ap[MR];
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
      ap[m] = rows(m0 + ((size_t)m < mvalid ? (size_t)m : mvalid - 1), t);
    }
    const uint8_t* wt = w + CRUMB_LUT_BLOCK_HEADER + t * steps * CRUMB_LUT_NR;
    // pre: each pixel's 8 activation bytes from the group's first step, s0 (the offsets then
    // wait for a shift, not a load), or null to read the row.
    auto step = [&](__m512i(&g)[MR][NB], size_t s, bool first, const uint64_t* pre, size_t s0)
        __attribute__((always_inline)) {
      __m512i lo[NB], hi[NB];
#pragma GCC unroll 2
      for (int b = 0; b < NB; b++) {
        const __m512i wv = _mm512_loadu_si512(wt + b * block_bytes + s * CRUMB_LUT_NR);
#if CRUMB_LUT_AVX512_VBMI
        if (CRUMB_LUT_AVX512_A2_STEP_ROWS && ABITS == 2 && NB == 1) {
          // Step rows [T_lo | T_hi | T_lo | T_hi]: index bit 4 picks the pair, bit 5 is free.
          lo[b] = _mm512_andnot_si512(_mm512_set1_epi8(0x10), wv);
          hi[b] = _mm512_or_si512(_mm512_srli_epi16(wv, 4), _mm512_set1_epi8(0x10));
        } else {
          lo[b] = wv;
          hi[b] = _mm512_srli_epi16(wv, 4);
        }
#else
        lo[b] = _mm512_and_si512(wv, nib);
        hi[b] = _mm512_and_si512(_mm512_srli_epi16(wv, 4), nib);
#endif
      }
#pragma GCC unroll 16
      for (int m = 0; m < MR; m++) {
        __m512i t0, t1;
        if (ABITS == 2) {
          const uint32_t code =
              pre ? (uint32_t)(pre[m] >> (8 * (s - s0))) & 0xFF : (uint32_t)ap[m][s];
          if (CRUMB_LUT_AVX512_A2_STEP_ROWS && NB == 1) {
            t0 = t1 = _mm512_load_si512(table + CRUMB_LUT_A2_STEP_ROWS + (code << 6));
          } else {
            t0 = _mm512_load_si512(table + ((code << 6) & 0x3C0));
            t1 = _mm512_load_si512(table + ((code << 2) & 0x3C0));
          }
        } else {
          const uint32_t code = pre ? (uint32_t)(pre[m] >> (16 * (s - s0))) & 0xFFFF
                                    : (uint32_t)ap[m][2 * s] | (uint32_t)ap[m][2 * s + 1] << 8;
          t0 = _mm512_load_si512(table + ((code << 6) & 0x3FC0));
          t1 = _mm512_load_si512(table + ((code >> 2) & 0x3FC0));
        }
#pragma GCC unroll 2
        for (int b = 0; b < NB; b++) {
#if CRUMB_LUT_AVX512_VBMI
          const __m512i x = _mm512_add_epi8(_mm512_permutexvar_epi8(lo[b], t0),
                                            _mm512_permutexvar_epi8(hi[b], t1));
#else
          const __m512i x =
              _mm512_add_epi8(_mm512_shuffle_epi8(t0, lo[b]), _mm512_shuffle_epi8(t1, hi[b]));
#endif
          g[m][b] = first ? x : _mm512_add_epi8(g[m][b], x);
        }
      }
    };
    size_t s = 0;
    for (size_t done = 0; done < tap_groups;) {
      // Whole groups up to the next flush, without a branch inside.
      const size_t left = tap_groups - done;
      const size_t n = left < kFlushGroups - groups ? left : kFlushGroups - groups;
      done += n;
      size_t i = 0;
#if CRUMB_LUT_AVX512_QUAD
      // A3 / A4: four steps (groups of one step) per iteration, each pixel's row offsets cut
      // out of one 8-byte load, so that the table loads wait for an ALU op rather than a load.
      const auto quad = [&](auto group) __attribute__((always_inline)) {
        constexpr size_t G = decltype(group)::value;  // steps per group
        for (; i + 4 / G <= n && s + 4 <= steps; i += 4 / G, s += 4) {
          uint64_t codes[MR];
#pragma GCC unroll 16
          for (int m = 0; m < MR; m++) memcpy(&codes[m], ap[m] + 2 * s, 8);
          __m512i g[MR][NB];
#pragma GCC unroll 4
          for (int q = 0; q < 4; q++) {
            __m512i lo[NB], hi[NB];
#pragma GCC unroll 2
            for (int b = 0; b < NB; b++) {
              const __m512i wv = _mm512_loadu_si512(wt + b * block_bytes + (s + q) * CRUMB_LUT_NR);
#if CRUMB_LUT_AVX512_VBMI
              lo[b] = wv;
              hi[b] = _mm512_srli_epi16(wv, 4);
#else
              lo[b] = _mm512_and_si512(wv, nib);
              hi[b] = _mm512_and_si512(_mm512_srli_epi16(wv, 4), nib);
#endif
            }
#pragma GCC unroll 16
            for (int m = 0; m < MR; m++) {
              const __m512i t0 = _mm512_load_si512(table + ((codes[m] >> (16 * q) << 6) & 0x3FC0));
              const __m512i t1 = _mm512_load_si512(table + ((codes[m] >> (16 * q + 2)) & 0x3FC0));
#pragma GCC unroll 2
              for (int b = 0; b < NB; b++) {
#if CRUMB_LUT_AVX512_VBMI
                const __m512i x = _mm512_add_epi8(_mm512_permutexvar_epi8(lo[b], t0),
                                                  _mm512_permutexvar_epi8(hi[b], t1));
#else
                const __m512i x =
                    _mm512_add_epi8(_mm512_shuffle_epi8(t0, lo[b]), _mm512_shuffle_epi8(t1, hi[b]));
#endif
                g[m][b] = q % G == 0 ? x : _mm512_add_epi8(g[m][b], x);
                if (q % G == G - 1) {
                  AddInPlace16(accw[m][b], g[m][b]);
                  AddInPlace16(acco[m][b], _mm512_srli_epi16(g[m][b], 8));
                }
              }
            }
          }
        }
      };
      if (ABITS != 2) {
        quad(std::integral_constant<size_t, 1>());
      }
#endif
      for (; i < n; i++) {
        const size_t send = s + spg < steps ? s + spg : steps;
        __m512i g[MR][NB];
        // A group within 8 activation bytes of the row: one load per pixel.
        constexpr size_t kPerWord = ABITS == 2 ? 8 : 4;  // steps in 8 bytes
        if (CRUMB_LUT_AVX512_QUAD && spg <= kPerWord && s + kPerWord <= steps) {
          uint64_t pre[MR];
#pragma GCC unroll 16
          for (int m = 0; m < MR; m++) memcpy(&pre[m], ap[m] + s * (ABITS == 2 ? 1 : 2), 8);
          const size_t s0 = s;
          step(g, s, true, pre, s0);
          for (s++; s < send; s++) step(g, s, false, pre, s0);
        } else {
          step(g, s, true, nullptr, 0);
          for (s++; s < send; s++) step(g, s, false, nullptr, 0);
        }
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
#pragma GCC unroll 2
          for (int b = 0; b < NB; b++) {
            AddInPlace16(accw[m][b], g[m][b]);
            AddInPlace16(acco[m][b], _mm512_srli_epi16(g[m][b], 8));
          }
        }
      }
      groups += n;
      if (groups == kFlushGroups) {
        flush();
        groups = 0;
      }
    }
  }
  // acc = sum T' - bias * pairs - za * ksum[n].
  const __m512i bias_total = _mm512_set1_epi32((int32_t)((uint32_t)info->bias * 2 * steps * ks));
  const __m512i za = _mm512_set1_epi32(a_zero_point);
  __m512i corr[NB][4];
  for (int b = 0; b < NB; b++) {
    const int32_t* ksum = (const int32_t*)(w + b * block_bytes);
    for (int j = 0; j < 4; j++) {
      corr[b][j] =
          _mm512_add_epi32(bias_total, _mm512_mullo_epi32(za, _mm512_loadu_si512(ksum + 16 * j)));
    }
  }
#pragma GCC unroll 16
  for (int m = 0; m < MR; m++) {
    if ((size_t)m >= mvalid) break;
#pragma GCC unroll 2
    for (int b = 0; b < NB; b++) {
      __m512i v[4];
      Widen(accw[m][b], acco[m][b], v);
      for (int j = 0; j < 4; j++) {
        if (flushed) v[j] = _mm512_add_epi32(v[j], _mm512_load_si512(acc32[m][b] + 16 * j));
        v[j] = _mm512_sub_epi32(v[j], corr[b][j]);
      }
      sink((size_t)m, b, v);
    }
  }
}

template <unsigned ABITS, class Rows>
void LutGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
             void* c, size_t c_stride, const crumb_lut_params* p) {
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&p->out);
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  // Block-major: a pair of blocks' weights stays in L2 while every pixel passes.
  size_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    for (size_t m0 = 0; m0 < mr; m0 += kMR) {
      const size_t mvalid = mr - m0 < (size_t)kMR ? mr - m0 : (size_t)kMR;
      const auto sink = [&](size_t m, int bb, const __m512i* v) __attribute__((always_inline)) {
        const size_t n = (b + bb) * CRUMB_LUT_NR;
        if (n >= nc) return;
        StoreBlock(v, n, nc - n < CRUMB_LUT_NR ? nc - n : CRUMB_LUT_NR, p, &e,
                   out + (m0 + m) * c_stride);
      };
      Tile<ABITS, kMR, 2>(m0, mvalid, kc, ks, rows, w + b * block_bytes, block_bytes, p->table,
                          p->a_zero_point, sink);
    }
  }
  if (b < blocks) {
    for (size_t m0 = 0; m0 < mr; m0 += kMR1) {
      const size_t mvalid = mr - m0 < (size_t)kMR1 ? mr - m0 : (size_t)kMR1;
      const auto sink = [&](size_t m, int, const __m512i* v) __attribute__((always_inline)) {
        const size_t n = b * CRUMB_LUT_NR;
        StoreBlock(v, n, nc - n < CRUMB_LUT_NR ? nc - n : CRUMB_LUT_NR, p, &e,
                   out + (m0 + m) * c_stride);
      };
      Tile<ABITS, kMR1, 1>(m0, mvalid, kc, ks, rows, w + b * block_bytes, block_bytes, p->table,
                           p->a_zero_point, sink);
    }
  }
}

// GEMV over 8-bit activations: a = 16 h + l with 4-bit halves, so sum a v = sum l v + 16 sum h v,
// two A4 pair-table sums sharing every weight load (the two "pixels" of a 2 x 128 tile). The
// halves are first written as two A4 rows (CHANNELS_LSB) into scratch.
inline void SplitNibbles(const uint8_t* a, size_t kc, uint32_t flip, uint8_t* lo, uint8_t* hi) {
  const size_t rb = crumb_lut_act_row_bytes(kc, 4);
  const __m512i f = _mm512_set1_epi8((char)flip), m0f = _mm512_set1_epi16(0x000F),
                mf0 = _mm512_set1_epi16(0x00F0);
  size_t i = 0;
  for (; i + 64 <= kc; i += 64) {  // 32 pairs: words a0 | a1 << 8
    const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(a + i), f);
    const __m512i l =
        _mm512_or_si512(_mm512_and_si512(x, m0f), _mm512_and_si512(_mm512_srli_epi16(x, 4), mf0));
    const __m512i h = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(x, 4), m0f),
                                      _mm512_and_si512(_mm512_srli_epi16(x, 8), mf0));
    _mm256_storeu_si256((__m256i*)(lo + i / 2), _mm512_cvtepi16_epi8(l));
    _mm256_storeu_si256((__m256i*)(hi + i / 2), _mm512_cvtepi16_epi8(h));
  }
  for (size_t j = i / 2; j < rb; j++) {  // the tail, and zero codes up to the 4-code step
    const uint32_t a0 = 2 * j < kc ? a[2 * j] ^ flip : 0;
    const uint32_t a1 = 2 * j + 1 < kc ? a[2 * j + 1] ^ flip : 0;
    lo[j] = (uint8_t)((a0 & 15) | (a1 & 15) << 4);
    hi[j] = (uint8_t)((a0 >> 4) | (a1 & 0xF0));
  }
}

inline void LutGemv(size_t nc, size_t kc, const void* a, const uint8_t* w, void* c,
                    const crumb_lut_params* p, uint8_t* scratch) {
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&p->out);
  const size_t rb = crumb_lut_act_row_bytes(kc, 4);
  const uint32_t flip = p->a_type == CRUMB_ELEM_S8 ? 0x80 : 0;  // s8 codes as u8: a + 128
  const int32_t za = p->a_zero_point + (int32_t)flip;
  SplitNibbles(static_cast<const uint8_t*>(a), kc, flip, scratch, scratch + rb);
  const DirectRows rows{scratch, rb};
  const size_t block_bytes = crumb_lut_block_bytes(1, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  for (size_t b = 0; b < blocks; b += 2) {
    const int nb = b + 1 < blocks ? 2 : 1;
    __m512i lo[2][4];
    const auto sink = [&](size_t m, int bb, const __m512i* v) __attribute__((always_inline)) {
      if (m == 0) {
        for (int j = 0; j < 4; j++) lo[bb][j] = v[j];
        return;
      }
      const size_t n = (b + bb) * CRUMB_LUT_NR;
      if (n >= nc) return;
      // sum l v + 16 sum h v - za ksum; the halves' sums were corrected for za = 0.
      const int32_t* ksum = (const int32_t*)(w + (b + bb) * block_bytes);
      __m512i acc[4];
      for (int j = 0; j < 4; j++) {
        acc[j] = _mm512_sub_epi32(
            _mm512_add_epi32(lo[bb][j], _mm512_slli_epi32(v[j], 4)),
            _mm512_mullo_epi32(_mm512_set1_epi32(za), _mm512_loadu_si512(ksum + 16 * j)));
      }
      StoreBlock(acc, n, nc - n < CRUMB_LUT_NR ? nc - n : CRUMB_LUT_NR, p, &e, out);
    };
    if (nb == 2) {
      Tile<4, 2, 2>(0, 2, kc, 1, rows, w + b * block_bytes, block_bytes, p->table, 0, sink);
    } else {
      Tile<4, 2, 1>(0, 2, kc, 1, rows, w + b * block_bytes, block_bytes, p->table, 0, sink);
    }
  }
}

}  // namespace
}  // namespace crumb_lut_avx512
