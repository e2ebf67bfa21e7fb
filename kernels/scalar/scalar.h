// Microkernel contracts and the declarations of the portable scalar kernels.
// Kernels are leaf functions: no allocation, no threads, no logging. Activations are one code
// per byte (kernels/common/params.h), 4-D tensors NHWC (channels innermost).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

// GEMM: c[m][n] = E(float(sum_k (a[m][k] - za)(w[n][k] - zw[n])) * mul[n] + add[n]) for m < mr,
// n < nc. Row m of a starts at a + m * a_stride (bytes); row m of c at c + m * c_stride (bytes);
// w is the first of nc ROWS_LSB rows of kc codes, params->w_row_bytes apart. scratch holds kc
// int32.
typedef void crumb_gemm_ukernel_fn(size_t mr, size_t nc, size_t kc, const void* a, size_t a_stride,
                                   const uint8_t* w, void* c, size_t c_stride,
                                   const crumb_gemm_params* params, int32_t* scratch);

// Indirect GEMM (convolution): output pixel m has ks taps; tap t reads kc codes at
// a[m * ks + t] + a_offset (bytes), or at `zero` unchanged when the pointer is `zero` (the shared
// padding row, filled with za so padding taps add 0). Weight row n holds ks * kc codes in
// (tap, channel) order. scratch holds ks * kc int32.
typedef void crumb_igemm_ukernel_fn(size_t mr, size_t nc, size_t kc, size_t ks, const void** a,
                                    size_t a_offset, const void* zero, const uint8_t* w, void* c,
                                    size_t c_stride, const crumb_gemm_params* params,
                                    int32_t* scratch);

// Max pooling over `channels` channels of each of `output_pixels` pixels; tap t of pixel p reads
// input[p * ks + t] + input_offset (bytes), NULL taps (padding) are skipped. m = max code,
// y = float(m - zx) * scale; E(y). A pixel without a valid tap gets y = 0.
typedef void crumb_maxpool_ukernel_fn(size_t output_pixels, size_t ks, size_t channels,
                                      const void** input, size_t input_offset, void* output,
                                      size_t output_stride, const crumb_requant_params* params);

// Average pooling: acc = sum (q - zx) over the non-NULL taps; y = float(acc) * scale /
// float(divisor[p]); E(y). A divisor of 0 gives y = 0.
typedef void crumb_avgpool_ukernel_fn(size_t output_pixels, size_t ks, size_t channels,
                                      const void** input, size_t input_offset,
                                      const int32_t* divisor, void* output, size_t output_stride,
                                      const crumb_requant_params* params);

// Global average pooling of `rows` pixels (input_stride bytes apart) of `channels` codes:
// acc[c] = sum (q - zx); y = float(acc) * scale / float(rows); E(y). scratch: channels int32.
typedef void crumb_gavgpool_ukernel_fn(size_t rows, size_t channels, const void* input,
                                       size_t input_stride, void* output,
                                       const crumb_requant_params* params, int32_t* scratch);

// q = E(x / scale), n elements.
typedef void crumb_quantize_ukernel_fn(size_t n, const float* x, void* y,
                                       const crumb_quantize_params* params);
// y = float(q - z) * scale, n elements.
typedef void crumb_dequantize_ukernel_fn(size_t n, const void* x, float* y,
                                         const crumb_dequantize_params* params);
// q_out = E(float(q - zx) * scale), n elements.
typedef void crumb_requantize_ukernel_fn(size_t n, const void* x, void* y,
                                         const crumb_requant_params* params);
// y[i] = table[x[i]] over bytes, n elements: any function of one 8-bit code, tabulated once (the
// runtime tabulates Requantize with the requantize kernel itself, so results are identical).
typedef void crumb_x8lut_ukernel_fn(size_t n, const uint8_t* x, const uint8_t table[256],
                                    uint8_t* y);
// q_out = E(float(qa - za) * Ma + float(qb - zb) * Mb), n elements.
typedef void crumb_vadd_ukernel_fn(size_t n, const void* a, const void* b, void* y,
                                   const crumb_add_params* params);
// q_out = E(float((qa - za) * (qb - zb)) * M), n elements (the product in int32).
typedef void crumb_vmul_ukernel_fn(size_t n, const void* a, const void* b, void* y,
                                   const crumb_mul_params* params);

#define CRUMB_UKERNEL(kind, name) crumb_##kind##_ukernel_fn name;
#include "kernels/scalar/scalar.inc"

#ifdef __cplusplus
}
#endif
