// Dot-family GEMM / IGEMM on AVX2: DOT_N16K4 weights decoded to int8 in registers, vpmaddubsw
// (u8 activations x s8 weights -> int16 pairs), int16 sums over a run of k-groups, then
// vpmaddwd by 1 into int32 (kernels/dot/dot.h has the contract and the arithmetic). Register
// tiles: with scratch and at least 12 rows, 6 rows x 16 channels (one block, two ymm halves of 8
// channels) against a block decoded once into scratch (TileBuf; for a kc that is not a multiple
// of 4, against rows packed on the stack: RunPacked); otherwise 4 rows (2 for 8-bit weights)
// decoding in registers (Tile).
//
// Exactness (vpmaddubsw saturates its int16 pair sums, vpaddw wraps; neither may happen):
//   every activation a_u is in [0, 255]; every decoded w' is in [-2^(b-1), 2^(b-1) - 1] for b
//   bits (signed codes, centred unsigned codes), [-1, 1] for ternary / bipolar. One vpmaddubsw
//   lane is a0 w0 + a1 w1, so |lane| <= 2 * 255 * 2^(b-1) = 255 * 2^b. A run of S vectors adds S
//   such lanes in int16, so |sum| <= S * 255 * 2^b must stay <= 32767:
//     b = 1: S = 64 (510 * 64 = 32640)     b = 2: S = 32 (1020 * 32 = 32640)
//     b = 3: S = 16 (2040 * 16 = 32640)    b = 4: S = 8  (4080 * 8 = 32640)
//     b = 5: S = 4  (8160 * 4 = 32640)     b = 6: S = 2  (16320 * 2 = 32640)
//     b = 7: S = 1  (32640)
//   (kRun below; the extreme-value tests fill every activation with 255 and every weight with
//   -2^(b-1) to hit these bounds exactly). 8-bit weights exceed the pair bound (2 * 255 * 128 =
//   65280), so they are split: w' = 16 h + l, in Tile with h = w' >> 4 in [-8, 7] (pair bound
//   4080, run of 8) and l = w' & 15 in [0, 15] (pair bound 7650, run of 4), in the decoded block
//   with l in [-8, 7] and h in [-8, 8] (runs of 8 for both, see DecodeBlock); the int32 result is
//   16 * madd(h sums) + madd(l sums). vpmaddwd of an int16 sum by 1 (or 16) is exact in int32.
//
// This file is the implementation of two kernels: included by gemm-avx2.cc (AVX2 only) and by
// gemm-vnni-avx2.cc with CRUMB_DOT_VNNI = 1 (AVX-VNNI: the decoded-block tile multiplies with
// VEX vpdpbusd into int32 directly: no int16 runs, no flushes, 8-bit weights unsplit).
#pragma once

#include <immintrin.h>
#include <string.h>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/dot/dot.h"
#include "kernels/dot/internal.h"

#ifndef CRUMB_DOT_VNNI
#define CRUMB_DOT_VNNI 0
#endif

namespace {

constexpr bool kVnni = CRUMB_DOT_VNNI;

using crumb_dot::Call;
using crumb_dot::Geometry;
using crumb_dot::Row;

constexpr int kPlanes[9] = {0, 1, 1, 2, 1, 2, 2, 3, 1};
constexpr int kWidths[9][3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {4, 0, 0},
                               {4, 1, 0}, {4, 2, 0}, {4, 2, 1}, {8, 0, 0}};
// Vectors per int16 run (see above); 8-bit weights: the run of the h part.
constexpr unsigned kRun[9] = {0, 64, 32, 16, 8, 4, 2, 1, 8};

template <int BITS>
struct Decoder {
  __m256i lut;   // bits <= 4: w' of codes 0..15 (vpshufb table, both lanes)
  __m256i flip;  // bits 5..7: x ^ flip - half gives w' (flip = half for two's complement, 0 for
                 // centred unsigned); bits 8: 0x80 for UNSIGNED
  __m256i half;

  explicit Decoder(uint32_t encoding) {
    alignas(32) int8_t t[32];
    for (int i = 0; i < 32; i++) {
      const uint32_t code = (uint32_t)(i % 16) & ((1u << (BITS < 4 ? BITS : 4)) - 1u);
      t[i] = BITS <= 4 ? (int8_t)crumb_dot_code_value(code, BITS, encoding) : 0;
    }
    lut = _mm256_load_si256((const __m256i*)t);
    const int h = 1 << (BITS - 1);
    half = _mm256_set1_epi8(BITS >= 5 && BITS <= 7 ? (char)h : 0);
    if (BITS == 8) {
      flip = _mm256_set1_epi8(encoding == CRUMB_ENC_UNSIGNED ? (char)0x80 : 0);
    } else {
      flip = _mm256_set1_epi8(encoding == CRUMB_ENC_UNSIGNED ? 0 : (char)h);
    }
  }

  // Half `hf` (channels 8 hf .. 8 hf + 7) of vector v of a super-block of nv vectors at sb.
  __attribute__((always_inline)) inline __m256i operator()(const uint8_t* sb, unsigned nv,
                                                           unsigned v, unsigned hf) const {
    if (BITS == 8) {
      return _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(sb + 64 * v + 32 * hf)), flip);
    }
    __m256i code = _mm256_setzero_si256();
    size_t offset = 32 * hf;
    int at = 0;
#pragma GCC unroll 3
    for (int q = 0; q < kPlanes[BITS]; q++) {
      const int p = kWidths[BITS][q];
      const unsigned per = 8 / p;
      __m256i x = _mm256_loadu_si256((const __m256i*)(sb + offset + 64 * (v / per)));
      const int sh = p * (int)(v % per) - at;
      if (sh > 0) x = _mm256_srl_epi16(x, _mm_cvtsi32_si128(sh));
      if (sh < 0) x = _mm256_sll_epi16(x, _mm_cvtsi32_si128(-sh));
      x = _mm256_and_si256(x, _mm256_set1_epi8((char)(((1 << p) - 1) << at)));
      code = q == 0 ? x : _mm256_or_si256(code, x);
      offset += 64 * ((nv * (unsigned)p + 7) / 8);
      at += p;
    }
    if (BITS <= 4) return _mm256_shuffle_epi8(lut, code);
    return _mm256_sub_epi8(_mm256_xor_si256(code, flip), half);
  }
};

// Keeps a running sum in a register at this point of the program. Without it GCC reassociates the
// chains of vpaddw into trees, which computes every vpmaddubsw of an unrolled run first and
// spills them to the stack.
__attribute__((always_inline)) inline void Pin(__m256i& x) { __asm__("" : "+x"(x)); }

template <bool SA>
__attribute__((always_inline)) inline __m256i Bcast(const uint8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  const __m256i x = _mm256_set1_epi32(v);
  return SA ? _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)) : x;
}

// The last k-group of a tap with only `bytes` (1..3; 4 reads a whole word) real bytes, the rest 0
// in the u8 domain: fixed-size loads that stay inside the row (a byte loop here made every tap of
// a 3-channel convolution a chain of variable shifts and mispredicted branches).
template <bool SA>
__attribute__((always_inline)) inline __m256i BcastTail(const uint8_t* p, unsigned bytes) {
  uint32_t v, flip;
  uint16_t lo;
  switch (bytes) {
    case 1:
      v = p[0];
      flip = 0x80u;
      break;
    case 2:
      memcpy(&lo, p, 2);
      v = lo;
      flip = 0x8080u;
      break;
    case 3:
      memcpy(&lo, p, 2);
      v = (uint32_t)lo | (uint32_t)p[2] << 16;
      flip = 0x808080u;
      break;
    default:
      memcpy(&v, p, 4);
      flip = 0x80808080u;
      break;
  }
  if (SA) v ^= flip;
  return _mm256_set1_epi32((int32_t)v);
}

template <bool SA>
inline uint32_t RowSum(const uint8_t* p, size_t kc) {
  uint32_t sum = 0;
  size_t k = 0;
  __m256i s = _mm256_setzero_si256();
  const __m256i flip = _mm256_set1_epi8(SA ? (char)0x80 : 0);
  for (; k + 32 <= kc; k += 32) {
    const __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)(p + k)), flip);
    s = _mm256_add_epi64(s, _mm256_sad_epu8(x, _mm256_setzero_si256()));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256((__m256i*)lanes, s);
  sum = (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
  for (; k < kc; k++) sum += (uint32_t)(p[k] ^ (SA ? 0x80 : 0));
  return sum;
}

// zw' of channels n .. n + count - 1 (count 1..8), 0 in the other lanes.
// (A masked load: a 32-byte load of a buffer just written in pieces would stall on store
// forwarding.)
inline __m256i ZeroPoints(const Call& call, size_t n, size_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), lanes);
  const __m256i zw = _mm256_maskload_epi32(call.params->w_zero_point + n, mask);
  return _mm256_and_si256(_mm256_sub_epi32(zw, _mm256_set1_epi32(call.bias)), mask);
}

// za_u * (K zw' - wsum) of 8 channels, wrapping; wsum points at their sums in a block header.
inline __m256i Correction(const Call& call, const Geometry& g, const uint8_t* wsum, __m256i zw) {
  return _mm256_mullo_epi32(
      _mm256_set1_epi32((int32_t)call.za_u),
      _mm256_sub_epi32(_mm256_mullo_epi32(zw, _mm256_set1_epi32((int32_t)g.k_total)),
                       _mm256_loadu_si256((const __m256i*)wsum)));
}

// Zero-point corrections and the epilogue of a tile: acc[m][h] holds the dot products of row
// m0 + m, channels 16 nb + 8 h .. + 7.
template <bool SA, int MR>
void Finish(const Call& call, const Geometry& g, const __m256i (*acc)[2], size_t m0, size_t nb,
            const crumb_epilogue_avx2& ep) {
  uint32_t rsum[MR] = {0};
  if (call.has_zw) {
    for (int m = 0; m < MR; m++)
      for (size_t t = 0; t < g.ks; t++)
        rsum[m] += RowSum<SA>(Row(call, g, m0 + (size_t)m, t), g.kc);
  }
  const crumb_gemm_params* p = call.params;
  const uint8_t* header = call.w + nb * g.block_bytes;
  const size_t n0 = nb * 16;
  if (call.corrs && !call.has_zw && n0 + 16 <= call.nc && ep.type != CRUMB_ELEM_F32) {
    // A whole block to 8-bit codes: both halves of a row packed and stored as 16 bytes.
    const __m256i corr0 = _mm256_loadu_si256((const __m256i*)(call.corrs + n0));
    const __m256i corr1 = _mm256_loadu_si256((const __m256i*)(call.corrs + n0 + 8));
    const __m256 mul0 = _mm256_loadu_ps(p->mul + n0), mul1 = _mm256_loadu_ps(p->mul + n0 + 8);
    const __m256 add0 = _mm256_loadu_ps(p->add + n0), add1 = _mm256_loadu_ps(p->add + n0 + 8);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int m = 0; m < MR; m++) {
      const __m256i q0 = crumb_avx2_requantize(
          crumb_avx2_scale(_mm256_add_epi32(acc[m][0], corr0), mul0, add0), &ep);
      const __m256i q1 = crumb_avx2_requantize(
          crumb_avx2_scale(_mm256_add_epi32(acc[m][1], corr1), mul1, add1), &ep);
      // vpackssdw / vpack(u|s)swb work per 128-bit lane: dwords come out as (q0 0-3, q1 0-3, ..
      // | q0 4-7, q1 4-7, ..); vpermd puts q0 0-7, q1 0-7 in the low 16 bytes.
      const __m256i w = _mm256_packs_epi32(q0, q1);
      const __m256i b =
          ep.type == CRUMB_ELEM_U8 ? _mm256_packus_epi16(w, w) : _mm256_packs_epi16(w, w);
      _mm_storeu_si128((__m128i*)(call.c + (m0 + (size_t)m) * call.c_stride + n0),
                       _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, order)));
    }
    return;
  }
  for (int h = 0; h < 2; h++) {
    const size_t n = nb * 16 + 8 * (size_t)h;
    if (n >= call.nc) break;
    const size_t count = call.nc - n < 8 ? call.nc - n : 8;
    const __m256i zw =
        call.has_zw || !call.corrs ? ZeroPoints(call, n, count) : _mm256_setzero_si256();
    const __m256i corr = call.corrs ? _mm256_loadu_si256((const __m256i*)(call.corrs + n))
                                    : Correction(call, g, header + 32 * h, zw);
    __m256 mul, add;
    if (count == 8) {
      mul = _mm256_loadu_ps(p->mul + n);
      add = _mm256_loadu_ps(p->add + n);
    } else {
      mul = crumb_avx2_load_partial_ps(p->mul + n, count);
      add = crumb_avx2_load_partial_ps(p->add + n, count);
    }
    for (int m = 0; m < MR; m++) {
      __m256i a = _mm256_add_epi32(acc[m][h], corr);
      if (call.has_zw)
        a = _mm256_sub_epi32(a, _mm256_mullo_epi32(zw, _mm256_set1_epi32((int32_t)rsum[m])));
      crumb_avx2_output8(a, mul, add, &ep, call.c + (m0 + (size_t)m) * call.c_stride, n, count);
    }
  }
}

// One tile: MR rows from m0, the block nb (16 channels).
template <int BITS, bool SA, int MR>
void Tile(const Call& call, const Geometry& g, const Decoder<BITS>& dec, size_t m0, size_t nb,
          const crumb_epilogue_avx2& ep) {
  constexpr bool kSplit = BITS == 8;
  constexpr unsigned kRunV = kRun[BITS];
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i sixteen = _mm256_set1_epi16(16);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256i acc[MR][2];
  __m256i th[MR][2], tl[MR][2];
  for (int m = 0; m < MR; m++)
    for (int h = 0; h < 2; h++) {
      acc[m][h] = _mm256_setzero_si256();
      th[m][h] = _mm256_setzero_si256();
      tl[m][h] = _mm256_setzero_si256();
    }
  unsigned run = 0;  // vectors accumulated in th / tl since the last flush
  auto flush = [&]() __attribute__((always_inline)) {
    for (int m = 0; m < MR; m++)
      for (int h = 0; h < 2; h++) {
        if (kSplit) {
          acc[m][h] = _mm256_add_epi32(acc[m][h], _mm256_madd_epi16(th[m][h], sixteen));
          acc[m][h] = _mm256_add_epi32(acc[m][h], _mm256_madd_epi16(tl[m][h], ones));
          tl[m][h] = _mm256_setzero_si256();
        } else {
          acc[m][h] = _mm256_add_epi32(acc[m][h], _mm256_madd_epi16(th[m][h], ones));
        }
        th[m][h] = _mm256_setzero_si256();
      }
    run = 0;
  };
  // One vector (k-group) for every row: x[m] the rows' activation words.
  auto step = [&](const uint8_t* sb, unsigned nv, unsigned v, const __m256i* x)
      __attribute__((always_inline)) {
    for (unsigned hf = 0; hf < 2; hf++) {
      const __m256i w = dec(sb, nv, v, hf);
      if (kSplit) {
        // h = w' >> 4 (arithmetic) through a table of the high nibble; l = w' & 15.
        const __m256i hi = _mm256_shuffle_epi8(
            _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4,
                             5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1),
            _mm256_and_si256(_mm256_srli_epi16(w, 4), low4));
        const __m256i lo = _mm256_and_si256(w, low4);
        for (int m = 0; m < MR; m++) {
          th[m][hf] = _mm256_add_epi16(th[m][hf], _mm256_maddubs_epi16(x[m], hi));
          tl[m][hf] = _mm256_add_epi16(tl[m][hf], _mm256_maddubs_epi16(x[m], lo));
          Pin(th[m][hf]);
          Pin(tl[m][hf]);
        }
      } else {
        for (int m = 0; m < MR; m++) {
          th[m][hf] = _mm256_add_epi16(th[m][hf], _mm256_maddubs_epi16(x[m], w));
          Pin(th[m][hf]);
        }
      }
    }
  };
  const uint8_t* wblock = call.w + nb * g.block_bytes + CRUMB_DOT_HEADER;
  for (size_t t = 0; t < g.ks; t++) {
    const uint8_t* ap[MR];
    for (int m = 0; m < MR; m++) ap[m] = Row(call, g, m0 + (size_t)m, t);
    const uint8_t* wp = wblock + t * g.tap_bytes;
    for (size_t s = 0; s < g.fast_sb; s++) {
#pragma GCC unroll 8
      for (unsigned v = 0; v < 8; v++) {
        __m256i x[MR];
        for (int m = 0; m < MR; m++) x[m] = Bcast<SA>(ap[m] + 4 * v);
        step(wp, 8, v, x);
        // 8-bit: the l part's run is 4 vectors, the h part's 8.
        if (kSplit ? (v % 4 == 3) : (kRunV < 8 && (v + 1) % kRunV == 0)) flush();
      }
      if (!kSplit && kRunV >= 8) {
        run += 8;
        if (run + 8 > kRunV) flush();
      }
      wp += 64 * BITS;
      for (int m = 0; m < MR; m++) ap[m] += 32;
    }
    const unsigned nv = g.tail_nv;
    if (nv) {
      flush();
      for (unsigned v = 0; v < nv; v++) {
        __m256i x[MR];
        const bool last = v + 1 == nv;
        for (int m = 0; m < MR; m++)
          x[m] = last ? BcastTail<SA>(ap[m] + 4 * v, g.tail_bytes) : Bcast<SA>(ap[m] + 4 * v);
        step(wp, nv, v, x);
        if (++run == (kSplit ? 4 : kRunV)) flush();
      }
    }
  }
  flush();
  Finish<SA, MR>(call, g, acc, m0, nb, ep);
}

// ---------------------------------------------------------------- decoded-block path
// For many rows, each block of 16 channels is decoded once per call into `buf` (every k-group's
// vector as two 32-byte halves) and every tile of 6 rows multiplies it from there: no decoding in
// the inner loop, and 6 rows (12 int16 run sums in registers) per loaded weight half.
// 8-bit weights (AVX2 without VNNI) are stored split, per k-group [h0, l0, h1, l1] (h / l of
// channels 0-7, then 8-15), with a split whose two parts both have runs of 8:
//   l = ((w' + 8) & 15) - 8 in [-8, 7],  h = (w' - l) / 16 = (w' >> 4) + (w' & 8 ? 1 : 0) in
//   [-8, 8];  w' = 16 h + l.
// Both pair bounds are 2 * 255 * 8 = 4080, so a run of 8 k-groups stays within 32640 (reached
// exactly by w' = -128: h = -8, l = 0, and by w' = 127: h = 8, l = -1, at a_u = 255). The tile
// makes one pass per half: its two weight vectors are that half's h and l, and each flush adds
// 16 * madd(h sums) + madd(l sums) to the half's int32 sums.

// Vectors per tap (k-groups, the partial one included).
inline size_t Groups(const Geometry& g) { return (g.kc + 3) / 4; }

template <int BITS>
constexpr size_t kBufBytesPerGroup = BITS == 8 && !kVnni ? 128 : 64;

template <int BITS>
void DecodeBlock(const Geometry& g, const Decoder<BITS>& dec, const uint8_t* wblock, uint8_t* buf) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  // Of a nibble n: its value as a signed nibble (n - 16 for n >= 8), and n >= 8.
  const __m256i signed_lut = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2,
                                              -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3,
                                              -2, -1);
  const __m256i carry_lut = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                                             0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  auto put = [&](const uint8_t* sb, unsigned nv, unsigned v) __attribute__((always_inline)) {
    for (unsigned hf = 0; hf < 2; hf++) {
      const __m256i w = dec(sb, nv, v, hf);
      if (BITS == 8 && !kVnni) {
        const __m256i lo = _mm256_and_si256(w, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
        const __m256i h = _mm256_add_epi8(_mm256_shuffle_epi8(signed_lut, hi),
                                          _mm256_shuffle_epi8(carry_lut, lo));
        _mm256_storeu_si256((__m256i*)(buf + 64 * hf), h);
        _mm256_storeu_si256((__m256i*)(buf + 64 * hf + 32), _mm256_shuffle_epi8(signed_lut, lo));
      } else {
        _mm256_storeu_si256((__m256i*)(buf + 32 * hf), w);
      }
    }
    buf += kBufBytesPerGroup<BITS>;
  };
  for (size_t t = 0; t < g.ks; t++) {
    const uint8_t* wp = wblock + t * g.tap_bytes;
    for (size_t s = 0; s < g.fast_sb; s++) {
#pragma GCC unroll 8
      for (unsigned v = 0; v < 8; v++) put(wp, 8, v);
      wp += 64 * BITS;
    }
    for (unsigned v = 0; v < g.tail_nv; v++) put(wp, g.tail_nv, v);
  }
}

// The 6-row tile over a run of taps, in assembly. Registers: 12 int16 run sums (6 rows x 2 halves
// of 16 channels, ymm0-11), two weight halves (ymm12-13), one broadcast activation word (ymm14), a
// product (ymm15) — all 16, which GCC's allocator does not manage without spilling the sums or
// inserting moves. Per k-group: 2 weight loads, 6 broadcasts (+ 6 xors for s8 activations), 12
// vpmaddubsw, 12 vpaddw; every `run` groups (and at the end of a tap) the sums are widened by
// vpmaddwd with 1 and added to the int32 accumulators `acc` (6 rows x 2 halves, in memory).
//   p:     6 row pointers per tap (the tap's first activation word of each row)
//   taps:  >= 1 taps; whole: >= 1 k-groups per tap; w: the first tap's decoded vectors, `skip`
//          bytes between the end of one tap's `whole` vectors and the next tap's first.
#define CRUMB_TAPS6_ROW(r, t0, t1, flip)             \
  "vpbroadcastd (%[a" #r "],%[i]), %%ymm14\n\t" flip \
  "vpmaddubsw %%ymm12, %%ymm14, %%ymm15\n\t"         \
  "vpaddw %%ymm15, %%ymm" #t0 ", %%ymm" #t0          \
  "\n\t"                                             \
  "vpmaddubsw %%ymm13, %%ymm14, %%ymm14\n\t"         \
  "vpaddw %%ymm14, %%ymm" #t1 ", %%ymm" #t1 "\n\t"
// The first group of a run writes the sums instead of adding to them.
#define CRUMB_TAPS6_FIRST(r, t0, t1, flip)                                                    \
  "vpbroadcastd (%[a" #r "],%[i]), %%ymm14\n\t" flip "vpmaddubsw %%ymm12, %%ymm14, %%ymm" #t0 \
  "\n\t"                                                                                      \
  "vpmaddubsw %%ymm13, %%ymm14, %%ymm" #t1 "\n\t"
// The end of a run: the int16 sums widened and added to the int32 sums in memory.
#define CRUMB_TAPS6_FLUSH \
  "vpmaddwd %[ones], %%ymm0, %%ymm0\n\t"    \
  "vpaddd 0+%[acc], %%ymm0, %%ymm0\n\t"    \
  "vmovdqu %%ymm0, 0+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm1, %%ymm1\n\t"    \
  "vpaddd 32+%[acc], %%ymm1, %%ymm1\n\t"    \
  "vmovdqu %%ymm1, 32+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm2, %%ymm2\n\t"    \
  "vpaddd 64+%[acc], %%ymm2, %%ymm2\n\t"    \
  "vmovdqu %%ymm2, 64+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm3, %%ymm3\n\t"    \
  "vpaddd 96+%[acc], %%ymm3, %%ymm3\n\t"    \
  "vmovdqu %%ymm3, 96+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm4, %%ymm4\n\t"    \
  "vpaddd 128+%[acc], %%ymm4, %%ymm4\n\t"    \
  "vmovdqu %%ymm4, 128+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm5, %%ymm5\n\t"    \
  "vpaddd 160+%[acc], %%ymm5, %%ymm5\n\t"    \
  "vmovdqu %%ymm5, 160+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm6, %%ymm6\n\t"    \
  "vpaddd 192+%[acc], %%ymm6, %%ymm6\n\t"    \
  "vmovdqu %%ymm6, 192+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm7, %%ymm7\n\t"    \
  "vpaddd 224+%[acc], %%ymm7, %%ymm7\n\t"    \
  "vmovdqu %%ymm7, 224+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm8, %%ymm8\n\t"    \
  "vpaddd 256+%[acc], %%ymm8, %%ymm8\n\t"    \
  "vmovdqu %%ymm8, 256+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm9, %%ymm9\n\t"    \
  "vpaddd 288+%[acc], %%ymm9, %%ymm9\n\t"    \
  "vmovdqu %%ymm9, 288+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm10, %%ymm10\n\t"    \
  "vpaddd 320+%[acc], %%ymm10, %%ymm10\n\t"    \
  "vmovdqu %%ymm10, 320+%[acc]\n\t"    \
  "vpmaddwd %[ones], %%ymm11, %%ymm11\n\t"    \
  "vpaddd 352+%[acc], %%ymm11, %%ymm11\n\t"    \
  "vmovdqu %%ymm11, 352+%[acc]\n\t"
// 8-bit split: row r's h sums (ymm 2r) times 16 plus its l sums (ymm 2r + 1), into acc[r].
#define CRUMB_TAPS6_FLUSH_SPLIT \
  "vpmaddwd %[sixteen], %%ymm0, %%ymm0\n\t"    \
  "vpmaddwd %[ones], %%ymm1, %%ymm1\n\t"    \
  "vpaddd %%ymm1, %%ymm0, %%ymm0\n\t"    \
  "vpaddd 0+%[acc], %%ymm0, %%ymm0\n\t"    \
  "vmovdqu %%ymm0, 0+%[acc]\n\t"    \
  "vpmaddwd %[sixteen], %%ymm2, %%ymm2\n\t"    \
  "vpmaddwd %[ones], %%ymm3, %%ymm3\n\t"    \
  "vpaddd %%ymm3, %%ymm2, %%ymm2\n\t"    \
  "vpaddd 32+%[acc], %%ymm2, %%ymm2\n\t"    \
  "vmovdqu %%ymm2, 32+%[acc]\n\t"    \
  "vpmaddwd %[sixteen], %%ymm4, %%ymm4\n\t"    \
  "vpmaddwd %[ones], %%ymm5, %%ymm5\n\t"    \
  "vpaddd %%ymm5, %%ymm4, %%ymm4\n\t"    \
  "vpaddd 64+%[acc], %%ymm4, %%ymm4\n\t"    \
  "vmovdqu %%ymm4, 64+%[acc]\n\t"    \
  "vpmaddwd %[sixteen], %%ymm6, %%ymm6\n\t"    \
  "vpmaddwd %[ones], %%ymm7, %%ymm7\n\t"    \
  "vpaddd %%ymm7, %%ymm6, %%ymm6\n\t"    \
  "vpaddd 96+%[acc], %%ymm6, %%ymm6\n\t"    \
  "vmovdqu %%ymm6, 96+%[acc]\n\t"    \
  "vpmaddwd %[sixteen], %%ymm8, %%ymm8\n\t"    \
  "vpmaddwd %[ones], %%ymm9, %%ymm9\n\t"    \
  "vpaddd %%ymm9, %%ymm8, %%ymm8\n\t"    \
  "vpaddd 128+%[acc], %%ymm8, %%ymm8\n\t"    \
  "vmovdqu %%ymm8, 128+%[acc]\n\t"    \
  "vpmaddwd %[sixteen], %%ymm10, %%ymm10\n\t"    \
  "vpmaddwd %[ones], %%ymm11, %%ymm11\n\t"    \
  "vpaddd %%ymm11, %%ymm10, %%ymm10\n\t"    \
  "vpaddd 160+%[acc], %%ymm10, %%ymm10\n\t"    \
  "vmovdqu %%ymm10, 160+%[acc]\n\t"
#define CRUMB_TAPS6(flip, stride, FLUSH) \
  "2:\n\t"    \
  "mov 0(%[p]), %[a0]\n\t"    \
  "mov 8(%[p]), %[a1]\n\t"    \
  "mov 16(%[p]), %[a2]\n\t"    \
  "mov 24(%[p]), %[a3]\n\t"    \
  "mov 32(%[p]), %[a4]\n\t"    \
  "mov 40(%[p]), %[a5]\n\t"    \
  "add $48, %[p]\n\t"    \
  "xor %k[i], %k[i]\n\t"    \
  "mov %[whole], %[rem]\n\t"    \
  "3:\n\t"    \
  "mov %[run], %[n]\n\t"    \
  "cmp %[n], %[rem]\n\t"    \
  "cmovb %[rem], %[n]\n\t"    \
  "sub %[n], %[rem]\n\t"    \
  "vmovdqu (%[w]), %%ymm12\n\t"    \
  "vmovdqu 32(%[w]), %%ymm13\n\t"    \
  CRUMB_TAPS6_FIRST(0, 0, 1, flip) CRUMB_TAPS6_FIRST(1, 2, 3, flip) CRUMB_TAPS6_FIRST(2, 4, 5, flip)    \
  CRUMB_TAPS6_FIRST(3, 6, 7, flip) CRUMB_TAPS6_FIRST(4, 8, 9, flip) CRUMB_TAPS6_FIRST(5, 10, 11, flip)    \
  "add $" stride ", %[w]\n\t"    \
  "add $4, %[i]\n\t"    \
  "dec %[n]\n\t"    \
  "jz 4f\n\t"    \
  "1:\n\t"    \
  "vmovdqu (%[w]), %%ymm12\n\t"    \
  "vmovdqu 32(%[w]), %%ymm13\n\t"    \
  CRUMB_TAPS6_ROW(0, 0, 1, flip) CRUMB_TAPS6_ROW(1, 2, 3, flip) CRUMB_TAPS6_ROW(2, 4, 5, flip)    \
  CRUMB_TAPS6_ROW(3, 6, 7, flip) CRUMB_TAPS6_ROW(4, 8, 9, flip) CRUMB_TAPS6_ROW(5, 10, 11, flip)    \
  "add $" stride ", %[w]\n\t"    \
  "add $4, %[i]\n\t"    \
  "dec %[n]\n\t"    \
  "jnz 1b\n\t"    \
  "4:\n\t"    \
  FLUSH    \
  "test %[rem], %[rem]\n\t"    \
  "jnz 3b\n\t"    \
  "add %[skip], %[w]\n\t"    \
  "decq %[taps]\n\t"    \
  "jnz 2b\n\t"

template <bool SA>
__attribute__((always_inline)) inline void Taps6(const uint8_t* const* p, size_t taps, size_t whole,
                                                 size_t run, const uint8_t* w, size_t skip,
                                                 __m256i (&acc)[6][2]) {
  alignas(32) static const uint32_t kFlip[8] = {0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u,
                                                0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u};
  alignas(32) static const uint16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const uint8_t *a0, *a1, *a2, *a3, *a4, *a5;
  size_t i, n, rem;
  if (SA) {
    __asm__ volatile(
        CRUMB_TAPS6("vpxor %[flip], %%ymm14, %%ymm14\n\t", "64", CRUMB_TAPS6_FLUSH)
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
          [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [rem] "=&r"(rem), [p] "+r"(p), [w] "+r"(w),
          [taps] "+m"(taps), [acc] "+m"(acc)
        : [whole] "m"(whole), [run] "m"(run), [skip] "m"(skip), [ones] "m"(kOnes), [flip] "m"(kFlip)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  } else {
    __asm__ volatile(CRUMB_TAPS6("", "64", CRUMB_TAPS6_FLUSH)
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [a4] "=&r"(a4), [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [rem] "=&r"(rem),
                       [p] "+r"(p), [w] "+r"(w), [taps] "+m"(taps), [acc] "+m"(acc)
                     : [whole] "m"(whole), [run] "m"(run), [skip] "m"(skip), [ones] "m"(kOnes)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
  }
}

// The same over 8-bit split weights, one half (8 channels) per call: the two weight vectors of a
// k-group are that half's h and l (w points at the first tap's h of the half, k-groups 128 bytes
// apart), run <= 8, and acc[r] is row r's int32 sums of the half.
template <bool SA>
__attribute__((always_inline)) inline void Taps6Split(const uint8_t* const* p, size_t taps,
                                                      size_t whole, size_t run, const uint8_t* w,
                                                      size_t skip, __m256i (&acc)[6]) {
  alignas(32) static const uint32_t kFlip[8] = {0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u,
                                                0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u};
  alignas(32) static const uint16_t kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  alignas(32) static const uint16_t kSixteen[16] = {16, 16, 16, 16, 16, 16, 16, 16,
                                                    16, 16, 16, 16, 16, 16, 16, 16};
  const uint8_t *a0, *a1, *a2, *a3, *a4, *a5;
  size_t i, n, rem;
  if (SA) {
    __asm__ volatile(
        CRUMB_TAPS6("vpxor %[flip], %%ymm14, %%ymm14\n\t", "128", CRUMB_TAPS6_FLUSH_SPLIT)
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
          [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [rem] "=&r"(rem), [p] "+r"(p), [w] "+r"(w),
          [taps] "+m"(taps), [acc] "+m"(acc)
        : [whole] "m"(whole), [run] "m"(run), [skip] "m"(skip), [ones] "m"(kOnes),
          [sixteen] "m"(kSixteen), [flip] "m"(kFlip)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  } else {
    __asm__ volatile(
        CRUMB_TAPS6("", "128", CRUMB_TAPS6_FLUSH_SPLIT)
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
          [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [rem] "=&r"(rem), [p] "+r"(p), [w] "+r"(w),
          [taps] "+m"(taps), [acc] "+m"(acc)
        : [whole] "m"(whole), [run] "m"(run), [skip] "m"(skip), [ones] "m"(kOnes),
          [sixteen] "m"(kSixteen)
        : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
          "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
  }
}
#undef CRUMB_TAPS6
#undef CRUMB_TAPS6_ROW
#undef CRUMB_TAPS6_FIRST
#undef CRUMB_TAPS6_FLUSH
#undef CRUMB_TAPS6_FLUSH_SPLIT

#if CRUMB_DOT_VNNI
// The same tile with AVX-VNNI: vpdpbusd (VEX, ymm) adds the four u8 x s8 products of a lane to
// its int32 sum exactly, so the 12 accumulators stay int32 in ymm0-11 over all the taps.
#define CRUMB_TAPS6V_ROW(r, t0, t1, flip)            \
  "vpbroadcastd (%[a" #r "],%[i]), %%ymm14\n\t" flip \
  "%{vex%} vpdpbusd %%ymm12, %%ymm14, %%ymm" #t0     \
  "\n\t"                                             \
  "%{vex%} vpdpbusd %%ymm13, %%ymm14, %%ymm" #t1 "\n\t"
#define CRUMB_TAPS6V(flip) \
  "vmovdqu 0+%[acc], %%ymm0\n\t"    \
  "vmovdqu 32+%[acc], %%ymm1\n\t"    \
  "vmovdqu 64+%[acc], %%ymm2\n\t"    \
  "vmovdqu 96+%[acc], %%ymm3\n\t"    \
  "vmovdqu 128+%[acc], %%ymm4\n\t"    \
  "vmovdqu 160+%[acc], %%ymm5\n\t"    \
  "vmovdqu 192+%[acc], %%ymm6\n\t"    \
  "vmovdqu 224+%[acc], %%ymm7\n\t"    \
  "vmovdqu 256+%[acc], %%ymm8\n\t"    \
  "vmovdqu 288+%[acc], %%ymm9\n\t"    \
  "vmovdqu 320+%[acc], %%ymm10\n\t"    \
  "vmovdqu 352+%[acc], %%ymm11\n\t"    \
  "2:\n\t"    \
  "mov 0(%[p]), %[a0]\n\t"    \
  "mov 8(%[p]), %[a1]\n\t"    \
  "mov 16(%[p]), %[a2]\n\t"    \
  "mov 24(%[p]), %[a3]\n\t"    \
  "mov 32(%[p]), %[a4]\n\t"    \
  "mov 40(%[p]), %[a5]\n\t"    \
  "add $48, %[p]\n\t"    \
  "xor %k[i], %k[i]\n\t"    \
  "mov %[whole], %[n]\n\t"    \
  "1:\n\t"    \
  "vmovdqu (%[w]), %%ymm12\n\t"    \
  "vmovdqu 32(%[w]), %%ymm13\n\t"    \
  CRUMB_TAPS6V_ROW(0, 0, 1, flip) CRUMB_TAPS6V_ROW(1, 2, 3, flip) CRUMB_TAPS6V_ROW(2, 4, 5, flip)    \
  CRUMB_TAPS6V_ROW(3, 6, 7, flip) CRUMB_TAPS6V_ROW(4, 8, 9, flip) CRUMB_TAPS6V_ROW(5, 10, 11, flip)    \
  "add $64, %[w]\n\t"    \
  "add $4, %[i]\n\t"    \
  "dec %[n]\n\t"    \
  "jnz 1b\n\t"    \
  "add %[skip], %[w]\n\t"    \
  "decq %[taps]\n\t"    \
  "jnz 2b\n\t"    \
  "vmovdqu %%ymm0, 0+%[acc]\n\t"    \
  "vmovdqu %%ymm1, 32+%[acc]\n\t"    \
  "vmovdqu %%ymm2, 64+%[acc]\n\t"    \
  "vmovdqu %%ymm3, 96+%[acc]\n\t"    \
  "vmovdqu %%ymm4, 128+%[acc]\n\t"    \
  "vmovdqu %%ymm5, 160+%[acc]\n\t"    \
  "vmovdqu %%ymm6, 192+%[acc]\n\t"    \
  "vmovdqu %%ymm7, 224+%[acc]\n\t"    \
  "vmovdqu %%ymm8, 256+%[acc]\n\t"    \
  "vmovdqu %%ymm9, 288+%[acc]\n\t"    \
  "vmovdqu %%ymm10, 320+%[acc]\n\t"    \
  "vmovdqu %%ymm11, 352+%[acc]\n\t"

template <bool SA>
__attribute__((always_inline)) inline void Taps6Vnni(const uint8_t* const* p, size_t taps,
                                                     size_t whole, const uint8_t* w, size_t skip,
                                                     __m256i (&acc)[6][2]) {
  alignas(32) static const uint32_t kFlip[8] = {0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u,
                                                0x80808080u, 0x80808080u, 0x80808080u, 0x80808080u};
  const uint8_t *a0, *a1, *a2, *a3, *a4, *a5;
  size_t i, n;
  if (SA) {
    __asm__ volatile(CRUMB_TAPS6V("vpxor %[flip], %%ymm14, %%ymm14\n\t")
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [a4] "=&r"(a4), [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [p] "+r"(p),
                       [w] "+r"(w), [taps] "+m"(taps), [acc] "+m"(acc)
                     : [whole] "m"(whole), [skip] "m"(skip), [flip] "m"(kFlip)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
  } else {
    __asm__ volatile(CRUMB_TAPS6V("")
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [a4] "=&r"(a4), [a5] "=&r"(a5), [i] "=&r"(i), [n] "=&r"(n), [p] "+r"(p),
                       [w] "+r"(w), [taps] "+m"(taps), [acc] "+m"(acc)
                     : [whole] "m"(whole), [skip] "m"(skip)
                     : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
  }
}
#undef CRUMB_TAPS6V
#undef CRUMB_TAPS6V_ROW
#endif

// One tile of 6 rows from m0 against the decoded block nb: the whole k-groups of every tap in
// assembly (Taps6, Taps6Split: one pass per half; Taps6Vnni), a tap's partial last k-group here.
template <int BITS, bool SA>
void TileBuf(const Call& call, const Geometry& g, const uint8_t* buf, size_t m0, size_t nb,
             const crumb_epilogue_avx2& ep) {
  constexpr bool kSplit = BITS == 8 && !kVnni;
  // Groups per int16 run: the proven bounds (the top of the file; 8 bits: above DecodeBlock).
  [[maybe_unused]] constexpr unsigned kRunG = kSplit ? 8 : kRun[BITS];
  constexpr size_t kGroupBytes = kBufBytesPerGroup<BITS>;
  __m256i acc[6][2];
  for (int m = 0; m < 6; m++)
    for (int h = 0; h < 2; h++) acc[m][h] = _mm256_setzero_si256();
  const size_t groups = Groups(g);
  const size_t whole = g.tail_bytes == 4 ? groups : groups - 1;
  const size_t bytes = groups * kGroupBytes;  // per tap
  if (whole) {
    // Taps in chunks of up to kChunk: a table of their row pointers, then the assembly.
    constexpr size_t kChunk = 16;
    const uint8_t* ptab[kChunk][6];
    for (size_t t0 = 0; t0 < g.ks; t0 += kChunk) {
      const size_t nt = g.ks - t0 < kChunk ? g.ks - t0 : kChunk;
      for (size_t t = 0; t < nt; t++)
        for (int m = 0; m < 6; m++) ptab[t][m] = Row(call, g, m0 + (size_t)m, t0 + t);
      const uint8_t* w = buf + t0 * bytes;
      const size_t skip = bytes - whole * kGroupBytes;
#if CRUMB_DOT_VNNI
      Taps6Vnni<SA>(&ptab[0][0], nt, whole, w, skip, acc);
#else
      if constexpr (kSplit) {
        for (int h = 0; h < 2; h++) {
          __m256i half[6];
          for (int m = 0; m < 6; m++) half[m] = acc[m][h];
          Taps6Split<SA>(&ptab[0][0], nt, whole, kRunG, w + 64 * h, skip, half);
          for (int m = 0; m < 6; m++) acc[m][h] = half[m];
        }
      } else {
        Taps6<SA>(&ptab[0][0], nt, whole, kRunG, w, skip, acc);
      }
#endif
    }
  }
  if (whole < groups) {
    // The partial last k-group of every tap.
    [[maybe_unused]] const __m256i ones = _mm256_set1_epi16(1);
    [[maybe_unused]] const __m256i sixteen = _mm256_set1_epi16(16);
    for (size_t t = 0; t < g.ks; t++) {
      const uint8_t* wq = buf + t * bytes + whole * kGroupBytes;
      for (int m = 0; m < 6; m++) {
        const __m256i x = BcastTail<SA>(Row(call, g, m0 + (size_t)m, t) + 4 * whole, g.tail_bytes);
        for (int h = 0; h < 2; h++) {
#if CRUMB_DOT_VNNI
          const __m256i w = _mm256_loadu_si256((const __m256i*)(wq + 32 * h));
          acc[m][h] = _mm256_dpbusd_avx_epi32(acc[m][h], x, w);
#else
          if constexpr (kSplit) {
            const __m256i wh = _mm256_loadu_si256((const __m256i*)(wq + 64 * h));
            const __m256i wl = _mm256_loadu_si256((const __m256i*)(wq + 64 * h + 32));
            acc[m][h] = _mm256_add_epi32(
                acc[m][h],
                _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(x, wh), sixteen),
                                 _mm256_madd_epi16(_mm256_maddubs_epi16(x, wl), ones)));
          } else {
            const __m256i w = _mm256_loadu_si256((const __m256i*)(wq + 32 * h));
            acc[m][h] =
                _mm256_add_epi32(acc[m][h], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), ones));
          }
#endif
        }
      }
    }
  }
  Finish<SA, 6>(call, g, acc, m0, nb, ep);
}

constexpr int kRowsBuf = 6;  // rows of the decoded-block tile

constexpr size_t kCorrBlocks = 128;  // corrections precomputed up to 2048 channels (8 KiB stack)

// ---------------------------------------------------------------- packed rows (partial k-groups)
// When a tap's kc is not a multiple of 4 (the 3-channel stem convolution: kc = 3, every tap one
// partial k-group), the decoded-block path would load each tap's last word byte by byte, widen
// its int16 sums at every tap and multiply the padding of every tap's last k-group. Instead:
//   - the rows of a chunk are copied into a stack buffer, each row the ks * kc activation bytes
//     of its taps back to back, padded to a multiple of 4 (the padding 0 in the u8 domain: 0x80
//     for s8 activations, which the tiles flip);
//   - the decoded block is compacted in place to match (CompactBlock): the k-groups of the
//     concatenated channels, ceil(ks * kc / 4) of them instead of ks * ceil(kc / 4);
//   - the tiles run on them as on a GEMM of one tap of whole k-groups: int16 runs across taps,
//     no row pointers per tap, no padding but at the end of a row (for kc = 3, 37 k-groups per
//     row of 49 taps instead of 49), and one copy of the rows serves every block.
constexpr size_t kPackBytes = 32768;  // stack buffer of the packed rows (16 KiB: ~4 % slower at
                                      // kc = 3, blocks decoded twice as often)

// Copies the n bytes at s to d with fixed-size, possibly overlapping, loads and stores that
// stay inside them. KIND: 1, 2 = n itself, 5 = 4..8, 9 = 8..16, 16 = 16..32, 33 = more.
template <int KIND>
__attribute__((always_inline)) inline void CopyBytes(uint8_t* d, const uint8_t* s, size_t n) {
  if (KIND == 1) {
    d[0] = s[0];
  } else if (KIND == 2) {
    memcpy(d, s, 2);
  } else if (KIND == 5) {
    uint32_t x, y;
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    memcpy(d, &x, 4);
    memcpy(d + n - 4, &y, 4);
  } else if (KIND == 9) {
    uint64_t x, y;
    memcpy(&x, s, 8);
    memcpy(&y, s + n - 8, 8);
    memcpy(d, &x, 8);
    memcpy(d + n - 8, &y, 8);
  } else if (KIND == 16) {
    const __m128i x = _mm_loadu_si128((const __m128i*)s);
    const __m128i y = _mm_loadu_si128((const __m128i*)(s + n - 16));
    _mm_storeu_si128((__m128i*)d, x);
    _mm_storeu_si128((__m128i*)(d + n - 16), y);
  } else {
    size_t i = 0;
    for (; i + 32 < n; i += 32)
      _mm256_storeu_si256((__m256i*)(d + i), _mm256_loadu_si256((const __m256i*)(s + i)));
    _mm256_storeu_si256((__m256i*)(d + n - 32), _mm256_loadu_si256((const __m256i*)(s + n - 32)));
  }
}

// One tap of kc = 3 bytes at d: the three bytes (two overlapping 16-bit loads inside them) and
// a fourth, the padding value, in one 32-bit store. The fourth byte is the next tap's first, which
// its own store overwrites, or the row's padding, or (after a row of ks * 3 = 0 mod 4 bytes) the
// next row's first byte or the byte after the chunk (PackedChunkRows leaves room).
template <bool SA>
__attribute__((always_inline)) inline void CopyTap3(uint8_t* d, const uint8_t* s) {
  uint16_t lo, hi;
  memcpy(&lo, s, 2);
  memcpy(&hi, s + 1, 2);
  const uint32_t v = (uint32_t)lo | (uint32_t)hi << 8 | (SA ? 0x80000000u : 0u);
  memcpy(d, &v, 4);
}

// Rows m0 .. m0 + rows - 1 of the call into x: row r at r * row_bytes, its tap t at t * kc.
// OFFSET: a_offset != 0 (IGEMM).
template <int KIND, bool SA, bool OFFSET>
void PackRowsAs(const Call& call, const Geometry& g, size_t m0, size_t rows, uint8_t* x,
                size_t row_bytes) {
  const size_t kc = g.kc, ks = g.ks;
  auto copy = [&](uint8_t* d, const uint8_t* p) __attribute__((always_inline)) {
    if (KIND == 3) {
      CopyTap3<SA>(d, p);
    } else {
      CopyBytes<KIND>(d, p, kc);
    }
  };
  if (!call.ind) {
    const uint8_t* a = call.a + m0 * call.a_stride;
    for (size_t r = 0; r < rows; r++) copy(x + r * row_bytes, a + r * call.a_stride);
    return;
  }
  // Locals, not call's fields: the stores could alias them and force reloads.
  const uint8_t* const* ind = call.ind + m0 * ks;
  const uint8_t* const zero = static_cast<const uint8_t*>(call.zero);
  const size_t offset = call.a_offset;
  for (size_t r = 0; r < rows; r++, ind += ks, x += row_bytes) {
#pragma GCC unroll 4
    for (size_t t = 0; t < ks; t++) {
      const uint8_t* p = ind[t];
      // p + a_offset, or the zero row itself: a mask, not a branch (zero taps come in runs at
      // the image borders, mispredicted at their ends).
      if (OFFSET) p += offset & ((size_t)0 - (size_t)(p != zero));
      copy(x + t * kc, p);
    }
  }
}

template <int KIND, bool SA>
void PackRowsOf(const Call& call, const Geometry& g, size_t m0, size_t rows, uint8_t* x,
                size_t row_bytes) {
  if (call.ind && call.a_offset) {
    PackRowsAs<KIND, SA, true>(call, g, m0, rows, x, row_bytes);
  } else {
    PackRowsAs<KIND, SA, false>(call, g, m0, rows, x, row_bytes);
  }
}

template <bool SA>
void PackRows(const Call& call, const Geometry& g, size_t m0, size_t rows, uint8_t* x,
              size_t row_bytes) {
  const size_t kc = g.kc;
  if (kc == 1) return PackRowsOf<1, SA>(call, g, m0, rows, x, row_bytes);
  if (kc == 2) return PackRowsOf<2, SA>(call, g, m0, rows, x, row_bytes);
  if (kc == 3) return PackRowsOf<3, SA>(call, g, m0, rows, x, row_bytes);
  if (kc < 8) return PackRowsOf<5, SA>(call, g, m0, rows, x, row_bytes);
  if (kc < 16) return PackRowsOf<9, SA>(call, g, m0, rows, x, row_bytes);
  if (kc <= 32) return PackRowsOf<16, SA>(call, g, m0, rows, x, row_bytes);
  return PackRowsOf<33, SA>(call, g, m0, rows, x, row_bytes);
}

// Rewrites the decoded block at buf (ks taps of Groups(g) vectors) in place as the vectors of the
// concatenated channels: vector j holds, for each channel, the weights of k = 4j .. 4j + 3 of the
// sequence (tap 0 channels 0 .. kc - 1, tap 1 channels 0 .. kc - 1, ...), 0 past its end. Each
// 32-byte column of the vectors (8 channels; a split part) is a stream of dwords: every source
// vector brings 4 bytes per dword (a tap's last one tail_bytes), shifted in behind the bytes
// already collected. The vectors written never pass the ones still to be read.
template <int BITS>
void CompactBlock(const Geometry& g, uint8_t* buf) {
  constexpr size_t kGB = kBufBytesPerGroup<BITS>;
  const size_t groups = Groups(g);
  const size_t n_in = g.ks * groups;
  const __m256i tail_mask = _mm256_set1_epi32((int)((1u << (8 * g.tail_bytes)) - 1u));
  for (size_t col = 0; col < kGB; col += 32) {
    uint8_t* out = buf + col;
    __m256i acc = _mm256_setzero_si256();
    unsigned have = 0;  // bytes of each dword of acc collected
    size_t gi = 0;      // k-group of the tap of source vector i
    for (size_t i = 0; i < n_in; i++) {
      __m256i v = _mm256_loadu_si256((const __m256i*)(buf + i * kGB + col));
      unsigned n = 4;
      if (++gi == groups) {
        gi = 0;
        n = g.tail_bytes;
        v = _mm256_and_si256(v, tail_mask);
      }
      acc = _mm256_or_si256(acc, _mm256_sll_epi32(v, _mm_cvtsi32_si128((int)(8 * have))));
      have += n;
      if (have >= 4) {
        _mm256_storeu_si256((__m256i*)out, acc);
        out += kGB;
        have -= 4;
        // v's last `have` bytes start the next dword (a count of 32 clears it).
        acc = _mm256_srl_epi32(v, _mm_cvtsi32_si128((int)(8 * (n - have))));
      }
    }
    if (have) _mm256_storeu_si256((__m256i*)out, acc);
  }
}

// Bytes of a packed row: the ks * kc activations, padded to a multiple of 4.
inline size_t PackedRowBytes(const Geometry& g) { return (g.ks * g.kc + 3) / 4 * 4; }

// Rows per chunk of the packed-rows path for the first mfull rows, 0 when it does not apply.
inline size_t PackedChunkRows(const Geometry& g, size_t mfull) {
  constexpr size_t kMB = kRowsBuf;
  if (g.tail_bytes == 4) return 0;
  const size_t row_bytes = PackedRowBytes(g);
  size_t rows = (kPackBytes - 4) / row_bytes / kMB * kMB;  // 4: CopyTap3's last store
  if (rows > mfull) rows = mfull;
  // Every chunk decodes and compacts every block again (~4 vector ops per k-group and half).
  // That is small beside the rows' work when a chunk holds many rows; with few k-groups per tap
  // the partial one costs the decoded-block path so much that fewer rows still pay.
  const size_t min_rows = Groups(g) <= 8 ? 24 : 96;
  return rows >= min_rows || rows == mfull ? rows : 0;
}

// The first mfull rows (a multiple of kRowsBuf) in chunks of `chunk` rows.
template <int BITS, bool SA>
__attribute__((noinline)) void RunPacked(const Call& call, const Geometry& g, const Decoder<BITS>& dec, uint8_t* scratch,
               size_t mfull, size_t chunk, const crumb_epilogue_avx2& ep) {
  constexpr int kMB = kRowsBuf;
  const size_t blocks = (call.nc + 15) / 16;
  const size_t row_bytes = PackedRowBytes(g);
  alignas(32) uint8_t x[kPackBytes];
  memset(x, SA ? 0x80 : 0, chunk * row_bytes);  // the padding; the copies write only the kc bytes
  // The chunk as a GEMM call of one tap of row_bytes / 4 whole k-groups. k_total and block_bytes
  // stay the layer's (corrections, block headers); row sums over the packed rows are the layer's
  // too, the padding being 0.
  Call pc = call;
  pc.ind = nullptr;
  pc.a = x;
  pc.a_stride = row_bytes;
  Geometry pg = g;
  pg.ks = 1;
  pg.kc = row_bytes;
  pg.tail_bytes = 4;
  for (size_t m0 = 0; m0 < mfull; m0 += chunk) {
    const size_t rows = mfull - m0 < chunk ? mfull - m0 : chunk;
    PackRows<SA>(call, g, m0, rows, x, row_bytes);
    pc.mr = rows;
    pc.c = call.c + m0 * call.c_stride;
    for (size_t nb = 0; nb < blocks; nb++) {
      if (blocks > 1 || m0 == 0) {
        DecodeBlock<BITS>(g, dec, call.w + nb * g.block_bytes + CRUMB_DOT_HEADER, scratch);
        CompactBlock<BITS>(g, scratch);
      }
      for (size_t m = 0; m < rows; m += kMB) TileBuf<BITS, SA>(pc, pg, scratch, m, nb, ep);
    }
  }
}

template <int BITS, bool SA>
void Run(Call call, const Geometry& g, uint8_t* scratch) {
  constexpr int kMR = BITS == 8 ? 2 : 4;
  constexpr int kMB = kRowsBuf;
  const Decoder<BITS> dec(call.params->w_encoding);
  const crumb_epilogue_avx2 ep = crumb_epilogue_avx2_init(&call.params->out);
  const size_t blocks = (call.nc + 15) / 16;
  alignas(32) int32_t corr_buf[kCorrBlocks * 16];
  if (blocks <= kCorrBlocks && call.mr > 1) {
    for (size_t n = 0; n < blocks * 16; n += 8) {
      const size_t count = call.nc > n ? (call.nc - n < 8 ? call.nc - n : 8) : 0;
      const __m256i zw = count ? ZeroPoints(call, n, count) : _mm256_setzero_si256();
      _mm256_store_si256((__m256i*)(corr_buf + n),
                         Correction(call, g, call.w + n / 16 * g.block_bytes + 4 * (n % 16), zw));
    }
    call.corrs = corr_buf;
  }
  size_t m0 = 0;
  if (scratch && call.mr >= 2 * kMB) {
    const size_t mfull = call.mr / kMB * kMB;
    if (const size_t chunk = PackedChunkRows(g, mfull)) {
      RunPacked<BITS, SA>(call, g, dec, scratch, mfull, chunk, ep);
    } else {
      // Blocks outer, rows inner: each block decoded once.
      for (size_t nb = 0; nb < blocks; nb++) {
        DecodeBlock<BITS>(g, dec, call.w + nb * g.block_bytes + CRUMB_DOT_HEADER, scratch);
        for (size_t m = 0; m < mfull; m += kMB) TileBuf<BITS, SA>(call, g, scratch, m, nb, ep);
      }
    }
    m0 = mfull;
  }
  for (; m0 + kMR <= call.mr; m0 += kMR)
    for (size_t nb = 0; nb < blocks; nb++) Tile<BITS, SA, kMR>(call, g, dec, m0, nb, ep);
  for (; m0 < call.mr; m0++)
    for (size_t nb = 0; nb < blocks; nb++) Tile<BITS, SA, 1>(call, g, dec, m0, nb, ep);
}

void Dispatch(Call& call, size_t ks, size_t kc, int32_t* scratch) {
  if (!crumb_dot::Prepare(call)) return;
  const Geometry g = crumb_dot::MakeGeometry(ks, kc, call.params->w_bits);
  uint8_t* buf = reinterpret_cast<uint8_t*>(scratch);
  crumb_dot::WithBitsAndSign(call.params->w_bits, call.sa, [&](auto bits, auto sa) {
    Run<decltype(bits)::value, decltype(sa)::value>(call, g, buf);
  });
}

}  // namespace

extern "C" void CRUMB_DOT_AVX2_GEMM(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride,
                                    const uint8_t* w, void* c, size_t c_stride,
                                    const crumb_gemm_params* params, int32_t* scratch) {
  Call call = crumb_dot::GemmCall(mr, nc, a, a_stride, w, c, c_stride, params);
  Dispatch(call, 1, kc, scratch);
}

extern "C" void CRUMB_DOT_AVX2_IGEMM(size_t mr, size_t nc, size_t kc, size_t ks, const void** a,
                                     size_t a_offset, const void* zero, const uint8_t* w, void* c,
                                     size_t c_stride, const crumb_gemm_params* params,
                                     int32_t* scratch) {
  Call call = crumb_dot::IGemmCall(mr, nc, a, a_offset, zero, w, c, c_stride, params);
  Dispatch(call, ks, kc, scratch);
}
