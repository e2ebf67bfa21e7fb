// Packers of the lut family (kernels/lut/lut.h): the LUT_W2_N64 weight layout, the CHANNELS_LSB
// activation rows, and the pair tables.
#include <stdlib.h>
#include <string.h>

#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/lut/lut.h"

namespace {

// Value range of the codes of an encoding, before the zero point.
void CodeValueRange(unsigned bits, unsigned encoding, int32_t* lo, int32_t* hi, int* bipolar) {
  *bipolar = 0;
  switch (encoding) {
    case CRUMB_ENC_UNSIGNED:
      *lo = 0, *hi = (1 << bits) - 1;
      break;
    case CRUMB_ENC_BIPOLAR:
      *lo = -1, *hi = 1, *bipolar = 1;
      break;
    case CRUMB_ENC_TERNARY:
      *lo = -1, *hi = 1;
      break;
    default:  // SIGNED
      *lo = -(1 << (bits - 1)), *hi = (1 << (bits - 1)) - 1;
      break;
  }
}

int CodeOf(const int8_t vmap[4], int32_t v) {
  if (v == 0) return 0;
  for (int c = 1; c < 4; c++) {
    if (vmap[c] == v) return c;
  }
  return -1;
}

}  // namespace

extern "C" int crumb_lut_value_map(unsigned bits, unsigned encoding, const int32_t* zw, size_t n,
                                   int8_t vmap[4]) {
  if (bits < 1 || bits > 2) return 0;
  int32_t lo, hi;
  int bipolar;
  CodeValueRange(bits, encoding, &lo, &hi, &bipolar);
  // present[v + 2] for v in [-2, 2]; anything outside refuses.
  int present[5] = {0, 0, 1, 0, 0};
  for (size_t i = 0; i < (n ? n : 1); i++) {
    const int32_t z = n ? zw[i] : 0;
    for (int32_t q = lo; q <= hi; q++) {
      if (bipolar && q == 0) continue;
      const int64_t v = (int64_t)q - z;
      if (v < -2 || v > 2) return 0;
      present[v + 2] = 1;
    }
  }
  if (!present[4]) {
    // Within {-2, -1, 0, 1}: two's complement codes, the model's own. Codes of absent values mean
    // 0, which narrows the table's range (ternary weights: 4 amax instead of 6 amax) and so
    // lengthens the kernels' byte-sum groups.
    vmap[0] = 0;
    vmap[1] = (int8_t)(present[3] ? 1 : 0);
    vmap[2] = (int8_t)(present[0] ? -2 : 0);
    vmap[3] = (int8_t)(present[1] ? -1 : 0);
    return 1;
  }
  int c = 1;
  vmap[0] = vmap[1] = vmap[2] = vmap[3] = 0;
  for (int v = -2; v <= 2; v++) {
    if (v == 0 || !present[v + 2]) continue;
    if (c == 4) return 0;
    vmap[c++] = (int8_t)v;
  }
  return 1;
}

extern "C" void crumb_lut_init_table(const int8_t vmap[4], unsigned a_bits, uint8_t* table) {
  const unsigned sb = crumb_lut_storage_bits(a_bits);
  const unsigned rows = 1u << (2 * sb);
  const int32_t amax = (1 << a_bits) - 1;
  int32_t vmin = 0, vmax = 0;
  for (int c = 0; c < 4; c++) {
    vmin = vmap[c] < vmin ? vmap[c] : vmin;
    vmax = vmap[c] > vmax ? vmap[c] : vmax;
  }
  crumb_lut_table_info info;
  info.bias = -2 * amax * vmin;
  info.width = 2 * amax * (vmax - vmin);
  info.steps_per_group = info.width > 0 ? 255 / info.width / 2 : 64;
  if (info.steps_per_group < 1) info.steps_per_group = 1;  // |vmap| <= 2 makes it >= 1
  if (info.steps_per_group > 64) info.steps_per_group = 64;
  info.a_bits = (int32_t)a_bits;
  for (unsigned p = 0; p < rows; p++) {
    // Rows of codes >= 2^a_bits (A3 in 4-bit storage) are only ever read next to a zero-valued
    // weight (padding), where the entry is in range; the formula's other values do not matter.
    const int32_t a0 = (int32_t)(p & ((1u << sb) - 1u)), a1 = (int32_t)(p >> sb);
    for (unsigned c = 0; c < CRUMB_LUT_ROW; c++) {
      table[p * CRUMB_LUT_ROW + c] =
          (uint8_t)(vmap[c & 3] * a0 + vmap[(c & 15) >> 2] * a1 + info.bias);
    }
  }
  if (sb == 2) {
    for (unsigned b = 0; b < 256; b++) {
      uint8_t* row = table + CRUMB_LUT_A2_STEP_ROWS + b * CRUMB_LUT_ROW;
      for (unsigned q = 0; q < 4; q++) {
        memcpy(row + 16 * q, table + ((q & 1) ? b >> 4 : b & 15) * CRUMB_LUT_ROW, 16);
      }
    }
  }
  uint8_t* trailer = table + crumb_lut_table_rows_bytes(a_bits);
  memset(trailer, 0, 64);
  memcpy(trailer, &info, sizeof(info));
}

extern "C" int crumb_lut_pack_values(const int32_t* values, const int8_t vmap[4], size_t n,
                                     size_t ks, size_t kc, uint8_t* dst) {
  const size_t kk = ks * kc;
  for (size_t i = 0; i < n * kk; i++) {
    if (CodeOf(vmap, values[i]) < 0) return 0;
  }
  const size_t steps = crumb_lut_steps(kc);
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  memset(dst, 0, crumb_lut_packed_size(n, ks, kc));
  for (size_t o = 0; o < n; o++) {
    uint8_t* block = dst + (o / CRUMB_LUT_NR) * block_bytes;
    const unsigned j = (unsigned)(o % CRUMB_LUT_NR);
    const unsigned lane = crumb_lut_lane(j);
    int32_t ksum = 0;
    for (size_t t = 0; t < ks; t++) {
      for (size_t k = 0; k < kc; k++) {
        const int32_t v = values[o * kk + t * kc + k];
        ksum += v;
        const unsigned code = (unsigned)CodeOf(vmap, v);
        uint8_t* b = block + CRUMB_LUT_BLOCK_HEADER + (t * steps + k / 4) * CRUMB_LUT_NR + lane;
        *b = (uint8_t)(*b | code << (2 * (k % 4)));
      }
    }
    memcpy(block + 4 * j, &ksum, 4);
  }
  return 1;
}

extern "C" int crumb_lut_pack(const uint8_t* rows, unsigned bits, unsigned encoding,
                              const int32_t* zw, size_t n, size_t ks, size_t kc, uint8_t* dst) {
  int8_t vmap[4];
  if (!crumb_lut_value_map(bits, encoding, zw, n, vmap)) return 0;
  const size_t kk = ks * kc;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(kk, bits);
  // Channel by channel into one block's worth of values at a time would save memory; a layer's
  // values as int32 are small next to what the converter holds anyway.
  int32_t* values = (int32_t*)malloc((n * kk + 1) * sizeof(int32_t));
  if (!values) return 0;
  for (size_t o = 0; o < n; o++) {
    crumb_decode_weight_row(rows + o * row_bytes, kk, bits, encoding, zw[o], values + o * kk);
  }
  const int ok = crumb_lut_pack_values(values, vmap, n, ks, kc, dst);
  free(values);
  return ok;
}

extern "C" int crumb_lut_unpack(const uint8_t* src, const int8_t vmap[4], size_t n, size_t ks,
                                size_t kc, int32_t* values) {
  const size_t kk = ks * kc;
  const size_t steps = crumb_lut_steps(kc);
  const size_t block_bytes = crumb_lut_block_bytes(ks, kc);
  for (size_t o = 0; o < crumb_lut_blocks(n) * CRUMB_LUT_NR; o++) {
    const uint8_t* block = src + (o / CRUMB_LUT_NR) * block_bytes;
    const unsigned j = (unsigned)(o % CRUMB_LUT_NR);
    const unsigned lane = crumb_lut_lane(j);
    int32_t ksum = 0, stored;
    for (size_t t = 0; t < ks; t++) {
      for (size_t k = 0; k < steps * 4; k++) {
        const uint8_t b = block[CRUMB_LUT_BLOCK_HEADER + (t * steps + k / 4) * CRUMB_LUT_NR + lane];
        const int32_t v = vmap[(b >> (2 * (k % 4))) & 3];
        if (o >= n || k >= kc) {
          if (v != 0) return 0;
          continue;
        }
        values[o * kk + t * kc + k] = v;
        ksum += v;
      }
    }
    memcpy(&stored, block + 4 * j, 4);
    if (stored != ksum) return 0;
  }
  return 1;
}

extern "C" void crumb_lut_pack_act(const uint8_t* codes, size_t pixels, size_t channels,
                                   size_t in_stride, unsigned a_bits, uint8_t* dst,
                                   size_t dst_stride) {
  const size_t row_bytes = crumb_lut_act_row_bytes(channels, a_bits);
  const size_t full = channels / 4;  // whole 4-code steps
  if (channels % 4 == 0 && in_stride == channels && dst_stride == row_bytes) {
    // Rows without padding, back to back: one flat loop the compiler vectorizes (the per-pixel
    // loops below run a handful of iterations each on MobileNet's 16-24 channel layers).
    const size_t n = pixels * row_bytes;
    if (crumb_lut_storage_bits(a_bits) == 2) {
      for (size_t i = 0; i < n; i++) {
        dst[i] = (uint8_t)(codes[4 * i] | codes[4 * i + 1] << 2 | codes[4 * i + 2] << 4 |
                           codes[4 * i + 3] << 6);
      }
    } else {
      for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)(codes[2 * i] | codes[2 * i + 1] << 4);
    }
    return;
  }
  for (size_t p = 0; p < pixels; p++) {
    const uint8_t* in = codes + p * in_stride;
    uint8_t* out = dst + p * dst_stride;
    if (crumb_lut_storage_bits(a_bits) == 2) {
      for (size_t i = 0; i < full; i++) {
        out[i] =
            (uint8_t)(in[4 * i] | in[4 * i + 1] << 2 | in[4 * i + 2] << 4 | in[4 * i + 3] << 6);
      }
    } else {
      for (size_t i = 0; i < 2 * full; i++) out[i] = (uint8_t)(in[2 * i] | in[2 * i + 1] << 4);
    }
    const size_t done = full * crumb_lut_storage_bits(a_bits) / 2;
    if (done < row_bytes) {
      memset(out + done, 0, row_bytes - done);
      const unsigned sb = crumb_lut_storage_bits(a_bits);
      for (size_t c = full * 4; c < channels; c++) {
        out[c * sb / 8] = (uint8_t)(out[c * sb / 8] | in[c] << (c * sb % 8));
      }
    }
  }
}

extern "C" void crumb_lut_unpack_act(const uint8_t* src, size_t pixels, size_t channels,
                                     size_t src_stride, unsigned a_bits, uint8_t* codes,
                                     size_t out_stride) {
  const unsigned sb = crumb_lut_storage_bits(a_bits);
  const unsigned mask = (1u << sb) - 1u;
  for (size_t p = 0; p < pixels; p++) {
    const uint8_t* in = src + p * src_stride;
    uint8_t* out = codes + p * out_stride;
    for (size_t c = 0; c < channels; c++) {
      out[c] = (uint8_t)((in[c * sb / 8] >> (c * sb % 8)) & mask);
    }
  }
}
