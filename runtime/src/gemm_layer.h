// The weights of a Conv / FullyConnected layer prepared for its kernel family, and the calls into
// that family's kernels. Shared by both ops so that the family logic lives in one place.
//
// Families: SCALAR runs kernels/scalar over ROWS_LSB rows; DOT runs kernels/dot over DOT_N16K4
// blocks; LUT runs kernels/lut over LUT_W2_N64 blocks and reads its activations packed along
// channels (CHANNELS_LSB: the layer packs its one-code-per-byte input before the kernel). Weights
// the converter packed for the family run in place from the model's memory; ROWS_LSB weights of
// older files, and weights packed for a family the CPU's table row does not pick, are packed once
// at the first prepare (kernels/common/repack.h).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "interpreter.h"
#include "kernels/common/family.h"

namespace crumb::rt {

// 64-byte aligned bytes (the lut kernels load table rows and weight lanes aligned).
class AlignedBytes {
 public:
  bool Resize(size_t n);
  uint8_t* data() const { return p_.get(); }
  size_t size() const { return n_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { free(p); }
  };
  std::unique_ptr<uint8_t, Free> p_;
  size_t n_ = 0;
};

class GemmLayer {
 public:
  // Decides the family and prepares the weights, tables and parameters (once; later calls only
  // refresh nothing). groups / ks / kc as in the kernels' contracts; FullyConnected: 1, 1, K.
  // `rows`: output rows (pixels) at the current shapes, for the table's shape class.
  // `direct`: a 1x1 stride-1 unpadded convolution or a FullyConnected (rows read as they are).
  Status Prepare(const OpContext& ctx, size_t groups, size_t ks, size_t kc, size_t rows,
                 bool direct);

  int family() const { return family_; }
  uint32_t weight_encoding() const { return params_.w_encoding; }
  // Why this family: forced, tuned, or the table row (and whether the weights were repacked).
  const char* family_reason() const { return reason_.c_str(); }

  // Activation rows. SCALAR / DOT read one code per byte; LUT reads codes packed along channels
  // (kernels/lut/lut.h CHANNELS_LSB, 2 or 4 bits per code) and BITSERIAL bit planes
  // (kernels/bitserial/bitserial.h CHANNELS_PLANES64). A format is a tag, 0 for one code per
  // byte, equal for producer and consumer exactly when the bytes mean the same.
  unsigned InputFormat() const;
  // Bytes of one group's packed input row.
  size_t InputRowBytes() const;
  // Packs `pixels` rows of kc codes (in_stride bytes apart) into rows dst_stride apart.
  void PackInput(const uint8_t* codes, size_t pixels, size_t in_stride, uint8_t* dst,
                 size_t dst_stride) const;
  // The packed format this layer can write for output `y` of n channels (0: none), and the bytes
  // of such a row.
  unsigned OutputFormat(const TensorDesc& y) const;
  size_t OutputRowBytes(const TensorDesc& y, size_t n) const;
  // Writes OutputFormat(y) instead of one code per byte from now on.
  void UsePackedOutput(const TensorDesc& y, size_t n);
  // Bytes of scratch the kernels need.
  size_t scratch_bytes() const;
  size_t persistent_bytes() const {
    size_t n = owned_.size() + table_.size();
    for (const TapSubset& s : subsets_) n += s.w.size();
    return n;
  }

  // C = A W for group g: `a` rows a_stride bytes apart (LUT: packed rows), mr rows.
  void Gemm(size_t g, size_t mr, const void* a, size_t a_stride, void* c, size_t c_stride,
            int32_t* scratch) const;
  // Whether Igemm's rows equal to `zero` cost no work (an igemmz kernel of the DOT family, and
  // activations whose zero point is 0 in the u8 domain): a tap of known zeros then needs no
  // weights without it.
  bool SkipsZeroRows() const { return skips_zero_rows_; }
  // The indirect form: a[mr * ks] row pointers (+ a_offset bytes), zero the padding row.
  void Igemm(size_t g, size_t mr, const void** a, size_t a_offset, const void* zero, void* c,
             size_t c_stride, int32_t* scratch) const;

  // Re-packs the weights of a DOT / SCALAR layer of one group for ks taps of kc channels, the
  // same ROWS_LSB codes in the same (tap, channel) order: a kh x kw kernel over c channels read
  // as kh taps of kw * c channels (ConvOp's row spans for convolutions of few channels).
  // pad_kc > kc (one tap, SIGNED / UNSIGNED weights) appends pad_kc - kc weights equal to each
  // channel's zero point: they add nothing whatever the activations beside them, and a reduction
  // of whole 32-code super-blocks keeps the dot kernels off their generic tail path.
  Status Reshape(size_t ks, size_t kc, size_t pad_kc = 0);

  // Weights for the taps in `taps` only (bit t: tap t; ks <= 64), for output pixels whose other
  // taps read known zeros (padding, a spatial mask): the same products without the zero ones.
  // SCALAR / DOT / LUT / BITSERIAL, one group. Sets *id for IgemmTaps. widen (DOT, signed or
  // unsigned weights of fewer than 8 bits): the same values stored at 8 bits, which the dot
  // kernels read without decoding (a masked layer's weights, budgeted by MaskedConv).
  Status AddTapSubset(uint64_t taps, size_t* id, bool widen = false);
  // Whether AddTapSubset can widen this layer's weights (and they are narrower than 8 bits).
  bool CanWiden() const;
  size_t TapSubsetTaps(size_t id) const { return subsets_[id].ks; }
  // Igemm over subset `id`: a[mr * TapSubsetTaps(id)] row pointers, in tap order.
  void IgemmTaps(size_t id, size_t mr, const void** a, size_t a_offset, const void* zero, void* c,
                 size_t c_stride, int32_t* scratch) const;

  // DWCONV: `width` output pixels of every channel, a[width * ks] row pointers (one code per byte,
  // + a_offset bytes) and `zero` for padding; outputs c_stride bytes apart.
  void Dwconv(size_t width, const void** a, size_t a_offset, const void* zero, void* c,
              size_t c_stride) const;

  // SPARSE: `pixels` rows of C4HW input (kernels/sparse/sparse.h; groups group_stride bytes
  // apart) times the weights, NHWC output rows c_stride bytes apart.
  void Spmm(size_t pixels, const void* a, size_t group_stride, void* c, size_t c_stride) const;
  // The same with a C4HW output of out_group_stride bytes per channel group: the next sparse
  // layer's input, so the region between them never exists as NHWC.
  void SpmmC4(size_t pixels, const void* a, size_t group_stride, void* c,
              size_t out_group_stride) const;

  const char* GemmName() const { return gemm_name_; }
  const char* IgemmName() const { return igemm_name_; }

 private:
  int ChooseFamily(const OpContext& ctx, const crumb_gemm_layer& layer, unsigned shape,
                   int packed_for);

  struct TapSubset {
    size_t ks = 0;
    AlignedBytes w;
    crumb_gemm_params gemm{};  // SCALAR / DOT: the row length differs from the whole layer's
  };
  std::vector<TapSubset> subsets_;
  const uint8_t* model_w_ = nullptr;  // the weights as the file holds them, and their layout
  int model_layout_ = 0;

  int family_ = CRUMB_FAMILY_SCALAR;
  std::string reason_;
  bool prepared_ = false;
  size_t groups_ = 1, ks_ = 1, kc_ = 0, cout_g_ = 0;
  unsigned lut_bits_ = 0;
  const uint8_t* w_ = nullptr;  // packed weights of group 0
  size_t group_bytes_ = 0;      // bytes between groups' packed weights
  AlignedBytes owned_;          // weights packed at prepare (ROWS_LSB files)
  AlignedBytes table_;          // LUT pair tables
  std::vector<int32_t> zero_points_;
  const float* mul_ = nullptr;
  const float* add_ = nullptr;
  crumb_gemm_params params_{};
  // Per group: the parameters with that group's zero points, multipliers and biases.
  std::vector<crumb_gemm_params> gemm_groups_;
  std::vector<crumb_lut_params> lut_groups_;
  std::vector<crumb_bitserial_params> bs_groups_;
  unsigned a_bits_ = 0;  // BITSERIAL: activation planes
  BitserialKernels bs_;
  crumb_gemm_ukernel_fn* gemm_ = nullptr;  // SCALAR / DOT
  crumb_igemm_ukernel_fn* igemm_ = nullptr;
  LutKernels lut_;
  DwconvKernel dwconv_;
  SpmmKernel spmm_;
  crumb_spmm_params sp_params_{};
  size_t out_elem_ = 1;
  crumb_dwconv_params dw_params_{};
  const char* gemm_name_ = "";
  const char* igemm_name_ = "";
  bool skips_zero_rows_ = false;
};

}  // namespace crumb::rt
