// The lut kernels for AVX-512 F/BW: kernels/lut/lutgemm-avx512.h with vpshufb lookups.
#define CRUMB_LUT_AVX512_VBMI 0
#include "kernels/lut/lutgemm-avx512.h"

#define CRUMB_LUT_KERNELS(ABITS)                                                                  \
  extern "C" void crumb_qu##ABITS##_qs2_lutgemm_ukernel_4x128__avx512bw(                          \
      size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride, const uint8_t* w, void* c, \
      size_t c_stride, const crumb_lut_params* params) {                                          \
    crumb_lut_avx512::LutGemm<ABITS>(                                                             \
        mr, nc, kc, 1, crumb_lut_avx512::DirectRows{static_cast<const uint8_t*>(a), a_stride}, w, \
        c, c_stride, params);                                                                     \
  }                                                                                               \
  extern "C" void crumb_qu##ABITS##_qs2_lutigemm_ukernel_4x128__avx512bw(                         \
      size_t mr, size_t nc, size_t kc, size_t ks, const void** a, size_t a_offset,                \
      const void* zero, const uint8_t* w, void* c, size_t c_stride,                               \
      const crumb_lut_params* params) {                                                           \
    crumb_lut_avx512::LutGemm<ABITS>(mr, nc, kc, ks,                                              \
                                     crumb_lut_avx512::IndirectRows{a, ks, a_offset, zero}, w, c, \
                                     c_stride, params);                                           \
  }
CRUMB_LUT_KERNELS(2)
CRUMB_LUT_KERNELS(3)
CRUMB_LUT_KERNELS(4)

extern "C" void crumb_q8_qs2_lutgemv_ukernel_1x128__avx512bw(size_t nc, size_t kc, const void* a,
                                                             const uint8_t* w, void* c,
                                                             const crumb_lut_params* params,
                                                             uint8_t* scratch) {
  crumb_lut_avx512::LutGemv(nc, kc, a, w, c, params, scratch);
}
