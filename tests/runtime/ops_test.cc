// Every scalar op, run through the runtime (C API, NCHW in and out), against kernels/reference
// over random and edge shapes, every bit width 1..8, signed and unsigned, per-channel zero
// points, stride / dilation / padding / groups / depthwise. Results must be bit-exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <random>
#include <sstream>

#include "kernels/reference/reference.h"
#include "model_builder.h"
#include "test_util.h"

namespace crumb_test {
namespace {

namespace ref = crumb::ref;

enum {
  kQuantize = 0,
  kDequantize,
  kConv,
  kFC,
  kAdd,
  kMaxPool,
  kAvgPool,
  kGAP,
  kReshape,
  kConcat,
  kRequantize,
  kResize,
  kSlice
};

enum class Fill { kRandom, kMax, kMin };

struct ActSpec {
  int bits = 8;
  int encoding = kSigned;
  float scale = 0.05f;
  int32_t zero_point = 0;
};

// Random activation parameters for `bits` / `encoding`.
ActSpec RandomAct(std::mt19937& rng, int bits, int encoding) {
  ActSpec a;
  a.bits = bits;
  a.encoding = encoding;
  int32_t lo, hi;
  CodeRange(encoding, bits, &lo, &hi);
  a.zero_point = std::uniform_int_distribution<int32_t>(lo, hi)(rng);
  if (encoding == kSigned && rng() % 2) a.zero_point = 0;
  a.scale = std::uniform_real_distribution<float>(0.01f, 0.2f)(rng);
  return a;
}

std::vector<int32_t> FillCodes(std::mt19937& rng, size_t n, int32_t lo, int32_t hi, Fill fill) {
  if (fill == Fill::kMax) return std::vector<int32_t>(n, hi);
  if (fill == Fill::kMin) return std::vector<int32_t>(n, lo);
  return RandomCodes(rng, n, lo, hi);
}

// ------------------------------------------------------------------------------------ conv
class ConvTester {
 public:
  ConvTester& input(int n, int c, int h, int w) {
    d_.n = n, d_.c = c, d_.h = h, d_.w = w;
    return *this;
  }
  ConvTester& output_channels(int c) {
    d_.cout = c;
    return *this;
  }
  ConvTester& kernel(int kh, int kw) {
    d_.kh = kh, d_.kw = kw;
    return *this;
  }
  ConvTester& stride(int sh, int sw) {
    d_.stride_h = sh, d_.stride_w = sw;
    return *this;
  }
  ConvTester& dilation(int dh, int dw) {
    d_.dilation_h = dh, d_.dilation_w = dw;
    return *this;
  }
  ConvTester& pads(int t, int l, int b, int r) {
    d_.pad_top = t, d_.pad_left = l, d_.pad_bottom = b, d_.pad_right = r;
    return *this;
  }
  ConvTester& groups(int g) {
    d_.groups = g;
    return *this;
  }
  ConvTester& weight_bits(int b) {
    wbits_ = b;
    return *this;
  }
  ConvTester& weight_encoding(int e) {
    wenc_ = e;
    return *this;
  }
  ConvTester& act_bits(int b) {
    abits_ = b;
    return *this;
  }
  ConvTester& act_encoding(int e) {
    aenc_ = e;
    return *this;
  }
  ConvTester& out_bits(int b) {
    obits_ = b;
    return *this;
  }
  ConvTester& out_encoding(int e) {
    oenc_ = e;
    return *this;
  }
  ConvTester& per_channel_zero_points(bool v) {
    per_channel_zp_ = v;
    return *this;
  }
  ConvTester& float_output(bool v) {
    float_out_ = v;
    return *this;
  }
  ConvTester& clamp(int32_t lo, int32_t hi) {
    clamp_ = true, clo_ = lo, chi_ = hi;
    return *this;
  }
  ConvTester& fill(Fill f) {
    fill_ = f;
    return *this;
  }
  ConvTester& seed(uint32_t s) {
    seed_ = s;
    return *this;
  }
  // FULLY_CONNECTED instead: input [n, c] (h = w = 1, kernel 1x1).
  ConvTester& fully_connected(bool v) {
    fc_ = v;
    return *this;
  }

  bool fits() const {
    return d_.OutH() >= 1 && d_.OutW() >= 1 &&
           d_.h + d_.pad_top + d_.pad_bottom >= d_.dilation_h * (d_.kh - 1) + 1 &&
           d_.w + d_.pad_left + d_.pad_right >= d_.dilation_w * (d_.kw - 1) + 1;
  }

  std::string Describe() const {
    std::ostringstream s;
    s << (fc_ ? "fc" : "conv") << " in=" << d_.n << "x" << d_.c << "x" << d_.h << "x" << d_.w
      << " cout=" << d_.cout << " k=" << d_.kh << "x" << d_.kw << " s=" << d_.stride_h << "x"
      << d_.stride_w << " d=" << d_.dilation_h << "x" << d_.dilation_w << " p=" << d_.pad_top << ","
      << d_.pad_left << "," << d_.pad_bottom << "," << d_.pad_right << " g=" << d_.groups << " w"
      << wbits_ << "/" << wenc_ << " a" << abits_ << "/" << aenc_ << " o" << obits_ << "/" << oenc_
      << (float_out_ ? " float" : "") << " pczp=" << per_channel_zp_ << " fill=" << (int)fill_
      << " seed=" << seed_;
    return s.str();
  }

  void Test() const {
    SCOPED_TRACE(Describe());
    std::mt19937 rng(seed_);
    const ActSpec a = RandomAct(rng, abits_, aenc_);
    ActSpec o = RandomAct(rng, obits_, oenc_);
    int32_t alo, ahi, wlo, whi, olo, ohi;
    CodeRange(aenc_, abits_, &alo, &ahi);
    CodeRange(wenc_, wbits_, &wlo, &whi);
    CodeRange(oenc_, obits_, &olo, &ohi);
    const int cin_g = d_.c / d_.groups;
    const size_t wcount = (size_t)d_.cout * cin_g * d_.kh * d_.kw;
    std::vector<int32_t> x = FillCodes(rng, (size_t)d_.n * d_.c * d_.h * d_.w, alo, ahi, fill_);
    std::vector<int32_t> w = FillCodes(rng, wcount, wlo, whi, fill_);
    if (wenc_ == kBipolar) {
      for (auto& v : w) v = v <= 0 ? -1 : 1;
    }
    if (wenc_ == kTernary) {
      for (auto& v : w) v = std::max(-1, std::min(1, v));
    }
    std::vector<int32_t> zw(d_.cout, 0);
    std::vector<float> sw(d_.cout);
    for (int i = 0; i < d_.cout; i++) {
      sw[i] = std::uniform_real_distribution<float>(0.01f, 0.1f)(rng);
      if (per_channel_zp_) zw[i] = std::uniform_int_distribution<int32_t>(wlo, whi)(rng);
    }
    if (!per_channel_zp_ && wenc_ == kUnsigned)
      std::fill(zw.begin(), zw.end(), (wlo + whi + 1) / 2);
    // mul / add as the converter computes them, scaled so that outputs span the code range.
    const double k = (double)cin_g * d_.kh * d_.kw;
    std::vector<float> mul(d_.cout), add(d_.cout);
    for (int i = 0; i < d_.cout; i++) {
      const double range = std::max(1.0, (double)(ahi - alo) * (whi - wlo) * std::sqrt(k) / 4);
      mul[i] = (float)(std::uniform_real_distribution<double>(0.5, 2.0)(rng) *
                       (float_out_ ? 0.01 : (double)(ohi - olo) / range));
      add[i] = (float)std::uniform_real_distribution<double>(-3.0, 3.0)(rng);
    }
    ModelBuilder mb;
    const int32_t xt =
        fc_ ? mb.AddQuant("x", {d_.n, d_.c}, abits_, aenc_, a.scale, a.zero_point)
            : mb.AddQuant("x", {d_.n, d_.c, d_.h, d_.w}, abits_, aenc_, a.scale, a.zero_point);
    std::vector<int32_t> wshape = fc_ ? std::vector<int32_t>{d_.cout, d_.c}
                                      : std::vector<int32_t>{d_.cout, cin_g, d_.kh, d_.kw};
    std::vector<float> wscales = per_channel_zp_ ? sw : std::vector<float>{sw[0]};
    std::vector<int32_t> wzps = per_channel_zp_ ? zw : std::vector<int32_t>{zw[0]};
    const int32_t wt = mb.AddWeights("w", wshape, wbits_, wenc_, wscales, wzps, w);
    const int32_t mt = mb.AddFloatConst("mul", mul);
    const int32_t at = mb.AddFloatConst("add", add);
    const int oh = fc_ ? 1 : d_.OutH(), ow = fc_ ? 1 : d_.OutW();
    std::vector<int32_t> yshape =
        fc_ ? std::vector<int32_t>{d_.n, d_.cout} : std::vector<int32_t>{d_.n, d_.cout, oh, ow};
    const int32_t yt = float_out_ ? mb.AddFloat("y", yshape)
                                  : mb.AddQuant("y", yshape, obits_, oenc_, o.scale, o.zero_point);
    OpSpec& op = mb.AddOp(fc_ ? 3 : 2, "op", {xt, wt, mt, at}, {yt});
    op.kernel_h = d_.kh, op.kernel_w = d_.kw, op.stride_h = d_.stride_h, op.stride_w = d_.stride_w;
    op.dilation_h = d_.dilation_h, op.dilation_w = d_.dilation_w;
    op.pad_top = d_.pad_top, op.pad_left = d_.pad_left, op.pad_bottom = d_.pad_bottom;
    op.pad_right = d_.pad_right, op.groups = d_.groups;
    ref::Output out;
    out.is_float = float_out_;
    out.zero_point = o.zero_point;
    out.qmin = olo, out.qmax = ohi;
    if (clamp_) {
      op.has_clamp = true;
      op.clamp_qmin = clo_, op.clamp_qmax = chi_;
      out.qmin = std::max(olo, clo_), out.qmax = std::min(ohi, chi_);
    }
    mb.inputs = {xt};
    mb.outputs = {yt};
    const size_t ycount = (size_t)d_.n * d_.cout * oh * ow;
    std::vector<int32_t> want_q(ycount);
    std::vector<float> want_f(ycount);
    ref::Conv2D rd = d_;
    if (fc_) rd.h = rd.w = 1, rd.kh = rd.kw = 1;
    ref::Conv(rd, x.data(), a.zero_point, w.data(), zw.data(), mul.data(), add.data(), out,
              want_q.data(), want_f.data());
    std::string got, error;
    ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
    if (float_out_) {
      const std::vector<float> g = BytesToFloats(got);
      ASSERT_EQ(g.size(), want_f.size());
      for (size_t i = 0; i < g.size(); i++) ASSERT_EQ(g[i], want_f[i]) << "element " << i;
    } else {
      const std::vector<int32_t> g = BytesToCodes(got, oenc_ == kUnsigned);
      ASSERT_EQ(g.size(), want_q.size());
      for (size_t i = 0; i < g.size(); i++) ASSERT_EQ(g[i], want_q[i]) << "element " << i;
    }
  }

 private:
  ref::Conv2D d_;
  int wbits_ = 4, wenc_ = kSigned, abits_ = 8, aenc_ = kUnsigned, obits_ = 8, oenc_ = kUnsigned;
  bool per_channel_zp_ = true, float_out_ = false, clamp_ = false, fc_ = false;
  int32_t clo_ = 0, chi_ = 0;
  Fill fill_ = Fill::kRandom;
  uint32_t seed_ = 1;
};

TEST(Conv2D, AllWeightBitWidthsAndEncodings) {
  for (int bits = 1; bits <= 8; bits++) {
    for (int enc : {kSigned, kUnsigned}) {
      for (int abits : {1, 2, 4, 8}) {
        for (int aenc : {kSigned, kUnsigned}) {
          ConvTester()
              .input(1, 5, 6, 7)
              .output_channels(3)
              .kernel(3, 3)
              .pads(1, 1, 1, 1)
              .weight_bits(bits)
              .weight_encoding(enc)
              .act_bits(abits)
              .act_encoding(aenc)
              .seed(bits * 100 + enc * 10 + abits + aenc)
              .Test();
        }
      }
    }
  }
}

// One layer per (weights, activation bits, input channels, output channels, kernel 1 / 3) with
// per-tensor zero points and unsigned activations, every fifth / seventh at extreme codes.
struct WeightKind {
  int bits, enc;
};
template <typename Skip, typename OutBits>
void SweepUnsignedActLayers(std::initializer_list<WeightKind> weights,
                            std::initializer_list<int> act_bits, std::initializer_list<int> cins,
                            int h, int w, uint32_t seed, Skip skip, OutBits out_bits) {
  for (WeightKind wk : weights) {
    for (int abits : act_bits) {
      if (skip(wk, abits)) continue;
      for (int cin : cins) {
        for (int cout : {1, 64, 65}) {
          for (int k : {1, 3}) {
            const Fill fill = seed % 5 == 0   ? Fill::kMax
                              : seed % 7 == 0 ? Fill::kMin
                                              : Fill::kRandom;
            ConvTester()
                .input(1, cin, h, w)
                .output_channels(cout)
                .kernel(k, k)
                .pads(k / 2, k / 2, k / 2, k / 2)
                .weight_bits(wk.bits)
                .weight_encoding(wk.enc)
                .per_channel_zero_points(false)
                .act_bits(abits)
                .act_encoding(kUnsigned)
                .out_bits(out_bits(abits))
                .out_encoding(kUnsigned)
                .fill(fill)
                .seed(seed++)
                .Test();
          }
        }
      }
    }
  }
}

// Stems (fewer than 8 input channels, a kernel wider than 1) run one im2col row per pixel; the
// dot family pads that row's K to whole 32-code super-blocks with zero-point weights. Per-channel
// weight zero points and an activation zero point would show any padded term that counted.
TEST(Conv2D, StemRowsPaddedToWholeSuperBlocks) {
  uint32_t seed = 1;
  for (int cin : {1, 3, 4, 7}) {
    for (int k : {3, 5, 7}) {
      for (int enc : {kSigned, kUnsigned}) {
        for (bool pczp : {false, true}) {
          ConvTester()
              .input(1, cin, 13, 12)
              .output_channels(70)
              .kernel(k, k)
              .stride(2, 2)
              .pads(k / 2, k / 2, k / 2, k / 2)
              .weight_bits(8)
              .weight_encoding(enc)
              .per_channel_zero_points(pczp)
              .act_bits(8)
              .act_encoding(kUnsigned)
              .seed(seed++)
              .Test();
        }
      }
    }
  }
}

// Layers the `lut` family runs (kernels/common/family.h): 1-2-bit weights whose values fit the
// pair tables times unsigned 1-4-bit activations, at channel counts below, at and above the
// 64-channel weight block and the 4-code activation step, direct (1x1) and indirect, grouped,
// with extreme fills. RunModel also runs every other ISA and the scalar kernels on them.
TEST(Conv2D, LutFamilyLayers) {
  SweepUnsignedActLayers(
      {{2, kSigned}, {2, kTernary}, {2, kUnsigned}, {1, kBipolar}}, {1, 2, 3, 4}, {3, 8, 13}, 5, 6,
      7, [](WeightKind, int) { return false; }, [](int abits) { return abits == 3 ? 8 : 4; });
  // Groups of >= 16 channels stay on the family; each group's codes are packed as their own row.
  ConvTester()
      .input(2, 10, 6, 5)
      .output_channels(32)
      .groups(2)
      .kernel(3, 3)
      .pads(1, 1, 1, 1)
      .weight_bits(2)
      .per_channel_zero_points(false)
      .act_bits(2)
      .act_encoding(kUnsigned)
      .Test();
  ConvTester()
      .input(1, 130, 4, 4)
      .output_channels(130)
      .kernel(3, 3)
      .stride(2, 2)
      .pads(1, 1, 1, 1)
      .weight_bits(2)
      .per_channel_zero_points(false)
      .act_bits(4)
      .act_encoding(kUnsigned)
      .float_output(true)
      .Test();
}

// Layers the `bitserial` family runs: 1-2-bit weights (bipolar, signed and ternary with zero
// point 0, unsigned with a zero point) times unsigned 1-2-bit activations, with K below, at and
// above the 32- and 64-bit words, N around the 64-channel block, direct and indirect, extreme
// fills.
TEST(Conv2D, BitserialFamilyLayers) {
  // W2A2 signed / ternary go to lut.
  SweepUnsignedActLayers(
      {{1, kBipolar}, {1, kSigned}, {1, kUnsigned}, {2, kSigned}, {2, kTernary}, {2, kUnsigned}},
      {1, 2}, {3, 32, 65}, 4, 5, 11,
      [](WeightKind w, int abits) { return w.bits * abits > 2 && w.enc != kUnsigned; },
      [](int abits) { return abits == 1 ? 2 : 8; });
}

// Two layers of a packing family in a row hand over packed activations (the first writes its
// codes packed along channels, the second reads them in place; interpreter.cc links them): the
// chain must equal two reference convolutions, at channel counts that end inside a packing unit
// and inside a 64-channel block, on every ISA. `binary` picks 1-bit weights (bitserial family,
// 1- and 2-bit activations), else 2-bit ones (lut family, 1-4-bit activations).
void TestPackedChain(bool binary) {
  for (int mid_bits : {1, 2, 3, 4}) {
    if (binary && mid_bits > 2) continue;
    for (int mid_c : {5, 64, 70}) {
      SCOPED_TRACE("binary=" + std::to_string(binary) + " mid_bits=" + std::to_string(mid_bits) +
                   " mid_c=" + std::to_string(mid_c));
      std::mt19937 rng(mid_bits * 100 + mid_c);
      ref::Conv2D d1;
      d1.n = 2, d1.c = 13, d1.h = 6, d1.w = 5, d1.cout = mid_c, d1.kh = d1.kw = 3;
      d1.pad_top = d1.pad_left = d1.pad_bottom = d1.pad_right = 1;
      ref::Conv2D d2;
      d2.n = 2, d2.c = mid_c, d2.h = 6, d2.w = 5, d2.cout = 9, d2.kh = d2.kw = 3;
      d2.stride_h = d2.stride_w = 2, d2.pad_top = d2.pad_left = 1;
      const int abits = binary ? 1 : 2, wbits = binary ? 1 : 2;
      const int wenc1 = binary ? kBipolar : kSigned, wenc2 = binary ? kBipolar : kTernary;
      const ActSpec a = RandomAct(rng, abits, kUnsigned);
      const ActSpec m = RandomAct(rng, mid_bits, kUnsigned);
      const ActSpec o = RandomAct(rng, 4, kUnsigned);
      const std::vector<int32_t> x = RandomCodes(rng, (size_t)2 * 13 * 6 * 5, 0, (1 << abits) - 1);
      std::vector<int32_t> w1 = RandomCodes(rng, (size_t)mid_c * 13 * 9, -2, 1);
      std::vector<int32_t> w2 = RandomCodes(rng, (size_t)9 * mid_c * 9, -1, 1);
      if (binary) {
        for (auto& v : w1) v = v < 0 ? -1 : 1;
        for (auto& v : w2) v = v < 0 ? -1 : 1;
      }
      std::vector<int32_t> zw1(mid_c, 0), zw2(9, 0);
      std::vector<float> mul1(mid_c), add1(mid_c), mul2(9), add2(9);
      const int32_t mhi = (1 << mid_bits) - 1;
      for (int i = 0; i < mid_c; i++) {
        mul1[i] =
            (float)mhi / (float)(6 * 13 * 3) * std::uniform_real_distribution<float>(1, 3)(rng);
        add1[i] = std::uniform_real_distribution<float>(-1, (float)mhi)(rng);
      }
      for (int i = 0; i < 9; i++) {
        mul2[i] =
            15.0f / (float)(3 * mid_c * mhi) * std::uniform_real_distribution<float>(1, 3)(rng);
        add2[i] = std::uniform_real_distribution<float>(-2, 15)(rng);
      }
      ModelBuilder mb;
      const int32_t xt = mb.AddQuant("x", {2, 13, 6, 5}, abits, kUnsigned, a.scale, a.zero_point);
      const int32_t w1t = mb.AddWeights("w1", {mid_c, 13, 3, 3}, wbits, wenc1, {0.1f}, {0}, w1);
      const int32_t m1t = mb.AddFloatConst("mul1", mul1), a1t = mb.AddFloatConst("add1", add1);
      const int32_t mt =
          mb.AddQuant("mid", {2, mid_c, 6, 5}, mid_bits, kUnsigned, m.scale, m.zero_point);
      const int32_t w2t = mb.AddWeights("w2", {9, mid_c, 3, 3}, wbits, wenc2, {0.1f}, {0}, w2);
      const int32_t m2t = mb.AddFloatConst("mul2", mul2), a2t = mb.AddFloatConst("add2", add2);
      const int32_t yt =
          mb.AddQuant("y", {2, 9, d2.OutH(), d2.OutW()}, 4, kUnsigned, o.scale, o.zero_point);
      OpSpec& c1 = mb.AddOp(kConv, "conv1", {xt, w1t, m1t, a1t}, {mt});
      c1.kernel_h = c1.kernel_w = 3, c1.pad_top = c1.pad_left = c1.pad_bottom = c1.pad_right = 1;
      OpSpec& c2 = mb.AddOp(kConv, "conv2", {mt, w2t, m2t, a2t}, {yt});
      c2.kernel_h = c2.kernel_w = 3, c2.stride_h = c2.stride_w = 2, c2.pad_top = c2.pad_left = 1;
      mb.inputs = {xt};
      mb.outputs = {yt};
      ref::Output out1;
      out1.zero_point = m.zero_point, out1.qmin = 0, out1.qmax = mhi;
      std::vector<int32_t> mid((size_t)2 * mid_c * 6 * 5),
          want((size_t)2 * 9 * d2.OutH() * d2.OutW());
      std::vector<float> f1(mid.size()), f2(want.size());
      ref::Conv(d1, x.data(), a.zero_point, w1.data(), zw1.data(), mul1.data(), add1.data(), out1,
                mid.data(), f1.data());
      ref::Output out2;
      out2.zero_point = o.zero_point, out2.qmin = 0, out2.qmax = 15;
      ref::Conv(d2, mid.data(), m.zero_point, w2.data(), zw2.data(), mul2.data(), add2.data(), out2,
                want.data(), f2.data());
      std::string got, error;
      ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
      const std::vector<int32_t> g = BytesToCodes(got, true);
      ASSERT_EQ(g, want);
    }
  }
}

TEST(Conv2D, LutChainPackedActivations) { TestPackedChain(false); }
TEST(Conv2D, BitserialChainPackedActivations) { TestPackedChain(true); }

TEST(Conv2D, BipolarAndTernaryWeights) {
  ConvTester()
      .input(2, 4, 5, 5)
      .output_channels(6)
      .kernel(3, 3)
      .weight_bits(1)
      .weight_encoding(kBipolar)
      .per_channel_zero_points(false)
      .Test();
  ConvTester()
      .input(2, 4, 5, 5)
      .output_channels(6)
      .kernel(3, 3)
      .weight_bits(2)
      .weight_encoding(kTernary)
      .per_channel_zero_points(false)
      .Test();
}

TEST(Conv2D, EdgeFills) {
  for (Fill f : {Fill::kMax, Fill::kMin}) {
    for (int bits : {1, 2, 3, 8}) {
      ConvTester()
          .input(1, 3, 4, 4)
          .output_channels(4)
          .kernel(3, 3)
          .pads(1, 0, 2, 1)
          .weight_bits(bits)
          .fill(f)
          .Test();
      ConvTester()
          .input(1, 3, 4, 4)
          .output_channels(4)
          .kernel(1, 1)
          .weight_bits(bits)
          .act_encoding(kSigned)
          .fill(f)
          .Test();
    }
  }
}

TEST(Conv2D, StrideDilationPaddingGroups) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 150; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int groups = r(0, 3) == 0 ? r(2, 3) : 1;
    const int kh = r(1, 4), kw = r(1, 4), dh = r(1, 2), dw = r(1, 2);
    ConvTester t;
    t.input(r(1, 2), groups * r(1, 5), r(1, 9), r(1, 9))
        .output_channels(groups * r(1, 5))
        .kernel(kh, kw)
        .stride(r(1, 3), r(1, 3))
        .dilation(dh, dw)
        .pads(r(0, 2), r(0, 2), r(0, 2), r(0, 2))
        .groups(groups)
        .weight_bits(r(1, 8))
        .weight_encoding(r(0, 1))
        .act_bits(r(1, 8))
        .act_encoding(r(0, 1))
        .out_bits(r(1, 8))
        .out_encoding(r(0, 1))
        .per_channel_zero_points(r(0, 1))
        .float_output(r(0, 5) == 0)
        .seed(1000 + trial);
    if (!t.fits()) continue;  // the dilated kernel does not fit the padded input
    t.Test();
    if (testing::Test::HasFatalFailure()) return;
  }
}

TEST(Conv2D, Depthwise) {
  for (int bits : {2, 4, 8}) {
    for (int stride : {1, 2}) {
      ConvTester()
          .input(1, 8, 9, 9)
          .output_channels(8)
          .groups(8)
          .kernel(3, 3)
          .stride(stride, stride)
          .pads(1, 1, 1, 1)
          .weight_bits(bits)
          .Test();
      ConvTester()
          .input(2, 6, 7, 7)
          .output_channels(12)
          .groups(6)
          .kernel(5, 5)
          .pads(2, 2, 2, 2)
          .weight_bits(bits)
          .seed(stride)
          .Test();
    }
  }
}

TEST(Conv2D, PointwiseGoesStraightToGemm) {
  for (int c : {1, 7, 16, 33}) {
    ConvTester().input(2, c, 5, 3).output_channels(9).kernel(1, 1).weight_bits(2).Test();
    ConvTester()
        .input(1, c, 4, 4)
        .output_channels(5)
        .kernel(1, 1)
        .weight_bits(3)
        .float_output(true)
        .Test();
  }
}

TEST(Conv2D, ClampAndFloatOutput) {
  ConvTester().input(1, 4, 6, 6).output_channels(4).kernel(3, 3).clamp(10, 200).Test();
  ConvTester()
      .input(1, 4, 6, 6)
      .output_channels(4)
      .kernel(3, 3)
      .out_encoding(kSigned)
      .clamp(0, 127)
      .Test();
  ConvTester().input(1, 4, 6, 6).output_channels(4).kernel(3, 3).float_output(true).Test();
}

TEST(FullyConnected, ShapesAndBits) {
  for (int k : {1, 3, 7, 8, 9, 31, 64, 100}) {
    for (int bits : {1, 2, 3, 4, 5, 6, 7, 8}) {
      ConvTester()
          .fully_connected(true)
          .input(3, k, 1, 1)
          .output_channels(5)
          .weight_bits(bits)
          .weight_encoding(bits % 2)
          .act_encoding((bits / 2) % 2)
          .seed(k * 10 + bits)
          .Test();
    }
  }
  ConvTester()
      .fully_connected(true)
      .input(4, 20, 1, 1)
      .output_channels(10)
      .float_output(true)
      .Test();
  ConvTester().fully_connected(true).input(2, 16, 1, 1).output_channels(3).fill(Fill::kMax).Test();
}

// ------------------------------------------------------------------------------------ pools
struct PoolCase {
  ref::Pool2D d;
  bool average = false;
  ActSpec in, out;
  Fill fill = Fill::kRandom;
};

void TestPool(const PoolCase& pc, uint32_t seed) {
  std::mt19937 rng(seed);
  int32_t ilo, ihi, olo, ohi;
  CodeRange(pc.in.encoding, pc.in.bits, &ilo, &ihi);
  CodeRange(pc.out.encoding, pc.out.bits, &olo, &ohi);
  const ref::Pool2D& d = pc.d;
  std::vector<int32_t> x = FillCodes(rng, (size_t)d.n * d.c * d.h * d.w, ilo, ihi, pc.fill);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", {d.n, d.c, d.h, d.w}, pc.in.bits, pc.in.encoding, pc.in.scale,
                                 pc.in.zero_point);
  const int32_t yt = mb.AddQuant("y", {d.n, d.c, d.OutH(), d.OutW()}, pc.out.bits, pc.out.encoding,
                                 pc.out.scale, pc.out.zero_point);
  OpSpec& op = mb.AddOp(pc.average ? 6 : 5, "pool", {xt}, {yt});
  op.kernel_h = d.kh, op.kernel_w = d.kw, op.stride_h = d.stride_h, op.stride_w = d.stride_w;
  op.dilation_h = d.dilation_h, op.dilation_w = d.dilation_w, op.pad_top = d.pad_top;
  op.pad_left = d.pad_left, op.pad_bottom = d.pad_bottom, op.pad_right = d.pad_right;
  op.ceil_mode = d.ceil_mode, op.count_include_pad = d.count_include_pad;
  mb.inputs = {xt};
  mb.outputs = {yt};
  ref::Output out;
  out.zero_point = pc.out.zero_point, out.qmin = olo, out.qmax = ohi;
  std::vector<int32_t> want((size_t)d.n * d.c * d.OutH() * d.OutW());
  const float m = ref::ElementwiseMultiplier(pc.in.scale, pc.out.scale);
  if (pc.average) {
    ref::AveragePool(d, x.data(), pc.in.zero_point, m, out, want.data());
  } else {
    ref::MaxPool(d, x.data(), pc.in.zero_point, m, out, want.data());
  }
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  ASSERT_EQ(BytesToCodes(got, pc.out.encoding == kUnsigned), want);
}

TEST(Pool2D, RandomShapesCeilModeAndPadding) {
  std::mt19937 rng(11);
  auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int tested = 0;
  for (int trial = 0; tested < 200 && trial < 1000; trial++) {
    PoolCase pc;
    pc.average = trial % 2;
    pc.d.n = r(1, 2), pc.d.c = r(1, 6), pc.d.h = r(1, 9), pc.d.w = r(1, 9);
    pc.d.kh = r(1, 4), pc.d.kw = r(1, 4), pc.d.stride_h = r(1, 3), pc.d.stride_w = r(1, 3);
    pc.d.dilation_h = pc.average ? 1 : r(1, 2), pc.d.dilation_w = pc.average ? 1 : r(1, 2);
    pc.d.pad_top = r(0, pc.d.kh - 1), pc.d.pad_left = r(0, pc.d.kw - 1);
    pc.d.pad_bottom = r(0, pc.d.kh - 1), pc.d.pad_right = r(0, pc.d.kw - 1);
    pc.d.ceil_mode = r(0, 1), pc.d.count_include_pad = r(0, 1);
    if (pc.d.h + pc.d.pad_top + pc.d.pad_bottom < pc.d.dilation_h * (pc.d.kh - 1) + 1) continue;
    if (pc.d.w + pc.d.pad_left + pc.d.pad_right < pc.d.dilation_w * (pc.d.kw - 1) + 1) continue;
    if (pc.d.OutH() < 1 || pc.d.OutW() < 1) continue;
    pc.in = RandomAct(rng, r(1, 8), r(0, 1));
    pc.out = rng() % 2 ? pc.in : RandomAct(rng, r(1, 8), r(0, 1));
    pc.fill = trial % 7 == 0 ? Fill::kMax : trial % 11 == 0 ? Fill::kMin : Fill::kRandom;
    SCOPED_TRACE("trial " + std::to_string(trial));
    TestPool(pc, (uint32_t)trial);
    if (testing::Test::HasFatalFailure()) return;
    tested++;
  }
  EXPECT_EQ(tested, 200);
}

// GLOBAL_AVERAGE_POOL of random codes against the reference.
void TestGlobalAveragePool(int n, int c, int h, int w, const ActSpec& in, const ActSpec& out,
                           std::mt19937& rng) {
  int32_t ilo, ihi, olo, ohi;
  CodeRange(in.encoding, in.bits, &ilo, &ihi);
  CodeRange(out.encoding, out.bits, &olo, &ohi);
  std::vector<int32_t> x = RandomCodes(rng, (size_t)n * c * h * w, ilo, ihi);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", {n, c, h, w}, in.bits, in.encoding, in.scale, in.zero_point);
  const int32_t yt =
      mb.AddQuant("y", {n, c, 1, 1}, out.bits, out.encoding, out.scale, out.zero_point);
  mb.AddOp(kGAP, "gap", {xt}, {yt}).no_options = true;
  mb.inputs = {xt};
  mb.outputs = {yt};
  ref::Output o;
  o.zero_point = out.zero_point, o.qmin = olo, o.qmax = ohi;
  std::vector<int32_t> want((size_t)n * c);
  ref::GlobalAveragePool(n, c, h * w, x.data(), in.zero_point,
                         ref::ElementwiseMultiplier(in.scale, out.scale), o, want.data());
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  ASSERT_EQ(BytesToCodes(got, out.encoding == kUnsigned), want);
}

TEST(GlobalAveragePool, ShapesAndBits) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 40; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const int n = r(1, 3), c = r(1, 20), h = r(1, 9), w = r(1, 9);
    const ActSpec in = RandomAct(rng, r(1, 8), r(0, 1)), out = RandomAct(rng, r(1, 8), r(0, 1));
    SCOPED_TRACE("trial " + std::to_string(trial));
    TestGlobalAveragePool(n, c, h, w, in, out, rng);
    if (testing::Test::HasFatalFailure()) return;
  }
}

// Channels enough to split over the workers (RunModel also runs 3 threads), two images.
TEST(GlobalAveragePool, SplitOverThreads) {
  std::mt19937 rng(6);
  TestGlobalAveragePool(2, 1000, 17, 19, ActSpec{8, kUnsigned, 0.05f, 128},
                        ActSpec{8, kSigned, 0.02f, 3}, rng);
}

// ------------------------------------------------------------------------------------ element-wise
TEST(Quantize, MatchesReferenceIncludingTiesAndNaN) {
  std::mt19937 rng(3);
  for (int bits = 1; bits <= 8; bits++) {
    for (int enc : {kSigned, kUnsigned}) {
      const ActSpec o = RandomAct(rng, bits, enc);
      int32_t lo, hi;
      CodeRange(enc, bits, &lo, &hi);
      std::vector<float> x(257);
      for (size_t i = 0; i < x.size(); i++) {
        x[i] = std::uniform_real_distribution<float>(-3, 3)(rng) * o.scale * (float)(1 << bits);
      }
      // Exact ties: (k + 0.5) * scale rounds to even.
      for (int k = -4; k < 4; k++) x[k + 4] = ((float)k + 0.5f) * o.scale;
      x[10] = __builtin_nanf("");
      x[11] = __builtin_inff();
      x[12] = -__builtin_inff();
      ModelBuilder mb;
      const int32_t xt = mb.AddFloat("x", {1, (int32_t)x.size()});
      const int32_t yt = mb.AddQuant("y", {1, (int32_t)x.size()}, bits, enc, o.scale, o.zero_point);
      mb.AddOp(kQuantize, "q", {xt}, {yt});
      mb.inputs = {xt};
      mb.outputs = {yt};
      ref::Output out;
      out.zero_point = o.zero_point, out.qmin = lo, out.qmax = hi;
      std::vector<int32_t> want(x.size());
      ref::Quantize((int)x.size(), x.data(), o.scale, out, want.data());
      std::string in((const char*)x.data(), x.size() * 4), got, error;
      ASSERT_TRUE(RunModel(mb.Finish(), {}, in, &got, &error)) << error;
      ASSERT_EQ(BytesToCodes(got, enc == kUnsigned), want) << "bits " << bits << " enc " << enc;
    }
  }
}

TEST(Dequantize, MatchesReference) {
  std::mt19937 rng(4);
  for (int bits = 1; bits <= 8; bits++) {
    for (int enc : {kSigned, kUnsigned}) {
      const ActSpec a = RandomAct(rng, bits, enc);
      int32_t lo, hi;
      CodeRange(enc, bits, &lo, &hi);
      std::vector<int32_t> x = RandomCodes(rng, 2 * 3 * 4 * 5, lo, hi);
      ModelBuilder mb;
      const int32_t xt = mb.AddQuant("x", {2, 3, 4, 5}, bits, enc, a.scale, a.zero_point);
      const int32_t yt = mb.AddFloat("y", {2, 3, 4, 5});
      mb.AddOp(kDequantize, "dq", {xt}, {yt});
      mb.inputs = {xt};
      mb.outputs = {yt};
      std::vector<float> want(x.size());
      ref::Dequantize((int)x.size(), x.data(), a.zero_point, a.scale, want.data());
      std::string got, error;
      ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
      ASSERT_EQ(BytesToFloats(got), want);
    }
  }
}

TEST(Add, MatchesReference) {
  std::mt19937 rng(6);
  for (int trial = 0; trial < 60; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const ActSpec a = RandomAct(rng, r(1, 8), r(0, 1)), b = RandomAct(rng, r(1, 8), r(0, 1));
    const ActSpec o = RandomAct(rng, r(1, 8), r(0, 1));
    int32_t alo, ahi, blo, bhi, olo, ohi;
    CodeRange(a.encoding, a.bits, &alo, &ahi);
    CodeRange(b.encoding, b.bits, &blo, &bhi);
    CodeRange(o.encoding, o.bits, &olo, &ohi);
    const std::vector<int32_t> shape{r(1, 2), r(1, 8), r(1, 5), r(1, 5)};
    const size_t n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
    const Fill f = trial == 0 ? Fill::kMax : trial == 1 ? Fill::kMin : Fill::kRandom;
    std::vector<int32_t> xa = FillCodes(rng, n, alo, ahi, f), xb = FillCodes(rng, n, blo, bhi, f);
    ModelBuilder mb;
    const int32_t at = mb.AddQuant("a", shape, a.bits, a.encoding, a.scale, a.zero_point);
    const int32_t bt = mb.AddQuant("b", shape, b.bits, b.encoding, b.scale, b.zero_point);
    const int32_t ct = mb.AddQuant("bb", shape, b.bits, b.encoding, b.scale, b.zero_point);
    const int32_t yt = mb.AddQuant("y", shape, o.bits, o.encoding, o.scale, o.zero_point);
    // b comes from a through a requantize so that one model input feeds both operands: check a
    // second model input path too by computing b = requantize(a).
    (void)bt;
    mb.AddOp(kRequantize, "rq", {at}, {ct});
    // Version 2 subtracts (ONNX Sub): the reference's b multiplier negated.
    const int version = 1 + trial % 2;
    mb.AddOp(kAdd, "add", {at, ct}, {yt}).version = version;
    mb.inputs = {at};
    mb.outputs = {yt};
    ref::Output bo;
    bo.zero_point = b.zero_point, bo.qmin = blo, bo.qmax = bhi;
    std::vector<int32_t> xbb(n);
    ref::Requantize((int)n, xa.data(), a.zero_point, ref::ElementwiseMultiplier(a.scale, b.scale),
                    bo, xbb.data());
    ref::Output out;
    out.zero_point = o.zero_point, out.qmin = olo, out.qmax = ohi;
    std::vector<int32_t> want(n);
    ref::Add((int)n, xa.data(), a.zero_point, ref::ElementwiseMultiplier(a.scale, o.scale),
             xbb.data(), b.zero_point,
             (version == 2 ? -1.f : 1.f) * ref::ElementwiseMultiplier(b.scale, o.scale), out,
             want.data());
    std::string got, error;
    ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(xa), &got, &error)) << error;
    ASSERT_EQ(BytesToCodes(got, o.encoding == kUnsigned), want)
        << "trial " << trial << " version " << version;
    (void)xb;
  }
}

// Flatten of [N, C, H, W] with H, W > 1 must give ONNX's (NCHW) element order although the
// runtime keeps 4-D tensors NHWC inside.
TEST(Reshape, FlattenKeepsLogicalOrder) {
  // The last shape is large enough to split over the workers (RunModel also runs 3 threads).
  for (auto shape : {std::vector<int32_t>{2, 3, 4, 5}, std::vector<int32_t>{1, 1, 3, 3},
                     std::vector<int32_t>{3, 7, 1, 1}, std::vector<int32_t>{2, 64, 40, 40}}) {
    const int n = shape[0], k = shape[1] * shape[2] * shape[3];
    std::vector<int32_t> x(n * k);
    for (size_t i = 0; i < x.size(); i++) x[i] = (int32_t)(i % 250);
    ModelBuilder mb;
    const int32_t xt = mb.AddQuant("x", shape, 8, kUnsigned, 0.1f, 3);
    const int32_t yt = mb.AddQuant("y", {-1, k}, 8, kUnsigned, 0.1f, 3);
    mb.tensors[xt].shape[0] = -1;
    mb.AddOp(kReshape, "flatten", {xt}, {yt});
    mb.inputs = {xt};
    mb.outputs = {yt};
    std::string got, error;
    ASSERT_TRUE(RunModel(mb.Finish(), shape, CodesToBytes(x), &got, &error)) << error;
    ASSERT_EQ(BytesToCodes(got, true), x);
  }
}

TEST(Reshape, RequantizesAndUnflattens) {
  std::mt19937 rng(9);
  const std::vector<int32_t> in_shape{2, 60}, out_shape{2, 3, 4, 5};
  std::vector<int32_t> x = RandomCodes(rng, 120, -8, 7);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", in_shape, 4, kSigned, 0.3f, -1);
  const int32_t yt = mb.AddQuant("y", out_shape, 8, kUnsigned, 0.1f, 128);
  mb.AddOp(kReshape, "reshape", {xt}, {yt});
  mb.inputs = {xt};
  mb.outputs = {yt};
  ref::Output out;
  out.zero_point = 128, out.qmin = 0, out.qmax = 255;
  std::vector<int32_t> want(120);
  ref::Requantize(120, x.data(), -1, ref::ElementwiseMultiplier(0.3f, 0.1f), out, want.data());
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  ASSERT_EQ(BytesToCodes(got, true), want);
}

TEST(Concat, AlongEveryAxisWithRequantization) {
  std::mt19937 rng(12);
  // The second shape is large enough that each input's scatter splits over the workers (RunModel
  // also runs 3 threads).
  for (int big = 0; big < 2; big++) {
    for (int axis = 0; axis < 4; axis++) {
      std::vector<int32_t> sa = big ? std::vector<int32_t>{1, 32, 64, 64}
                                    : std::vector<int32_t>{2, 3, 4, 5},
                           sb = sa;
      const int n = sa[0] * sa[1] * sa[2] * sa[3];
      sb[axis] = 2;
      const ActSpec a = RandomAct(rng, 8, kUnsigned), o = RandomAct(rng, 8, kUnsigned);
      std::vector<int32_t> xa = RandomCodes(rng, (size_t)n, 0, 255);
      // b = requantize(a sliced)? Simpler: b is a max pool of a with a window that shrinks
      // `axis` only when axis is spatial; use a second requantized copy of a along batch / channel.
      ModelBuilder mb;
      const int32_t at = mb.AddQuant("a", sa, 8, kUnsigned, a.scale, a.zero_point);
      const int32_t bt = mb.AddQuant("b", sa, 6, kSigned, 0.07f, 1);
      std::vector<int32_t> so = sa;
      so[axis] *= 2;
      const int32_t yt = mb.AddQuant("y", so, 8, kUnsigned, o.scale, o.zero_point);
      mb.AddOp(kRequantize, "rq", {at}, {bt});
      mb.AddOp(kConcat, "concat", {at, bt}, {yt}).axis = axis;
      mb.inputs = {at};
      mb.outputs = {yt};
      ref::Output bo;
      bo.zero_point = 1, bo.qmin = -32, bo.qmax = 31;
      std::vector<int32_t> xb((size_t)n);
      ref::Requantize(n, xa.data(), a.zero_point, ref::ElementwiseMultiplier(a.scale, 0.07f), bo,
                      xb.data());
      ref::Output out;
      out.zero_point = o.zero_point, out.qmin = 0, out.qmax = 255;
      std::vector<int32_t> ya((size_t)n), yb((size_t)n);
      ref::Requantize(n, xa.data(), a.zero_point, ref::ElementwiseMultiplier(a.scale, o.scale), out,
                      ya.data());
      ref::Requantize(n, xb.data(), 1, ref::ElementwiseMultiplier(0.07f, o.scale), out, yb.data());
      // Logical concatenation.
      std::vector<int32_t> want(2 * (size_t)n);
      int64_t outer = 1, inner = 1;
      for (int d = 0; d < axis; d++) outer *= sa[d];
      for (int d = axis; d < 4; d++) inner *= sa[d];
      for (int64_t i = 0; i < outer; i++) {
        std::copy(ya.begin() + i * inner, ya.begin() + (i + 1) * inner,
                  want.begin() + 2 * i * inner);
        std::copy(yb.begin() + i * inner, yb.begin() + (i + 1) * inner,
                  want.begin() + (2 * i + 1) * inner);
      }
      std::string got, error;
      ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(xa), &got, &error)) << error;
      ASSERT_EQ(BytesToCodes(got, true), want) << "axis " << axis;
      (void)sb;
    }
  }
}

TEST(Requantize, ClampAndBits) {
  std::mt19937 rng(13);
  for (int trial = 0; trial < 50; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const ActSpec a = RandomAct(rng, r(1, 8), r(0, 1)), o = RandomAct(rng, r(1, 8), r(0, 1));
    int32_t alo, ahi, olo, ohi;
    CodeRange(a.encoding, a.bits, &alo, &ahi);
    CodeRange(o.encoding, o.bits, &olo, &ohi);
    std::vector<int32_t> x = RandomCodes(rng, 64, alo, ahi);
    ModelBuilder mb;
    const int32_t xt = mb.AddQuant("x", {4, 16}, a.bits, a.encoding, a.scale, a.zero_point);
    const int32_t yt = mb.AddQuant("y", {4, 16}, o.bits, o.encoding, o.scale, o.zero_point);
    OpSpec& op = mb.AddOp(kRequantize, "relu", {xt}, {yt});
    ref::Output out;
    out.zero_point = o.zero_point, out.qmin = olo, out.qmax = ohi;
    if (trial % 2) {  // a fused ReLU: clamp at the zero point
      op.has_clamp = true;
      op.clamp_qmin = std::max(olo, o.zero_point), op.clamp_qmax = ohi;
      out.qmin = op.clamp_qmin;
    }
    mb.inputs = {xt};
    mb.outputs = {yt};
    std::vector<int32_t> want(64);
    ref::Requantize(64, x.data(), a.zero_point, ref::ElementwiseMultiplier(a.scale, o.scale), out,
                    want.data());
    std::string got, error;
    ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
    ASSERT_EQ(BytesToCodes(got, o.encoding == kUnsigned), want) << "trial " << trial;
  }
}

// ------------------------------------------------------------------------------------ resize
struct ResizeCase {
  ref::Resize2D d;
  ActSpec in, out;
};

void TestResize(const ResizeCase& rc, uint32_t seed) {
  std::mt19937 rng(seed);
  const ref::Resize2D& d = rc.d;
  int32_t ilo, ihi, olo, ohi;
  CodeRange(rc.in.encoding, rc.in.bits, &ilo, &ihi);
  CodeRange(rc.out.encoding, rc.out.bits, &olo, &ohi);
  std::vector<int32_t> x = RandomCodes(rng, (size_t)d.n * d.c * d.h * d.w, ilo, ihi);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", {d.n, d.c, d.h, d.w}, rc.in.bits, rc.in.encoding, rc.in.scale,
                                 rc.in.zero_point);
  const int32_t yt = mb.AddQuant("y", {d.n, d.c, d.oh, d.ow}, rc.out.bits, rc.out.encoding,
                                 rc.out.scale, rc.out.zero_point);
  OpSpec& op = mb.AddOp(kResize, "resize", {xt}, {yt});
  op.resize_mode = d.linear ? 1 : 0;
  op.resize_coordinates = d.coordinates;
  op.resize_nearest = d.nearest;
  op.scale_h = d.scale_h;
  op.scale_w = d.scale_w;
  mb.inputs = {xt};
  mb.outputs = {yt};
  ref::Output out;
  out.zero_point = rc.out.zero_point, out.qmin = olo, out.qmax = ohi;
  std::vector<int32_t> want((size_t)d.n * d.c * d.oh * d.ow);
  ref::Resize(d, x.data(), rc.in.zero_point, rc.in.scale, rc.out.scale, out, want.data());
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  ASSERT_EQ(BytesToCodes(got, rc.out.encoding == kUnsigned), want);
}

// Shapes: integer up / down scales (from scales: floor(in * scale)), fractional ones given as
// sizes (scale = out / in), one-pixel inputs and outputs, several channels and images.
void ResizeShapes(bool linear, uint32_t seed) {
  std::mt19937 rng(seed);
  struct Shape {
    int n, c, h, w, oh, ow;
    float sh, sw;
  };
  const Shape shapes[] = {
      {1, 3, 4, 5, 8, 10, 2.f, 2.f},        {2, 5, 6, 6, 3, 3, 0.5f, 0.5f},
      {1, 4, 5, 7, 8, 4, 8.f / 5, 4.f / 7}, {1, 2, 1, 1, 3, 4, 3.f, 4.f},
      {1, 17, 6, 5, 1, 1, 1.f / 6, 0.2f},   {3, 1, 3, 3, 7, 5, 7.f / 3, 5.f / 3},
      {1, 2, 4, 4, 4, 9, 1.f, 2.25f}};
  int trial = 0;
  for (int coord = 0; coord < 4; coord++) {
    for (int nearest = 0; nearest < (linear ? 1 : 4); nearest++) {
      for (const Shape& s : shapes) {
        ResizeCase rc;
        rc.d.n = s.n, rc.d.c = s.c, rc.d.h = s.h, rc.d.w = s.w, rc.d.oh = s.oh, rc.d.ow = s.ow;
        rc.d.linear = linear;
        rc.d.coordinates = coord;
        rc.d.nearest = nearest;
        rc.d.scale_h = s.sh, rc.d.scale_w = s.sw;
        auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
        rc.in = RandomAct(rng, r(2, 8), r(0, 1));
        // Every other case keeps the input's parameters (nearest: a copy of the codes).
        rc.out = trial % 2 ? RandomAct(rng, r(2, 8), r(0, 1)) : rc.in;
        SCOPED_TRACE(testing::Message()
                     << "coord " << coord << " nearest " << nearest << " " << s.h << "x" << s.w
                     << " -> " << s.oh << "x" << s.ow << " trial " << trial);
        TestResize(rc, seed + trial++);
      }
    }
  }
}

TEST(Resize, NearestEveryModeMatchesReference) { ResizeShapes(false, 100); }

TEST(Resize, BilinearEveryTransformMatchesReference) { ResizeShapes(true, 200); }

// ONNX's own examples, by hand: nearest x2 (asymmetric, floor) repeats each pixel; bilinear
// half_pixel 2x2 -> 4x4 of [[1, 2], [3, 4]] gives [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5],
// [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]] (codes at scale 0.25: four times those).
TEST(Resize, OnnxExamples) {
  for (int linear = 0; linear < 2; linear++) {
    ModelBuilder mb;
    const int32_t xt = mb.AddQuant("x", {1, 1, 2, 2}, 8, kUnsigned, 1.f, 0);
    const int32_t yt = mb.AddQuant("y", {1, 1, 4, 4}, 8, kUnsigned, linear ? 0.25f : 1.f, 0);
    OpSpec& op = mb.AddOp(kResize, "resize", {xt}, {yt});
    op.resize_mode = linear;
    op.resize_coordinates = linear ? 0 : 1;
    op.resize_nearest = linear ? 0 : 2;
    op.scale_h = op.scale_w = 2.f;
    mb.inputs = {xt};
    mb.outputs = {yt};
    std::string got, error;
    ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes({1, 2, 3, 4}), &got, &error)) << error;
    const std::vector<int32_t> want =
        linear ? std::vector<int32_t>{4, 5, 7, 8, 6, 7, 9, 10, 10, 11, 13, 14, 12, 13, 15, 16}
               : std::vector<int32_t>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    EXPECT_EQ(BytesToCodes(got, true), want) << (linear ? "bilinear" : "nearest");
  }
}

// ------------------------------------------------------------------------------------ slice
// Output element i (per logical axis d) is input element starts[d] + i_d * steps[d], requantized
// E(float(q - zx) * M), computed here by a plain loop over NCHW indices. `declared_x` /
// `declared_y` may carry -1 for a dynamic batch, `x_shape` is the shape actually fed.
void TestSlice(const std::vector<int32_t>& x_shape, const std::vector<int32_t>& y_shape,
               const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
               const ActSpec& in, const ActSpec& o, uint32_t seed, bool dynamic_batch = false) {
  std::mt19937 rng(seed);
  int32_t ilo, ihi, olo, ohi;
  CodeRange(in.encoding, in.bits, &ilo, &ihi);
  CodeRange(o.encoding, o.bits, &olo, &ohi);
  const int xn = x_shape[0], xc = x_shape[1], xh = x_shape[2], xw = x_shape[3];
  const int yn = y_shape[0], yc = y_shape[1], yh = y_shape[2], yw = y_shape[3];
  std::vector<int32_t> x = RandomCodes(rng, (size_t)xn * xc * xh * xw, ilo, ihi);
  ModelBuilder mb;
  std::vector<int32_t> dx = x_shape, dy = y_shape;
  if (dynamic_batch) dx[0] = dy[0] = -1;
  const int32_t xt = mb.AddQuant("x", dx, in.bits, in.encoding, in.scale, in.zero_point);
  const int32_t yt = mb.AddQuant("y", dy, o.bits, o.encoding, o.scale, o.zero_point);
  OpSpec& op = mb.AddOp(kSlice, "slice", {xt}, {yt});
  op.slice_starts = starts;
  op.slice_steps = steps;
  mb.inputs = {xt};
  mb.outputs = {yt};
  // The gathered codes, by hand.
  std::vector<int32_t> gathered;
  for (int n = 0; n < yn; n++) {
    for (int c = 0; c < yc; c++) {
      for (int h = 0; h < yh; h++) {
        for (int w = 0; w < yw; w++) {
          const int64_t sn = starts[0] + n * steps[0], sc = starts[1] + c * steps[1];
          const int64_t sh = starts[2] + h * steps[2], sw = starts[3] + w * steps[3];
          ASSERT_TRUE(sn >= 0 && sn < xn && sc >= 0 && sc < xc && sh >= 0 && sh < xh && sw >= 0 &&
                      sw < xw);
          gathered.push_back(x[(size_t)(((sn * xc + sc) * xh + sh) * xw + sw)]);
        }
      }
    }
  }
  ref::Output out;
  out.zero_point = o.zero_point, out.qmin = olo, out.qmax = ohi;
  std::vector<int32_t> want(gathered.size());
  ref::Requantize((int)gathered.size(), gathered.data(), in.zero_point,
                  ref::ElementwiseMultiplier(in.scale, o.scale), out, want.data());
  const bool same = in.bits == o.bits && in.encoding == o.encoding && in.scale == o.scale &&
                    in.zero_point == o.zero_point;
  if (same) {
    ASSERT_EQ(want, gathered) << "equal parameters must keep the codes";
  }
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), dynamic_batch ? x_shape : std::vector<int32_t>{},
                       CodesToBytes(x), &got, &error))
      << error;
  ASSERT_EQ(BytesToCodes(got, o.encoding == kUnsigned), want);
}

// ONNX Split along channels: three SLICEs of [1, 7, 5, 6] at channels [0, 2), [2, 5), [5, 7).
TEST(Slice, ChannelSplit) {
  const ActSpec a{8, kUnsigned, 0.05f, 128};
  const int64_t bounds[] = {0, 2, 5, 7};
  for (int k = 0; k < 3; k++) {
    SCOPED_TRACE(testing::Message() << "part " << k);
    TestSlice({1, 7, 5, 6}, {1, (int)(bounds[k + 1] - bounds[k]), 5, 6}, {0, bounds[k], 0, 0},
              {1, 1, 1, 1}, a, a, 300 + k);
  }
  // One channel of many (a strided gather on NHWC), and the last channel.
  TestSlice({1, 16, 3, 3}, {1, 1, 3, 3}, {0, 15, 0, 0}, {1, 1, 1, 1}, a, a, 310);
}

// Outputs large enough that the gather splits over the workers (RunModel also runs 3 threads).
TEST(Slice, SplitOverThreads) {
  const ActSpec a{8, kUnsigned, 0.05f, 128}, o{4, kSigned, 0.3f, 0};
  TestSlice({2, 64, 48, 48}, {2, 58, 48, 48}, {0, 3, 0, 0}, {1, 1, 1, 1}, a, a, 340);
  TestSlice({2, 64, 48, 48}, {2, 64, 24, 24}, {0, 0, 1, 0}, {1, 1, 2, 2}, a, o, 341);
}

// Spatial slices: steps 2 (ONNX Slice x[:, :, 1::2, ::2]), a negative step (a reversed W), a
// window in the middle, channels reversed with step -2.
TEST(Slice, SpatialStepsAndNegativeSteps) {
  std::mt19937 rng(320);
  for (int bits = 1; bits <= 8; bits++) {
    for (int enc = 0; enc < 2; enc++) {
      const ActSpec a = RandomAct(rng, bits, enc);
      SCOPED_TRACE(testing::Message() << "bits " << bits << " encoding " << enc);
      TestSlice({1, 3, 8, 7}, {1, 3, 4, 4}, {0, 0, 1, 0}, {1, 1, 2, 2}, a, a, 321);
      TestSlice({1, 3, 8, 7}, {1, 3, 8, 7}, {0, 0, 0, 6}, {1, 1, 1, -1}, a, a, 322);
      TestSlice({1, 4, 9, 9}, {1, 4, 3, 2}, {0, 0, 7, 5}, {1, 1, -3, -4}, a, a, 323);
      TestSlice({1, 5, 4, 4}, {1, 3, 2, 3}, {0, 4, 1, 1}, {1, -2, 1, 1}, a, a, 324);
    }
  }
}

// A full copy (one contiguous run: no gather table), a batch slice (contiguous at an offset) and
// a single element.
TEST(Slice, ContiguousCopies) {
  const ActSpec a{4, kSigned, 0.1f, 0};
  TestSlice({2, 3, 4, 5}, {2, 3, 4, 5}, {0, 0, 0, 0}, {1, 1, 1, 1}, a, a, 330);
  TestSlice({3, 3, 4, 5}, {1, 3, 4, 5}, {2, 0, 0, 0}, {1, 1, 1, 1}, a, a, 331);
  TestSlice({1, 3, 4, 5}, {1, 3, 2, 5}, {0, 0, 1, 0}, {1, 1, 1, 1}, a, a, 332);
  TestSlice({1, 3, 4, 5}, {1, 1, 1, 1}, {0, 2, 3, 4}, {1, 1, 1, 1}, a, a, 333);
}

// Batch 2, static and dynamic (-1 declared, fed 2 and 3), every axis sliced.
TEST(Slice, Batch) {
  const ActSpec a{8, kSigned, 0.02f, -3};
  TestSlice({2, 6, 5, 5}, {2, 3, 2, 5}, {0, 1, 3, 0}, {1, 2, -2, 1}, a, a, 340);
  TestSlice({2, 6, 5, 5}, {1, 3, 2, 5}, {1, 1, 3, 0}, {1, 2, -2, 1}, a, a, 341);
  TestSlice({2, 6, 5, 5}, {2, 3, 2, 5}, {0, 1, 3, 0}, {1, 2, -2, 1}, a, a, 342, true);
  TestSlice({3, 6, 5, 5}, {3, 6, 5, 5}, {0, 0, 0, 0}, {1, 1, 1, 1}, a, a, 343, true);
}

// Different output scale / zero point / bits / encoding: each code requantized, bit-exact to the
// formula; on the gather path and on the contiguous path.
TEST(Slice, Requantizes) {
  std::mt19937 rng(350);
  for (int trial = 0; trial < 40; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const ActSpec a = RandomAct(rng, r(1, 8), r(0, 1)), o = RandomAct(rng, r(1, 8), r(0, 1));
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    if (trial % 2) {
      TestSlice({2, 5, 6, 7}, {2, 2, 3, 3}, {0, 3, 5, 1}, {1, 1, -2, 2}, a, o, 351 + trial);
    } else {
      TestSlice({2, 5, 6, 7}, {1, 5, 6, 7}, {1, 0, 0, 0}, {1, 1, 1, 1}, a, o, 351 + trial);
    }
  }
}

// Other ranks are stored in their logical order: a rank-2 slice with a negative step.
TEST(Slice, Rank2) {
  std::mt19937 rng(360);
  std::vector<int32_t> x = RandomCodes(rng, 6 * 10, 0, 255);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", {6, 10}, 8, kUnsigned, 0.1f, 100);
  const int32_t yt = mb.AddQuant("y", {2, 4}, 8, kUnsigned, 0.1f, 100);
  OpSpec& op = mb.AddOp(kSlice, "slice", {xt}, {yt});
  op.slice_starts = {1, 9};
  op.slice_steps = {3, -2};
  mb.inputs = {xt};
  mb.outputs = {yt};
  std::vector<int32_t> want;
  for (int i = 0; i < 2; i++) {
    for (int j = 0; j < 4; j++) want.push_back(x[(size_t)((1 + 3 * i) * 10 + 9 - 2 * j)]);
  }
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  ASSERT_EQ(BytesToCodes(got, true), want);
}

// ------------------------------------------------------------------------------------ softmax
// QUANTIZE's E(v / s_out) of schema/README.md, literally (NaN gives z clamped to [lo, hi]).
int32_t QuantizeByHand(float v, float s_out, int32_t z, int32_t lo, int32_t hi) {
  float y = v / s_out;
  if (y != y) return std::min(std::max(z, lo), hi);
  if (y < (float)(lo - z)) y = (float)(lo - z);
  if (y > (float)(hi - z)) y = (float)(hi - z);
  return (int32_t)std::nearbyint(y) + z;
}

// Logical (row-major) strides of a shape.
std::vector<int64_t> LogicalStrides(const std::vector<int32_t>& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

// Calls f(first logical index, logical stride, length) for every vector along `axis`.
template <typename F>
void ForEachVector(const std::vector<int32_t>& s, size_t axis, F&& f) {
  const std::vector<int64_t> st = LogicalStrides(s);
  int64_t total = 1;
  for (int32_t d : s) total *= d;
  for (int64_t i = 0; i < total; i++) {
    if ((i / st[axis]) % s[axis] == 0) f(i, st[axis], (int64_t)s[axis]);
  }
}

// Runs a model of several inputs (raw logical-order bytes each; `shapes[i]` non-empty resizes
// input i first) on the default path, on the scalar one and on the default path with 3 threads
// (ops that split their work over the workers: the bytes must not depend on the split); all must
// agree. Output 0's bytes.
bool RunInputs(const std::string& bytes, const std::vector<std::vector<int32_t>>& shapes,
               const std::vector<std::string>& inputs, std::string* output, std::string* error) {
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  if (!m) {
    *error = crumb_last_error();
    return false;
  }
  bool ok = true;
  const struct {
    crumb_isa isa;
    int threads;
    const char* name;
  } runs[] = {{CRUMB_ISA_AUTO, 1, "default"},
              {CRUMB_ISA_SCALAR, 1, "scalar"},
              {CRUMB_ISA_AUTO, 3, "3-thread"}};
  for (const auto& run : runs) {
    crumb_options* options = crumb_options_create();
    crumb_options_set_isa(options, run.isa);
    crumb_options_set_num_threads(options, run.threads);
    crumb_interpreter* it = crumb_interpreter_create(m, options);
    crumb_options_delete(options);
    if (!it) {
      *error = crumb_last_error();
      crumb_model_delete(m);
      return false;
    }
    for (size_t i = 0; ok && i < shapes.size(); i++) {
      if (shapes[i].empty()) continue;
      ok = crumb_interpreter_resize_input(it, (int32_t)i, shapes[i].data(),
                                          (int32_t)shapes[i].size()) == CRUMB_OK;
    }
    ok = ok && crumb_interpreter_allocate(it) == CRUMB_OK;
    for (size_t i = 0; ok && i < inputs.size(); i++) {
      ok = crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, (int32_t)i), inputs[i].data(),
                                         inputs[i].size()) == CRUMB_OK;
    }
    ok = ok && crumb_interpreter_invoke(it) == CRUMB_OK;
    std::string got;
    if (ok) {
      const crumb_tensor* out = crumb_interpreter_output(it, 0);
      got.assign(crumb_tensor_byte_size(out), '\0');
      ok = crumb_tensor_copy_to_buffer(out, &got[0], got.size()) == CRUMB_OK;
    }
    if (!ok) *error = crumb_interpreter_last_error(it);
    crumb_interpreter_delete(it);
    if (!ok) break;
    if (&run == runs) {
      *output = got;
    } else if (got != *output) {
      *error = std::string("the ") + run.name + " run's output differs from the default path's";
      ok = false;
    }
  }
  crumb_model_delete(m);
  return ok;
}

// Runs the one-input model `mb` on codes `x` and expects output codes `want`. Returns how many
// distinct codes `want` holds (the tests check that they are not trivial).
size_t ExpectCodes(const ModelBuilder& mb, const std::vector<int32_t>& x, std::vector<int32_t> want,
                   bool unsigned_out) {
  std::string got, error;
  EXPECT_TRUE(RunModel(mb.Finish(), {}, CodesToBytes(x), &got, &error)) << error;
  EXPECT_EQ(BytesToCodes(got, unsigned_out), want);
  std::sort(want.begin(), want.end());
  return (size_t)(std::unique(want.begin(), want.end()) - want.begin());
}

// SOFTMAX along logical `axis` by the README's row: m = largest code, e_i = exp_table[m - q_i],
// s = sum in float in index order, y_i = e_i / s, E(y_i / s_out).
// Returns how many distinct output codes it expected (tests check that they are not trivial).
size_t TestSoftmax(const std::vector<int32_t>& shape, int axis, const ActSpec& in, const ActSpec& o,
                   uint32_t seed) {
  std::mt19937 rng(seed);
  int32_t ilo, ihi, olo, ohi;
  CodeRange(in.encoding, in.bits, &ilo, &ihi);
  CodeRange(o.encoding, o.bits, &olo, &ohi);
  size_t n = 1;
  for (int32_t d : shape) n *= (size_t)d;
  const std::vector<int32_t> x = RandomCodes(rng, n, ilo, ihi);
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", shape, in.bits, in.encoding, in.scale, in.zero_point);
  const int32_t yt = mb.AddQuant("y", shape, o.bits, o.encoding, o.scale, o.zero_point);
  mb.AddSoftmax("softmax", xt, yt, axis);
  mb.inputs = {xt};
  mb.outputs = {yt};
  float table[256];
  for (int d = 0; d < 256; d++) table[d] = expf((float)-d * in.scale);
  std::vector<int32_t> want(n, 0);
  ForEachVector(shape, (size_t)axis, [&](int64_t first, int64_t stride, int64_t len) {
    int32_t m = x[(size_t)first];
    for (int64_t i = 0; i < len; i++) m = std::max(m, x[(size_t)(first + i * stride)]);
    float s = 0.f;
    for (int64_t i = 0; i < len; i++) s += table[m - x[(size_t)(first + i * stride)]];
    for (int64_t i = 0; i < len; i++) {
      const float e = table[m - x[(size_t)(first + i * stride)]];
      want[(size_t)(first + i * stride)] = QuantizeByHand(e / s, o.scale, o.zero_point, olo, ohi);
    }
  });
  return ExpectCodes(mb, x, want, o.encoding == kUnsigned);
}

// Attention scores [B, T, T] over the last axis at every input width and encoding; outputs
// 8-bit unsigned 1/256 (the usual) and signed with zero point -128.
TEST(Softmax, Rank3LastAxisEveryWidth) {
  uint32_t seed = 400;
  for (int bits : {2, 4, 8}) {
    for (int enc : {kSigned, kUnsigned}) {
      for (int out_signed = 0; out_signed < 2; out_signed++) {
        SCOPED_TRACE(testing::Message()
                     << bits << " bits, encoding " << enc << ", out signed " << out_signed);
        std::mt19937 rng(seed);
        ActSpec in = RandomAct(rng, bits, enc);
        in.scale = bits == 2 ? 0.7f : in.scale * 4.f;
        const ActSpec o = out_signed ? ActSpec{8, kSigned, 1.f / 256.f, -128}
                                     : ActSpec{8, kUnsigned, 1.f / 256.f, 0};
        EXPECT_GT(TestSoftmax({2, 5, 17}, 2, in, o, seed++), 2u);
      }
    }
  }
}

// Rank 4 is stored NHWC: axis 1 (channels) is contiguous, axes 3, 2 and 0 are strided.
TEST(Softmax, Rank4EveryAxis) {
  const ActSpec in{8, kSigned, 0.08f, 3};
  const ActSpec o{8, kUnsigned, 1.f / 255.f, 0};
  for (int axis = 0; axis < 4; axis++) {
    SCOPED_TRACE(testing::Message() << "axis " << axis);
    EXPECT_GT(TestSoftmax({2, 6, 3, 4}, axis, in, o, 420 + axis), 5u);
  }
  // One channel: the layout is logical.
  TestSoftmax({2, 1, 3, 5}, 3, ActSpec{4, kUnsigned, 0.3f, 2}, o, 430);
}

// A vector of one element is 1 (code round(1 / s_out), clamped).
TEST(Softmax, OneElementVectors) {
  const ActSpec in{8, kSigned, 0.1f, 0};
  TestSoftmax({3, 1}, 1, in, ActSpec{8, kUnsigned, 1.f / 256.f, 0}, 440);
  TestSoftmax({4, 1, 2}, 1, in, ActSpec{8, kUnsigned, 1.f / 200.f, 0}, 441);
  TestSoftmax({1, 7}, 0, in, ActSpec{4, kSigned, 0.1f, -3}, 442);
}

// Enough vectors that the op splits them over the workers (RunModel also runs 3 threads):
// contiguous and strided axes.
TEST(Softmax, SplitOverThreads) {
  const ActSpec in{8, kUnsigned, 0.05f, 128};
  const ActSpec o{8, kUnsigned, 1.f / 256.f, 0};
  EXPECT_GT(TestSoftmax({8, 128, 256}, 2, in, o, 450), 10u);
  EXPECT_GT(TestSoftmax({2, 64, 33, 32}, 2, in, o, 451), 10u);
}

// ------------------------------------------------------------------------------------ layer norm
// LAYER_NORM over the last axis by the README's row: d_i = q_i - zx, S1 and S2 in int64, mean and
// var in double, t_i in float, y_i = t_i * scale_i + bias_i in float, E(y_i / s_out).
// Returns how many distinct output codes it expected.
size_t TestLayerNorm(const std::vector<int32_t>& shape, bool with_bias, float eps,
                     const ActSpec& in, const ActSpec& o, uint32_t seed) {
  std::mt19937 rng(seed);
  int32_t ilo, ihi, olo, ohi;
  CodeRange(in.encoding, in.bits, &ilo, &ihi);
  CodeRange(o.encoding, o.bits, &olo, &ohi);
  size_t n = 1;
  for (int32_t d : shape) n *= (size_t)d;
  const int c = shape.back();
  const std::vector<int32_t> x = RandomCodes(rng, n, ilo, ihi);
  std::vector<float> scale(c), bias;
  for (int i = 0; i < c; i++) scale[i] = std::uniform_real_distribution<float>(0.5f, 1.5f)(rng);
  if (with_bias) {
    for (int i = 0; i < c; i++) bias.push_back(std::uniform_real_distribution<float>(-1, 1)(rng));
  }
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", shape, in.bits, in.encoding, in.scale, in.zero_point);
  const int32_t yt = mb.AddQuant("y", shape, o.bits, o.encoding, o.scale, o.zero_point);
  mb.AddLayerNorm("ln", xt, yt, scale, bias, eps);
  mb.inputs = {xt};
  mb.outputs = {yt};
  std::vector<int32_t> want(n, 0);
  const double sx = (double)in.scale;
  for (size_t v = 0; v < n / (size_t)c; v++) {
    const int32_t* q = x.data() + v * (size_t)c;
    int64_t s1 = 0, s2 = 0;
    for (int i = 0; i < c; i++) {
      const int64_t d = q[i] - in.zero_point;
      s1 += d;
      s2 += d * d;
    }
    const int64_t cc = c;
    const double mean = double(s1) / cc;
    const double var = double(s2 * cc - s1 * s1) / (double(cc) * cc) * sx * sx;
    const double inv = 1 / std::sqrt(var + double(eps));
    for (int i = 0; i < c; i++) {
      const float t = float((double(q[i] - in.zero_point) - mean) * sx * inv);
      const float y = with_bias ? t * scale[i] + bias[i] : t * scale[i];
      want[v * (size_t)c + (size_t)i] = QuantizeByHand(y, o.scale, o.zero_point, olo, ohi);
    }
  }
  return ExpectCodes(mb, x, want, o.encoding == kUnsigned);
}

TEST(LayerNorm, Rank3AndRank2WithAndWithoutBias) {
  uint32_t seed = 500;
  const ActSpec o{8, kSigned, 0.03f, 2};
  for (int bias = 0; bias < 2; bias++) {
    for (int bits : {2, 4, 8}) {
      for (int enc : {kSigned, kUnsigned}) {
        SCOPED_TRACE(testing::Message()
                     << "bias " << bias << ", " << bits << " bits, encoding " << enc);
        std::mt19937 rng(seed);
        const ActSpec in = RandomAct(rng, bits, enc);
        EXPECT_GT(TestLayerNorm({2, 3, 37}, bias, 1e-5f, in, o, seed++), 10u);
        EXPECT_GT(TestLayerNorm({5, 37}, bias, 1e-3f, in, ActSpec{4, kUnsigned, 0.4f, 7}, seed++),
                  3u);
      }
    }
  }
}

// C = 1: every t is 0 (mean = the value), y = bias (or 0).
TEST(LayerNorm, OneChannel) {
  const ActSpec in{8, kUnsigned, 0.1f, 128};
  const ActSpec o{8, kSigned, 0.02f, 0};
  TestLayerNorm({2, 3, 1}, true, 1e-5f, in, o, 520);
  TestLayerNorm({4, 1}, false, 1e-5f, in, o, 521);
}

// Rank 4: the last logical axis (W) is strided in NHWC storage.
TEST(LayerNorm, Rank4StridedLastAxis) {
  EXPECT_GT(TestLayerNorm({2, 3, 2, 5}, true, 1e-5f, ActSpec{8, kSigned, 0.05f, -4},
                          ActSpec{8, kSigned, 0.03f, 0}, 530),
            10u);
}

// Enough vectors to split over the workers, with a contiguous and a strided last axis.
TEST(LayerNorm, SplitOverThreads) {
  const ActSpec in{4, kUnsigned, 0.2f, 8}, o{8, kSigned, 0.03f, 0};
  EXPECT_GT(TestLayerNorm({8, 128, 256}, true, 1e-5f, in, o, 540), 10u);
  EXPECT_GT(TestLayerNorm({2, 64, 32, 33}, false, 1e-5f, in, o, 541), 10u);
}

// ------------------------------------------------------------------------------ batch matmul
constexpr int kBatchMatMulOp = 15, kTransposeOp = 16, kMulOp = 17;

// schema/README.md's E(y): clamp to [lo - z, hi - z] in float, round half to even, add z.
int32_t ReadmeE(float y, int32_t z, int32_t lo, int32_t hi) {
  float v = y;
  if (v < (float)(lo - z)) v = (float)(lo - z);
  if (v > (float)(hi - z)) v = (float)(hi - z);
  return (int32_t)std::nearbyint(v) + z;
}

// a [..., M, K] x b [..., K, N] (or b [K, N]) against a hand loop over logical indices:
// acc = sum_k (qa - za)(qb - zb) in int32, y = float(acc) * multiplier, E(y) or the float y.
// `o` null: a FLOAT32 output. `dynamic`: declared batch -1 (on a, b of the same rank and y),
// fed at `a_shape[0]`.
void TestBatchMatMul(const std::vector<int32_t>& a_shape, const std::vector<int32_t>& b_shape,
                     const ActSpec& a, const ActSpec& b, const ActSpec* o, uint32_t seed,
                     bool dynamic = false, Fill fill = Fill::kRandom) {
  std::mt19937 rng(seed);
  const size_t ra = a_shape.size(), rb = b_shape.size();
  const int M = a_shape[ra - 2], K = a_shape[ra - 1], N = b_shape[rb - 1];
  ASSERT_EQ(b_shape[rb - 2], K);
  size_t batches = 1;
  for (size_t d = 0; d + 2 < ra; d++) batches *= (size_t)a_shape[d];
  const bool shared = rb == 2 && ra != 2;
  int32_t alo, ahi, blo, bhi;
  CodeRange(a.encoding, a.bits, &alo, &ahi);
  CodeRange(b.encoding, b.bits, &blo, &bhi);
  const std::vector<int32_t> xa = FillCodes(rng, batches * M * K, alo, ahi, fill);
  const std::vector<int32_t> xb =
      FillCodes(rng, (shared || ra == 2 ? 1 : batches) * K * N, blo, bhi, fill);
  std::vector<int32_t> y_shape(a_shape.begin(), a_shape.end() - 1);
  y_shape.push_back(N);
  std::vector<int32_t> da = a_shape, db = b_shape, dy = y_shape;
  if (dynamic) {
    da[0] = dy[0] = -1;
    if (!shared) db[0] = -1;
  }
  const double so = o ? (double)o->scale : 1.0;
  const float mul = (float)((double)a.scale * (double)b.scale / so);
  ModelBuilder mb;
  const int32_t at = mb.AddQuant("a", da, a.bits, a.encoding, a.scale, a.zero_point);
  const int32_t bt = mb.AddQuant("b", db, b.bits, b.encoding, b.scale, b.zero_point);
  const int32_t yt = o ? mb.AddQuant("y", dy, o->bits, o->encoding, o->scale, o->zero_point)
                       : mb.AddFloat("y", dy);
  mb.AddOp(kBatchMatMulOp, "bmm", {at, bt}, {yt}).multiplier = mul;
  mb.inputs = {at, bt};
  mb.outputs = {yt};
  int32_t olo = 0, ohi = 0;
  if (o) CodeRange(o->encoding, o->bits, &olo, &ohi);
  std::vector<int32_t> want_q;
  std::vector<float> want_f;
  for (size_t t = 0; t < batches; t++) {
    const size_t tb = shared || ra == 2 ? 0 : t;
    for (int m = 0; m < M; m++) {
      for (int n = 0; n < N; n++) {
        int32_t acc = 0;
        for (int k = 0; k < K; k++) {
          acc +=
              (xa[(t * M + m) * K + k] - a.zero_point) * (xb[(tb * K + k) * N + n] - b.zero_point);
        }
        const float y = (float)acc * mul;
        if (o) {
          want_q.push_back(ReadmeE(y, o->zero_point, olo, ohi));
        } else {
          want_f.push_back(y);
        }
      }
    }
  }
  std::vector<std::vector<int32_t>> shapes;
  if (dynamic) shapes = {a_shape, shared ? std::vector<int32_t>{} : b_shape};
  std::string got, error;
  ASSERT_TRUE(RunInputs(mb.Finish(), shapes, {CodesToBytes(xa), CodesToBytes(xb)}, &got, &error))
      << error;
  if (o) {
    ASSERT_EQ(BytesToCodes(got, o->encoding == kUnsigned), want_q);
  } else {
    ASSERT_EQ(got.size(), want_f.size() * 4);
    ASSERT_EQ(memcmp(got.data(), want_f.data(), got.size()), 0) << "float outputs differ";
  }
}

// Q K^T and P V shapes: rank 3, requantized and float outputs, 2/4/8-bit signed and unsigned
// operands with zero points.
TEST(BatchMatMul, Rank3BitsAndEncodings) {
  std::mt19937 rng(500);
  for (int abits : {2, 4, 8}) {
    for (int bbits : {2, 4, 8}) {
      for (int enc = 0; enc < 4; enc++) {
        const ActSpec a = RandomAct(rng, abits, enc & 1), b = RandomAct(rng, bbits, enc >> 1);
        const ActSpec o = RandomAct(rng, 8, (abits + bbits + enc) & 1);
        SCOPED_TRACE(testing::Message() << "bits " << abits << "x" << bbits << " enc " << enc);
        TestBatchMatMul({2, 5, 7}, {2, 7, 3}, a, b, &o, 501 + enc);
        TestBatchMatMul({2, 5, 7}, {2, 7, 3}, a, b, nullptr, 511 + enc);
      }
    }
  }
}

// Rank 4 (stored NHWC inside: the leading dims are N and C, rows H, columns W), b of rank 2
// shared by every batch, rank 2 x rank 2, K = 1, a low-bit output and an output clamp.
TEST(BatchMatMul, ShapesAndLayouts) {
  const ActSpec a{8, kUnsigned, 0.03f, 120}, b{4, kSigned, 0.2f, -1}, o{8, kSigned, 0.1f, 3};
  TestBatchMatMul({1, 2, 4, 8}, {1, 2, 8, 4}, a, b, &o, 520);
  TestBatchMatMul({1, 2, 4, 8}, {1, 2, 8, 4}, a, b, nullptr, 521);
  TestBatchMatMul({2, 3, 5, 6}, {2, 3, 6, 1}, a, b, &o, 522);
  TestBatchMatMul({1, 1, 1, 8}, {1, 1, 8, 4}, a, b, &o, 523);
  TestBatchMatMul({2, 3, 4, 6}, {6, 5}, a, b, &o, 524);
  TestBatchMatMul({3, 5, 7}, {7, 2}, a, b, &o, 525);
  TestBatchMatMul({5, 7}, {7, 3}, a, b, &o, 526);
  TestBatchMatMul({2, 5, 1}, {2, 1, 3}, a, b, &o, 527);
  TestBatchMatMul({1, 2, 4, 1}, {1, 2, 1, 4}, a, b, nullptr, 528);
  const ActSpec o2{2, kUnsigned, 0.5f, 1};
  TestBatchMatMul({2, 5, 7}, {2, 7, 3}, a, b, &o2, 529);
}

// Saturation (every code at its maximum / minimum) and a dynamic batch (fed 3).
TEST(BatchMatMul, ExtremesAndDynamicBatch) {
  const ActSpec a{8, kSigned, 0.05f, -128 + 0}, b{8, kUnsigned, 0.07f, 0}, o{8, kSigned, 0.3f, 0};
  TestBatchMatMul({2, 4, 64}, {2, 64, 3}, a, b, &o, 530, false, Fill::kMax);
  TestBatchMatMul({2, 4, 64}, {2, 64, 3}, a, b, &o, 531, false, Fill::kMin);
  TestBatchMatMul({2, 4, 64}, {2, 64, 3}, a, b, nullptr, 532, false, Fill::kMax);
  TestBatchMatMul({3, 5, 7}, {3, 7, 3}, a, b, &o, 533, true);
  TestBatchMatMul({3, 2, 5, 7}, {7, 3}, a, b, &o, 534, true);
}

// Rows enough to split over the workers (RunInputs runs 3 threads): tasks start mid-batch and
// span batches, with b per batch and shared.
TEST(BatchMatMul, SplitOverThreads) {
  const ActSpec a{8, kUnsigned, 0.03f, 120}, b{4, kSigned, 0.2f, -1}, o{8, kSigned, 0.5f, 3};
  TestBatchMatMul({4, 127, 64}, {4, 64, 96}, a, b, &o, 540);
  TestBatchMatMul({4, 127, 64}, {64, 96}, a, b, &o, 541);
  TestBatchMatMul({3, 2, 61, 64}, {3, 2, 64, 80}, a, b, nullptr, 542);
}

// ------------------------------------------------------------------------------------------ mul
// a * b of two activations against a hand loop over logical indices: acc = (qa - za)(qb - zb) in
// int32, E(float(acc) * multiplier); b of a's shape, or [N, C, 1, 1] (one gate per image and
// channel). `dynamic`: batch declared -1 on every tensor, fed at a_shape[0].
void TestMul(const std::vector<int32_t>& a_shape, const std::vector<int32_t>& b_shape,
             const ActSpec& a, const ActSpec& b, const ActSpec& o, uint32_t seed,
             bool dynamic = false, Fill fill = Fill::kRandom) {
  std::mt19937 rng(seed);
  size_t na = 1, nb = 1;
  for (int32_t d : a_shape) na *= (size_t)d;
  for (int32_t d : b_shape) nb *= (size_t)d;
  int32_t alo, ahi, blo, bhi, olo, ohi;
  CodeRange(a.encoding, a.bits, &alo, &ahi);
  CodeRange(b.encoding, b.bits, &blo, &bhi);
  CodeRange(o.encoding, o.bits, &olo, &ohi);
  const std::vector<int32_t> xa = FillCodes(rng, na, alo, ahi, fill);
  const std::vector<int32_t> xb = FillCodes(rng, nb, blo, bhi, fill);
  std::vector<int32_t> da = a_shape, db = b_shape;
  if (dynamic) da[0] = db[0] = -1;
  const float mul = (float)((double)a.scale * (double)b.scale / (double)o.scale);
  ModelBuilder mb;
  const int32_t at = mb.AddQuant("a", da, a.bits, a.encoding, a.scale, a.zero_point);
  const int32_t bt = mb.AddQuant("b", db, b.bits, b.encoding, b.scale, b.zero_point);
  const int32_t yt = mb.AddQuant("y", da, o.bits, o.encoding, o.scale, o.zero_point);
  mb.AddOp(kMulOp, "mul", {at, bt}, {yt}).multiplier = mul;
  mb.inputs = {at, bt};
  mb.outputs = {yt};
  const bool gate = na != nb;
  // Logical NCHW: a's element i has image i / (C H W), channel i / (H W) % C.
  const size_t hw = gate ? (size_t)a_shape[2] * (size_t)a_shape[3] : 1;
  std::vector<int32_t> want(na);
  for (size_t i = 0; i < na; i++) {
    const size_t j = gate ? i / hw : i;
    const int32_t acc = (xa[i] - a.zero_point) * (xb[j] - b.zero_point);
    want[i] = ReadmeE((float)acc * mul, o.zero_point, olo, ohi);
  }
  std::vector<std::vector<int32_t>> shapes;
  if (dynamic) shapes = {a_shape, b_shape};
  std::string got, error;
  ASSERT_TRUE(RunInputs(mb.Finish(), shapes, {CodesToBytes(xa), CodesToBytes(xb)}, &got, &error))
      << error;
  ASSERT_EQ(BytesToCodes(got, o.encoding == kUnsigned), want);
}

// Squeeze-and-excitation gates [N, C, 1, 1] and same-shape products at 2 / 4 / 8 bits, signed and
// unsigned, with zero points; rank 2 and 3 (gated units).
TEST(Mul, GatesAndSameShapeBitsAndEncodings) {
  std::mt19937 rng(800);
  for (int abits : {2, 4, 8}) {
    for (int bbits : {2, 8}) {
      for (int enc = 0; enc < 4; enc++) {
        const ActSpec a = RandomAct(rng, abits, enc & 1), b = RandomAct(rng, bbits, enc >> 1);
        const ActSpec o = RandomAct(rng, 8, (abits + enc) & 1);
        SCOPED_TRACE(testing::Message() << "bits " << abits << "x" << bbits << " enc " << enc);
        TestMul({2, 5, 3, 4}, {2, 5, 1, 1}, a, b, o, 801 + enc);
        TestMul({2, 5, 3, 4}, {2, 5, 3, 4}, a, b, o, 811 + enc);
        TestMul({3, 7}, {3, 7}, a, b, o, 821 + enc);
        TestMul({2, 3, 9}, {2, 3, 9}, a, b, o, 831 + enc);
      }
    }
  }
}

// Saturation both ways, a low-bit output, one channel, one pixel, a dynamic batch, and maps large
// enough to split over the workers (RunInputs also runs 3 threads).
TEST(Mul, ExtremesShapesAndThreads) {
  const ActSpec a{8, kSigned, 0.05f, 0}, b{8, kUnsigned, 1.f / 256.f, 0}, o{8, kSigned, 0.04f, -1};
  TestMul({2, 4, 3, 3}, {2, 4, 1, 1}, a, b, o, 840, false, Fill::kMax);
  TestMul({2, 4, 3, 3}, {2, 4, 1, 1}, a, b, o, 841, false, Fill::kMin);
  TestMul({1, 6, 5, 5}, {1, 6, 1, 1}, a, b, ActSpec{2, kUnsigned, 0.5f, 1}, 842);
  TestMul({2, 1, 4, 4}, {2, 1, 1, 1}, a, b, o, 843);
  TestMul({2, 9, 1, 1}, {2, 9, 1, 1}, a, b, o, 844);
  TestMul({3, 8, 4, 5}, {3, 8, 1, 1}, a, b, o, 845, true);
  TestMul({2, 96, 40, 40}, {2, 96, 1, 1}, a, b, o, 846);
  TestMul({4, 300, 256}, {4, 300, 256}, a, b, o, 847);
}

// --------------------------------------------------------------------------------- transpose
// y's logical axis d is x's axis perm[d], each code E(float(q - zx) * M), against a hand loop
// over logical indices. `dynamic`: batch declared -1 (perm[0] = 0), fed at x_shape[0].
void TestTranspose(const std::vector<int32_t>& x_shape, const std::vector<int32_t>& perm,
                   const ActSpec& in, const ActSpec& o, uint32_t seed, bool dynamic = false) {
  std::mt19937 rng(seed);
  const size_t rank = x_shape.size();
  int32_t ilo, ihi, olo, ohi;
  CodeRange(in.encoding, in.bits, &ilo, &ihi);
  CodeRange(o.encoding, o.bits, &olo, &ohi);
  size_t count = 1;
  for (int32_t d : x_shape) count *= (size_t)d;
  const std::vector<int32_t> x = RandomCodes(rng, count, ilo, ihi);
  std::vector<int32_t> y_shape(rank);
  for (size_t d = 0; d < rank; d++) y_shape[d] = x_shape[(size_t)perm[d]];
  std::vector<int32_t> dx = x_shape, dy = y_shape;
  if (dynamic) dx[0] = dy[0] = -1;
  ModelBuilder mb;
  const int32_t xt = mb.AddQuant("x", dx, in.bits, in.encoding, in.scale, in.zero_point);
  const int32_t yt = mb.AddQuant("y", dy, o.bits, o.encoding, o.scale, o.zero_point);
  mb.AddOp(kTransposeOp, "transpose", {xt}, {yt}).perm = perm;
  mb.inputs = {xt};
  mb.outputs = {yt};
  // Logical strides of x; walk y's indices in logical order.
  std::vector<size_t> xs(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) xs[d] = xs[d + 1] * (size_t)x_shape[d + 1];
  std::vector<int32_t> gathered;
  std::vector<int32_t> idx(rank, 0);
  for (size_t i = 0; i < count; i++) {
    size_t src = 0;
    for (size_t d = 0; d < rank; d++) src += (size_t)idx[d] * xs[(size_t)perm[d]];
    gathered.push_back(x[src]);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < y_shape[d]) break;
      idx[d] = 0;
    }
  }
  const float mscale = (float)((double)in.scale / (double)o.scale);
  std::vector<int32_t> want(count);
  for (size_t i = 0; i < count; i++) {
    want[i] = ReadmeE((float)(gathered[i] - in.zero_point) * mscale, o.zero_point, olo, ohi);
  }
  const bool same = in.bits == o.bits && in.encoding == o.encoding && in.scale == o.scale &&
                    in.zero_point == o.zero_point;
  if (same) {
    ASSERT_EQ(want, gathered) << "equal parameters must keep the codes";
  }
  std::string got, error;
  ASSERT_TRUE(RunModel(mb.Finish(), dynamic ? x_shape : std::vector<int32_t>{}, CodesToBytes(x),
                       &got, &error))
      << error;
  ASSERT_EQ(BytesToCodes(got, o.encoding == kUnsigned), want);
}

// Attention's head split / merge ([0, 2, 1, 3]), NCHW <-> NHWC ([0, 2, 3, 1], [0, 3, 1, 2]),
// K^T ([0, 1, 3, 2]), rank 3 and 2, identity perms, every bit width, signed and unsigned.
TEST(Transpose, Perms) {
  std::mt19937 rng(600);
  for (int bits = 1; bits <= 8; bits++) {
    for (int enc = 0; enc < 2; enc++) {
      const ActSpec a = RandomAct(rng, bits, enc);
      SCOPED_TRACE(testing::Message() << "bits " << bits << " encoding " << enc);
      TestTranspose({2, 3, 4, 5}, {0, 2, 1, 3}, a, a, 601);
      TestTranspose({2, 3, 4, 5}, {0, 2, 3, 1}, a, a, 602);
      TestTranspose({2, 3, 4, 5}, {0, 3, 1, 2}, a, a, 603);
      TestTranspose({2, 3, 4, 5}, {0, 1, 3, 2}, a, a, 604);
      TestTranspose({2, 3, 4, 5}, {3, 2, 1, 0}, a, a, 605);
      TestTranspose({2, 3, 4, 5}, {0, 1, 2, 3}, a, a, 606);
      TestTranspose({1, 3, 1, 5}, {0, 2, 3, 1}, a, a, 607);
      TestTranspose({3, 5, 7}, {0, 2, 1}, a, a, 608);
      TestTranspose({3, 5, 7}, {2, 0, 1}, a, a, 609);
      TestTranspose({3, 5, 7}, {0, 1, 2}, a, a, 610);
      TestTranspose({6, 9}, {1, 0}, a, a, 611);
    }
  }
}

// Different output parameters: each code requantized; a dynamic batch.
TEST(Transpose, RequantizesAndDynamicBatch) {
  std::mt19937 rng(620);
  for (int trial = 0; trial < 30; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const ActSpec a = RandomAct(rng, r(1, 8), r(0, 1)), o = RandomAct(rng, r(1, 8), r(0, 1));
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    TestTranspose({2, 3, 4, 5}, {0, 2, 1, 3}, a, o, 621 + trial);
    TestTranspose({2, 3, 4, 5}, {0, 1, 2, 3}, a, o, 661 + trial);
    TestTranspose({4, 6}, {1, 0}, a, o, 701 + trial);
  }
  const ActSpec a{8, kSigned, 0.02f, -3};
  TestTranspose({3, 4, 5, 6}, {0, 3, 1, 2}, a, a, 740, true);
  TestTranspose({3, 4, 5}, {0, 2, 1}, a, a, 741, true);
}

// Outputs large enough that the gather splits over the workers (RunModel also runs 3 threads):
// NCHW -> NHWC, attention's [B, T, D] -> [B, D, T].
TEST(Transpose, SplitOverThreads) {
  const ActSpec a{8, kUnsigned, 0.05f, 128}, o{8, kSigned, 0.04f, -2};
  TestTranspose({2, 96, 40, 40}, {0, 2, 3, 1}, a, a, 750);
  TestTranspose({4, 300, 256}, {0, 2, 1}, a, o, 751);
}

}  // namespace
}  // namespace crumb_test
