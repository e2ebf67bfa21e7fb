// The `bitserial` kernel family: popcount GEMM / IGEMM over bit planes, for 1- and 2-bit weights
// (bipolar, signed, ternary, unsigned with a zero point) times 1- and 2-bit unsigned activations
// with a zero point.
//
// The idea. A plane holds one bit of every code of a row, 32 or 64 channels to a machine word. For
// activation plane i of a pixel and weight plane j of an output channel, popcount(a_i & u_j) is the
// sum over those channels of the products of the two bits, so one AND + popcount + add does a word
// of bit-MACs (AVX-512: vpandd + vpopcntd + vpaddd on 16 channels x 32 k; AVX2: a vpshufb nibble
// count; scalar: __builtin_popcount). A b-bit product takes a_bits x w_bits plane pairs.
//
// ---------------------------------------------------------------------------------- the contract
// GEMM:  c[m][n] = E(float(acc[m][n]) * mul[n] + add[n]),  m < mr, n < nc,
//        acc[m][n] = sum over k < kc of (a[m][k] - za) * v(w[n][k])   (wrapping int32)
// IGEMM: output pixel m has ks taps; tap t reads the kc codes of the packed row at
//        a[m * ks + t] + a_offset (bytes), or at `zero` unchanged when the pointer equals `zero`
//        (the shared padding row: crumb_bitserial_pack_act() of kc codes za, so that a padded tap
//        adds (za - za) * v = 0 exactly, for every encoding); acc sums over (t, k).
//        E(y) is kernels/common/requant.h's rule, bit for bit; v is the weight's value minus its
//        channel's zero point (bipolar code b: 2b - 1).
//
// How the kernels get it (the derivation; every kernel of every ISA computes exactly this).
// The packer writes each weight as v = (u << shift) - beta[n] with u an unsigned w_bits code:
//   UNSIGNED   u = q (the code),      beta = zw[n],          shift 0
//   SIGNED     u = q + 2^(bits - 1),  beta = 2^(bits - 1),   shift 0   (q two's complement)
//   TERNARY    u = q + 1 in {0,1,2},  beta = 1,              shift 0   (2-bit codes -1, 0, 1)
//   BIPOLAR    u = b,                 beta = 1,              shift 1   (v = 2b - 1)
// so that every plane has a non-negative weight 2^j, and with activation codes a = sum 2^i a_i:
//   sum_k a v = (P << shift) - beta[n] * S_a,
//   P   = sum over (t, word, i < a_bits, j < w_bits) of 2^(i + j) popcount(a_i & u_j)
//   S_a = sum over (t, k < kc) of a                (per output pixel; the kernel counts it too)
//   acc = (P << shift) - beta[n] * S_a[m] - za * vsum[n],   vsum[n] = sum over (t, k) of v
// all in wrapping int32 (each step is exact mod 2^32, and so is the sum). Channels k >= kc of a
// plane (padding to the word) hold 0 in the weights, so a_i & u_j is 0 there whatever the
// activation row holds; S_a counts k < kc only. Kernels therefore ignore the padding bits of
// activation rows (producers write 0 all the same). Channels n >= nc of the last block are all
// zero and never stored.
//
// A2 x W2 in three popcounts instead of four. With a = a0 + 2 a1 and u = u0 + 2 u1 (codes 0..3),
//   a u = F1 + 2 (F2 + F3) + g(a) + h(u),   F1 = a0 & u0,
//   F2 = a1 ? [u = 3] : [u = 0],  F3 = u1 ? [a = 3] : [a = 0],
//   g(a) = (0, 2, 4, 4)[a],  h(u) = (-4, -2, 0, 0)[u]
// (check the 16 cases; no form with fewer than three binary terms exists, even up to such g and h).
// Each F is one AND or one bit-select (vpternlogd / vbsl) of planes derived once per word:
// [u = 3] = u0 & u1, [u = 0] = ~u0 & ~u1 & valid (amortized over the tile's pixels), [a = 3],
// [a = 0] likewise (amortized over its channels); `valid` clears k >= kc, so that every F is 0 on
// padding whatever the activation row holds there. Summing over (t, k < kc):
//   sum a u = P' + G[m] + hsum[n],   P' = sum popcount(F1) + 2 sum popcount(F2) + 2 sum
//   popcount(F3) G[m] = sum of g(a) = 2 #[a = 1] + 4 #[a >= 2]   (per pixel, counted by the kernel)
// and acc = P' + G[m] + hsum[n] - beta[n] S_a[m] - za vsum[n] (shift is 0 for 2-bit weights).
// Kernels may use either form; they return the same integers. (The AVX-512 kernels keep four
// AND-popcounts, measured faster there: gemm-avx512.cc. A NEON kernel, where vbsl is a plain
// logic op, may well prefer three.)
//
// Activations (layout CHANNELS_PLANES64, proposed schema Layout id: CHANNELS_PLANES64): a pixel's
// row is its a_bits bit planes, plane i (bit i of each code) first to last, each plane
// crumb_bitserial_words(kc) little-endian 64-bit words: channel c at bit c % 64 of word c / 64.
// crumb_bitserial_act_row_bytes(kc, a_bits) bytes, read in full by the kernels (as 32-bit words,
// unaligned loads: rows need no alignment). crumb_bitserial_pack_act() / _unpack_act() convert
// from / to one code per byte.
//
// Weights (layout BITSERIAL_N64, proposed schema Layout id: BITSERIAL_N64): output channels in
// blocks of 64 (the last block padded with zero channels), each block
// crumb_bitserial_block_bytes(ks, kc, w_bits) bytes:
//   int32 vsum[64]          sum of v over the channel's ks * kc weights (0 for padding channels)
//   int32 beta[64]          the offset above (0 for padding channels)
//   int32 hsum[64]          w_bits 2: -sum over (t, k < kc) of (4 [u = 0] + 2 [u = 1]), for the
//                           three-popcount A2 x W2 form below; 0 for w_bits 1
//   int32 shift, int32 reserved[15] (0)
//   for each tap t < ks, for each 32-bit word d < ceil(kc / 32), for each plane j < w_bits:
//     uint32 lane[64]       lane l: channel l of the block, plane j of u for k = 32d .. 32d + 31
//                           (bit k % 32; 0 for k >= kc)
// A tap's 32-bit words are the halves of the activation plane's 64-bit words (d = 2 x word + half,
// little-endian), so kernels AND a broadcast activation word with 16 / 8 / 4 channels' lanes
// (zmm / ymm / NEON q). The planes of one word follow each other because kernels consume them
// together. Header and rows are multiples of 64 bytes: a block stays 64-byte aligned when the
// buffer is (the kernels do not need it; loads are unaligned).
//
// Call (kc >= 1): `w` points at the block holding the call's first channel (a caller splitting N
// does it at multiples of 64 channels, passing c, mul and add from that channel on); nc may end
// inside a block; mr is any number of rows (a caller splitting M passes a later part of `a`).
// params: a_zero_point za (0 <= za < 2^a_bits, as the zero row's codes); mul / add hold nc floats;
// out as for the scalar kernels; out_bits selects the row format:
//   8      one code per byte (out.type S8 / U8; channel n at byte n) or float (F32, at 4n bytes);
//   1 / 2  unsigned codes (out.type U8, [qmin, qmax] within [0, 2^out_bits - 1]) written as the
//          next layer's CHANNELS_PLANES64 row: plane p of the row at c + p * out_plane_bytes, the
//          call's channel n at bit n % 64 of its word n / 64. The kernel writes ceil(nc / 64)
//          words per plane, bits of channels >= nc zero. (The next layer's row is
//          out_bits * out_plane_bytes bytes, out_plane_bytes = 8 * crumb_bitserial_words(N).)
// Kernels are leaf functions: no allocation, no threads, no scratch; they read activation rows,
// the weights' blocks and mul / add, and write only the output elements [0, nc) of mr rows.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_BITSERIAL_NR 64             // output channels per packed block
#define CRUMB_BITSERIAL_BLOCK_HEADER 832  // bytes of vsum[64], beta[64], hsum[64], shift + reserved
#define CRUMB_BITSERIAL_BETA_OFFSET 256   // byte offset of beta[64] in a block
#define CRUMB_BITSERIAL_HSUM_OFFSET 512   // byte offset of hsum[64] in a block
#define CRUMB_BITSERIAL_SHIFT_OFFSET 768  // byte offset of shift in a block
#define CRUMB_BITSERIAL_ROW_BYTES (4 * 64)  // bytes of one (tap, word, plane) row of 64 lanes

typedef struct crumb_bitserial_params {
  int32_t a_zero_point;
  uint32_t out_bits;       // 8, or 1 / 2 for CHANNELS_PLANES64 unsigned codes
  size_t out_plane_bytes;  // out_bits 1 / 2: bytes between the planes of an output row
  const float* mul;        // [nc]
  const float* add;        // [nc]
  crumb_output_params out;
} crumb_bitserial_params;

typedef void crumb_bsgemm_ukernel_fn(size_t mr, size_t nc, size_t kc, const void* a,
                                     size_t a_stride, const uint8_t* w, void* c, size_t c_stride,
                                     const crumb_bitserial_params* params);
typedef void crumb_bsigemm_ukernel_fn(size_t mr, size_t nc, size_t kc, size_t ks, const void** a,
                                      size_t a_offset, const void* zero, const uint8_t* w, void* c,
                                      size_t c_stride, const crumb_bitserial_params* params);

// ------------------------------------------------------------------------------- sizes
// 64-bit words of one plane of kc channels.
static inline size_t crumb_bitserial_words(size_t kc) { return (kc + 63) / 64; }
// 32-bit weight words of one tap.
static inline size_t crumb_bitserial_words32(size_t kc) { return (kc + 31) / 32; }
static inline size_t crumb_bitserial_plane_bytes(size_t kc) {
  return 8 * crumb_bitserial_words(kc);
}
static inline size_t crumb_bitserial_act_row_bytes(size_t kc, unsigned a_bits) {
  return a_bits * crumb_bitserial_plane_bytes(kc);
}
static inline size_t crumb_bitserial_block_bytes(size_t ks, size_t kc, unsigned w_bits) {
  return CRUMB_BITSERIAL_BLOCK_HEADER +
         ks * crumb_bitserial_words32(kc) * w_bits * CRUMB_BITSERIAL_ROW_BYTES;
}
static inline size_t crumb_bitserial_blocks(size_t n) {
  return (n + CRUMB_BITSERIAL_NR - 1) / CRUMB_BITSERIAL_NR;
}
static inline size_t crumb_bitserial_packed_size(size_t n, size_t ks, size_t kc, unsigned w_bits) {
  return crumb_bitserial_blocks(n) * crumb_bitserial_block_bytes(ks, kc, w_bits);
}
// Byte offset in a block of the row of tap t, 32-bit word d, plane j.
static inline size_t crumb_bitserial_row_offset(size_t t, size_t d, unsigned j, size_t kc,
                                                unsigned w_bits) {
  return CRUMB_BITSERIAL_BLOCK_HEADER +
         ((t * crumb_bitserial_words32(kc) + d) * w_bits + j) * CRUMB_BITSERIAL_ROW_BYTES;
}

// ------------------------------------------------------------------------------- packers
// Whether weights of `bits` and `encoding` have a BITSERIAL_N64 form: 1-bit UNSIGNED / SIGNED /
// BIPOLAR, 2-bit UNSIGNED / SIGNED / TERNARY. (Any zero point: UNSIGNED puts it in beta.)
int crumb_bitserial_supports(unsigned bits, unsigned encoding);

// Packs ROWS_LSB weights (n rows of ks * kc codes of `bits`, (tap, channel) order, zero points
// zw[n], read for UNSIGNED only) into dst[crumb_bitserial_packed_size(n, ks, kc, bits)]. Returns
// 1, or 0 (dst untouched) for an unsupported bits / encoding or a code outside the encoding
// (a ternary code -2).
int crumb_bitserial_pack(const uint8_t* rows, unsigned bits, unsigned encoding, const int32_t* zw,
                         size_t n, size_t ks, size_t kc, uint8_t* dst);

// The inverse: values v (qw - zw; bipolar -1 / +1) [n][ks * kc] from packed weights. Returns 0
// when a vsum does not match the codes, or padding (k >= kc, channels >= n) is not zero.
int crumb_bitserial_unpack(const uint8_t* src, unsigned bits, size_t n, size_t ks, size_t kc,
                           int32_t* values);

// One code per byte (pixels rows of `channels` codes, in_stride bytes apart) -> CHANNELS_PLANES64
// rows of crumb_bitserial_act_row_bytes(channels, a_bits) bytes, dst_stride apart; padding bits 0.
// Codes must be below 2^a_bits. The IGEMM zero row is this of one pixel of za codes.
void crumb_bitserial_pack_act(const uint8_t* codes, size_t pixels, size_t channels,
                              size_t in_stride, unsigned a_bits, uint8_t* dst, size_t dst_stride);
void crumb_bitserial_unpack_act(const uint8_t* src, size_t pixels, size_t channels,
                                size_t src_stride, unsigned a_bits, uint8_t* codes,
                                size_t out_stride);

// ------------------------------------------------------------------------------- kernels
#define CRUMB_BITSERIAL_UKERNEL(kind, name, isa, a_bits, w_bits) crumb_##kind##_ukernel_fn name;
#include "kernels/bitserial/bitserial.inc"

#ifdef __cplusplus
}
#endif
