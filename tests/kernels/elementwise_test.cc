// The elementwise family: every kernel of kernels/elementwise/elementwise.inc that this CPU can
// run against the scalar kernel of its contract (kernels/scalar/scalar.inc), bit for bit: every n
// up to 200 and a few thousand, random and edge codes, floats with NaN / +-inf / huge values /
// exact ties, u8 and s8 codes, wide and narrow (4-bit, 2-bit) output ranges, zero points outside
// the range, float outputs, max pooling with NULL taps. Inputs end at an inaccessible page (an
// over-read faults); outputs have guard bytes on both sides.
#include <gtest/gtest.h>
#include <string.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "tests/kernels/dot_tester.h"  // FencedBytes
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {
namespace {

constexpr size_t kGuard = 64;
constexpr uint8_t kGuardByte = 0xA5;

struct EwKernel {
  const char* name;
  const char* kind;
  KernelIsa isa;
  crumb_x8lut_ukernel_fn* x8lut = nullptr;
  crumb_quantize_ukernel_fn* quantize = nullptr;
  crumb_vadd_ukernel_fn* vadd = nullptr;
  crumb_vmul_ukernel_fn* vmul = nullptr;
  crumb_maxpool_ukernel_fn* maxpool = nullptr;
  crumb_requantize_ukernel_fn* requantize = nullptr;
};

// gtest prints a failing parameter: the kernel's name, not its bytes.
void PrintTo(const EwKernel& k, std::ostream* os) { *os << k.name; }

std::vector<EwKernel> Kernels(const char* kind) {
  std::vector<EwKernel> v;
#define CRUMB_ELEMENTWISE_UKERNEL(k, fn, isa_tag) \
  {                                               \
    EwKernel e{#fn, #k, KernelIsa::isa_tag};      \
    e.k = fn;                                     \
    if (strcmp(#k, kind) == 0) v.push_back(e);    \
  }
#include "kernels/elementwise/elementwise.inc"
  return v;
}

bool CanRun(KernelIsa isa) {
#if defined(__ARM_NEON) && !defined(__aarch64__)
  if (isa == KernelIsa::NEON) return true;  // the test binary itself is built for NEON
#endif
  return KernelIsaSupported(isa);
}

std::string KernelName(const testing::TestParamInfo<EwKernel>& info) {
  const char* n = strstr(info.param.name, "_ukernel_");
  std::string s = n ? n + 9 : info.param.name;
  for (char& ch : s)
    if (!isalnum((unsigned char)ch)) ch = '_';
  return s;
}

// An output buffer of `bytes` with kGuard guard bytes on each side.
struct Guarded {
  std::vector<uint8_t> buf;
  explicit Guarded(size_t bytes) : buf(bytes + 2 * kGuard, kGuardByte) {}
  uint8_t* data() { return buf.data() + kGuard; }
};

void ExpectSame(const Guarded& want, const Guarded& got, size_t elem_bytes) {
  ASSERT_EQ(want.buf.size(), got.buf.size());
  for (size_t i = 0; i < got.buf.size(); i++) {
    if (want.buf[i] != got.buf[i]) {
      if (i < kGuard || i >= got.buf.size() - kGuard) {
        FAIL() << "guard byte " << i << " overwritten";
      }
      const size_t e = (i - kGuard) / elem_bytes;
      FAIL() << "element " << e << " (byte " << i - kGuard << "): scalar 0x" << std::hex
             << (int)want.buf[i] << ", kernel 0x" << (int)got.buf[i];
    }
  }
}

// Output parameter sets: u8 / s8 over wide and narrow ranges, zero points inside and outside
// them, and float outputs.
std::vector<crumb_output_params> Outputs() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<crumb_output_params> v;
  auto q = [&](uint32_t type, int32_t z, int32_t lo, int32_t hi) {
    crumb_output_params p{};
    p.type = type, p.zero_point = z, p.qmin = lo, p.qmax = hi, p.fmin = -2.0f, p.fmax = 2.0f;
    v.push_back(p);
  };
  q(CRUMB_ELEM_U8, 0, 0, 255);
  q(CRUMB_ELEM_U8, 128, 0, 255);
  q(CRUMB_ELEM_U8, 3, 0, 15);     // 4-bit
  q(CRUMB_ELEM_U8, 1, 0, 3);      // 2-bit
  q(CRUMB_ELEM_U8, 20, 0, 15);    // zero point above the range
  q(CRUMB_ELEM_U8, 100, 37, 90);  // a clamp inside the type
  q(CRUMB_ELEM_S8, 0, -128, 127);
  q(CRUMB_ELEM_S8, -3, -8, 7);   // 4-bit
  q(CRUMB_ELEM_S8, 0, -2, 1);    // 2-bit
  q(CRUMB_ELEM_S8, -20, -8, 7);  // zero point below the range
  q(CRUMB_ELEM_S8, 127, -128, 127);
  crumb_output_params f{};
  f.type = CRUMB_ELEM_F32, f.fmin = -2.0f, f.fmax = 2.0f;
  v.push_back(f);
  f.fmin = -inf, f.fmax = inf;
  v.push_back(f);
  f.fmin = 0.0f, f.fmax = 6.0f;
  v.push_back(f);
  return v;
}

size_t ElemBytes(uint32_t type) { return type == CRUMB_ELEM_F32 ? 4 : 1; }

std::vector<size_t> Sizes() {
  std::vector<size_t> v;
  for (size_t n = 0; n <= 200; n++) v.push_back(n);
  for (size_t n : {255, 256, 257, 1000, 4095, 4096, 4097, 5003}) v.push_back(n);
  return v;
}

// n codes: random, with every 7th element an edge code (0, 255, 127, 128, 1, 254, z).
void FillCodes(std::mt19937& rng, uint8_t* p, size_t n, int32_t z) {
  const uint8_t edges[] = {0, 255, 127, 128, 1, 254, (uint8_t)z};
  for (size_t i = 0; i < n; i++) {
    p[i] = rng() % 7 == 0 ? edges[rng() % 7] : (uint8_t)rng();
  }
}

// ------------------------------------------------------------------------------- x8lut
class X8LutTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(X8LutTest);

TEST_P(X8LutTest, MatchesScalar) {
  std::mt19937 rng(1);
  uint8_t table[256];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 256; i++) table[i] = round == 0 ? (uint8_t)(255 - i) : (uint8_t)rng();
    for (size_t n : Sizes()) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", round " + std::to_string(round));
      FencedBytes x(n);
      // Every code in turn first, so that each table entry is read.
      for (size_t i = 0; i < n; i++)
        x.data()[i] = i < 256 && round == 0 ? (uint8_t)i : (uint8_t)rng();
      Guarded want(n), got(n);
      crumb_x8_lut_ukernel__scalar(n, x.data(), table, want.data());
      GetParam().x8lut(n, x.data(), table, got.data());
      CRUMB_RETURN_ON_FATAL(ExpectSame(want, got, 1));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, X8LutTest, testing::ValuesIn(Kernels("x8lut")), KernelName);

// ------------------------------------------------------------------------------- quantize
class QuantizeTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QuantizeTest);

// n floats: scaled random values around the codes, exact ties (k + 0.5) * scale where scale is a
// power of two, and specials: NaN of both signs and other payloads, +-inf, +-FLT_MAX, huge,
// +-0, denormals.
void FillFloats(std::mt19937& rng, float* x, size_t n, float scale) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  uint32_t nan_bits = 0xFFC01234u;  // a negative NaN with a payload
  float nan2;
  memcpy(&nan2, &nan_bits, 4);
  const float specials[] = {nan,    -nan, nan2,  inf,    -inf,    FLT_MAX, -FLT_MAX,     1e30f,
                            -1e30f, 3e9f, -3e9f, 0.0f,   -0.0f,   1e-45f,  -1e-40f,      0.5f,
                            -0.5f,  1.5f, -2.5f, 127.5f, -128.5f, 255.5f,  2147483648.0f};
  std::normal_distribution<float> nd(0.0f, 80.0f);
  for (size_t i = 0; i < n; i++) {
    const uint32_t r = rng() % 10;
    if (r == 0) {
      x[i] = specials[rng() % (sizeof(specials) / sizeof(specials[0]))];
    } else if (r <= 3) {
      x[i] = ((float)((int)(rng() % 600) - 300) + 0.5f) * scale;  // ties when scale is 2^k
    } else {
      x[i] = nd(rng) * scale;
    }
  }
}

TEST_P(QuantizeTest, MatchesScalar) {
  std::mt19937 rng(2);
  const float scales[] = {0.25f, 1.0f, 0.0137f, 2.0f, 1e-3f, 3e38f, 1e-39f, 0.0f};
  size_t round = 0;
  for (const crumb_output_params& out : Outputs()) {
    for (size_t n : Sizes()) {
      crumb_quantize_params p{};
      p.scale = scales[round++ % (sizeof(scales) / sizeof(scales[0]))];
      p.out = out;
      SCOPED_TRACE("n = " + std::to_string(n) + ", out type " + std::to_string(out.type) + ", z " +
                   std::to_string(out.zero_point) + ", [" + std::to_string(out.qmin) + ", " +
                   std::to_string(out.qmax) + "], scale " + std::to_string(p.scale));
      FencedBytes xb(n * sizeof(float));
      float* x = reinterpret_cast<float*>(xb.data());
      FillFloats(rng, x, n, p.scale == 0.0f || p.scale > 1e30f ? 1.0f : p.scale);
      const size_t eb = ElemBytes(out.type);
      Guarded want(n * eb), got(n * eb);
      crumb_f32_q8_quantize_ukernel__scalar(n, x, want.data(), &p);
      GetParam().quantize(n, x, got.data(), &p);
      CRUMB_RETURN_ON_FATAL(ExpectSame(want, got, eb));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, QuantizeTest, testing::ValuesIn(Kernels("quantize")),
                         KernelName);

// ------------------------------------------------------------------------------- vadd
class VAddTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VAddTest);

TEST_P(VAddTest, MatchesScalar) {
  std::mt19937 rng(3);
  // (Ma, Mb): ties (powers of two), arbitrary, opposite huge scales (inf - inf = NaN), zero.
  const float scales[][2] = {{0.5f, 0.25f},    {0.0371f, 0.0193f}, {1.0f, -1.0f}, {3e38f, -3e38f},
                             {1e-30f, 1e-30f}, {0.0f, 0.75f},      {0.02f, 0.5f}};
  size_t round = 0;
  for (const crumb_output_params& out : Outputs()) {
    for (size_t n : Sizes()) {
      const size_t r = round++;
      crumb_add_params p{};
      p.a_type = r % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.b_type = (r / 2) % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.a_zero_point =
          p.a_type == CRUMB_ELEM_U8 ? (int32_t)(rng() % 256) : (int32_t)(rng() % 256) - 128;
      p.b_zero_point = r % 3 == 0 ? 0 : p.b_type == CRUMB_ELEM_U8 ? 128 : -5;
      p.a_scale = scales[r % 7][0];
      p.b_scale = scales[r % 7][1];
      p.out = out;
      SCOPED_TRACE("n = " + std::to_string(n) + ", a/b types " + std::to_string(p.a_type) +
                   std::to_string(p.b_type) + ", scales " + std::to_string(p.a_scale) + " " +
                   std::to_string(p.b_scale) + ", out type " + std::to_string(out.type) + ", z " +
                   std::to_string(out.zero_point) + ", [" + std::to_string(out.qmin) + ", " +
                   std::to_string(out.qmax) + "]");
      FencedBytes a(n), b(n);
      FillCodes(rng, a.data(), n, p.a_zero_point);
      FillCodes(rng, b.data(), n, p.b_zero_point);
      const size_t eb = ElemBytes(out.type);
      Guarded want(n * eb), got(n * eb);
      crumb_q8_vadd_ukernel__scalar(n, a.data(), b.data(), want.data(), &p);
      GetParam().vadd(n, a.data(), b.data(), got.data(), &p);
      CRUMB_RETURN_ON_FATAL(ExpectSame(want, got, eb));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, VAddTest, testing::ValuesIn(Kernels("vadd")), KernelName);

// ------------------------------------------------------------------------------- vmul
class VMulTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VMulTest);

TEST_P(VMulTest, MatchesScalar) {
  std::mt19937 rng(4);
  // M: a tie-making power of two, arbitrary, one, huge (saturation and inf), tiny, zero.
  const float scales[] = {0.5f, 0.0037f, 1.0f, 3e36f, 1e-30f, 0.0f, 1.f / 256.f};
  size_t round = 0;
  for (const crumb_output_params& out : Outputs()) {
    for (size_t n : Sizes()) {
      const size_t r = round++;
      crumb_mul_params p{};
      p.a_type = r % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.b_type = (r / 2) % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.a_zero_point =
          p.a_type == CRUMB_ELEM_U8 ? (int32_t)(rng() % 256) : (int32_t)(rng() % 256) - 128;
      p.b_zero_point = r % 3 == 0 ? 0 : p.b_type == CRUMB_ELEM_U8 ? 128 : -5;
      p.scale = scales[r % 7];
      p.out = out;
      SCOPED_TRACE("n = " + std::to_string(n) + ", a/b types " + std::to_string(p.a_type) +
                   std::to_string(p.b_type) + ", scale " + std::to_string(p.scale) + ", out type " +
                   std::to_string(out.type) + ", z " + std::to_string(out.zero_point) + ", [" +
                   std::to_string(out.qmin) + ", " + std::to_string(out.qmax) + "]");
      FencedBytes a(n), b(n);
      FillCodes(rng, a.data(), n, p.a_zero_point);
      FillCodes(rng, b.data(), n, p.b_zero_point);
      const size_t eb = ElemBytes(out.type);
      Guarded want(n * eb), got(n * eb);
      crumb_q8_vmul_ukernel__scalar(n, a.data(), b.data(), want.data(), &p);
      GetParam().vmul(n, a.data(), b.data(), got.data(), &p);
      CRUMB_RETURN_ON_FATAL(ExpectSame(want, got, eb));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, VMulTest, testing::ValuesIn(Kernels("vmul")), KernelName);

// ------------------------------------------------------------------------------- requantize
class RequantizeTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RequantizeTest);

const float kRequantScales[] = {
    0.5f, 1.0f, 0.0371f, 2.5f, 1e-40f, 3e38f, -0.25f, 0.0f, std::numeric_limits<float>::infinity()};

TEST_P(RequantizeTest, MatchesScalar) {
  std::mt19937 rng(4);
  size_t round = 0;
  for (const crumb_output_params& out : Outputs()) {
    for (size_t n : Sizes()) {
      const size_t r = round++;
      crumb_requant_params p{};
      p.in_type = r % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.in_zero_point = r % 5 == 0                   ? 0
                        : p.in_type == CRUMB_ELEM_U8 ? (int32_t)(rng() % 256)
                                                     : (int32_t)(rng() % 256) - 128;
      p.scale = kRequantScales[(r / 2) % (sizeof(kRequantScales) / sizeof(float))];
      p.out = out;
      SCOPED_TRACE("n = " + std::to_string(n) + ", in type " + std::to_string(p.in_type) + ", zx " +
                   std::to_string(p.in_zero_point) + ", scale " + std::to_string(p.scale) +
                   ", out type " + std::to_string(out.type) + ", z " +
                   std::to_string(out.zero_point) + ", [" + std::to_string(out.qmin) + ", " +
                   std::to_string(out.qmax) + "]");
      FencedBytes x(n);
      FillCodes(rng, x.data(), n, p.in_zero_point);
      const size_t eb = ElemBytes(out.type);
      Guarded want(n * eb), got(n * eb);
      crumb_q8_requantize_ukernel__scalar(n, x.data(), want.data(), &p);
      GetParam().requantize(n, x.data(), got.data(), &p);
      CRUMB_RETURN_ON_FATAL(ExpectSame(want, got, eb));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, RequantizeTest, testing::ValuesIn(Kernels("requantize")),
                         KernelName);

// ------------------------------------------------------------------------------- maxpool
class MaxPoolTest : public testing::TestWithParam<EwKernel> {
 protected:
  void SetUp() override {
    if (!CanRun(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
};
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MaxPoolTest);

// `pixels` output pixels of `ks` taps over `channels` channels: the taps point at random rows of
// one buffer (the last row ends at the fence), a share of them NULL; one pixel in five has only
// NULL taps when `all_null` is set.
void RunMaxPool(crumb_maxpool_ukernel_fn* fn, std::mt19937& rng, size_t pixels, size_t ks,
                size_t channels, size_t stride_extra, size_t input_offset, bool all_null,
                const crumb_requant_params& p) {
  SCOPED_TRACE("pixels " + std::to_string(pixels) + ", ks " + std::to_string(ks) + ", channels " +
               std::to_string(channels) + ", stride extra " + std::to_string(stride_extra) +
               ", in type " + std::to_string(p.in_type) + ", scale " + std::to_string(p.scale) +
               ", out type " + std::to_string(p.out.type) + ", z " +
               std::to_string(p.out.zero_point) + ", [" + std::to_string(p.out.qmin) + ", " +
               std::to_string(p.out.qmax) + "]");
  const size_t rows = 7, row_bytes = input_offset + channels;
  FencedBytes in(rows * row_bytes);
  FillCodes(rng, in.data(), rows * row_bytes, p.in_zero_point);
  std::vector<const void*> taps(pixels * ks);
  for (size_t px = 0; px < pixels; px++) {
    const bool none = all_null && px % 5 == 2;
    for (size_t t = 0; t < ks; t++) {
      const bool null = none || rng() % 4 == 0;
      taps[px * ks + t] = null ? nullptr : in.data() + (rng() % rows) * row_bytes;
    }
  }
  const size_t eb = ElemBytes(p.out.type);
  const size_t stride = (channels + stride_extra) * eb;
  const size_t bytes = (pixels - 1) * stride + channels * eb;
  Guarded want(bytes), got(bytes);
  crumb_q8_maxpool_ukernel__scalar(pixels, ks, channels, taps.data(), input_offset, want.data(),
                                   stride, &p);
  fn(pixels, ks, channels, taps.data(), input_offset, got.data(), stride, &p);
  ExpectSame(want, got, eb);
}

TEST_P(MaxPoolTest, MatchesScalar) {
  std::mt19937 rng(5);
  const std::vector<crumb_output_params> outs = Outputs();
  size_t round = 0;
  for (size_t ks : {1, 2, 3, 4, 5, 6, 7, 8, 9, 25}) {
    for (size_t channels = 1; channels <= 200; channels++) {
      const size_t r = round++;
      crumb_requant_params p{};
      p.in_type = r % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8;
      p.in_zero_point = r % 3 == 0 ? 0 : p.in_type == CRUMB_ELEM_U8 ? 133 : -7;
      p.scale = kRequantScales[(r / 2) % (sizeof(kRequantScales) / sizeof(float))];
      p.out = outs[r % outs.size()];
      CRUMB_RETURN_ON_FATAL(RunMaxPool(GetParam().maxpool, rng, 1 + r % 6, ks, channels,
                                       r % 3 == 0 ? 0 : 1 + r % 70, r % 4 == 0 ? 0 : 5, r % 2, p));
    }
  }
}

// The ResNet / MobileNet shapes: 64 channels, 3x3 taps, every output parameter set.
TEST_P(MaxPoolTest, Layers) {
  std::mt19937 rng(6);
  for (const crumb_output_params& out : Outputs()) {
    for (uint32_t type : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
      crumb_requant_params p{};
      p.in_type = type;
      p.in_zero_point = type == CRUMB_ELEM_U8 ? 128 : 0;
      p.scale = 0.5f;
      p.out = out;
      for (size_t channels : {64, 96, 256, 1000}) {
        CRUMB_RETURN_ON_FATAL(RunMaxPool(GetParam().maxpool, rng, 9, 9, channels, 0, 0, false, p));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Elementwise, MaxPoolTest, testing::ValuesIn(Kernels("maxpool")),
                         KernelName);

}  // namespace
}  // namespace crumb_test
