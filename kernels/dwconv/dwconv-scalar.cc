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
    for (size_t c = 0; c < channels; c++) {
      const int8_t* v = (const int8_t*)weights + c / CRUMB_DWCONV_BLOCK * block_bytes +
                        CRUMB_DWCONV_BLOCK * 4 + c % CRUMB_DWCONV_BLOCK;
      int32_t acc = 0;
      for (size_t t = 0; t < ks; t++) {
        const uint8_t* row = (const uint8_t*)taps[t];
        if (taps[t] != zero) row += input_offset;
        const int32_t qa = crumb_load_code(row, c, a_type);
        acc += (qa - za) * (int32_t)v[t * CRUMB_DWCONV_BLOCK];
      }
      const float y = (float)acc * params->mul[c] + params->add[c];
      crumb_store_output(y, &params->out, out, c);
    }
  }
}
