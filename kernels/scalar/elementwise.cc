// Scalar element-wise kernels: quantize, dequantize, requantize, add, byte table lookup.
#include <stdint.h>

#include "kernels/common/requant.h"
#include "kernels/scalar/scalar.h"

extern "C" void crumb_f32_q8_quantize_ukernel__scalar(size_t n, const float* x, void* y,
                                                      const crumb_quantize_params* params) {
  for (size_t i = 0; i < n; i++) crumb_store_output(x[i] / params->scale, &params->out, y, i);
}

extern "C" void crumb_q8_f32_dequantize_ukernel__scalar(size_t n, const void* x, float* y,
                                                        const crumb_dequantize_params* params) {
  for (size_t i = 0; i < n; i++) {
    y[i] = (float)(crumb_load_code(x, i, params->in_type) - params->in_zero_point) * params->scale;
  }
}

extern "C" void crumb_q8_requantize_ukernel__scalar(size_t n, const void* x, void* y,
                                                    const crumb_requant_params* params) {
  for (size_t i = 0; i < n; i++) {
    const float v =
        (float)(crumb_load_code(x, i, params->in_type) - params->in_zero_point) * params->scale;
    crumb_store_output(v, &params->out, y, i);
  }
}

extern "C" void crumb_x8_lut_ukernel__scalar(size_t n, const uint8_t* x, const uint8_t table[256],
                                             uint8_t* y) {
  for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}

extern "C" void crumb_q8_vmul_ukernel__scalar(size_t n, const void* a, const void* b, void* y,
                                              const crumb_mul_params* params) {
  for (size_t i = 0; i < n; i++) {
    const int32_t acc = (crumb_load_code(a, i, params->a_type) - params->a_zero_point) *
                        (crumb_load_code(b, i, params->b_type) - params->b_zero_point);
    crumb_store_output((float)acc * params->scale, &params->out, y, i);
  }
}

extern "C" void crumb_q8_vadd_ukernel__scalar(size_t n, const void* a, const void* b, void* y,
                                              const crumb_add_params* params) {
  for (size_t i = 0; i < n; i++) {
    const float va =
        (float)(crumb_load_code(a, i, params->a_type) - params->a_zero_point) * params->a_scale;
    const float vb =
        (float)(crumb_load_code(b, i, params->b_type) - params->b_zero_point) * params->b_scale;
    crumb_store_output(va + vb, &params->out, y, i);
  }
}
