// crumb_q8_qb_dwconv_ukernel_c64__scalar: the dwconv contract (kernels/dwconv/dwconv.h) as
// plain loops: acc = sum (qa - za) * v in int32, then the scalar epilogue of
// kernels/common/requant.h. The portable kernel of the family and the model for the SIMD ones.
#include <stdint.h>
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/dwconv/dwconv.h"

extern "C" void crumb_q8_qb_dwconv_ukernel_c64__scalar(size_t channels, size_t width, size_t ks,
                                                       const void** input, size_t input_offset,
                                                       const void* zero, const void* weights,
                                                       void* output, size_t output_stride,
                                                       const crumb_dwconv_params* params) {
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  const int32_t za = params->a_zero_point;
  const uint32_t a_type = params->a_type;
  for (size_t x = 0; x < width; x++) {
    const void** taps = input + x * ks;
    uint8_t* out = (uint8_t*)output + x * output_stride;
    for (size_t c0 = 0; c0 < channels; c0 += CRUMB_DWCONV_BLOCK) {
      const size_t nc = channels - c0 < CRUMB_DWCONV_BLOCK ? channels - c0 : CRUMB_DWCONV_BLOCK;
      const int8_t* v = (const int8_t*)weights + c0 / CRUMB_DWCONV_BLOCK * block_bytes +
                        CRUMB_DWCONV_BLOCK * 4;  // tap t, channel c0 + i: v[t * 64 + i]
      int32_t acc[CRUMB_DWCONV_BLOCK] = {0};
      for (size_t t = 0; t < ks; t++) {
        const uint8_t* row = (const uint8_t*)taps[t];
        if (taps[t] != zero) row += input_offset;
        const int8_t* vt = v + t * CRUMB_DWCONV_BLOCK;
        if (a_type == CRUMB_ELEM_U8) {
          for (size_t i = 0; i < nc; i++) acc[i] += ((int32_t)row[c0 + i] - za) * (int32_t)vt[i];
        } else {
          const int8_t* srow = (const int8_t*)row;
          for (size_t i = 0; i < nc; i++) acc[i] += ((int32_t)srow[c0 + i] - za) * (int32_t)vt[i];
        }
      }
      for (size_t i = 0; i < nc; i++) {
        const float y = (float)acc[i] * params->mul[c0 + i] + params->add[c0 + i];
        crumb_store_output(y, &params->out, out, c0 + i);
      }
    }
  }
}
