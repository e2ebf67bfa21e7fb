// Spatial masks (schema/README.md "Spatial masks"): a convolution reading and / or writing a
// masked tensor skips masked output pixels and the taps on masked input pixels, and must give the
// bytes of the same convolution run unmasked on the masked input, with the output mask applied
// afterwards — on every kernel family that can run the layer and every ISA path of this CPU.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <random>
#include <sstream>

#include "crumb/crumb.h"
#include "model_builder.h"
#include "test_util.h"

namespace crumb_test {
namespace {

enum { kOpConv = 2, kOpRequantize = 10 };

struct Case {
  int cin = 16, cout = 24, h = 9, w = 11, batch = 2;
  int k = 3, stride = 1, dilation = 1, pad = 1;
  int w_bits = 4, w_enc = kSigned, a_bits = 4;
  int32_t za = 0;
  int in_mask = 1;   // 0: none, 1: random pixels, 2: 2x2 blocks, 3: all masked
  int out_mask = 0;  // 0: none, 1: random pixels
  const char* family = "auto";
  const char* avx512_says = "";  // the AVX-512 path's reason must hold this
  std::string Str() const {
    std::ostringstream s;
    s << cin << "->" << cout << " " << h << "x" << w << " n" << batch << " k" << k << " s" << stride
      << " d" << dilation << " p" << pad << " W" << w_bits << "A" << a_bits << " za" << za
      << " in_mask " << in_mask << " out_mask " << out_mask << " family " << family;
    return s.str();
  }
  int oh() const { return (h + 2 * pad - dilation * (k - 1) - 1) / stride + 1; }
  int ow() const { return (w + 2 * pad - dilation * (k - 1) - 1) / stride + 1; }
};

std::string Mask(std::mt19937& rng, int kind, int h, int w) {
  std::string m((size_t)(h * w), '\1');
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      bool off = false;
      if (kind == 1) off = rng() % 10 < 3;
      if (kind == 2) off = ((y / 2) * 7 + (x / 2) * 3) % 10 < 3;
      if (kind == 3) off = true;
      if (off) m[(size_t)(y * w + x)] = '\0';
    }
  }
  return m;
}

// x (graph input) -> identity REQUANTIZE -> xm [mask] -> CONV -> y [mask].
std::string Build(const Case& c, const std::string& in_mask, const std::string& out_mask,
                  uint32_t seed) {
  std::mt19937 rng(seed);
  ModelBuilder mb;
  const std::vector<int32_t> xs = {c.batch, c.cin, c.h, c.w};
  const int32_t x = mb.AddQuant("x", xs, c.a_bits, kUnsigned, 0.1f, c.za);
  const int32_t xm = mb.AddQuant("xm", xs, c.a_bits, kUnsigned, 0.1f, c.za);
  mb.tensors[(size_t)xm].spatial_mask = in_mask;
  mb.AddOp(kOpRequantize, "mask", {x}, {xm});
  int32_t lo, hi;
  CodeRange(c.w_enc, c.w_bits, &lo, &hi);
  std::vector<int32_t> codes = RandomCodes(rng, (size_t)(c.cout * c.cin * c.k * c.k), lo, hi);
  if (c.w_enc == kBipolar) {
    for (auto& v : codes) v = v <= 0 ? -1 : 1;
  }
  const int32_t wt = mb.AddWeights("w", {c.cout, c.cin, c.k, c.k}, c.w_bits, c.w_enc,
                                   std::vector<float>((size_t)c.cout, 0.05f),
                                   std::vector<int32_t>((size_t)c.cout, 0), codes);
  std::vector<float> mul((size_t)c.cout), add((size_t)c.cout);
  for (int i = 0; i < c.cout; i++) {
    mul[(size_t)i] = std::uniform_real_distribution<float>(0.5f, 4.0f)(rng);
    add[(size_t)i] = std::uniform_real_distribution<float>(60.f, 190.f)(rng);
  }
  const int32_t mt = mb.AddFloatConst("mul", mul);
  const int32_t at = mb.AddFloatConst("add", add);
  const int32_t y = mb.AddQuant("y", {c.batch, c.cout, c.oh(), c.ow()}, 8, kUnsigned, 0.1f, 5);
  mb.tensors[(size_t)y].spatial_mask = out_mask;
  OpSpec& op = mb.AddOp(kOpConv, "conv", {xm, wt, mt, at}, {y});
  op.kernel_h = op.kernel_w = c.k;
  op.stride_h = op.stride_w = c.stride;
  op.dilation_h = op.dilation_w = c.dilation;
  op.pad_top = op.pad_bottom = op.pad_left = op.pad_right = c.pad;
  mb.inputs = {x};
  mb.outputs = {y};
  return mb.Finish();
}

// RunWith, single-threaded; *reason: op 1's (the convolution's) family reason.
bool RunMasked(const std::string& bytes, const std::string& input, crumb_isa isa,
               const char* family, std::string* out, std::string* reason, std::string* error,
               bool* missing) {
  RunResult r;
  if (!RunWith(bytes, input, isa, family, 1, &r, error, missing)) return false;
  *out = r.output;
  *reason = r.reasons.size() > 1 ? r.reasons[1] : "";
  return true;
}

// Input bytes are logical NCHW codes.
void Check(const Case& c, uint32_t seed) {
  SCOPED_TRACE(c.Str());
  std::mt19937 rng(seed);
  const std::string in_mask = c.in_mask ? Mask(rng, c.in_mask, c.h, c.w) : std::string();
  const std::string out_mask = c.out_mask ? Mask(rng, c.out_mask, c.oh(), c.ow()) : std::string();
  const size_t hw = (size_t)(c.h * c.w), ohw = (size_t)(c.oh() * c.ow());
  std::string input =
      CodesToBytes(RandomCodes(rng, (size_t)(c.batch * c.cin) * hw, 0, (1 << c.a_bits) - 1));
  // The reference: the unmasked model on the masked input, the output mask applied after.
  std::string masked_input = input;
  if (!in_mask.empty()) {
    for (size_t i = 0; i < masked_input.size(); i++) {
      if (!in_mask[i % hw]) masked_input[i] = (char)c.za;
    }
  }
  const std::string masked = Build(c, in_mask, out_mask, seed);
  const std::string plain = Build(c, "", "", seed);
  std::string want, got, reason, error;
  bool missing = false;
  ASSERT_TRUE(
      RunMasked(plain, masked_input, CRUMB_ISA_SCALAR, "scalar", &want, &reason, &error, &missing))
      << error;
  if (!out_mask.empty()) {
    for (size_t i = 0; i < want.size(); i++) {
      if (!out_mask[i % ohw]) want[i] = 5;
    }
  }
  for (crumb_isa isa :
       {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON, CRUMB_ISA_NEONDOT}) {
    if (!RunMasked(masked, input, isa, c.family, &got, &reason, &error, &missing)) {
      if (missing) continue;
      FAIL() << crumb_isa_name(isa) << ": " << error;
    }
    EXPECT_EQ(got, want) << crumb_isa_name(isa) << " (" << reason << ")";
    if (isa == CRUMB_ISA_AVX512) {
      EXPECT_NE(reason.find(c.avx512_says), std::string::npos) << reason;
    }
    if (std::string(c.family) != "auto" && std::string(c.family) != "dwconv") {
      EXPECT_NE(reason.find("spatial mask"), std::string::npos) << reason;
      // Blocks of masked pixels leave whole taps out: less work than the unmasked layer.
      const size_t at = reason.find("spatial mask: ");
      if (c.in_mask == 2 && c.k == 3 && at != std::string::npos) {
        EXPECT_LT(atoi(reason.c_str() + at + 14), 100) << reason;
      }
    }
  }
}

TEST(SpatialMask, EveryFamilyEveryMaskKind) {
  uint32_t seed = 1;
  struct F {
    const char* family;
    int w_bits, w_enc, a_bits;
  };
  for (F f : {F{"scalar", 4, kSigned, 4}, F{"dot", 4, kSigned, 4}, F{"dot", 8, kSigned, 8},
              F{"lut", 2, kSigned, 4}, F{"lut", 2, kTernary, 2}, F{"bitserial", 1, kBipolar, 1},
              F{"bitserial", 2, kSigned, 2}}) {
    for (int in_mask : {0, 1, 2, 3}) {
      for (int out_mask : {0, 1}) {
        if (!in_mask && !out_mask) continue;
        for (int32_t za : {0, 1}) {
          Case c;
          c.family = f.family;
          c.w_bits = f.w_bits;
          c.w_enc = f.w_enc;
          c.a_bits = f.a_bits;
          c.in_mask = in_mask;
          c.out_mask = out_mask;
          c.za = za;
          Check(c, seed++);
        }
      }
    }
  }
}

TEST(SpatialMask, Geometries) {
  uint32_t seed = 100;
  struct G {
    int k, stride, dilation, pad, h, w;
  };
  for (G g :
       {G{1, 1, 1, 0, 7, 9}, G{1, 2, 1, 0, 8, 8}, G{3, 2, 1, 1, 12, 13}, G{3, 1, 2, 2, 10, 10},
        G{5, 1, 1, 2, 14, 11}, G{7, 2, 1, 3, 16, 16}, G{3, 1, 1, 0, 6, 6}, G{3, 1, 1, 1, 32, 32}}) {
    for (const char* family : {"scalar", "dot", "lut", "auto"}) {
      Case c;
      c.k = g.k, c.stride = g.stride, c.dilation = g.dilation, c.pad = g.pad, c.h = g.h, c.w = g.w;
      c.family = family;
      c.w_bits = std::string(family) == "lut" ? 2 : 4;
      c.in_mask = 1 + (int)(seed % 2);
      c.out_mask = (int)(seed % 3 == 0);
      c.za = (int32_t)(seed % 2);
      Check(c, seed++);
    }
  }
}

// Layers of 64 channels and more: where the kernel skips zero rows (AVX-512 VNNI, zero point 0)
// every pixel runs its own taps, sorted by them, over weights stored at 8 bits; elsewhere the tap
// sets. Channel counts with whole and partial super-blocks and a 16-channel short tail, 64 and 70
// outputs (a 4-row tile of 64 and a 16-channel block beside it), odd pixel counts (a last partial
// tile), random and block masks, signed and unsigned weights of 2, 3, 4 and 8 bits.
TEST(SpatialMask, WideLayers) {
  uint32_t seed = 300;
  for (int cin : {16, 40, 64}) {
    for (int cout : {64, 70}) {
      for (int in_mask : {1, 2}) {
        for (int32_t za : {0, 1}) {
          Case c;
          c.cin = cin, c.cout = cout, c.h = 7, c.w = 9, c.batch = 1;
          c.k = cin == 40 ? 5 : 3, c.pad = c.k / 2;
          c.family = seed / 2 % 2 ? "dot" : "auto";
          c.in_mask = in_mask;
          c.out_mask = (int)(seed % 3 == 0);
          c.za = za;
          const int widths[][2] = {{4, kSigned}, {2, kUnsigned}, {3, kSigned}, {8, kSigned}};
          c.w_bits = widths[seed / 4 % 4][0], c.w_enc = widths[seed / 4 % 4][1];
          if (std::string(c.family) == "dot" && za == 0) {
            c.avx512_says =
                c.w_bits < 8 ? "on their own taps, weights at 8 bits" : "on their own taps";
          }
          Check(c, seed++);
        }
      }
    }
  }
}

// A mask of nothing masked is a valid mask: every pixel computed as usual.
TEST(SpatialMask, AllOnesIsTheUnmaskedLayer) {
  Case c;
  c.family = "dot";
  c.in_mask = 0;
  c.out_mask = 0;
  std::mt19937 rng(5);
  const std::string ones((size_t)(c.h * c.w), '\1');
  const std::string a = Build(c, ones, "", 9), b = Build(c, "", "", 9);
  const std::string input =
      CodesToBytes(RandomCodes(rng, (size_t)(c.batch * c.cin * c.h * c.w), 0, 15));
  std::string ya, yb, reason, error;
  bool missing = false;
  ASSERT_TRUE(RunMasked(a, input, CRUMB_ISA_AUTO, "dot", &ya, &reason, &error, &missing)) << error;
  ASSERT_TRUE(RunMasked(b, input, CRUMB_ISA_AUTO, "dot", &yb, &reason, &error, &missing)) << error;
  EXPECT_EQ(ya, yb);
}

}  // namespace
}  // namespace crumb_test
