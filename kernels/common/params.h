// Parameters of the microkernel contracts. Shared by every kernel family and ISA: kernels with
// the same prefix take the same parameters and return the same bits.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Storage of one activation element. Quantized activations hold one code per byte: int8 for
// SIGNED / TERNARY / BIPOLAR codes, uint8 for UNSIGNED codes.
enum crumb_elem_type {
  CRUMB_ELEM_S8 = 0,
  CRUMB_ELEM_U8 = 1,
  CRUMB_ELEM_F32 = 2,
};

// Weight encodings; the values are schema/crumb.fbs's Encoding.
enum crumb_weight_encoding {
  CRUMB_ENC_SIGNED = 0,
  CRUMB_ENC_UNSIGNED = 1,
  CRUMB_ENC_BIPOLAR = 2,  // 1-bit code c means 2c - 1
  CRUMB_ENC_TERNARY = 3,  // 2-bit two's complement codes -1, 0, +1
};

// Requantizing epilogue of schema/README.md, E(y): clamp y to [lo - z, hi - z] with float
// compares, round half to even, add z. For FLOAT32 outputs: min(max(y, fmin), fmax).
typedef struct crumb_output_params {
  uint32_t type;  // crumb_elem_type of the output
  int32_t zero_point;
  int32_t qmin;
  int32_t qmax;
  float fmin;
  float fmax;
} crumb_output_params;

// GEMM / IGEMM over ROWS_LSB weights (kernels/common/pack.h): row o holds the K codes of output
// channel o. acc = sum (qa - za)(qw - zw[o]) in int32; y = float(acc) * mul[o] + add[o].
typedef struct crumb_gemm_params {
  uint32_t a_type;  // CRUMB_ELEM_S8 or CRUMB_ELEM_U8
  int32_t a_zero_point;
  uint32_t w_bits;              // 1..8
  uint32_t w_encoding;          // crumb_weight_encoding
  size_t w_row_bytes;           // crumb_rows_lsb_row_bytes(K, bits)
  const int32_t* w_zero_point;  // [nc]: for the nc channels of this call
  const float* mul;             // [nc]
  const float* add;             // [nc]
  crumb_output_params out;
} crumb_gemm_params;

// y = float(q - zx) * scale for pooling / requantization; E(y).
typedef struct crumb_requant_params {
  uint32_t in_type;  // CRUMB_ELEM_S8 or CRUMB_ELEM_U8
  int32_t in_zero_point;
  float scale;  // M = (float)((double)s_in / (double)s_out)
  crumb_output_params out;
} crumb_requant_params;

typedef struct crumb_quantize_params {
  float scale;  // the output scale; x / scale, never x * (1 / scale)
  crumb_output_params out;
} crumb_quantize_params;

typedef struct crumb_dequantize_params {
  uint32_t in_type;
  int32_t in_zero_point;
  float scale;
} crumb_dequantize_params;

// y = float(qa - za) * Ma + float(qb - zb) * Mb; E(y).
typedef struct crumb_add_params {
  uint32_t a_type;
  int32_t a_zero_point;
  float a_scale;
  uint32_t b_type;
  int32_t b_zero_point;
  float b_scale;
  crumb_output_params out;
} crumb_add_params;

// y = float((qa - za) * (qb - zb)) * M (the product exact in int32); E(y).
typedef struct crumb_mul_params {
  uint32_t a_type;
  int32_t a_zero_point;
  uint32_t b_type;
  int32_t b_zero_point;
  float scale;  // M = sa * sb / s_out, rounded once to float
  crumb_output_params out;
} crumb_mul_params;

#ifdef __cplusplus
}
#endif
