// The DWCONV_C64 packer (kernels/dwconv/dwconv.h describes the layout). Runs offline in the
// converter, at prepare in the runtime and in tests; clarity over speed.
#include <stdlib.h>
#include <string.h>

#include "kernels/common/requant.h"
#include "kernels/dwconv/dwconv.h"

extern "C" int crumb_dwconv_pack(const uint8_t* rows, unsigned bits, unsigned encoding,
                                 const int32_t* zw, size_t channels, size_t ks, uint8_t* dst,
                                 uint32_t* max_abs_v) {
  if (bits < 1 || bits > 8) return 0;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(ks, bits);
  // First pass: every value in int8, and the largest |v|; dst is untouched on refusal.
  uint32_t max_abs = 0;
  for (size_t c = 0; c < channels; c++) {
    for (size_t t = 0; t < ks; t++) {
      const int32_t v = crumb_weight_value(rows + c * row_bytes, t, bits, encoding) - zw[c];
      if (v < -128 || v > 127) return 0;
      const uint32_t a = (uint32_t)abs(v);
      if (a > max_abs) max_abs = a;
    }
  }
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  memset(dst, 0, crumb_dwconv_packed_size(channels, ks));
  for (size_t c = 0; c < channels; c++) {
    uint8_t* block = dst + c / CRUMB_DWCONV_BLOCK * block_bytes;
    const size_t lane = c % CRUMB_DWCONV_BLOCK;
    int32_t vsum = 0;
    for (size_t t = 0; t < ks; t++) {
      const int32_t v = crumb_weight_value(rows + c * row_bytes, t, bits, encoding) - zw[c];
      vsum += v;
      block[CRUMB_DWCONV_BLOCK * 4 + t * CRUMB_DWCONV_BLOCK + lane] = (uint8_t)(int8_t)v;
    }
    memcpy(block + 4 * lane, &vsum, 4);  // little-endian int32, like all of crumb
  }
  if (max_abs_v) *max_abs_v = max_abs;
  return 1;
}

extern "C" int crumb_dwconv_unpack(const uint8_t* src, size_t channels, size_t ks,
                                   int32_t* values) {
  const size_t block_bytes = crumb_dwconv_block_bytes(ks);
  const size_t padded = crumb_dwconv_blocks(channels) * CRUMB_DWCONV_BLOCK;
  for (size_t c = 0; c < padded; c++) {
    const uint8_t* block = src + c / CRUMB_DWCONV_BLOCK * block_bytes;
    const size_t lane = c % CRUMB_DWCONV_BLOCK;
    int32_t sum = 0;
    for (size_t t = 0; t < ks; t++) {
      const int32_t v = (int8_t)block[CRUMB_DWCONV_BLOCK * 4 + t * CRUMB_DWCONV_BLOCK + lane];
      if (c < channels) {
        values[c * ks + t] = v;
      } else if (v != 0) {
        return 0;  // a padding channel must be zero
      }
      sum += v;
    }
    int32_t vsum;
    memcpy(&vsum, block + 4 * lane, 4);
    if (vsum != sum) return 0;
  }
  return 1;
}
