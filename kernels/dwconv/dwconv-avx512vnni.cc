// crumb_q8_qb_dwconv_ukernel_c64__avx512vnni: the dwconv contract (kernels/dwconv/dwconv.h) with
// AVX512-VNNI's vpdpbusd, one 64-channel weight block per iteration (masked for a last block of
// 33..63 channels; a last block of <= 32 channels goes to the AVX2 kernel, as in the AVX-512
// kernel), the call's output pixels inside it so the block's prepared weights are reused.
//
// Why VNNI: vpdpbusd sums 4 adjacent u8 x s8 products into an int32 lane, so with the activations
// of 4 taps of one channel in one dword it does 64 MACs and the accumulation in one instruction,
// straight into int32 (no int16 chain, no widening, no bound on ks * |qa| * |v|: W8A8 runs the same
// code). Taps go in quads: the 4 tap vectors are interleaved with vpunpck{l,h}bw then
// vpunpck{l,h}wd (8 shuffles per 4 taps), giving 4 vectors Q_i whose 128-bit lane L dword j holds
// channel 16 L + 4 i + j; the weights are interleaved the same way once per call. A single last
// tap (ks = 9, 25: ks % 4 == 1) costs one vpshufb (a 4 x 4 byte transpose per lane: dword j byte i
// becomes channel 16 L + 4 i + j) and 4 vpdpbusd under weights that are zero outside byte i; 2 or 3
// leftover taps are a quad padded with zero weights.
//
// That layout is the one the packs want: vpackssdw (Q0, Q1), (Q2, Q3) then vpackuswb / vpacksswb
// leave lane L's bytes in channel order 16 L .. 16 L + 15, so the integer epilogue needs no final
// permutation; mul / add / the za correction are put in the layout once per block.
// Activations are read raw (S8 flipped to u8 by xor 0x80): acc = sum qa' v - za' vsum, the
// accumulators starting at -za' vsum (wrapping int32; acc itself fits int32).
//
// The integer epilogue is requant.h's rule with fewer instructions, same bits: y = float(acc) *
// mul + add (vmulps, vaddps, never fused), then only vminps(hi', y) with hi' = qmax - z, vcvtps2dq
// (RNE), and the rest in integers: clamping y to [lo', hi'] before rounding equals clamping
// round(y) after it (the bounds are integers, rounding is monotonic), and everything below lo'
// may saturate anywhere on the way as long as it stays below: vcvtps2dq gives INT_MIN for y <
// -2^31, vpackssdw saturates to -32768, vpaddsw adds z as int16 (exact for r in [-32768 + ..,
// hi'], r + z <= qmax), vpackuswb / vpacksswb saturate to the type's range ⊇ [qmin, qmax], and a
// byte max / min with qmin / qmax (skipped when they are the type's bounds) finishes the clamp.
// The one float compare left is needed: vcvtps2dq would turn y >= 2^31 into INT_MIN too.
// Float outputs take kernels/common/epilogue-avx512.h's path after a lane transpose.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>

#include "kernels/common/epilogue-avx512.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/dwconv/internal.h"

namespace {

// Taps whose prepared weights the stack buffer holds (quads of 4 vectors, the single tap's 4);
// larger kernels go to the AVX-512 kernel.
constexpr size_t kMaxTaps = 64;
// Pixels ahead of the sliding loop whose new lines are prefetched.
constexpr size_t kAhead = 8;

#define ALL8 ((__mmask64)~0ULL)

inline __m512i PermuteQ(__m512i a, __m512i idx, __m512i b) {
  return _mm512_maskz_permutex2var_epi64((__mmask8)0xFF, a, idx, b);
}

// A bound on |acc| from the contract's bounds (dwconv.h: |qa' - za'| <= max|qa'|, |v| <=
// max_abs_v).
inline float AccBound(const crumb_dwconv_params* p, size_t ks) {
  const uint64_t bits = p->a_bits;
  const uint64_t max_qa =
      p->a_type == CRUMB_ELEM_S8 ? 127u + (1u << (bits - 1)) : (1u << bits) - 1u;
  return (float)((uint64_t)ks * max_qa * p->max_abs_v);
}

// Whether |float(acc) * mul + add| < 2^31 for every |acc| <= bound and the lanes of mul / add:
// then vcvtps2dq cannot overflow, the high side saturates through the packs like the low side,
// and the epilogue's one vminps can go (4 of ~50 instructions per 64 channels and pixel). The
// test is on |mul| bound + |add| <= 2^30 computed in float (two roundings of 2^-24 each cannot
// reach 2^31); NaN or infinite mul / add fail it and keep the vminps.
inline bool NoOverflow(const __m512 mul[4], const __m512 add[4], float bound) {
  const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF);
  const __m512 vb = _mm512_set1_ps(bound), lim = _mm512_set1_ps(1073741824.0f);
  __mmask16 ok = 0xFFFF;
  for (int i = 0; i < 4; i++) {
    const __m512 m = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(mul[i]), abs));
    const __m512 a = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(add[i]), abs));
    const __m512 y = _mm512_add_ps(_mm512_mul_ps(m, vb), a);
    ok &= _mm512_mask_cmp_ps_mask(CRUMB_AVX512_ALL, y, lim, _CMP_LE_OQ);
  }
  return ok == 0xFFFF;
}

// 128-bit lane L of x (vextracti32x4 written as a vector shuffle: GCC 12's extract intrinsics warn
// -Wmaybe-uninitialized wherever they are inlined, see epilogue-avx512.h).
template <int L>
inline __m128i Lane(__m512i x) {
  typedef long long v8di __attribute__((vector_size(64)));
  return (__m128i)__builtin_shufflevector((v8di)x, (v8di)x, 2 * L, 2 * L + 1);
}

// The 4 x 4 transpose of 128-bit lanes: out[i] lane L = in[L] lane i (an involution, so it maps
// channel order to the quad layout and back).
inline void TransposeLanes(const __m512i in[4], __m512i out[4]) {
  const __m512i qlo = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  const __m512i qhi = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const __m512i qlo2 = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
  const __m512i qhi2 = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  const __m512i s01a = PermuteQ(in[0], qlo, in[1]);
  const __m512i s01b = PermuteQ(in[0], qhi, in[1]);
  const __m512i s23a = PermuteQ(in[2], qlo, in[3]);
  const __m512i s23b = PermuteQ(in[2], qhi, in[3]);
  out[0] = PermuteQ(s01a, qlo2, s23a);
  out[1] = PermuteQ(s01a, qhi2, s23a);
  out[2] = PermuteQ(s01b, qlo2, s23b);
  out[3] = PermuteQ(s01b, qhi2, s23b);
}

// The quad interleave of 4 byte vectors (taps): q[i] lane L dword j = bytes (x0, x1, x2, x3) of
// byte 4 i + j of lane L.
inline void Interleave4(__m512i x0, __m512i x1, __m512i x2, __m512i x3, __m512i q[4]) {
  const __m512i p01lo = _mm512_unpacklo_epi8(x0, x1), p01hi = _mm512_unpackhi_epi8(x0, x1);
  const __m512i p23lo = _mm512_unpacklo_epi8(x2, x3), p23hi = _mm512_unpackhi_epi8(x2, x3);
  q[0] = _mm512_unpacklo_epi16(p01lo, p23lo);
  q[1] = _mm512_unpackhi_epi16(p01lo, p23lo);
  q[2] = _mm512_unpacklo_epi16(p01hi, p23hi);
  q[3] = _mm512_unpackhi_epi16(p01hi, p23hi);
}

// Consecutive output pixels [x, x + n) of a call.
struct Piece {
  uint32_t x, n;
};
// Pieces one Run takes: a block's prepared weights and epilogue constants (~80 instructions) are
// reused over all of them, so a 7x7 map (7 sliding rows of 7 pixels) prepares each block once,
// not once per row.
constexpr size_t kMaxPieces = 64;

// Channels [c_begin, c_end) of the pixels of `pieces` (indices into ptrs / output), whose taps
// are resolved (internal.h). KS: the taps as a compile-time constant (0: ks at run time). kSlide:
// every piece is a sliding 3x3 window (SlidingPieces).
template <bool kS8, size_t KS, bool kSlide>
void Run(size_t c_begin, size_t c_end, const Piece* pieces, size_t npieces, size_t ks_arg,
         const void* const* ptrs, const uint8_t* weights, uint8_t* output, size_t output_stride,
         const crumb_dwconv_params* params) {
  static_assert(!kSlide || KS == 9, "the sliding window is for 3x3 kernels");
  const size_t ks = KS ? KS : ks_arg;
  const crumb_epilogue_avx512 e = crumb_epilogue_avx512_init(&params->out);
  const bool fast = params->out.type != CRUMB_ELEM_F32;
  const bool u8 = params->out.type == CRUMB_ELEM_U8;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  const __m512i vza = _mm512_set1_epi32(params->a_zero_point + (kS8 ? 128 : 0));
  const __m512i vzero = _mm512_setzero_si512();
  const __m512 hi = e.hi;
  const __m512i z16 = _mm512_set1_epi16((short)params->out.zero_point);
  const bool clamp = fast && (u8 ? params->out.qmin > 0 || params->out.qmax < 255
                                 : params->out.qmin > -128 || params->out.qmax < 127);
  const __m512i qmin8 = _mm512_set1_epi8((char)params->out.qmin);
  const __m512i qmax8 = _mm512_set1_epi8((char)params->out.qmax);
  const size_t quads = ks % 4 == 1 ? ks / 4 : (ks + 3) / 4;
  const bool single = ks % 4 == 1;
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  // The single tap's transpose: byte 4 j + i of a lane takes byte 4 i + j.
  const __m512i tr = _mm512_maskz_broadcast_i32x4(
      CRUMB_AVX512_ALL, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  alignas(64) __m512i wbuf[(kMaxTaps / 4 + 1) * 4];

  for (size_t c0 = c_begin; c0 < c_end; c0 += CRUMB_DWCONV_BLOCK) {
    const size_t nc = c_end - c0 < 64 ? c_end - c0 : 64;
    const __mmask64 m = nc == 64 ? ALL8 : (__mmask64)((1ULL << nc) - 1);
    const uint8_t* block = weights + c0 / CRUMB_DWCONV_BLOCK * block_bytes;
    const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4);
    // -za' vsum and (integer outputs) mul / add in the quad layout.
    __m512i corr[4], mq[4], aq[4];
    bool nomin = false;
    {
      __m512i t[4];
      for (int j = 0; j < 4; j++) {
        t[j] = _mm512_sub_epi32(vzero, _mm512_mullo_epi32(vza, _mm512_loadu_si512(block + 64 * j)));
      }
      TransposeLanes(t, corr);
      if (fast) {
        for (int j = 0; j < 4; j++) {
          const __mmask16 k = crumb_avx512_mask16(nc > 16 * (size_t)j ? nc - 16 * j : 0);
          t[j] = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, params->mul + c0 + 16 * j));
        }
        TransposeLanes(t, mq);
        for (int j = 0; j < 4; j++) {
          const __mmask16 k = crumb_avx512_mask16(nc > 16 * (size_t)j ? nc - 16 * j : 0);
          t[j] = _mm512_castps_si512(_mm512_maskz_loadu_ps(k, params->add + c0 + 16 * j));
        }
        TransposeLanes(t, aq);
        __m512 mf[4], af[4];
        for (int i = 0; i < 4; i++) {
          mf[i] = _mm512_castsi512_ps(mq[i]);
          af[i] = _mm512_castsi512_ps(aq[i]);
        }
        nomin = NoOverflow(mf, af, AccBound(params, ks));
      }
    }
    if (kSlide) {
      // Column quads: W_c = taps (0, c), (1, c), (2, c) and a zero 4th tap.
      for (size_t c = 0; c < 3; c++) {
        Interleave4(_mm512_loadu_si512(v + c * 64), _mm512_loadu_si512(v + (3 + c) * 64),
                    _mm512_loadu_si512(v + (6 + c) * 64), vzero, wbuf + 4 * c);
      }
    }
    for (size_t q = 0; q < (kSlide ? 0 : quads); q++) {
      __m512i x[4];
      for (size_t i = 0; i < 4; i++) {
        const size_t t = 4 * q + i;
        x[i] = t < ks ? _mm512_loadu_si512(v + t * 64) : vzero;
      }
      Interleave4(x[0], x[1], x[2], x[3], wbuf + 4 * q);
    }
    if (single && !kSlide) {
      const __m512i w = _mm512_loadu_si512(v + (ks - 1) * 64);
      for (int i = 0; i < 4; i++) {
        wbuf[4 * quads + i] =
            _mm512_maskz_shuffle_epi8((__mmask64)(0x1111111111111111ULL << i), w, tr);
      }
    }

    // Sliding window (3x3, stride 1): the interleaved input columns x - 1, x, x + 1 of pixel x;
    // each pixel interleaves only its new column (8 shuffles instead of 17).
    __m512i col[3][4];
    const size_t xlast = pieces[npieces - 1].x + pieces[npieces - 1].n;
    for (size_t pi = 0; pi < npieces; pi++) {
      const size_t xb = pieces[pi].x, nx = xb + pieces[pi].n;
      if (kSlide) {
        for (size_t c = 0; c < 2; c++) {
          const void* const* taps = ptrs + xb * 9;
          auto load = [&](size_t t) {
            const __m512i a = _mm512_maskz_loadu_epi8(m, (const uint8_t*)taps[t] + c0);
            return kS8 ? _mm512_xor_si512(a, flip) : a;
          };
          const __m512i r2 = load(6 + c);
          Interleave4(load(c), load(3 + c), r2, r2, col[c + 1]);
        }
      }
      for (size_t x = xb; x < nx; x++) {
        const void* const* taps = ptrs + x * ks;
        if (kSlide && x + kAhead < nx) {
          // The window's new input row (bottom, column x + 1 + kAhead) and the output of pixel
          // x + kAhead: a layer like 144 @ 56x56 (~1.1 MB with its pointers) is past L2, and
          // these are the lines that come from L3 first.
          const uint8_t* p = (const uint8_t*)taps[kAhead * 9 + 8] + c0;
          _mm_prefetch((const char*)p, _MM_HINT_T0);
          _mm_prefetch((const char*)p + 63, _MM_HINT_T0);
          uint8_t* o = output + (x + kAhead) * output_stride + c0;
          _mm_prefetch((const char*)o, _MM_HINT_ET0);
          _mm_prefetch((const char*)o + 63, _MM_HINT_ET0);
        }
        if (kSlide && c0 == c_begin) {
          // The pointers just past this call's: where a caller that builds one indirection buffer
          // for the whole layer (the runtime, the benchmarks) keeps the next row's. Prefetches
          // never fault, so reading past the array is harmless.
          const char* next = (const char*)(ptrs + 9 * (xlast + x));
          _mm_prefetch(next, _MM_HINT_T1);
          _mm_prefetch(next + 64, _MM_HINT_T1);
        }
        __m512i acc0 = corr[0], acc1 = corr[1], acc2 = corr[2], acc3 = corr[3];
        auto load = [&](size_t t) {
          const __m512i a = _mm512_maskz_loadu_epi8(m, (const uint8_t*)taps[t] + c0);
          return kS8 ? _mm512_xor_si512(a, flip) : a;
        };
        if (kSlide) {
          for (int i = 0; i < 4; i++) {
            col[0][i] = col[1][i];
            col[1][i] = col[2][i];
          }
          // The 4th byte of each quad meets a zero weight: row 2 again is as good as any.
          const __m512i r2 = load(8);
          Interleave4(load(2), load(5), r2, r2, col[2]);
#pragma GCC unroll 3
          for (size_t c = 0; c < 3; c++) {
            const __m512i* w = wbuf + 4 * c;
            acc0 = _mm512_dpbusd_epi32(acc0, col[c][0], w[0]);
            acc1 = _mm512_dpbusd_epi32(acc1, col[c][1], w[1]);
            acc2 = _mm512_dpbusd_epi32(acc2, col[c][2], w[2]);
            acc3 = _mm512_dpbusd_epi32(acc3, col[c][3], w[3]);
          }
        }
#pragma GCC unroll 16
        for (size_t q = 0; q < (kSlide ? 0 : quads); q++) {
          const size_t t = 4 * q, last = ks - 1;
          __m512i a[4];
          // Padding taps of a short last quad read tap ks - 1 again under zero weights.
          for (size_t i = 0; i < 4; i++) a[i] = load(t + i < ks ? t + i : last);
          __m512i qv[4];
          Interleave4(a[0], a[1], a[2], a[3], qv);
          const __m512i* w = wbuf + 4 * q;
          acc0 = _mm512_dpbusd_epi32(acc0, qv[0], w[0]);
          acc1 = _mm512_dpbusd_epi32(acc1, qv[1], w[1]);
          acc2 = _mm512_dpbusd_epi32(acc2, qv[2], w[2]);
          acc3 = _mm512_dpbusd_epi32(acc3, qv[3], w[3]);
        }
        if (single && !kSlide) {
          const __m512i s = _mm512_shuffle_epi8(load(ks - 1), tr);
          const __m512i* w = wbuf + 4 * quads;
          acc0 = _mm512_dpbusd_epi32(acc0, s, w[0]);
          acc1 = _mm512_dpbusd_epi32(acc1, s, w[1]);
          acc2 = _mm512_dpbusd_epi32(acc2, s, w[2]);
          acc3 = _mm512_dpbusd_epi32(acc3, s, w[3]);
        }
        uint8_t* row = output + x * output_stride;
        if (fast) {
          const __m512i acc[4] = {acc0, acc1, acc2, acc3};
          __m512i r[4];
          for (int i = 0; i < 4; i++) {
            const __m512 y =
                crumb_avx512_scale(acc[i], _mm512_castsi512_ps(mq[i]), _mm512_castsi512_ps(aq[i]));
            r[i] = _mm512_maskz_cvtps_epi32(
                CRUMB_AVX512_ALL, nomin ? y : _mm512_maskz_min_ps(CRUMB_AVX512_ALL, hi, y));
          }
          const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(r[0], r[1]), z16);
          const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(r[2], r[3]), z16);
          __m512i b;
          if (u8) {
            b = _mm512_packus_epi16(w01, w23);
            if (clamp) b = _mm512_min_epu8(_mm512_max_epu8(b, qmin8), qmax8);
          } else {
            b = _mm512_packs_epi16(w01, w23);
            if (clamp) b = _mm512_min_epi8(_mm512_max_epi8(b, qmin8), qmax8);
          }
          if (nc == 64) {
            _mm512_storeu_si512(row + c0, b);
          } else {
            _mm512_mask_storeu_epi8(row + c0, m, b);
          }
          continue;
        }
        const __m512i qa[4] = {acc0, acc1, acc2, acc3};
        __m512i acc[4];
        TransposeLanes(qa, acc);
        for (size_t j = 0; j < 4 && 16 * j < nc; j++) {
          const size_t cnt = nc - 16 * j < 16 ? nc - 16 * j : 16;
          crumb_avx512_output16(acc[j], params->mul, params->add, &e, row, c0 + 16 * j, cnt);
        }
      }
    }
  }
}

// Whether the nx pixels' 3x3 taps are a stride-1 window: pixel x + 1's columns 0, 1 are pixel
// x's columns 1, 2 (padding included: both point at the zero row). 8 pointer compares per pixel
// in one vpcmpeqq (taps 0 1 _ 3 4 _ 6 7 of pixel x + 1 against 1 2 _ 4 5 _ 7 8 of pixel x): a
// scalar loop here cost ~6 % of the 144-channel layer.
bool SlidesTo(const void* const* taps, size_t x) {
  const __m512i a = _mm512_loadu_si512(taps + 9 * x + 1);
  const __m512i b = _mm512_loadu_si512(taps + 9 * x + 9);
  return (_mm512_cmpeq_epi64_mask(a, b) & 0xDB) == 0xDB;
}

// The pixels [0, nx) cut where the window stops sliding (a row's end, when the caller passes
// several output rows at once as the runtime does): f(x, n, slide) per piece, in order. Runs of
// at least kMinSlide sliding pixels take the sliding path; the rest are batched unslid, so a
// stride-2 layer still makes one call for all its pixels.
constexpr size_t kMinSlide = 4;
template <typename F>
void SlidingPieces(size_t nx, size_t ks, const void* const* taps, F&& f) {
  if (ks != 9 || nx < 2) {
    f((size_t)0, nx, false);
    return;
  }
  size_t done = 0, x = 0;
  while (x < nx) {
    size_t end = x + 1;
    while (end < nx && SlidesTo(taps, end - 1)) end++;
    if (end - x >= kMinSlide) {
      if (x > done) f(done, x - done, false);
      f(x, end - x, true);
      done = end;
    }
    x = end;
  }
  if (done < nx) f(done, nx - done, false);
}

template <bool kS8>
void Dispatch(size_t c_begin, size_t c_end, const Piece* pieces, size_t npieces, size_t ks,
              bool slide, const void* const* taps, const uint8_t* weights, uint8_t* output,
              size_t output_stride, const crumb_dwconv_params* params) {
  auto* fn = ks == 9    ? (slide ? Run<kS8, 9, true> : Run<kS8, 9, false>)
             : ks == 25 ? Run<kS8, 25, false>
                        : Run<kS8, 0, false>;
  fn(c_begin, c_end, pieces, npieces, ks, taps, weights, output, output_stride, params);
}

// 16 channels [c0, c_end) (c0 a multiple of 16) of a last block of at most 32 channels of a
// sliding 3x3 layer with integer outputs (MobileNetV2's 144 = 2 x 64 + 16, its first depthwise
// layer's 32 channels): the same quads, window and epilogue on xmm registers, where the AVX2
// kernel's int16 path cost ~20 % of the 144-channel layer's time for 11 % of its channels and ran
// the 32-channel one at ~55 GOPS. In 16 channels the quad layout is plain: Q_i = channels 4 i ..
// 4 i + 3, so mul / add / za vsum load directly.
template <bool kS8>
void Tail16Slide(size_t c0, size_t c_end, size_t nx, const void* const* ptrs,
                 const uint8_t* weights, uint8_t* output, size_t output_stride,
                 const crumb_dwconv_params* params) {
  const size_t nc = c_end - c0, off = c0 % CRUMB_DWCONV_BLOCK;
  const __mmask16 m = (__mmask16)((1u << nc) - 1u);
  const uint8_t* block = weights + c0 / CRUMB_DWCONV_BLOCK * crumb_dwconv_block_bytes(9);
  const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4) + off;
  const __m128i flip = _mm_set1_epi8((char)0x80);
  const __m128i vza = _mm_set1_epi32(params->a_zero_point + (kS8 ? 128 : 0));
  const __m128i vzero = _mm_setzero_si128();
  const bool u8 = params->out.type == CRUMB_ELEM_U8;
  const __m128 hi = _mm_set1_ps((float)(params->out.qmax - params->out.zero_point));
  const __m128i z16 = _mm_set1_epi16((short)params->out.zero_point);
  const bool clamp = u8 ? params->out.qmin > 0 || params->out.qmax < 255
                        : params->out.qmin > -128 || params->out.qmax < 127;
  const __m128i qmin8 = _mm_set1_epi8((char)params->out.qmin);
  const __m128i qmax8 = _mm_set1_epi8((char)params->out.qmax);
  __m128i corr[4], w[3][4];
  __m128 mq[4], aq[4];
  for (int i = 0; i < 4; i++) {
    const __mmask8 k =
        (__mmask8)(nc > 4 * (size_t)i ? (nc - 4 * i >= 4 ? 0xF : (1u << (nc - 4 * i)) - 1) : 0);
    corr[i] = _mm_sub_epi32(
        vzero, _mm_mullo_epi32(vza, _mm_loadu_si128((const __m128i*)block + off / 4 + i)));
    mq[i] = _mm_maskz_loadu_ps(k, params->mul + c0 + 4 * i);
    aq[i] = _mm_maskz_loadu_ps(k, params->add + c0 + 4 * i);
  }
  auto interleave = [](__m128i x0, __m128i x1, __m128i x2, __m128i x3, __m128i q[4]) {
    const __m128i p01lo = _mm_unpacklo_epi8(x0, x1), p01hi = _mm_unpackhi_epi8(x0, x1);
    const __m128i p23lo = _mm_unpacklo_epi8(x2, x3), p23hi = _mm_unpackhi_epi8(x2, x3);
    q[0] = _mm_unpacklo_epi16(p01lo, p23lo);
    q[1] = _mm_unpackhi_epi16(p01lo, p23lo);
    q[2] = _mm_unpacklo_epi16(p01hi, p23hi);
    q[3] = _mm_unpackhi_epi16(p01hi, p23hi);
  };
  for (size_t c = 0; c < 3; c++) {
    interleave(_mm_loadu_si128((const __m128i*)(v + c * 64)),
               _mm_loadu_si128((const __m128i*)(v + (3 + c) * 64)),
               _mm_loadu_si128((const __m128i*)(v + (6 + c) * 64)), vzero, w[c]);
  }
  auto column = [&](const void* const* taps, size_t c, __m128i q[4]) {
    __m128i a[3];
    for (size_t r = 0; r < 3; r++) {
      const uint8_t* src = (const uint8_t*)taps[3 * r + c] + c0;
      a[r] = nc == 16 ? _mm_loadu_si128((const __m128i*)src) : _mm_maskz_loadu_epi8(m, src);
      if (kS8) a[r] = _mm_xor_si128(a[r], flip);
    }
    interleave(a[0], a[1], a[2], a[2], q);
  };
  __m128i col[3][4];
  column(ptrs, 0, col[1]);
  column(ptrs, 1, col[2]);
  // Pixel x's accumulators (the window moved to it).
  auto accumulate = [&](size_t x, __m128i acc[4]) {
    for (int i = 0; i < 4; i++) {
      col[0][i] = col[1][i];
      col[1][i] = col[2][i];
    }
    if (x + kAhead < nx) {  // as in Run
      _mm_prefetch((const char*)ptrs[9 * (x + kAhead) + 8] + c0, _MM_HINT_T0);
      _mm_prefetch((const char*)output + (x + kAhead) * output_stride + c0, _MM_HINT_ET0);
    }
    column(ptrs + 9 * x, 2, col[2]);
    for (int i = 0; i < 4; i++) acc[i] = corr[i];
    for (size_t c = 0; c < 3; c++) {
      for (int i = 0; i < 4; i++) acc[i] = _mm_dpbusd_epi32(acc[i], col[c][i], w[c][i]);
    }
  };
  auto store = [&](size_t x, __m128i b) {
    uint8_t* dst = output + x * output_stride + c0;
    if (nc == 16) {
      _mm_storeu_si128((__m128i*)dst, b);
    } else {
      _mm_mask_storeu_epi8(dst, m, b);
    }
  };
  // 4 pixels share one zmm epilogue (lane L: pixel x + L): a quarter of the epilogue's
  // instructions, and 4 independent chains where one pixel's (3 vpdpbusd, then ~20 dependent
  // epilogue steps) left the core waiting.
  __m512 mq4[4], aq4[4];
  for (int i = 0; i < 4; i++) {
    mq4[i] = _mm512_maskz_broadcast_f32x4(CRUMB_AVX512_ALL, mq[i]);
    aq4[i] = _mm512_maskz_broadcast_f32x4(CRUMB_AVX512_ALL, aq[i]);
  }
  const bool nomin = NoOverflow(mq4, aq4, AccBound(params, 9));
  const __m512 hi4 = _mm512_set1_ps((float)(params->out.qmax - params->out.zero_point));
  const __m512i z16x4 = _mm512_set1_epi16((short)params->out.zero_point);
  const __m512i qmin8x4 = _mm512_set1_epi8((char)params->out.qmin);
  const __m512i qmax8x4 = _mm512_set1_epi8((char)params->out.qmax);
  // Groups of 4 pixels accumulate in zmm too (lane L: pixel x + L): row r's taps of column
  // offset 0 are 4 loads (R), offsets 1 and 2 are R shifted by one / two lanes with the two
  // columns after the group appended (valignq), so the 3 x 4 vpdpbusd and the quad shuffles cover
  // 4 pixels at once.
  __m512i w4[3][4], corr4[4];
  for (int i = 0; i < 4; i++) {
    corr4[i] = _mm512_maskz_broadcast_i32x4(CRUMB_AVX512_ALL, corr[i]);
    for (size_t c = 0; c < 3; c++)
      w4[c][i] = _mm512_maskz_broadcast_i32x4(CRUMB_AVX512_ALL, w[c][i]);
  }
  const __m512i flip4 = _mm512_set1_epi8((char)0x80);
  auto load16 = [&](const void* p) {
    const uint8_t* src = (const uint8_t*)p + c0;
    return nc == 16 ? _mm_loadu_si128((const __m128i*)src) : _mm_maskz_loadu_epi8(m, src);
  };
  size_t x = 0;
  for (; x + 4 <= nx; x += 4) {
    const void* const* t = ptrs + 9 * x;
    if (x + 8 + kAhead <= nx) {  // as in Run; pixels x + 4 + kAhead .. + 3 must exist
      for (size_t k = 0; k < 4; k++) {
        _mm_prefetch((const char*)ptrs[9 * (x + 4 + kAhead + k) + 8] + c0, _MM_HINT_T0);
      }
    }
    __m512i rows[3][3];  // [r][column offset]
    for (size_t r = 0; r < 3; r++) {
      __m512i a = _mm512_zextsi128_si512(load16(t[3 * r]));
      a = _mm512_maskz_inserti32x4(CRUMB_AVX512_ALL, a, load16(t[9 + 3 * r]), 1);
      a = _mm512_maskz_inserti32x4(CRUMB_AVX512_ALL, a, load16(t[18 + 3 * r]), 2);
      a = _mm512_maskz_inserti32x4(CRUMB_AVX512_ALL, a, load16(t[27 + 3 * r]), 3);
      // Columns x + 3 and x + 4: pixel x + 3's taps (r, 1), (r, 2).
      __m512i e = _mm512_zextsi128_si512(load16(t[27 + 3 * r + 1]));
      e = _mm512_maskz_inserti32x4(CRUMB_AVX512_ALL, e, load16(t[27 + 3 * r + 2]), 1);
      if (kS8) {
        a = _mm512_xor_si512(a, flip4);
        e = _mm512_xor_si512(e, flip4);
      }
      rows[r][0] = a;
      rows[r][1] = _mm512_maskz_alignr_epi64((__mmask8)0xFF, e, a, 2);
      rows[r][2] = _mm512_maskz_alignr_epi64((__mmask8)0xFF, e, a, 4);
    }
    __m512i acc4[4] = {corr4[0], corr4[1], corr4[2], corr4[3]};
    for (size_t c = 0; c < 3; c++) {
      __m512i q[4];
      Interleave4(rows[0][c], rows[1][c], rows[2][c], rows[2][c], q);
      for (int i = 0; i < 4; i++) acc4[i] = _mm512_dpbusd_epi32(acc4[i], q[i], w4[c][i]);
    }
    __m512i r[4];
    for (int i = 0; i < 4; i++) {
      const __m512i a = acc4[i];
      const __m512 y = crumb_avx512_scale(a, mq4[i], aq4[i]);
      r[i] = _mm512_maskz_cvtps_epi32(CRUMB_AVX512_ALL,
                                      nomin ? y : _mm512_maskz_min_ps(CRUMB_AVX512_ALL, hi4, y));
    }
    const __m512i w01 = _mm512_adds_epi16(_mm512_packs_epi32(r[0], r[1]), z16x4);
    const __m512i w23 = _mm512_adds_epi16(_mm512_packs_epi32(r[2], r[3]), z16x4);
    __m512i b;
    if (u8) {
      b = _mm512_packus_epi16(w01, w23);
      if (clamp) b = _mm512_min_epu8(_mm512_max_epu8(b, qmin8x4), qmax8x4);
    } else {
      b = _mm512_packs_epi16(w01, w23);
      if (clamp) b = _mm512_min_epi8(_mm512_max_epi8(b, qmin8x4), qmax8x4);
    }
    store(x, Lane<0>(b));
    store(x + 1, Lane<1>(b));
    store(x + 2, Lane<2>(b));
    store(x + 3, Lane<3>(b));
  }
  if (x != 0 && x < nx) {  // the window of the last pixels starts again at pixel x
    column(ptrs + 9 * x, 0, col[1]);
    column(ptrs + 9 * x, 1, col[2]);
  }
  for (; x < nx; x++) {
    __m128i acc[4];
    accumulate(x, acc);
    __m128i r[4];
    for (int i = 0; i < 4; i++) {
      const __m128 y = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(acc[i]), mq[i]), aq[i]);
      r[i] = _mm_cvtps_epi32(nomin ? y : _mm_min_ps(hi, y));
    }
    const __m128i w01 = _mm_adds_epi16(_mm_packs_epi32(r[0], r[1]), z16);
    const __m128i w23 = _mm_adds_epi16(_mm_packs_epi32(r[2], r[3]), z16);
    __m128i b;
    if (u8) {
      b = _mm_packus_epi16(w01, w23);
      if (clamp) b = _mm_min_epu8(_mm_max_epu8(b, qmin8), qmax8);
    } else {
      b = _mm_packs_epi16(w01, w23);
      if (clamp) b = _mm_min_epi8(_mm_max_epi8(b, qmin8), qmax8);
    }
    store(x, b);
  }
}

}  // namespace

extern "C" void crumb_q8_qb_dwconv_ukernel_c64__avx512vnni(size_t channels, size_t width, size_t ks,
                                                           const void** input, size_t input_offset,
                                                           const void* zero, const void* weights,
                                                           void* output, size_t output_stride,
                                                           const crumb_dwconv_params* params) {
  if (ks > kMaxTaps) {  // beyond any real depthwise kernel: the AVX-512 kernel's chunked weights
    crumb_q8_qb_dwconv_ukernel_c64__avx512(channels, width, ks, input, input_offset, zero, weights,
                                           output, output_stride, params);
    return;
  }
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  auto* fn = s8 ? Dispatch<true> : Dispatch<false>;
  // A last block of at most 32 channels goes to Tail16Slide in 16-channel parts on a sliding 3x3
  // layer with integer outputs, otherwise to the AVX2 kernel (half the vector width, two pixels
  // per register for <= 16 channels, the same bits).
  const size_t tail = channels % CRUMB_DWCONV_BLOCK;
  const size_t full = tail != 0 && tail <= 32 ? channels - tail : channels;
  const bool int_out = params->out.type != CRUMB_ELEM_F32;
  const uint8_t* w = (const uint8_t*)weights;
  crumb_dwconv::ForEachPixelGroup(
      width, ks, input, input_offset, zero,
      [&](size_t x0, size_t group_nx, const void* const* group_taps) {
        uint8_t* group_out = (uint8_t*)output + x0 * output_stride;
        // Consecutive sliding pieces go to one Run (the block loop outside them).
        Piece batch[kMaxPieces];
        size_t nbatch = 0;
        auto flush = [&]() {
          if (nbatch != 0 && full != 0) {
            fn(0, full, batch, nbatch, ks, true, group_taps, w, group_out, output_stride, params);
          }
          nbatch = 0;
        };
        SlidingPieces(group_nx, ks, group_taps, [&](size_t x, size_t nx, bool slide) {
          const void* const* taps = group_taps + x * ks;
          uint8_t* out = group_out + x * output_stride;
          if (slide) {
            if (nbatch == kMaxPieces) flush();
            batch[nbatch++] = Piece{(uint32_t)x, (uint32_t)nx};
          } else if (full != 0) {
            flush();
            const Piece all{0, (uint32_t)nx};
            fn(0, full, &all, 1, ks, false, taps, w, out, output_stride, params);
          }
          if (full < channels) {
            if (slide && int_out) {
              auto* tail16 = s8 ? Tail16Slide<true> : Tail16Slide<false>;
              for (size_t c0 = full; c0 < channels; c0 += 16) {
                tail16(c0, std::min(channels, c0 + 16), nx, taps, w, out, output_stride, params);
              }
            } else {
              crumb_dwconv_avx2_channels(full, channels, nx, ks, taps, w, out, output_stride,
                                         params);
            }
          }
        });
        flush();
      });
}
