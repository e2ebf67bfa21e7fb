// Helpers the sparse kernels share (no intrinsics): the generic store of a tile of up to 4
// channels x count pixels, used where the vector store does not apply (NHWC outputs, a last group
// of fewer than 4 channels, f32 outputs).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/common/params.h"

namespace crumb_sparse {

// q[c * mr + p] (codes) or f[c * mr + p] (floats, already clamped) of channels c < nq of one
// output group, pixels p < count; out at (pixel 0, the group's channel 0).
inline void StoreTile(const int32_t* q, const float* f, size_t mr, uint32_t type, size_t count,
                      size_t nq, void* out, size_t pixel_stride) {
  for (size_t p = 0; p < count; p++) {
    for (size_t c = 0; c < nq; c++) {
      const size_t at = p * pixel_stride + c;
      if (type == CRUMB_ELEM_F32) {
        ((float*)out)[at] = f[c * mr + p];
      } else {
        ((uint8_t*)out)[at] = (uint8_t)q[c * mr + p];
      }
    }
  }
}

// The dwords (byte c = channel c's code) of 4 channels x count pixels to out (pixel p at
// out + p * pixel_stride, bytes).
inline void StoreWords(const uint32_t* words, size_t count, void* out, size_t pixel_stride) {
  for (size_t p = 0; p < count; p++) memcpy((uint8_t*)out + p * pixel_stride, words + p, 4);
}

// Same for the first nq (1..4) channels: bytes 0 .. nq - 1 of each dword.
inline void StoreWords(const uint32_t* words, size_t count, size_t nq, void* out,
                       size_t pixel_stride) {
  if (nq == 4) {
    StoreWords(words, count, out, pixel_stride);
    return;
  }
  for (size_t p = 0; p < count; p++) memcpy((uint8_t*)out + p * pixel_stride, words + p, nq);
}

}  // namespace crumb_sparse
