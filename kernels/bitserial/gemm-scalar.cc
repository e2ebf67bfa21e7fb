// Portable popcount GEMM / IGEMM (kernels/bitserial/bitserial.h): one pixel at a time against a
// 64-channel block, 32-bit words and __builtin_popcount, P accumulated in uint32 (wrapping, like
// every kernel of the family).
#include "kernels/bitserial/internal.h"

namespace crumb_bitserial {
namespace {

template <unsigned ABITS, unsigned WBITS, class Rows>
void BsGemm(size_t mr, size_t nc, size_t kc, size_t ks, const Rows& rows, const uint8_t* w, void* c,
            size_t c_stride, const crumb_bitserial_params* p) {
  const size_t words = crumb_bitserial_words32(kc), plane_bytes = crumb_bitserial_plane_bytes(kc);
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, WBITS);
  for (size_t m = 0; m < mr; m++) {
    uint8_t* crow = static_cast<uint8_t*>(c) + m * c_stride;
    uint32_t sa = 0;
    for (size_t t = 0; t < ks; t++) sa += RowSum<ABITS>(rows(m, t), kc);
    for (size_t n0 = 0; n0 < nc; n0 += CRUMB_BITSERIAL_NR) {
      const uint8_t* block = w + (n0 / CRUMB_BITSERIAL_NR) * block_bytes;
      const uint8_t* wr = block + CRUMB_BITSERIAL_BLOCK_HEADER;
      uint32_t acc[CRUMB_BITSERIAL_NR] = {0};
      for (size_t t = 0; t < ks; t++) {
        const uint8_t* a = rows(m, t);
        for (size_t d = 0; d < words; d++) {
          uint32_t ai[ABITS];
          for (unsigned i = 0; i < ABITS; i++) ai[i] = Load32(a + i * plane_bytes + 4 * d);
          for (unsigned j = 0; j < WBITS; j++, wr += CRUMB_BITSERIAL_ROW_BYTES) {
            for (size_t l = 0; l < CRUMB_BITSERIAL_NR; l++) {
              const uint32_t u = Load32(wr + 4 * l);
              for (unsigned i = 0; i < ABITS; i++) {
                acc[l] += (uint32_t)__builtin_popcount(ai[i] & u) << (i + j);
              }
            }
          }
        }
      }
      const size_t count = nc - n0 < CRUMB_BITSERIAL_NR ? nc - n0 : CRUMB_BITSERIAL_NR;
      const uint32_t shift = Shift(block);
      int32_t out[CRUMB_BITSERIAL_NR];
      for (size_t j = 0; j < count; j++) {
        out[j] = Correct(acc[j], sa, block, j, shift, p->a_zero_point);
      }
      StoreBlock(out, n0, count, p, crow);
    }
  }
}

}  // namespace
}  // namespace crumb_bitserial

#define CRUMB_BITSERIAL_SCALAR(ABITS, WBITS)                                                       \
  extern "C" void crumb_qu##ABITS##_qb##WBITS##_bsgemm_ukernel_1x64__scalar(                       \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c,  \
      size_t c_stride, const crumb_bitserial_params* params) {                                     \
    crumb_bitserial::BsGemm<ABITS, WBITS>(                                                         \
        mr, nc, kc, 1, crumb_bitserial::DirectRows{static_cast<const uint8_t*>(a), a_stride}, w,   \
        c, c_stride, params);                                                                      \
  }                                                                                                \
  extern "C" void crumb_qu##ABITS##_qb##WBITS##_bsigemm_ukernel_1x64__scalar(                      \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                 \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                                \
      const crumb_bitserial_params* params) {                                                      \
    crumb_bitserial::BsGemm<ABITS, WBITS>(mr, nc, kc, ks,                                          \
                                          crumb_bitserial::IndirectRows{a, ks, a_offset, zero}, w, \
                                          c, c_stride, params);                                    \
  }
CRUMB_BITSERIAL_SCALAR(1, 1)
CRUMB_BITSERIAL_SCALAR(2, 1)
CRUMB_BITSERIAL_SCALAR(1, 2)
CRUMB_BITSERIAL_SCALAR(2, 2)
