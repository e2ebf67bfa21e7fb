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

#ifdef __cplusplus
#include <type_traits>

namespace crumb_elementwise {
// Calls f(kAU8, kBU8) with std::bool_constant arguments for the two inputs' code types (u8 or s8),
// so that a two-input kernel's templated body is instantiated once per combination.
template <typename F>
inline void ByCodeTypes(uint32_t a_type, uint32_t b_type, F&& f) {
  const bool au8 = a_type == CRUMB_ELEM_U8, bu8 = b_type == CRUMB_ELEM_U8;
  if (au8 && bu8) {
    f(std::true_type(), std::true_type());
  } else if (au8) {
    f(std::true_type(), std::false_type());
  } else if (bu8) {
    f(std::false_type(), std::true_type());
  } else {
    f(std::false_type(), std::false_type());
  }
}
}  // namespace crumb_elementwise
#endif
