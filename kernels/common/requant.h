// The one requantization rule (schema/README.md, "Requantizing epilogue"). Every kernel of every
// ISA must produce exactly these bits; SIMD kernels use it for their remainders.
#pragma once

#include <math.h>
#include <stdint.h>

#include "kernels/common/pack.h"
#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

// E(y) = clamp y to [lo - z, hi - z] (float compares), round half to even, + z. NaN has no
// order, so it is given the value the clamp of 0 would: z inside [lo, hi].
static inline int32_t crumb_requantize_value(float y, int32_t z, int32_t lo, int32_t hi) {
  float v = y;
  const float vlo = (float)(lo - z);
  const float vhi = (float)(hi - z);
  if (v < vlo) v = vlo;
  if (v > vhi) v = vhi;
  if (v != v) return z < lo ? lo : (z > hi ? hi : z);
  // nearbyintf rounds in the current rounding mode, which is round-to-nearest-even unless a
  // caller changed it; the runtime never does.
  return (int32_t)nearbyintf(v) + z;
}

static inline float crumb_clamp_float(float y, float lo, float hi) {
  float v = y;
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

// Stores y (the real-valued result before the epilogue) as element i of an output row.
static inline void crumb_store_output(float y, const crumb_output_params* p, void* out, size_t i) {
  switch (p->type) {
    case CRUMB_ELEM_S8:
      ((int8_t*)out)[i] = (int8_t)crumb_requantize_value(y, p->zero_point, p->qmin, p->qmax);
      break;
    case CRUMB_ELEM_U8:
      ((uint8_t*)out)[i] = (uint8_t)crumb_requantize_value(y, p->zero_point, p->qmin, p->qmax);
      break;
    default:
      ((float*)out)[i] = crumb_clamp_float(y, p->fmin, p->fmax);
      break;
  }
}

static inline int32_t crumb_load_code(const void* in, size_t i, uint32_t type) {
  return type == CRUMB_ELEM_U8 ? (int32_t)((const uint8_t*)in)[i] : (int32_t)((const int8_t*)in)[i];
}

// Value of a weight code as the encoding defines it.
static inline int32_t crumb_weight_value(const uint8_t* row, size_t i, uint32_t bits,
                                         uint32_t encoding) {
  switch (encoding) {
    case CRUMB_ENC_UNSIGNED:
      return crumb_rows_lsb_get(row, i, bits, 0);
    case CRUMB_ENC_BIPOLAR:
      return 2 * crumb_rows_lsb_get(row, i, bits, 0) - 1;
    default:  // SIGNED, TERNARY
      return crumb_rows_lsb_get(row, i, bits, 1);
  }
}

// Unpacks one ROWS_LSB row of k codes into (qw - zw), one int32 per code.
static inline void crumb_decode_weight_row(const uint8_t* row, size_t k, uint32_t bits,
                                           uint32_t encoding, int32_t zw, int32_t* out) {
  for (size_t i = 0; i < k; i++) out[i] = crumb_weight_value(row, i, bits, encoding) - zw;
}

#ifdef __cplusplus
}
#endif
