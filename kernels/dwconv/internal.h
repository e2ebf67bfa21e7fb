// What the dwconv kernels of one architecture share (no intrinsics): the tap pointers of a group
// of output pixels with input_offset applied, and the x86 kernels' internal entry points.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/dwconv/dwconv.h"

namespace crumb_dwconv {

// Tap pointers (input_offset applied; the zero row as it is) held at once.
constexpr size_t kMaxPtrs = 512;

// Calls f(x0, nx, taps) for consecutive groups of output pixels [x0, x0 + nx): taps[x * ks + t]
// is tap t of pixel x0 + x, ready to read at channel 0. With input_offset 0 that is `input`
// itself; otherwise groups of kMaxPtrs / ks pixels are resolved into a stack array. ks <=
// kMaxPtrs.
template <typename F>
inline void ForEachPixelGroup(size_t width, size_t ks, const void** input, size_t input_offset,
                              const void* zero, F&& f) {
  if (input_offset == 0) {
    f((size_t)0, width, (const void* const*)input);
    return;
  }
  const void* ptrs[kMaxPtrs];
  const size_t group = kMaxPtrs / ks;
  for (size_t x0 = 0; x0 < width; x0 += group) {
    const size_t nx = width - x0 < group ? width - x0 : group;
    for (size_t i = 0; i < nx * ks; i++) {
      const void* r = input[x0 * ks + i];
      ptrs[i] = r == zero ? r : (const void*)((const uint8_t*)r + input_offset);
    }
    f(x0, nx, (const void* const*)ptrs);
  }
}

}  // namespace crumb_dwconv

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
extern "C" {
// The AVX2 kernel on channels [c_begin, c_end) (c_begin a multiple of 32, c_end <= the call's
// channels) of width pixels with resolved taps (ForEachPixelGroup); output points at the first
// pixel's row (channel 0). The AVX-512 kernel hands it last blocks of <= 32 channels.
void crumb_dwconv_avx2_channels(size_t c_begin, size_t c_end, size_t width, size_t ks,
                                const void* const* taps, const uint8_t* weights, uint8_t* output,
                                size_t output_stride, const crumb_dwconv_params* params);
}
#endif
