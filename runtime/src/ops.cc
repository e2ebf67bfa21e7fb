// The ops of schema/README.md on the scalar kernels: shape inference (Configure), per-op
// preparation with real tensor addresses (Setup: indirection buffers, multipliers) and Run.
#include <string.h>

#include <algorithm>
#include <memory>

#include "interpreter.h"
#include "kernels/common/pack.h"

namespace crumb::rt {

namespace {

uint32_t ElemType(const TensorDesc& d) {
  if (d.is_float) return CRUMB_ELEM_F32;
  return d.encoding == kUnsigned ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
}

// M = (float)((double)s_in / (double)s_out): schema/README.md fixes this computation.
float Multiplier(float s_in, float s_out) { return (float)((double)s_in / (double)s_out); }

crumb_output_params OutputParams(const OpContext& ctx) {
  const TensorDesc& out = ctx.OutDesc();
  crumb_output_params p;
  p.type = ElemType(out);
  p.zero_point = out.is_float ? 0 : out.zero_points[0];
  p.qmin = ctx.desc.clamp.qmin;
  p.qmax = ctx.desc.clamp.qmax;
  p.fmin = ctx.desc.clamp.fmin;
  p.fmax = ctx.desc.clamp.fmax;
  return p;
}

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
    kernels_.quantize((size_t)ElementCount(ctx.In(0).shape),
                      reinterpret_cast<const float*>(ctx.In(0).data), ctx.Out().data, &params_);
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
    kernels_.dequantize((size_t)ElementCount(ctx.In(0).shape), ctx.In(0).data,
                        reinterpret_cast<float*>(ctx.Out().data), &params_);
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
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    kernels_.requantize((size_t)ElementCount(ctx.In(0).shape), ctx.In(0).data, ctx.Out().data,
                        &params_);
  }
  const char* KernelName() const override { return kernels_.requantize_name; }

 private:
  const KernelTable& kernels_;
  crumb_requant_params params_{};
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
    params_.out = OutputParams(ctx);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t*) override {
    kernels_.vadd((size_t)ElementCount(ctx.In(0).shape), ctx.In(0).data, ctx.In(1).data,
                  ctx.Out().data, &params_);
  }
  const char* KernelName() const override { return kernels_.vadd_name; }

 private:
  const KernelTable& kernels_;
  crumb_add_params params_{};
};

// ---------------------------------------------------------------------------- conv / fc
// Weights, zero points and the epilogue shared by CONV_2D and FULLY_CONNECTED.
struct GemmWeights {
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  std::vector<int32_t> zero_points;  // one per output channel
  const float* mul = nullptr;
  const float* add = nullptr;
  crumb_gemm_params params{};

  void Init(const OpContext& ctx, size_t k) {
    const TensorDesc& x = ctx.InDesc(0);
    const TensorDesc& w = ctx.InDesc(1);
    const size_t rows = (size_t)w.shape[0];
    data = w.data;
    row_bytes = crumb_rows_lsb_row_bytes(k, (unsigned)w.bits);
    zero_points.assign(rows, w.zero_points[0]);
    if (w.zero_points.size() == rows) zero_points = w.zero_points;
    mul = reinterpret_cast<const float*>(ctx.InDesc(2).data);
    add = reinterpret_cast<const float*>(ctx.InDesc(3).data);
    params.a_type = ElemType(x);
    params.a_zero_point = x.zero_points[0];
    params.w_bits = (uint32_t)w.bits;
    params.w_encoding = (uint32_t)w.encoding;
    params.w_row_bytes = row_bytes;
    params.out = OutputParams(ctx);
  }
  // Parameters for output channels [first, ...).
  crumb_gemm_params At(size_t first) const {
    crumb_gemm_params p = params;
    p.w_zero_point = zero_points.data() + first;
    p.mul = mul + first;
    p.add = add + first;
    return p;
  }
};

class ConvOp : public Op {
 public:
  explicit ConvOp(const KernelTable& k) : kernels_(k) {}

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
    scratch_bytes_ = ks_ * kc_ * sizeof(int32_t);
    return Status::Ok();
  }

  Status Setup(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    w_.Init(ctx, ks_ * kc_);
    out_elem_ = ctx.OutDesc().is_float ? 4 : 1;
    const Shape& xs = ctx.In(0).shape;
    const Shape& ys = ctx.Out().shape;
    pixels_ = (size_t)(ys[0] * ys[2] * ys[3]);
    indirection_.clear();
    if (!direct_) {
      // One pointer per (output pixel, tap): the input pixel's channels, or the shared zero row
      // for padding (filled with the input zero point, so padding adds exactly 0).
      const uint8_t zx = (uint8_t)ctx.InDesc(0).zero_points[0];
      zero_.assign(cin_, zx);
      indirection_.resize(pixels_ * ks_);
      const uint8_t* x = ctx.In(0).data;
      const int64_t h = xs[2], wd = xs[3];
      size_t i = 0;
      for (int64_t n = 0; n < ys[0]; n++) {
        for (int64_t oy = 0; oy < ys[2]; oy++) {
          for (int64_t ox = 0; ox < ys[3]; ox++) {
            for (int64_t ky = 0; ky < d.kernel_h; ky++) {
              for (int64_t kx = 0; kx < d.kernel_w; kx++) {
                const int64_t iy = oy * d.stride_h - d.pad_top + ky * d.dilation_h;
                const int64_t ix = ox * d.stride_w - d.pad_left + kx * d.dilation_w;
                indirection_[i++] =
                    (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                        ? static_cast<const void*>(zero_.data())
                        : static_cast<const void*>(x + ((n * h + iy) * wd + ix) * (int64_t)cin_);
              }
            }
          }
        }
      }
    }
    persistent_bytes_ = indirection_.size() * sizeof(void*) + zero_.size() +
                        w_.zero_points.size() * sizeof(int32_t);
    return Status::Ok();
  }

  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const size_t cout_g = cout_ / groups_;
    const uint8_t* x = ctx.In(0).data;
    uint8_t* y = ctx.Out().data;
    int32_t* s = reinterpret_cast<int32_t*>(scratch);
    for (size_t g = 0; g < groups_; g++) {
      const crumb_gemm_params p = w_.At(g * cout_g);
      const uint8_t* wg = w_.data + g * cout_g * w_.row_bytes;
      uint8_t* yg = y + g * cout_g * out_elem_;
      if (direct_) {
        kernels_.gemm(pixels_, cout_g, kc_, x + g * kc_, cin_, wg, yg, cout_ * out_elem_, &p, s);
      } else {
        kernels_.igemm(pixels_, cout_g, kc_, ks_, indirection_.data(), g * kc_, zero_.data(), wg,
                       yg, cout_ * out_elem_, &p, s);
      }
    }
  }

  const char* KernelName() const override {
    return direct_ ? kernels_.gemm_name : kernels_.igemm_name;
  }

 private:
  const KernelTable& kernels_;
  GemmWeights w_;
  size_t groups_ = 1, cin_ = 0, cout_ = 0, kc_ = 0, ks_ = 0, pixels_ = 0, out_elem_ = 1;
  bool direct_ = false;
  std::vector<const void*> indirection_;
  std::vector<uint8_t> zero_;
};

class FullyConnectedOp : public Op {
 public:
  explicit FullyConnectedOp(const KernelTable& k) : kernels_(k) {}
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
    scratch_bytes_ = k_ * sizeof(int32_t);
    return Status::Ok();
  }
  Status Setup(const OpContext& ctx) override {
    w_.Init(ctx, k_);
    out_elem_ = ctx.OutDesc().is_float ? 4 : 1;
    persistent_bytes_ = w_.zero_points.size() * sizeof(int32_t);
    return Status::Ok();
  }
  void Run(const OpContext& ctx, uint8_t* scratch) override {
    const crumb_gemm_params p = w_.At(0);
    kernels_.gemm(m_, n_, k_, ctx.In(0).data, k_, w_.data, ctx.Out().data, n_ * out_elem_, &p,
                  reinterpret_cast<int32_t*>(scratch));
  }
  const char* KernelName() const override { return kernels_.gemm_name; }

 private:
  const KernelTable& kernels_;
  GemmWeights w_;
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
    if (average_) {
      kernels_.avgpool(pixels_, ks_, channels_, indirection_.data(), 0, divisor_.data(),
                       ctx.Out().data, channels_, &params_);
    } else {
      kernels_.maxpool(pixels_, ks_, channels_, indirection_.data(), 0, ctx.Out().data, channels_,
                       &params_);
    }
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
    for (int64_t n = 0; n < x[0]; n++) {
      kernels_.gavgpool(hw, c, ctx.In(0).data + (size_t)n * hw * c, c,
                        ctx.Out().data + (size_t)n * c, &params_,
                        reinterpret_cast<int32_t*>(scratch));
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

// Requantizes an input into scratch in its physical order, then scatters it to the output's
// physical positions. A scatter table exists only where the physical orders differ.
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
    scratch_bytes_ = permute_ ? (size_t)ElementCount(x) : 0;
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
      kernels_.requantize(n, ctx.In(0).data, ctx.Out().data, &params_);
      return;
    }
    kernels_.requantize(n, ctx.In(0).data, scratch, &params_);
    uint8_t* y = ctx.Out().data;
    for (size_t i = 0; i < n; i++) y[scatter_[i]] = scratch[i];
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
    scratch_bytes_ = largest;
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
        kernels_.requantize(n, ctx.In(k).data, y + s.offset, &params_[k]);
        continue;
      }
      kernels_.requantize(n, ctx.In(k).data, scratch, &params_[k]);
      for (size_t i = 0; i < n; i++) y[s.to[i]] = scratch[i];
    }
  }
  const char* KernelName() const override { return kernels_.requantize_name; }

 private:
  const KernelTable& kernels_;
  std::vector<crumb_requant_params> params_;
  std::vector<Scatter> scatter_;
};

}  // namespace

std::unique_ptr<Op> CreateOp(const OpDesc& desc, const KernelTable& kernels) {
  switch (desc.opcode) {
    case kOpQuantize:
      return std::make_unique<QuantizeOp>(kernels);
    case kOpDequantize:
      return std::make_unique<DequantizeOp>(kernels);
    case kOpConv2D:
      return std::make_unique<ConvOp>(kernels);
    case kOpFullyConnected:
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
    case kOpRequantize:
      return std::make_unique<RequantizeOp>(kernels);
    default:
      return nullptr;
  }
}

}  // namespace crumb::rt
