// crumb_q8_qb_dwconv_ukernel_c32__avx2: the dwconv contract (kernels/dwconv/dwconv.h) on ymm
// registers, 32 channels (half a weight block) per iteration, the call's output pixels inside it
// so the prepared weights are reused by every pixel. The scheme of dwconv-avx512.cc: tap pairs
// interleaved with vpunpcklbw / vpunpckhbw (activations per pixel, weights once per call into a
// stack buffer), S8 codes flipped to u8, vpmaddubsw + vpaddw from -za' vsum while
// ks * max|qa'| * max|v| < 2^15, vpmaddwd + vpaddd otherwise, kernels/common/epilogue-avx2.h's
// epilogue. A last group of fewer than 32 channels reads its activation bytes through a small
// copy (no byte past a row's `channels` is read); with integer outputs of the int16 path and at
// most 16 channels it runs two output pixels per register, one per 128-bit lane.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/internal.h"

namespace {

constexpr size_t kPairs = 16;  // tap pairs whose prepared weights the stack buffer holds

// Loads n (1..32) bytes, zero above; never reads past p[n - 1].
inline __m256i LoadPartial(const uint8_t* p, size_t n) {
  if (n == 16) return _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i*)p));
  alignas(32) uint8_t buf[32] = {0};
  memcpy(buf, p, n);
  return _mm256_load_si256((const __m256i*)buf);
}

// n (1..16) bytes of p0 in the low lane, of p1 in the high lane, zero above n in each.
inline __m256i LoadTwo(const uint8_t* p0, const uint8_t* p1, size_t n) {
  if (n == 16) return _mm256_loadu2_m128i((const __m128i*)p1, (const __m128i*)p0);
  alignas(32) uint8_t buf[32] = {0};
  memcpy(buf, p0, n);
  memcpy(buf + 16, p1, n);
  return _mm256_load_si256((const __m256i*)buf);
}

// How a group of channels is processed: 32 channels; the last group of fewer than 32; or (integer
// outputs of the int16 path) a last group of at most 16 channels with two output pixels per
// register, one in each 128-bit lane.
enum Mode { kFull = 0, kPartial = 1, kTwoPixels = 2 };

// Channels [c_begin, c_end) of nx output pixels whose taps are resolved (internal.h). KS: the
// taps as a compile-time constant (0: ks at run time).
template <bool kInt16, bool kS8, size_t KS>
void Run(size_t c_begin, size_t c_end, size_t nx, size_t ks_arg, const void* const* ptrs,
         const uint8_t* weights, uint8_t* output, size_t output_stride,
         const crumb_dwconv_params* params) {
  const size_t ks = KS ? KS : ks_arg;
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&params->out);
  const size_t elem = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  // Integer outputs of the int16 path: the accumulators start at -za' vsum (int16 words) and are
  // widened (vpmaddwd by (1, 0), vpsrad) into even and odd words, mul / add permuted to match once
  // per group, and one vpshufb restores the byte order after the packs (as in dwconv-avx512.cc).
  const bool fast = kInt16 && elem == 1;
  // vpmaddwd with (1, 0) word pairs: the even word of each dword, sign-extended.
  const __m256i even = _mm256_set1_epi32(1);
  const int32_t za = params->a_zero_point + (kS8 ? 128 : 0);
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  const __m256i vza = _mm256_set1_epi32(za);
  const __m256i vzero = _mm256_setzero_si256();
  const __m256i fix = _mm256_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15, 0, 4,
                                       1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  const size_t pairs = (ks + 1) / 2;
  const bool chunked = pairs > kPairs;
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  alignas(32) __m256i wbuf[kPairs * 4];

  for (size_t c0 = c_begin; c0 < c_end; c0 += 32) {
    const size_t nc = c_end - c0 < 32 ? c_end - c0 : 32;
    const Mode mode = nc == 32 ? kFull : fast && nc <= 16 ? kTwoPixels : kPartial;
    const bool two = mode == kTwoPixels;
    const uint8_t* block = weights + c0 / CRUMB_DWCONV_BLOCK * block_bytes;
    const size_t half = c0 % CRUMB_DWCONV_BLOCK;  // 0 or 32: the half of the 64-channel block
    const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4) + half;
    const int32_t* vsum = (const int32_t*)block + half;
    __m256i corr[4];  // za' vsum, channels 8 j .. 8 j + 7 (padding channels: vsum 0)
    for (int j = 0; j < 4; j++) {
      corr[j] = _mm256_mullo_epi32(vza, _mm256_loadu_si256((const __m256i*)(vsum + 8 * j)));
    }
    // int16 accumulators: lo lane L holds channels 16L + 0..7, hi 16L + 8..15 (two pixels: lane
    // L is pixel L, channels 0..15 in both). They start at -za' vsum modulo 2^16: each int32
    // sign-extended from its low 16 bits, so that vpackssdw truncates exactly.
    __m256i c16lo = vzero, c16hi = vzero;
    if (kInt16) {
      __m256i t[4];
      for (int j = 0; j < 4; j++) {
        t[j] = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_sub_epi32(vzero, corr[j]), 16), 16);
      }
      // vpackssdw interleaves 4-word groups by lane; vpermq restores channel order.
      const __m256i r0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(t[0], t[1]), 0xD8);
      const __m256i r1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(t[2], t[3]), 0xD8);
      c16lo = _mm256_permute2x128_si256(r0, two ? r0 : r1, 0x20);
      c16hi = _mm256_permute2x128_si256(r0, two ? r0 : r1, 0x31);
    }
    // Integer outputs: mul / add in the order of the widened accumulators, vector k (E_lo,
    // O_lo, E_hi, O_hi) lane L = channels 16L + 8 (k >> 1) + (k & 1) + 0, 2, 4, 6.
    __m256 mulp[4], addp[4];
    for (int k = 0; k < 4; k++) mulp[k] = addp[k] = _mm256_setzero_ps();
    if (fast) {
      const __m256i evens_odds = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
      const float* arrays[2] = {params->mul + c0, params->add + c0};
      for (int a = 0; a < 2; a++) {
        __m256* out = a == 0 ? mulp : addp;
        for (size_t h = 0; h < 2; h++) {
          const size_t na = nc > 8 * h ? nc - 8 * h : 0, nb = nc > 16 + 8 * h ? nc - 16 - 8 * h : 0;
          const __m256 pa = _mm256_permutevar8x32_ps(
              crumb_avx2_load_partial_ps(arrays[a] + 8 * h, na), evens_odds);
          const __m256 pb =
              two ? pa
                  : _mm256_permutevar8x32_ps(crumb_avx2_load_partial_ps(arrays[a] + 16 + 8 * h, nb),
                                             evens_odds);
          out[2 * h] = _mm256_permute2f128_ps(pa, pb, 0x20);
          out[2 * h + 1] = _mm256_permute2f128_ps(pa, pb, 0x31);
        }
      }
    }
    auto build = [&](size_t p0, size_t p1) {
      for (size_t p = p0; p < p1; p++) {
        const size_t t0 = 2 * p, t1 = 2 * p + 1;
        __m256i v0, v1 = vzero;
        if (two) {
          v0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(v + t0 * 64)));
          if (t1 < ks) {
            v1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(v + t1 * 64)));
          }
        } else {
          v0 = _mm256_loadu_si256((const __m256i*)(v + t0 * 64));
          if (t1 < ks) v1 = _mm256_loadu_si256((const __m256i*)(v + t1 * 64));
        }
        const __m256i lo = _mm256_unpacklo_epi8(v0, v1);
        const __m256i hi = _mm256_unpackhi_epi8(v0, v1);
        __m256i* w = wbuf + (p - p0) * (kInt16 ? 2 : 4);
        if (kInt16) {
          w[0] = lo;
          w[1] = hi;
        } else {
          const __m256i slo = _mm256_cmpgt_epi8(vzero, lo), shi = _mm256_cmpgt_epi8(vzero, hi);
          w[0] = _mm256_unpacklo_epi8(lo, slo);
          w[1] = _mm256_unpackhi_epi8(lo, slo);
          w[2] = _mm256_unpacklo_epi8(hi, shi);
          w[3] = _mm256_unpackhi_epi8(hi, shi);
        }
      }
    };
    if (!chunked) build(0, pairs);

    auto pixels = [&](auto mode_tag) {
      constexpr Mode M = decltype(mode_tag)::value;
      for (size_t x = 0; x < nx; x += M == kTwoPixels ? 2 : 1) {
        const void* const* taps = ptrs + x * ks;
        const void* const* taps1 = M == kTwoPixels && x + 1 < nx ? taps + ks : taps;
        __m256i a16lo = c16lo, a16hi = c16hi;
        __m256i a32_0 = vzero, a32_1 = vzero, a32_2 = vzero, a32_3 = vzero;
        for (size_t p0 = 0; p0 < pairs; p0 += kPairs) {
          const size_t p1 = pairs - p0 < kPairs ? pairs : p0 + kPairs;
          if (chunked) build(p0, p1);
#pragma GCC unroll 16
          for (size_t p = p0; p < p1; p++) {
            const size_t t0 = 2 * p, t1 = 2 * p + 1 < ks ? 2 * p + 1 : 2 * p;
            __m256i a0, a1;
            if (M == kFull) {
              a0 = _mm256_loadu_si256((const __m256i*)((const uint8_t*)taps[t0] + c0));
              a1 = _mm256_loadu_si256((const __m256i*)((const uint8_t*)taps[t1] + c0));
            } else if (M == kTwoPixels) {
              a0 = LoadTwo((const uint8_t*)taps[t0] + c0, (const uint8_t*)taps1[t0] + c0, nc);
              a1 = LoadTwo((const uint8_t*)taps[t1] + c0, (const uint8_t*)taps1[t1] + c0, nc);
            } else {
              a0 = LoadPartial((const uint8_t*)taps[t0] + c0, nc);
              a1 = LoadPartial((const uint8_t*)taps[t1] + c0, nc);
            }
            if (kS8) {
              a0 = _mm256_xor_si256(a0, flip);
              a1 = _mm256_xor_si256(a1, flip);
            }
            const __m256i lo = _mm256_unpacklo_epi8(a0, a1);
            const __m256i hi = _mm256_unpackhi_epi8(a0, a1);
            const __m256i* w = wbuf + (p - p0) * (kInt16 ? 2 : 4);
            if (kInt16) {
              a16lo = _mm256_add_epi16(a16lo, _mm256_maddubs_epi16(lo, w[0]));
              a16hi = _mm256_add_epi16(a16hi, _mm256_maddubs_epi16(hi, w[1]));
            } else {
              a32_0 =
                  _mm256_add_epi32(a32_0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, vzero), w[0]));
              a32_1 =
                  _mm256_add_epi32(a32_1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, vzero), w[1]));
              a32_2 =
                  _mm256_add_epi32(a32_2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, vzero), w[2]));
              a32_3 =
                  _mm256_add_epi32(a32_3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, vzero), w[3]));
            }
          }
        }
        uint8_t* row = output + x * output_stride;
        if (fast) {
          const __m256i x4[4] = {_mm256_madd_epi16(a16lo, even), _mm256_srai_epi32(a16lo, 16),
                                 _mm256_madd_epi16(a16hi, even), _mm256_srai_epi32(a16hi, 16)};
          __m256i q[4];
          for (int k = 0; k < 4; k++) {
            q[k] = crumb_avx2_requantize(crumb_avx2_scale(x4[k], mulp[k], addp[k]), &e);
          }
          // Lane L bytes after the packs: channels 16L + 0 2 4 6 1 3 5 7 8 10 12 14 9 11 13 15.
          const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
          const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
          const __m256i b = e.type == CRUMB_ELEM_U8 ? _mm256_packus_epi16(w01, w23)
                                                    : _mm256_packs_epi16(w01, w23);
          const __m256i ordered = _mm256_shuffle_epi8(b, fix);
          if (M == kFull) {
            _mm256_storeu_si256((__m256i*)(row + c0), ordered);
          } else if (M == kTwoPixels && nc == 16) {
            _mm_storeu_si128((__m128i*)(row + c0), _mm256_castsi256_si128(ordered));
            if (x + 1 < nx) {
              _mm_storeu_si128((__m128i*)(row + output_stride + c0),
                               _mm256_extracti128_si256(ordered, 1));
            }
          } else {
            alignas(32) uint8_t buf[32];
            _mm256_store_si256((__m256i*)buf, ordered);
            if (M == kTwoPixels) {
              memcpy(row + c0, buf, nc);
              if (x + 1 < nx) memcpy(row + output_stride + c0, buf + 16, nc);
            } else {
              memcpy(row + c0, buf, nc);
            }
          }
          continue;
        }
        // Channel-ordered int32 accumulators acc[j] = channels c0 + 8 j .. + 7.
        __m256i acc[4];
        if (kInt16) {
          // a16lo lane L: channels 16L + 0..7, a16hi lane L: 16L + 8..15; -za' vsum included.
          acc[0] = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16lo));
          acc[1] = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16hi));
          acc[2] = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16lo, 1));
          acc[3] = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16hi, 1));
        } else {
          // a32_k lane L: channels 16L + 4k .. + 3.
          acc[0] = _mm256_permute2x128_si256(a32_0, a32_1, 0x20);
          acc[1] = _mm256_permute2x128_si256(a32_2, a32_3, 0x20);
          acc[2] = _mm256_permute2x128_si256(a32_0, a32_1, 0x31);
          acc[3] = _mm256_permute2x128_si256(a32_2, a32_3, 0x31);
          for (int j = 0; j < 4; j++) acc[j] = _mm256_sub_epi32(acc[j], corr[j]);
        }
        if (M == kFull && elem == 1) {
          __m256i q[4];
          for (int j = 0; j < 4; j++) {
            q[j] = crumb_avx2_requantize(
                crumb_avx2_scale_load(acc[j], params->mul + c0 + 8 * j, params->add + c0 + 8 * j),
                &e);
          }
          const __m256i b = e.type == CRUMB_ELEM_U8 ? crumb_avx2_pack32_u8(q[0], q[1], q[2], q[3])
                                                    : crumb_avx2_pack32_s8(q[0], q[1], q[2], q[3]);
          _mm256_storeu_si256((__m256i*)(row + c0), b);
        } else {
          for (size_t j = 0; j < 4 && 8 * j < nc; j++) {
            const size_t cnt = nc - 8 * j < 8 ? nc - 8 * j : 8;
            crumb_avx2_output_partial(acc[j], params->mul, params->add, &e, row, c0 + 8 * j, cnt);
          }
        }
      }
    };
    if (mode == kFull) {
      pixels(std::integral_constant<Mode, kFull>());
    } else if (mode == kTwoPixels) {
      pixels(std::integral_constant<Mode, kTwoPixels>());
    } else {
      pixels(std::integral_constant<Mode, kPartial>());
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

extern "C" void crumb_dwconv_avx2_channels(size_t c_begin, size_t c_end, size_t width, size_t ks,
                                           const void* const* taps, const uint8_t* weights,
                                           uint8_t* output, size_t output_stride,
                                           const crumb_dwconv_params* params) {
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const uint64_t bits = params->a_bits;
  const uint64_t max_qa = s8 ? 127u + (1u << (bits - 1)) : (1u << bits) - 1u;
  const bool int16 = (uint64_t)ks * max_qa * params->max_abs_v < 32768u;
  auto* fn = int16 ? (s8 ? Dispatch<true, true> : Dispatch<true, false>)
                   : (s8 ? Dispatch<false, true> : Dispatch<false, false>);
  fn(c_begin, c_end, width, ks, taps, weights, output, output_stride, params);
}

extern "C" void crumb_q8_qb_dwconv_ukernel_c32__avx2(size_t channels, size_t width, size_t ks,
                                                     const void** input, size_t input_offset,
                                                     const void* zero, const void* weights,
                                                     void* output, size_t output_stride,
                                                     const crumb_dwconv_params* params) {
  if (ks > crumb_dwconv::kMaxPtrs) {  // beyond any real depthwise kernel: the portable kernel
    crumb_q8_qb_dwconv_ukernel_c64__scalar(channels, width, ks, input, input_offset, zero, weights,
                                           output, output_stride, params);
    return;
  }
  crumb_dwconv::ForEachPixelGroup(
      width, ks, input, input_offset, zero, [&](size_t x0, size_t nx, const void* const* taps) {
        crumb_dwconv_avx2_channels(0, channels, nx, ks, taps, (const uint8_t*)weights,
                                   (uint8_t*)output + x0 * output_stride, output_stride, params);
      });
}
