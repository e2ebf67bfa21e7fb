// The ops of schema/README.md on the scalar kernels: shape inference (Configure), per-op
// preparation with real tensor addresses (Setup: indirection buffers, multipliers) and Run.
#include <string.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "float_layers.h"
#include "gemm_layer.h"
#include "interpreter.h"
#include "kernels/common/pack.h"
#include "kernels/common/requant.h"
#include "kernels/sparse/sparse.h"
#include "masked_conv.h"
#include "op_params.h"

namespace crumb::rt {

namespace {

crumb_requant_params RequantParams(const OpContext& ctx, size_t input) {
  const TensorDesc& in = ctx.InDesc(input);
  crumb_requant_params p;
  p.in_type = ElemType(in);
  p.in_zero_point = in.zero_points[0];
  p.scale = Multiplier(in.scales[0], ctx.OutDesc().scales[0]);
  p.out = OutputParams(ctx);
  return p;
}

std::string ShapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Output extent of a convolution / pooling window along one dimension; 0 when none fits.
int64_t WindowOutput(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pad0,
                     int64_t pad1, bool ceil_mode) {
  const int64_t span = in + pad0 + pad1 - dilation * (k - 1) - 1;
  if (span < 0) return 0;
  int64_t o = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // ONNX / PyTorch: with ceil_mode, a window that would start in the trailing padding is dropped.
  if (ceil_mode && (o - 1) * stride >= in + pad0) o--;
  return o;
}

// Indirection buffers hold one pointer per (output pixel, tap); refuse absurd ones (hostile
// window sizes) instead of exhausting memory.
constexpr uint64_t kMaxIndirection = uint64_t(1) << 28;

Status CheckIndirection(const Shape& out, int64_t kh, int64_t kw) {
  const uint64_t pixels = (uint64_t)(out[0] * out[2] * out[3]);
  uint64_t n = 0;
  if (__builtin_mul_overflow(pixels, (uint64_t)(kh * kw), &n) || n > kMaxIndirection) {
    return Unsupported(
        StrFormat("needs an indirection buffer of more than 2^28 pointers "
                  "(%llu output pixels x %lld taps).",
                  (unsigned long long)pixels, (long long)(kh * kw)));
  }
  return Status::Ok();
}

// Work split between threads: element-wise ops in runs of this many elements (several KiB, a
// multiple of every SIMD width), row-wise kernels (GEMM, dwconv, spmm, pools) in whole rows of
// output pixels, at least kRowUnit (a multiple of every register tile's rows).
constexpr size_t kElementwiseUnit = 4096;
constexpr size_t kRowUnit = 8;
// Indirection buffers above this size are built chunk by chunk at run time (ConvOp).
constexpr size_t kLazyIndirectionBytes = size_t(1) << 20;
constexpr size_t kLazyChunk = 32;
constexpr size_t kSpanCopy = 32;  // Im2col's block copy

// ---------------------------------------------------------------------------- element-wise
class QuantizeOp : public Op {
 public:
  explicit QuantizeOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    ctx.Out().shape = ctx.In(0).shape;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    params_.scale = ctx.OutDesc().scales[0];
    params_.out = OutputParams(ctx);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    const float* x = reinterpret_cast<const float*>(ctx.In(0).data);
    uint8_t* y = ctx.Out().data;
    ctx.Ranges(
        (size_t)ElementCount(ctx.In(0).shape), kElementwiseUnit, 4,
        [&](size_t b, size_t e, size_t) { kernels_.quantize(e - b, x + b, y + b, &params_); });
  }
  const char* KernelName() const override { return kernels_.quantize_name; }

 private:
  const KernelTable& kernels_;
  crumb_quantize_params params_{};
};

class DequantizeOp : public Op {
 public:
  explicit DequantizeOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    ctx.Out().shape = ctx.In(0).shape;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    const TensorDesc& in = ctx.InDesc(0);
    params_.in_type = ElemType(in);
    params_.in_zero_point = in.zero_points[0];
    params_.scale = in.scales[0];
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    const uint8_t* x = ctx.In(0).data;
    float* y = reinterpret_cast<float*>(ctx.Out().data);
    ctx.Ranges(
        (size_t)ElementCount(ctx.In(0).shape), kElementwiseUnit, 4,
        [&](size_t b, size_t e, size_t) { kernels_.dequantize(e - b, x + b, y + b, &params_); });
  }
  const char* KernelName() const override { return kernels_.dequantize_name; }

 private:
  const KernelTable& kernels_;
  crumb_dequantize_params params_{};
};

class RequantizeOp : public Op {
 public:
  explicit RequantizeOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    ctx.Out().shape = ctx.In(0).shape;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    params_ = RequantParams(ctx, 0);
    // Code in, code out: a function of one byte. Tabulated with the requantize kernel itself (the
    // same bits), then one lookup per element instead of float math.
    use_table_ = !ctx.InDesc(0).is_float && !ctx.OutDesc().is_float;
    if (ctx.desc.inputs.size() == 2) {
      // Version 2: the converter's table (op_check verified every entry).
      std::memcpy(table_, ctx.InDesc(1).data, sizeof table_);
    } else if (use_table_) {
      uint8_t codes[256];
      for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
      kernels_.requantize(256, codes, table_, &params_);
    }
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    if (fused_) return;
    const size_t n = (size_t)ElementCount(ctx.In(0).shape);
    const uint8_t* x = ctx.In(0).data;
    uint8_t* y = ctx.Out().data;
    ctx.Ranges(n, kElementwiseUnit, 4, [&](size_t b, size_t e, size_t) {
      if (use_table_) {
        kernels_.x8lut(e - b, x + b, table_, y + b);
      } else {
        kernels_.requantize(e - b, x + b, y + b, &params_);
      }
    });
  }
  const char* KernelName() const override {
    if (fused_) return "(table fused into the convolution before)";
    return use_table_ ? kernels_.x8lut_name : kernels_.requantize_name;
  }
  const uint8_t* CodeTable() const override { return table_; }
  void SetFusedIntoProducer() override { fused_ = true; }

 private:
  const KernelTable& kernels_;
  crumb_requant_params params_{};
  bool use_table_ = false, fused_ = false;
  uint8_t table_[256] = {};
};

class AddOp : public Op {
 public:
  explicit AddOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    if (ctx.In(0).shape != ctx.In(1).shape) {
      return Unsupported(StrFormat("adds shapes %s and %s; only equal shapes are supported.",
                                   ShapeStr(ctx.In(0).shape).c_str(),
                                   ShapeStr(ctx.In(1).shape).c_str()));
    }
    ctx.Out().shape = ctx.In(0).shape;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    const TensorDesc& a = ctx.InDesc(0);
    const TensorDesc& b = ctx.InDesc(1);
    const float s_out = ctx.OutDesc().scales[0];
    params_.a_type = ElemType(a);
    params_.a_zero_point = a.zero_points[0];
    params_.a_scale = Multiplier(a.scales[0], s_out);
    params_.b_type = ElemType(b);
    params_.b_zero_point = b.zero_points[0];
    params_.b_scale = Multiplier(b.scales[0], s_out);
    // Version 2 is a - b: the negated multiplier (exact) in the same float steps.
    if (ctx.desc.version == 2) params_.b_scale = -params_.b_scale;
    params_.out = OutputParams(ctx);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    const uint8_t *a = ctx.In(0).data, *b = ctx.In(1).data;
    uint8_t* y = ctx.Out().data;
    ctx.Ranges(
        (size_t)ElementCount(ctx.In(0).shape), kElementwiseUnit, 4,
        [&](size_t s, size_t e, size_t) { kernels_.vadd(e - s, a + s, b + s, y + s, &params_); });
  }
  const char* KernelName() const override { return kernels_.vadd_name; }

 private:
  const KernelTable& kernels_;
  crumb_add_params params_{};
};

// ---------------------------------------------------------------------------- conv / fc
// The lut and bitserial families read activations packed along channels (kernels/lut/lut.h
// CHANNELS_LSB, kernels/bitserial/bitserial.h CHANNELS_PLANES64): the layer packs its input's
// pixels, each group's channels as their own packed row so that a group starts on a whole packing
// unit, into a buffer the indirection buffer then points into.
class PackedInput {
 public:
  Status Resize(const GemmLayer& layer, size_t pixels, size_t groups) {
    row_ = groups * layer.InputRowBytes();
    if (!buf_.Resize(pixels * row_)) {
      return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory for its packed activations.");
    }
    return Status::Ok();
  }
  // Packs rows of `channels` codes, channels / groups per group, into rows of row_bytes().
  static void Pack(const GemmLayer& layer, const uint8_t* x, size_t pixels, size_t channels,
                   size_t groups, uint8_t* dst, size_t dst_stride) {
    const size_t kc = channels / groups, grow = layer.InputRowBytes();
    for (size_t g = 0; g < groups; g++) {
      layer.PackInput(x + g * kc, pixels, channels, dst + g * grow, dst_stride);
    }
  }
  void Pack(const OpContext& ctx, const GemmLayer& layer, const uint8_t* x, size_t pixels,
            size_t channels, size_t groups) const {
    ctx.Ranges(pixels, kRowUnit, channels, [&](size_t b, size_t e, size_t) {
      Pack(layer, x + b * channels, e - b, channels, groups, buf_.data() + b * row_, row_);
    });
  }
  uint8_t* data() const { return buf_.data(); }
  size_t row_bytes() const { return row_; }
  size_t size() const { return buf_.size(); }

 private:
  AlignedBytes buf_;
  size_t row_ = 0;
};

// Bytes between the channel groups of C4HW activations: whole 64-byte lines, so that every group
// of a 64-byte aligned buffer starts on a line (a 14x14 layer's 784-byte rows would otherwise
// leave most of the sparse kernels' loads straddling two lines).
inline size_t C4GroupStride(size_t pixels) { return (4 * pixels + 63) / 64 * 64; }

// The channel-major C4HW copy of a sparse layer's one-code-per-byte input
// (kernels/sparse/sparse.h), rebuilt at every run; padding channels hold the zero point.
class SparseInput {
 public:
  Status Resize(const OpContext& ctx, size_t channels, size_t pixels) {
    za_ = (uint8_t)ctx.InDesc(0).zero_points[0];
    group_stride_ = C4GroupStride(pixels);
    if (!buf_.Resize(crumb_sparse_groups(channels) * group_stride_)) {
      return Status(CRUMB_ERROR_OUT_OF_MEMORY, "Out of memory for its C4HW activations.");
    }
    return Status::Ok();
  }
  void Convert(const OpContext& ctx, const uint8_t* x, size_t channels, size_t pixels) {
    ctx.Ranges(pixels, 64, channels, [&](size_t b, size_t e, size_t) {
      crumb_sparse_nhwc_to_c4hw(x + b * channels, e - b, channels, channels, buf_.data() + 4 * b,
                                group_stride_, za_);
    });
  }
  const uint8_t* data() const { return buf_.data(); }
  size_t group_stride() const { return group_stride_; }
  size_t size() const { return buf_.size(); }

 private:
  AlignedBytes buf_;
  size_t group_stride_ = 0;
  uint8_t za_ = 0;
};

// The format tag (Op::PackedOutputFormat) of a sparse region's C4HW activations.
constexpr unsigned kSparseC4HW = 16 * CRUMB_FAMILY_SPARSE;

class ConvOp : public Op {
 public:
  explicit ConvOp(const KernelTable&) {}

  Status Configure(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& x = ctx.In(0).shape;
    const Shape& w = ctx.InDesc(1).shape;
    const int64_t oh =
        WindowOutput(x[2], d.kernel_h, d.stride_h, d.dilation_h, d.pad_top, d.pad_bottom, false);
    const int64_t ow =
        WindowOutput(x[3], d.kernel_w, d.stride_w, d.dilation_w, d.pad_left, d.pad_right, false);
    if (oh < 1 || ow < 1) {
      return InvalidModel(StrFormat(
          "its %dx%d kernel (dilation %dx%d) does not fit the padded "
          "%lldx%lld input.",
          d.kernel_h, d.kernel_w, d.dilation_h, d.dilation_w, (long long)x[2], (long long)x[3]));
    }
    ctx.Out().shape = Shape{x[0], w[0], oh, ow};
    CRUMB_RETURN_IF_ERROR(CheckIndirection(ctx.Out().shape, d.kernel_h, d.kernel_w));
    groups_ = (size_t)d.groups;
    cin_ = (size_t)x[1];
    cout_ = (size_t)w[0];
    kc_ = cin_ / groups_;
    ks_ = (size_t)d.kernel_h * (size_t)d.kernel_w;
    direct_ = d.kernel_h == 1 && d.kernel_w == 1 && d.stride_h == 1 && d.stride_w == 1 &&
              d.pad_top == 0 && d.pad_left == 0 && d.pad_bottom == 0 && d.pad_right == 0;
    CRUMB_RETURN_IF_ERROR(
        layer_.Prepare(ctx, groups_, ks_, kc_, (size_t)(x[0] * oh * ow), direct_));
    out_desc_ = &ctx.OutDesc();
    in_masked_ = ctx.InDesc(0).spatial_mask != nullptr;
    out_pixels_ = (size_t)(x[0] * oh * ow);
    // An indirection buffer above kLazyIndirectionBytes (ResNet's 7x7 stem: 4.9 MB) is not kept:
    // each task builds the pointers of kLazyChunk pixels at a time in its scratch slot, where the
    // kernel then reads them from L1.
    // Few input channels (a stem: 3) make every tap a short, mostly padded k-group. Without
    // dilation along x, the kw taps of one kernel row are kw * c contiguous codes of a padded copy
    // of the input: each task copies its pixels' kh row spans into one row of K = kh * kw * c
    // codes (im2col, in its scratch) and runs the direct GEMM over them, the weights re-packed
    // for one tap of K channels: the same products in the same order, one short k-group per
    // pixel instead of one per tap (7x7x3: 37 k-groups instead of 49).
    row_span_ = groups_ == 1 && !direct_ && kc_ < 8 && d.kernel_w > 1 && d.dilation_w == 1 &&
                !ctx.InDesc(0).spatial_mask && !ctx.OutDesc().spatial_mask &&
                (layer_.family() == CRUMB_FAMILY_DOT || layer_.family() == CRUMB_FAMILY_SCALAR);
    if (row_span_) {
      // The dot kernels run whole super-blocks of 32 codes on their fast path (7x7x3 = 147:
      // 4 of them and 5 k-groups on the generic one): pad K with zero-point weights to 160.
      const uint32_t enc = layer_.weight_encoding();
      const size_t k = ks_ * kc_;
      const bool pad = layer_.family() == CRUMB_FAMILY_DOT &&
                       (enc == CRUMB_ENC_SIGNED || enc == CRUMB_ENC_UNSIGNED);
      span_k_ = pad ? (k + 31) / 32 * 32 : k;
      CRUMB_RETURN_IF_ERROR(layer_.Reshape(1, k, span_k_));
    }
    taps_ = row_span_ ? 0 : ks_;
    lazy_ = !direct_ && !row_span_ && out_pixels_ * taps_ * sizeof(void*) > kLazyIndirectionBytes;
    scratch_bytes_ = layer_.scratch_bytes();
    if (lazy_ || row_span_) {
      lazy_offset_ = (scratch_bytes_ + 63) / 64 * 64;
      scratch_bytes_ = lazy_offset_ + (row_span_ ? kLazyChunk * Im2colStride()
                                                 : kLazyChunk * taps_ * sizeof(void*));
    }
    if ((in_masked_ || out_desc_->spatial_mask) && MaskedConv::Supports(layer_, groups_, ks_)) {
      // Output rows at most cout_ floats or one packed row apart (Setup picks the stride).
      chunk_offset_ = (scratch_bytes_ + 63) / 64 * 64;
      scratch_bytes_ = chunk_offset_ + MaskedConv::ChunkBytes(std::max(
                                           cout_ * 4, layer_.OutputRowBytes(*out_desc_, cout_)));
    }
    return Status::Ok();
  }

  // Only whole-tensor rows (one group): a group's codes would not start on a packing unit. A
  // masked output is written one code per byte (its zero rows are codes).
  unsigned PackedOutputFormat() const override {
    if (groups_ != 1 || out_desc_->spatial_mask || fused_out_ >= 0) return 0;
    if (layer_.family() == CRUMB_FAMILY_SPARSE) return out_desc_->is_float ? 0 : kSparseC4HW;
    return layer_.OutputFormat(*out_desc_);
  }
  bool WritesSpatialMask() const override { return masked_active_ && out_desc_->spatial_mask; }
  bool FuseOutputTable(int32_t out, const uint8_t* table) override {
    if (out_desc_->is_float || out_desc_->spatial_mask || in_masked_ ||
        layer_.family() == CRUMB_FAMILY_SPARSE) {
      return false;
    }
    fused_out_ = out;
    out_table_ = table;
    return true;
  }
  unsigned PackedInputFormat() const override {
    if (groups_ != 1) return 0;
    return layer_.family() == CRUMB_FAMILY_SPARSE ? kSparseC4HW : layer_.InputFormat();
  }
  void UsePackedOutput() override {
    packed_out_ = true;
    layer_.UsePackedOutput(*out_desc_, cout_);
  }
  void UsePackedInput() override { packed_in_ = true; }
  size_t PackedOutputBytes() const override {
    if (layer_.family() == CRUMB_FAMILY_SPARSE) {
      return crumb_sparse_groups(cout_) * C4GroupStride(out_pixels_);
    }
    return out_pixels_ * layer_.OutputRowBytes(*out_desc_, cout_);
  }

  Status Setup(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    out_elem_ = ctx.OutDesc().is_float ? 4 : 1;
    out_stride_ = packed_out_ && layer_.family() != CRUMB_FAMILY_SPARSE
                      ? layer_.OutputRowBytes(*out_desc_, cout_)
                      : cout_ * out_elem_;
    const Shape& xs = ctx.In(0).shape;
    const Shape& ys = ctx.Out().shape;
    pixels_ = (size_t)(ys[0] * ys[2] * ys[3]);
    in_pixels_ = (size_t)(xs[0] * xs[2] * xs[3]);
    const bool packed = layer_.InputFormat() != 0;
    // Rows the kernels read: the input's own (one code per byte, cin_ apart) or the packed ones.
    const uint8_t* rows = ctx.In(0).data;
    size_t row_bytes = cin_;
    if (packed_in_) {
      row_bytes = layer_.InputRowBytes();
    } else if (packed) {
      CRUMB_RETURN_IF_ERROR(packed_.Resize(layer_, in_pixels_, groups_));
      rows = packed_.data();
      row_bytes = packed_.row_bytes();
    }
    if (layer_.family() == CRUMB_FAMILY_SPARSE) {
      if (!packed_in_) CRUMB_RETURN_IF_ERROR(sparse_in_.Resize(ctx, cin_, in_pixels_));
      persistent_bytes_ = sparse_in_.size() + layer_.persistent_bytes();
      reason_ = layer_.family_reason();
      if (packed_in_) reason_ += "; input C4HW from the previous sparse layer";
      if (packed_out_) reason_ += "; output C4HW for the next sparse layer";
      return Status::Ok();
    }
    indirection_.clear();
    zero_.clear();
    masked_active_ = (ctx.InDesc(0).spatial_mask || ctx.OutDesc().spatial_mask) &&
                     MaskedConv::Supports(layer_, groups_, ks_);
    // dwconv reads every layer through the indirection buffer, 1x1 included.
    if (!direct_ || layer_.family() == CRUMB_FAMILY_DWCONV || masked_active_) {
      // One pointer per (output pixel, tap): the input pixel's row, or the shared zero row for
      // padding (the input zero point in the row's format, so padding adds exactly 0).
      const uint8_t zx = (uint8_t)ctx.InDesc(0).zero_points[0];
      std::vector<uint8_t> zcodes(cin_, zx);
      if (packed) {
        zero_.assign(row_bytes, 0);
        PackedInput::Pack(layer_, zcodes.data(), 1, cin_, groups_, zero_.data(), row_bytes);
      } else {
        zero_ = zcodes;
      }
    }
    if (masked_active_) {
      CRUMB_RETURN_IF_ERROR(masked_.Setup(ctx, &layer_, rows, row_bytes, zero_.data(), out_stride_,
                                          cout_ * out_elem_, chunk_offset_));
      reason_ =
          StrFormat("%s; spatial mask: %.0f%% of the taps computed (%s)", layer_.family_reason(),
                    100.0 * masked_.work_fraction(), masked_.Summary().c_str());
      persistent_bytes_ =
          zero_.size() + packed_.size() + layer_.persistent_bytes() + masked_.persistent_bytes();
      return Status::Ok();
    }
    geo_ = Geometry{d, xs[2], xs[3], ys[2], ys[3], rows, row_bytes, zero_.data()};
    if (row_span_) {
      // The padded copy: every window inside it, padding already the zero point.
      const int64_t hp = xs[2] + d.pad_top + d.pad_bottom, wp = xs[3] + d.pad_left + d.pad_right;
      // kSpanCopy bytes of slack: Im2col copies whole kSpanCopy-byte blocks.
      padded_.assign((size_t)(xs[0] * hp * wp) * cin_ + kSpanCopy,
                     (uint8_t)ctx.InDesc(0).zero_points[0]);
      geo_.d.kernel_w = 1;
      geo_.d.pad_top = geo_.d.pad_left = geo_.d.pad_bottom = geo_.d.pad_right = 0;
      geo_.h = hp;
      geo_.w = wp;
      geo_.rows = padded_.data();
      geo_.row_bytes = cin_;
    }
    if ((!direct_ || layer_.family() == CRUMB_FAMILY_DWCONV) && !lazy_ && !row_span_) {
      indirection_.resize(pixels_ * taps_);
      BuildIndirection(0, pixels_, indirection_.data());
    }
    persistent_bytes_ = indirection_.size() * sizeof(void*) + zero_.size() + packed_.size() +
                        padded_.size() + layer_.persistent_bytes();
    return Status::Ok();
  }

  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const size_t cout_g = cout_ / groups_;
    const uint8_t* x = ctx.In(0).data;
    uint8_t* y = fused_out_ >= 0 ? ctx.tensors[fused_out_].data : ctx.Out().data;
    // A fused REQUANTIZE's table, on output rows [b, e) just written (still in cache).
    auto table = [&](size_t b, size_t e) {
      if (out_table_) {
        uint8_t* rows = y + b * out_stride_;
        ctx.kernels.x8lut((e - b) * out_stride_, rows, out_table_, rows);
      }
    };
    // Threads take whole rows of output pixels; task t computes in scratch slot t.
    auto slot = [&](size_t t) {
      return reinterpret_cast<int32_t*>(scratch + t * ctx.scratch_stride);
    };
    if (layer_.family() == CRUMB_FAMILY_DWCONV) {
      ctx.Ranges(pixels_, kRowUnit, cout_ * ks_, [&](size_t b, size_t e, size_t t) {
        ForChunks(b, e, scratch + t * ctx.scratch_stride, [&](size_t c, size_t n, const void** a) {
          layer_.Dwconv(n, a, 0, zero_.data(), y + c * out_stride_, out_stride_);
          table(c, c + n);
        });
      });
      return;
    }
    if (layer_.family() == CRUMB_FAMILY_SPARSE) {
      // Inside a sparse region the input is already C4HW (the previous sparse layer wrote it) and
      // the output stays C4HW when only sparse layers read it.
      const uint8_t* a = x;
      size_t group_stride = C4GroupStride(in_pixels_);
      if (!packed_in_) {
        sparse_in_.Convert(ctx, x, cin_, in_pixels_);
        a = sparse_in_.data();
        group_stride = sparse_in_.group_stride();
      }
      ctx.Ranges(pixels_, kRowUnit, cout_ * cin_ / 8, [&](size_t b, size_t e, size_t) {
        if (packed_out_) {
          layer_.SpmmC4(e - b, a + 4 * b, group_stride, y + 4 * b, C4GroupStride(pixels_));
        } else {
          layer_.Spmm(e - b, a + 4 * b, group_stride, y + b * out_stride_, out_stride_);
        }
      });
      return;
    }
    const bool packed = layer_.InputFormat() != 0;
    const bool repack = packed && !packed_in_;
    if (repack) packed_.Pack(ctx, layer_, x, in_pixels_, cin_, groups_);
    if (row_span_) {
      const OpDesc& d = ctx.desc;
      const Shape& xs = ctx.In(0).shape;
      const size_t w = (size_t)xs[3] * cin_, wp = (size_t)geo_.w * cin_;
      for (int64_t n = 0; n < xs[0]; n++) {
        for (int64_t r = 0; r < xs[2]; r++) {
          memcpy(padded_.data() + ((size_t)(n * geo_.h + r + d.pad_top) * wp + d.pad_left * cin_),
                 x + (size_t)(n * xs[2] + r) * w, w);
        }
      }
    }
    if (masked_active_) {
      masked_.Run(ctx, layer_, y, scratch);
      return;
    }
    // Where group g's codes start within a row: channel g * kc_, or its own packed row.
    const size_t group_offset = packed ? layer_.InputRowBytes() : kc_;
    const uint8_t* rows = repack ? packed_.data() : x;
    const size_t row_bytes = repack ? packed_.row_bytes() : packed ? layer_.InputRowBytes() : cin_;
    if (row_span_) {
      ctx.Ranges(pixels_, kRowUnit, cout_ * kc_ * ks_, [&](size_t b, size_t e, size_t t) {
        uint8_t* cols = scratch + t * ctx.scratch_stride + lazy_offset_;
        for (size_t c = b; c < e; c += kLazyChunk) {
          const size_t n = std::min(kLazyChunk, e - c);
          Im2col(ctx.desc, c, n, cols);
          layer_.Gemm(0, n, cols, Im2colStride(), y + c * out_stride_, out_stride_, slot(t));
          table(c, c + n);
        }
      });
      return;
    }
    ctx.Ranges(pixels_, kRowUnit, cout_ * kc_ * ks_, [&](size_t b, size_t e, size_t t) {
      for (size_t g = 0; g < groups_; g++) {
        uint8_t* yg = y + g * cout_g * out_elem_ + b * out_stride_;
        if (direct_) {
          layer_.Gemm(g, e - b, rows + g * group_offset + b * row_bytes, row_bytes, yg, out_stride_,
                      slot(t));
          continue;
        }
        ForChunks(b, e, scratch + t * ctx.scratch_stride, [&](size_t c, size_t n, const void** a) {
          layer_.Igemm(g, n, a, g * group_offset, zero_.data(), yg + (c - b) * out_stride_,
                       out_stride_, slot(t));
        });
      }
      table(b, e);
    });
  }

  const char* KernelName() const override {
    return direct_ || row_span_ ? layer_.GemmName() : layer_.IgemmName();
  }

 private:
  struct Geometry {
    OpDesc d;
    int64_t h = 0, w = 0, oh = 0, ow = 0;
    const uint8_t* rows = nullptr;
    size_t row_bytes = 0;
    const void* zero = nullptr;
  };

  // The pointers of output pixels [first, first + count), taps_ per pixel: each tap's input row, or
  // the shared zero row for padding (the input zero point in the row's format: it adds 0).
  void BuildIndirection(size_t first, size_t count, const void** out) const {
    const Geometry& g = geo_;
    const int64_t per_image = g.oh * g.ow;
    for (size_t p = first; p < first + count; p++) {
      const int64_t n = (int64_t)p / per_image, oy = (int64_t)p % per_image / g.ow,
                    ox = (int64_t)p % g.ow;
      for (int64_t ky = 0; ky < g.d.kernel_h; ky++) {
        const int64_t iy = oy * g.d.stride_h - g.d.pad_top + ky * g.d.dilation_h;
        const bool row_ok = iy >= 0 && iy < g.h;
        const uint8_t* base = g.rows + (n * g.h + iy) * g.w * (int64_t)g.row_bytes;
        for (int64_t kx = 0; kx < g.d.kernel_w; kx++) {
          const int64_t ix = ox * g.d.stride_w - g.d.pad_left + kx * g.d.dilation_w;
          *out++ = row_ok && ix >= 0 && ix < g.w
                       ? static_cast<const void*>(base + ix * (int64_t)g.row_bytes)
                       : g.zero;
        }
      }
    }
  }

  // Row-span layers: the bytes of one pixel's window, kh spans of kw * c codes of the padded
  // input, 64-byte aligned rows.
  size_t Im2colStride() const { return (ks_ * kc_ + 63) / 64 * 64; }
  void Im2col(const OpDesc& d, size_t first, size_t count, uint8_t* out) const {
    const Geometry& g = geo_;  // the padded input: g.h x g.w pixels of cin_ codes
    const int64_t per_image = g.oh * g.ow;
    const size_t span = (size_t)d.kernel_w * cin_, stride = Im2colStride();
    // Spans of a few codes (3x3x3: 9, 7x7x3: 21) go as one fixed-size block each, inlined rather
    // than a memcpy call: the block's overhang past a span is overwritten by the next span or lies
    // past K, where the kernels read nothing.
    const bool blocks = span <= kSpanCopy && (d.kernel_h - 1) * span + kSpanCopy <= stride;
    const size_t row_step = (size_t)(d.dilation_h * g.w) * cin_, x_step = (size_t)d.stride_w * cin_;
    // The first pixel's position, then stepped along the output row (no divisions per pixel).
    int64_t n = (int64_t)first / per_image, oy = (int64_t)first % per_image / g.ow,
            ox = (int64_t)first % g.ow;
    const uint8_t* src0 = padded_.data() + (size_t)((n * g.h + oy * d.stride_h) * g.w) * cin_;
    for (size_t p = first; p < first + count; p++, out += stride) {
      const uint8_t* src = src0 + (size_t)ox * x_step;
      for (int64_t ky = 0; ky < d.kernel_h; ky++, src += row_step) {
        if (blocks) {
          memcpy(out + (size_t)ky * span, src, kSpanCopy);
        } else {
          memcpy(out + (size_t)ky * span, src, span);
        }
      }
      // The padded reduction's codes meet zero-point weights: any value is exact; zeros are
      // deterministic for tools that track uninitialized reads.
      if (span_k_ > ks_ * kc_) memset(out + ks_ * kc_, 0, span_k_ - ks_ * kc_);
      if (++ox == g.ow && p + 1 < first + count) {
        ox = 0;
        if (++oy == g.oh) oy = 0, n++;
        src0 = padded_.data() + (size_t)((n * g.h + oy * d.stride_h) * g.w) * cin_;
      }
    }
  }

  // fn(first, count, pointers) over [b, e): the kept indirection buffer in one piece, or lazily
  // built chunks in the task's scratch slot.
  template <typename F>
  void ForChunks(size_t b, size_t e, uint8_t* slot, F fn) const {
    if (!lazy_) {
      fn(b, e - b, const_cast<const void**>(indirection_.data()) + b * taps_);
      return;
    }
    const void** ptrs = reinterpret_cast<const void**>(slot + lazy_offset_);
    for (size_t c = b; c < e; c += kLazyChunk) {
      const size_t n = std::min(kLazyChunk, e - c);
      BuildIndirection(c, n, ptrs);
      fn(c, n, ptrs);
    }
  }

 public:
  int Family() const override { return layer_.family(); }
  const char* FamilyReason() const override {
    return reason_.empty() ? layer_.family_reason() : reason_.c_str();
  }

 private:
  GemmLayer layer_;
  PackedInput packed_;
  SparseInput sparse_in_;
  std::string reason_;
  size_t groups_ = 1, cin_ = 0, cout_ = 0, kc_ = 0, ks_ = 0, pixels_ = 0, in_pixels_ = 0,
         out_elem_ = 1, out_stride_ = 0;
  const TensorDesc* out_desc_ = nullptr;
  size_t out_pixels_ = 0;
  bool direct_ = false, packed_in_ = false, packed_out_ = false, masked_active_ = false;
  bool lazy_ = false, row_span_ = false, in_masked_ = false;
  size_t span_k_ = 0;        // row-span layers: codes per im2col row the kernel reads (K, padded)
  size_t chunk_offset_ = 0;  // MaskedConv's rows in each scratch slot
  int32_t fused_out_ = -1;   // a fused REQUANTIZE's output, written here
  const uint8_t* out_table_ = nullptr;  // and its table
  size_t taps_ = 0;                     // indirection pointers per output pixel
  size_t lazy_offset_ = 0;              // where the lazy pointers start in a scratch slot
  std::vector<uint8_t> padded_;         // row spans: the input with its padding
  Geometry geo_;
  MaskedConv masked_;
  std::vector<const void*> indirection_;
  std::vector<uint8_t> zero_;
};

class FullyConnectedOp : public Op {
 public:
  explicit FullyConnectedOp(const KernelTable&) {}
  Status Configure(const OpContext& ctx) override {
    const Shape& x = ctx.In(0).shape;
    const Shape& w = ctx.InDesc(1).shape;
    Shape y = x;
    y.back() = w[0];
    if (!LayoutIsLogical(x) || !LayoutIsLogical(y)) {
      return Unsupported(
          StrFormat("multiplies a 4-D tensor %s along its width; flatten it "
                    "first.",
                    ShapeStr(x).c_str()));
    }
    ctx.Out().shape = y;
    k_ = (size_t)w[1];
    n_ = (size_t)w[0];
    m_ = (size_t)(ElementCount(x) / (int64_t)k_);
    CRUMB_RETURN_IF_ERROR(layer_.Prepare(ctx, 1, 1, k_, m_, true));
    scratch_bytes_ = layer_.scratch_bytes();
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    out_elem_ = ctx.OutDesc().is_float ? 4 : 1;
    if (layer_.InputFormat() != 0) {
      CRUMB_RETURN_IF_ERROR(packed_.Resize(layer_, m_, 1));
    }
    if (layer_.family() == CRUMB_FAMILY_SPARSE)
      CRUMB_RETURN_IF_ERROR(sparse_in_.Resize(ctx, k_, m_));
    persistent_bytes_ = packed_.size() + sparse_in_.size() + layer_.persistent_bytes();
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    uint8_t* y = ctx.Out().data;
    const size_t y_stride = n_ * out_elem_;
    if (layer_.family() == CRUMB_FAMILY_SPARSE) {
      sparse_in_.Convert(ctx, ctx.In(0).data, k_, m_);
      const uint8_t* a = sparse_in_.data();
      ctx.Ranges(m_, kRowUnit, n_ * k_ / 8, [&](size_t b, size_t e, size_t) {
        layer_.Spmm(e - b, a + 4 * b, sparse_in_.group_stride(), y + b * y_stride, y_stride);
      });
      return;
    }
    const uint8_t* rows = ctx.In(0).data;
    size_t row_bytes = k_;
    if (layer_.InputFormat() != 0) {
      packed_.Pack(ctx, layer_, ctx.In(0).data, m_, k_, 1);
      rows = packed_.data();
      row_bytes = packed_.row_bytes();
    }
    ctx.Ranges(m_, kRowUnit, n_ * k_, [&](size_t b, size_t e, size_t t) {
      layer_.Gemm(0, e - b, rows + b * row_bytes, row_bytes, y + b * y_stride, y_stride,
                  reinterpret_cast<int32_t*>(scratch + t * ctx.scratch_stride));
    });
  }
  const char* KernelName() const override { return layer_.GemmName(); }
  int Family() const override { return layer_.family(); }
  const char* FamilyReason() const override { return layer_.family_reason(); }

 private:
  GemmLayer layer_;
  PackedInput packed_;
  SparseInput sparse_in_;
  size_t m_ = 0, n_ = 0, k_ = 0, out_elem_ = 1;
};

// ---------------------------------------------------------------------------- pooling
class PoolOp : public Op {
 public:
  PoolOp(const KernelTable& k, bool average) : kernels_(k), average_(average) {}

  Status Configure(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& x = ctx.In(0).shape;
    const int64_t oh = WindowOutput(x[2], d.kernel_h, d.stride_h, d.dilation_h, d.pad_top,
                                    d.pad_bottom, d.ceil_mode);
    const int64_t ow = WindowOutput(x[3], d.kernel_w, d.stride_w, d.dilation_w, d.pad_left,
                                    d.pad_right, d.ceil_mode);
    if (oh < 1 || ow < 1) {
      return InvalidModel(StrFormat(
          "its %dx%d window (dilation %dx%d) does not fit the padded "
          "%lldx%lld input.",
          d.kernel_h, d.kernel_w, d.dilation_h, d.dilation_w, (long long)x[2], (long long)x[3]));
    }
    ctx.Out().shape = Shape{x[0], x[1], oh, ow};
    return CheckIndirection(ctx.Out().shape, d.kernel_h, d.kernel_w);
  }

  Status Setup(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& xs = ctx.In(0).shape;
    const Shape& ys = ctx.Out().shape;
    channels_ = (size_t)xs[1];
    ks_ = (size_t)d.kernel_h * (size_t)d.kernel_w;
    pixels_ = (size_t)(ys[0] * ys[2] * ys[3]);
    params_ = RequantParams(ctx, 0);
    indirection_.assign(pixels_ * ks_, nullptr);
    divisor_.assign(average_ ? pixels_ : 0, 0);
    const uint8_t* x = ctx.In(0).data;
    const int64_t h = xs[2], w = xs[3];
    size_t i = 0, p = 0;
    for (int64_t n = 0; n < ys[0]; n++) {
      for (int64_t oy = 0; oy < ys[2]; oy++) {
        for (int64_t ox = 0; ox < ys[3]; ox++, p++) {
          int32_t valid = 0, in_padded = 0;
          for (int64_t ky = 0; ky < d.kernel_h; ky++) {
            for (int64_t kx = 0; kx < d.kernel_w; kx++, i++) {
              const int64_t iy = oy * d.stride_h - d.pad_top + ky * d.dilation_h;
              const int64_t ix = ox * d.stride_w - d.pad_left + kx * d.dilation_w;
              if (iy >= -d.pad_top && iy < h + d.pad_bottom && ix >= -d.pad_left &&
                  ix < w + d.pad_right) {
                in_padded++;
              }
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              valid++;
              indirection_[i] = x + ((n * h + iy) * w + ix) * (int64_t)channels_;
            }
          }
          if (average_) divisor_[p] = d.count_include_pad ? in_padded : valid;
        }
      }
    }
    persistent_bytes_ = indirection_.size() * sizeof(void*) + divisor_.size() * sizeof(int32_t);
    return Status::Ok();
  }

  void Run(const OpContext& ctx, uint8_t*) override {
    uint8_t* y = ctx.Out().data;
    ctx.Ranges(pixels_, kRowUnit, channels_ * ks_, [&](size_t b, size_t e, size_t) {
      if (average_) {
        kernels_.avgpool(e - b, ks_, channels_, indirection_.data() + b * ks_, 0,
                         divisor_.data() + b, y + b * channels_, channels_, &params_);
      } else {
        kernels_.maxpool(e - b, ks_, channels_, indirection_.data() + b * ks_, 0, y + b * channels_,
                         channels_, &params_);
      }
    });
  }

  const char* KernelName() const override {
    return average_ ? kernels_.avgpool_name : kernels_.maxpool_name;
  }

 private:
  const KernelTable& kernels_;
  bool average_;
  size_t channels_ = 0, ks_ = 0, pixels_ = 0;
  crumb_requant_params params_{};
  std::vector<const void*> indirection_;
  std::vector<int32_t> divisor_;
};

class GlobalAveragePoolOp : public Op {
 public:
  explicit GlobalAveragePoolOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    const Shape& x = ctx.In(0).shape;
    ctx.Out().shape = Shape{x[0], x[1], 1, 1};
    scratch_bytes_ = (size_t)x[1] * sizeof(int32_t);
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    params_ = RequantParams(ctx, 0);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const Shape& x = ctx.In(0).shape;
    const size_t c = (size_t)x[1], hw = (size_t)(x[2] * x[3]);
    // Channel runs over the workers (each sums its channels over every pixel).
    for (int64_t n = 0; n < x[0]; n++) {
      const uint8_t* in = ctx.In(0).data + (size_t)n * hw * c;
      uint8_t* out = ctx.Out().data + (size_t)n * c;
      ctx.Ranges(c, 64, hw, [&](size_t b, size_t e, size_t t) {
        kernels_.gavgpool(hw, e - b, in + b, c, out + b, &params_,
                          reinterpret_cast<int32_t*>(scratch + t * ctx.scratch_stride));
      });
    }
  }
  const char* KernelName() const override { return kernels_.gavgpool_name; }

 private:
  const KernelTable& kernels_;
  crumb_requant_params params_{};
};

// ---------------------------------------------------------------------------- data movement
// Calls f(index) with the multi-index of every element of shape s, in logical order.
template <typename F>
void ForEachIndex(const Shape& s, F&& f) {
  const int64_t n = ElementCount(s);
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t i = 0; i < n; i++) {
    f(idx);
    for (size_t d = s.size(); d-- > 0;) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

// Data movement with requantization, split over the workers in runs of kElementwiseUnit codes:
// y[i] = Q(x[i]); y[to[i]] = Q(x[i]) (the requantized run is put in scratch first, then
// scattered); y[i] = Q(x[from[i]]) (the run is gathered into scratch first). Each task works
// through its run kElementwiseUnit codes at a time in its own scratch slot, so the ops need only
// kMoveScratch bytes per task whatever the tensor's size.
constexpr size_t kMoveScratch = kElementwiseUnit;
constexpr size_t kMoveCost = 6;  // a load, a table read, a store and the requantization per code

void MoveRequantize(const OpContext& ctx, const KernelTable& k, const crumb_requant_params& p,
                    size_t n, const uint8_t* x, uint8_t* y) {
  ctx.Ranges(n, kElementwiseUnit, kMoveCost,
             [&](size_t b, size_t e, size_t) { k.requantize(e - b, x + b, y + b, &p); });
}

// The two indexed moves: gather (y[i] = Q(x[index[i]])) or scatter (y[index[i]] = Q(x[i])).
void IndexedRequantize(const OpContext& ctx, const KernelTable& k, const crumb_requant_params& p,
                       size_t n, const uint8_t* x, const uint32_t* index, bool gather, uint8_t* y,
                       uint8_t* scratch) {
  ctx.Ranges(n, kElementwiseUnit, kMoveCost, [&](size_t b, size_t e, size_t t) {
    uint8_t* run = scratch + t * ctx.scratch_stride;
    for (size_t i = b; i < e; i += kMoveScratch) {
      const size_t m = std::min(kMoveScratch, e - i);
      if (gather) {
        for (size_t j = 0; j < m; j++) run[j] = x[index[i + j]];
        k.requantize(m, run, y + i, &p);
      } else {
        k.requantize(m, x + i, run, &p);
        for (size_t j = 0; j < m; j++) y[index[i + j]] = run[j];
      }
    }
  });
}

// Where an input's codes go in the output: a scatter table exists only where the physical orders
// differ.
struct Scatter {
  std::vector<uint32_t> to;  // output physical index of each input physical index
  size_t offset = 0;         // output physical offset when `to` is empty (contiguous block)
};

class ReshapeOp : public Op {
 public:
  explicit ReshapeOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    const Shape& x = ctx.In(0).shape;
    Shape y = ctx.OutDesc().shape;
    if (!y.empty() && y[0] == -1) y[0] = x.empty() ? 1 : x[0];
    if (ElementCount(y) != ElementCount(x)) {
      return InvalidModel(StrFormat("reshapes %s (%lld elements) to %s (%lld elements).",
                                    ShapeStr(x).c_str(), (long long)ElementCount(x),
                                    ShapeStr(y).c_str(), (long long)ElementCount(y)));
    }
    if (ElementCount(x) > (int64_t)UINT32_MAX) {
      return Unsupported("has more than 2^32 elements.");
    }
    ctx.Out().shape = y;
    permute_ = !(LayoutIsLogical(x) && LayoutIsLogical(y));
    scratch_bytes_ = permute_ ? std::min(kMoveScratch, (size_t)ElementCount(x)) : 0;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    params_ = RequantParams(ctx, 0);
    scatter_.clear();
    if (permute_) {
      // Same logical order on both sides: input physical -> output physical.
      const Shape& x = ctx.In(0).shape;
      const Shape& y = ctx.Out().shape;
      std::vector<uint32_t> out_phys((size_t)ElementCount(y));
      ForEachElement(y, [&](int64_t l, int64_t p) { out_phys[l] = (uint32_t)p; });
      scatter_.resize(out_phys.size());
      ForEachElement(x, [&](int64_t l, int64_t p) { scatter_[p] = out_phys[l]; });
    }
    persistent_bytes_ = scatter_.size() * sizeof(uint32_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const size_t n = (size_t)ElementCount(ctx.In(0).shape);
    if (!permute_) {
      MoveRequantize(ctx, kernels_, params_, n, ctx.In(0).data, ctx.Out().data);
    } else {
      IndexedRequantize(ctx, kernels_, params_, n, ctx.In(0).data, scatter_.data(), false,
                        ctx.Out().data, scratch);
    }
  }
  const char* KernelName() const override { return kernels_.requantize_name; }

 private:
  const KernelTable& kernels_;
  crumb_requant_params params_{};
  bool permute_ = false;
  std::vector<uint32_t> scatter_;
};

class ConcatOp : public Op {
 public:
  explicit ConcatOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    const size_t axis = (size_t)ctx.desc.axis;
    Shape y = ctx.In(0).shape;
    y[axis] = 0;
    size_t largest = 0;
    for (size_t k = 0; k < ctx.desc.inputs.size(); k++) {
      const Shape& x = ctx.In(k).shape;
      for (size_t d = 0; d < x.size(); d++) {
        if (d != axis && x[d] != y[d]) {
          return InvalidModel(
              StrFormat("concatenates %s with %s along axis %zu: the other "
                        "dimensions differ.",
                        ShapeStr(ctx.In(0).shape).c_str(), ShapeStr(x).c_str(), axis));
        }
      }
      y[axis] += x[axis];
      largest = std::max(largest, (size_t)ElementCount(x));
    }
    if (ElementCount(y) > (int64_t)UINT32_MAX) return Unsupported("has more than 2^32 elements.");
    ctx.Out().shape = y;
    scratch_bytes_ = std::min(kMoveScratch, largest);
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    const size_t axis = (size_t)ctx.desc.axis;
    const Shape& y = ctx.Out().shape;
    const std::vector<int64_t> ys = PhysicalStrides(y);
    params_.clear();
    scatter_.clear();
    persistent_bytes_ = 0;
    int64_t start = 0;
    for (size_t k = 0; k < ctx.desc.inputs.size(); k++) {
      params_.push_back(RequantParams(ctx, k));
      const Shape& x = ctx.In(k).shape;
      const std::vector<int64_t> xs = PhysicalStrides(x);
      Scatter s;
      s.to.resize((size_t)ElementCount(x));
      ForEachIndex(x, [&](const std::vector<int64_t>& idx) {
        int64_t src = 0, dst = start * ys[axis];
        for (size_t d = 0; d < idx.size(); d++) {
          src += idx[d] * xs[d];
          dst += idx[d] * ys[d];
        }
        s.to[(size_t)src] = (uint32_t)dst;
      });
      // A scatter that is one contiguous run (e.g. concatenating along the batch) is a copy.
      bool contiguous = true;
      for (size_t i = 1; contiguous && i < s.to.size(); i++) contiguous = s.to[i] == s.to[0] + i;
      if (contiguous) {
        s.offset = s.to.empty() ? 0 : s.to[0];
        s.to.clear();
      }
      persistent_bytes_ += s.to.size() * sizeof(uint32_t);
      scatter_.push_back(std::move(s));
      start += x[axis];
    }
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    uint8_t* y = ctx.Out().data;
    for (size_t k = 0; k < scatter_.size(); k++) {
      const size_t n = (size_t)ElementCount(ctx.In(k).shape);
      const Scatter& s = scatter_[k];
      if (s.to.empty()) {
        MoveRequantize(ctx, kernels_, params_[k], n, ctx.In(k).data, y + s.offset);
      } else {
        IndexedRequantize(ctx, kernels_, params_[k], n, ctx.In(k).data, s.to.data(), false, y,
                          scratch);
      }
    }
  }
  const char* KernelName() const override { return kernels_.requantize_name; }

 private:
  const KernelTable& kernels_;
  std::vector<crumb_requant_params> params_;
  std::vector<Scatter> scatter_;
};

// An op whose output codes are input codes at fixed places (SLICE, TRANSPOSE): a table from each
// output physical index to its input physical index, built at Setup, then a gathering
// IndexedRequantize. A table that reads one contiguous run (a batch or, on NHWC, a leading-rows
// slice, a full copy, the identity perm) keeps only its offset.
class GatherOp : public Op {
 public:
  explicit GatherOp(const KernelTable& k) : kernels_(k) {}
  Status Setup(const OpContext& ctx) override {
    params_ = RequantParams(ctx, 0);
    BuildGather(ctx);
    persistent_bytes_ = gather_.size() * sizeof(uint32_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const uint8_t* x = ctx.In(0).data;
    uint8_t* y = ctx.Out().data;
    if (gather_.empty()) {
      MoveRequantize(ctx, kernels_, params_, (size_t)ElementCount(ctx.Out().shape), x + offset_, y);
    } else {
      IndexedRequantize(ctx, kernels_, params_, gather_.size(), x, gather_.data(), true, y,
                        scratch);
    }
  }
  const char* KernelName() const override { return kernels_.requantize_name; }

 protected:
  // The input physical offset that output logical index idx reads, given the input's physical
  // strides.
  virtual int64_t Source(const OpContext& ctx, const std::vector<int64_t>& idx,
                         const std::vector<int64_t>& xs) const = 0;
  // Configure: the output shape and the scratch of IndexedRequantize. The table itself is built at
  // Setup, once the interpreter has bounded every tensor's size.
  void SetOutput(const OpContext& ctx, const Shape& y) {
    ctx.Out().shape = y;
    scratch_bytes_ = std::min(kMoveScratch, (size_t)ElementCount(y));
  }

 private:
  void BuildGather(const OpContext& ctx) {
    const Shape& y = ctx.Out().shape;
    const std::vector<int64_t> xs = PhysicalStrides(ctx.In(0).shape), ys = PhysicalStrides(y);
    gather_.assign((size_t)ElementCount(y), 0);
    ForEachIndex(y, [&](const std::vector<int64_t>& idx) {
      int64_t dst = 0;
      for (size_t a = 0; a < idx.size(); a++) dst += idx[a] * ys[a];
      gather_[(size_t)dst] = (uint32_t)Source(ctx, idx, xs);
    });
    bool contiguous = true;
    for (size_t i = 1; contiguous && i < gather_.size(); i++) {
      contiguous = gather_[i] == gather_[0] + i;
    }
    offset_ = gather_.empty() ? 0 : gather_[0];
    if (contiguous) gather_.clear();
  }

  const KernelTable& kernels_;
  crumb_requant_params params_{};
  std::vector<uint32_t> gather_;  // output physical index -> input physical index
  size_t offset_ = 0;             // input physical offset when gather_ is empty
};

// Output element i (per logical axis d) is input element starts[d] + i_d * steps[d].
class SliceOp : public GatherOp {
 public:
  using GatherOp::GatherOp;
  Status Configure(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& x = ctx.In(0).shape;
    Shape y = ctx.OutDesc().shape;
    // A dynamic batch follows the input's (op_check made that axis start 0, step 1).
    if (!y.empty() && (y[0] == -1 || ctx.InDesc(0).shape[0] == -1)) y[0] = x[0];
    if (ElementCount(x) > (int64_t)UINT32_MAX || ElementCount(y) > (int64_t)UINT32_MAX) {
      return Unsupported("has more than 2^32 elements.");
    }
    for (size_t a = 0; a < y.size(); a++) {
      // op_check verified the static axes; this also covers the batch as it is now.
      const int64_t last = d.slice_starts[a] + (y[a] - 1) * d.slice_steps[a];
      if (d.slice_starts[a] < 0 || d.slice_starts[a] >= x[a] || last < 0 || last >= x[a]) {
        return InvalidModel(
            StrFormat("slices %lld elements from %lld with step %lld on axis %zu "
                      "of %s, reading outside the input.",
                      (long long)y[a], (long long)d.slice_starts[a], (long long)d.slice_steps[a], a,
                      ShapeStr(x).c_str()));
      }
    }
    SetOutput(ctx, y);
    return Status::Ok();
  }

 protected:
  int64_t Source(const OpContext& ctx, const std::vector<int64_t>& idx,
                 const std::vector<int64_t>& xs) const override {
    const OpDesc& d = ctx.desc;
    int64_t src = 0;
    for (size_t a = 0; a < idx.size(); a++) {
      src += (d.slice_starts[a] + idx[a] * d.slice_steps[a]) * xs[a];
    }
    return src;
  }
};

// ---------------------------------------------------------------------------- normalization
// The vectors an op reduces along one logical axis of shape s: the physical offset of each
// vector's first element (logical order of the other axes) and the physical stride along it.
// Input and output share the shape, hence the offsets.
struct AxisVectors {
  std::vector<uint32_t> bases;
  size_t stride = 1, length = 0;
};

AxisVectors VectorsAlong(const Shape& s, size_t axis) {
  AxisVectors v;
  const std::vector<int64_t> st = PhysicalStrides(s);
  v.stride = (size_t)st[axis];
  v.length = (size_t)s[axis];
  Shape outer = s;
  outer[axis] = 1;
  v.bases.reserve((size_t)ElementCount(outer));
  ForEachIndex(outer, [&](const std::vector<int64_t>& idx) {
    int64_t p = 0;
    for (size_t d = 0; d < idx.size(); d++) p += idx[d] * st[d];
    v.bases.push_back((uint32_t)p);
  });
  return v;
}

// Shape inference shared by SOFTMAX and LAYER_NORM: the output is the input's shape.
Status SameShape(const OpContext& ctx) {
  const Shape& x = ctx.In(0).shape;
  if (ElementCount(x) > (int64_t)UINT32_MAX) return Unsupported("has more than 2^32 elements.");
  ctx.Out().shape = x;
  return Status::Ok();
}

// Reads the constant FLOAT32 vector input k (op_check verified its size).
std::vector<float> ConstantFloats(const OpContext& ctx, size_t k, size_t n) {
  std::vector<float> v(n);
  if (n) memcpy(v.data(), ctx.InDesc(k).data, n * sizeof(float));
  return v;
}

// One vector's working rows in a task's scratch slot: int32 codes, float values and, for an axis
// that is not contiguous, the quantized codes before they are scattered.
struct VectorScratch {
  // Work per element for Workers::Ranges: a handful of loads, float operations and a store.
  static constexpr size_t kCostPerElement = 8;
  // 0 when n is too long to fit (32-bit size_t).
  static size_t Bytes(size_t n) { return n > SIZE_MAX / 16 ? 0 : 2 * Row(n) + n; }
  VectorScratch(uint8_t* slot, size_t n)
      : ints(reinterpret_cast<int32_t*>(slot)),
        floats(reinterpret_cast<float*>(slot + Row(n))),
        codes(slot + 2 * Row(n)),
        n_(n) {}
  // The quantize kernel over `floats` into y's vector at base, elements stride bytes apart.
  void Quantize(const KernelTable& k, const crumb_quantize_params& p, uint8_t* y, size_t base,
                size_t stride) const {
    if (stride == 1) {
      k.quantize(n_, floats, y + base, &p);
    } else {
      k.quantize(n_, floats, codes, &p);
      for (size_t i = 0; i < n_; i++) y[base + i * stride] = codes[i];
    }
  }
  int32_t* ints;
  float* floats;
  uint8_t* codes;

 private:
  static size_t Row(size_t n) { return (n * 4 + 63) / 64 * 64; }
  size_t n_;
};

// Runs f(v) for every vector of `vec` of the op's input, split over the workers: v.ints holds the
// vector's codes (sign-extended for a signed input), f fills v.floats, and the quantize kernel
// writes them to the output's vector.
template <typename F>
void ForEachVector(const OpContext& ctx, uint8_t* scratch, const AxisVectors& vec, bool in_signed,
                   const KernelTable& kernels, const crumb_quantize_params& qparams, F&& f) {
  const uint8_t* x = ctx.In(0).data;
  uint8_t* y = ctx.Out().data;
  const size_t n = vec.length, stride = vec.stride;
  if (n == 0) return;
  ctx.Ranges(
      vec.bases.size(), 1, VectorScratch::kCostPerElement * n, [&](size_t b, size_t e, size_t t) {
        const VectorScratch v(scratch + t * ctx.scratch_stride, n);
        for (size_t j = b; j < e; j++) {
          const uint8_t* xv = x + vec.bases[j];
          for (size_t i = 0; i < n; i++) {
            v.ints[i] = in_signed ? (int32_t)(int8_t)xv[i * stride] : (int32_t)xv[i * stride];
          }
          f(v);
          v.Quantize(kernels, qparams, y, vec.bases[j], stride);
        }
      });
}

// SOFTMAX of schema/README.md: per vector along the axis, m = its largest code,
// e_i = exp_table[m - q_i], s = sum of e_i in float in index order, y_i = e_i / s, then the
// quantize kernel's E(y_i / s_out). Vectors are split over the workers; each task keeps its
// vector's codes, values and (strided axes) output codes in its own scratch slot.
class SoftmaxOp : public Op {
 public:
  explicit SoftmaxOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    CRUMB_RETURN_IF_ERROR(SameShape(ctx));
    scratch_bytes_ = VectorScratch::Bytes((size_t)ctx.In(0).shape[(size_t)ctx.desc.axis]);
    if (scratch_bytes_ == 0 && ElementCount(ctx.In(0).shape) != 0) {
      return Unsupported("has vectors too long for this machine's address space.");
    }
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    vec_ = VectorsAlong(ctx.In(0).shape, (size_t)ctx.desc.axis);
    const std::vector<float> table = ConstantFloats(ctx, 1, 256);
    memcpy(exp_, table.data(), sizeof exp_);
    in_signed_ = ctx.InDesc(0).encoding != kUnsigned;
    qparams_.scale = ctx.OutDesc().scales[0];
    qparams_.out = OutputParams(ctx);
    persistent_bytes_ = vec_.bases.size() * sizeof(uint32_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const size_t n = vec_.length;
    ForEachVector(ctx, scratch, vec_, in_signed_, kernels_, qparams_, [&](const VectorScratch& v) {
      int32_t m = INT32_MIN;
      for (size_t i = 0; i < n; i++) m = std::max(m, v.ints[i]);
      float s = 0.f;
      for (size_t i = 0; i < n; i++) {
        v.floats[i] = exp_[m - v.ints[i]];  // m - q in [0, 255]: codes are bytes
        s += v.floats[i];
      }
      for (size_t i = 0; i < n; i++) v.floats[i] = v.floats[i] / s;
    });
  }
  const char* KernelName() const override { return "softmax"; }

 private:
  const KernelTable& kernels_;
  AxisVectors vec_;
  float exp_[256] = {};
  bool in_signed_ = false;
  crumb_quantize_params qparams_{};
};

// SOFTMAX version 2, a float softmax (ONNX Softmax on float logits, the graph's output): per
// vector, m = its largest value, e_i = expf(x_i - m), s = the sum of e_i in float in index order,
// y_i = e_i / s. Vectors are split over the workers.
class FloatSoftmaxOp : public Op {
 public:
  explicit FloatSoftmaxOp(const KernelTable&) {}
  Status Configure(const OpContext& ctx) override { return SameShape(ctx); }
  Status Setup(const OpContext& ctx) override {
    vec_ = VectorsAlong(ctx.In(0).shape, (size_t)ctx.desc.axis);
    persistent_bytes_ = vec_.bases.size() * sizeof(uint32_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    const float* x = reinterpret_cast<const float*>(ctx.In(0).data);
    float* y = reinterpret_cast<float*>(ctx.Out().data);
    const size_t n = vec_.length, st = vec_.stride;
    ctx.Ranges(vec_.bases.size(), 1, VectorScratch::kCostPerElement * n,
               [&](size_t b, size_t e, size_t) {
                 for (size_t j = b; j < e; j++) {
                   const float* xv = x + vec_.bases[j];
                   float* yv = y + vec_.bases[j];
                   float m = -INFINITY;
                   for (size_t i = 0; i < n; i++) m = std::max(m, xv[i * st]);
                   float s = 0.f;
                   for (size_t i = 0; i < n; i++) {
                     yv[i * st] = expf(xv[i * st] - m);
                     s += yv[i * st];
                   }
                   for (size_t i = 0; i < n; i++) yv[i * st] = yv[i * st] / s;
                 }
               });
  }
  const char* KernelName() const override { return "softmax_f32"; }

 private:
  AxisVectors vec_;
};

// LAYER_NORM of schema/README.md over the last logical axis: with d_i = q_i - zx, S1 and S2 in
// int64, mean and variance in double, t_i = float((d_i - mean) * sx * inv), y_i = t_i * scale_i
// + bias_i in float, then the quantize kernel's E(y_i / s_out). Vectors are split over the
// workers as SOFTMAX's are.
class LayerNormOp : public Op {
 public:
  explicit LayerNormOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    CRUMB_RETURN_IF_ERROR(SameShape(ctx));
    scratch_bytes_ = VectorScratch::Bytes((size_t)ctx.In(0).shape.back());
    if (scratch_bytes_ == 0 && ElementCount(ctx.In(0).shape) != 0) {
      return Unsupported("has vectors too long for this machine's address space.");
    }
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    const Shape& x = ctx.In(0).shape;
    vec_ = VectorsAlong(x, x.size() - 1);
    const size_t c = vec_.length;
    scale_ = ConstantFloats(ctx, 1, c);
    has_bias_ = ctx.desc.inputs.size() == 3;
    bias_ = has_bias_ ? ConstantFloats(ctx, 2, c) : std::vector<float>();
    const TensorDesc& in = ctx.InDesc(0);
    in_signed_ = in.encoding != kUnsigned;
    zx_ = in.zero_points[0];
    sx_ = (double)in.scales[0];
    eps_ = (double)ctx.desc.epsilon;
    qparams_.scale = ctx.OutDesc().scales[0];
    qparams_.out = OutputParams(ctx);
    persistent_bytes_ = vec_.bases.size() * sizeof(uint32_t) + c * (4 + 4);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const size_t c = vec_.length;
    const int64_t cc = (int64_t)c;
    ForEachVector(ctx, scratch, vec_, in_signed_, kernels_, qparams_, [&](const VectorScratch& v) {
      int64_t s1 = 0, s2 = 0;
      for (size_t i = 0; i < c; i++) {
        const int32_t d = v.ints[i] - zx_;
        v.ints[i] = d;
        s1 += d;
        s2 += (int64_t)d * d;
      }
      const double mean = (double)s1 / (double)cc;
      const double var = (double)(s2 * cc - s1 * s1) / ((double)cc * (double)cc) * sx_ * sx_;
      const double inv = 1.0 / std::sqrt(var + eps_);
      for (size_t i = 0; i < c; i++) {
        const float tv = (float)(((double)v.ints[i] - mean) * sx_ * inv);
        v.floats[i] = has_bias_ ? tv * scale_[i] + bias_[i] : tv * scale_[i];
      }
    });
  }
  const char* KernelName() const override { return "layer_norm"; }

 private:
  const KernelTable& kernels_;
  AxisVectors vec_;
  std::vector<float> scale_, bias_;
  bool has_bias_ = false, in_signed_ = false;
  int32_t zx_ = 0;
  double sx_ = 1.0, eps_ = 0.0;
  crumb_quantize_params qparams_{};
};

// y's logical axis d is x's axis perm[d].
class TransposeOp : public GatherOp {
 public:
  using GatherOp::GatherOp;
  Status Configure(const OpContext& ctx) override {
    const std::vector<int32_t>& perm = ctx.desc.perm;
    const Shape& x = ctx.In(0).shape;
    if (ElementCount(x) > (int64_t)UINT32_MAX) return Unsupported("has more than 2^32 elements.");
    // A dynamic batch stays on axis 0 (op_check: the output's shape is the permuted input's).
    Shape y(x.size());
    for (size_t d = 0; d < y.size(); d++) y[d] = x[(size_t)perm[d]];
    SetOutput(ctx, y);
    return Status::Ok();
  }

 protected:
  int64_t Source(const OpContext& ctx, const std::vector<int64_t>& idx,
                 const std::vector<int64_t>& xs) const override {
    int64_t src = 0;
    for (size_t d = 0; d < idx.size(); d++) src += idx[d] * xs[(size_t)ctx.desc.perm[d]];
    return src;
  }
};

// ---------------------------------------------------------------------------- batch matmul
// y[..., m, n] = E(float(sum_k (qa[..., m, k] - za)(qb[..., k, n] - zb)) * multiplier) (or the
// float y). Configure records the physical offset of every (batch, row) of a and y, of every
// batch's matrix of b, and the strides of k and n; Run splits the rows over the workers, each
// task gathering a batch's b as int16 (qb - zb) transposed to [N][K] and each row of a as int16
// (qa - za) into its scratch slot, then a plain dot product per output element.
class BatchMatMulOp : public Op {
 public:
  explicit BatchMatMulOp(const KernelTable&) {}
  Status Configure(const OpContext& ctx) override {
    const Shape& a = ctx.In(0).shape;
    const Shape& b = ctx.In(1).shape;
    const size_t ra = a.size(), rb = b.size();
    const bool shared_b = rb != ra;  // op_check: b of rank 2
    if (b[rb - 2] != a[ra - 1] || (!shared_b && !std::equal(a.begin(), a.end() - 2, b.begin()))) {
      return InvalidModel(StrFormat("multiplies %s by %s; the shapes do not match.",
                                    ShapeStr(a).c_str(), ShapeStr(b).c_str()));
    }
    Shape y(a.begin(), a.end() - 1);
    y.push_back(b[rb - 1]);
    if (ElementCount(a) > (int64_t)UINT32_MAX || ElementCount(b) > (int64_t)UINT32_MAX ||
        ElementCount(y) > (int64_t)UINT32_MAX) {
      return Unsupported("has more than 2^32 elements.");
    }
    ctx.Out().shape = y;
    m_ = (size_t)a[ra - 2];
    k_ = (size_t)a[ra - 1];
    n_ = (size_t)b[rb - 1];
    const Shape lead(a.begin(), a.end() - 2);
    batches_ = (size_t)ElementCount(lead);
    const std::vector<int64_t> as = PhysicalStrides(a), bs = PhysicalStrides(b),
                               ys = PhysicalStrides(y);
    a_k_ = (size_t)as[ra - 1];
    b_k_ = (size_t)bs[rb - 2];
    b_n_ = (size_t)bs[rb - 1];
    y_n_ = (size_t)ys[ra - 1];
    shared_b_ = shared_b;
    // In 64 bits: a 32-bit size_t would wrap on hostile shapes (the tensors' own sizes are checked
    // after Configure).
    const uint64_t scratch = ((uint64_t)n_ * k_ + k_) * sizeof(int16_t);
    if (scratch > (uint64_t)(SIZE_MAX / 2))
      return Unsupported("needs more scratch than supported.");
    scratch_bytes_ = (size_t)scratch;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    // The row offsets are built here, after the interpreter has bounded every tensor's size.
    const Shape& a = ctx.In(0).shape;
    const Shape& b = ctx.In(1).shape;
    const size_t ra = a.size(), rb = b.size();
    const Shape lead(a.begin(), a.end() - 2);
    const std::vector<int64_t> as = PhysicalStrides(a), bs = PhysicalStrides(b),
                               ys = PhysicalStrides(ctx.Out().shape);
    const bool shared_b = shared_b_;
    a_rows_.assign(batches_ * m_, 0);
    y_rows_.assign(batches_ * m_, 0);
    b_base_.assign(batches_, 0);
    size_t bt = 0;
    ForEachIndex(lead, [&](const std::vector<int64_t>& idx) {
      size_t ao = 0, yo = 0, bo = 0;
      for (size_t d = 0; d < idx.size(); d++) {
        ao += (size_t)(idx[d] * as[d]);
        yo += (size_t)(idx[d] * ys[d]);
        if (!shared_b) bo += (size_t)(idx[d] * bs[d]);
      }
      b_base_[bt] = bo;
      for (size_t m = 0; m < m_; m++) {
        a_rows_[bt * m_ + m] = ao + m * (size_t)as[ra - 2];
        y_rows_[bt * m_ + m] = yo + m * (size_t)ys[ra - 2];
      }
      bt++;
    });
    (void)rb;
    const TensorDesc& ad = ctx.InDesc(0);
    const TensorDesc& bd = ctx.InDesc(1);
    a_type_ = ElemType(ad);
    b_type_ = ElemType(bd);
    za_ = ad.zero_points[0];
    zb_ = bd.zero_points[0];
    out_ = OutputParams(ctx);
    persistent_bytes_ = (a_rows_.size() + y_rows_.size() + b_base_.size()) * sizeof(size_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const uint8_t* a = ctx.In(0).data;
    const uint8_t* b = ctx.In(1).data;
    uint8_t* y = ctx.Out().data;
    const float mul = ctx.desc.multiplier;
    const size_t k = k_;
    // Rows of every batch split over the workers; a task gathers the b of each batch it reaches
    // (once for a shared b) into its own slot.
    ctx.Ranges(batches_ * m_, 1, n_ * k + k, [&](size_t first, size_t end, size_t t) {
      int16_t* bt_codes = reinterpret_cast<int16_t*>(scratch + t * ctx.scratch_stride);  // [N][K]
      int16_t* row = bt_codes + n_ * k;  // [K]: qa - za
      size_t gathered = SIZE_MAX;
      for (size_t r = first; r < end; r++) {
        const size_t bt = r / m_;
        if (gathered == SIZE_MAX || (!shared_b_ && bt != gathered)) {
          const size_t base = b_base_[bt];
          for (size_t n = 0; n < n_; n++) {
            for (size_t i = 0; i < k; i++) {
              bt_codes[n * k + i] =
                  (int16_t)(crumb_load_code(b, base + i * b_k_ + n * b_n_, b_type_) - zb_);
            }
          }
          gathered = bt;
        }
        const size_t ao = a_rows_[r], yo = y_rows_[r];
        for (size_t i = 0; i < k; i++) {
          row[i] = (int16_t)(crumb_load_code(a, ao + i * a_k_, a_type_) - za_);
        }
        for (size_t n = 0; n < n_; n++) {
          const int16_t* col = bt_codes + n * k;
          // int32 accumulation, wrapping (unsigned) rather than undefined on overflow.
          uint32_t acc = 0;
          for (size_t i = 0; i < k; i++) acc += (uint32_t)((int32_t)row[i] * (int32_t)col[i]);
          crumb_store_output((float)(int32_t)acc * mul, &out_, y, yo + n * y_n_);
        }
      }
    });
  }
  const char* KernelName() const override { return "batch_matmul__scalar"; }

 private:
  size_t batches_ = 0, m_ = 0, k_ = 0, n_ = 0;
  size_t a_k_ = 0, b_k_ = 0, b_n_ = 0, y_n_ = 0;  // physical element strides
  bool shared_b_ = false;
  std::vector<size_t> a_rows_, y_rows_;  // [batch * M + m]: physical offset of element 0
  std::vector<size_t> b_base_;           // [batch]: physical offset of b's matrix
  uint32_t a_type_ = 0, b_type_ = 0;
  int32_t za_ = 0, zb_ = 0;
  crumb_output_params out_{};
};

// ---------------------------------------------------------------------------- mul
// y = E(float((qa - za) * (qb - zb)) * multiplier), b of a's shape (element by element, both in
// the same physical order) or [N, C, 1, 1] against a 4-D a (stored [N][C]: one gate per image and
// channel, the same for every pixel of the image). Pixels or elements split over the workers.
class MulOp : public Op {
 public:
  explicit MulOp(const KernelTable& k) : kernels_(k) {}
  Status Configure(const OpContext& ctx) override {
    const Shape& a = ctx.In(0).shape;
    const Shape& b = ctx.In(1).shape;
    // op_check compared the declared shapes; a dynamic batch is fed to both.
    gate_ = b != a;
    if (gate_ && !(a.size() == 4 && b.size() == 4 && b[0] == a[0] && b[1] == a[1] && b[2] == 1 &&
                   b[3] == 1)) {
      return InvalidModel(StrFormat("multiplies %s by %s; the shapes do not match.",
                                    ShapeStr(a).c_str(), ShapeStr(b).c_str()));
    }
    if (ElementCount(a) > (int64_t)UINT32_MAX) return Unsupported("has more than 2^32 elements.");
    ctx.Out().shape = a;
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    const TensorDesc& ad = ctx.InDesc(0);
    const TensorDesc& bd = ctx.InDesc(1);
    params_.a_type = ElemType(ad);
    params_.a_zero_point = ad.zero_points[0];
    params_.b_type = ElemType(bd);
    params_.b_zero_point = bd.zero_points[0];
    params_.scale = ctx.desc.multiplier;
    params_.out = OutputParams(ctx);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    const uint8_t* a = ctx.In(0).data;
    const uint8_t* b = ctx.In(1).data;
    uint8_t* y = ctx.Out().data;
    const Shape& as = ctx.In(0).shape;
    if (!gate_) {
      ctx.Ranges((size_t)ElementCount(as), kElementwiseUnit, 4, [&](size_t s, size_t e, size_t) {
        kernels_.vmul(e - s, a + s, b + s, y + s, &params_);
      });
      return;
    }
    // One kernel call per pixel: its C codes times the C gates of its image.
    const size_t c = (size_t)as[1], hw = (size_t)(as[2] * as[3]);
    ctx.Ranges((size_t)as[0] * hw, kRowUnit, 4 * c, [&](size_t s, size_t e, size_t) {
      for (size_t p = s; p < e; p++) {
        kernels_.vmul(c, a + p * c, b + p / hw * c, y + p * c, &params_);
      }
    });
  }
  const char* KernelName() const override { return kernels_.vmul_name; }

 private:
  const KernelTable& kernels_;
  bool gate_ = false;
  crumb_mul_params params_{};
};

// ---------------------------------------------------------------------------- resize
// ONNX Resize of H and W on NHWC codes, as ONNX Runtime computes DequantizeLinear -> Resize ->
// QuantizeLinear: source coordinates in float with its formulas, nearest codes mapped through a
// 256-entry dequantize-quantize table (a copy when that is the identity), bilinear values from
// the four dequantized neighbours weighted in its order, quantized by the quantize kernel. Source
// indices and weights are computed once at Setup.
class ResizeOp : public Op {
 public:
  explicit ResizeOp(const KernelTable& k) : kernels_(k) {}

  Status Configure(const OpContext& ctx) override {
    const Shape& x = ctx.In(0).shape;
    const Shape& y = ctx.OutDesc().shape;
    if (x[2] < 1 || x[3] < 1) {
      return InvalidModel(
          StrFormat("resizes an empty %lldx%lld input.", (long long)x[2], (long long)x[3]));
    }
    Shape out{x[0], x[1], y[2], y[3]};
    uint64_t n = 0;
    if (__builtin_mul_overflow((uint64_t)x[0] * (uint64_t)x[1], (uint64_t)(y[2] * y[3]), &n) ||
        n > UINT32_MAX) {
      return Unsupported("has more than 2^32 output elements.");
    }
    ctx.Out().shape = out;
    return Status::Ok();
  }

  Status Setup(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& xs = ctx.In(0).shape;
    const Shape& ys = ctx.Out().shape;
    linear_ = d.resize_mode == kResizeLinear;
    channels_ = (size_t)xs[1];
    h_ = (size_t)xs[2];
    w_ = (size_t)xs[3];
    oh_ = (size_t)ys[2];
    ow_ = (size_t)ys[3];
    Axis(d, d.scale_h, h_, oh_, &y_);
    Axis(d, d.scale_w, w_, ow_, &x_);
    // Dequantized value of every stored byte (codes outside the input's range are never read).
    const TensorDesc& in = ctx.InDesc(0);
    const bool in_signed = in.encoding != kUnsigned;
    for (int b = 0; b < 256; b++) {
      const int32_t code = in_signed ? (int32_t)(int8_t)b : b;
      dequant_[b] = (float)(code - in.zero_points[0]) * in.scales[0];
    }
    qparams_.scale = ctx.OutDesc().scales[0];
    qparams_.out = OutputParams(ctx);
    kernels_.quantize(256, dequant_, table_, &qparams_);
    copy_ = true;
    for (int32_t code = in.qmin; code <= in.qmax; code++) {
      const uint8_t b = (uint8_t)code;
      copy_ = copy_ && table_[b] == b;
    }
    persistent_bytes_ = (y_.size() + x_.size()) * sizeof(Tap);
    return Status::Ok();
  }

  void Run(const OpContext& ctx, uint8_t*) override {
    const uint8_t* x = ctx.In(0).data;
    uint8_t* y = ctx.Out().data;
    const size_t c = channels_, rows = (size_t)ctx.Out().shape[0] * oh_;
    ctx.Ranges(rows, 1, ow_ * c * (linear_ ? 8 : 1), [&](size_t b, size_t e, size_t) {
      for (size_t r = b; r < e; r++) {
        const size_t n = r / oh_;
        const Tap& ty = y_[r % oh_];
        const uint8_t* x1 = x + (n * h_ + ty.i1) * w_ * c;
        uint8_t* out = y + r * ow_ * c;
        if (!linear_) {
          for (size_t ox = 0; ox < ow_; ox++, out += c) {
            const uint8_t* src = x1 + x_[ox].i1 * c;
            if (copy_) {
              memcpy(out, src, c);
            } else {
              for (size_t k = 0; k < c; k++) out[k] = table_[src[k]];
            }
          }
          continue;
        }
        const uint8_t* x2 = x + (n * h_ + ty.i2) * w_ * c;
        float buf[256];
        size_t fill = 0;
        for (size_t ox = 0; ox < ow_; ox++) {
          const Tap& tx = x_[ox];
          const uint8_t *p11 = x1 + tx.i1 * c, *p21 = x1 + tx.i2 * c;
          const uint8_t *p12 = x2 + tx.i1 * c, *p22 = x2 + tx.i2 * c;
          for (size_t k = 0; k < c; k++) {
            // ONNX Runtime's expression and order (no contraction: -ffp-contract=off).
            buf[fill++] = tx.d2 * ty.d2 * dequant_[p11[k]] + tx.d1 * ty.d2 * dequant_[p21[k]] +
                          tx.d2 * ty.d1 * dequant_[p12[k]] + tx.d1 * ty.d1 * dequant_[p22[k]];
            if (fill == 256) {
              kernels_.quantize(fill, buf, out, &qparams_);
              out += fill;
              fill = 0;
            }
          }
        }
        if (fill) kernels_.quantize(fill, buf, out, &qparams_);
      }
    });
  }

  const char* KernelName() const override {
    return linear_ ? kernels_.quantize_name : "resize_nearest";
  }

 private:
  // One output coordinate: its source pixels (nearest: i1 only) and bilinear distances.
  struct Tap {
    size_t i1 = 0, i2 = 0;
    float d1 = 0.f, d2 = 0.f;
  };

  // ONNX Runtime's coordinate transform in float.
  static float Source(const OpDesc& d, size_t o, float scale, size_t out_len, size_t in_len) {
    const float xo = (float)o;
    if (scale == 1.f) return xo;
    switch (d.resize_coordinates) {
      case kResizeAsymmetric:
        return xo / scale;
      case kResizeAlignCorners:
        return out_len == 1 ? 0.f : xo * (float)(in_len - 1) / (float)(out_len - 1);
      case kResizePytorchHalfPixel:
        return out_len > 1 ? (xo + 0.5f) / scale - 0.5f : 0.f;
      default:
        return ((xo + 0.5f) / scale) - 0.5f;
    }
  }

  // Nearest: the same transforms in double, with the exact ratio out / in when the scale is that
  // ratio rounded to float (ONNX Runtime 1.30 picks 4 for 2 / (4 / 7) = 3.5 with
  // round_prefer_ceil, where float division gives 3.4999998).
  static double NearestSource(const OpDesc& d, size_t o, float scale, size_t out_len,
                              size_t in_len) {
    const double xo = (double)o;
    if (scale == 1.f) return xo;
    const double s =
        (float)out_len / (float)in_len == scale ? (double)out_len / (double)in_len : (double)scale;
    switch (d.resize_coordinates) {
      case kResizeAsymmetric:
        return xo / s;
      case kResizeAlignCorners:
        return out_len == 1 ? 0.0 : xo * (double)(in_len - 1) / (double)(out_len - 1);
      case kResizePytorchHalfPixel:
        return out_len > 1 ? (xo + 0.5) / s - 0.5 : 0.0;
      default:
        return ((xo + 0.5) / s) - 0.5;
    }
  }

  void Axis(const OpDesc& d, float scale, size_t in_len, size_t out_len,
            std::vector<Tap>* taps) const {
    taps->assign(out_len, Tap());
    const int64_t last = (int64_t)in_len - 1;
    for (size_t o = 0; o < out_len; o++) {
      Tap& t = (*taps)[o];
      if (!linear_) {
        const double v = NearestSource(d, o, scale, out_len, in_len);
        int64_t i;
        switch (d.resize_nearest) {
          case kResizeRoundPreferCeil:
            i = (int64_t)std::round(v);
            break;
          case kResizeFloor:
            i = (int64_t)std::floor(v);
            break;
          case kResizeCeil:
            i = (int64_t)std::ceil(v);
            break;
          default:
            i = v == std::floor(v) + 0.5 ? (int64_t)std::floor(v) : (int64_t)std::round(v);
            break;
        }
        t.i1 = (size_t)std::min(std::max(i, (int64_t)0), last);
        continue;
      }
      const float v = Source(d, o, scale, out_len, in_len);
      const float c = std::max(0.f, std::min(v, (float)last));
      const int64_t i1 = std::min((int64_t)c, last), i2 = std::min(i1 + 1, last);
      t.i1 = (size_t)i1;
      t.i2 = (size_t)i2;
      t.d1 = std::fabs(c - (float)i1);
      t.d2 = std::fabs(c - (float)i2);
      if (i1 == i2) t.d1 = t.d2 = 0.5f;
    }
  }

  const KernelTable& kernels_;
  bool linear_ = false, copy_ = false;
  size_t channels_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0;
  std::vector<Tap> y_, x_;
  float dequant_[256] = {};
  uint8_t table_[256] = {};
  crumb_quantize_params qparams_{};
};

}  // namespace

std::unique_ptr<Op> CreateOp(const OpDesc& desc, const KernelTable& kernels) {
  switch (desc.opcode) {
    case kOpQuantize:
      return std::make_unique<QuantizeOp>(kernels);
    case kOpDequantize:
      return std::make_unique<DequantizeOp>(kernels);
    case kOpConv2D:
      if (desc.version == 2) return CreateFloatLayer(desc, kernels);
      return std::make_unique<ConvOp>(kernels);
    case kOpFullyConnected:
      if (desc.version == 2) return CreateFloatLayer(desc, kernels);
      return std::make_unique<FullyConnectedOp>(kernels);
    case kOpAdd:
      return std::make_unique<AddOp>(kernels);
    case kOpMaxPool2D:
      return std::make_unique<PoolOp>(kernels, false);
    case kOpAveragePool2D:
      return std::make_unique<PoolOp>(kernels, true);
    case kOpGlobalAveragePool:
      return std::make_unique<GlobalAveragePoolOp>(kernels);
    case kOpReshape:
      return std::make_unique<ReshapeOp>(kernels);
    case kOpConcat:
      return std::make_unique<ConcatOp>(kernels);
    case kOpSlice:
      return std::make_unique<SliceOp>(kernels);
    case kOpBatchMatMul:
      return std::make_unique<BatchMatMulOp>(kernels);
    case kOpTranspose:
      return std::make_unique<TransposeOp>(kernels);
    case kOpRequantize:
      return std::make_unique<RequantizeOp>(kernels);
    case kOpResize:
      return std::make_unique<ResizeOp>(kernels);
    case kOpMul:
      return std::make_unique<MulOp>(kernels);
    case kOpSoftmax:
      if (desc.version == 2) return std::make_unique<FloatSoftmaxOp>(kernels);
      return std::make_unique<SoftmaxOp>(kernels);
    case kOpLayerNorm:
      return std::make_unique<LayerNormOp>(kernels);
    default:
      return nullptr;
  }
}

}  // namespace crumb::rt
