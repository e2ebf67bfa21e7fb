// Internal activation layout. 4-D tensors are stored NHWC (channels innermost, as the SIMD
// kernels need); every other rank is stored in its logical order. The C API converts to and from
// the logical (ONNX, NCHW) order.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

namespace crumb::rt {

using Shape = std::vector<int64_t>;

inline int64_t ElementCount(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// True when the physical order equals the logical one.
inline bool LayoutIsLogical(const Shape& s) {
  return s.size() != 4 || s[1] == 1 || s[2] * s[3] == 1;
}

// Physical element stride of each logical dimension.
inline std::vector<int64_t> PhysicalStrides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  if (s.size() == 4) {
    const int64_t c = s[1], h = s[2], w = s[3];
    st[0] = h * w * c;
    st[1] = 1;
    st[2] = w * c;
    st[3] = c;
  } else {
    int64_t acc = 1;
    for (size_t i = s.size(); i-- > 0;) {
      st[i] = acc;
      acc *= s[i];
    }
  }
  return st;
}

// Calls f(logical_index, physical_index) for every element, logical order.
template <typename F>
void ForEachElement(const Shape& s, F&& f) {
  const size_t rank = s.size();
  const int64_t n = ElementCount(s);
  if (LayoutIsLogical(s)) {
    for (int64_t i = 0; i < n; i++) f(i, i);
    return;
  }
  const std::vector<int64_t> st = PhysicalStrides(s);
  std::vector<int64_t> idx(rank, 0);
  int64_t phys = 0;
  for (int64_t i = 0; i < n; i++) {
    f(i, phys);
    for (size_t d = rank; d-- > 0;) {
      idx[d]++;
      phys += st[d];
      if (idx[d] < s[d]) break;
      phys -= st[d] * s[d];
      idx[d] = 0;
    }
  }
}

// Converts between the logical order and the physical one.
inline void LogicalToPhysical(const Shape& s, size_t elem_size, const void* src, void* dst) {
  const uint8_t* in = static_cast<const uint8_t*>(src);
  uint8_t* out = static_cast<uint8_t*>(dst);
  if (LayoutIsLogical(s)) {
    memcpy(out, in, (size_t)ElementCount(s) * elem_size);
    return;
  }
  ForEachElement(
      s, [&](int64_t l, int64_t p) { memcpy(out + p * elem_size, in + l * elem_size, elem_size); });
}

inline void PhysicalToLogical(const Shape& s, size_t elem_size, const void* src, void* dst) {
  const uint8_t* in = static_cast<const uint8_t*>(src);
  uint8_t* out = static_cast<uint8_t*>(dst);
  if (LayoutIsLogical(s)) {
    memcpy(out, in, (size_t)ElementCount(s) * elem_size);
    return;
  }
  ForEachElement(
      s, [&](int64_t l, int64_t p) { memcpy(out + l * elem_size, in + p * elem_size, elem_size); });
}

}  // namespace crumb::rt
