// Float layers (CONV_2D / FULLY_CONNECTED version 2): XNNPACK's fp32 operators on every ISA path,
// the runtime's loop with the scalar family forced, 1 and 3 threads, each against a
// double-precision loop over the logical (NCHW) tensors. Float sums in another order differ by
// rounding only, so the tolerance is relative to the sum of |x * w| (a few float ulps per term).
#include <gtest/gtest.h>

#include <string.h>

#include <cmath>
#include <random>

#include "model_builder.h"
#include "schema/crumb_generated.h"
#include "test_util.h"

namespace crumb_test {
namespace {

namespace fb = crumb::fb;

struct ConvCase {
  std::vector<int32_t> x;  // [N, C, H, W]
  int cout, kh, kw, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0, groups = 1;
  bool bias = true;
  float fmin = -__builtin_inff(), fmax = __builtin_inff();
};

std::string Floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

int32_t AddFloatTensor(ModelBuilder& b, const std::string& name, const std::vector<int32_t>& shape,
                       const std::vector<float>& values) {
  TensorSpec t;
  t.name = name;
  t.shape = shape;
  t.layout = kDense;
  t.data = Floats(values);
  return b.Add(t);
}

// Runs the model on every path and compares output 0 with `want` (logical order), element by
// element within `tol[i]`. Also checks which kernel ran.
void CheckPaths(const std::string& model, const std::vector<float>& x,
                const std::vector<double>& want, const std::vector<double>& tol,
                const char* xnn_kernel) {
  struct Path {
    crumb_isa isa;
    const char* family;
    int threads;
  };
  for (const Path& p : {Path{CRUMB_ISA_AUTO, "auto", 1}, Path{CRUMB_ISA_AUTO, "auto", 3},
                        Path{CRUMB_ISA_SCALAR, "auto", 1}, Path{CRUMB_ISA_AUTO, "scalar", 1},
                        Path{CRUMB_ISA_SCALAR, "scalar", 3}}) {
    SCOPED_TRACE(testing::Message()
                 << "isa " << p.isa << " family " << p.family << " threads " << p.threads);
    RunResult r;
    std::string error;
    bool missing = false;
    ASSERT_TRUE(RunWith(model, Floats(x), p.isa, p.family, p.threads, &r, &error, &missing))
        << error;
    const std::vector<float> got = BytesToFloats(r.output);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); i++) {
      ASSERT_LE(std::fabs((double)got[i] - want[i]), tol[i])
          << "element " << i << ": " << got[i] << " vs " << want[i];
    }
#ifdef CRUMB_TEST_XNNPACK
    const bool xnn = strcmp(p.family, "scalar") != 0;  // XNNPACK on every crumb ISA path
#else
    const bool xnn = false;
#endif
    if (xnn) {
      EXPECT_EQ(r.kernels[0], xnn_kernel);
    } else {
      EXPECT_NE(r.kernels[0].find("__scalar"), std::string::npos) << r.kernels[0];
    }
    EXPECT_EQ(r.families[0], xnn ? "xnnpack" : "scalar");
  }
}

void TestConv(const ConvCase& c, unsigned seed) {
  SCOPED_TRACE(testing::Message() << "conv x [" << c.x[0] << "," << c.x[1] << "," << c.x[2] << ","
                                  << c.x[3] << "] cout " << c.cout << " k " << c.kh << "x" << c.kw
                                  << " s " << c.stride_h << "x" << c.stride_w << " d " << c.dil_h
                                  << "x" << c.dil_w << " g " << c.groups);
  std::mt19937 rng(seed);
  const int n = c.x[0], cin = c.x[1], h = c.x[2], w = c.x[3], kc = cin / c.groups;
  const int oh = (h + c.pad_t + c.pad_b - c.dil_h * (c.kh - 1) - 1) / c.stride_h + 1;
  const int ow = (w + c.pad_l + c.pad_r - c.dil_w * (c.kw - 1) - 1) / c.stride_w + 1;
  const std::vector<float> x = RandomFloats(rng, (size_t)n * cin * h * w);
  const std::vector<float> wt = RandomFloats(rng, (size_t)c.cout * kc * c.kh * c.kw);
  const std::vector<float> bias = RandomFloats(rng, (size_t)c.cout);

  ModelBuilder b;
  const int32_t in = b.AddFloat("x", {n, cin, h, w});
  const int32_t wi = AddFloatTensor(b, "conv.weight", {c.cout, kc, c.kh, c.kw}, wt);
  const int32_t bi = c.bias ? AddFloatTensor(b, "conv.bias", {c.cout}, bias) : -1;
  const int32_t out = b.AddFloat("y", {n, c.cout, oh, ow});
  OpSpec& op = b.AddOp((int)fb::OpCode::CONV_2D, "conv", {in, wi, bi}, {out});
  op.version = 2;
  op.kernel_h = c.kh;
  op.kernel_w = c.kw;
  op.stride_h = c.stride_h;
  op.stride_w = c.stride_w;
  op.dilation_h = c.dil_h;
  op.dilation_w = c.dil_w;
  op.pad_top = c.pad_t;
  op.pad_left = c.pad_l;
  op.pad_bottom = c.pad_b;
  op.pad_right = c.pad_r;
  op.groups = c.groups;
  op.has_clamp = true;
  op.clamp_fmin = c.fmin;
  op.clamp_fmax = c.fmax;
  b.inputs = {in};
  b.outputs = {out};

  std::vector<double> want, tol;
  const int co = c.cout / c.groups;
  for (int in_ = 0; in_ < n; in_++)
    for (int o = 0; o < c.cout; o++)
      for (int y = 0; y < oh; y++)
        for (int xx = 0; xx < ow; xx++) {
          const int g = o / co;
          double acc = c.bias ? bias[o] : 0.0, mag = std::fabs(acc);
          for (int ci = 0; ci < kc; ci++)
            for (int ky = 0; ky < c.kh; ky++)
              for (int kx = 0; kx < c.kw; kx++) {
                const int iy = y * c.stride_h + ky * c.dil_h - c.pad_t;
                const int ix = xx * c.stride_w + kx * c.dil_w - c.pad_l;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const double p = (double)x[(((size_t)in_ * cin + g * kc + ci) * h + iy) * w + ix] *
                                 wt[(((size_t)o * kc + ci) * c.kh + ky) * c.kw + kx];
                acc += p;
                mag += std::fabs(p);
              }
          want.push_back(std::min(std::max(acc, (double)c.fmin), (double)c.fmax));
          tol.push_back(mag * 1e-6 + 1e-7);
        }
  CheckPaths(b.Finish(), x, want, tol, "xnn_convolution2d_nhwc_f32");
}

TEST(FloatLayer, ConvShapes) {
  TestConv({{1, 3, 8, 8}, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
  TestConv({{2, 5, 9, 7}, 6, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0}, 2);        // stride 2, uneven pads
  TestConv({{1, 4, 10, 10}, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2}, 3);      // dilation 2
  TestConv({{1, 8, 6, 6}, 6, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 2}, 4);     // 3x1, 2 groups
  TestConv({{1, 16, 7, 7}, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16}, 5);  // depthwise
  TestConv({{1, 24, 5, 5}, 40, 1, 1}, 6);                              // 1x1
  TestConv({{1, 3, 17, 17}, 16, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3}, 7);     // a stem
  TestConv({{1, 1, 1, 1}, 1, 1, 1}, 8);
}

TEST(FloatLayer, ConvBiasAbsentAndClamp) {
  ConvCase c{{1, 6, 6, 6}, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  c.bias = false;
  TestConv(c, 10);
  c.bias = true;
  c.fmin = 0.f;
  c.fmax = 6.f;
  TestConv(c, 11);
  c.fmin = -0.25f;
  c.fmax = 0.25f;
  TestConv(c, 12);
}

// Enough pixels and channels that the loop splits over the threads.
TEST(FloatLayer, ConvSplitOverThreads) {
  TestConv({{2, 32, 20, 20}, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 20);
}

void TestFc(const std::vector<int32_t>& xs, int n_out, bool bias_on, float fmin, float fmax,
            unsigned seed) {
  std::mt19937 rng(seed);
  const int k = xs.back();
  size_t rows = 1;
  for (size_t i = 0; i + 1 < xs.size(); i++) rows *= (size_t)xs[i];
  const std::vector<float> x = RandomFloats(rng, rows * k);
  const std::vector<float> wt = RandomFloats(rng, (size_t)n_out * k);
  const std::vector<float> bias = RandomFloats(rng, (size_t)n_out);
  ModelBuilder b;
  const int32_t in = b.AddFloat("x", xs);
  const int32_t wi = AddFloatTensor(b, "fc.weight", {n_out, k}, wt);
  const int32_t bi = bias_on ? AddFloatTensor(b, "fc.bias", {n_out}, bias) : -1;
  std::vector<int32_t> ys = xs;
  ys.back() = n_out;
  const int32_t out = b.AddFloat("y", ys);
  OpSpec& op = b.AddOp((int)fb::OpCode::FULLY_CONNECTED, "fc", {in, wi, bi}, {out});
  op.version = 2;
  op.has_clamp = true;
  op.clamp_fmin = fmin;
  op.clamp_fmax = fmax;
  b.inputs = {in};
  b.outputs = {out};
  std::vector<double> want, tol;
  for (size_t r = 0; r < rows; r++)
    for (int o = 0; o < n_out; o++) {
      double acc = bias_on ? bias[o] : 0.0, mag = std::fabs(acc);
      for (int i = 0; i < k; i++) {
        const double p = (double)x[r * k + i] * wt[(size_t)o * k + i];
        acc += p;
        mag += std::fabs(p);
      }
      want.push_back(std::min(std::max(acc, (double)fmin), (double)fmax));
      tol.push_back(mag * 1e-6 + 1e-7);
    }
  CheckPaths(b.Finish(), x, want, tol, "xnn_fully_connected_nc_f32");
}

TEST(FloatLayer, FullyConnected) {
  const float inf = __builtin_inff();
  TestFc({1, 512}, 10, true, -inf, inf, 30);
  TestFc({4, 33}, 17, false, -inf, inf, 31);
  TestFc({2, 3, 64}, 5, true, 0.f, inf, 32);  // rows from the leading dims
  TestFc({1, 1}, 1, true, -inf, inf, 33);
  TestFc({64, 256}, 128, true, -1.f, 1.f, 34);  // splits over the threads
}

// SOFTMAX version 2 (float in and out) along every axis of a 4-D tensor (stored NHWC inside) and
// a 2-D one, against a double loop over the logical tensor; 1 and 3 threads.
void TestFloatSoftmax(const std::vector<int32_t>& shape, int axis, unsigned seed) {
  SCOPED_TRACE(testing::Message() << "softmax rank " << shape.size() << " axis " << axis);
  std::mt19937 rng(seed);
  size_t count = 1;
  for (int32_t d : shape) count *= (size_t)d;
  std::vector<float> x = RandomFloats(rng, count);
  for (float& v : x) v *= 8.f;
  ModelBuilder b;
  const int32_t in = b.AddFloat("x", shape);
  const int32_t out = b.AddFloat("y", shape);
  OpSpec& op = b.AddOp((int)fb::OpCode::SOFTMAX, "softmax", {in}, {out});
  op.version = 2;
  op.axis = axis;
  b.inputs = {in};
  b.outputs = {out};
  const std::string model = b.Finish();
  // Logical strides: the axis' stride and the vectors' bases.
  size_t inner = 1;
  for (size_t d = (size_t)axis + 1; d < shape.size(); d++) inner *= (size_t)shape[d];
  const size_t len = (size_t)shape[(size_t)axis];
  std::vector<double> want(count);
  for (size_t base = 0; base < count; base++) {
    if ((base / inner) % len != 0) continue;  // not the first element of its vector
    double m = -1e300, s = 0;
    for (size_t i = 0; i < len; i++) m = std::max(m, (double)x[base + i * inner]);
    for (size_t i = 0; i < len; i++) s += std::exp((double)x[base + i * inner] - m);
    for (size_t i = 0; i < len; i++) want[base + i * inner] = std::exp(x[base + i * inner] - m) / s;
  }
  for (int threads : {1, 3}) {
    RunResult r;
    std::string error;
    bool missing = false;
    ASSERT_TRUE(RunWith(model, Floats(x), CRUMB_ISA_AUTO, "auto", threads, &r, &error, &missing))
        << error;
    const std::vector<float> got = BytesToFloats(r.output);
    ASSERT_EQ(got.size(), count);
    for (size_t i = 0; i < count; i++) {
      ASSERT_NEAR(got[i], want[i], 1e-6 + 1e-5 * want[i]) << "element " << i;
    }
    EXPECT_EQ(r.kernels[0], "softmax_f32");
  }
}

TEST(FloatLayer, FloatSoftmax) {
  for (int axis = 0; axis < 4; axis++) TestFloatSoftmax({2, 5, 3, 4}, axis, 50 + axis);
  TestFloatSoftmax({3, 1000}, 1, 60);
  TestFloatSoftmax({256, 300}, 1, 61);  // splits over the threads
  TestFloatSoftmax({1, 1}, 0, 62);
}

// A quantized conv, DEQUANTIZE, a float conv, QUANTIZE: the borders the converter writes.
TEST(FloatLayer, BetweenQuantizedLayers) {
  ModelBuilder b;
  const int32_t in = b.AddFloat("input", {1, 4, 6, 6});
  const int32_t q = b.AddQuant("q", {1, 4, 6, 6}, 8, kUnsigned, 0.02f, 128);
  b.AddOp((int)fb::OpCode::QUANTIZE, "quant", {in}, {q});
  const int32_t f = b.AddFloat("f", {1, 4, 6, 6});
  b.AddOp((int)fb::OpCode::DEQUANTIZE, "dequant", {q}, {f});
  std::mt19937 rng(40);
  const std::vector<float> wt = RandomFloats(rng, 3 * 4 * 9);
  const int32_t wi = AddFloatTensor(b, "conv.weight", {3, 4, 3, 3}, wt);
  const int32_t g = b.AddFloat("g", {1, 3, 6, 6});
  OpSpec& op = b.AddOp((int)fb::OpCode::CONV_2D, "conv", {f, wi, -1}, {g});
  op.version = 2;
  op.kernel_h = op.kernel_w = 3;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = 1;
  const int32_t y = b.AddQuant("y", {1, 3, 6, 6}, 4, kSigned, 0.1f, 0);
  b.AddOp((int)fb::OpCode::QUANTIZE, "requant", {g}, {y});
  const int32_t out = b.AddFloat("out", {1, 3, 6, 6});
  b.AddOp((int)fb::OpCode::DEQUANTIZE, "out", {y}, {out});
  b.inputs = {in};
  b.outputs = {out};
  const std::string model = b.Finish();
  const std::vector<float> x = RandomFloats(rng, 4 * 36);
  RunResult auto_r, scalar_r;
  std::string error;
  bool missing = false;
  ASSERT_TRUE(RunWith(model, Floats(x), CRUMB_ISA_AUTO, "auto", 2, &auto_r, &error, &missing))
      << error;
  ASSERT_TRUE(RunWith(model, Floats(x), CRUMB_ISA_SCALAR, "scalar", 1, &scalar_r, &error, &missing))
      << error;
  // Both paths land on the same 4-bit codes but where the float sums straddle a rounding edge.
  const std::vector<float> a = BytesToFloats(auto_r.output), s = BytesToFloats(scalar_r.output);
  ASSERT_EQ(a.size(), s.size());
  int differ = 0;
  for (size_t i = 0; i < a.size(); i++) {
    ASSERT_LE(std::fabs(a[i] - s[i]), 0.1f + 1e-6f) << i;
    differ += a[i] != s[i];
  }
  EXPECT_LE(differ, 2);
}

}  // namespace
}  // namespace crumb_test
