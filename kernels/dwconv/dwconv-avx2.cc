// crumb_q8_qb_dwconv_ukernel_c32__avx2: the dwconv contract (kernels/dwconv/dwconv.h) on ymm
// registers, 32 channels (half a weight block) per iteration, the call's output pixels inside it
// so the prepared weights are reused by every pixel. The scheme of dwconv-avx512.cc:
// tap pairs interleaved with vpunpcklbw / vpunpckhbw (activations per pixel, weights once per
// call into a stack buffer), vpmaddubsw + vpaddw while ks * max|qa| * max|v| < 2^15 (S8 codes
// flipped to u8 by xor 0x80, so max|qa| = 127 + 2^(a_bits - 1) for them), vpmaddwd + vpaddd
// otherwise, acc = sum qa' v - za' vsum in int32, kernels/common/epilogue-avx2.h's epilogue.
// The last group of fewer than 32 channels reads its activation bytes through a small copy (no
// byte past a row's `channels` is read) and stores through the partial epilogue.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/common/epilogue-avx2.h"
#include "kernels/dwconv/dwconv.h"

namespace {

constexpr size_t kPairs = 16;  // tap pairs whose prepared weights the stack buffer holds
constexpr size_t kPtrs = 512;  // resolved tap pointers (input_offset applied) held at once

// Loads n (1..32) bytes, zero above; never reads past p[n - 1].
inline __m256i LoadPartial(const uint8_t* p, size_t n) {
  if (n == 16) return _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i*)p));
  alignas(32) uint8_t buf[32] = {0};
  memcpy(buf, p, n);
  return _mm256_load_si256((const __m256i*)buf);
}

// KS: the taps as a compile-time constant (0: ks at run time, <= kPtrs).
template <bool kInt16, bool kS8, size_t KS>
void Run(size_t channels, size_t width, size_t ks_arg, const void** input, size_t input_offset,
         const void* zero, const uint8_t* weights, uint8_t* output, size_t output_stride,
         const crumb_dwconv_params* params) {
  const size_t ks = KS ? KS : ks_arg;
  const crumb_epilogue_avx2 e = crumb_epilogue_avx2_init(&params->out);
  const size_t elem = params->out.type == CRUMB_ELEM_F32 ? 4 : 1;
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  const __m256i vza = _mm256_set1_epi32(params->a_zero_point + (kS8 ? 128 : 0));
  const __m256i vzero = _mm256_setzero_si256();
  const size_t pairs = (ks + 1) / 2;
  const bool chunked = pairs > kPairs;
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  alignas(32) __m256i wbuf[kPairs * 4];

  // Pixels in groups whose tap pointers fit kPtrs, resolved once for all channel groups.
  const uint8_t* ptrs[kPtrs];
  const size_t group = kPtrs / ks;
  for (size_t x0 = 0; x0 < width; x0 += group) {
    const size_t nx = width - x0 < group ? width - x0 : group;
    for (size_t i = 0; i < nx * ks; i++) {
      const uint8_t* r = (const uint8_t*)input[x0 * ks + i];
      ptrs[i] = r == (const uint8_t*)zero ? r : r + input_offset;
    }
    for (size_t c0 = 0; c0 < channels; c0 += 32) {
      const size_t nc = channels - c0 < 32 ? channels - c0 : 32;
      const uint8_t* block = weights + c0 / CRUMB_DWCONV_BLOCK * block_bytes;
      const size_t half = c0 % CRUMB_DWCONV_BLOCK;  // 0 or 32: the half of the 64-channel block
      const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4) + half;
      __m256i corr[4];
      for (int j = 0; j < 4; j++) {
        corr[j] = _mm256_mullo_epi32(
            vza, _mm256_loadu_si256((const __m256i*)(block + 4 * (half + 8 * j))));
      }
      auto build = [&](size_t p0, size_t p1) {
        for (size_t p = p0; p < p1; p++) {
          const size_t t0 = 2 * p, t1 = 2 * p + 1;
          const __m256i v0 = _mm256_loadu_si256((const __m256i*)(v + t0 * 64));
          const __m256i v1 = t1 < ks ? _mm256_loadu_si256((const __m256i*)(v + t1 * 64)) : vzero;
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

      for (size_t x = 0; x < nx; x++) {
        const uint8_t* const* taps = ptrs + x * ks;
        __m256i a16lo = vzero, a16hi = vzero;
        __m256i a32_0 = vzero, a32_1 = vzero, a32_2 = vzero, a32_3 = vzero;
        for (size_t p0 = 0; p0 < pairs; p0 += kPairs) {
          const size_t p1 = pairs - p0 < kPairs ? pairs : p0 + kPairs;
          if (chunked) build(p0, p1);
#pragma GCC unroll 16
          for (size_t p = p0; p < p1; p++) {
            const size_t t0 = 2 * p, t1 = 2 * p + 1 < ks ? 2 * p + 1 : 2 * p;
            const uint8_t* r0 = taps[t0];
            const uint8_t* r1 = taps[t1];
            __m256i a0, a1;
            if (nc == 32) {
              a0 = _mm256_loadu_si256((const __m256i*)(r0 + c0));
              a1 = _mm256_loadu_si256((const __m256i*)(r1 + c0));
            } else {
              a0 = LoadPartial(r0 + c0, nc);
              a1 = LoadPartial(r1 + c0, nc);
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
        // Channel-ordered int32 accumulators acc[j] = channels c0 + 8 j .. + 7.
        __m256i acc[4];
        if (kInt16) {
          // a16lo lane L: channels 16L + 0..7, a16hi lane L: 16L + 8..15.
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
        }
        for (int j = 0; j < 4; j++) acc[j] = _mm256_sub_epi32(acc[j], corr[j]);
        uint8_t* row = output + (x0 + x) * output_stride;
        if (nc == 32 && elem == 1) {
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
    }
  }
}

template <bool kInt16, bool kS8>
void Dispatch(size_t channels, size_t width, size_t ks, const void** input, size_t input_offset,
              const void* zero, const uint8_t* weights, uint8_t* output, size_t output_stride,
              const crumb_dwconv_params* params) {
  auto* fn = ks == 9 ? Run<kInt16, kS8, 9> : ks == 25 ? Run<kInt16, kS8, 25> : Run<kInt16, kS8, 0>;
  fn(channels, width, ks, input, input_offset, zero, weights, output, output_stride, params);
}

}  // namespace

extern "C" void crumb_q8_qb_dwconv_ukernel_c32__avx2(size_t channels, size_t width, size_t ks,
                                                     const void** input, size_t input_offset,
                                                     const void* zero, const void* weights,
                                                     void* output, size_t output_stride,
                                                     const crumb_dwconv_params* params) {
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const uint64_t bits = params->a_bits;
  const uint64_t max_qa = s8 ? 127u + (1u << (bits - 1)) : (1u << bits) - 1u;
  const bool int16 = (uint64_t)ks * max_qa * params->max_abs_v < 32768u;
  if (ks > kPtrs) {  // beyond any real depthwise kernel: the portable kernel, the same bits
    crumb_q8_qb_dwconv_ukernel_c64__scalar(channels, width, ks, input, input_offset, zero, weights,
                                           output, output_stride, params);
    return;
  }
  auto* fn = int16 ? (s8 ? Dispatch<true, true> : Dispatch<true, false>)
                   : (s8 ? Dispatch<false, true> : Dispatch<false, false>);
  fn(channels, width, ks, input, input_offset, zero, (const uint8_t*)weights, (uint8_t*)output,
     output_stride, params);
}
