#include "kernels/common/pack.h"

#include <string.h>

void crumb_pack_rows_lsb(const int32_t* values, size_t rows, size_t k, unsigned bits,
                         uint8_t* dst) {
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, bits);
  memset(dst, 0, rows * row_bytes);
  const uint32_t mask = (1u << bits) - 1u;
  for (size_t r = 0; r < rows; r++) {
    uint8_t* row = dst + r * row_bytes;
    for (size_t i = 0; i < k; i++) {
      const uint32_t code = (uint32_t)values[r * k + i] & mask;
      const size_t bit = i * bits;
      row[bit >> 3] |= (uint8_t)(code << (bit & 7));
      if ((bit & 7) + bits > 8) row[(bit >> 3) + 1] |= (uint8_t)(code >> (8 - (bit & 7)));
    }
  }
}

void crumb_unpack_rows_lsb(const uint8_t* src, size_t rows, size_t k, unsigned bits, int is_signed,
                           int32_t* values) {
  const size_t row_bytes = crumb_rows_lsb_row_bytes(k, bits);
  for (size_t r = 0; r < rows; r++) {
    for (size_t i = 0; i < k; i++) {
      values[r * k + i] = crumb_rows_lsb_get(src + r * row_bytes, i, bits, is_signed);
    }
  }
}
