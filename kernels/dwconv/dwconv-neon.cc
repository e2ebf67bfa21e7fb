// crumb_q8_qb_dwconv_ukernel_c16__neon: the dwconv contract (kernels/dwconv/dwconv.h) on AArch64
// Advanced SIMD, 16 channels (one q register of codes) per iteration. The channel groups are the
// outer loop and the output pixels of the call the inner one, so a group's int8 weights (with ks
// a compile-time 9 or 25: every tap in a register), its za correction and its mul / add stay in
// registers for every pixel; the tap pointers are resolved once per call (input_offset applied
// except to the zero row) and a tap's 16 codes are one load at [pointer + c].
//
// Activations are multiplied as int8 by the int8 weights with smull / smlal (products |a v| <=
// 2^14 are exact in int16): S8 codes as they are, U8 codes of <= 7 bits as they are (they are
// < 128), 8-bit U8 codes flipped by eor 0x80 (a' = qa - 128). acc = sum a' v - za' vsum with za'
// = za (- 128 when flipped), vsum from the block header.
//   int16 path (ks * max|qa - za| * max|v| < 2^15: the true acc fits int16): the accumulators
//     start at -za' vsum narrowed to int16 and every tap is smlal / smlal2 into them; wrapping
//     int16 arithmetic ends at acc exactly, widened once per pixel (sxtl / sxtl2).
//   int32 path otherwise: taps in pairs summed in int16, the odd tap read as a'' = o0 - qa
//     (o0 = 127 when flipped, else -1: eor 0x7F / 0xFF) and subtracted (smull, smlsl): each
//     product lies in [-16256, 16384], so a' v - a'' v' lies in [-32640, 32640] and is exact in
//     int16 whatever the weights; each pair is widened into int32 accumulators (saddw / saddw2)
//     that start at -za' vsum - (sum of the odd taps' v), since qa - za = -a'' + o0 - za and
//     o0 - e0 = -1 (e0 = 128 when flipped, else 0).
// The epilogue is kernels/common/epilogue-neon.h's scale (scvtf, fmul, fadd); for u8 / s8 outputs
// of a full group of 16 the clamp is done on the rounded integers (fcvtns, sqxtn, sqadd z,
// sqxtun / sqxtn, umax / umin or smax / smin): the clamp bounds qmin - z, qmax - z are integers,
// so rounding commutes with the clamp, and every saturating step is monotone and exact inside
// [qmin, qmax] (within the type's range), which makes it the same bits as crumb_store_output().
// Float outputs and partial groups use crumb_neon_output8.
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include <type_traits>

#include "kernels/common/epilogue-neon.h"
#include "kernels/dwconv/dwconv.h"

namespace {

constexpr size_t kPtrs = 512;  // resolved tap pointers (input_offset applied) held at once

struct Epi {
  crumb_epilogue_neon e;
  int16x8_t z16;
  uint8x16_t qmin_u8, qmax_u8;
  int8x16_t qmin_s8, qmax_s8;
};

// The 16 outputs of a full group, u8 / s8 codes, from int32 accumulators of channels c .. c + 15.
template <bool kU8>
inline void Store16(const int32x4_t acc[4], const float32x4_t mul[4], const float32x4_t add[4],
                    const Epi& ep, uint8_t* out) {
  int32x4_t r[4];
  for (int k = 0; k < 4; k++) r[k] = vcvtnq_s32_f32(crumb_neon_scale(acc[k], mul[k], add[k]));
  const int16x8_t w0 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(r[0]), r[1]), ep.z16);
  const int16x8_t w1 = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(r[2]), r[3]), ep.z16);
  if (kU8) {
    uint8x16_t b = vqmovun_high_s16(vqmovun_s16(w0), w1);
    b = vminq_u8(vmaxq_u8(b, ep.qmin_u8), ep.qmax_u8);
    vst1q_u8(out, b);
  } else {
    int8x16_t b = vqmovn_high_s16(vqmovn_s16(w0), w1);
    b = vminq_s8(vmaxq_s8(b, ep.qmin_s8), ep.qmax_s8);
    vst1q_s8((int8_t*)out, b);
  }
}

// Loads 16 activation codes of channels c .. c + 15 (the last `n` < 16 of them into a zeroed
// register when partial, never reading past them), xor kXor.
template <int kXor, bool kPartial>
inline int8x16_t LoadAct(const uint8_t* p, size_t n) {
  uint8x16_t a;
  if (kPartial) {
    uint8_t b[16] = {0};
    memcpy(b, p, n);
    a = vld1q_u8(b);
  } else {
    a = vld1q_u8(p);
  }
  if (kXor != 0) a = veorq_u8(a, vdupq_n_u8((uint8_t)kXor));
  return vreinterpretq_s8_u8(a);
}

// kMode: 0 = int16 path, 1 = int32 path (tap pairs).
// KS: the taps as a compile-time constant (0: ks at run time).
template <int kMode, bool kFlip, int kOut, size_t KS>
void Run(size_t channels, size_t width, size_t ks_arg, const void** input, size_t input_offset,
         const void* zero, const uint8_t* weights, uint8_t* output, size_t output_stride,
         const crumb_dwconv_params* params, int32_t za) {
  // kOut: 0 u8, 1 s8, 2 f32.
  const size_t ks = KS ? KS : ks_arg;
  Epi ep;
  ep.e = crumb_epilogue_neon_init(&params->out);
  ep.z16 = vdupq_n_s16((int16_t)params->out.zero_point);
  ep.qmin_u8 = vdupq_n_u8((uint8_t)params->out.qmin);
  ep.qmax_u8 = vdupq_n_u8((uint8_t)params->out.qmax);
  ep.qmin_s8 = vdupq_n_s8((int8_t)params->out.qmin);
  ep.qmax_s8 = vdupq_n_s8((int8_t)params->out.qmax);
  // Even taps read a' = qa - e0 (xor kE), odd taps of the int32 path a' = o0 - qa (xor kO).
  constexpr int kE = kFlip ? 0x80 : 0, kO = kE ^ 0xFF;
  const int32x4_t vza = vdupq_n_s32(za - (kFlip ? 128 : 0));  // za - e0
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  const size_t full = channels / 16 * 16;

  const uint8_t* ptrs[kPtrs];
  const size_t group = kPtrs / ks;
  for (size_t x0 = 0; x0 < width; x0 += group) {
    const size_t nx = width - x0 < group ? width - x0 : group;
    for (size_t i = 0; i < nx * ks; i++) {
      const uint8_t* r = (const uint8_t*)input[x0 * ks + i];
      ptrs[i] = r == (const uint8_t*)zero ? r : r + input_offset;
    }
    uint8_t* const out0 = output + x0 * output_stride;
    auto groupfn = [&](size_t c, auto partial_tag) {
      constexpr bool kPartial = decltype(partial_tag)::value;
      const size_t n = channels - c < 16 ? channels - c : 16;
      const uint8_t* block = weights + c / CRUMB_DWCONV_BLOCK * block_bytes;
      const size_t lane = c % CRUMB_DWCONV_BLOCK;
      const int8_t* v = (const int8_t*)(block + CRUMB_DWCONV_BLOCK * 4) + lane;
      const int32_t* vsum = (const int32_t*)(block + 4 * lane);
      // -za' vsum for channels c .. c + 15 (padding channels: vsum 0).
      int32x4_t corr[4];
      for (int k = 0; k < 4; k++) corr[k] = vnegq_s32(vmulq_s32(vza, vld1q_s32(vsum + 4 * k)));
      const int16x8_t c16lo = vmovn_high_s32(vmovn_s32(corr[0]), corr[1]);
      const int16x8_t c16hi = vmovn_high_s32(vmovn_s32(corr[2]), corr[3]);
      int8x16_t wreg[KS ? KS : 1];
      // int32 path: -(sum of the odd taps' v) joins the correction (see the top).
      if (kMode == 1) {
        int16x8_t olo = vdupq_n_s16(0), ohi = vdupq_n_s16(0);
        for (size_t t = 1; t < ks; t += 2) {
          const int8x16_t w = vld1q_s8(v + t * CRUMB_DWCONV_BLOCK);
          olo = vaddw_s8(olo, vget_low_s8(w));
          ohi = vaddw_high_s8(ohi, w);
        }
        corr[0] = vsubw_s16(corr[0], vget_low_s16(olo));
        corr[1] = vsubw_high_s16(corr[1], olo);
        corr[2] = vsubw_s16(corr[2], vget_low_s16(ohi));
        corr[3] = vsubw_high_s16(corr[3], ohi);
      }
      for (size_t t = 0; t < (KS ? KS : 0); t++) wreg[t] = vld1q_s8(v + t * CRUMB_DWCONV_BLOCK);
      auto W = [&](size_t t) { return KS ? wreg[t] : vld1q_s8(v + t * CRUMB_DWCONV_BLOCK); };
      float32x4_t mul[4], add[4];
      if (kOut != 2 && !kPartial) {
        for (int k = 0; k < 4; k++) {
          mul[k] = vld1q_f32(params->mul + c + 4 * k);
          add[k] = vld1q_f32(params->add + c + 4 * k);
        }
      }
      for (size_t x = 0; x < nx; x++) {
        const uint8_t* const* taps = ptrs + x * ks;
        int32x4_t acc[4];
        if (kMode == 0) {
          int16x8_t lo = c16lo, hi = c16hi;
#pragma GCC unroll 25
          for (size_t t = 0; t < ks; t++) {
            const int8x16_t a = LoadAct<kE, kPartial>(taps[t] + c, n);
            const int8x16_t w = W(t);
            lo = vmlal_s8(lo, vget_low_s8(a), vget_low_s8(w));
            hi = vmlal_high_s8(hi, a, w);
          }
          acc[0] = vmovl_s16(vget_low_s16(lo));
          acc[1] = vmovl_high_s16(lo);
          acc[2] = vmovl_s16(vget_low_s16(hi));
          acc[3] = vmovl_high_s16(hi);
        } else {
          for (int k = 0; k < 4; k++) acc[k] = corr[k];
#pragma GCC unroll 25
          for (size_t t = 0; t < ks; t += 2) {
            const int8x16_t a0 = LoadAct<kE, kPartial>(taps[t] + c, n);
            const int8x16_t w0 = W(t);
            int16x8_t lo = vmull_s8(vget_low_s8(a0), vget_low_s8(w0));
            int16x8_t hi = vmull_high_s8(a0, w0);
            if (t + 1 < ks) {
              const int8x16_t a1 = LoadAct<kO, kPartial>(taps[t + 1] + c, n);
              const int8x16_t w1 = W(t + 1);
              lo = vmlsl_s8(lo, vget_low_s8(a1), vget_low_s8(w1));
              hi = vmlsl_high_s8(hi, a1, w1);
            }
            acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
            acc[1] = vaddw_high_s16(acc[1], lo);
            acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
            acc[3] = vaddw_high_s16(acc[3], hi);
          }
        }
        uint8_t* row = out0 + x * output_stride;
        if (kOut != 2 && !kPartial) {
          Store16<kOut == 0>(acc, mul, add, ep, row + c);
        } else {
          crumb_neon_output8(acc[0], acc[1], params->mul, params->add, &ep.e, row, c,
                             n < 8 ? n : 8);
          if (n > 8) {
            crumb_neon_output8(acc[2], acc[3], params->mul, params->add, &ep.e, row, c + 8, n - 8);
          }
        }
      }
    };
    for (size_t c = 0; c < full; c += 16) groupfn(c, std::false_type());
    if (full < channels) groupfn(full, std::true_type());
  }
}

template <int kMode, bool kFlip, int kOut>
void Dispatch(size_t channels, size_t width, size_t ks, const void** input, size_t input_offset,
              const void* zero, const uint8_t* weights, uint8_t* output, size_t output_stride,
              const crumb_dwconv_params* params, int32_t za) {
  auto* fn = ks == 9    ? Run<kMode, kFlip, kOut, 9>
             : ks == 25 ? Run<kMode, kFlip, kOut, 25>
                        : Run<kMode, kFlip, kOut, 0>;
  fn(channels, width, ks, input, input_offset, zero, weights, output, output_stride, params, za);
}

}  // namespace

extern "C" void crumb_q8_qb_dwconv_ukernel_c16__neon(size_t channels, size_t width, size_t ks,
                                                     const void** input, size_t input_offset,
                                                     const void* zero, const void* weights,
                                                     void* output, size_t output_stride,
                                                     const crumb_dwconv_params* params) {
  if (ks > kPtrs) {  // beyond any real depthwise kernel: the portable kernel, the same bits
    crumb_q8_qb_dwconv_ukernel_c64__scalar(channels, width, ks, input, input_offset, zero, weights,
                                           output, output_stride, params);
    return;
  }
  const bool s8 = params->a_type == CRUMB_ELEM_S8;
  const uint32_t bits = params->a_bits;
  const int64_t za = params->a_zero_point;
  // The codes' range (S8: |qa| <= 2^(bits-1), dwconv.h) and the largest |qa - za| in it.
  const int64_t lo = s8 ? -(1ll << (bits - 1)) : 0;
  const int64_t hi = s8 ? (1ll << (bits - 1)) : (1ll << bits) - 1;
  const int64_t d_lo = za - lo < 0 ? lo - za : za - lo, d_hi = hi - za < 0 ? za - hi : hi - za;
  const uint64_t max_d = (uint64_t)(d_lo > d_hi ? d_lo : d_hi);
  const uint64_t max_v = params->max_abs_v;
  const bool flip = !s8 && bits == 8;
  const int mode = (uint64_t)ks * max_d * max_v < 32768u ? 0 : 1;
  const int out = params->out.type == CRUMB_ELEM_U8 ? 0 : params->out.type == CRUMB_ELEM_S8 ? 1 : 2;
  typedef void Fn(size_t, size_t, size_t, const void**, size_t, const void*, const uint8_t*,
                  uint8_t*, size_t, const crumb_dwconv_params*, int32_t);
  static Fn* const table[2][2][3] = {
      {{Dispatch<0, false, 0>, Dispatch<0, false, 1>, Dispatch<0, false, 2>},
       {Dispatch<0, true, 0>, Dispatch<0, true, 1>, Dispatch<0, true, 2>}},
      {{Dispatch<1, false, 0>, Dispatch<1, false, 1>, Dispatch<1, false, 2>},
       {Dispatch<1, true, 0>, Dispatch<1, true, 1>, Dispatch<1, true, 2>}},
  };
  table[mode][flip ? 1 : 0][out](channels, width, ks, input, input_offset, zero,
                                 (const uint8_t*)weights, (uint8_t*)output, output_stride, params,
                                 (int32_t)za);
}
