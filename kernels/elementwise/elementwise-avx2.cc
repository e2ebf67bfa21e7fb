// The elementwise family's AVX2 kernels: x8lut, quantize, vadd, maxpool, requantize
// (kernels/elementwise/elementwise.h). Elements go in blocks of 32 (four ymm of 8 floats y) and
// then of 8; the last n % 8 elements take the scalar kernel's expression and crumb_store_output()
// (AVX2 has no byte-masked loads or stores), so nothing past the caller's arrays is touched.
//
// Bit-exactness with crumb_store_output(): y is computed with the scalar operations in their
// order (vcvtdq2ps is the (float) cast, vdivps / vmulps / vaddps round as divss / mulss / addss,
// nothing fused: the file is built without -mfma). The clamp is vmaxps(lo, y) then vminps(hi, v):
// with y as the second operand each returns y whenever the scalar `if (v < lo) v = lo; if (v >
// hi) v = hi;` keeps it, NaN included (so float outputs pass NaN through as the scalar code does).
// For code outputs NaN lanes then take clamp(z) - z, which the scalar rule returns for NaN, and
// vcvtps2dq under the default MXCSR rounds half to even like nearbyintf; + z lands in [qmin,
// qmax], inside the output type, so the saturating packs never change a code.
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "kernels/common/requant.h"
#include "kernels/elementwise/elementwise.h"

namespace {

struct Out {
  __m256 lo, hi;  // (float)(qmin - z), (float)(qmax - z); fmin, fmax for float outputs
  __m256 nan;     // (float)(clamp(z) - z): where the scalar rule sends NaN
  __m256i z;
  uint32_t type;
};

Out MakeOut(const crumb_output_params* p) {
  Out o;
  o.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    o.lo = _mm256_set1_ps(p->fmin);
    o.hi = _mm256_set1_ps(p->fmax);
    o.nan = _mm256_setzero_ps();
    o.z = _mm256_setzero_si256();
  } else {
    const int32_t z = p->zero_point;
    const int32_t zc = z < p->qmin ? p->qmin : (z > p->qmax ? p->qmax : z);
    o.lo = _mm256_set1_ps((float)(p->qmin - z));
    o.hi = _mm256_set1_ps((float)(p->qmax - z));
    o.nan = _mm256_set1_ps((float)(zc - z));
    o.z = _mm256_set1_epi32(z);
  }
  return o;
}

inline __m256 Clamp(__m256 y, const Out& o) { return _mm256_min_ps(o.hi, _mm256_max_ps(o.lo, y)); }

inline __m256i Codes(__m256 y, const Out& o) {
  __m256 v = Clamp(y, o);
  v = _mm256_blendv_ps(v, o.nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_add_epi32(_mm256_cvtps_epi32(v), o.z);
}

// Stores E(y) as elements [i, i + 8) of out.
inline void Store8(__m256 y, const Out& o, void* out, size_t i) {
  if (o.type == CRUMB_ELEM_F32) {
    _mm256_storeu_ps(static_cast<float*>(out) + i, Clamp(y, o));
    return;
  }
  const __m256i q = Codes(y, o);
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  const __m128i b = o.type == CRUMB_ELEM_U8 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(out) + i), b);
}

// Stores E(y[0..3]) as elements [i, i + 32) of out.
inline void Store32(const __m256 y[4], const Out& o, void* out, size_t i) {
  if (o.type == CRUMB_ELEM_F32) {
    for (int j = 0; j < 4; j++)
      _mm256_storeu_ps(static_cast<float*>(out) + i + 8 * j, Clamp(y[j], o));
    return;
  }
  const __m256i w01 = _mm256_packs_epi32(Codes(y[0], o), Codes(y[1], o));
  const __m256i w23 = _mm256_packs_epi32(Codes(y[2], o), Codes(y[3], o));
  const __m256i b8 =
      o.type == CRUMB_ELEM_U8 ? _mm256_packus_epi16(w01, w23) : _mm256_packs_epi16(w01, w23);
  // The packs work within 128-bit lanes: 4-byte groups come out as (y0 y1 y2 y3) per lane.
  const __m256i b = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint8_t*>(out) + i), b);
}

// 8 codes at p as int32.
template <bool kU8>
inline __m256i LoadCodes8(const uint8_t* p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return kU8 ? _mm256_cvtepu8_epi32(b) : _mm256_cvtepi8_epi32(b);
}

template <bool kU8>
inline __m256 Dequant8(const uint8_t* p, __m256i z, __m256 scale) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(LoadCodes8<kU8>(p), z)), scale);
}

// Runs y8(i) (8 elements' y from element i) over [0, n) in blocks of 32 and 8, the rest through
// y1(i) (the scalar expression) and crumb_store_output().
template <typename Y8, typename Y1>
inline void Drive(size_t n, void* y, const crumb_output_params* params, Y8 y8, Y1 y1) {
  const Out o = MakeOut(params);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 v[4] = {y8(i), y8(i + 8), y8(i + 16), y8(i + 24)};
    Store32(v, o, y, i);
  }
  for (; i + 8 <= n; i += 8) Store8(y8(i), o, y, i);
  for (; i < n; i++) crumb_store_output(y1(i), params, y, i);
}

template <bool kAU8, bool kBU8>
void VAdd(size_t n, const void* a, const void* b, void* y, const crumb_add_params* params) {
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  const __m256i za = _mm256_set1_epi32(params->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(params->b_zero_point);
  const __m256 ma = _mm256_set1_ps(params->a_scale);
  const __m256 mb = _mm256_set1_ps(params->b_scale);
  Drive(
      n, y, &params->out,
      [&](size_t i) {
        return _mm256_add_ps(Dequant8<kAU8>(pa + i, za, ma), Dequant8<kBU8>(pb + i, zb, mb));
      },
      [&](size_t i) {
        const float va =
            (float)(crumb_load_code(a, i, params->a_type) - params->a_zero_point) * params->a_scale;
        const float vb =
            (float)(crumb_load_code(b, i, params->b_type) - params->b_zero_point) * params->b_scale;
        return va + vb;
      });
}

// The product (qa - za)(qb - zb) is exact in int32 (|each| <= 255): vpmulld, then the (float) cast
// and one vmulps as the scalar kernel.
template <bool kAU8, bool kBU8>
void VMul(size_t n, const void* a, const void* b, void* y, const crumb_mul_params* params) {
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  const __m256i za = _mm256_set1_epi32(params->a_zero_point);
  const __m256i zb = _mm256_set1_epi32(params->b_zero_point);
  const __m256 m = _mm256_set1_ps(params->scale);
  Drive(
      n, y, &params->out,
      [&](size_t i) {
        const __m256i da = _mm256_sub_epi32(LoadCodes8<kAU8>(pa + i), za);
        const __m256i db = _mm256_sub_epi32(LoadCodes8<kBU8>(pb + i), zb);
        return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(da, db)), m);
      },
      [&](size_t i) {
        const int32_t acc = (crumb_load_code(a, i, params->a_type) - params->a_zero_point) *
                            (crumb_load_code(b, i, params->b_type) - params->b_zero_point);
        return (float)acc * params->scale;
      });
}

template <bool kU8>
void Requantize(size_t n, const void* x, void* y, const crumb_requant_params* params) {
  const uint8_t* px = static_cast<const uint8_t*>(x);
  const __m256i zx = _mm256_set1_epi32(params->in_zero_point);
  const __m256 scale = _mm256_set1_ps(params->scale);
  Drive(
      n, y, &params->out, [&](size_t i) { return Dequant8<kU8>(px + i, zx, scale); },
      [&](size_t i) {
        return (float)(crumb_load_code(x, i, params->in_type) - params->in_zero_point) *
               params->scale;
      });
}

template <bool kU8>
inline __m256 DequantBytes(__m128i b, __m256i zx, __m256 scale) {
  const __m256i q = kU8 ? _mm256_cvtepu8_epi32(b) : _mm256_cvtepi8_epi32(b);
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, zx)), scale);
}

template <bool kU8>
void MaxPool(size_t output_pixels, size_t ks, size_t channels, const void** input,
             size_t input_offset, void* output, size_t output_stride,
             const crumb_requant_params* params) {
  typedef typename std::conditional<kU8, uint8_t, int8_t>::type T;
  const Out o = MakeOut(&params->out);
  const __m256i zx = _mm256_set1_epi32(params->in_zero_point);
  const __m256 scale = _mm256_set1_ps(params->scale);
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
    const uint8_t* r0 = static_cast<const uint8_t*>(taps[first]) + input_offset;
    size_t c = 0;
    for (; c + 32 <= channels; c += 32) {
      __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + c));
      for (size_t t = first + 1; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
            static_cast<const uint8_t*>(taps[t]) + input_offset + c));
        m = kU8 ? _mm256_max_epu8(m, q) : _mm256_max_epi8(m, q);
      }
      const __m128i lo = _mm256_castsi256_si128(m), hi = _mm256_extracti128_si256(m, 1);
      const __m256 v[4] = {
          DequantBytes<kU8>(lo, zx, scale), DequantBytes<kU8>(_mm_srli_si128(lo, 8), zx, scale),
          DequantBytes<kU8>(hi, zx, scale), DequantBytes<kU8>(_mm_srli_si128(hi, 8), zx, scale)};
      Store32(v, o, out, c);
    }
    for (; c + 8 <= channels; c += 8) {
      __m128i m = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(r0 + c));
      for (size_t t = first + 1; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(
            static_cast<const uint8_t*>(taps[t]) + input_offset + c));
        m = kU8 ? _mm_max_epu8(m, q) : _mm_max_epi8(m, q);
      }
      Store8(DequantBytes<kU8>(m, zx, scale), o, out, c);
    }
    for (; c < channels; c++) {
      int32_t m = reinterpret_cast<const T*>(r0)[c];
      for (size_t t = first + 1; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const int32_t q =
            reinterpret_cast<const T*>(static_cast<const uint8_t*>(taps[t]) + input_offset)[c];
        if (q > m) m = q;
      }
      crumb_store_output((float)(m - params->in_zero_point) * params->scale, &params->out, out, c);
    }
  }
}

}  // namespace

extern "C" void crumb_x8_lut_ukernel__avx2(size_t n, const uint8_t* x, const uint8_t table[256],
                                           uint8_t* y) {
  // vpshufb looks up 16 bytes by an index's low nibble: the 16 slices of the table each give a
  // candidate, and a tree of blends on the index's bits 4, 5, 6, 7 (shifted to each byte's sign
  // bit, which vpblendvb reads) picks the slice.
  __m256i t[16];
  for (int j = 0; j < 16; j++) {
    t[j] = _mm256_broadcastsi128_si256(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(table + 16 * j)));
  }
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i));
    const __m256i lo = _mm256_and_si256(v, nibble);
    __m256i r[8];
    const __m256i b4 = _mm256_slli_epi16(v, 3);
    for (int j = 0; j < 8; j++) {
      r[j] = _mm256_blendv_epi8(_mm256_shuffle_epi8(t[2 * j], lo),
                                _mm256_shuffle_epi8(t[2 * j + 1], lo), b4);
    }
    const __m256i b5 = _mm256_slli_epi16(v, 2);
    for (int j = 0; j < 4; j++) r[j] = _mm256_blendv_epi8(r[2 * j], r[2 * j + 1], b5);
    const __m256i b6 = _mm256_slli_epi16(v, 1);
    for (int j = 0; j < 2; j++) r[j] = _mm256_blendv_epi8(r[2 * j], r[2 * j + 1], b6);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm256_blendv_epi8(r[0], r[1], v));
  }
  for (; i < n; i++) y[i] = table[x[i]];
}

extern "C" void crumb_f32_q8_quantize_ukernel__avx2(size_t n, const float* x, void* y,
                                                    const crumb_quantize_params* params) {
  const __m256 scale = _mm256_set1_ps(params->scale);
  Drive(
      n, y, &params->out, [&](size_t i) { return _mm256_div_ps(_mm256_loadu_ps(x + i), scale); },
      [&](size_t i) { return x[i] / params->scale; });
}

extern "C" void crumb_q8_vadd_ukernel__avx2(size_t n, const void* a, const void* b, void* y,
                                            const crumb_add_params* params) {
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VAdd<decltype(au8)::value, decltype(bu8)::value>(n, a, b, y, params);
  });
}

extern "C" void crumb_q8_vmul_ukernel__avx2(size_t n, const void* a, const void* b, void* y,
                                            const crumb_mul_params* params) {
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VMul<decltype(au8)::value, decltype(bu8)::value>(n, a, b, y, params);
  });
}

extern "C" void crumb_q8_requantize_ukernel__avx2(size_t n, const void* x, void* y,
                                                  const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    Requantize<true>(n, x, y, params);
  } else {
    Requantize<false>(n, x, y, params);
  }
}

extern "C" void crumb_q8_maxpool_ukernel__avx2(size_t output_pixels, size_t ks, size_t channels,
                                               const void** input, size_t input_offset,
                                               void* output, size_t output_stride,
                                               const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    MaxPool<true>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  } else {
    MaxPool<false>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  }
}
