// Float layers: CONV_2D / FULLY_CONNECTED version 2 (schema/README.md), the layers a model keeps
// in fp32. They run on XNNPACK's fp32 operators (DESIGN.md: XNNPACK serves the layers a model
// keeps at 8 or 32 bits) on the interpreter's own thread pool; without XNNPACK (built with
// CRUMB_USE_XNNPACK=OFF, or a CPU it cannot initialize on) and with the scalar family forced, a
// plain loop computes the same sums in its own order.
#include "float_layers.h"

#include "kernels/common/family.h"

#include <algorithm>
#include <vector>

#ifdef CRUMB_USE_XNNPACK
#include <xnnpack.h>
#endif

namespace crumb::rt {

namespace {

int64_t ConvOutput(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pad0,
                   int64_t pad1) {
  const int64_t span = in + pad0 + pad1 - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

#ifdef CRUMB_USE_XNNPACK
// XNNPACK initializes once per process (it is safe to call from several threads).
bool XnnpackReady() {
  static const bool ok = xnn_initialize(nullptr) == xnn_status_success;
  return ok;
}
#endif

class FloatLayerOp : public Op {
 public:
  FloatLayerOp(const KernelTable& kernels, bool conv, bool scalar) : conv_(conv) {
    (void)scalar;
#ifdef CRUMB_USE_XNNPACK
    // XNNPACK picks its own instruction set, so a float layer gives the same floats on every
    // crumb ISA path of one CPU; forcing the scalar family (options or file) takes the loop.
    use_xnnpack_ = !scalar && kernels.forced_family != CRUMB_FAMILY_SCALAR;
#else
    (void)kernels;
#endif
  }
  ~FloatLayerOp() override { DeleteOperator(); }

  Status Configure(const OpContext& ctx) override {
    const OpDesc& d = ctx.desc;
    const Shape& x = ctx.In(0).shape;
    const Shape& w = ctx.InDesc(1).shape;
    if (conv_) {
      const int64_t oh =
          ConvOutput(x[2], d.kernel_h, d.stride_h, d.dilation_h, d.pad_top, d.pad_bottom);
      const int64_t ow =
          ConvOutput(x[3], d.kernel_w, d.stride_w, d.dilation_w, d.pad_left, d.pad_right);
      if (oh < 1 || ow < 1) {
        return InvalidModel(StrFormat(
            "its %dx%d kernel (dilation %dx%d) does not fit the padded %lldx%lld input.",
            d.kernel_h, d.kernel_w, d.dilation_h, d.dilation_w, (long long)x[2], (long long)x[3]));
      }
      ctx.Out().shape = Shape{x[0], w[0], oh, ow};
      batch_ = (size_t)x[0];
      h_ = (size_t)x[2];
      w_ = (size_t)x[3];
      oh_ = (size_t)oh;
      ow_ = (size_t)ow;
      cin_ = (size_t)x[1];
      cout_ = (size_t)w[0];
      rows_ = batch_ * oh_ * ow_;
      taps_ = (size_t)d.kernel_h * (size_t)d.kernel_w;
      // XNNPACK's indirection buffer: one pointer per output pixel and tap.
      uint64_t pointers = 0;
      if (__builtin_mul_overflow((uint64_t)rows_, (uint64_t)taps_, &pointers) ||
          pointers > (uint64_t(1) << 28)) {
        return Unsupported(StrFormat(
            "needs an indirection buffer of more than 2^28 pointers (%zu output pixels x %zu "
            "taps).",
            rows_, taps_));
      }
    } else {
      Shape y = x;
      y.back() = w[0];
      ctx.Out().shape = y;
      cin_ = (size_t)w[1];
      cout_ = (size_t)w[0];
      rows_ = (size_t)(ElementCount(x) / (int64_t)cin_);
      taps_ = 1;
    }
    setup_input_ = nullptr;  // shapes may have changed: set XNNPACK up again at the next run
    return Status::Ok();
  }

  Status Setup(const OpContext& ctx) override {
    if (!weights_.empty() || xnn_op_) return Status::Ok();  // weights packed once per op
    const OpDesc& d = ctx.desc;
    const TensorDesc& wd = ctx.InDesc(1);
    const float* w = reinterpret_cast<const float*>(wd.data);
    const size_t kc = conv_ ? cin_ / (size_t)d.groups : cin_;
    // ONNX's [Cout, Cin/groups, KH, KW] to [Cout, KH, KW, Cin/groups]: the order of XNNPACK's
    // NHWC convolution (and of the scalar loop's inner product over one tap's channels).
    std::vector<float> packed(cout_ * taps_ * kc);
    for (size_t o = 0; o < cout_; o++)
      for (size_t c = 0; c < kc; c++)
        for (size_t t = 0; t < taps_; t++)
          packed[(o * taps_ + t) * kc + c] = w[(o * kc + c) * taps_ + t];
    bias_.assign(cout_, 0.f);
    if (ctx.desc.inputs.size() == 3) {
      const float* b = reinterpret_cast<const float*>(ctx.InDesc(2).data);
      bias_.assign(b, b + cout_);
    }
    fmin_ = d.clamp.fmin;
    fmax_ = d.clamp.fmax;
#ifdef CRUMB_USE_XNNPACK
    // XNNPACK needs fmin < fmax; an empty clamp range (every output one value) takes the loop.
    if (use_xnnpack_ && XnnpackReady() && fmin_ < fmax_) {
      xnn_status s;
      if (conv_) {
        const uint32_t groups = (uint32_t)d.groups;
        s = xnn_create_convolution2d_nhwc_f32(
            (uint32_t)d.pad_top, (uint32_t)d.pad_right, (uint32_t)d.pad_bottom,
            (uint32_t)d.pad_left, (uint32_t)d.kernel_h, (uint32_t)d.kernel_w, (uint32_t)d.stride_h,
            (uint32_t)d.stride_w, (uint32_t)d.dilation_h, (uint32_t)d.dilation_w, groups, kc,
            cout_ / groups, cin_, cout_, packed.data(), bias_.data(), fmin_, fmax_, 0, &xnn_op_);
      } else {
        s = xnn_create_fully_connected_nc_f32(cin_, cout_, cin_, cout_, packed.data(), bias_.data(),
                                              fmin_, fmax_, 0, &xnn_op_);
      }
      if (s != xnn_status_success) xnn_op_ = nullptr;
    }
    if (xnn_op_) {
      // XNNPACK keeps its own packed copy of the weights and bias, plus the indirection buffer.
      persistent_bytes_ = (cout_ * taps_ * kc + cout_) * sizeof(float) +
                          (conv_ ? rows_ * taps_ * sizeof(void*) : 0);
      bias_.clear();
      bias_.shrink_to_fit();
      return Status::Ok();
    }
#endif
    weights_ = std::move(packed);
    kc_ = kc;
    persistent_bytes_ = (weights_.size() + bias_.size()) * sizeof(float);
    return Status::Ok();
  }

  void Run(const OpContext& ctx, uint8_t*) override {
    const float* x = reinterpret_cast<const float*>(ctx.In(0).data);
    float* y = reinterpret_cast<float*>(ctx.Out().data);
#ifdef CRUMB_USE_XNNPACK
    if (xnn_op_) {
      pthreadpool_t pool = ctx.workers ? static_cast<pthreadpool_t>(ctx.workers->pool()) : nullptr;
      // XNNPACK binds the addresses (and builds a convolution's indirection buffer) at setup:
      // once, unless the arena moved or the shapes changed.
      if (x != setup_input_ || y != setup_output_ || pool != setup_pool_) {
        const xnn_status s =
            conv_ ? xnn_setup_convolution2d_nhwc_f32(xnn_op_, batch_, h_, w_, x, y, pool)
                  : xnn_setup_fully_connected_nc_f32(xnn_op_, rows_, x, y, pool);
        if (s == xnn_status_success) {
          setup_input_ = x;
          setup_output_ = y;
          setup_pool_ = pool;
        }
      }
      if (setup_input_ == x && xnn_run_operator(xnn_op_, pool) == xnn_status_success) return;
      // Setup or run failed (out of memory): fall through to the loop, with the weights
      // unpacked again.
      FallBackToLoop(ctx);
    }
#endif
    const OpDesc& d = ctx.desc;
    ctx.Ranges(rows_, 1, cout_ * taps_ * kc_, [&](size_t b, size_t e, size_t) {
      for (size_t r = b; r < e; r++)
        conv_ ? ConvPixel(d, x, r, y + r * cout_) : Row(x + r * cin_, y + r * cout_);
    });
  }

  const char* KernelName() const override {
    if (xnn_op_) return conv_ ? "xnn_convolution2d_nhwc_f32" : "xnn_fully_connected_nc_f32";
    return conv_ ? "crumb_f32_conv2d__scalar" : "crumb_f32_fully_connected__scalar";
  }
  int Family() const override { return xnn_op_ ? CRUMB_FAMILY_XNNPACK : CRUMB_FAMILY_SCALAR; }
  const char* FamilyReason() const override {
    if (xnn_op_) return "a float layer (the model keeps it fp32): XNNPACK's fp32 operator";
#ifdef CRUMB_USE_XNNPACK
    if (!use_xnnpack_)
      return "a float layer forced onto the scalar family: the runtime's fp32 loop";
    return "a float layer XNNPACK did not take (it failed to initialize, or an empty clamp): the "
           "runtime's fp32 loop";
#else
    return "a float layer in a runtime built without XNNPACK: the runtime's fp32 loop";
#endif
  }

 private:
  void DeleteOperator() {
#ifdef CRUMB_USE_XNNPACK
    if (xnn_op_) xnn_delete_operator(xnn_op_);
#endif
    xnn_op_ = nullptr;
  }

#ifdef CRUMB_USE_XNNPACK
  void FallBackToLoop(const OpContext& ctx) {
    DeleteOperator();
    use_xnnpack_ = false;
    setup_input_ = nullptr;
    Setup(ctx);
  }
#endif

  float Clamp(float v) const { return std::min(std::max(v, fmin_), fmax_); }

  void Row(const float* x, float* y) const {
    for (size_t o = 0; o < cout_; o++) {
      const float* w = weights_.data() + o * cin_;
      float acc = bias_[o];
      for (size_t k = 0; k < cin_; k++) acc += x[k] * w[k];
      y[o] = Clamp(acc);
    }
  }

  // Output pixel r (image, row, column in NHWC order) of every channel.
  void ConvPixel(const OpDesc& d, const float* x, size_t r, float* y) const {
    const size_t n = r / (oh_ * ow_), oy = r / ow_ % oh_, ox = r % ow_;
    const size_t groups = (size_t)d.groups, co = cout_ / groups;
    for (size_t o = 0; o < cout_; o++) {
      const size_t g = o / co;
      float acc = bias_[o];
      for (size_t ky = 0; ky < (size_t)d.kernel_h; ky++) {
        const int64_t iy = (int64_t)(oy * d.stride_h + ky * d.dilation_h) - d.pad_top;
        if (iy < 0 || iy >= (int64_t)h_) continue;
        for (size_t kx = 0; kx < (size_t)d.kernel_w; kx++) {
          const int64_t ix = (int64_t)(ox * d.stride_w + kx * d.dilation_w) - d.pad_left;
          if (ix < 0 || ix >= (int64_t)w_) continue;
          const float* xp = x + ((n * h_ + (size_t)iy) * w_ + (size_t)ix) * cin_ + g * kc_;
          const float* wp = weights_.data() + (o * taps_ + ky * (size_t)d.kernel_w + kx) * kc_;
          for (size_t c = 0; c < kc_; c++) acc += xp[c] * wp[c];
        }
      }
      y[o] = Clamp(acc);
    }
  }

  const bool conv_;
  bool use_xnnpack_ = false;
  size_t batch_ = 0, h_ = 0, w_ = 0, oh_ = 0, ow_ = 0, cin_ = 0, cout_ = 0, rows_ = 0, taps_ = 0;
  size_t kc_ = 0;
  float fmin_ = 0.f, fmax_ = 0.f;
  std::vector<float> weights_, bias_;  // the loop's: [Cout, KH, KW, Cin/groups], [Cout]
#ifdef CRUMB_USE_XNNPACK
  xnn_operator_t xnn_op_ = nullptr;
  const float* setup_input_ = nullptr;
  const float* setup_output_ = nullptr;
  pthreadpool_t setup_pool_ = nullptr;
#else
  void* xnn_op_ = nullptr;
  const float* setup_input_ = nullptr;
#endif
};

}  // namespace

std::unique_ptr<Op> CreateFloatLayer(const OpDesc& desc, const KernelTable& kernels) {
  return std::make_unique<FloatLayerOp>(kernels, desc.opcode == kOpConv2D,
                                        desc.family == CRUMB_FAMILY_SCALAR);
}

}  // namespace crumb::rt
