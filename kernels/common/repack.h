// Conv / FullyConnected weights moved between the layouts of schema/crumb.fbs: any packed layout
// back to ROWS_LSB rows, and ROWS_LSB to any family's layout, group by group, with each family's
// own packer and unpacker (the round trips their tests prove). The runtime repacks with it when
// its CPU's table row names another family than the file was packed for; crumb-bench --tune
// writes a tuned file with it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Values of schema/crumb.fbs Layout for weights.
enum crumb_weight_layout {
  CRUMB_LAYOUT_ROWS_LSB = 2,
  CRUMB_LAYOUT_DOT_N16K4 = 3,
  CRUMB_LAYOUT_LUT_W2_N64 = 4,
  CRUMB_LAYOUT_BITSERIAL_N64 = 5,
  CRUMB_LAYOUT_DWCONV_C64 = 6,  // depthwise only: groups == n, kc == 1; the whole tensor at once
  CRUMB_LAYOUT_SPARSE_B4 = 7,   // groups == 1, ks == 1; its size depends on the zeros
};

// What a weight tensor is: n output channels in `groups` groups, ks taps of kc channels each.
typedef struct crumb_weights_desc {
  unsigned bits;
  unsigned encoding;           // crumb_weight_encoding
  const int32_t* zero_points;  // [n]
  size_t n, groups, ks, kc;
} crumb_weights_desc;

// The layout a kernel family (crumb_kernel_family) runs in place: SCALAR (and AUTO) ROWS_LSB.
int crumb_family_layout(int family);
// The family whose kernels read `layout` (CRUMB_FAMILY_AUTO for ROWS_LSB).
int crumb_layout_family(int layout);

// Bytes of the whole tensor (all groups) in `layout`; 0 for SPARSE_B4, whose size depends on the
// values (crumb_repack_size).
size_t crumb_weights_size(const crumb_weights_desc* w, int layout);

// Bytes crumb_repack_weights(w, src, src_layout, ., dst_layout) writes (0: it would refuse).
size_t crumb_repack_size(const crumb_weights_desc* w, const uint8_t* src, int src_layout,
                         int dst_layout);

// Writes the tensor `src` (in src_layout) into dst[crumb_weights_size(w, dst_layout)] in
// dst_layout. Returns 1, or 0 when src fails its layout's checks (sums that do not match the
// codes, non-zero padding) or dst_layout's packer refuses the codes (a lut value map, a bitserial
// encoding).
int crumb_repack_weights(const crumb_weights_desc* w, const uint8_t* src, int src_layout,
                         uint8_t* dst, int dst_layout);

#ifdef __cplusplus
}
#endif
