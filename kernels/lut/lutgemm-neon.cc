// Pair-table GEMM / IGEMM on AArch64 NEON (kernels/lut/lut.h): register tile of 4 output pixels x
// 32 output channels (half a 64-channel block, two q registers of 16 byte lanes); a tile runs both
// halves of a block before its epilogue.
//
// Per step and pixel, the two activation pairs name two table rows (the first 16 bytes of each
// 64-byte row); tbl looks each up with the lanes' 4-bit weight-pair codes (lo = w & 15,
// hi = w >> 4: 2 lookups, 4 MACs per lane). Byte sums over the table's group of steps (<= 255,
// lutgemm-avx512.h) are widened as 16-bit lanes w: accw += w, acco += w >> 8 (usra), flushed to
// int32 every 256 groups; even bytes of half h are channels 16h .. 16h + 15, odd bytes 32 + 16h ..
// 32 + 16h + 15. The epilogue is the scalar rule step by step: fmul and fadd (never fused), the
// clamp as compare-and-select (the scalar `if (v < lo) v = lo` also for -0.0), fcvtns (round to
// nearest, ties to even), + z.
#include <arm_neon.h>
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/lut/lut.h"

#ifndef CRUMB_LUT_NEON_MR
#define CRUMB_LUT_NEON_MR 4
#endif

namespace {

constexpr int kMR = CRUMB_LUT_NEON_MR;
constexpr size_t kFlushGroups = 256;

struct DirectRows {
  const uint8_t* a;
  size_t stride;
  const uint8_t* operator()(size_t m, size_t) const { return a + m * stride; }
};
struct IndirectRows {
  const void** a;
  size_t ks, offset;
  const void* zero;
  const uint8_t* operator()(size_t m, size_t t) const {
    const uint8_t* p = static_cast<const uint8_t*>(a[m * ks + t]);
    return p == zero ? p : p + offset;
  }
};

// E(y) of 4 channels as int32 codes.
inline int32x4_t Requantize(float32x4_t y, float32x4_t lo, float32x4_t hi, int32x4_t z) {
  float32x4_t v = vbslq_f32(vcltq_f32(y, lo), lo, y);
  v = vbslq_f32(vcgtq_f32(v, hi), hi, v);
  return vaddq_s32(vcvtnq_s32_f32(v), z);
}

// acc[64]: the int32 accumulators of channels n .. n + 63 ([0, count) valid); E(y) into the row.
void StoreBlock(const int32_t* acc, size_t n, size_t count, const crumb_lut_params* p,
                uint8_t* row) {
  const crumb_output_params& o = p->out;
  const bool is_float = o.type == CRUMB_ELEM_F32 && p->out_bits == 8;
  const float32x4_t lo = vdupq_n_f32(is_float ? o.fmin : (float)(o.qmin - o.zero_point));
  const float32x4_t hi = vdupq_n_f32(is_float ? o.fmax : (float)(o.qmax - o.zero_point));
  const int32x4_t z = vdupq_n_s32(o.zero_point);
  alignas(16) int32_t codes[CRUMB_LUT_NR];
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const float32x4_t y =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(vld1q_s32(acc + j)), vld1q_f32(p->mul + n + j)),
                  vld1q_f32(p->add + n + j));
    if (is_float) {
      float32x4_t v = vbslq_f32(vcltq_f32(y, lo), lo, y);
      v = vbslq_f32(vcgtq_f32(v, hi), hi, v);
      vst1q_f32((float*)row + n + j, v);
    } else {
      vst1q_s32(codes + j, Requantize(y, lo, hi, z));
    }
  }
  for (; j < count; j++) {  // tail: the scalar rule itself
    const float y = (float)acc[j] * p->mul[n + j] + p->add[n + j];
    if (is_float) {
      ((float*)row)[n + j] = crumb_clamp_float(y, o.fmin, o.fmax);
    } else {
      codes[j] = crumb_requantize_value(y, o.zero_point, o.qmin, o.qmax);
    }
  }
  if (is_float) return;
  if (p->out_bits == 2 || p->out_bits == 4) {
    const unsigned ob = p->out_bits, per_byte = 8 / ob;
    uint8_t* out = row + n * ob / 8;
    for (size_t i = 0; i < (count * ob + 7) / 8; i++) {
      unsigned b = 0;
      for (unsigned f = 0; f < per_byte && i * per_byte + f < count; f++) {
        b |= (unsigned)codes[i * per_byte + f] << (f * ob);
      }
      out[i] = (uint8_t)b;
    }
  } else {
    for (size_t i = 0; i < count; i++) row[n + i] = (uint8_t)codes[i];
  }
}

template <unsigned ABITS, class Rows>
void Tile(size_t m0, size_t mvalid, size_t n0, size_t nc, size_t kc, size_t ks, const Rows& rows,
          const uint8_t* w, uint8_t* c, size_t c_stride, const crumb_lut_params* p) {
  const uint8_t* table = p->table;
  const crumb_lut_table_info* info = crumb_lut_table_trailer(table, ABITS);
  const size_t spg = (size_t)info->steps_per_group;
  const size_t steps = crumb_lut_steps(kc);
  const size_t tap_groups = (steps + spg - 1) / spg;
  const uint8x16_t nib = vdupq_n_u8(15);
  // Every pixel's int32 sums start at -(bias * pairs + za * ksum[n]).
  alignas(16) int32_t acc32[kMR][CRUMB_LUT_NR];
  const uint32_t bias_total = (uint32_t)info->bias * (uint32_t)(2 * steps * ks);
  for (int j = 0; j < CRUMB_LUT_NR; j++) {
    int32_t ksum;
    memcpy(&ksum, w + 4 * j, 4);
    const int32_t init = (int32_t)(0u - bias_total - (uint32_t)p->a_zero_point * (uint32_t)ksum);
    for (int m = 0; m < kMR; m++) acc32[m][j] = init;
  }
  for (int h = 0; h < 2; h++) {
    uint16x8_t accw[kMR][2], acco[kMR][2];
    for (int m = 0; m < kMR; m++) {
      for (int q = 0; q < 2; q++) accw[m][q] = acco[m][q] = vdupq_n_u16(0);
    }
    auto flush = [&]() __attribute__((always_inline)) {
      for (int m = 0; m < kMR; m++) {
        for (int q = 0; q < 2; q++) {
          // q holds lanes 16q .. 16q + 15 of the half: even -> channels 16h + 8q + i,
          // odd -> 32 + 16h + 8q + i.
          const uint16x8_t ev = vsubq_u16(accw[m][q], vshlq_n_u16(acco[m][q], 8));
          int32_t* de = acc32[m] + 16 * h + 8 * q;
          int32_t* dodd = acc32[m] + 32 + 16 * h + 8 * q;
          vst1q_s32(de,
                    vaddq_s32(vld1q_s32(de), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(ev)))));
          vst1q_s32(de + 4,
                    vaddq_s32(vld1q_s32(de + 4), vreinterpretq_s32_u32(vmovl_high_u16(ev))));
          vst1q_s32(dodd, vaddq_s32(vld1q_s32(dodd),
                                    vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(acco[m][q])))));
          vst1q_s32(dodd + 4, vaddq_s32(vld1q_s32(dodd + 4),
                                        vreinterpretq_s32_u32(vmovl_high_u16(acco[m][q]))));
          accw[m][q] = acco[m][q] = vdupq_n_u16(0);
        }
      }
    };
    size_t groups = 0;
    for (size_t t = 0; t < ks; t++) {
      const uint8_t* ap[kMR];
      for (int m = 0; m < kMR; m++) {
        ap[m] = rows(m0 + ((size_t)m < mvalid ? (size_t)m : mvalid - 1), t);
      }
      const uint8_t* wt = w + CRUMB_LUT_BLOCK_HEADER + t * steps * CRUMB_LUT_NR + 32 * h;
      auto step = [&](uint8x16_t(&g)[kMR][2], size_t s, bool first) __attribute__((always_inline)) {
        uint8x16_t lo[2], hi[2];
        for (int q = 0; q < 2; q++) {
          const uint8x16_t wv = vld1q_u8(wt + s * CRUMB_LUT_NR + 16 * q);
          lo[q] = vandq_u8(wv, nib);
          hi[q] = vshrq_n_u8(wv, 4);
        }
        for (int m = 0; m < kMR; m++) {
          const uint8_t *r0, *r1;
          if (ABITS == 2) {
            const uint32_t code = ap[m][s];
            r0 = table + (code & 15) * CRUMB_LUT_ROW;
            r1 = table + (code >> 4) * CRUMB_LUT_ROW;
          } else {
            r0 = table + (uint32_t)ap[m][2 * s] * CRUMB_LUT_ROW;
            r1 = table + (uint32_t)ap[m][2 * s + 1] * CRUMB_LUT_ROW;
          }
          const uint8x16_t t0 = vld1q_u8(r0), t1 = vld1q_u8(r1);
          for (int q = 0; q < 2; q++) {
            const uint8x16_t x = vaddq_u8(vqtbl1q_u8(t0, lo[q]), vqtbl1q_u8(t1, hi[q]));
            g[m][q] = first ? x : vaddq_u8(g[m][q], x);
          }
        }
      };
      size_t s = 0;
      for (size_t done = 0; done < tap_groups;) {
        const size_t left = tap_groups - done;
        const size_t n = left < kFlushGroups - groups ? left : kFlushGroups - groups;
        done += n;
        for (size_t i = 0; i < n; i++) {
          const size_t send = s + spg < steps ? s + spg : steps;
          uint8x16_t g[kMR][2];
          step(g, s, true);
          for (s++; s < send; s++) step(g, s, false);
          for (int m = 0; m < kMR; m++) {
            for (int q = 0; q < 2; q++) {
              const uint16x8_t g16 = vreinterpretq_u16_u8(g[m][q]);
              accw[m][q] = vaddq_u16(accw[m][q], g16);
              acco[m][q] = vsraq_n_u16(acco[m][q], g16, 8);
            }
          }
        }
        groups += n;
        if (groups == kFlushGroups) {
          flush();
          groups = 0;
        }
      }
    }
    flush();
  }
  const size_t count = nc - n0 < CRUMB_LUT_NR ? nc - n0 : CRUMB_LUT_NR;
  for (size_t m = 0; m < mvalid; m++) StoreBlock(acc32[m], n0, count, p, c + (m0 + m) * c_stride);
}

template <unsigned ABITS, class Rows>
void LutGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w,
             void* c, size_t c_stride, const crumb_lut_params* p) {
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  const size_t blocks = crumb_lut_blocks(nc);
  uint8_t* out = static_cast<uint8_t*>(c);
  for (size_t b = 0; b < blocks; b++) {
    for (size_t m0 = 0; m0 < mr; m0 += kMR) {
      const size_t mvalid = mr - m0 < (size_t)kMR ? mr - m0 : (size_t)kMR;
      Tile<ABITS>(m0, mvalid, b * CRUMB_LUT_NR, nc, kc, ks, rows, w + b * block_bytes, out,
                  c_stride, p);
    }
  }
}

}  // namespace

#define CRUMB_LUT_NEON(ABITS)                                                                     \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_4x32__neon(                               \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    LutGemm<ABITS>(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c,     \
                   c_stride, params);                                                             \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_4x32__neon(                              \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    LutGemm<ABITS>(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride, params);  \
  }
CRUMB_LUT_NEON(2)
CRUMB_LUT_NEON(3)
CRUMB_LUT_NEON(4)
