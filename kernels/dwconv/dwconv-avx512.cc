// crumb_q8_qb_dwconv_ukernel_c64__avx512: the dwconv contract (kernels/dwconv/dwconv.h) on zmm
// registers, one 64-channel weight block per iteration (masked loads / stores for a last block of
// 33..63 channels; a last block of <= 32 channels goes to the AVX2 kernel with the same resolved
// taps), the call's output pixels inside it so the block's prepared weights are reused.
//
// Taps go in pairs (t, t + 1; an odd last tap is paired with itself under zero weights). The
// activation bytes of a pair are interleaved with vpunpcklbw / vpunpckhbw; the weights of the
// block are interleaved the same way once per call (a stack buffer, chunks of kPairs pairs),
// so a pair costs two shuffles and two multiply-adds per 64 channels.
// Activations are read raw (S8 flipped to u8 by xor 0x80), so acc = sum qa' v - za' vsum with
// za' = za (+ 128 for S8), vsum from the block header.
//   int16 path (ks * max|qa'| * max|v| < 2^15, max|qa'| = 2^a_bits - 1 for U8, 127 +
//     2^(a_bits - 1) for flipped S8): vpmaddubsw (u8 x s8; a pair's sum is bounded by the same
//     product, so it never saturates) and vpaddw, the accumulators starting at -za' vsum modulo
//     2^16. |qa' - za'| <= max|qa'| (za is a code of the same range), so |acc| < 2^15 and the
//     wrapping int16 sum is acc exactly. Widened to int32 once per pixel.
//   int32 path otherwise: the byte pairs widened to word pairs (vpunpck with zero / the weights'
//     sign), vpmaddwd + vpaddd, and za' vsum subtracted in int32 (wrapping; acc fits int32).
// The epilogue is kernels/common/epilogue-avx512.h's (scale, requantize; for float outputs and
// the int32 path its output16 as well).
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/internal.h"

namespace {

constexpr size_t kPairs = 16;  // tap pairs whose prepared weights the stack buffer holds

#define ALL8 ((__mmask64)~0ULL)

inline __m512i PermuteQ(__m512i a, __m512i idx, __m512i b) {
  return _mm512_maskz_permutex2var_epi64((__mmask8)0xFF, a, idx, b);
}

// vpmovsxwd of the low 16 words (the all-ones-masked form, and the low half taken as a vector
// shuffle rather than _mm512_castsi512_si256: see epilogue-avx512.h on GCC 12's warnings).
inline __m512i WidenLow(__m512i x) {
  typedef long long v8di __attribute__((vector_size(64)));
  const __m256i lo = (__m256i)__builtin_shufflevector((v8di)x, (v8di)x, 0, 1, 2, 3);
  return _mm512_maskz_cvtepi16_epi32(CRUMB_AVX512_ALL, lo);
}

// vpsrad by 16 (the all-ones-masked form).
inline __m512i Sra16(__m512i x) { return _mm512_maskz_srai_epi32(CRUMB_AVX512_ALL, x, 16); }

// The byte sign (0xFF for negative bytes) of x.
inline __m512i SignBytes(__m512i x) { return _mm512_movm_epi8(_mm512_movepi8_mask(x)); }

// Channels [c_begin, c_end) of nx output pixels whose taps are resolved (internal.h). KS: the
// taps as a compile-time constant (0: ks at run time).
template <bool kInt16, bool kS8, size_t KS>
void Run(size_t c_begin, size_t c_end, size_t nx, size_t ks_arg, const void* const* ptrs,
         const uint8_t* weights, uint8_t* output, size_t output_stride,
         const crumb_dwconv_params* params) {
  const size_t ks = KS ? KS : ks_arg;
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&params->out);
  const size_t elem = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const __m512i vza = _mm512_set1_epi32(params->a_zero_point + (kS8 ? 128 : 0));
  const __m512i vzero = _mm512_setzero_si512();
  const size_t pairs = (ks + 1) / 2;
  const bool chunked = pairs > kPairs;
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  // Prepared weights of up to kPairs pairs: int16 path 2 vectors per pair (vpunpckl/hbw of the
  // two taps), int32 path 4 (those widened to int16 pairs).
  alignas(64) __m512i wbuf[kPairs * 4];
  // vpermt2q indices: the int32 path's 4 x 4 lane transpose (qlo, qhi, qlo2, qhi2), the int16
  // path's (lo L, hi L) lane pairs for float outputs (qw0..qw3).
  const __m512i qlo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i qhi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const __m512i qw0 = _mm512_setr_epi64(0, 1, 8, 9, 0, 1, 8, 9);
  const __m512i qw1 = _mm512_setr_epi64(2, 3, 10, 11, 2, 3, 10, 11);
  const __m512i qw2 = _mm512_setr_epi64(4, 5, 12, 13, 4, 5, 12, 13);
  const __m512i qw3 = _mm512_setr_epi64(6, 7, 14, 15, 6, 7, 14, 15);
  const __m512i qlo2 = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i qhi2 = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);

  const bool fast = kInt16 && elem == 1;
  // vpmaddwd with (1, 0) word pairs: the even word of each dword, sign-extended (one instruction
  // where vpslld + vpsrad would be two).
  const __m512i even = _mm512_set1_epi32(1);
  const __m512i fix = _mm512_maskz_broadcast_i32x4(
      CRUMB_AVX512_ALL, _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  for (size_t c0 = c_begin; c0 < c_end; c0 += CRUMB_DWCONV_BLOCK) {
    const size_t nc = c_end - c0 < 64 ? c_end - c0 : 64;
    const __mmask64 m = nc == 64 ? ALL8 : (__mmask64)((1ULL << nc) - 1);
    const uint8_t* block = weights + c0 / CRUMB_DWCONV_BLOCK * block_bytes;
    const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4);
    __m512i corr[4];  // za' vsum, channels 16 j .. 16 j + 15
    for (int j = 0; j < 4; j++) {
      corr[j] = _mm512_mullo_epi32(vza, _mm512_loadu_si512(block + 64 * j));
    }
    // int16 path: the accumulators start at -za' vsum as int16 words in their layout (lo lane
    // L: channels 16L + 0..7, hi: 16L + 8..15). The final sum is acc itself, |acc| < 2^15 (see
    // the top), so wrapping int16 arithmetic gives it exactly.
    __m512i c16lo = vzero, c16hi = vzero;
    // Integer outputs of the int16 path: the accumulators are widened (vpmaddwd by (1, 0) words,
    // vpsrad) into even and odd words (E_lo lane L: channels 16L + 0, 2, 4, 6; O_lo: 1, 3, 5, 7;
    // E_hi, O_hi: 8 + those), mul / add permuted to match once per block, and one vpshufb
    // restores the byte order after the packs.
    __m512 mulp[4], addp[4];
    if (kInt16) {
      alignas(64) __m256i w[4];  // -za' vsum as int16 (wrapping), channels 0..63 in order
      for (int j = 0; j < 4; j++) {
        w[j] = _mm512_maskz_cvtepi32_epi16(CRUMB_AVX512_ALL, _mm512_sub_epi32(vzero, corr[j]));
      }
      const __m512i z01 = _mm512_load_si512(&w[0]), z23 = _mm512_load_si512(&w[2]);
      c16lo = _mm512_maskz_shuffle_i64x2((__mmask8)0xFF, z01, z23, _MM_SHUFFLE(2, 0, 2, 0));
      c16hi = _mm512_maskz_shuffle_i64x2((__mmask8)0xFF, z01, z23, _MM_SHUFFLE(3, 1, 3, 1));
      if (fast) {
        const __mmask16 k0 = crumb_avx512_mask16(nc),
                        k1 = crumb_avx512_mask16(nc > 16 ? nc - 16 : 0);
        const __mmask16 k2 = crumb_avx512_mask16(nc > 32 ? nc - 32 : 0);
        const __mmask16 k3 = crumb_avx512_mask16(nc > 48 ? nc - 48 : 0);
        const float* arrays[2] = {params->mul + c0, params->add + c0};
        for (int a = 0; a < 2; a++) {
          const __m512 m0 = _mm512_maskz_loadu_ps(k0, arrays[a]);
          const __m512 m1 = _mm512_maskz_loadu_ps(k1, arrays[a] + 16);
          const __m512 m2 = _mm512_maskz_loadu_ps(k2, arrays[a] + 32);
          const __m512 m3 = _mm512_maskz_loadu_ps(k3, arrays[a] + 48);
          __m512* out = a == 0 ? mulp : addp;
          for (int k = 0; k < 4; k++) {
            const int base = (k & 1) + (k >> 1) * 8;  // E_lo 0, O_lo 1, E_hi 8, O_hi 9
            const __m512i idx = _mm512_add_epi32(
                _mm512_setr_epi32(0, 2, 4, 6, 16, 18, 20, 22, 0, 2, 4, 6, 16, 18, 20, 22),
                _mm512_set1_epi32(base));
            const __m512 lo01 = _mm512_permutex2var_ps(m0, idx, m1);
            const __m512 lo23 = _mm512_permutex2var_ps(m2, idx, m3);
            out[k] = _mm512_mask_blend_ps((__mmask16)0xFF00, lo01, lo23);
          }
        }
      }
    }
    auto build = [&](size_t p0, size_t p1) {
      for (size_t p = p0; p < p1; p++) {
        const size_t t0 = 2 * p, t1 = 2 * p + 1;
        const __m512i v0 = _mm512_loadu_si512(v + t0 * 64);
        const __m512i v1 = t1 < ks ? _mm512_loadu_si512(v + t1 * 64) : vzero;
        const __m512i lo = _mm512_unpacklo_epi8(v0, v1);
        const __m512i hi = _mm512_unpackhi_epi8(v0, v1);
        __m512i* w = wbuf + (p - p0) * (kInt16 ? 2 : 4);
        if (kInt16) {
          w[0] = lo;
          w[1] = hi;
        } else {
          const __m512i slo = SignBytes(lo), shi = SignBytes(hi);
          w[0] = _mm512_unpacklo_epi8(lo, slo);
          w[1] = _mm512_unpackhi_epi8(lo, slo);
          w[2] = _mm512_unpacklo_epi8(hi, shi);
          w[3] = _mm512_unpackhi_epi8(hi, shi);
        }
      }
    };
    if (!chunked) build(0, pairs);

    for (size_t x = 0; x < nx; x++) {
      const void* const* taps = ptrs + x * ks;
      __m512i a16lo = c16lo, a16hi = c16hi;                                // int16 path
      __m512i a32_0 = vzero, a32_1 = vzero, a32_2 = vzero, a32_3 = vzero;  // int32 path
      for (size_t p0 = 0; p0 < pairs; p0 += kPairs) {
        const size_t p1 = pairs - p0 < kPairs ? pairs : p0 + kPairs;
        if (chunked) build(p0, p1);
#pragma GCC unroll 16
        for (size_t p = p0; p < p1; p++) {
          const size_t t0 = 2 * p, t1 = 2 * p + 1 < ks ? 2 * p + 1 : 2 * p;
          __m512i a0 = _mm512_maskz_loadu_epi8(m, (const uint8_t*)taps[t0] + c0);
          __m512i a1 = _mm512_maskz_loadu_epi8(m, (const uint8_t*)taps[t1] + c0);
          if (kS8) {
            a0 = _mm512_xor_si512(a0, flip);
            a1 = _mm512_xor_si512(a1, flip);
          }
          const __m512i lo = _mm512_unpacklo_epi8(a0, a1);
          const __m512i hi = _mm512_unpackhi_epi8(a0, a1);
          const __m512i* w = wbuf + (p - p0) * (kInt16 ? 2 : 4);
          if (kInt16) {
            a16lo = _mm512_add_epi16(a16lo, _mm512_maddubs_epi16(lo, w[0]));
            a16hi = _mm512_add_epi16(a16hi, _mm512_maddubs_epi16(hi, w[1]));
          } else {
            a32_0 =
                _mm512_add_epi32(a32_0, _mm512_madd_epi16(_mm512_unpacklo_epi8(lo, vzero), w[0]));
            a32_1 =
                _mm512_add_epi32(a32_1, _mm512_madd_epi16(_mm512_unpackhi_epi8(lo, vzero), w[1]));
            a32_2 =
                _mm512_add_epi32(a32_2, _mm512_madd_epi16(_mm512_unpacklo_epi8(hi, vzero), w[2]));
            a32_3 =
                _mm512_add_epi32(a32_3, _mm512_madd_epi16(_mm512_unpackhi_epi8(hi, vzero), w[3]));
          }
        }
      }
      uint8_t* row = output + x * output_stride;
      if (fast) {
        const __m512i x4[4] = {_mm512_madd_epi16(a16lo, even), Sra16(a16lo),
                               _mm512_madd_epi16(a16hi, even), Sra16(a16hi)};
        __m512i q[4];
        for (int k = 0; k < 4; k++) {
          q[k] = crumb_avx512_requantize(crumb_avx512_scale(x4[k], mulp[k], addp[k]), &e);
        }
        // Lane L bytes after the packs: channels 16L + 0 2 4 6 1 3 5 7 8 10 12 14 9 11 13 15.
        const __m512i w01 = _mm512_packs_epi32(q[0], q[1]);
        const __m512i w23 = _mm512_packs_epi32(q[2], q[3]);
        const __m512i b =
            e.type == CRUMB_ELEM_U8 ? _mm512_packus_epi16(w01, w23) : _mm512_packs_epi16(w01, w23);
        const __m512i ordered = _mm512_shuffle_epi8(b, fix);
        if (nc == 64) {
          _mm512_storeu_si512(row + c0, ordered);
        } else {
          _mm512_mask_storeu_epi8(row + c0, m, ordered);
        }
        continue;
      }
      // Channel-ordered int32 accumulators acc[j] = channels c0 + 16 j .. + 15.
      __m512i acc[4];
      if (kInt16) {
        // a16lo lane L: channels 16L + 0..7, a16hi lane L: 16L + 8..15; vpermt2q puts lanes
        // (lo L, hi L) in the low half: channels 16L .. 16L + 15 as words.
        acc[0] = WidenLow(PermuteQ(a16lo, qw0, a16hi));
        acc[1] = WidenLow(PermuteQ(a16lo, qw1, a16hi));
        acc[2] = WidenLow(PermuteQ(a16lo, qw2, a16hi));
        acc[3] = WidenLow(PermuteQ(a16lo, qw3, a16hi));
      } else {
        // a32_k lane L: channels 16L + 4k .. + 3: a 4 x 4 transpose of 128-bit lanes.
        const __m512i s01a = PermuteQ(a32_0, qlo, a32_1);  // 0L0 1L0 0L1 1L1
        const __m512i s01b = PermuteQ(a32_0, qhi, a32_1);  // 0L2 1L2 0L3 1L3
        const __m512i s23a = PermuteQ(a32_2, qlo, a32_3);
        const __m512i s23b = PermuteQ(a32_2, qhi, a32_3);
        acc[0] = PermuteQ(s01a, qlo2, s23a);
        acc[1] = PermuteQ(s01a, qhi2, s23a);
        acc[2] = PermuteQ(s01b, qlo2, s23b);
        acc[3] = PermuteQ(s01b, qhi2, s23b);
      }
      if (!kInt16) {
        for (int j = 0; j < 4; j++) acc[j] = _mm512_sub_epi32(acc[j], corr[j]);
      }
      if (nc == 64 && elem == 1) {
        __m512i q[4];
        for (int j = 0; j < 4; j++) {
          const __m512 y = crumb_avx512_scale(acc[j], _mm512_loadu_ps(params->mul + c0 + 16 * j),
                                              _mm512_loadu_ps(params->add + c0 + 16 * j));
          q[j] = crumb_avx512_requantize(y, &e);
        }
        const __m512i b = e.type == CRUMB_ELEM_U8 ? crumb_avx512_pack64_u8(q[0], q[1], q[2], q[3])
                                                  : crumb_avx512_pack64_s8(q[0], q[1], q[2], q[3]);
        _mm512_storeu_si512(row + c0, b);
      } else {
        for (size_t j = 0; j < 4 && 16 * j < nc; j++) {
          const size_t cnt = nc - 16 * j < 16 ? nc - 16 * j : 16;
          crumb_avx512_output16(acc[j], params->mul, params->add, &e, row, c0 + 16 * j, cnt);
        }
      }
    }
  }
}

template <bool kInt16, bool kS8>
void Dispatch(size_t c_begin, size_t c_end, size_t nx, size_t ks, const void* const* taps,
              const uint8_t* weights, uint8_t* output, size_t output_stride,
              const crumb_dwconv_params* params) {
  auto* fn = ks == 9 ? Run<kInt16, kS8, 9> : ks == 25 ? Run<kInt16, kS8, 25> : Run<kInt16, kS8, 0>;
  fn(c_begin, c_end, nx, ks, taps, weights, output, output_stride, params);
}

}  // namespace

extern "C" void crumb_q8_qb_dwconv_ukernel_c64__avx512(size_t channels, size_t width, size_t ks,
                                                       const void** input, size_t input_offset,
                                                       const void* zero, const void* weights,
                                                       void* output, size_t output_stride,
                                                       const crumb_dwconv_params* params) {
  if (ks > crumb_dwconv::kMaxPtrs) {  // beyond any real depthwise kernel: the portable kernel
    crumb_q8_qb_dwconv_ukernel_c64__scalar(channels, width, ks, input, input_offset, zero, weights,
                                           output, output_stride, params);
    return;
  }
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const uint64_t bits = params->a_bits;
  const uint64_t max_qa = s8 ? 127u + (1u << (bits - 1)) : (1u << bits) - 1u;
  const bool int16 = (uint64_t)ks * max_qa * params->max_abs_v < 32768u;
  auto* fn = int16 ? (s8 ? Dispatch<true, true> : Dispatch<true, false>)
                   : (s8 ? Dispatch<false, true> : Dispatch<false, false>);
  // A last block of at most 32 channels goes to the AVX2 kernel: half the vector width (two
  // pixels per register for <= 16 channels), the same bits.
  const size_t tail = channels % CRUMB_DWCONV_BLOCK;
  const size_t full = tail != 0 && tail <= 32 ? channels - tail : channels;
  const uint8_t* w = (const uint8_t*)weights;
  crumb_dwconv::ForEachPixelGroup(
      width, ks, input, input_offset, zero, [&](size_t x0, size_t nx, const void* const* taps) {
        uint8_t* out = (uint8_t*)output + x0 * output_stride;
        if (full != 0) fn(0, full, nx, ks, taps, w, out, output_stride, params);
        if (full < channels) {
          crumb_dwconv_avx2_channels(full, channels, nx, ks, taps, w, out, output_stride, params);
        }
      });
}
