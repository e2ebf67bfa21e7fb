// Dot-family GEMM / IGEMM on AVX-512 VNNI (+ VBMI for the decoders): DOT_N16K4 weights decoded
// to int8 in registers, vpdpbusd with u8 activations (kernels/dot/dot.h has the contract and the
// arithmetic). Register tile 4 rows x 64 channels (4 blocks of 16): 16 zmm accumulators, each
// decoded weight vector feeds 4 vpdpbusd, each broadcast activation word feeds 4.
//
// Exactness: vpdpbusd multiplies u8 by s8 and adds the four products to an int32 lane without
// intermediate saturation (unlike vpmaddubsw); the int32 lanes wrap as the scalar kernels' do.
//
// Decoding a vector (64 weights of one k-group): each bit plane is one 64-byte load, a 16-bit
// shift to bring the wanted field to its place in the code (no shift for field 0) and, when the
// code has several planes, a mask and an or; then one vpermb (vpermi2b for 7 bits) through a
// 64-entry table maps the code to w'. vpermb reads the low 6 bits of each index byte only, so
// for single-plane codes (1, 2, 4 bits) the table repeats every 2^bits entries and the bits
// above the field — left over from the shift — need no mask.
#include <immintrin.h>
#include <string.h>

#include <type_traits>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/dot/dot.h"
#include "kernels/dot/internal.h"

#ifndef CRUMB_DOT_AVX512_MR
#define CRUMB_DOT_AVX512_MR 4
#define CRUMB_DOT_AVX512_NB 4
#endif

namespace {

using crumb_dot::Call;
using crumb_dot::Geometry;
using crumb_dot::Row;

constexpr int kPlanes[9] = {0, 1, 1, 2, 1, 2, 2, 3, 1};
constexpr int kWidths[9][3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {4, 0, 0},
                               {4, 1, 0}, {4, 2, 0}, {4, 2, 1}, {8, 0, 0}};

// FLIP (8 bits, UNSIGNED): w' = code - 128, one XOR per weight vector. Signed 8-bit weights are
// used as they are loaded: the XOR shares the ports of vpdpbusd, and costs the most where a tap
// runs for half a tile (Tile's SKIP).
template <int BITS, bool FLIP = false>
struct Decoder {
  __m512i lut0, lut1;  // w' of codes 0..63 (and 64..127 for 7 bits)
  __m512i flip;        // 0x80

  explicit Decoder(uint32_t encoding) {
    // The 2^BITS values once, then repeated: built at every kernel call, and masked layers make
    // one call per pixel group.
    alignas(64) int8_t t[128] = {0};
    constexpr int kDistinct = BITS >= 7 ? 128 : 1 << BITS;
    if (BITS != 8) {
      for (int i = 0; i < kDistinct; i++)
        t[i] = (int8_t)crumb_dot_code_value((uint32_t)i, BITS, encoding);
      for (int i = kDistinct; i < 128; i++) t[i] = t[i % kDistinct];
    }
    lut0 = _mm512_load_si512(t);
    lut1 = _mm512_load_si512(t + 64);
    flip = _mm512_set1_epi8((char)0x80);
  }

  // Vector v of a super-block of nv vectors at sb.
  __attribute__((always_inline)) inline __m512i operator()(const uint8_t* sb, unsigned nv,
                                                           unsigned v) const {
    if (BITS == 8) {
      const __m512i w = _mm512_loadu_si512(sb + 64 * v);
      return FLIP ? _mm512_xor_si512(w, flip) : w;
    }
    __m512i code = _mm512_setzero_si512();
    size_t offset = 0;
    int at = 0;
#pragma GCC unroll 3
    for (int q = 0; q < kPlanes[BITS]; q++) {
      const int p = kWidths[BITS][q];
      const unsigned per = 8 / p;
      __m512i x = _mm512_loadu_si512(sb + offset + 64 * (v / per));
      const int sh = p * (int)(v % per) - at;
      if (sh > 0) x = _mm512_srl_epi16(x, _mm_cvtsi32_si128(sh));
      if (sh < 0) x = _mm512_sll_epi16(x, _mm_cvtsi32_si128(-sh));
      if (kPlanes[BITS] > 1) {
        x = _mm512_and_si512(x, _mm512_set1_epi8((char)(((1 << p) - 1) << at)));
        code = q == 0 ? x : _mm512_or_si512(code, x);
      } else {
        code = x;
      }
      offset += 64 * ((nv * (unsigned)p + 7) / 8);
      at += p;
    }
    if (BITS == 7) return _mm512_permutex2var_epi8(lut0, code, lut1);
    return _mm512_maskz_permutexvar_epi8(~(__mmask64)0, code, lut0);
  }
};

// Activation word of k-group at p (4 bytes), in the u8 domain.
template <bool SA>
__attribute__((always_inline)) inline __m512i Bcast(const uint8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  const __m512i x = _mm512_set1_epi32(v);
  return SA ? _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)) : x;
}

// The last k-group of a tap with only `bytes` (1..3) real bytes: the rest are 0 in the u8 domain.
// A masked load, not memcpy: a variable-length memcpy is a library call plus a store-forwarding
// stall per tap, which made the 3-channel stem convolution 4x slower than XNNPACK.
template <bool SA>
__attribute__((always_inline)) inline __m512i BcastTail(const uint8_t* p, unsigned bytes) {
  const __mmask16 keep = (__mmask16)((1u << bytes) - 1u);
  __m128i v = _mm_maskz_loadu_epi8(keep, p);
  if (SA) v = _mm_xor_si128(v, _mm_maskz_mov_epi8(keep, _mm_set1_epi8((char)0x80)));
  return _mm512_set1_epi32(_mm_cvtsi128_si32(v));
}

// Sum of the kc activation codes at p, in the u8 domain (a_u = a ^ 0x80 for s8).
template <bool SA>
inline uint32_t RowSum(const uint8_t* p, size_t kc) {
  __m512i sum = _mm512_setzero_si512();
  const __m512i flip = _mm512_set1_epi8(SA ? (char)0x80 : 0);
  for (size_t k = 0; k < kc; k += 64) {
    const __mmask64 m = kc - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (kc - k)) - 1);
    const __m512i x =
        _mm512_maskz_mov_epi8(m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, p + k), flip));
    sum = _mm512_add_epi64(sum, _mm512_sad_epu8(x, _mm512_setzero_si512()));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, sum);
  uint64_t total = 0;
  for (int i = 0; i < 8; i++) total += lanes[i];
  return (uint32_t)total;
}

// The per-channel correction of block nb: za_u * (K zw' - wsum), wrapping.
inline __m512i Correction(const Call& call, const Geometry& g, size_t nb) {
  const size_t n = nb * 16;
  const __mmask16 k = crumb_avx512_mask16(call.nc - n < 16 ? call.nc - n : 16);
  const __m512i wsum = _mm512_loadu_si512(call.w + nb * g.block_bytes);
  const __m512i zw = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(k, call.params->w_zero_point + n),
                                      _mm512_set1_epi32(call.bias));
  return _mm512_mullo_epi32(
      _mm512_set1_epi32((int32_t)call.za_u),
      _mm512_sub_epi32(_mm512_mullo_epi32(zw, _mm512_set1_epi32((int32_t)g.k_total)), wsum));
}

// The epilogue, and whether its u8 outputs may be clamped after rounding (LateClampSafe).
struct Epilogue : crumb_epilogue_avx512 {
  bool late_clamp = false;
  __m512i qmin8, qmax8;  // the output's [qmin, qmax] in every byte
};

// Whether y = acc * mul + add rounds inside int32 for every int32 acc of these channels (|mul| <=
// 0.5, |add| <= 2^29, neither NaN). Then u8 codes may skip the float clamp: the packs' saturation
// and a byte max / min clamp the rounded code instead, the same code, since the bounds are
// integers and rounding is monotonic. Two vector operations per 16 outputs become one per 64,
// which is a quarter of a small-K layer's epilogue.
inline bool LateClampSafe(const crumb_gemm_params* p, size_t nc) {
  for (size_t n = 0; n < nc; n++) {
    if (!(__builtin_fabsf(p->mul[n]) <= 0.5f) || !(__builtin_fabsf(p->add[n]) <= 536870912.0f))
      return false;
  }
  return true;
}

// One block's codes in place: the epilogue without its clamp (late) or with it.
template <bool LATE>
__attribute__((always_inline)) inline __m512i Codes(__m512i acc, __m512 mul, __m512 add,
                                                    const Epilogue& ep) {
  const __m512 y = crumb_avx512_scale(acc, mul, add);
  if (LATE) return _mm512_add_epi32(_mm512_maskz_cvtps_epi32(CRUMB_AVX512_ALL, y), ep.z);
  return crumb_avx512_requantize(y, &ep);
}

// One tile: MR rows from m0, NB blocks of 16 channels from block nb0. TAIL is what follows a
// tap's whole super-blocks of 8 k-groups: nothing (0), any tail through the generic path (-1), or,
// for taps of 8, 16 or 24 channels (MobileNet's 1x1 expansions: nothing but the tail), 2, 4 or 6
// whole k-groups and no super-block. Each is its own function: joined after the tap loop inside
// one, the accumulators were spilled around the epilogue.
//
// SKIP (an IGEMM with za_u == 0, whole super-blocks): a row whose tap reads the zero row adds
// nothing (its codes are all za_u = 0), so the tap runs without that row's vpdpbusd: padding and
// the known-zero pixels of a spatial mask (runtime/src/masked_conv.h) cost no work. Rows 0-1 and
// 2-3 go as halves (a zero row inside a running half is read: it adds nothing); four rows one by
// one measured no faster on a random mask's pixels sorted by their taps.
template <int BITS, bool SA, int MR, int NB, int TAIL, bool SKIP = false, class Dec = void>
void Tile(const Call& call, const Geometry& g, const Dec& dec, size_t m0, size_t nb0,
          const Epilogue& ep, const int32_t* corrs) {
  static_assert(!SKIP || (MR == 4 && TAIL == 0), "SKIP: two halves of two rows, no tail");
  // One accumulator per (row, block); with a single row, two per block (even / odd k-groups) so
  // that the vpdpbusd latency is covered.
  constexpr int kSplit = MR == 1 ? 2 : 1;
  __m512i acc[kSplit][MR][NB];
  // Row sums for weight zero points first, while no accumulator is live: RowSum is a call, and
  // every vector register is the caller's to save (after the tap loop, 16 spills per tile).
  uint32_t rsum[MR] = {0};
  if (call.has_zw) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++)
      for (size_t t = 0; t < g.ks; t++)
        rsum[m] += RowSum<SA>(Row(call, g, m0 + (size_t)m, t), g.kc);
  }
// The accumulators start at the per-channel correction (sums wrap, so the order is free): one
// addition per accumulator less in the epilogue, which is most of a small-K layer's time.
#pragma GCC unroll 16
  for (int b = 0; b < NB; b++) {
    const __m512i corr = corrs ? _mm512_loadu_si512(corrs + (nb0 + (size_t)b) * 16)
                               : Correction(call, g, nb0 + (size_t)b);
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) {
      acc[0][m][b] = corr;
      if (kSplit == 2) acc[kSplit - 1][m][b] = _mm512_setzero_si512();
    }
  }
  const uint8_t* wblock = call.w + nb0 * g.block_bytes + CRUMB_DOT_HEADER;
  const uint8_t* zero = static_cast<const uint8_t*>(call.zero);
  for (size_t t = 0; t < g.ks; t++) {
    const uint8_t* ap[MR];
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++) ap[m] = Row(call, g, m0 + (size_t)m, t);
    // Which halves run this tap (SKIP): rows m < 2 when lo, the others when hi.
    bool lo = true, hi = true;
    if constexpr (SKIP) {
      lo = ap[0] != zero || ap[1] != zero;
      hi = ap[2] != zero || ap[3] != zero;
      if (!lo && !hi) continue;
    }
    const uint8_t* wp[NB];
#pragma GCC unroll 16
    for (int b = 0; b < NB; b++) wp[b] = wblock + (size_t)b * g.block_bytes + t * g.tap_bytes;
    for (size_t s = 0; TAIL <= 0 && s < g.fast_sb; s++) {
#pragma GCC unroll 8
      for (unsigned v = 0; v < 8; v++) {
        __m512i wv[NB];
#pragma GCC unroll 16
        for (int b = 0; b < NB; b++) wv[b] = dec(wp[b], 8, v);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
          if (SKIP && !(m < 2 ? lo : hi)) continue;
          const __m512i x = Bcast<SA>(ap[m] + 4 * v);
#pragma GCC unroll 16
          for (int b = 0; b < NB; b++)
            acc[v % kSplit][m][b] = _mm512_dpbusd_epi32(acc[v % kSplit][m][b], x, wv[b]);
        }
      }
#pragma GCC unroll 16
      for (int b = 0; b < NB; b++) wp[b] += 64 * BITS;
#pragma GCC unroll 16
      for (int m = 0; m < MR; m++) ap[m] += 32;
    }
    if constexpr (TAIL > 0) {
#pragma GCC unroll 8
      for (unsigned v = 0; v < (unsigned)TAIL; v++) {
        __m512i wv[NB];
#pragma GCC unroll 16
        for (int b = 0; b < NB; b++) wv[b] = dec(wp[b], TAIL, v);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
          const __m512i x = Bcast<SA>(ap[m] + 4 * v);
#pragma GCC unroll 16
          for (int b = 0; b < NB; b++)
            acc[v % kSplit][m][b] = _mm512_dpbusd_epi32(acc[v % kSplit][m][b], x, wv[b]);
        }
      }
    } else if constexpr (TAIL < 0) {
      const unsigned nv = g.tail_nv;
      for (unsigned v = 0; v < nv; v++) {
        __m512i wv[NB];
#pragma GCC unroll 16
        for (int b = 0; b < NB; b++) wv[b] = dec(wp[b], nv, v);
        const bool last = v + 1 == nv;
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
          const __m512i x =
              last ? BcastTail<SA>(ap[m] + 4 * v, g.tail_bytes) : Bcast<SA>(ap[m] + 4 * v);
#pragma GCC unroll 16
          for (int b = 0; b < NB; b++) acc[0][m][b] = _mm512_dpbusd_epi32(acc[0][m][b], x, wv[b]);
        }
      }
    }
  }
  // Zero-point corrections and the epilogue.
  const crumb_gemm_params* p = call.params;
#pragma GCC unroll 16
  for (int b = 0; b < NB; b++) {
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++)
      if (kSplit == 2) acc[0][m][b] = _mm512_add_epi32(acc[0][m][b], acc[kSplit - 1][m][b]);
  }
  if (call.has_zw) {
#pragma GCC unroll 16
    for (int b = 0; b < NB; b++) {
      const size_t n = (nb0 + (size_t)b) * 16;
      const __mmask16 k = crumb_avx512_mask16(call.nc - n < 16 ? call.nc - n : 16);
      const __m512i zw = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(k, p->w_zero_point + n),
                                          _mm512_set1_epi32(call.bias));
#pragma GCC unroll 16
      for (int m = 0; m < MR; m++)
        acc[0][m][b] = _mm512_sub_epi32(
            acc[0][m][b], _mm512_mullo_epi32(zw, _mm512_set1_epi32((int32_t)rsum[m])));
    }
  }
  const size_t n0 = nb0 * 16;
  // The u8 paths below: every block's codes in place, one block's scales live at a time, so that
  // the accumulators are not spilled.
  auto codes = [&](auto late) __attribute__((always_inline)) {
#pragma GCC unroll 16
    for (int b = 0; b < NB; b++) {
      const __m512 mul = _mm512_loadu_ps(p->mul + n0 + 16 * b);
      const __m512 add = _mm512_loadu_ps(p->add + n0 + 16 * b);
#pragma GCC unroll 16
      for (int m = 0; m < MR; m++)
        acc[0][m][b] = Codes<decltype(late)::value>(acc[0][m][b], mul, add, ep);
    }
  };
  if constexpr (NB == 4) {
    if (ep.type == CRUMB_ELEM_U8 && call.nc - n0 >= 64) {
      // 64 whole u8 channels per row: one pack and one 64-byte store instead of four masked
      // vpmovusdb stores (small-K layers, MobileNet's 1x1 expansions, spend most of their time
      // here).
      auto rows = [&](auto late) __attribute__((always_inline)) {
        codes(late);
#pragma GCC unroll 16
        for (int m = 0; m < MR; m++) {
          __m512i v =
              crumb_avx512_pack64_u8(acc[0][m][0], acc[0][m][1], acc[0][m][2], acc[0][m][3]);
          if (decltype(late)::value) v = _mm512_min_epu8(_mm512_max_epu8(v, ep.qmin8), ep.qmax8);
          _mm512_storeu_si512(call.c + (m0 + (size_t)m) * call.c_stride + n0, v);
        }
      };
      if (ep.late_clamp) {
        rows(std::true_type());
      } else {
        rows(std::false_type());
      }
      return;
    }
  }
  if (NB == 2 && ep.type == CRUMB_ELEM_U8 && call.nc - n0 >= 32) {
    // 32 whole u8 channels (the 8-row tiles of 32-48-channel projections): one 32-byte store.
    auto rows = [&](auto late) __attribute__((always_inline)) {
      codes(late);
#pragma GCC unroll 16
      for (int m = 0; m < MR; m++) {
        __m256i v = crumb_avx512_pack32_u8(acc[0][m][0], acc[0][m][NB - 1]);
        if (decltype(late)::value) {
          v = _mm256_min_epu8(_mm256_max_epu8(v, crumb_avx512_low256(ep.qmin8)),
                              crumb_avx512_low256(ep.qmax8));
        }
        _mm256_storeu_si256((__m256i*)(call.c + (m0 + (size_t)m) * call.c_stride + n0), v);
      }
    };
    if (ep.late_clamp) {
      rows(std::true_type());
    } else {
      rows(std::false_type());
    }
    return;
  }
#pragma GCC unroll 16
  for (int b = 0; b < NB; b++) {
    const size_t n = (nb0 + (size_t)b) * 16;
    const size_t count = call.nc - n < 16 ? call.nc - n : 16;
#pragma GCC unroll 16
    for (int m = 0; m < MR; m++)
      crumb_avx512_output16(acc[0][m][b], p->mul, p->add, &ep,
                            call.c + (m0 + (size_t)m) * call.c_stride, n, count);
  }
}

// The main register tile: kMR rows x kNB blocks of 16 channels (kMR * kNB zmm accumulators).
constexpr int kMR = CRUMB_DOT_AVX512_MR;
constexpr int kNB = CRUMB_DOT_AVX512_NB;
constexpr size_t kCorrBlocks = 128;  // 2048 channels, 8 KiB of stack

template <int BITS, bool SA, class Dec>
void RunWith(const Call& call, const Geometry& g, const Dec& dec) {
  Epilogue ep;
  static_cast<crumb_epilogue_avx512&>(ep) = crumb_epilogue_avx512_init(&call.params->out);
  ep.late_clamp = ep.type == CRUMB_ELEM_U8 && LateClampSafe(call.params, call.nc);
  ep.qmin8 = _mm512_set1_epi8((char)call.params->out.qmin);
  ep.qmax8 = _mm512_set1_epi8((char)call.params->out.qmax);
  const size_t blocks = (call.nc + 15) / 16;
  // Corrections of every block computed once when there are few enough channels (else per tile).
  alignas(64) int32_t corr_buf[kCorrBlocks * 16];
  const int32_t* corrs = nullptr;
  if (blocks <= kCorrBlocks && call.mr > 1) {
    for (size_t nb = 0; nb < blocks; nb++)
      _mm512_store_si512(corr_buf + 16 * nb, Correction(call, g, nb));
    corrs = corr_buf;
  }
  // Every row over NB blocks from nb: MR-row tiles (with the tail this geometry has), then single
  // rows (without a tail or with the generic one).
  const unsigned whole = g.tail_bytes == 4 ? g.tail_nv : 0;
  const bool short_tail = g.fast_sb == 0 && (whole == 2 || whole == 4 || whole == 6);
  const int tail = g.tail_nv == 0 ? 0 : short_tail ? (int)whole : -1;
  // Zero rows of an IGEMM are za_u = 0 codes when the activations' zero point is 0 in the u8
  // domain: their taps can be skipped (Tile's SKIP).
  const bool skip = call.ind != nullptr && call.za_u == 0 && tail == 0;
  auto rows = [&](auto mr_c, auto nb_c, size_t nb) {
    constexpr int MR = decltype(mr_c)::value, NB = decltype(nb_c)::value;
    size_t m0 = 0;
    auto tiles = [&](auto tail_c) {
      constexpr int T = decltype(tail_c)::value;
      if constexpr (MR == 4 && NB == 4 && T == 0) {
        if (skip) {
          for (; m0 + MR <= call.mr; m0 += MR)
            Tile<BITS, SA, MR, NB, T, true>(call, g, dec, m0, nb, ep, corrs);
          return;
        }
      }
      for (; m0 + MR <= call.mr; m0 += MR)
        Tile<BITS, SA, MR, NB, T>(call, g, dec, m0, nb, ep, corrs);
    };
    switch (tail) {
      case 0:
        tiles(std::integral_constant<int, 0>());
        break;
      case 2:
        tiles(std::integral_constant<int, 2>());
        break;
      case 4:
        tiles(std::integral_constant<int, 4>());
        break;
      case 6:
        tiles(std::integral_constant<int, 6>());
        break;
      default:
        tiles(std::integral_constant<int, -1>());
    }
    for (; m0 < call.mr; m0++) {
      if (tail == 0) {
        Tile<BITS, SA, 1, NB, 0>(call, g, dec, m0, nb, ep, corrs);
      } else {
        Tile<BITS, SA, 1, NB, -1>(call, g, dec, m0, nb, ep, corrs);
      }
    }
  };
  size_t nb = 0;
  for (; nb + kNB <= blocks; nb += kNB) {
    rows(std::integral_constant<int, kMR>(), std::integral_constant<int, kNB>(), nb);
  }
  // The last 1-3 blocks (layers of 16-48 channels: a stem, MobileNet's projections) in taller
  // tiles, so that each broadcast activation still feeds enough vpdpbusd: 8 rows x 2 blocks and
  // 8 rows x 1 block (4 x 1 left three quarters of the accumulators idle).
  if (blocks - nb >= 2) {
    rows(std::integral_constant<int, 8>(), std::integral_constant<int, 2>(), nb);
    nb += 2;
  }
  if (blocks - nb == 1)
    rows(std::integral_constant<int, 8>(), std::integral_constant<int, 1>(), nb);
}

template <int BITS, bool SA>
void Run(const Call& call, const Geometry& g) {
  const uint32_t encoding = call.params->w_encoding;
  if constexpr (BITS == 8) {
    if (encoding == CRUMB_ENC_UNSIGNED)
      return RunWith<BITS, SA>(call, g, Decoder<8, true>(encoding));
  }
  RunWith<BITS, SA>(call, g, Decoder<BITS>(encoding));
}

void Dispatch(Call& call, size_t ks, size_t kc) {
  if (!crumb_dot::Prepare(call)) return;
  const Geometry g = crumb_dot::MakeGeometry(ks, kc, call.params->w_bits);
  crumb_dot::WithBitsAndSign(call.params->w_bits, call.sa, [&](auto bits, auto sa) {
    Run<decltype(bits)::value, decltype(sa)::value>(call, g);
  });
}

}  // namespace

extern "C" void crumb_q8_qb_dotgemm_ukernel_4x64__avx512vnni(
    size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c,
    size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::GemmCall(mr, nc, a, a_stride, w, c, c_stride, params);
  Dispatch(call, 1, kc);
}

extern "C" void crumb_q8_qb_dotigemm_ukernel_4x64__avx512vnni(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::IGemmCall(mr, nc, a, a_offset, zero, w, c, c_stride, params);
  Dispatch(call, ks, kc);
}
