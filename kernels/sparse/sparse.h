// The `sparse` kernel family: sparse weights x dense activations (SpMM) for 1x1 convolutions and
// fully connected layers whose weights are mostly zero. XNNPACK's "Fast Sparse ConvNets" format
// (per output channel: the count of non-zeros, their values and the input-row deltas between
// them, over a channel-major activation tensor walked mr pixels at a time), extended to
// quantized weights of any width 1..8 with 1x4 blocks along the input channels, so that one
// int8 dot-product lane (vpdpbusd, vpmaddubsw + vpmaddwd, sdot, smull + sadalp) covers a block.
//
// ---------------------------------------------------------------------------------------------
// Activations: layout C4HW ("SPARSE_C4"). A tensor of P pixels x K channels (one code per byte,
// u8 or s8, as everywhere else) stored as ceil(K / 4) channel groups; group g holds for every
// pixel p the 4 bytes of channels 4g .. 4g + 3:
//     byte (p, k) at  a + (k / 4) * a_group_stride + 4 * p + (k % 4)
// a_group_stride >= 4 * P (bytes; 4 * P for a dense tensor). One 32-bit lane = one pixel's 4
// channels. Channels >= K of the last group (padding) may hold anything: their weights are 0.
// crumb_sparse_nhwc_to_c4hw / crumb_sparse_c4hw_to_nhwc (pack.cc) convert at region borders.
//
// Weights: layout SPARSE_B4 (proposed schema Layout id SPARSE_B4), written by crumb_sparse_pack*:
//   crumb_sparse_header  {n, k, blocks, flags}                               16 bytes
//   int32  vsum[n]       sum over channel o's blocks of the 4 values         (4n bytes)
//   uint32 start[n + 1]  blocks of channel o are [start[o], start[o + 1])    (4n + 4 bytes)
//   (zero bytes to a multiple of 8)
//   crumb_sparse_block blocks[blocks]                                        8 bytes each
// A block is one all-nonzero-or-not 1x4 piece of a weight row: int32 `delta` then int8 v[4].
// v[j] = value(code of input channel 4g + j) - zw[o] (the ROWS_LSB code's value under its
// encoding minus the channel's zero point; 0 for j with 4g + j >= K), so the real weight is
// s_w * v. A block is stored iff some v[j] != 0 (all-zero blocks are the sparsity). Blocks of a
// channel are in increasing g; `delta` is g itself for the channel's first block and
// g - g(previous block) for the others (so a call may start at any channel). Counts of
// XNNPACK's format are start[o + 1] - start[o]; its byte deltas are delta * a_group_stride,
// multiplied in the kernel so that one packed tensor serves every image size.
// flags bit 0 (CRUMB_SPARSE_WIDE): some |v| > 64 (the AVX2 kernel then takes an int16 path; with
// |v| <= 64 u8 x s8 pairs cannot saturate vpmaddubsw). Every v must fit int8: the packer refuses
// (returns -1) otherwise (8-bit weights with a zero point far from the codes' centre); the
// converter keeps such layers dense.
//
// ---------------------------------------------------------------------------------------------
// Kernel contract, crumb_<act>_<wgt>_spmm_ukernel_<mr>x4__<isa> (q8: u8 / s8 activation codes;
// qs8: SPARSE_B4 int8 blocks from weights of any width):
//   fn(mc, n0, nc, a, a_group_stride, w, out, out_pixel_stride, out_group_stride, params)
//   - mc >= 1 pixels (any count; the kernel tiles them by mr itself), a at pixel 0 of the call
//     (a caller splitting pixels passes a + 4 * p0 with the same a_group_stride). Reads only
//     bytes [4 * p, 4 * p + 4) for p < mc of groups < ceil(k / 4) (the AVX-512 kernel may copy
//     every group of a pixel block, not only those the call's blocks name).
//   - output channels [n0, n0 + nc), nc >= 1, n0 a multiple of 4 (threads may split N at
//     multiples of 4); w = the whole packed tensor (header first); params->mul / add point at
//     the call's first channel (mul[i], add[i] belong to channel n0 + i).
//   - acc(p, o) = sum over blocks b of o, j < 4 of (qa(p, 4g_b + j) - za) * v_b[j] in wrapping
//     int32 (computed as sum a_u * v - za_u * vsum[o], u8 domain: a_u = qa, or qa ^ 0x80 for s8
//     codes with za_u = za + 128), y = float(acc) * mul[i] + add[i] (two roundings, never
//     fused), then crumb_store_output(y, &params->out) — E(y) of kernels/common/requant.h, the
//     epilogue of every family. A channel without blocks gives E(add[i]).
//   - output element (p, n0 + i), in elements of params->out.type (1 byte for u8 / s8, 4 for
//     f32), at   out + p * out_pixel_stride + (i / 4) * out_group_stride + (i % 4)
//     with out pointing at (pixel 0 of the call, channel n0):
//       C4HW output (chains into the next sparse layer): out_pixel_stride = 4,
//         out_group_stride = the next tensor's group stride (elements), out = base + (n0 / 4) *
//         out_group_stride + 4 * p0;
//       NHWC output (the rest of the runtime): out_pixel_stride = the row stride (>= N),
//         out_group_stride = 4, out = base + p0 * row_stride + n0.
//     Exactly the elements of channels < n0 + nc and pixels < mc are written (padding lanes of
//     a C4HW output's last group are left alone).
//   - Leaf functions: no allocation, no scratch (the AVX-512 kernel keeps a 32 KB aligned copy of
//     activations on its stack), any alignment of a / out.
// Every kernel of sparse.inc returns the same bits as the scalar one.
//
// ---------------------------------------------------------------------------------------------
// fp32: XNNPACK's own sparse path (Fast Sparse ConvNets), 1x1 blocks of fp32 weights over
// channel-major (CHW, XNNPACK's NCHW) fp32 activations, bias and a min / max clamp (fused ReLU /
// ReLU6). Kernels only: the runtime has no fp32 convolutions yet, so nothing dispatches these
// (no runtime integration in this revision; they serve layers a model keeps at fp32 once it has).
//
// Activations: CHW. Channel k, pixel p at  (const char*)x + k * x_channel_stride + 4 * p,
// x_channel_stride >= 4 * P bytes (a multiple of 4). Output likewise (out_channel_stride).
//
// Weights: layout SPARSE_F32, written by crumb_sparse_f32_pack:
//   crumb_sparse_header  {n, k, nonzeros, flags = CRUMB_SPARSE_F32}           16 bytes
//   uint32 start[n + 1]  non-zeros of channel o are [start[o], start[o + 1])   (4n + 4 bytes)
//   (zero bytes to a multiple of 8)
//   crumb_sparse_f32_nz nz[nonzeros]                                          8 bytes each
// One entry per non-zero weight w[o][k] (1x1 blocks, XNNPACK's choice for fp32; 1x4 blocks were
// not tried: with unstructured sparsity they would store up to 3 zeros per block, and the 1x1
// AVX-512 kernel already runs at ~0.8 zmm FMA per cycle on the 90 % layers, see
// benchmarks/sparse_results.md). Entries of a channel are in increasing k; `delta` is k itself for
// the channel's first entry and k - k(previous entry) for the others (XNNPACK's count / value /
// input-delta triple, with the count as start[] so that a call may begin at any channel). Deltas
// count channels, not bytes, so one packed tensor serves every image size; the kernel multiplies by
// x_channel_stride off the critical path. A weight is stored iff it is not +0.0 / -0.0 (a NaN is
// stored).
//
// Kernel contract, crumb_f32_spmm_ukernel_<mr>x1__<isa>:
//   fn(mc, n0, nc, x, x_channel_stride, w, bias, out, out_channel_stride, params)
//   - mc >= 1 pixels (any count, tiled by the kernel), x at pixel 0 of the call, channel 0 (a
//     caller splitting pixels passes x + p0 with the same stride); reads only pixels < mc of the
//     channels the call's non-zeros name.
//   - output channels [n0, n0 + nc), nc >= 1, any n0; w = the whole packed tensor (header
//     first); bias[i] belongs to channel n0 + i; out at (channel n0, pixel 0 of the call).
//   - Summation order is part of the contract, so that every kernel returns the scalar kernel's
//     bits: acc(p) starts at bias[i], then for each non-zero of channel n0 + i in packed order
//     acc(p) = fmaf(v, x[k][p], acc(p)) (one fused multiply-add, one rounding, per non-zero;
//     SIMD kernels keep one accumulator per pixel and never split a channel's sum), then
//     y(p) = min(max(acc(p), params->min), params->max) as (acc > min ? acc : min) and
//     (y < max ? y : max). NaN propagation and the sign of a zero equal to min / max may differ
//     between ISAs; everything else is bit-identical.
//   - Exactly the elements (channel < n0 + nc, pixel < mc) are written.
//   - Leaf functions: no allocation, no scratch, any 4-byte alignment of x / out.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_SPARSE_KB 4           // input channels per block (one int32 lane)
#define CRUMB_SPARSE_WIDE 1u        // header flag: some |v| > 64
#define CRUMB_SPARSE_NARROW_MAX 64  // |v| bound of the vpmaddubsw path

typedef struct crumb_sparse_header {
  uint32_t n;       // output channels
  uint32_t k;       // input channels
  uint32_t blocks;  // stored (non-zero) 1x4 blocks
  uint32_t flags;   // CRUMB_SPARSE_WIDE
} crumb_sparse_header;

typedef struct crumb_sparse_block {
  int32_t delta;  // input channel groups from the previous block of the channel (first: g)
  int8_t v[4];    // qw - zw of input channels 4g .. 4g + 3
} crumb_sparse_block;

typedef struct crumb_spmm_params {
  uint32_t a_type;  // CRUMB_ELEM_S8 or CRUMB_ELEM_U8
  int32_t a_zero_point;
  const float* mul;  // [nc], from channel n0
  const float* add;  // [nc]
  crumb_output_params out;
} crumb_spmm_params;

typedef void crumb_spmm_ukernel_fn(size_t mc, size_t n0, size_t nc, const void* a,
                                   size_t a_group_stride, const void* w, void* out,
                                   size_t out_pixel_stride, size_t out_group_stride,
                                   const crumb_spmm_params* params);

static inline size_t crumb_sparse_groups(size_t k) {
  return (k + CRUMB_SPARSE_KB - 1) / CRUMB_SPARSE_KB;
}
static inline size_t crumb_sparse_vsum_offset(void) { return sizeof(crumb_sparse_header); }
static inline size_t crumb_sparse_start_offset(size_t n) { return 16 + 4 * n; }
static inline size_t crumb_sparse_blocks_offset(size_t n) {
  return (16 + 4 * n + 4 * (n + 1) + 7) & ~(size_t)7;
}
// Bytes of a packed tensor of n output channels holding `blocks` non-zero blocks.
static inline size_t crumb_sparse_packed_size(size_t n, size_t blocks) {
  return crumb_sparse_blocks_offset(n) + sizeof(crumb_sparse_block) * blocks;
}
static inline const int32_t* crumb_sparse_vsum(const void* w) {
  return (const int32_t*)((const uint8_t*)w + crumb_sparse_vsum_offset());
}
static inline const uint32_t* crumb_sparse_start(const void* w) {
  return (const uint32_t*)((const uint8_t*)w +
                           crumb_sparse_start_offset(((const crumb_sparse_header*)w)->n));
}
static inline const crumb_sparse_block* crumb_sparse_blocks(const void* w) {
  return (const crumb_sparse_block*)((const uint8_t*)w + crumb_sparse_blocks_offset(
                                                             ((const crumb_sparse_header*)w)->n));
}

// ---- Packer (kernels/sparse/pack.cc, in crumb_kernels_pack) ---------------------------------

// v = value(code) - zw[o] of ROWS_LSB rows (row_bytes apart) into v[n * k]. Returns 0, or -1
// when some v does not fit int8 (the tensor cannot be packed).
int crumb_sparse_decode_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                 unsigned bits, uint32_t encoding, const int32_t* zw, int32_t* v);

// Non-zero 1x4 blocks of v[n * k] (the `blocks` of crumb_sparse_packed_size).
size_t crumb_sparse_count_blocks(const int32_t* v, size_t n, size_t k);

// Fraction of all-zero 1x4 blocks among n * ceil(k / 4) (the converter's >= 2/3 rule), from
// ROWS_LSB rows; -1 when the tensor cannot be packed (some v outside int8).
double crumb_sparse_block_sparsity(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                   unsigned bits, uint32_t encoding, const int32_t* zw);

// Packs v[n * k] (each in [-128, 127]) into dst of crumb_sparse_packed_size(n,
// crumb_sparse_count_blocks(v, n, k)) bytes. Returns 0, or -1 when some v is outside int8.
int crumb_sparse_pack(const int32_t* v, size_t n, size_t k, void* dst);

// Bytes the packing of ROWS_LSB rows needs (0 when it cannot be packed), and the packing.
size_t crumb_sparse_packed_size_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                                         unsigned bits, uint32_t encoding, const int32_t* zw);
int crumb_sparse_pack_rows_lsb(const uint8_t* rows, size_t row_bytes, size_t n, size_t k,
                               unsigned bits, uint32_t encoding, const int32_t* zw, void* dst);

// Round trip: v[n * k] (header's n, k) of a packed tensor. Returns -1 on an inconsistent tensor
// (start not monotonic, a group outside ceil(k / 4), blocks out of order, vsum wrong).
int crumb_sparse_unpack(const void* w, size_t size, int32_t* v);

// Activation layout changes at a sparse region's borders (one code per byte). NHWC: pixel p,
// channel c at src[p * pixel_stride + c]. C4HW: see above; the padding channels of the last
// group are set to `pad` (e.g. the zero point).
void crumb_sparse_nhwc_to_c4hw(const uint8_t* src, size_t pixels, size_t channels,
                               size_t src_pixel_stride, uint8_t* dst, size_t dst_group_stride,
                               uint8_t pad);
void crumb_sparse_c4hw_to_nhwc(const uint8_t* src, size_t pixels, size_t channels,
                               size_t src_group_stride, uint8_t* dst, size_t dst_pixel_stride);

// ---- fp32 (SPARSE_F32) ----------------------------------------------------------------------

#define CRUMB_SPARSE_F32 2u  // header flag of a SPARSE_F32 tensor

typedef struct crumb_sparse_f32_nz {
  int32_t delta;  // input channels from the previous non-zero of the channel (first: k)
  float v;
} crumb_sparse_f32_nz;

typedef struct crumb_spmm_f32_params {
  float min;  // -INFINITY / 0 for none / ReLU
  float max;  // +INFINITY / 6 for none / ReLU6
} crumb_spmm_f32_params;

typedef void crumb_spmm_f32_ukernel_fn(size_t mc, size_t n0, size_t nc, const float* x,
                                       size_t x_channel_stride, const void* w, const float* bias,
                                       float* out, size_t out_channel_stride,
                                       const crumb_spmm_f32_params* params);

static inline size_t crumb_sparse_f32_nz_offset(size_t n) {
  return (16 + 4 * (n + 1) + 7) & ~(size_t)7;
}
static inline size_t crumb_sparse_f32_packed_size(size_t n, size_t nonzeros) {
  return crumb_sparse_f32_nz_offset(n) + sizeof(crumb_sparse_f32_nz) * nonzeros;
}
static inline const uint32_t* crumb_sparse_f32_start(const void* w) {
  return (const uint32_t*)((const uint8_t*)w + 16);
}
static inline const crumb_sparse_f32_nz* crumb_sparse_f32_nonzeros(const void* w) {
  return (const crumb_sparse_f32_nz*)((const uint8_t*)w + crumb_sparse_f32_nz_offset(
                                                              ((const crumb_sparse_header*)w)->n));
}

// Non-zeros (not +-0.0) of w[n * k] (row o = output channel o).
size_t crumb_sparse_f32_count(const float* w, size_t n, size_t k);
// Packs w[n * k] into dst of crumb_sparse_f32_packed_size(n, crumb_sparse_f32_count(w, n, k)).
void crumb_sparse_f32_pack(const float* w, size_t n, size_t k, void* dst);
// Round trip: w[n * k] (header's n, k; zeros where nothing is stored). Returns -1 on an
// inconsistent tensor (wrong flag or size, start not monotonic, channels out of order or >= k).
int crumb_sparse_f32_unpack(const void* packed, size_t size, float* w);

// Declarations of every kernel of kernels/sparse/sparse.inc.
#define CRUMB_SPARSE_UKERNEL(name, mr, isa) crumb_spmm_ukernel_fn name;
#define CRUMB_SPARSE_F32_UKERNEL(name, mr, isa) crumb_spmm_f32_ukernel_fn name;
#include "kernels/sparse/sparse.inc"

#ifdef __cplusplus
}
#endif
