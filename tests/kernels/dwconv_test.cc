// The dwconv family: DWCONV_C64 pack -> unpack round trips and refusals, and every kernel of
// kernels/dwconv/dwconv.inc that this CPU can run against kernels/reference's grouped
// convolution (groups = channels, one output pixel per call of the reference) bit for bit.
// Activation rows, the zero row and the packed weights each end at an inaccessible page (an
// over-read faults); outputs have guard bytes.
#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/reference/reference.h"
#include "tests/kernels/dot_tester.h"  // FencedBytes
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {
namespace {

enum class DwFill {
  kRandom,
  kActMaxWMin,  // activations at the top of their range, every v at its most negative
  kActMaxWMax,  // and at its most positive
  kActMinWMax,  // activations at the bottom of their range
  kZeroPoints,  // activations equal to za and weights equal to zw: every acc is 0
};

enum class DwZeroPoints { kSymmetric, kRandom };

// Value of a stored code as the encoding defines it (before the zero point).
int32_t CodeValue(int32_t code, uint32_t enc) {
  return enc == CRUMB_ENC_BIPOLAR ? 2 * code - 1 : code;
}

class DwconvTester {
 public:
#define CRUMB_SETTER(type, name) CRUMB_TESTER_SETTER(DwconvTester, type, name)
  CRUMB_SETTER(size_t, channels)
  CRUMB_SETTER(size_t, width)
  CRUMB_SETTER(size_t, ks)
  CRUMB_SETTER(uint32_t, a_type)
  CRUMB_SETTER(uint32_t, a_bits)
  CRUMB_SETTER(int32_t, a_zero_point)
  CRUMB_SETTER(uint32_t, w_bits)
  CRUMB_SETTER(uint32_t, w_encoding)
  CRUMB_SETTER(DwZeroPoints, w_zero_points)
  CRUMB_SETTER(int32_t, w_max_abs)  // > 0: weights limited to |v| <= w_max_abs
  CRUMB_SETTER(uint32_t, out_type)
  CRUMB_SETTER(int32_t, out_zero_point)
  CRUMB_SETTER(int32_t, qmin)
  CRUMB_SETTER(int32_t, qmax)
  CRUMB_SETTER(double, pad_fraction)  // share of taps that point at the zero row
  // > 0 (ks = 9): pixels form image rows of this many pixels, their left / right columns of taps
  // padded at the row's first / last pixel (the sliding window breaks at each row's end).
  CRUMB_SETTER(size_t, row_width)
  CRUMB_SETTER(size_t, input_offset)
  CRUMB_SETTER(size_t, output_stride_extra)  // elements beyond `channels` between output pixels
  CRUMB_SETTER(uint32_t, max_abs_v_extra)    // added to the packer's max_abs_v (a looser bound)
  CRUMB_SETTER(DwFill, fill)
  CRUMB_SETTER(float, mul_scale)  // multiplies every mul (huge: y beyond int32)
  CRUMB_SETTER(uint32_t, seed)
#undef CRUMB_SETTER

  void Test(crumb_dwconv_ukernel_fn* kernel) const {
    SCOPED_TRACE(Describe());
    std::mt19937 rng(seed_);
    const size_t C = channels_, ks = ks_, W = width_;
    const bool s8 = a_type_ == CRUMB_ELEM_S8;
    const int32_t alo = s8 ? -(1 << (a_bits_ - 1)) : 0;
    const int32_t ahi = s8 ? (1 << (a_bits_ - 1)) - 1 : (1 << a_bits_) - 1;
    const int32_t za = std::min(std::max(a_zero_point_, alo), ahi);
    const uint32_t bits = w_bits_, enc = w_encoding_;
    int32_t clo, chi;
    WeightCodeRange(enc, bits, &clo, &chi);

    // Zero points and weight codes (v = value - zw kept in int8 and within w_max_abs).
    std::vector<int32_t> zw(C, enc == CRUMB_ENC_UNSIGNED ? 1 << (bits - 1) : 0);
    std::uniform_int_distribution<int32_t> cd(clo, chi);
    if (w_zero_points_ == DwZeroPoints::kRandom || fill_ == DwFill::kZeroPoints) {
      for (auto& z : zw) z = CodeValue(cd(rng), enc);
    }
    const int32_t vlimit = w_max_abs_ > 0 ? w_max_abs_ : 128;
    std::vector<int32_t> wcode(C * ks);
    for (size_t c = 0; c < C; c++) {
      // Codes whose v lies in [max(-128, -vlimit), min(127, vlimit)].
      std::vector<int32_t> ok;
      for (int32_t code = clo; code <= chi; code++) {
        const int32_t v = CodeValue(code, enc) - zw[c];
        if (v >= std::max(-128, -vlimit) && v <= std::min(127, vlimit)) ok.push_back(code);
      }
      if (ok.empty()) ok.push_back(clo);  // cannot happen for the encodings above
      for (size_t t = 0; t < ks; t++) {
        int32_t code;
        switch (fill_) {
          case DwFill::kActMaxWMin:
            code = ok.front();
            break;
          case DwFill::kActMaxWMax:
          case DwFill::kActMinWMax:
            code = ok.back();
            break;
          case DwFill::kZeroPoints:
            code = ok[0];
            for (int32_t k : ok)
              if (CodeValue(k, enc) == zw[c]) code = k;
            break;
          default:
            code = ok[rng() % ok.size()];
            break;
        }
        wcode[c * ks + t] = code;
      }
    }
    std::vector<uint8_t> rows(crumb_rows_lsb_size(C, ks, bits));
    crumb_pack_rows_lsb(wcode.data(), C, ks, bits, rows.data());
    FencedBytes packed(crumb_dwconv_packed_size(C, ks));
    uint32_t max_abs_v = 0;
    ASSERT_EQ(
        crumb_dwconv_pack(rows.data(), bits, enc, zw.data(), C, ks, packed.data(), &max_abs_v), 1);
    ASSERT_LE(max_abs_v, 128u);

    // Input rows: pixel x's tap t reads row x + t of a 1-D image (each row ends at a fence), or
    // the zero row. The zero row ends at a fence too and holds za (without input_offset).
    const size_t nrows = W + ks - 1;
    std::vector<std::unique_ptr<FencedBytes>> in;
    std::vector<int32_t> a(nrows * C);
    std::uniform_int_distribution<int32_t> ad(alo, ahi);
    for (size_t r = 0; r < nrows; r++) {
      in.emplace_back(new FencedBytes(input_offset_ + C));
      memset(in.back()->data(), 0x5A, input_offset_);
      for (size_t c = 0; c < C; c++) {
        int32_t x;
        switch (fill_) {
          case DwFill::kActMaxWMin:
          case DwFill::kActMaxWMax:
            x = ahi;
            break;
          case DwFill::kActMinWMax:
            x = alo;
            break;
          case DwFill::kZeroPoints:
            x = za;
            break;
          default:
            x = ad(rng);
            break;
        }
        a[r * C + c] = x;
        in.back()->data()[input_offset_ + c] = (uint8_t)x;
      }
    }
    FencedBytes zero(C);
    memset(zero.data(), (uint8_t)za, C);
    std::vector<const void*> indirection(W * ks);
    std::vector<bool> padded(W * ks);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    for (size_t x = 0; x < W; x++) {
      for (size_t t = 0; t < ks; t++) {
        padded[x * ks + t] = pad_fraction_ > 0.0 && u01(rng) < pad_fraction_;
        if (row_width_ != 0 && ks == 9) {
          padded[x * ks + t] = padded[x * ks + t] || (x % row_width_ == 0 && t % 3 == 0) ||
                               (x % row_width_ == row_width_ - 1 && t % 3 == 2);
        }
        indirection[x * ks + t] =
            padded[x * ks + t] ? (const void*)zero.data() : (const void*)in[x + t]->data();
      }
    }

    // Epilogue parameters: outputs spread over the code range.
    std::vector<float> mul(C), add(C);
    const float amag = (float)std::max(std::abs(alo - za), std::abs(ahi - za)) + 1.0f;
    const float span = amag * (float)max_abs_v * std::sqrt((float)ks) + 1.0f;
    for (size_t c = 0; c < C; c++) {
      mul[c] = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) *
               (out_type_ == CRUMB_ELEM_F32 ? 0.01f : 200.0f / span);
      add[c] = std::uniform_real_distribution<float>(-5.0f, 5.0f)(rng);
    }
    if (fill_ != DwFill::kRandom) {
      const float big = amag * (float)std::max<uint32_t>(max_abs_v, 1) * (float)ks;
      for (size_t c = 0; c < C; c++) mul[c] = (out_type_ == CRUMB_ELEM_F32 ? 1.0f : 100.0f) / big;
    }
    for (size_t c = 0; c < C; c++) mul[c] *= mul_scale_;
    const int32_t olo = out_type_ == CRUMB_ELEM_U8 ? 0 : -128;
    const int32_t ohi = out_type_ == CRUMB_ELEM_U8 ? 255 : 127;
    crumb_dwconv_params p{};
    p.a_type = a_type_;
    p.a_zero_point = za;
    p.a_bits = a_bits_;
    p.max_abs_v = max_abs_v + max_abs_v_extra_;
    p.mul = mul.data();
    p.add = add.data();
    p.out = ClippedOutput(out_type_, olo, ohi, out_zero_point_, qmin_, qmax_);

    const size_t elem = out_type_ == CRUMB_ELEM_F32 ? 4 : 1;
    const size_t stride = (C + output_stride_extra_) * elem;
    GuardedRows out(W, C * elem, stride);
    kernel(C, W, ks, indirection.data(), input_offset_, zero.data(), packed.data(), out.data(),
           stride, &p);
    ASSERT_NO_FATAL_FAILURE(out.CheckGuards([&](size_t i) { return i % stride < C * elem; }));

    // The reference: each output pixel as a depthwise conv of a 1 x ks image with a 1 x ks kernel.
    crumb::ref::Conv2D d;
    d.c = (int)C, d.h = 1, d.w = (int)ks, d.cout = (int)C, d.kh = 1, d.kw = (int)ks;
    d.groups = (int)C;
    crumb::ref::Output ro;
    ro.is_float = out_type_ == CRUMB_ELEM_F32;
    ro.zero_point = p.out.zero_point, ro.qmin = p.out.qmin, ro.qmax = p.out.qmax;
    ro.fmin = p.out.fmin, ro.fmax = p.out.fmax;
    std::vector<int32_t> wvalue(C * ks);
    for (size_t i = 0; i < C * ks; i++) wvalue[i] = CodeValue(wcode[i], enc);
    std::vector<int32_t> xs(C * ks), q(C);
    std::vector<float> f(C);
    for (size_t x = 0; x < W; x++) {
      for (size_t c = 0; c < C; c++)
        for (size_t t = 0; t < ks; t++)
          xs[c * ks + t] = padded[x * ks + t] ? za : a[(x + t) * C + c];
      crumb::ref::Conv(d, xs.data(), za, wvalue.data(), zw.data(), mul.data(), add.data(), ro,
                       q.data(), f.data());
      const uint8_t* row = out.data() + x * stride;
      for (size_t c = 0; c < C; c++) {
        if (ro.is_float) {
          float got;
          memcpy(&got, row + 4 * c, 4);
          ASSERT_EQ(got, f[c]) << "pixel " << x << " channel " << c;
        } else {
          const int32_t got =
              out_type_ == CRUMB_ELEM_U8 ? (int32_t)row[c] : (int32_t)(int8_t)row[c];
          ASSERT_EQ(got, q[c]) << "pixel " << x << " channel " << c;
        }
      }
    }
  }

  std::string Describe() const {
    char s[320];
    snprintf(s, sizeof(s),
             "channels=%zu width=%zu ks=%zu a_type=%u a_bits=%u za=%d w_bits=%u enc=%u zw=%d "
             "w_max_abs=%d out=%u zo=%d q=[%d,%d] pad=%.3f row=%zu input_offset=%zu stride+=%zu "
             "max_abs_v+=%u fill=%d seed=%u",
             channels_, width_, ks_, a_type_, a_bits_, a_zero_point_, w_bits_, w_encoding_,
             (int)w_zero_points_, w_max_abs_, out_type_, out_zero_point_, qmin_, qmax_,
             pad_fraction_, row_width_, input_offset_, output_stride_extra_, max_abs_v_extra_,
             (int)fill_, seed_);
    return s;
  }

 private:
  size_t channels_ = 16, width_ = 3, ks_ = 9, input_offset_ = 0, output_stride_extra_ = 0;
  size_t row_width_ = 0;
  uint32_t a_type_ = CRUMB_ELEM_U8, a_bits_ = 8, w_bits_ = 8, w_encoding_ = CRUMB_ENC_SIGNED;
  int32_t a_zero_point_ = 3, w_max_abs_ = 0;
  DwZeroPoints w_zero_points_ = DwZeroPoints::kSymmetric;
  uint32_t out_type_ = CRUMB_ELEM_U8, max_abs_v_extra_ = 0;
  int32_t out_zero_point_ = 5, qmin_ = -1000, qmax_ = 1000;
  double pad_fraction_ = 0.2;
  float mul_scale_ = 1.0f;
  DwFill fill_ = DwFill::kRandom;
  uint32_t seed_ = 1;
};

// ------------------------------------------------------------------------------- kernels
struct DwKernel {
  const char* name;
  crumb_dwconv_ukernel_fn* fn;
  KernelIsa isa;
};

std::vector<DwKernel> Kernels() {
  std::vector<DwKernel> v;
#define CRUMB_DWCONV_UKERNEL(name, isa) v.push_back({#name, name, KernelIsa::isa});
#include "kernels/dwconv/dwconv.inc"
  return v;
}

class DwconvKernelTest : public testing::TestWithParam<DwKernel> {
 protected:
  void SetUp() override {
    if (!KernelIsaSupported(GetParam().isa)) GTEST_SKIP() << "CPU lacks the kernel's ISA";
  }
  void Run(const DwconvTester& t) { t.Test(GetParam().fn); }
};

#define CHECK_RUN(t) CRUMB_RETURN_ON_FATAL(Run(t))

// Channels below, at and above 16 / 32 / 64 and the MobileNetV2 counts; every ks of interest;
// widths 1..7 (multi-pixel loops and their remainders). Encodings rotate with the case.
TEST_P(DwconvKernelTest, Shapes) {
  const uint32_t encs[][2] = {{8, CRUMB_ENC_SIGNED},  {4, CRUMB_ENC_SIGNED},
                              {2, CRUMB_ENC_SIGNED},  {2, CRUMB_ENC_TERNARY},
                              {1, CRUMB_ENC_BIPOLAR}, {3, CRUMB_ENC_UNSIGNED}};
  const uint32_t abits[] = {8, 4, 2, 8, 1, 3};
  uint32_t seed = 1;
  for (size_t channels : {1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 144, 960}) {
    for (size_t ks : {1, 4, 9, 25}) {
      for (size_t width = 1; width <= 7; width++) {
        const size_t i = seed % 6;
        {
          const uint32_t s = seed++;
          CHECK_RUN(DwconvTester()
                        .channels(channels)
                        .width(width)
                        .ks(ks)
                        .w_bits(encs[i][0])
                        .w_encoding(encs[i][1])
                        .a_bits(abits[(s / 6) % 6])
                        .a_type(s % 2 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8)
                        .a_zero_point(s % 2 ? 3 : -1)
                        .seed(s));
        }
      }
    }
  }
}

// Kernels larger than 5 x 5: more tap pairs than a SIMD kernel prepares at once (chunks), odd and
// even tap counts.
TEST_P(DwconvKernelTest, LongKernels) {
  uint32_t seed = 50;
  for (size_t ks : {31, 32, 33, 49, 81}) {
    for (size_t channels : {16, 64, 100}) {
      for (uint32_t ab : {2u, 8u}) {
        CHECK_RUN(DwconvTester()
                      .channels(channels)
                      .width(3)
                      .ks(ks)
                      .a_bits(ab)
                      .w_bits(ab == 2 ? 2 : 8)
                      .seed(seed++));
        CHECK_RUN(DwconvTester()
                      .channels(channels)
                      .width(2)
                      .ks(ks)
                      .a_bits(ab)
                      .a_type(CRUMB_ELEM_S8)
                      .a_zero_point(-1)
                      .w_bits(ab == 2 ? 3 : 8)
                      .seed(seed++));
      }
    }
  }
}

// Every weight width and encoding, zero points symmetric and per channel, under u8 / s8
// activations of 1..8 bits.
TEST_P(DwconvKernelTest, Encodings) {
  uint32_t seed = 100;
  for (uint32_t bits = 1; bits <= 8; bits++) {
    for (uint32_t enc :
         {CRUMB_ENC_SIGNED, CRUMB_ENC_UNSIGNED, CRUMB_ENC_TERNARY, CRUMB_ENC_BIPOLAR}) {
      if (enc == CRUMB_ENC_TERNARY && bits != 2) continue;
      if (enc == CRUMB_ENC_BIPOLAR && bits != 1) continue;
      for (DwZeroPoints zp : {DwZeroPoints::kSymmetric, DwZeroPoints::kRandom}) {
        for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
          for (uint32_t ab : {1u, 2u, 4u, 7u, 8u}) {
            {
              const uint32_t s = seed++;
              CHECK_RUN(
                  DwconvTester()
                      .channels(s % 2 ? 144 : 33)
                      .width(3)
                      .ks(9)
                      .w_bits(bits)
                      .w_encoding(enc)
                      .w_zero_points(zp)
                      .a_type(at)
                      .a_bits(ab)
                      .a_zero_point(at == CRUMB_ELEM_U8 ? (int32_t)(s % 7) : -(int32_t)(s % 3))
                      .seed(s));
            }
          }
        }
      }
    }
  }
}

// Scales whose y leaves int32 (|y| up to ~1e38): kernels that drop a float clamp when the bounds
// allow it (the VNNI kernel) must keep it here; the full and narrow output ranges, window and
// tail paths (144 = 2 x 64 + 16, 3x3 stride-1 taps with no padding).
TEST_P(DwconvKernelTest, HugeScales) {
  uint32_t seed = 900;
  for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
    for (float scale : {1e4f, 1e7f, 1e30f}) {
      for (auto [lo, hi] : {std::pair<int32_t, int32_t>{-1000, 1000}, {0, 6}, {-100, 100}}) {
        for (size_t width : {1, 4, 7}) {
          const uint32_t s = seed++;
          CHECK_RUN(DwconvTester()
                        .channels(144)
                        .width(width)
                        .ks(9)
                        .w_bits(s % 2 ? 2 : 8)
                        .a_bits(s % 2 ? 4 : 8)
                        .a_type(s % 3 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8)
                        .out_type(ot)
                        .qmin(lo)
                        .qmax(hi)
                        .out_zero_point(ot == CRUMB_ELEM_S8 ? -3 : 7)
                        .pad_fraction(s % 2 ? 0.0 : 0.2)
                        .mul_scale(scale)
                        .seed(s));
        }
      }
    }
  }
}

// u8 / s8 / f32 outputs, clamp ranges, output strides beyond the channels, input_offset, all or
// no padding taps, a looser max_abs_v than the packer's.
TEST_P(DwconvKernelTest, OutputsStridesOffsets) {
  uint32_t seed = 500;
  for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
    for (auto [lo, hi] :
         {std::pair<int32_t, int32_t>{-1000, 1000}, {0, 6}, {10, 200}, {-128, -5}, {3, 3}}) {
      if (ot == CRUMB_ELEM_U8 && hi < 0) continue;  // no u8 code in the range
      for (size_t channels : {17, 64, 144}) {
        for (uint32_t ab : {4u, 8u}) {
          {
            const uint32_t s = seed++;
            CHECK_RUN(DwconvTester()
                          .channels(channels)
                          .width(5)
                          .ks(9)
                          .w_bits(ab == 4 ? 2 : 8)
                          .a_bits(ab)
                          .out_type(ot)
                          .qmin(lo)
                          .qmax(hi)
                          .out_zero_point(ot == CRUMB_ELEM_S8 ? -3 : 7)
                          .input_offset(s % 3 == 0 ? 0 : 13 + s % 50)
                          .output_stride_extra(s % 2 ? 0 : 5 + s % 9)
                          .seed(s));
          }
        }
      }
    }
  }
  for (double pad : {0.0, 1.0, 0.5}) {
    for (size_t ks : {1, 9, 25}) {
      {
        const uint32_t s = seed++;
        CHECK_RUN(DwconvTester()
                      .channels(70)
                      .width(4)
                      .ks(ks)
                      .pad_fraction(pad)
                      .input_offset(64)
                      .a_bits(4)
                      .w_bits(4)
                      .seed(s));
      }
      {
        const uint32_t s = seed++;
        CHECK_RUN(DwconvTester()
                      .channels(70)
                      .width(4)
                      .ks(ks)
                      .pad_fraction(pad)
                      .a_type(CRUMB_ELEM_S8)
                      .a_zero_point(-2)
                      .a_bits(8)
                      .seed(s));
      }
    }
  }
  for (uint32_t extra : {1u, 100u}) {
    {
      const uint32_t s = seed++;
      CHECK_RUN(DwconvTester()
                    .channels(96)
                    .width(6)
                    .ks(9)
                    .a_bits(4)
                    .w_bits(4)
                    .max_abs_v_extra(extra)
                    .seed(s));
    }
  }
}

// Extreme codes: activations at the ends of their range against weights at the int8 limits
// (8-bit weights: v = -128 and 127), and za / zw fills that make every accumulator 0.
TEST_P(DwconvKernelTest, EdgeFills) {
  uint32_t seed = 900;
  for (DwFill fill :
       {DwFill::kActMaxWMin, DwFill::kActMaxWMax, DwFill::kActMinWMax, DwFill::kZeroPoints}) {
    for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
      for (uint32_t ab : {1u, 4u, 8u}) {
        for (auto [bits, enc] : {std::pair<uint32_t, uint32_t>{8, CRUMB_ENC_SIGNED},
                                 {8, CRUMB_ENC_UNSIGNED},
                                 {2, CRUMB_ENC_TERNARY},
                                 {1, CRUMB_ENC_BIPOLAR},
                                 {4, CRUMB_ENC_SIGNED}}) {
          for (size_t ks : {1, 9, 25}) {
            for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
              {
                const uint32_t s = seed++;
                CHECK_RUN(DwconvTester()
                              .channels(65)
                              .width(3)
                              .ks(ks)
                              .fill(fill)
                              .a_type(at)
                              .a_bits(ab)
                              .a_zero_point(at == CRUMB_ELEM_U8 ? 0 : -(1 << (ab - 1)))
                              .w_bits(bits)
                              .w_encoding(enc)
                              .out_type(ot)
                              .pad_fraction(0.1)
                              .seed(s));
              }
            }
          }
        }
      }
    }
  }
}

// The int16 / int32 boundary of dwconv.h: ks * max|qa| * max|v| just below and just above 2^15
// (u8: max|qa| = 2^a_bits - 1, s8: 2^(a_bits - 1)), with the extreme fills that reach it.
TEST_P(DwconvKernelTest, Int16Bound) {
  struct Case {
    uint32_t a_type, a_bits;
    size_t ks;
    int32_t vmax;
  };
  // 9 * 255 * 14 = 32130 < 32768 < 34425 = 9 * 255 * 15; 9 * 128 * 28 = 32256 < 33408;
  // 25 * 15 * 87 = 32625 < 33000; 4 * 255 * 32 = 32640 < 33660; 25 * 8 * 127 = 25400 (s8 a4).
  const Case cases[] = {
      {CRUMB_ELEM_U8, 8, 9, 14}, {CRUMB_ELEM_U8, 8, 9, 15},  {CRUMB_ELEM_S8, 8, 9, 28},
      {CRUMB_ELEM_S8, 8, 9, 29}, {CRUMB_ELEM_U8, 4, 25, 87}, {CRUMB_ELEM_U8, 4, 25, 88},
      {CRUMB_ELEM_U8, 8, 4, 32}, {CRUMB_ELEM_U8, 8, 4, 33},  {CRUMB_ELEM_S8, 4, 25, 127}};
  uint32_t seed = 1300;
  for (const Case& c : cases) {
    for (DwFill fill :
         {DwFill::kActMaxWMax, DwFill::kActMaxWMin, DwFill::kActMinWMax, DwFill::kRandom}) {
      for (size_t channels : {64, 144}) {
        {
          const uint32_t s = seed++;
          CHECK_RUN(DwconvTester()
                        .channels(channels)
                        .width(4)
                        .ks(c.ks)
                        .a_type(c.a_type)
                        .a_bits(c.a_bits)
                        .a_zero_point(0)
                        .w_bits(8)
                        .w_max_abs(c.vmax)
                        .fill(fill)
                        .pad_fraction(0.0)
                        .out_type(CRUMB_ELEM_F32)
                        .seed(s));
        }
        {
          const uint32_t s = seed++;
          CHECK_RUN(DwconvTester()
                        .channels(channels + 3)
                        .width(3)
                        .ks(c.ks)
                        .a_type(c.a_type)
                        .a_bits(c.a_bits)
                        .a_zero_point(c.a_type == CRUMB_ELEM_U8 ? 5 : -3)
                        .w_bits(8)
                        .w_max_abs(c.vmax)
                        .fill(fill)
                        .seed(s));
        }
      }
    }
  }
}

// Long calls of 3x3 windows that slide (the tester's pixel x + 1 reads pixel x's taps shifted by
// one), broken at image-row ends (row_width) and by padding taps at random: runs of every length,
// more sliding runs per call than a kernel may batch (the VNNI kernel takes 64 per pass over its
// weight blocks), input_offset's groups of resolved pointers, and last blocks of <= 32 channels.
TEST_P(DwconvKernelTest, LongSlidingCalls) {
  // Whole 64-channel blocks, and last blocks of 16 (144), 32 and 26 (90) channels.
  const size_t kChannels[] = {144, 64, 32, 90};
  uint32_t seed = 2100;
  for (size_t width : {64, 71, 300, 900}) {
    for (size_t row : {0, 5, 7, 56}) {
      for (double pad : {0.0, 0.005, 0.03}) {
        for (uint32_t ab : {4u, 8u}) {
          const uint32_t s = seed++;
          CHECK_RUN(DwconvTester()
                        .channels(kChannels[s % 4])
                        .width(width)
                        .ks(9)
                        .a_bits(ab)
                        .w_bits(ab == 4 ? 2 : 8)
                        .row_width(row)
                        .pad_fraction(pad)
                        .input_offset(s % 3 == 0 ? 13 : 0)
                        .seed(s));
        }
      }
    }
  }
}

// Splitting a layer's channels over calls as dwconv.h describes (at multiples of 64: weights +
// block bytes, input_offset + c0, mul / add + c0, output + c0 elements, the zero row as it is)
// gives the bytes of one call over all channels (which the tests above check against the
// reference).
TEST_P(DwconvKernelTest, ChannelSplits) {
  std::mt19937 rng(77);
  for (size_t channels : {65, 144, 200}) {
    for (size_t ks : {9, 25}) {
      for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_F32}) {
        for (uint32_t ab : {4u, 8u}) {
          const size_t width = 5, elem = ot == CRUMB_ELEM_F32 ? 4 : 1, offset = 7;
          const int32_t za = ab == 4 ? 8 : 128;
          std::vector<int32_t> codes(channels * ks), zw(channels, 0);
          for (auto& c : codes) c = (int32_t)(rng() % 16) - 8;
          std::vector<uint8_t> rows(crumb_rows_lsb_size(channels, ks, 4));
          crumb_pack_rows_lsb(codes.data(), channels, ks, 4, rows.data());
          std::vector<uint8_t> packed(crumb_dwconv_packed_size(channels, ks));
          uint32_t max_abs_v = 0;
          ASSERT_EQ(crumb_dwconv_pack(rows.data(), 4, CRUMB_ENC_SIGNED, zw.data(), channels, ks,
                                      packed.data(), &max_abs_v),
                    1);
          const size_t nrows = width + ks;
          std::vector<uint8_t> act(nrows * (offset + channels));
          for (auto& a : act) a = (uint8_t)(rng() % (1u << ab));
          std::vector<uint8_t> zero(channels, (uint8_t)za);
          std::vector<const void*> ind(width * ks);
          for (size_t i = 0; i < ind.size(); i++) {
            ind[i] = rng() % 5 == 0
                         ? (const void*)zero.data()
                         : (const void*)(act.data() + (i / ks + i % ks) * (offset + channels));
          }
          std::vector<float> mul(channels), add(channels);
          for (size_t c = 0; c < channels; c++) {
            mul[c] = 0.01f + 0.001f * (float)(rng() % 50), add[c] = (float)(rng() % 100) * 0.5f;
          }
          crumb_dwconv_params p{};
          p.a_type = CRUMB_ELEM_U8, p.a_zero_point = za, p.a_bits = ab, p.max_abs_v = max_abs_v;
          p.mul = mul.data(), p.add = add.data();
          p.out = ClippedOutput(ot, 0, 255, 3, 0, 255);
          const size_t stride = (channels + 3) * elem;
          std::vector<uint8_t> whole(width * stride, 0xA5), split(width * stride, 0xA5);
          GetParam().fn(channels, width, ks, ind.data(), offset, zero.data(), packed.data(),
                        whole.data(), stride, &p);
          for (size_t c0 = 0; c0 < channels; c0 += 128) {
            const size_t nc = channels - c0 < 128 ? channels - c0 : 128;
            crumb_dwconv_params q = p;
            q.mul += c0, q.add += c0;
            GetParam().fn(nc, width, ks, ind.data(), offset + c0, zero.data(),
                          packed.data() + c0 / 64 * crumb_dwconv_block_bytes(ks),
                          split.data() + c0 * elem, stride, &q);
          }
          ASSERT_EQ(split, whole) << "channels " << channels << " ks " << ks << " out " << ot
                                  << " a_bits " << ab;
        }
      }
    }
  }
}

std::string KernelName(const testing::TestParamInfo<DwKernel>& info) {
  const char* n = strstr(info.param.name, "_ukernel_");
  std::string s = n ? n + 9 : info.param.name;
  for (char& ch : s)
    if (!isalnum((unsigned char)ch)) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Dwconv, DwconvKernelTest, testing::ValuesIn(Kernels()), KernelName);

// ------------------------------------------------------------------------------- packing
TEST(DwconvPack, RoundTripSumsAndPadding) {
  std::mt19937 rng(11);
  for (uint32_t bits = 1; bits <= 8; bits++) {
    for (uint32_t enc :
         {CRUMB_ENC_SIGNED, CRUMB_ENC_UNSIGNED, CRUMB_ENC_TERNARY, CRUMB_ENC_BIPOLAR}) {
      if (enc == CRUMB_ENC_TERNARY && bits != 2) continue;
      if (enc == CRUMB_ENC_BIPOLAR && bits != 1) continue;
      int32_t clo, chi;
      WeightCodeRange(enc, bits, &clo, &chi);
      for (size_t channels : {1, 17, 64, 65, 144}) {
        for (size_t ks : {1, 9, 25}) {
          std::uniform_int_distribution<int32_t> cd(clo, chi);
          std::vector<int32_t> codes(channels * ks), zw(channels);
          for (auto& c : codes) c = cd(rng);
          for (auto& z : zw) z = bits == 8 ? 0 : CodeValue(cd(rng), enc);
          if (bits == 8 && enc == CRUMB_ENC_UNSIGNED)
            for (auto& z : zw) z = 128;
          std::vector<uint8_t> rows(crumb_rows_lsb_size(channels, ks, bits));
          crumb_pack_rows_lsb(codes.data(), channels, ks, bits, rows.data());
          const size_t size = crumb_dwconv_packed_size(channels, ks);
          ASSERT_EQ(size % 64, 0u);
          std::vector<uint8_t> packed(size + 64, 0xA5);
          uint32_t max_abs = 12345;
          ASSERT_EQ(crumb_dwconv_pack(rows.data(), bits, enc, zw.data(), channels, ks,
                                      packed.data(), &max_abs),
                    1);
          for (size_t i = size; i < packed.size(); i++) ASSERT_EQ(packed[i], 0xA5) << "overrun";
          std::vector<int32_t> back(channels * ks, 777);
          ASSERT_EQ(crumb_dwconv_unpack(packed.data(), channels, ks, back.data()), 1);
          uint32_t want_max = 0;
          for (size_t c = 0; c < channels; c++) {
            for (size_t t = 0; t < ks; t++) {
              const int32_t v = CodeValue(codes[c * ks + t], enc) - zw[c];
              ASSERT_EQ(back[c * ks + t], v) << "channel " << c << " tap " << t;
              want_max = std::max<uint32_t>(want_max, (uint32_t)std::abs(v));
            }
          }
          ASSERT_EQ(max_abs, want_max);
          // A corrupted vsum, and a non-zero padding channel, are refused.
          if (channels % 64) {
            std::vector<uint8_t> bad(packed.begin(), packed.begin() + size);
            bad[size - 1] = 1;  // tap ks - 1 of channel 63 of the last block: padding
            ASSERT_EQ(crumb_dwconv_unpack(bad.data(), channels, ks, back.data()), 0);
          }
          std::vector<uint8_t> bad(packed.begin(), packed.begin() + size);
          bad[0] ^= 1;  // vsum of channel 0
          ASSERT_EQ(crumb_dwconv_unpack(bad.data(), channels, ks, back.data()), 0);
        }
      }
    }
  }
}

TEST(DwconvPack, RefusesValuesOutsideInt8) {
  // 8-bit unsigned codes with zw = 0: v = 255 does not fit int8. dst stays untouched.
  const size_t channels = 3, ks = 9;
  for (auto [enc, code, z] : {std::tuple<uint32_t, int32_t, int32_t>{CRUMB_ENC_UNSIGNED, 255, 0},
                              {CRUMB_ENC_UNSIGNED, 128, 0},
                              {CRUMB_ENC_UNSIGNED, 0, 129},
                              {CRUMB_ENC_SIGNED, -128, 1},
                              {CRUMB_ENC_SIGNED, 127, -1}}) {
    std::vector<int32_t> codes(channels * ks, 0), zw(channels, 0);
    codes[2 * ks + 4] = code;
    zw[2] = z;
    std::vector<uint8_t> rows(crumb_rows_lsb_size(channels, ks, 8));
    crumb_pack_rows_lsb(codes.data(), channels, ks, 8, rows.data());
    std::vector<uint8_t> dst(crumb_dwconv_packed_size(channels, ks), 0x33);
    uint32_t max_abs = 99;
    EXPECT_EQ(crumb_dwconv_pack(rows.data(), 8, enc, zw.data(), channels, ks, dst.data(), &max_abs),
              0)
        << "enc " << enc << " code " << code << " zw " << z;
    EXPECT_EQ(max_abs, 99u);
    for (uint8_t b : dst) ASSERT_EQ(b, 0x33) << "dst written on refusal";
  }
  // The limits themselves are accepted: v = -128 and v = 127.
  std::vector<int32_t> codes = {-128, 127, 0}, zw = {0};
  std::vector<uint8_t> rows(crumb_rows_lsb_size(1, 3, 8));
  crumb_pack_rows_lsb(codes.data(), 1, 3, 8, rows.data());
  std::vector<uint8_t> dst(crumb_dwconv_packed_size(1, 3));
  uint32_t max_abs = 0;
  ASSERT_EQ(
      crumb_dwconv_pack(rows.data(), 8, CRUMB_ENC_SIGNED, zw.data(), 1, 3, dst.data(), &max_abs),
      1);
  EXPECT_EQ(max_abs, 128u);
}

}  // namespace
}  // namespace crumb_test
