// Dot-family GEMM / IGEMM on AArch64 NEON without the dot-product extension (Cortex-A53 / A72
// class): DOT_N16K4 weights decoded to int8 in registers, smull / smlal into int16 lanes, sadalp
// into int32 (kernels/dot/dot.h has the contract; the decoder and the s8-domain arithmetic are
// those of gemm-neondot.cc). Register tile: 2 rows x 8 channels (half a block).
//
// Exactness: activations in the s8 domain (|a_s| <= 128) times w' (|w'| <= 2^(b-1)) give int16
// products of at most 128 * 2^(b-1); smlal adds a run of S of them per int16 lane before sadalp
// widens pairs into int32, so S * 128 * 2^(b-1) <= 32767 (the extreme-value tests reach it):
//   b = 1: 255, 2: 127, 3: 63, 4: 31, 5: 15, 6: 7, 7: 3, 8: 1 (-128 * -128 = 16384; two overflow).
// Lanes: smull of the low 8 weight bytes of a quarter (channels 4q, 4q + 1, k 0..3) with the
// activation word twice gives (c0 k0..3, c1 k0..3); sadalp pairs them to (c0 k01, c0 k23, c1 k01,
// c1 k23); at the end addp of the low and high halves gives (c0, c1, c2, c3).
#include <arm_neon.h>
#include <string.h>

#include "kernels/common/epilogue-neon.h"
#include "kernels/dot/dot.h"
#include "kernels/dot/internal.h"

namespace {

using crumb_dot::Call;
using crumb_dot::Geometry;
using crumb_dot::Row;

constexpr int kPlanes[9] = {0, 1, 1, 2, 1, 2, 2, 3, 1};
constexpr int kWidths[9][3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {4, 0, 0},
                               {4, 1, 0}, {4, 2, 0}, {4, 2, 1}, {8, 0, 0}};
constexpr unsigned kRun[9] = {0, 255, 127, 63, 31, 15, 7, 3, 1};

template <int BITS>
struct Decoder {
  int8x16_t lut;
  uint8x16_t flip, half;

  explicit Decoder(uint32_t encoding) {
    int8_t t[16];
    for (int i = 0; i < 16; i++) {
      const uint32_t code = (uint32_t)i & ((1u << (BITS < 4 ? BITS : 4)) - 1u);
      t[i] = BITS <= 4 ? (int8_t)crumb_dot_code_value(code, BITS, encoding) : 0;
    }
    lut = vld1q_s8(t);
    const int h = 1 << (BITS - 1);
    half = vdupq_n_u8(BITS >= 5 && BITS <= 7 ? (uint8_t)h : 0);
    if (BITS == 8) {
      flip = vdupq_n_u8(encoding == CRUMB_ENC_UNSIGNED ? 0x80 : 0);
    } else {
      flip = vdupq_n_u8(encoding == CRUMB_ENC_UNSIGNED ? 0 : (uint8_t)h);
    }
  }

  __attribute__((always_inline)) inline int8x16_t operator()(const uint8_t* sb, unsigned nv,
                                                             unsigned v, unsigned q) const {
    if (BITS == 8) return vreinterpretq_s8_u8(veorq_u8(vld1q_u8(sb + 64 * v + 16 * q), flip));
    uint8x16_t code = vdupq_n_u8(0);
    size_t offset = 16 * q;
    int at = 0;
#pragma GCC unroll 3
    for (int pl = 0; pl < kPlanes[BITS]; pl++) {
      const int p = kWidths[BITS][pl];
      const unsigned per = 8 / p;
      uint8x16_t x = vld1q_u8(sb + offset + 64 * (v / per));
      const int sh = p * (int)(v % per) - at;
      if (sh != 0) x = vshlq_u8(x, vdupq_n_s8((int8_t)-sh));
      x = vandq_u8(x, vdupq_n_u8((uint8_t)(((1 << p) - 1) << at)));
      code = pl == 0 ? x : vorrq_u8(code, x);
      offset += 64 * ((nv * (unsigned)p + 7) / 8);
      at += p;
    }
    if (BITS <= 4) return vqtbl1q_s8(lut, code);
    return vreinterpretq_s8_u8(vsubq_u8(veorq_u8(code, flip), half));
  }
};

// The activation word of a k-group (s8 domain) in both halves of 8 bytes; `bytes` < 4 for a
// tap's partial last group (missing bytes 0: no product).
template <bool SA>
__attribute__((always_inline)) inline int8x8_t Word(const uint8_t* p, unsigned bytes) {
  uint32_t v = 0;
  if (bytes == 4) {
    memcpy(&v, p, 4);
    if (!SA) v ^= 0x80808080u;
  } else {
    for (unsigned i = 0; i < bytes; i++)
      v |= (uint32_t)(uint8_t)(p[i] ^ (SA ? 0 : 0x80)) << (8 * i);
  }
  return vreinterpret_s8_u32(vdup_n_u32(v));
}

template <bool SA>
inline uint32_t RowSum(const uint8_t* p, size_t kc) {
  uint32_t s = 0;
  for (size_t k = 0; k < kc; k++) s += (uint32_t)(int32_t)(int8_t)(p[k] ^ (SA ? 0 : 0x80));
  return s;
}

// MR rows from m0, channels 16 nb + 8 h .. + 7 (quarters 2h, 2h + 1).
template <int BITS, bool SA, int MR>
void Tile(const Call& call, const Geometry& g, const Decoder<BITS>& dec, size_t m0, size_t nb,
          unsigned h, const crumb_epilogue_neon& ep) {
  constexpr unsigned kS = kRun[BITS];
  int32x4_t acc[MR][2][2];  // [row][quarter][low / high channel pair]
  int16x8_t t16[MR][2][2];
  for (int m = 0; m < MR; m++)
    for (int q = 0; q < 2; q++)
      for (int l = 0; l < 2; l++) {
        acc[m][q][l] = vdupq_n_s32(0);
        t16[m][q][l] = vdupq_n_s16(0);
      }
  unsigned run = 0;
  auto flush = [&]() __attribute__((always_inline)) {
    for (int m = 0; m < MR; m++)
      for (int q = 0; q < 2; q++)
        for (int l = 0; l < 2; l++) {
          acc[m][q][l] = vpadalq_s16(acc[m][q][l], t16[m][q][l]);
          t16[m][q][l] = vdupq_n_s16(0);
        }
    run = 0;
  };
  const uint8_t* wblock = call.w + nb * g.block_bytes + CRUMB_DOT_HEADER;
  const size_t groups = (g.kc + 3) / 4;
  for (size_t t = 0; t < g.ks; t++) {
    const uint8_t* ap[MR];
    for (int m = 0; m < MR; m++) ap[m] = Row(call, g, m0 + (size_t)m, t);
    const uint8_t* wp = wblock + t * g.tap_bytes;
    for (size_t g0 = 0; g0 < groups; g0 += 8) {
      const unsigned nv = (unsigned)(groups - g0 < 8 ? groups - g0 : 8);
      for (unsigned v = 0; v < nv; v++) {
        const size_t k0 = 4 * (g0 + v);
        const unsigned bytes = (unsigned)(g.kc - k0 < 4 ? g.kc - k0 : 4);
        const int8x16_t w0 = dec(wp, nv, v, 2 * h), w1 = dec(wp, nv, v, 2 * h + 1);
        for (int m = 0; m < MR; m++) {
          const int8x8_t x = Word<SA>(ap[m] + k0, bytes);
          t16[m][0][0] = vmlal_s8(t16[m][0][0], vget_low_s8(w0), x);
          t16[m][0][1] = vmlal_s8(t16[m][0][1], vget_high_s8(w0), x);
          t16[m][1][0] = vmlal_s8(t16[m][1][0], vget_low_s8(w1), x);
          t16[m][1][1] = vmlal_s8(t16[m][1][1], vget_high_s8(w1), x);
        }
        if (++run == kS) flush();
      }
      wp += crumb_dot_sb_bytes(nv, BITS);
    }
  }
  flush();
  // Corrections (s8 domain, see gemm-neondot.cc) and the epilogue.
  const crumb_gemm_params* p = call.params;
  const int32_t za_s = (int32_t)call.za_u - 128;
  int32_t rsum[MR] = {0};
  if (call.has_zw) {
    for (int m = 0; m < MR; m++)
      for (size_t t = 0; t < g.ks; t++)
        rsum[m] += (int32_t)RowSum<SA>(Row(call, g, m0 + (size_t)m, t), g.kc);
  }
  const size_t n = nb * 16 + 8 * (size_t)h;
  const size_t count = call.nc - n < 8 ? call.nc - n : 8;
  const uint8_t* header = call.w + nb * g.block_bytes;
  int32x4_t zw[2], corr[2];
  for (int i = 0; i < 2; i++) {
    int32_t z[4] = {0, 0, 0, 0};
    for (size_t c = 0; c < 4; c++)
      if (4 * (size_t)i + c < count) z[c] = p->w_zero_point[n + 4 * i + c] - call.bias;
    zw[i] = vld1q_s32(z);
    int32_t ws[4];
    memcpy(ws, header + 4 * (8 * h + 4 * i), sizeof(ws));
    corr[i] = vreinterpretq_s32_u32(vmulq_u32(
        vdupq_n_u32((uint32_t)za_s),
        vsubq_u32(vmulq_u32(vreinterpretq_u32_s32(zw[i]), vdupq_n_u32((uint32_t)g.k_total)),
                  vreinterpretq_u32_s32(vld1q_s32(ws)))));
  }
  for (int m = 0; m < MR; m++) {
    int32x4_t a0 = vaddq_s32(vpaddq_s32(acc[m][0][0], acc[m][0][1]), corr[0]);
    int32x4_t a1 = vaddq_s32(vpaddq_s32(acc[m][1][0], acc[m][1][1]), corr[1]);
    if (call.has_zw) {
      a0 = vsubq_s32(a0, vmulq_n_s32(zw[0], rsum[m]));
      a1 = vsubq_s32(a1, vmulq_n_s32(zw[1], rsum[m]));
    }
    crumb_neon_output8(a0, a1, p->mul, p->add, &ep, call.c + (m0 + (size_t)m) * call.c_stride, n,
                       count);
  }
}

template <int BITS, bool SA>
void Run(const Call& call, const Geometry& g) {
  const Decoder<BITS> dec(call.params->w_encoding);
  const crumb_epilogue_neon ep = crumb_epilogue_neon_init(&call.params->out);
  const size_t halves = (call.nc + 7) / 8;
  size_t m0 = 0;
  for (; m0 + 2 <= call.mr; m0 += 2)
    for (size_t hb = 0; hb < halves; hb++) Tile<BITS, SA, 2>(call, g, dec, m0, hb / 2, hb % 2, ep);
  for (; m0 < call.mr; m0++)
    for (size_t hb = 0; hb < halves; hb++) Tile<BITS, SA, 1>(call, g, dec, m0, hb / 2, hb % 2, ep);
}

void Dispatch(Call& call, size_t ks, size_t kc) {
  if (!crumb_dot::Prepare(call)) return;
  const Geometry g = crumb_dot::MakeGeometry(ks, kc, call.params->w_bits);
  crumb_dot::WithBitsAndSign(call.params->w_bits, call.sa, [&](auto bits, auto sa) {
    Run<decltype(bits)::value, decltype(sa)::value>(call, g);
  });
}

}  // namespace

extern "C" void crumb_q8_qb_dotgemm_ukernel_2x8__neon(size_t mr, size_t nc, size_t kc,
                                                      const void* a, size_t a_stride,
                                                      const uint8_t* w, void* c, size_t c_stride,
                                                      const crumb_gemm_params* params,
                                                      int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::GemmCall(mr, nc, a, a_stride, w, c, c_stride, params);
  Dispatch(call, 1, kc);
}

extern "C" void crumb_q8_qb_dotigemm_ukernel_2x8__neon(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::IGemmCall(mr, nc, a, a_offset, zero, w, c, c_stride, params);
  Dispatch(call, ks, kc);
}
