// A REQUANTIZE after a convolution (code -> code: MobileNet's ReLU6 between two quantizers) runs
// inside the convolution, which applies the REQUANTIZE's table to the rows it has just written.
// The bytes must be those of the two ops run apart (forced here by a second reader of the
// tensor between them), for every kernel family, geometry (1x1 direct, 3x3, depthwise, 3-channel
// stems on the im2col path), thread count and ISA path.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "crumb/crumb.h"
#include "model_builder.h"
#include "test_util.h"

namespace crumb_test {
namespace {

enum { kOpConv = 2, kOpRequantize = 10 };

struct Case {
  int cin = 16, cout = 32, h = 9, w = 10, k = 3, stride = 1, groups = 1;
  int w_bits = 4, w_enc = kSigned, a_bits = 4;
  const char* family = "auto";
  std::string Str() const {
    std::ostringstream s;
    s << cin << "->" << cout << " k" << k << " s" << stride << " g" << groups << " W" << w_bits
      << "A" << a_bits << " " << family;
    return s.str();
  }
};

// x -> conv -> t1 -> REQUANTIZE (clamped like a ReLU6, another scale) -> t2 [-> REQUANTIZE -> t3].
std::string Build(const Case& c, bool second_reader) {
  std::mt19937 rng(11);
  ModelBuilder mb;
  const int32_t x = mb.AddQuant("x", {1, c.cin, c.h, c.w}, c.a_bits, kUnsigned, 0.1f, 1);
  int32_t lo, hi;
  CodeRange(c.w_enc, c.w_bits, &lo, &hi);
  const int kc = c.cin / c.groups;
  std::vector<int32_t> codes = RandomCodes(rng, (size_t)(c.cout * kc * c.k * c.k), lo, hi);
  if (c.w_enc == kBipolar) {
    for (auto& v : codes) v = v <= 0 ? -1 : 1;
  }
  const int32_t wt = mb.AddWeights("w", {c.cout, kc, c.k, c.k}, c.w_bits, c.w_enc,
                                   std::vector<float>((size_t)c.cout, 0.05f),
                                   std::vector<int32_t>((size_t)c.cout, 0), codes);
  std::vector<float> mul((size_t)c.cout), add((size_t)c.cout);
  for (int i = 0; i < c.cout; i++) {
    mul[(size_t)i] = std::uniform_real_distribution<float>(0.5f, 3.0f)(rng);
    add[(size_t)i] = std::uniform_real_distribution<float>(30.f, 200.f)(rng);
  }
  const int oh = (c.h + 2 * (c.k / 2) - c.k) / c.stride + 1;
  const int ow = (c.w + 2 * (c.k / 2) - c.k) / c.stride + 1;
  const int32_t t1 = mb.AddQuant("t1", {1, c.cout, oh, ow}, 8, kUnsigned, 0.05f, 3);
  OpSpec& conv = mb.AddOp(
      kOpConv, "conv", {x, wt, mb.AddFloatConst("mul", mul), mb.AddFloatConst("add", add)}, {t1});
  conv.kernel_h = conv.kernel_w = c.k;
  conv.stride_h = conv.stride_w = c.stride;
  conv.pad_top = conv.pad_bottom = conv.pad_left = conv.pad_right = c.k / 2;
  conv.groups = c.groups;
  const int32_t t2 = mb.AddQuant("t2", {1, c.cout, oh, ow}, 4, kUnsigned, 0.4f, 0);
  OpSpec& req = mb.AddOp(kOpRequantize, "relu6", {t1}, {t2});
  req.has_clamp = true;
  req.clamp_qmin = 0;
  req.clamp_qmax = 13;
  mb.inputs = {x};
  mb.outputs = {t2};
  if (second_reader) {
    const int32_t t3 = mb.AddQuant("t3", {1, c.cout, oh, ow}, 8, kUnsigned, 0.1f, 0);
    mb.AddOp(kOpRequantize, "other", {t1}, {t3});
    mb.outputs = {t2, t3};
  }
  return mb.Finish();
}

// RunWith; *kernel: op 1's (the REQUANTIZE's) kernel name.
bool RunOnce(const std::string& bytes, const std::string& input, crumb_isa isa, const char* family,
             int threads, std::string* out, std::string* kernel, std::string* error,
             bool* missing) {
  RunResult r;
  if (!RunWith(bytes, input, isa, family, threads, &r, error, missing)) return false;
  *out = r.output;
  *kernel = r.kernels.size() > 1 ? r.kernels[1] : "";
  return true;
}

TEST(FuseRequantize, SameBytesAsTheOpsApart) {
  std::vector<Case> cases;
  for (const char* f : {"scalar", "dot", "auto"}) {
    Case c;
    c.family = f;
    cases.push_back(c);  // 3x3 igemm
    c.k = 1;
    cases.push_back(c);  // 1x1 direct GEMM
    c.k = 7, c.stride = 2, c.cin = 3, c.h = 20, c.w = 21;
    cases.push_back(c);  // 3-channel stem: the im2col path
  }
  Case lut;
  lut.family = "lut", lut.w_bits = 2, lut.a_bits = 2;
  cases.push_back(lut);
  Case bs;
  bs.family = "bitserial", bs.w_bits = 1, bs.w_enc = kBipolar, bs.a_bits = 1;
  cases.push_back(bs);
  Case dw;
  dw.cin = dw.cout = dw.groups = 48, dw.family = "dwconv";
  cases.push_back(dw);
  std::mt19937 rng(3);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.Str());
    const std::string input =
        CodesToBytes(RandomCodes(rng, (size_t)(c.cin * c.h * c.w), 0, (1 << c.a_bits) - 1));
    std::string want, got, kernel, error;
    bool missing = false;
    ASSERT_TRUE(RunOnce(Build(c, true), input, CRUMB_ISA_SCALAR, c.family, 1, &want, &kernel,
                        &error, &missing))
        << error;
    EXPECT_EQ(kernel.find("fused"), std::string::npos) << kernel;
    const std::string fused = Build(c, false);
    for (crumb_isa isa :
         {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON, CRUMB_ISA_NEONDOT}) {
      for (int threads : {1, 3}) {
        if (!RunOnce(fused, input, isa, c.family, threads, &got, &kernel, &error, &missing)) {
          if (missing) break;
          FAIL() << crumb_isa_name(isa) << ": " << error;
        }
        EXPECT_EQ(got, want) << crumb_isa_name(isa) << " threads " << threads;
        EXPECT_NE(kernel.find("fused"), std::string::npos) << kernel;
      }
    }
  }
}

}  // namespace
}  // namespace crumb_test
