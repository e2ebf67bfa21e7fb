// The elementwise family's NEON kernels (kernels/elementwise/elementwise.h). On AArch64: x8lut,
// quantize, vadd, vmul, maxpool, requantize in blocks of 16 elements, the last n % 16 elements (or
// channels) through the scalar kernel's expression and crumb_store_output(), so nothing past the
// caller's arrays is touched. On Armv7 NEON only x8lut (elementwise.inc says why).
//
// Bit-exactness with crumb_store_output(): y is computed with the scalar operations in their
// order (scvtf is the (float) cast, fdiv / fmul / fadd round as their scalar forms, nothing fused).
// fmax / fmin would turn a NaN operand into NaN where the scalar `if (v < lo) v = lo; if (v > hi)
// v = hi;` keeps y, so the clamp is that compare and a select (fcmgt, bsl): NaN y stays y (float
// outputs pass it through as the scalar code does). For code outputs NaN lanes then take clamp(z)
// - z, which the scalar rule returns for NaN, fcvtns rounds half to even like nearbyintf, and +
// z lands in [qmin, qmax], inside the output type, so the saturating narrowings never change a
// code.
#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "kernels/common/requant.h"
#include "kernels/elementwise/elementwise.h"

#if defined(__aarch64__)

namespace {

struct Out {
  float32x4_t lo, hi;  // (float)(qmin - z), (float)(qmax - z); fmin, fmax for float outputs
  float32x4_t nan;     // (float)(clamp(z) - z): where the scalar rule sends NaN
  int32x4_t z;
  uint32_t type;
};

Out MakeOut(const crumb_output_params* p) {
  Out o;
  o.type = p->type;
  if (p->type == CRUMB_ELEM_F32) {
    o.lo = vdupq_n_f32(p->fmin);
    o.hi = vdupq_n_f32(p->fmax);
    o.nan = vdupq_n_f32(0.0f);
    o.z = vdupq_n_s32(0);
  } else {
    const int32_t z = p->zero_point;
    const int32_t zc = z < p->qmin ? p->qmin : (z > p->qmax ? p->qmax : z);
    o.lo = vdupq_n_f32((float)(p->qmin - z));
    o.hi = vdupq_n_f32((float)(p->qmax - z));
    o.nan = vdupq_n_f32((float)(zc - z));
    o.z = vdupq_n_s32(z);
  }
  return o;
}

inline float32x4_t Clamp(float32x4_t y, const Out& o) {
  const float32x4_t v = vbslq_f32(vcltq_f32(y, o.lo), o.lo, y);
  return vbslq_f32(vcgtq_f32(v, o.hi), o.hi, v);
}

inline int32x4_t Codes(float32x4_t y, const Out& o) {
  float32x4_t v = Clamp(y, o);
  v = vbslq_f32(vceqq_f32(v, v), v, o.nan);
  return vaddq_s32(vcvtnq_s32_f32(v), o.z);
}

// Stores E(y[0..3]) as elements [i, i + 16) of out.
inline void Store16(const float32x4_t y[4], const Out& o, void* out, size_t i) {
  if (o.type == CRUMB_ELEM_F32) {
    float* f = static_cast<float*>(out) + i;
    for (int j = 0; j < 4; j++) vst1q_f32(f + 4 * j, Clamp(y[j], o));
    return;
  }
  const int16x8_t w0 = vqmovn_high_s32(vqmovn_s32(Codes(y[0], o)), Codes(y[1], o));
  const int16x8_t w1 = vqmovn_high_s32(vqmovn_s32(Codes(y[2], o)), Codes(y[3], o));
  uint8_t* p = static_cast<uint8_t*>(out) + i;
  if (o.type == CRUMB_ELEM_U8) {
    vst1q_u8(p, vqmovun_high_s16(vqmovun_s16(w0), w1));
  } else {
    vst1q_s8(reinterpret_cast<int8_t*>(p), vqmovn_high_s16(vqmovn_s16(w0), w1));
  }
}

// float(q - z) * scale for 16 codes (a q register of bytes).
template <bool kU8>
inline void Dequant16(uint8x16_t b, int32x4_t z, float32x4_t scale, float32x4_t y[4]) {
  int16x8_t h[2];
  if (kU8) {
    h[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
    h[1] = vreinterpretq_s16_u16(vmovl_high_u8(b));
  } else {
    const int8x16_t s = vreinterpretq_s8_u8(b);
    h[0] = vmovl_s8(vget_low_s8(s));
    h[1] = vmovl_high_s8(s);
  }
  for (int j = 0; j < 2; j++) {
    const int32x4_t q0 = vsubq_s32(vmovl_s16(vget_low_s16(h[j])), z);
    const int32x4_t q1 = vsubq_s32(vmovl_high_s16(h[j]), z);
    y[2 * j] = vmulq_f32(vcvtq_f32_s32(q0), scale);
    y[2 * j + 1] = vmulq_f32(vcvtq_f32_s32(q1), scale);
  }
}

// 16 codes (a q register of bytes) minus z, as int32.
template <bool kU8>
inline void Centered16(uint8x16_t b, int32x4_t z, int32x4_t q[4]) {
  int16x8_t h[2];
  if (kU8) {
    h[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b)));
    h[1] = vreinterpretq_s16_u16(vmovl_high_u8(b));
  } else {
    const int8x16_t s = vreinterpretq_s8_u8(b);
    h[0] = vmovl_s8(vget_low_s8(s));
    h[1] = vmovl_high_s8(s);
  }
  for (int j = 0; j < 2; j++) {
    q[2 * j] = vsubq_s32(vmovl_s16(vget_low_s16(h[j])), z);
    q[2 * j + 1] = vsubq_s32(vmovl_high_s16(h[j]), z);
  }
}

// The product (qa - za)(qb - zb) is exact in int32 (|each| <= 255): vmulq_s32, then the (float)
// cast and one fmul as the scalar kernel.
template <bool kAU8, bool kBU8>
void VMul(size_t n, const void* a, const void* b, void* y, const crumb_mul_params* params) {
  const Out o = MakeOut(&params->out);
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  const int32x4_t za = vdupq_n_s32(params->a_zero_point);
  const int32x4_t zb = vdupq_n_s32(params->b_zero_point);
  const float32x4_t m = vdupq_n_f32(params->scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    int32x4_t qa[4], qb[4];
    Centered16<kAU8>(vld1q_u8(pa + i), za, qa);
    Centered16<kBU8>(vld1q_u8(pb + i), zb, qb);
    float32x4_t v[4];
    for (int j = 0; j < 4; j++) v[j] = vmulq_f32(vcvtq_f32_s32(vmulq_s32(qa[j], qb[j])), m);
    Store16(v, o, y, i);
  }
  for (; i < n; i++) {
    const int32_t acc = (crumb_load_code(a, i, params->a_type) - params->a_zero_point) *
                        (crumb_load_code(b, i, params->b_type) - params->b_zero_point);
    crumb_store_output((float)acc * params->scale, &params->out, y, i);
  }
}

template <bool kAU8, bool kBU8>
void VAdd(size_t n, const void* a, const void* b, void* y, const crumb_add_params* params) {
  const Out o = MakeOut(&params->out);
  const uint8_t* pa = static_cast<const uint8_t*>(a);
  const uint8_t* pb = static_cast<const uint8_t*>(b);
  const int32x4_t za = vdupq_n_s32(params->a_zero_point);
  const int32x4_t zb = vdupq_n_s32(params->b_zero_point);
  const float32x4_t ma = vdupq_n_f32(params->a_scale);
  const float32x4_t mb = vdupq_n_f32(params->b_scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    float32x4_t va[4], vb[4];
    Dequant16<kAU8>(vld1q_u8(pa + i), za, ma, va);
    Dequant16<kBU8>(vld1q_u8(pb + i), zb, mb, vb);
    for (int j = 0; j < 4; j++) va[j] = vaddq_f32(va[j], vb[j]);
    Store16(va, o, y, i);
  }
  for (; i < n; i++) {
    const float fa =
        (float)(crumb_load_code(a, i, params->a_type) - params->a_zero_point) * params->a_scale;
    const float fb =
        (float)(crumb_load_code(b, i, params->b_type) - params->b_zero_point) * params->b_scale;
    crumb_store_output(fa + fb, &params->out, y, i);
  }
}

template <bool kU8>
void Requantize(size_t n, const void* x, void* y, const crumb_requant_params* params) {
  const Out o = MakeOut(&params->out);
  const uint8_t* px = static_cast<const uint8_t*>(x);
  const int32x4_t zx = vdupq_n_s32(params->in_zero_point);
  const float32x4_t scale = vdupq_n_f32(params->scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    float32x4_t v[4];
    Dequant16<kU8>(vld1q_u8(px + i), zx, scale, v);
    Store16(v, o, y, i);
  }
  for (; i < n; i++) {
    const float v =
        (float)(crumb_load_code(x, i, params->in_type) - params->in_zero_point) * params->scale;
    crumb_store_output(v, &params->out, y, i);
  }
}

template <bool kU8>
void MaxPool(size_t output_pixels, size_t ks, size_t channels, const void** input,
             size_t input_offset, void* output, size_t output_stride,
             const crumb_requant_params* params) {
  typedef typename std::conditional<kU8, uint8_t, int8_t>::type T;
  const Out o = MakeOut(&params->out);
  const int32x4_t zx = vdupq_n_s32(params->in_zero_point);
  const float32x4_t scale = vdupq_n_f32(params->scale);
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
    for (; c + 16 <= channels; c += 16) {
      uint8x16_t m = vld1q_u8(r0 + c);
      for (size_t t = first + 1; t < ks; t++) {
        if (taps[t] == nullptr) continue;
        const uint8x16_t q = vld1q_u8(static_cast<const uint8_t*>(taps[t]) + input_offset + c);
        m = kU8 ? vmaxq_u8(m, q)
                : vreinterpretq_u8_s8(vmaxq_s8(vreinterpretq_s8_u8(m), vreinterpretq_s8_u8(q)));
      }
      float32x4_t v[4];
      Dequant16<kU8>(m, zx, scale, v);
      Store16(v, o, out, c);
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

extern "C" void crumb_x8_lut_ukernel__neon(size_t n, const uint8_t* x, const uint8_t table[256],
                                           uint8_t* y) {
  // tbl / tbx look up 64 bytes by a whole index byte (out of range: 0 / unchanged), so the four
  // quarters of the table are read with the index minus 0, 64, 128, 192; wrapped indices of the
  // other quarters are >= 64 and leave the byte as it is.
  const uint8x16x4_t t0 = vld1q_u8_x4(table);
  const uint8x16x4_t t1 = vld1q_u8_x4(table + 64);
  const uint8x16x4_t t2 = vld1q_u8_x4(table + 128);
  const uint8x16x4_t t3 = vld1q_u8_x4(table + 192);
  const uint8x16_t k64 = vdupq_n_u8(64);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint8x16_t v = vld1q_u8(x + i);
    uint8x16_t r = vqtbl4q_u8(t0, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t1, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t2, v);
    v = vsubq_u8(v, k64);
    r = vqtbx4q_u8(r, t3, v);
    vst1q_u8(y + i, r);
  }
  for (; i < n; i++) y[i] = table[x[i]];
}

extern "C" void crumb_f32_q8_quantize_ukernel__neon(size_t n, const float* x, void* y,
                                                    const crumb_quantize_params* params) {
  const Out o = MakeOut(&params->out);
  const float32x4_t scale = vdupq_n_f32(params->scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    float32x4_t v[4];
    for (int j = 0; j < 4; j++) v[j] = vdivq_f32(vld1q_f32(x + i + 4 * j), scale);
    Store16(v, o, y, i);
  }
  for (; i < n; i++) crumb_store_output(x[i] / params->scale, &params->out, y, i);
}

extern "C" void crumb_q8_vadd_ukernel__neon(size_t n, const void* a, const void* b, void* y,
                                            const crumb_add_params* params) {
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VAdd<decltype(au8)::value, decltype(bu8)::value>(n, a, b, y, params);
  });
}

extern "C" void crumb_q8_vmul_ukernel__neon(size_t n, const void* a, const void* b, void* y,
                                            const crumb_mul_params* params) {
  crumb_elementwise::ByCodeTypes(params->a_type, params->b_type, [&](auto au8, auto bu8) {
    VMul<decltype(au8)::value, decltype(bu8)::value>(n, a, b, y, params);
  });
}

extern "C" void crumb_q8_requantize_ukernel__neon(size_t n, const void* x, void* y,
                                                  const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    Requantize<true>(n, x, y, params);
  } else {
    Requantize<false>(n, x, y, params);
  }
}

extern "C" void crumb_q8_maxpool_ukernel__neon(size_t output_pixels, size_t ks, size_t channels,
                                               const void** input, size_t input_offset,
                                               void* output, size_t output_stride,
                                               const crumb_requant_params* params) {
  if (params->in_type == CRUMB_ELEM_U8) {
    MaxPool<true>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  } else {
    MaxPool<false>(output_pixels, ks, channels, input, input_offset, output, output_stride, params);
  }
}

#else  // Armv7 NEON: vtbl / vtbx look up 32 bytes (one d-register quadruple) at a time.

extern "C" void crumb_x8_lut_ukernel__neon(size_t n, const uint8_t* x, const uint8_t table[256],
                                           uint8_t* y) {
  // Eight 32-byte slices; the index minus 32 s reaches slice s, wrapped indices of the other
  // slices are >= 32 and leave the byte unchanged (vtbx).
  uint8x8x4_t t[8];
  for (int s = 0; s < 8; s++) {
    for (int j = 0; j < 4; j++) t[s].val[j] = vld1_u8(table + 32 * s + 8 * j);
  }
  const uint8x8_t k32 = vdup_n_u8(32);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint8x8_t v = vld1_u8(x + i);
    uint8x8_t r = vtbl4_u8(t[0], v);
    for (int s = 1; s < 8; s++) {
      v = vsub_u8(v, k32);
      r = vtbx4_u8(r, t[s], v);
    }
    vst1_u8(y + i, r);
  }
  for (; i < n; i++) y[i] = table[x[i]];
}

#endif
