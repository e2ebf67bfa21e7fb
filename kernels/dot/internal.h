// Plumbing shared by the dot-family SIMD kernels (no intrinsics): the geometry of a DOT_N16K4
// tap, the call's arguments, row pointers.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "kernels/dot/dot.h"

namespace crumb_dot {

struct Geometry {
  size_t ks, kc, k_total;
  size_t tap_bytes, block_bytes;
  size_t fast_sb;       // full super-blocks per tap for the unrolled path
  unsigned tail_nv;     // vectors per tap left for the generic path (0..8)
  unsigned tail_bytes;  // real bytes of a tap's last k-group (1..4)
};

inline Geometry MakeGeometry(size_t ks, size_t kc, unsigned bits) {
  Geometry g;
  g.ks = ks;
  g.kc = kc;
  g.k_total = ks * kc;
  g.tap_bytes = crumb_dot_tap_bytes(kc, bits);
  g.block_bytes = crumb_dot_block_bytes(ks, kc, bits);
  const size_t groups = (kc + 3) / 4;
  g.tail_bytes = groups ? (unsigned)(kc - 4 * (groups - 1)) : 4;
  g.fast_sb = groups / 8;
  g.tail_nv = (unsigned)(groups % 8);
  // A partial last k-group is loaded byte by byte: its super-block goes to the generic path.
  if (g.tail_bytes != 4 && g.tail_nv == 0) {
    g.fast_sb--;
    g.tail_nv = 8;
  }
  return g;
}

struct Call {
  size_t mr, nc;
  const uint8_t* const* ind;  // IGEMM indirection (NULL for GEMM)
  size_t a_offset;
  const void* zero;
  const uint8_t* a;  // GEMM rows
  size_t a_stride;
  const uint8_t* w;
  uint8_t* c;
  size_t c_stride;
  const crumb_gemm_params* params;
  int32_t bias;          // crumb_dot_weight_bias
  uint32_t za_u;         // activation zero point in the u8 domain
  bool has_zw;           // some zw' != 0: row sums needed
  bool sa;               // s8 activations
  const int32_t* corrs;  // per-channel za_u (K zw' - wsum) when precomputed, else NULL
};

inline Call GemmCall(size_t mr, size_t nc, const void* a, size_t a_stride, const uint8_t* w,
                     void* c, size_t c_stride, const crumb_gemm_params* params) {
  Call call{};
  call.mr = mr;
  call.nc = nc;
  call.a = static_cast<const uint8_t*>(a);
  call.a_stride = a_stride;
  call.w = w;
  call.c = static_cast<uint8_t*>(c);
  call.c_stride = c_stride;
  call.params = params;
  return call;
}

inline Call IGemmCall(size_t mr, size_t nc, const void** a, size_t a_offset, const void* zero,
                      const uint8_t* w, void* c, size_t c_stride, const crumb_gemm_params* params) {
  Call call{};
  call.mr = mr;
  call.nc = nc;
  call.ind = reinterpret_cast<const uint8_t* const*>(a);
  call.a_offset = a_offset;
  call.zero = zero;
  call.w = w;
  call.c = static_cast<uint8_t*>(c);
  call.c_stride = c_stride;
  call.params = params;
  return call;
}

// Fills the derived fields; false when there is nothing to compute.
inline bool Prepare(Call& call) {
  if (call.mr == 0 || call.nc == 0) return false;
  const crumb_gemm_params* p = call.params;
  call.sa = p->a_type != CRUMB_ELEM_U8;
  call.bias = crumb_dot_weight_bias(p->w_bits, p->w_encoding);
  call.za_u = (uint32_t)p->a_zero_point + (call.sa ? 128u : 0u);
  call.has_zw = false;
  for (size_t n = 0; n < call.nc; n++) call.has_zw |= p->w_zero_point[n] != call.bias;
  return true;
}

inline const uint8_t* Row(const Call& call, const Geometry& g, size_t m, size_t t) {
  if (!call.ind) return call.a + m * call.a_stride;
  const uint8_t* p = call.ind[m * g.ks + t];
  return p == call.zero ? p : p + call.a_offset;
}

// Calls f(std::integral_constant<int, BITS>, std::bool_constant<SA>) for the weight width (1..8)
// and activation signedness of a call, so each ISA file instantiates its kernel body once per
// (width, signedness) without repeating the switch.
template <typename F>
inline void WithBitsAndSign(unsigned bits, bool sa, F&& f) {
  auto with_sign = [&](auto b) {
    if (sa) {
      f(b, std::true_type{});
    } else {
      f(b, std::false_type{});
    }
  };
  switch (bits) {
    case 1:
      return with_sign(std::integral_constant<int, 1>{});
    case 2:
      return with_sign(std::integral_constant<int, 2>{});
    case 3:
      return with_sign(std::integral_constant<int, 3>{});
    case 4:
      return with_sign(std::integral_constant<int, 4>{});
    case 5:
      return with_sign(std::integral_constant<int, 5>{});
    case 6:
      return with_sign(std::integral_constant<int, 6>{});
    case 7:
      return with_sign(std::integral_constant<int, 7>{});
    default:
      return with_sign(std::integral_constant<int, 8>{});
  }
}

}  // namespace crumb_dot
