// A convolution that reads or writes a tensor with a spatial mask (schema/README.md "Spatial
// masks"). Masked output pixels are not computed: they get the output's zero point. Taps that
// fall on masked input pixels (or padding) read known zeros. Where the layer's igemm kernel skips
// zero rows (GemmLayer::SkipsZeroRows: AVX-512 VNNI, zero point 0), every pixel runs with its
// known-zero taps pointing at the zero row, pixels sorted by their taps so that a tile's rows
// share them. Elsewhere output pixels are grouped by the taps they really need, and each group
// runs the family's igemm kernel over weights holding only those taps
// (GemmLayer::AddTapSubset). Either way kChunkRows rows at a time go into the task's scratch, from
// where the rows are put in place while still in L1. The results are the bits the unmasked
// convolution gives: only products with zero are left out.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "gemm_layer.h"
#include "interpreter.h"

namespace crumb::rt {

class MaskedConv {
 public:
  // Whether a layer of this family can run masked (else the op runs unmasked and the interpreter
  // writes the output mask afterwards).
  static bool Supports(const GemmLayer& layer, size_t groups, size_t ks);
  // Scratch each task needs beyond the kernel's, for output rows up to max_out_stride bytes apart.
  static size_t ChunkBytes(size_t max_out_stride);

  // Plans at Setup: `rows` are the input's rows (row_bytes apart: codes or the family's packed
  // rows), `zero` the padding row; output rows are out_stride bytes apart, out_row_bytes long;
  // each task's ChunkBytes() start chunk_offset bytes into its scratch slot.
  Status Setup(const OpContext& ctx, GemmLayer* layer, const uint8_t* rows, size_t row_bytes,
               const void* zero, size_t out_stride, size_t out_row_bytes, size_t chunk_offset);
  // Groups one after the other, each split over the workers by rows (task t: scratch slot t).
  void Run(const OpContext& ctx, const GemmLayer& layer, uint8_t* y, uint8_t* scratch) const;
  size_t persistent_bytes() const;
  // Kernel work left, as a fraction of the unmasked layer's (for profiles and tests).
  double work_fraction() const { return work_fraction_; }
  // "N masked, N all-zero, N pixels in K tap sets" (or "on their own taps").
  std::string Summary() const;

 private:
  struct Group {
    int subset = -1;  // GemmLayer tap subset, -1: every tap (the layer's own weights)
    uint64_t taps = 0;
    size_t ks = 0;
    std::vector<uint32_t> pixels;  // output pixels, in order
    size_t rows = 0;               // kernel rows: the pixels, padded to whole 4-row tiles
    size_t first_pointer = 0;      // into indirection_
  };
  std::vector<Group> groups_;
  std::vector<const void*> indirection_;
  std::vector<uint32_t> masked_pixels_;  // written with the output zero point
  std::vector<uint32_t> zero_pixels_;    // every tap reads a known zero: const_row_
  std::vector<uint8_t> const_row_;
  const void* zero_ = nullptr;
  size_t cost_ = 0;  // multiply-accumulates per pixel and tap
  size_t out_stride_ = 0, out_row_bytes_ = 0, chunk_offset_ = 0;
  uint8_t zero_code_ = 0;
  double work_fraction_ = 1.0;
  bool own_taps_ = false;  // the kernel skips zero rows: one group, no tap subsets
  bool widened_ = false;   // own_taps_ over the layer's weights stored at 8 bits
};

}  // namespace crumb::rt
