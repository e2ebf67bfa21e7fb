// Packers for the layouts named in schema/crumb.fbs. One packer per layout; the converter packs
// with these, the runtime and the kernels read the same bytes, and tests round-trip them.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Layout ROWS_LSB: `rows` rows of `k` codes, each code the low `bits` bits of the value (two's
// complement for signed), packed LSB first; every row starts on a byte boundary.
static inline size_t crumb_rows_lsb_row_bytes(size_t k, unsigned bits) {
  return (k * bits + 7) / 8;
}
static inline size_t crumb_rows_lsb_size(size_t rows, size_t k, unsigned bits) {
  return rows * crumb_rows_lsb_row_bytes(k, bits);
}

// Packs values[rows * k] (already in the encoding's range) into dst, which must hold
// crumb_rows_lsb_size() bytes. Padding bits are zero.
void crumb_pack_rows_lsb(const int32_t* values, size_t rows, size_t k, unsigned bits, uint8_t* dst);

// Unpacks to one int32 per code, sign-extending when is_signed.
void crumb_unpack_rows_lsb(const uint8_t* src, size_t rows, size_t k, unsigned bits, int is_signed,
                           int32_t* values);

// Reads code i of one packed row.
static inline int32_t crumb_rows_lsb_get(const uint8_t* row, size_t i, unsigned bits,
                                         int is_signed) {
  const size_t bit = i * bits;
  // A code of <= 8 bits spans at most two bytes; read the second only when it is needed so that
  // the last code of a row never reads past the row.
  uint32_t word = row[bit >> 3];
  if ((bit & 7) + bits > 8) word |= (uint32_t)row[(bit >> 3) + 1] << 8;
  uint32_t code = (word >> (bit & 7)) & ((1u << bits) - 1u);
  if (is_signed && (code >> (bits - 1))) return (int32_t)code - (int32_t)(1u << bits);
  return (int32_t)code;
}

#ifdef __cplusplus
}
#endif
