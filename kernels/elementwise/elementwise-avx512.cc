// The elementwise family's AVX-512 (F/BW/VL/DQ) kernels: quantize, vadd, vmul, maxpool, requantize
// (kernels/elementwise/elementwise.h). Elements go in blocks of 64: four zmm of 16 floats y, then
// E(y) of kernels/common/requant.h and one 64-byte store (or four of 16 floats). The last block
// uses masked loads and stores, which neither fault on nor write the lanes outside the mask.
//
// Bit-exactness with crumb_store_output(): y is computed with the scalar operations in their
// order (vcvtdq2ps is the (float) cast, vdivps / vmulps / vaddps round as divss / mulss / addss,
// nothing fused). The clamp is vmaxps(lo, y) then vminps(hi, v): with y as the second operand
// each returns y whenever the scalar `if (v < lo) v = lo; if (v > hi) v = hi;` keeps it, NaN
// included (so float outputs pass NaN through as the scalar code does). For code outputs NaN
// lanes then take clamp(z) - z, which the scalar rule returns for NaN, and vcvtps2dq under the
// default MXCSR rounds half to even like nearbyintf; + z lands in [qmin, qmax], inside the output
// type, so the saturating packs never change a code.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/common/requant.h"
#include "kernels/elementwise/elementwise.h"

namespace {

// GCC's plain forms of these start from _mm512_undefined_*() and warn -Wmaybe-uninitialized
// where inlined (see kernels/common/epilogue-avx512.h); the all-ones-masked forms are the same
// instructions.
constexpr __mmask16 kAll16 = 0xFFFF;

struct Out {
  __m512 lo, hi;  // (float)(qmin - z), (float)(qmax - z); fmin, fmax for float outputs
  __m512 nan;     // (float)(clamp(z) - z): where the scalar rule sends NaN
  __m512i z;
  uint32_t type;
};

Out MakeOut(const crumb_output_params* p) {
  Out o;
  o.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    o.lo = _mm512_set1_ps(p->fmin);
    o.hi = _mm512_set1_ps(p->fmax);
    o.nan = _mm512_setzero_ps();
    o.z = _mm512_setzero_si512();
  } else {
    const int32_t z = p->zero_point;
    const int32_t zc = z < p->qmin ? p->qmin : (z > p->qmax ? p->qmax : z);
    o.lo = _mm512_set1_ps((float)(p->qmin - z));
    o.hi = _mm512_set1_ps((float)(p->qmax - z));
    o.nan = _mm512_set1_ps((float)(zc - z));
    o.z = _mm512_set1_epi32(z);
  }
  return o;
}

inline __m512 Clamp(__m512 y, const Out& o) {
  const __m512 v = _mm512_maskz_max_ps(kAll16, o.lo, y);
  return _mm512_maskz_min_ps(kAll16, o.hi, v);
}

inline __m512i Codes(__m512 y, const Out& o) {
  __m512 v = Clamp(y, o);
  v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), o.nan);
  return _mm512_add_epi32(_mm512_maskz_cvtps_epi32(kAll16, v), o.z);
}

inline __mmask16 Mask16(size_t count) {
  return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}
inline __mmask64 Mask64(size_t count) {
  return count >= 64 ? ~(__mmask64)0 : (__mmask64)((1ull << count) - 1ull);
}

// Stores E(y[0..3]) as elements [i, i + count) (count 1..64) of out.
inline void Store64(const __m512 y[4], const Out& o, void* out, size_t i, size_t count) {
  if (o.type == CRUMB_ELEM_F32) {
    float* f = static_cast<float*>(out) + i;
    if (count == 64) {
      for (int j = 0; j < 4; j++) _mm512_storeu_ps(f + 16 * j, Clamp(y[j], o));
    } else {
      for (size_t j = 0; j * 16 < count; j++) {
        _mm512_mask_storeu_ps(f + 16 * j, Mask16(count - 16 * j), Clamp(y[j], o));
      }
    }
    return;
  }
  const __m512i w01 = _mm512_packs_epi32(Codes(y[0], o), Codes(y[1], o));
  const __m512i w23 = _mm512_packs_epi32(Codes(y[2], o), Codes(y[3], o));
  const __m512i b8 =
      o.type == CRUMB_ELEM_U8 ? _mm512_packus_epi16(w01, w23) : _mm512_packs_epi16(w01, w23);
  // The packs work within 128-bit lanes: 4-byte groups come out as (y0 y1 y2 y3) per lane.
  const __m512i b = _mm512_maskz_permutexvar_epi32(
      kAll16, _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), b8);
  uint8_t* p = static_cast<uint8_t*>(out) + i;
  if (count == 64) {
    _mm512_storeu_si512(p, b);
  } else {
    _mm512_mask_storeu_epi8(p, Mask64(count), b);
  }
}

// 16 codes at p (the first `count` of them; zeros beyond) as int32.
template <bool kU8>
inline __m512i LoadCodes16(const void* p, size_t count) {
  const __m128i b = count >= 16 ? _mm_loadu_si128(static_cast<const __m128i*>(p))
                                : _mm_maskz_loadu_epi8(Mask16(count), p);
  return kU8 ? _mm512_maskz_cvtepu8_epi32(kAll16, b) : _mm512_maskz_cvtepi8_epi32(kAll16, b);
}

inline size_t Sub(size_t a, size_t b) { return a > b ? a - b : 0; }

// float(q - z) * scale for the 16 codes at p.
template <bool kU8>
inline __m512 Dequant16(const void* p, size_t count, __m512i z, __m512 scale) {
  const __m512i d = _mm512_sub_epi32(LoadCodes16<kU8>(p, count), z);
  return _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll16, d), scale);
}

template <bool kAU8, bool kBU8>
void VAdd(size_t n, const uint8_t* a, const uint8_t* b, void* y, const crumb_add_params* params) {
  const Out o = MakeOut(&params->out);
  const __m512i za = _mm512_set1_epi32(params->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(params->b_zero_point);
  const __m512 ma = _mm512_set1_ps(params->a_scale);
  const __m512 mb = _mm512_set1_ps(params->b_scale);
  for (size_t i = 0; i < n; i += 64) {
    const size_t count = n - i < 64 ? n - i : 64;
    __m512 v[4];
    for (size_t j = 0; j < 4; j++) {
      const size_t c = Sub(count, 16 * j);
      v[j] = _mm512_add_ps(Dequant16<kAU8>(a + i + 16 * j, c, za, ma),
                           Dequant16<kBU8>(b + i + 16 * j, c, zb, mb));
    }
    Store64(v, o, y, i, count);
  }
}

// The product (qa - za)(qb - zb) is exact in int32 (|each| <= 255): vpmulld, then the (float) cast
// and one vmulps as the scalar kernel.
template <bool kAU8, bool kBU8>
void VMul(size_t n, const uint8_t* a, const uint8_t* b, void* y, const crumb_mul_params* params) {
  const Out o = MakeOut(&params->out);
  const __m512i za = _mm512_set1_epi32(params->a_zero_point);
  const __m512i zb = _mm512_set1_epi32(params->b_zero_point);
  const __m512 m = _mm512_set1_ps(params->scale);
  for (size_t i = 0; i < n; i += 64) {
    const size_t count = n - i < 64 ? n - i : 64;
    __m512 v[4];
    for (size_t j = 0; j < 4; j++) {
      const size_t c = Sub(count, 16 * j);
      const __m512i da = _mm512_sub_epi32(LoadCodes16<kAU8>(a + i + 16 * j, c), za);
      const __m512i db = _mm512_sub_epi32(LoadCodes16<kBU8>(b + i + 16 * j, c), zb);
      v[j] = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll16, _mm512_mullo_epi32(da, db)), m);
    }
    Store64(v, o, y, i, count);
  }
}

template <bool kU8>
void Requantize(size_t n, const uint8_t* x, void* y, const crumb_requant_params* params) {
  const Out o = MakeOut(&params->out);
  const __m512i zx = _mm512_set1_epi32(params->in_zero_point);
  const __m512 scale = _mm512_set1_ps(params->scale);
  for (size_t i = 0; i < n; i += 64) {
    const size_t count = n - i < 64 ? n - i : 64;
    __m512 v[4];
    for (size_t j = 0; j < 4; j++)
      v[j] = Dequant16<kU8>(x + i + 16 * j, Sub(count, 16 * j), zx, scale);
    Store64(v, o, y, i, count);
  }
}

template <bool kU8>
void MaxPool(size_t output_pixels, size_t ks, size_t channels, const void** input,
             size_t input_offset, void* output, size_t output_stride,
             const crumb_requant_params* params) {
  const Out o = MakeOut(&params->out);
  const __m512i zx = _mm512_set1_epi32(params->in_zero_point);
  const __m512 scale = _mm512_set1_ps(params->scale);
  for (size_t p = 0; p < output_pixels; p++) {
    void* out = static_cast<uint8_t*>(output) + p * output_stride;
    const void* const* taps = input + p * ks;
    size_t first = 0;
    while (first < ks && taps[first] == nullptr) first++;
    if (first == ks) {
      // No valid tap: y = 0 for every channel (never the case for a real padding).
      for (size_t c = 0; c < channels; c++) crumb_store_output(0.0f, &params->out, out, c);
      continue;
    }
    for (size_t c = 0; c < channels; c += 64) {
      const size_t count = channels - c < 64 ? channels - c : 64;
      const __mmask64 k = Mask64(count);
      const uint8_t* r0 = static_cast<const uint8_t*>(taps[first]) + input_offset + c;
      __m512i m = _mm512_maskz_loadu_epi8(k, r0);
      for (size_t t = first + 1; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const uint8_t* r = static_cast<const uint8_t*>(taps[t]) + input_offset + c;
        const __m512i q = _mm512_maskz_loadu_epi8(k, r);
        m = kU8 ? _mm512_max_epu8(m, q) : _mm512_max_epi8(m, q);
      }
      __m512 v[4];
      const __m128i b0 = _mm512_maskz_extracti32x4_epi32(0xF, m, 0);
      const __m128i b1 = _mm512_maskz_extracti32x4_epi32(0xF, m, 1);
      const __m128i b2 = _mm512_maskz_extracti32x4_epi32(0xF, m, 2);
      const __m128i b3 = _mm512_maskz_extracti32x4_epi32(0xF, m, 3);
      const __m128i bs[4] = {b0, b1, b2, b3};
      for (int j = 0; j < 4; j++) {
        const __m512i q = kU8 ? _mm512_maskz_cvtepu8_epi32(kAll16, bs[j])
                              : _mm512_maskz_cvtepi8_epi32(kAll16, bs[j]);
        v[j] = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll16, _mm512_sub_epi32(q, zx)), scale);
      }
      Store64(v, o, out, c, count);
    }
  }
}

}  // namespace

extern "C" void crumb_f32_q8_quantize_ukernel__avx512(size_t n, const float* x, void* y,
                                                      const crumb_quantize_params* params) {
  const Out o = MakeOut(&params->out);
  const __m512 scale = _mm512_set1_ps(params->scale);
  for (size_t i = 0; i < n; i += 64) {
    const size_t count = n - i < 64 ? n - i : 64;
    __m512 v[4];
    for (size_t j = 0; j < 4; j++) {
      const size_t c = Sub(count, 16 * j);
      const __m512 xv = c >= 16 ? _mm512_loadu_ps(x + i + 16 * j)
                                : _mm512_maskz_loadu_ps(Mask16(c), x + i + 16 * j);
      v[j] = _mm512_div_ps(xv, scale);
    }
    Store64(v, o, y, i, count);
  }
}

extern "C" void crumb_q8_vadd_ukernel__avx512(size_t n, const void* a, const void* b, void* y,
                                              const crumb_add_params* params) {
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VAdd<decltype(au8)::value, decltype(bu8)::value>(n, pa, pb, y, params);
  });
}

extern "C" void crumb_q8_vmul_ukernel__avx512(size_t n, const void* a, const void* b, void* y,
                                              const crumb_mul_params* params) {
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VMul<decltype(au8)::value, decltype(bu8)::value>(n, pa, pb, y, params);
  });
}

extern "C" void crumb_q8_requantize_ukernel__avx512(size_t n, const void* x, void* y,
                                                    const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    Requantize<true>(n, static_cast<const uint8_t*>(x), y, params);
  } else {
    Requantize<false>(n, static_cast<const uint8_t*>(x), y, params);
  }
}

extern "C" void crumb_q8_maxpool_ukernel__avx512(size_t output_pixels, size_t ks, size_t channels,
                                                 const void** input, size_t input_offset,
                                                 void* output, size_t output_stride,
                                                 const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    MaxPool<true>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  } else {
    MaxPool<false>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  }
}
