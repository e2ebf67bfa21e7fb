// The `dot` kernel family: weights of 1..8 bits, packed at their bit width in the DOT_N16K4
// layout, expanded to int8 in registers and multiplied with 8-bit activation codes on int8 dot
// products (vpmaddubsw, vpdpbusd; sdot / smull on Arm).
//
// Kernel contract: the scalar GEMM / IGEMM contracts of kernels/scalar/scalar.h, same signatures
// and parameters (crumb_gemm_params), same results bit for bit, except for the weights:
//   - `w` points at the DOT_N16K4-packed weights of the call's nc output channels (a whole packed
//     tensor, or a group of one packed separately, or block `n0 / 16` of one when the caller
//     splits N at multiples of 16): crumb_dot_packed_size(nc, ks, kc, bits) bytes, written by
//     crumb_dot_pack() with the call's ks (1 for GEMM) and kc.
//   - params->w_row_bytes is not read. params->w_bits / w_encoding must be what the weights were
//     packed with. w_zero_point[nc], mul[nc], add[nc], a_type, a_zero_point, out: as for scalar.
//   - Activation rows are read for exactly kc bytes (never past them); the zero row of IGEMM too.
//   - scratch: crumb_dot_scratch_bytes(ks, kc, bits) bytes, or NULL for the SIMD kernels (the
//     scalar kernel decodes a channel into it; the AVX2 kernel decodes a block of 16 channels
//     into it once per call when there are enough rows, and decodes in registers without it).
//
// Layout DOT_N16K4 (proposed schema Layout id: DOT_N16K4). Output channels in blocks of 16 (the
// last block padded with zero weights), each block `crumb_dot_block_bytes(ks, kc, bits)` bytes:
//   int32 wsum[16]          sum over every (tap, k < kc) of w' of the channel (0 for padding)
//   for each tap t < ks:    (GEMM: ks = 1)
//     the k-groups of 4 channels k = 4g .. 4g + 3 (kc padded with zero weights to a multiple of
//     4), in super-blocks of 8 k-groups (the last super-block of a tap may hold nv < 8):
//       one "vector" per k-group: 64 int8 lanes, lane 4c + j = weight of channel c, k = 4g + j
//       (exactly a vpdpbusd zmm operand; its two halves are the AVX2 ymm operands of channels
//       0-7 and 8-15); a super-block stores its nv vectors split into bit planes of widths
//       1 -> {1}, 2 -> {2}, 3 -> {2,1}, 4 -> {4}, 5 -> {4,1}, 6 -> {4,2}, 7 -> {4,2,1}, 8 -> {8},
//       the first plane holding the code's lowest bits. A plane of width p is 64-byte chunks:
//       chunk c, bits [p*f, p*f + p) of byte i hold that plane of vector 8/p * c + f, lane i.
//       Planes follow each other, plane q holding ceil(nv * p_q / 8) chunks, so a full
//       super-block is 64 * bits bytes.
// Codes are the ROWS_LSB codes (two's complement for SIGNED / TERNARY, unsigned for UNSIGNED /
// BIPOLAR). Kernels multiply w' = value(code) - crumb_dot_weight_bias(bits, encoding): the
// value itself, except UNSIGNED codes which are centred (code - 2^(bits-1)) so that every w' is
// within [-2^(bits-1), 2^(bits-1)) and fits int8, and vpmaddubsw never saturates (see
// gemm-avx2.cc). The zero point becomes zw' = zw - bias: for symmetric unsigned weights 0.
//
// Arithmetic (wrapping int32, like the scalar kernels): with activations as u8 a_u (s8 codes are
// offset by +128: a_u = a ^ 0x80, za_u = za + 128),
//   acc = sum a_u w' - za_u wsum[n] - zw'[n] sum_k a_u + K za_u zw'[n],   K = ks * kc
// where sum_k a_u (row sums) is only computed when some zw' of the call is non-zero.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"
#include "kernels/scalar/scalar.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_DOT_NR 16      // output channels per packed block
#define CRUMB_DOT_KG 4       // k per group (one int32 lane of vpdpbusd)
#define CRUMB_DOT_SB 8       // k-groups per super-block
#define CRUMB_DOT_HEADER 64  // bytes of wsum[16] at the start of a block
#define CRUMB_DOT_CHUNK 64   // bytes of a plane chunk

// Widths of the bit planes of a code, lowest bits first; returns how many (1..3).
static inline unsigned crumb_dot_planes(unsigned bits, unsigned widths[3]) {
  switch (bits) {
    case 1:
      widths[0] = 1;
      return 1;
    case 2:
      widths[0] = 2;
      return 1;
    case 3:
      widths[0] = 2;
      widths[1] = 1;
      return 2;
    case 4:
      widths[0] = 4;
      return 1;
    case 5:
      widths[0] = 4;
      widths[1] = 1;
      return 2;
    case 6:
      widths[0] = 4;
      widths[1] = 2;
      return 2;
    case 7:
      widths[0] = 4;
      widths[1] = 2;
      widths[2] = 1;
      return 3;
    default:
      widths[0] = 8;
      return 1;
  }
}

// Bytes of a super-block of nv (1..8) vectors.
static inline size_t crumb_dot_sb_bytes(unsigned nv, unsigned bits) {
  unsigned w[3];
  const unsigned planes = crumb_dot_planes(bits, w);
  size_t bytes = 0;
  for (unsigned q = 0; q < planes; q++) bytes += CRUMB_DOT_CHUNK * ((nv * w[q] + 7) / 8);
  return bytes;
}

// Bytes of one tap (kc channels) of a block.
static inline size_t crumb_dot_tap_bytes(size_t kc, unsigned bits) {
  const size_t groups = (kc + CRUMB_DOT_KG - 1) / CRUMB_DOT_KG;
  const size_t full = groups / CRUMB_DOT_SB, rest = groups % CRUMB_DOT_SB;
  return full * CRUMB_DOT_CHUNK * bits + (rest ? crumb_dot_sb_bytes((unsigned)rest, bits) : 0);
}

static inline size_t crumb_dot_block_bytes(size_t ks, size_t kc, unsigned bits) {
  return CRUMB_DOT_HEADER + ks * crumb_dot_tap_bytes(kc, bits);
}

static inline size_t crumb_dot_packed_size(size_t n, size_t ks, size_t kc, unsigned bits) {
  return (n + CRUMB_DOT_NR - 1) / CRUMB_DOT_NR * crumb_dot_block_bytes(ks, kc, bits);
}

// Bytes of scratch a dot kernel may use (see the contract above).
static inline size_t crumb_dot_scratch_bytes(size_t ks, size_t kc, unsigned bits) {
  return ks * ((kc + CRUMB_DOT_KG - 1) / CRUMB_DOT_KG) * (bits == 8 ? 128 : 64);
}

// w' = value(code) - bias: 2^(bits-1) for UNSIGNED, 0 otherwise.
static inline int32_t crumb_dot_weight_bias(unsigned bits, uint32_t encoding) {
  return encoding == CRUMB_ENC_UNSIGNED ? (int32_t)(1u << (bits - 1)) : 0;
}

// The code (bits wide, unsigned) of lane `lane` of vector v of a super-block of nv vectors.
static inline uint32_t crumb_dot_sb_code(const uint8_t* sb, unsigned nv, unsigned bits, unsigned v,
                                         unsigned lane) {
  unsigned w[3];
  const unsigned planes = crumb_dot_planes(bits, w);
  uint32_t code = 0;
  unsigned shift = 0;
  for (unsigned q = 0; q < planes; q++) {
    const unsigned per = 8 / w[q];
    const uint8_t byte = sb[CRUMB_DOT_CHUNK * (v / per) + lane];
    code |= (uint32_t)((byte >> (w[q] * (v % per))) & ((1u << w[q]) - 1u)) << shift;
    shift += w[q];
    sb += CRUMB_DOT_CHUNK * ((nv * w[q] + 7) / 8);
  }
  return code;
}

// w' (see above) of a code.
static inline int32_t crumb_dot_code_value(uint32_t code, unsigned bits, uint32_t encoding) {
  switch (encoding) {
    case CRUMB_ENC_UNSIGNED:
      return (int32_t)code - (int32_t)(1u << (bits - 1));
    case CRUMB_ENC_BIPOLAR:
      return 2 * (int32_t)(code & 1u) - 1;
    default:  // SIGNED, TERNARY: two's complement
      return (code >> (bits - 1)) ? (int32_t)code - (int32_t)(1u << bits) : (int32_t)code;
  }
}

// Packs codes[n][ks * kc] ((tap, channel) order, ROWS_LSB code values: two's complement for
// SIGNED / TERNARY, unsigned otherwise; only the low `bits` bits are used) into dst, which must
// hold crumb_dot_packed_size() bytes. Padding lanes (k >= kc in a tap's last group, channels >= n
// in the last block) hold code 0: kernels multiply them by activation lanes that are 0 (u8 domain)
// or never store them, so their value (bipolar has no zero) does not matter. wsum covers only the
// real lanes.
void crumb_dot_pack(const int32_t* codes, size_t n, size_t ks, size_t kc, unsigned bits,
                    uint32_t encoding, uint8_t* dst);

// The same from ROWS_LSB rows (row_bytes apart, as the converter stores them).
void crumb_dot_pack_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t ks, size_t kc,
                             unsigned bits, uint32_t encoding, uint8_t* dst);

// Unpacks to codes[n][ks * kc], sign-extended when is_signed. Round trip of crumb_dot_pack.
void crumb_dot_unpack(const uint8_t* packed, size_t n, size_t ks, size_t kc, unsigned bits,
                      int is_signed, int32_t* codes);

// An igemm whose zero rows cost nothing when za_u == 0 (dot.inc's kind igemmz): the same contract.
typedef crumb_igemm_ukernel_fn crumb_igemmz_ukernel_fn;

// Declarations of every kernel of kernels/dot/dot.inc.
#define CRUMB_DOT_UKERNEL(kind, name, isa) crumb_##kind##_ukernel_fn name;
#include "kernels/dot/dot.inc"

#ifdef __cplusplus
}
#endif
