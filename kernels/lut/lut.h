// The `lut` kernel family: pair-table GEMM / IGEMM for 2-bit weights (signed, ternary, and any
// other weights whose values fit {0} plus three values in [-2, 2]) times 2-, 3- or 4-bit unsigned
// activations with a zero point.
//
// The idea. For two consecutive activations (a0, a1) of a pixel and two 2-bit weight codes
// (c0, c1) of an output channel, the 16 sums v(c0) a0 + v(c1) a1 over the code pairs form a
// 16-byte table, and one byte shuffle (vpshufb / tbl) looks that table up with every lane's 4-bit
// weight-pair code: 2 MACs per lane. Activations are low-bit, so the table of a pair is a row of a
// constant table indexed by the packed activation-pair code (A2: 16 rows, A3 / A4: 256 rows):
// "building" it is one load. Byte sums of a few lookups are exact (the entries are biased to
// small unsigned bytes), then widened to 16 and 32 bits before they could wrap: the bound is
// proved in lutgemm-avx512.h and tested at the extremes (tests/kernels/lut_test.cc, Extremes).
//
// GEMM: `a` is mr packed rows a_stride bytes apart (1x1 stride-1 convolutions, FC layers with
// M > 1). IGEMM: convolutions through an indirection buffer, as the scalar igemm. GEMV: below.
//
// ---------------------------------------------------------------------------------- the contract
// GEMM:  c[m][n] = E(float(acc[m][n]) * mul[n] + add[n]),  m < mr, n < nc,
//        acc[m][n] = sum over k < kc of (a[m][k] - za) * v(w[n][k])   (wrapping int32)
// IGEMM: output pixel m has ks taps; tap t reads the kc codes of the packed row at
//        a[m * ks + t] + a_offset (bytes), or at `zero` unchanged when the pointer equals `zero`
//        (the shared padding row, filled with packed za codes so that padding adds exactly 0);
//        acc sums over (t, k). E(y) is kernels/common/requant.h's rule, bit for bit.
//
// Activations (layout CHANNELS_LSB, proposed schema Layout id: CHANNELS_LSB4): each pixel's codes
// packed along channels, LSB first, 2 bits per code for A2 and 4 bits for A3 / A4 (a 3-bit code
// is stored in 4 bits), the row padded to a multiple of 4 codes: crumb_lut_act_row_bytes(kc, bits)
// bytes, which kernels read in full. The codes of the padding are never multiplied by a non-zero
// weight, so their value does not matter (producers write 0). crumb_lut_pack_act() /
// crumb_lut_unpack_act() convert from / to one code per byte.
//
// Weights (layout LUT_W2_N64, proposed schema Layout id: LUT_W2_N64): output channels in blocks of
// 64 (the last block padded with zero-valued weights), each block crumb_lut_block_bytes(ks, kc)
// bytes:
//   int32 ksum[64]          sum of v(code) over the channel's ks * kc weights, channel order
//   for each tap t < ks, for each step s < ceil(kc / 4):
//     uint8 lane[64]        lane l holds channel (l & 1) * 32 + l / 2 of the block; its 2-bit
//                           codes of k = 4s .. 4s + 3 LSB first (bits 0-3: the pair (4s, 4s + 1),
//                           bits 4-7: the pair (4s + 2, 4s + 3)); k >= kc holds code 0.
// The lane order puts the even bytes of a 16-bit lane on channels 0-31 and the odd ones on 32-63,
// so the kernels widen byte sums to 16 bits without shuffles (see lutgemm-avx512.h).
// Codes are the kernel's 2-bit codes, not the model's: code c means the value vmap[c], where
// vmap = crumb_lut_value_map(bits, encoding, zw) and vmap[0] = 0 (the padding code). For signed
// 2-bit (and ternary) weights vmap is two's complement {0, 1, -2, -1}, so the codes are the
// model's.
//
// Call: `w` points at the block holding the call's first channel (a caller splitting N does it at
// multiples of 64 channels, passing c, mul and add from that channel on); nc may end inside a
// block; mr is any number of rows (a caller splitting M passes a later part of `a`). params->table
// is crumb_lut_init_table() of the layer's vmap and the kernel's activation bits (the name's qu2 /
// qu3 / qu4); params->a_zero_point is za; mul / add hold nc floats; out as for the scalar kernels,
// and out_bits selects the row format:
//   8      one code per byte (out.type S8 / U8; channel n at byte n) or float (F32, at 4n bytes);
//   2 / 4  unsigned codes (out.type U8, [qmin, qmax] within the codes' range) packed LSB first
//          along channels: channel n at bit n * out_bits of the row; the kernel writes
//          ceil(nc * out_bits / 8) bytes, unused code slots of the last byte as 0.
//          (3-bit outputs use out_bits 4 with qmax <= 7.)
// Kernels are leaf functions: no allocation, no threads; they read activation rows, the weights'
// blocks, the table and mul / add, and write only the output elements [0, nc) of mr rows.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_LUT_NR 64             // output channels per packed block
#define CRUMB_LUT_KSTEP 4           // codes per step: two pairs, one weight byte per lane
#define CRUMB_LUT_BLOCK_HEADER 256  // bytes of ksum[64] at the start of a block

typedef struct crumb_lut_params {
  const uint8_t* table;  // crumb_lut_init_table(vmap, a_bits of the kernel; 4 for GEMV)
  int32_t a_zero_point;
  uint32_t out_bits;  // 8, or 2 / 4 for packed unsigned codes
  const float* mul;   // [nc]
  const float* add;   // [nc]
  crumb_output_params out;
  uint32_t a_type;  // GEMV only: CRUMB_ELEM_U8 or CRUMB_ELEM_S8 activation codes
} crumb_lut_params;

typedef void crumb_lutgemm_ukernel_fn(size_t mr, size_t nc, size_t kc, const void* a,
                                      size_t a_stride, const uint8_t* w, void* c, size_t c_stride,
                                      const crumb_lut_params* params);
typedef void crumb_lutigemm_ukernel_fn(size_t mr, size_t nc, size_t kc, size_t ks, const void** a,
                                       size_t a_offset, const void* zero, const uint8_t* w, void* c,
                                       size_t c_stride, const crumb_lut_params* params);

// GEMV (fully-connected layers at M = 1, where the weights' bytes dominate): 8-bit activations,
// one code per byte (params->a_type U8 or S8, zero point a_zero_point), times the same LUT_W2_N64
// weights (packed with ks = 1, kc = K):
//   c[n] = E(float(sum over k < kc of (a[k] - za) v(w[n][k])) * mul[n] + add[n]),  n < nc.
// The kernel splits each code into 4-bit halves, a = 16 h + l (s8 codes offset by 128 first), and
// runs the A4 pair-table sums of both halves over each weight load: the table is
// crumb_lut_init_table(vmap, 4). scratch: crumb_lut_gemv_scratch_size(kc) bytes (the halves as
// two CHANNELS_LSB A4 rows). c: one output row, formats as above.
typedef void crumb_lutgemv_ukernel_fn(size_t nc, size_t kc, const void* a, const uint8_t* w,
                                      void* c, const crumb_lut_params* params, uint8_t* scratch);

// ------------------------------------------------------------------------------- sizes
// Bits a code occupies in a packed activation row: 2 for A2, 4 for A3 / A4.
static inline unsigned crumb_lut_storage_bits(unsigned a_bits) { return a_bits <= 2 ? 2u : 4u; }
static inline size_t crumb_lut_steps(size_t kc) {
  return (kc + CRUMB_LUT_KSTEP - 1) / CRUMB_LUT_KSTEP;
}
static inline size_t crumb_lut_act_row_bytes(size_t channels, unsigned a_bits) {
  return crumb_lut_steps(channels) * crumb_lut_storage_bits(a_bits) * CRUMB_LUT_KSTEP / 8;
}
static inline size_t crumb_lut_gemv_scratch_size(size_t kc) {
  return 2 * crumb_lut_act_row_bytes(kc, 4);
}
static inline size_t crumb_lut_block_bytes(size_t ks, size_t kc) {
  return CRUMB_LUT_BLOCK_HEADER + ks * crumb_lut_steps(kc) * CRUMB_LUT_NR;
}
static inline size_t crumb_lut_blocks(size_t n) { return (n + CRUMB_LUT_NR - 1) / CRUMB_LUT_NR; }
static inline size_t crumb_lut_packed_size(size_t n, size_t ks, size_t kc) {
  return crumb_lut_blocks(n) * crumb_lut_block_bytes(ks, kc);
}
// Lane of channel j (0..63) of a block, and back.
static inline unsigned crumb_lut_lane(unsigned j) { return j < 32 ? 2 * j : 2 * (j - 32) + 1; }
static inline unsigned crumb_lut_lane_channel(unsigned l) { return (l & 1) * 32 + l / 2; }

// ------------------------------------------------------------------------------- tables
// A table is 64-byte rows followed by a 64-byte trailer (crumb_lut_table_info). Row p holds the
// 16 entries T'[p][c] = vmap[c & 3] a0 + vmap[c >> 2] a1 + bias four times over (so that SIMD
// kernels read a row replicated to every 128-bit lane with a plain load, which unlike a broadcast
// does not compete with the lookups for the shuffle units), biased to be unsigned:
// bias = -min T = -2 amax min(vmap, 0) (amax = 2^a_bits - 1), so 0 <= T' <= width with
// width = 2 amax (max(vmap, 0) - min(vmap, 0)) <= 8 amax. Rows: A2 16, indexed by a0 | a1 << 2
// (a nibble of the packed row); A3 / A4 256, indexed by a0 | a1 << 4 (a byte).
// Kernels sum up to 2 * steps_per_group looked-up entries in a byte (2 steps_per_group width <=
// 255) and subtract bias once per looked-up pair. Signed 2-bit weights: width 6 amax, so 2 pairs
// (A4), 6 (A3), 14 (A2) per byte sum; ternary 4 amax: 4, 8, 20.
typedef struct crumb_lut_table_info {
  int32_t bias;
  int32_t steps_per_group;  // >= 1
  int32_t a_bits;
  int32_t width;
} crumb_lut_table_info;

// A2 tables also hold, after the 16 pair rows, 256 "step rows" indexed by a whole activation byte
// b (two pairs): T'[b & 15] (16 entries), T'[b >> 4], and both again, so that a kernel with a
// 64-entry byte permute (vpermb) reads both pairs' tables in one load.
#define CRUMB_LUT_ROW 64                             // bytes of a table row: 16 entries, 4 times
#define CRUMB_LUT_A2_STEP_ROWS (16 * CRUMB_LUT_ROW)  // offset of the A2 step rows
static inline size_t crumb_lut_table_rows_bytes(unsigned a_bits) {
  return a_bits <= 2 ? (16 + 256) * CRUMB_LUT_ROW : 256 * CRUMB_LUT_ROW;
}
static inline size_t crumb_lut_table_size(unsigned a_bits) {
  return crumb_lut_table_rows_bytes(a_bits) + 64;
}
static inline const crumb_lut_table_info* crumb_lut_table_trailer(const uint8_t* table,
                                                                  unsigned a_bits) {
  return (const crumb_lut_table_info*)(const void*)(table + crumb_lut_table_rows_bytes(a_bits));
}

// The value of each kernel code for weights of `bits` (1..2) and `encoding` with per-channel zero
// points zw[0..n) (the values are code values minus zw): vmap[0] = 0 always, the values used
// by the encoding's codes go to codes 1..3. Signed / ternary 2-bit (and every value set within
// {-2, -1, 0, 1}) get two's complement codes. Returns 0 when the values do not fit: more than
// three non-zero values or one outside [-2, 2] (for example unsigned 2-bit weights with zero
// point 0 or 3, or channels with different zero points that together use five values).
int crumb_lut_value_map(unsigned bits, unsigned encoding, const int32_t* zw, size_t n,
                        int8_t vmap[4]);

// Fills table[crumb_lut_table_size(a_bits)] (rows and trailer: A2 17472 bytes, A3 / A4 16448) for
// activations of a_bits (2, 3 or 4). The table must be 64-byte aligned (kernels read whole rows
// with aligned loads).
void crumb_lut_init_table(const int8_t vmap[4], unsigned a_bits, uint8_t* table);

// ------------------------------------------------------------------------------- packers
// Packs ROWS_LSB weights (n rows of ks * kc codes of `bits`, (tap, channel) order, zero points
// zw[n]) into dst[crumb_lut_packed_size(n, ks, kc)]. Returns 1, or 0 (dst untouched) when
// crumb_lut_value_map() refuses the weights or a code's value is not in vmap.
int crumb_lut_pack(const uint8_t* rows, unsigned bits, unsigned encoding, const int32_t* zw,
                   size_t n, size_t ks, size_t kc, uint8_t* dst);
// As crumb_lut_pack from values (qw - zw) [n][ks * kc], with the vmap to use.
int crumb_lut_pack_values(const int32_t* values, const int8_t vmap[4], size_t n, size_t ks,
                          size_t kc, uint8_t* dst);
// The inverse: values (qw - zw) [n][ks * kc] from packed weights and their vmap; also checks
// ksum. Returns 0 when a ksum does not match its codes or padding holds a non-zero code.
int crumb_lut_unpack(const uint8_t* src, const int8_t vmap[4], size_t n, size_t ks, size_t kc,
                     int32_t* values);

// One code per byte (pixels rows of `channels` codes, in_stride bytes apart) -> CHANNELS_LSB rows
// of crumb_lut_act_row_bytes(channels, a_bits) bytes, dst_stride apart; padding codes 0. Codes
// must be below 2^a_bits.
void crumb_lut_pack_act(const uint8_t* codes, size_t pixels, size_t channels, size_t in_stride,
                        unsigned a_bits, uint8_t* dst, size_t dst_stride);
void crumb_lut_unpack_act(const uint8_t* src, size_t pixels, size_t channels, size_t src_stride,
                          unsigned a_bits, uint8_t* codes, size_t out_stride);

// ------------------------------------------------------------------------------- kernels
#define CRUMB_LUT_UKERNEL(kind, name, isa, a_bits) crumb_##kind##_ukernel_fn name;
#include "kernels/lut/lut.inc"

#ifdef __cplusplus
}
#endif
