// The `dwconv` kernel family: depthwise convolution (one filter per channel, channel multiplier
// 1), NHWC activations of one code per byte, weights of any width 1..8 expanded to int8 at pack
// time. Depthwise layers do ~ks MACs per activation byte: the work is in loading activations,
// the multiply-accumulate chain and the requantizing epilogue, not in the weights.
//
// Contract (every kernel of dwconv.inc returns exactly the bits of the reference,
// kernels/reference's depthwise conv, for every input the contract allows):
//   for output pixel x < width and channel c < channels:
//     acc = sum over taps t < ks of (qa[t][c] - za) * v[t][c]           (int32, exact)
//     y = float(acc) * mul[c] + add[c];  output = E(y)                   (params.h, requantizing)
//   where qa[t] = the channel vector input[x * ks + t] (+ input_offset bytes unless the pointer
//   equals `zero`), v[t][c] = qw[t][c] - zw[c] the weight values the packer stored, za the input
//   zero point. Padding taps point to `zero`, a row of `channels` codes equal to za (so they add
//   exactly 0). Activations are U8 or S8 codes (params.a_type), outputs U8 / S8 codes or float32
//   (params.out.type), one element per channel, output pixels output_stride bytes apart.
//
// Weights (layout DWCONV_C64, schema Layout 6): channels in blocks of 64 (the last padded with
// zero channels); each block is
//   int32 vsum[64]       sum over taps of v[t][c] (the kernels' za correction: acc = sum qa v -
//                        za vsum, with qa read raw)
//   int8  v[ks][64]      tap-major: the 64 channels' values of tap 0, then tap 1, ...
// crumb_dwconv_packed_size(channels, ks) bytes; v must fit int8 (every encoding at <= 7 bits does;
// 8-bit weights whose values v = qw - zw leave [-128, 127] cannot be packed: the packer refuses
// and the layer stays on the scalar GEMM path).
//
// Bounds the kernels may use (params): a_bits / w_bits give |qa| <= 2^a_bits - 1 (U8) or
// 2^(a_bits-1) (S8) and |v| <= max_abs_v, so a kernel may accumulate in int16 while
// ks * max|qa| * max_abs_v < 2^15 (e.g. 4-bit activations x 2-bit weights, 25 taps: 25 * 15 * 2
// = 750), and must widen to int32 otherwise. za is an input code too (the zero row holds it), so it
// lies in the same range. (The x86 kernels read S8 codes as u8 after xor 0x80 and choose the int16
// chain with max|qa| = 127 + 2^(a_bits-1) for them; a choice inside the kernel, same bits.)
//
// Splitting a layer's channels over calls: at multiples of 64 channels c0, with weights +
// (c0 / 64) * crumb_dwconv_block_bytes(ks), input_offset + c0, mul / add + c0 and output + c0
// elements; the zero row needs no offset (every channel holds za).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernels/common/params.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRUMB_DWCONV_BLOCK 64

typedef struct crumb_dwconv_params {
  uint32_t a_type;  // CRUMB_ELEM_U8 or CRUMB_ELEM_S8
  int32_t a_zero_point;
  uint32_t a_bits;     // 1..8: the input codes' width (bounds only)
  uint32_t max_abs_v;  // the largest |v| of the packed weights (bounds only; the packer reports it)
  const float* mul;    // [channels]
  const float* add;    // [channels]
  crumb_output_params out;
} crumb_dwconv_params;

// channels: the layer's channels (any count >= 1; blocks of 64 in the packed weights);
// width: output pixels of this call; ks: taps per output pixel (kh * kw);
// input: width * ks row pointers (pixel-major, tap-minor); output: width pixels, output_stride
// bytes apart (channels elements each).
typedef void crumb_dwconv_ukernel_fn(size_t channels, size_t width, size_t ks, const void** input,
                                     size_t input_offset, const void* zero, const void* weights,
                                     void* output, size_t output_stride,
                                     const crumb_dwconv_params* params);

static inline size_t crumb_dwconv_blocks(size_t channels) {
  return (channels + CRUMB_DWCONV_BLOCK - 1) / CRUMB_DWCONV_BLOCK;
}
static inline size_t crumb_dwconv_block_bytes(size_t ks) {
  return CRUMB_DWCONV_BLOCK * 4 + ks * CRUMB_DWCONV_BLOCK;
}
static inline size_t crumb_dwconv_packed_size(size_t channels, size_t ks) {
  return crumb_dwconv_blocks(channels) * crumb_dwconv_block_bytes(ks);
}

// Packs the ROWS_LSB weights of a depthwise conv (row c: the ks codes of channel c, `bits` wide,
// encoding as crumb_weight_encoding, zero points zw[channels]) into
// dst[crumb_dwconv_packed_size(channels, ks)]. Returns 1 and sets *max_abs_v, or 0 (dst
// untouched) when a value v = qw - zw (bipolar: 2 qw - 1 - zw) leaves [-128, 127].
int crumb_dwconv_pack(const uint8_t* rows, unsigned bits, unsigned encoding, const int32_t* zw,
                      size_t channels, size_t ks, uint8_t* dst, uint32_t* max_abs_v);

// The inverse: values v[channels][ks] from packed weights; 0 when a vsum does not match or a
// padding channel is not zero.
int crumb_dwconv_unpack(const uint8_t* src, size_t channels, size_t ks, int32_t* values);

// Declarations of every kernel of kernels/dwconv/dwconv.inc.
#define CRUMB_DWCONV_UKERNEL(name, isa) crumb_dwconv_ukernel_fn name;
#include "kernels/dwconv/dwconv.inc"

#ifdef __cplusplus
}
#endif
