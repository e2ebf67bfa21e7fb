// Packers of the bitserial family (kernels/bitserial/bitserial.h): the BITSERIAL_N64 weight layout
// and the CHANNELS_PLANES64 activation rows.
#include <string.h>

#include "kernels/bitserial/bitserial.h"
#include "kernels/common/pack.h"
#include "kernels/common/requant.h"

namespace {

// The (u, beta, shift) form of a code: v = (u << shift) - beta (bitserial.h). Returns 0 for a code
// the encoding does not have.
int Offset(unsigned bits, unsigned encoding, int32_t zw, int32_t* beta, uint32_t* shift) {
  *shift = 0;
  switch (encoding) {
    case CRUMB_ENC_UNSIGNED:
      *beta = zw;
      return 1;
    case CRUMB_ENC_SIGNED:
      *beta = 1 << (bits - 1);
      return 1;
    case CRUMB_ENC_TERNARY:
      *beta = 1;
      return bits == 2;
    case CRUMB_ENC_BIPOLAR:
      *beta = 1;
      *shift = 1;
      return bits == 1;
    default:
      return 0;
  }
}

void SetBit(uint8_t* p, size_t bit) { p[bit >> 3] = (uint8_t)(p[bit >> 3] | 1u << (bit & 7)); }
unsigned GetBit(const uint8_t* p, size_t bit) { return (p[bit >> 3] >> (bit & 7)) & 1u; }

int32_t Load32(const uint8_t* p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
void Store32(uint8_t* p, int32_t v) { memcpy(p, &v, 4); }

}  // namespace

extern "C" int crumb_bitserial_supports(unsigned bits, unsigned encoding) {
  int32_t beta;
  uint32_t shift;
  return bits >= 1 && bits <= 2 && Offset(bits, encoding, 0, &beta, &shift);
}

extern "C" int crumb_bitserial_pack(const uint8_t* rows, unsigned bits, unsigned encoding,
                                    const int32_t* zw, size_t n, size_t ks, size_t kc,
                                    uint8_t* dst) {
  if (!crumb_bitserial_supports(bits, encoding)) return 0;
  const size_t kk = ks * kc;
  const size_t row_bytes = crumb_rows_lsb_row_bytes(kk, bits);
  const int is_signed = encoding == CRUMB_ENC_SIGNED || encoding == CRUMB_ENC_TERNARY;
  // Refuse before writing anything.
  if (encoding == CRUMB_ENC_TERNARY) {
    for (size_t o = 0; o < n; o++) {
      for (size_t i = 0; i < kk; i++) {
        if (crumb_rows_lsb_get(rows + o * row_bytes, i, bits, 1) < -1) return 0;
      }
    }
  }
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, bits);
  memset(dst, 0, crumb_bitserial_packed_size(n, ks, kc, bits));
  for (size_t o = 0; o < n; o++) {
    uint8_t* block = dst + (o / CRUMB_BITSERIAL_NR) * block_bytes;
    const unsigned l = (unsigned)(o % CRUMB_BITSERIAL_NR);
    int32_t beta = 0;
    uint32_t shift = 0;
    Offset(bits, encoding, encoding == CRUMB_ENC_UNSIGNED ? zw[o] : 0, &beta, &shift);
    uint32_t vsum = 0, hsum = 0;  // wrapping, like the kernels
    for (size_t t = 0; t < ks; t++) {
      for (size_t k = 0; k < kc; k++) {
        const int32_t q = crumb_rows_lsb_get(rows + o * row_bytes, t * kc + k, bits, is_signed);
        // UNSIGNED / BIPOLAR: the code itself; SIGNED / TERNARY: the code offset by beta.
        const uint32_t u = is_signed ? (uint32_t)(q + beta) : (uint32_t)q;
        vsum += (u << shift) - (uint32_t)beta;
        if (bits == 2) hsum -= u == 0 ? 4u : u == 1 ? 2u : 0u;
        for (unsigned j = 0; j < bits; j++) {
          if ((u >> j) & 1) {
            uint8_t* row = block + crumb_bitserial_row_offset(t, k / 32, j, kc, bits);
            SetBit(row + 4 * l, k % 32);
          }
        }
      }
    }
    Store32(block + 4 * l, (int32_t)vsum);
    Store32(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l, beta);
    Store32(block + CRUMB_BITSERIAL_HSUM_OFFSET + 4 * l, (int32_t)hsum);
    Store32(block + CRUMB_BITSERIAL_SHIFT_OFFSET, (int32_t)shift);
  }
  return 1;
}

extern "C" int crumb_bitserial_unpack(const uint8_t* src, unsigned bits, size_t n, size_t ks,
                                      size_t kc, int32_t* values) {
  const size_t kk = ks * kc;
  const size_t words = crumb_bitserial_words32(kc);
  const size_t block_bytes = crumb_bitserial_block_bytes(ks, kc, bits);
  for (size_t o = 0; o < crumb_bitserial_blocks(n) * CRUMB_BITSERIAL_NR; o++) {
    const uint8_t* block = src + (o / CRUMB_BITSERIAL_NR) * block_bytes;
    const unsigned l = (unsigned)(o % CRUMB_BITSERIAL_NR);
    const uint32_t shift = (uint32_t)Load32(block + CRUMB_BITSERIAL_SHIFT_OFFSET);
    const int32_t beta = Load32(block + CRUMB_BITSERIAL_BETA_OFFSET + 4 * l);
    if (shift > 1) return 0;
    uint32_t vsum = 0, hsum = 0;
    for (size_t t = 0; t < ks; t++) {
      for (size_t k = 0; k < 32 * words; k++) {
        uint32_t u = 0;
        for (unsigned j = 0; j < bits; j++) {
          const uint8_t* row = block + crumb_bitserial_row_offset(t, k / 32, j, kc, bits);
          u |= GetBit(row + 4 * l, k % 32) << j;
        }
        if (o >= n || k >= kc) {
          if (u != 0) return 0;
          continue;
        }
        const uint32_t v = (u << shift) - (uint32_t)beta;
        values[o * kk + t * kc + k] = (int32_t)v;
        vsum += v;
        if (bits == 2) hsum -= u == 0 ? 4u : u == 1 ? 2u : 0u;
      }
    }
    // Padding channels: everything 0 (the loops above counted nothing for them).
    if (o >= n && beta != 0) return 0;
    if ((int32_t)vsum != Load32(block + 4 * l)) return 0;
    if ((int32_t)hsum != Load32(block + CRUMB_BITSERIAL_HSUM_OFFSET + 4 * l)) return 0;
  }
  return 1;
}

// Bit i of eight codes (one per byte of x, little-endian) as one byte, channel 0 in the LSB: the
// mask leaves byte k as b_k in {0, 1} at bit 8k, and the constant's bit 56 - 7k moves it to bit
// 56 + k. Every (byte, constant bit) pair lands on its own bit (8k - 7j is distinct for k, j in
// 0..7), so the product has no carries.
static inline uint8_t GatherBit(uint64_t x, unsigned i) {
  const uint64_t b = (x >> i) & 0x0101010101010101ull;
  return (uint8_t)((b * 0x0102040810204080ull) >> 56);
}

extern "C" void crumb_bitserial_pack_act(const uint8_t* codes, size_t pixels, size_t channels,
                                         size_t in_stride, unsigned a_bits, uint8_t* dst,
                                         size_t dst_stride) {
  const size_t plane_bytes = crumb_bitserial_plane_bytes(channels);
  const size_t full = channels / 8;  // whole bytes of a plane
  for (size_t p = 0; p < pixels; p++) {
    const uint8_t* in = codes + p * in_stride;
    uint8_t* out = dst + p * dst_stride;
    for (unsigned i = 0; i < a_bits; i++) {
      uint8_t* plane = out + i * plane_bytes;
      for (size_t j = 0; j < full; j++) {
        uint64_t x;
        memcpy(&x, in + 8 * j, 8);
        plane[j] = GatherBit(x, i);
      }
      size_t done = full;
      if (channels % 8) {
        // The tail byte from fewer channels; padding channels are 0.
        uint64_t x = 0;
        memcpy(&x, in + 8 * full, channels % 8);
        plane[done++] = GatherBit(x, i);
      }
      memset(plane + done, 0, plane_bytes - done);
    }
  }
}

extern "C" void crumb_bitserial_unpack_act(const uint8_t* src, size_t pixels, size_t channels,
                                           size_t src_stride, unsigned a_bits, uint8_t* codes,
                                           size_t out_stride) {
  const size_t plane_bytes = crumb_bitserial_plane_bytes(channels);
  for (size_t p = 0; p < pixels; p++) {
    const uint8_t* in = src + p * src_stride;
    uint8_t* out = codes + p * out_stride;
    for (size_t c = 0; c < channels; c++) {
      unsigned code = 0;
      for (unsigned i = 0; i < a_bits; i++) code |= GetBit(in + i * plane_bytes, c) << i;
      out[c] = (uint8_t)code;
    }
  }
}
