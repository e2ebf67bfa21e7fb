// The `elementwise` kernel family: SIMD kernels of the element-wise and pooling contracts of
// kernels/scalar/scalar.h (byte table lookup, quantize, add, max pooling, requantize). They take
// the same parameters as the scalar kernels and return exactly their bits for every input the
// contract allows, NaN, +-inf and ties included: the float steps are the scalar ones in the same
// order (x / scale stays a division; float(qa - za) * Ma + float(qb - zb) * Mb is mul, mul, add,
// never fused), the clamp is kernels/common/requant.h's compare order, NaN becomes the clamp of
// the zero point, and rounding is the default round-half-to-even conversion. Elements past the
// last full vector are handled with masked loads and stores (AVX-512) or requant.h (elsewhere);
// nothing outside the caller's arrays is read or written.
#pragma once

#include "kernels/scalar/scalar.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_ELEMENTWISE_UKERNEL(kind, name, isa) crumb_##kind##_ukernel_fn name;
#include "kernels/elementwise/elementwise.inc"

#ifdef __cplusplus
}
#endif
