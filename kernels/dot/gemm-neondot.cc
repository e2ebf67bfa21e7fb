// Dot-family GEMM / IGEMM on AArch64 NEON with the dot-product extension (sdot, Armv8.2-A
// FEAT_DotProd): DOT_N16K4 weights decoded to int8 in registers, sdot by element (kernels/dot/dot.h
// has the contract). Register tile: 4 rows x 16 channels (one block; 16 int32x4 accumulators), a
// 16-byte activation register per row holding 4 k-groups, 4 decoded weight registers per k-group.
//
// sdot multiplies signed bytes, so activations are taken in the s8 domain: u8 codes are offset by
// -128 (a ^ 0x80), s8 codes are used as they are, and the zero point follows (za_s = za_u - 128,
// where za_u is kernels/dot/internal.h's u8-domain zero point). (a - za) is unchanged, so
//   acc = sum a_s w' - za_s wsum - zw' sum a_s + K za_s zw'.
// sdot sums four s8 x s8 products into an int32 lane without intermediate rounding: exact, and
// wrapping like the scalar kernels. Decoding: per bit plane a 16-byte load, a shift of each byte
// and a mask; tbl through a 16-entry table for 1..4 bits, (code ^ flip) - half for 5..7 bits.
#include <arm_neon.h>
#include <string.h>

#include <type_traits>

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

template <int BITS>
struct Decoder {
  int8x16_t lut;    // bits <= 4: w' of codes 0..15
  uint8x16_t flip;  // bits 5..7: (code ^ flip) - half; 8 bits: code ^ flip
  uint8x16_t half;

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

  // Quarter q (channels 4q .. 4q + 3) of vector v of a super-block of nv vectors at sb.
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
      // Byte lanes: a shift never mixes neighbouring bytes (negative counts shift right).
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

// 16 activation bytes (4 k-groups) in the s8 domain; `bytes` < 16 at the end of a tap: the rest
// are 0 (no product).
template <bool SA>
__attribute__((always_inline)) inline int8x16_t LoadA(const uint8_t* p) {
  const uint8x16_t x = vld1q_u8(p);
  return vreinterpretq_s8_u8(SA ? x : veorq_u8(x, vdupq_n_u8(0x80)));
}
template <bool SA>
inline int8x16_t LoadATail(const uint8_t* p, size_t bytes) {
  uint8_t b[16] = {0};
  for (size_t i = 0; i < bytes; i++) b[i] = (uint8_t)(p[i] ^ (SA ? 0 : 0x80));
  return vreinterpretq_s8_u8(vld1q_u8(b));
}

// Sum of the kc codes at p in the s8 domain.
template <bool SA>
inline uint32_t RowSum(const uint8_t* p, size_t kc) {
  uint32_t s = 0;
  for (size_t k = 0; k < kc; k++) s += (uint32_t)(int32_t)(int8_t)(p[k] ^ (SA ? 0 : 0x80));
  return s;
}

// acc[q] += w[q] . a[lane] for the 4 quarters.
#define CRUMB_SDOT4(acc, w, a, lane)                           \
  do {                                                         \
    (acc)[0] = vdotq_laneq_s32((acc)[0], (w)[0], (a), (lane)); \
    (acc)[1] = vdotq_laneq_s32((acc)[1], (w)[1], (a), (lane)); \
    (acc)[2] = vdotq_laneq_s32((acc)[2], (w)[2], (a), (lane)); \
    (acc)[3] = vdotq_laneq_s32((acc)[3], (w)[3], (a), (lane)); \
  } while (0)

template <int BITS, bool SA, int MR>
void Tile(const Call& call, const Geometry& g, const Decoder<BITS>& dec, size_t m0, size_t nb,
          const crumb_epilogue_neon& ep) {
  int32x4_t acc[MR][4];
  for (int m = 0; m < MR; m++)
    for (int q = 0; q < 4; q++) acc[m][q] = vdupq_n_s32(0);
  const uint8_t* wblock = call.w + nb * g.block_bytes + CRUMB_DOT_HEADER;
  const size_t groups = (g.kc + 3) / 4;
  for (size_t t = 0; t < g.ks; t++) {
    const uint8_t* ap[MR];
    for (int m = 0; m < MR; m++) ap[m] = Row(call, g, m0 + (size_t)m, t);
    const uint8_t* wp = wblock + t * g.tap_bytes;
    // Super-blocks of 8 groups, in two chunks of 4 groups (one activation register per row).
    for (size_t g0 = 0; g0 < groups; g0 += 8) {
      const unsigned nv = (unsigned)(groups - g0 < 8 ? groups - g0 : 8);
      for (unsigned j = 0; j < nv; j += 4) {
        const size_t k0 = 4 * (g0 + j);
        const size_t bytes = g.kc - k0 < 16 ? g.kc - k0 : 16;
        int8x16_t a[MR];
        for (int m = 0; m < MR; m++)
          a[m] = bytes == 16 ? LoadA<SA>(ap[m] + k0) : LoadATail<SA>(ap[m] + k0, bytes);
        int8x16_t w[4];
#define CRUMB_GROUP(lane)                                             \
  if (j + lane < nv) {                                                \
    for (unsigned q = 0; q < 4; q++) w[q] = dec(wp, nv, j + lane, q); \
    for (int m = 0; m < MR; m++) CRUMB_SDOT4(acc[m], w, a[m], lane);  \
  }
        CRUMB_GROUP(0)
        CRUMB_GROUP(1)
        CRUMB_GROUP(2)
        CRUMB_GROUP(3)
#undef CRUMB_GROUP
      }
      wp += crumb_dot_sb_bytes(nv, BITS);
    }
  }
  // Corrections (s8 domain) and the epilogue.
  const crumb_gemm_params* p = call.params;
  const int32_t za_s = (int32_t)call.za_u - 128;
  int32_t rsum[MR] = {0};
  if (call.has_zw) {
    for (int m = 0; m < MR; m++)
      for (size_t t = 0; t < g.ks; t++)
        rsum[m] += (int32_t)RowSum<SA>(Row(call, g, m0 + (size_t)m, t), g.kc);
  }
  const uint8_t* header = call.w + nb * g.block_bytes;
  for (int h = 0; h < 2; h++) {
    const size_t n = nb * 16 + 8 * (size_t)h;
    if (n >= call.nc) break;
    const size_t count = call.nc - n < 8 ? call.nc - n : 8;
    int32x4_t zw[2], corr[2];
    for (int i = 0; i < 2; i++) {
      int32_t z[4] = {0, 0, 0, 0};
      for (size_t c = 0; c < 4; c++)
        if (4 * (size_t)i + c < count) z[c] = p->w_zero_point[n + 4 * i + c] - call.bias;
      zw[i] = vld1q_s32(z);
      int32_t ws[4];
      memcpy(ws, header + 4 * (8 * h + 4 * i), sizeof(ws));
      // za_s (K zw' - wsum), wrapping (uint32 arithmetic).
      corr[i] = vreinterpretq_s32_u32(vmulq_u32(
          vdupq_n_u32((uint32_t)za_s),
          vsubq_u32(vmulq_u32(vreinterpretq_u32_s32(zw[i]), vdupq_n_u32((uint32_t)g.k_total)),
                    vreinterpretq_u32_s32(vld1q_s32(ws)))));
    }
    for (int m = 0; m < MR; m++) {
      int32x4_t a0 = vaddq_s32(acc[m][2 * h], corr[0]);
      int32x4_t a1 = vaddq_s32(acc[m][2 * h + 1], corr[1]);
      if (call.has_zw) {
        a0 = vsubq_s32(a0, vmulq_n_s32(zw[0], rsum[m]));
        a1 = vsubq_s32(a1, vmulq_n_s32(zw[1], rsum[m]));
      }
      crumb_neon_output8(a0, a1, p->mul, p->add, &ep, call.c + (m0 + (size_t)m) * call.c_stride, n,
                         count);
    }
  }
}
#undef CRUMB_SDOT4

template <int BITS, bool SA>
void Run(const Call& call, const Geometry& g) {
  const Decoder<BITS> dec(call.params->w_encoding);
  const crumb_epilogue_neon ep = crumb_epilogue_neon_init(&call.params->out);
  const size_t blocks = (call.nc + 15) / 16;
  size_t m0 = 0;
  for (; m0 + 4 <= call.mr; m0 += 4)
    for (size_t nb = 0; nb < blocks; nb++) Tile<BITS, SA, 4>(call, g, dec, m0, nb, ep);
  for (; m0 < call.mr; m0++)
    for (size_t nb = 0; nb < blocks; nb++) Tile<BITS, SA, 1>(call, g, dec, m0, nb, ep);
}

void Dispatch(Call& call, size_t ks, size_t kc) {
  if (!crumb_dot::Prepare(call)) return;
  const Geometry g = crumb_dot::MakeGeometry(ks, kc, call.params->w_bits);
  crumb_dot::WithBitsAndSign(call.params->w_bits, call.sa, [&](auto bits, auto sa) {
    Run<decltype(bits)::value, decltype(sa)::value>(call, g);
  });
}

}  // namespace

extern "C" void crumb_q8_qb_dotgemm_ukernel_4x16__neondot(
    size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c,
    size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::GemmCall(mr, nc, a, a_stride, w, c, c_stride, params);
  Dispatch(call, 1, kc);
}

extern "C" void crumb_q8_qb_dotigemm_ukernel_4x16__neondot(
    size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset, const void* zero,
    const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params, int32_t* scratch) {
  (void)scratch;
  Call call = crumb_dot::IGemmCall(mr, nc, a, a_offset, zero, w, c, c_stride, params);
  Dispatch(call, ks, kc);
}
