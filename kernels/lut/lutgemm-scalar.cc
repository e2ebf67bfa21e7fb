// Portable pair-table GEMM / IGEMM (kernels/lut/lut.h): the same lookups as the SIMD kernels, one
// lane at a time, accumulated in uint32 (wrapping, like every kernel of the family).
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/lut/lut.h"

namespace {

// Where tap t of output pixel m reads its packed row.
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

// E(y) of the 64 channels of a block, [0, count) valid, into the row at channel n0.
void StoreBlock(const int32_t* acc, size_t n0, size_t count, const crumb_lut_params* p, void* row) {
  if (p->out_bits == 2 || p->out_bits == 4) {
    uint8_t codes[CRUMB_LUT_NR] = {0};
    for (size_t j = 0; j < count; j++) {
      const float y = (float)acc[j] * p->mul[n0 + j] + p->add[n0 + j];
      codes[j] = (uint8_t)crumb_requantize_value(y, p->out.zero_point, p->out.qmin, p->out.qmax);
    }
    const unsigned ob = p->out_bits, per_byte = 8 / ob;
    uint8_t* out = static_cast<uint8_t*>(row) + n0 * ob / 8;
    for (size_t i = 0; i < (count * ob + 7) / 8; i++) {
      unsigned b = 0;
      for (unsigned f = 0; f < per_byte; f++) b |= (unsigned)codes[i * per_byte + f] << (f * ob);
      out[i] = (uint8_t)b;
    }
    return;
  }
  for (size_t j = 0; j < count; j++) {
    crumb_store_output((float)acc[j] * p->mul[n0 + j] + p->add[n0 + j], &p->out, row, n0 + j);
  }
}

template <unsigned ABITS, class Rows>
void LutGemm(size_t mr, size_t nc, size_t kc, size_t ks, Rows rows, const uint8_t* w, void* c,
             size_t c_stride, const crumb_lut_params* p) {
  const uint8_t* table = p->table;
  const size_t steps = crumb_lut_steps(kc);
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  // Every step looks up two pairs per lane, each biased by the table's bias.
  const uint32_t bias_total =
      (uint32_t)crumb_lut_table_trailer(table, ABITS)->bias * (uint32_t)(2 * steps * ks);
  for (size_t m = 0; m < mr; m++) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride;
    for (size_t n0 = 0; n0 < nc; n0 += CRUMB_LUT_NR) {
      const uint8_t* block = w + (n0 / CRUMB_LUT_NR) * block_bytes;
      uint32_t acc[CRUMB_LUT_NR] = {0};
      const uint8_t* wl = block + CRUMB_LUT_BLOCK_HEADER;
      for (size_t t = 0; t < ks; t++) {
        const uint8_t* a = rows(m, t);
        for (size_t s = 0; s < steps; s++, wl += CRUMB_LUT_NR) {
          const uint8_t *t0, *t1;
          if (ABITS == 2) {
            t0 = table + (a[s] & 15) * CRUMB_LUT_ROW;
            t1 = table + (a[s] >> 4) * CRUMB_LUT_ROW;
          } else {
            t0 = table + a[2 * s] * CRUMB_LUT_ROW;
            t1 = table + a[2 * s + 1] * CRUMB_LUT_ROW;
          }
          for (size_t l = 0; l < CRUMB_LUT_NR; l++) acc[l] += t0[wl[l] & 15] + t1[wl[l] >> 4];
        }
      }
      const size_t count = nc - n0 < CRUMB_LUT_NR ? nc - n0 : CRUMB_LUT_NR;
      int32_t out[CRUMB_LUT_NR];
      for (size_t j = 0; j < count; j++) {
        int32_t ksum;
        memcpy(&ksum, block + 4 * j, 4);
        out[j] = (int32_t)(acc[crumb_lut_lane((unsigned)j)] - bias_total -
                           (uint32_t)p->a_zero_point * (uint32_t)ksum);
      }
      StoreBlock(out, n0, count, p, crow);
    }
  }
}

}  // namespace

#define CRUMB_LUT_SCALAR(ABITS)                                                                   \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_1x64__scalar(                             \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    LutGemm<ABITS>(mr, nc, kc, 1, DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, c,     \
                   c_stride, params);                                                             \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_1x64__scalar(                            \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    LutGemm<ABITS>(mr, nc, kc, ks, IndirectRows{a, ks, a_offset, zero}, w, c, c_stride, params);  \
  }
CRUMB_LUT_SCALAR(2)
CRUMB_LUT_SCALAR(3)
CRUMB_LUT_SCALAR(4)

// GEMV: sum a v = sum l v + 16 sum h v over the 4-bit halves of the 8-bit codes (lut.h), each half
// through the A4 pair table like the GEMM above.
extern "C" void crumb_q8_qs2_lutgemv_ukernel_1x64__scalar(size_t nc, size_t kc, const void* a,
                                                          const uint8_t* w, void* c,
                                                          const crumb_lut_params* p,
                                                          uint8_t* scratch) {
  const uint8_t* codes = static_cast<const uint8_t*>(a);
  const uint32_t flip = p->a_type == CRUMB_ELEM_S8 ? 0x80 : 0;
  const uint32_t za = (uint32_t)(p->a_zero_point + (int32_t)flip);
  const size_t rb = crumb_lut_act_row_bytes(kc, 4);
  uint8_t* lo = scratch;
  uint8_t* hi = scratch + rb;
  for (size_t j = 0; j < rb; j++) {
    const uint32_t a0 = 2 * j < kc ? codes[2 * j] ^ flip : 0;
    const uint32_t a1 = 2 * j + 1 < kc ? codes[2 * j + 1] ^ flip : 0;
    lo[j] = (uint8_t)((a0 & 15) | (a1 & 15) << 4);
    hi[j] = (uint8_t)((a0 >> 4) | (a1 & 0xF0));
  }
  const uint8_t* table = p->table;
  const size_t steps = crumb_lut_steps(kc);
  const size_t block_bytes = crumb_lut_block_bytes(1, kc);
  const uint32_t bias_total =
      (uint32_t)crumb_lut_table_trailer(table, 4)->bias * (uint32_t)(2 * steps);
  for (size_t n0 = 0; n0 < nc; n0 += CRUMB_LUT_NR) {
    const uint8_t* block = w + (n0 / CRUMB_LUT_NR) * block_bytes;
    uint32_t acc_l[CRUMB_LUT_NR] = {0}, acc_h[CRUMB_LUT_NR] = {0};
    const uint8_t* wl = block + CRUMB_LUT_BLOCK_HEADER;
    for (size_t s = 0; s < steps; s++, wl += CRUMB_LUT_NR) {
      const uint8_t* l0 = table + lo[2 * s] * CRUMB_LUT_ROW;
      const uint8_t* l1 = table + lo[2 * s + 1] * CRUMB_LUT_ROW;
      const uint8_t* h0 = table + hi[2 * s] * CRUMB_LUT_ROW;
      const uint8_t* h1 = table + hi[2 * s + 1] * CRUMB_LUT_ROW;
      for (size_t l = 0; l < CRUMB_LUT_NR; l++) {
        acc_l[l] += l0[wl[l] & 15] + l1[wl[l] >> 4];
        acc_h[l] += h0[wl[l] & 15] + h1[wl[l] >> 4];
      }
    }
    const size_t count = nc - n0 < CRUMB_LUT_NR ? nc - n0 : CRUMB_LUT_NR;
    int32_t out[CRUMB_LUT_NR];
    for (size_t j = 0; j < count; j++) {
      int32_t ksum;
      memcpy(&ksum, block + 4 * j, 4);
      const unsigned l = crumb_lut_lane((unsigned)j);
      out[j] =
          (int32_t)((acc_l[l] - bias_total) + 16u * (acc_h[l] - bias_total) - za * (uint32_t)ksum);
    }
    StoreBlock(out, n0, count, p, c);
  }
}
