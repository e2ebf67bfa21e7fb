// Every kernel listed in kernels/scalar/scalar.inc against kernels/reference. The .inc is
// expanded here, so a new kernel gets these tests by adding its line.
#include <gtest/gtest.h>

#include "kernel_testers.h"

namespace crumb_test {
namespace {

namespace ref = crumb::ref;

// ------------------------------------------------------------------------- GEMM / IGEMM
void GemmSuite(crumb_gemm_ukernel_fn* gemm, crumb_igemm_ukernel_fn* igemm) {
  auto run = [&](const GemmTester& t) {
    if (gemm) t.TestGemm(gemm);
    if (igemm) t.TestIGemm(igemm);
  };
  // Rows below, at and above the scalar kernels' 32-row block; k below / at / above bytes.
  for (size_t m : {1, 2, 31, 32, 33, 65}) {
    for (size_t k : {1, 3, 8, 9, 17}) {
      run(GemmTester().m(m).n(3).k(k).bits(3).seed((uint32_t)(m * 100 + k)));
      if (testing::Test::HasFatalFailure()) return;
    }
  }
  for (uint32_t bits = 1; bits <= 8; bits++) {
    for (uint32_t wenc : {CRUMB_ENC_SIGNED, CRUMB_ENC_UNSIGNED}) {
      for (uint32_t atype : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {
        for (uint32_t otype : {CRUMB_ELEM_S8, CRUMB_ELEM_U8, CRUMB_ELEM_F32}) {
          for (bool pczp : {false, true}) {
            run(GemmTester()
                    .m(5)
                    .n(7)
                    .k(13)
                    .bits(bits)
                    .w_encoding(wenc)
                    .a_type(atype)
                    .out_type(otype)
                    .w_zero_points(pczp)
                    .a_zero_point(atype == CRUMB_ELEM_U8 ? 128 : -3)
                    .seed(bits * 7 + wenc * 3 + atype + otype));
            if (testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
  run(GemmTester().m(4).n(5).k(11).bits(1).w_encoding(CRUMB_ENC_BIPOLAR).w_zero_points(false));
  run(GemmTester().m(4).n(5).k(11).bits(2).w_encoding(CRUMB_ENC_TERNARY).w_zero_points(false));
  for (Fill f : {Fill::kMax, Fill::kMin}) {
    for (uint32_t bits : {1u, 2u, 4u, 8u}) {
      for (uint32_t atype : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {
        run(GemmTester().m(3).n(4).k(300).bits(bits).a_type(atype).fill(f).a_zero_point(0));
      }
    }
  }
  // Strides wider than the data; clamps.
  run(GemmTester().m(6).n(5).k(7).a_stride(19).c_stride(23));
  run(GemmTester().m(6).n(5).k(7).qmin(20).qmax(100));
  run(GemmTester().m(6).n(5).k(7).out_type(CRUMB_ELEM_S8).qmin(0).qmax(127));
  run(GemmTester().m(9).n(2).k(4).ks(1));
  run(GemmTester().m(9).n(2).k(4).ks(5));
  run(GemmTester().m(1).n(1).k(1).ks(9));
}

#define CRUMB_UKERNEL_gemm(name) \
  TEST(Gemm, name) { GemmSuite(name, nullptr); }
#define CRUMB_UKERNEL_igemm(name) \
  TEST(IGemm, name) { GemmSuite(nullptr, name); }

// ------------------------------------------------------------------------- pooling
// A 2-D pool through an indirection buffer (NULL = padding), against the reference.
void PoolSuite(crumb_maxpool_ukernel_fn* maxpool, crumb_avgpool_ukernel_fn* avgpool) {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 120; trial++) {
    auto r = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    ref::Pool2D d;
    d.n = 1, d.c = r(1, 17), d.h = r(1, 7), d.w = r(1, 7), d.kh = r(1, 3), d.kw = r(1, 3);
    d.stride_h = r(1, 2), d.stride_w = r(1, 2), d.pad_top = r(0, d.kh - 1);
    d.pad_left = r(0, d.kw - 1), d.pad_bottom = r(0, d.kh - 1), d.pad_right = r(0, d.kw - 1);
    d.ceil_mode = r(0, 1), d.count_include_pad = r(0, 1);
    if (d.h + d.pad_top + d.pad_bottom < d.kh || d.w + d.pad_left + d.pad_right < d.kw) continue;
    const int oh = d.OutH(), ow = d.OutW();
    if (oh < 1 || ow < 1) continue;
    const uint32_t in_type = (uint32_t)r(0, 1), out_type = (uint32_t)r(0, 1);
    int32_t lo, hi, olo, ohi;
    Range(in_type, false, (uint32_t)r(1, 8), &lo, &hi);
    Range(out_type, false, 8, &olo, &ohi);
    const Fill f = trial % 9 == 0 ? Fill::kMax : trial % 10 == 0 ? Fill::kMin : Fill::kRandom;
    std::vector<int32_t> x = Codes(rng, (size_t)d.c * d.h * d.w, lo, hi, f);  // NCHW
    std::vector<uint8_t> nhwc((size_t)d.c * d.h * d.w);
    for (int c = 0; c < d.c; c++)
      for (int i = 0; i < d.h * d.w; i++)
        nhwc[(size_t)i * d.c + c] = (uint8_t)x[(size_t)c * d.h * d.w + i];
    std::vector<const void*> ind;
    std::vector<int32_t> div;
    for (int y = 0; y < oh; y++) {
      for (int xo = 0; xo < ow; xo++) {
        int valid = 0, padded = 0;
        for (int ky = 0; ky < d.kh; ky++) {
          for (int kx = 0; kx < d.kw; kx++) {
            const int iy = y * d.stride_h - d.pad_top + ky, ix = xo * d.stride_w - d.pad_left + kx;
            padded += iy < d.h + d.pad_bottom && ix < d.w + d.pad_right;
            const bool in = iy >= 0 && iy < d.h && ix >= 0 && ix < d.w;
            valid += in;
            ind.push_back(in ? nhwc.data() + ((size_t)iy * d.w + ix) * d.c : nullptr);
          }
        }
        div.push_back(d.count_include_pad ? padded : valid);
      }
    }
    crumb_requant_params p{};
    p.in_type = in_type;
    p.in_zero_point = std::uniform_int_distribution<int32_t>(lo, hi)(rng);
    p.scale = std::uniform_real_distribution<float>(0.3f, 3.0f)(rng);
    p.out.type = out_type;
    p.out.zero_point = std::uniform_int_distribution<int32_t>(olo, ohi)(rng);
    p.out.qmin = olo, p.out.qmax = ohi;
    const size_t stride = (size_t)d.c + (size_t)r(0, 3);
    GuardedOutput out((size_t)oh * ow, (size_t)d.c, stride);
    std::vector<int32_t> want((size_t)d.c * oh * ow);
    ref::Output ro;
    ro.zero_point = p.out.zero_point, ro.qmin = olo, ro.qmax = ohi;
    if (maxpool) {
      maxpool((size_t)oh * ow, (size_t)d.kh * d.kw, (size_t)d.c, ind.data(), 0, out.data(), stride,
              &p);
      ref::MaxPool(d, x.data(), p.in_zero_point, p.scale, ro, want.data());
    } else {
      avgpool((size_t)oh * ow, (size_t)d.kh * d.kw, (size_t)d.c, ind.data(), 0, div.data(),
              out.data(), stride, &p);
      ref::AveragePool(d, x.data(), p.in_zero_point, p.scale, ro, want.data());
    }
    out.CheckGuards();
    for (int c = 0; c < d.c; c++)
      for (int i = 0; i < oh * ow; i++)
        ASSERT_EQ(out.Code((size_t)i, (size_t)c, out_type), want[(size_t)c * oh * ow + i])
            << "trial " << trial << " pixel " << i << " channel " << c;
  }
}

#define CRUMB_UKERNEL_maxpool(name) \
  TEST(MaxPool, name) { PoolSuite(name, nullptr); }
#define CRUMB_UKERNEL_avgpool(name) \
  TEST(AvgPool, name) { PoolSuite(nullptr, name); }

#define CRUMB_UKERNEL_gavgpool(name)                                                        \
  TEST(GAvgPool, name) {                                                                    \
    std::mt19937 rng(31);                                                                   \
    for (size_t rows : {1, 2, 7, 49, 64}) {                                                 \
      for (size_t channels : {1, 3, 16, 33}) {                                              \
        for (uint32_t type : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {                              \
          int32_t lo, hi;                                                                   \
          Range(type, false, 8, &lo, &hi);                                                  \
          std::vector<int32_t> x = Codes(rng, rows * channels, lo, hi, Fill::kRandom);      \
          std::vector<uint8_t> bytes(x.begin(), x.end());                                   \
          crumb_requant_params p{};                                                         \
          p.in_type = type, p.in_zero_point = lo + 7, p.scale = 0.8f;                       \
          p.out.type = type, p.out.zero_point = lo + 3, p.out.qmin = lo, p.out.qmax = hi;   \
          GuardedOutput out(1, channels, channels);                                         \
          std::vector<int32_t> scratch(channels);                                           \
          name(rows, channels, bytes.data(), channels, out.data(), &p, scratch.data());     \
          out.CheckGuards();                                                                \
          std::vector<int32_t> nchw(rows*channels), want(channels);                         \
          for (size_t r = 0; r < rows; r++)                                                 \
            for (size_t c = 0; c < channels; c++) nchw[c * rows + r] = x[r * channels + c]; \
          ref::Output ro;                                                                   \
          ro.zero_point = p.out.zero_point, ro.qmin = lo, ro.qmax = hi;                     \
          ref::GlobalAveragePool(1, (int)channels, (int)rows, nchw.data(), p.in_zero_point, \
                                 p.scale, ro, want.data());                                 \
          for (size_t c = 0; c < channels; c++) ASSERT_EQ(out.Code(0, c, type), want[c]);   \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

// ------------------------------------------------------------------------- element-wise
#define CRUMB_UKERNEL_quantize(name)                                                               \
  TEST(Quantize, name) {                                                                           \
    std::mt19937 rng(41);                                                                          \
    for (uint32_t type : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {                                         \
      for (uint32_t bits = 1; bits <= 8; bits++) {                                                 \
        int32_t lo, hi;                                                                            \
        Range(type, false, bits, &lo, &hi);                                                        \
        std::vector<float> x(100);                                                                 \
        for (auto& v : x) v = std::uniform_real_distribution<float>(-2, 2)(rng);                   \
        x[0] = 0.25f, x[1] = 0.75f, x[2] = -0.25f, x[3] = __builtin_nanf(""), x[4] = 1e30f;        \
        crumb_quantize_params p{};                                                                 \
        p.scale = 0.5f / (float)(1 << (bits - 1));                                                 \
        p.out.type = type, p.out.zero_point = (lo + hi + 1) / 2, p.out.qmin = lo, p.out.qmax = hi; \
        GuardedOutput out(1, x.size(), x.size());                                                  \
        name(x.size(), x.data(), out.data(), &p);                                                  \
        out.CheckGuards();                                                                         \
        ref::Output ro;                                                                            \
        ro.zero_point = p.out.zero_point, ro.qmin = lo, ro.qmax = hi;                              \
        std::vector<int32_t> want(x.size());                                                       \
        ref::Quantize((int)x.size(), x.data(), p.scale, ro, want.data());                          \
        for (size_t i = 0; i < x.size(); i++) ASSERT_EQ(out.Code(0, i, type), want[i]) << i;       \
      }                                                                                            \
    }                                                                                              \
  }

#define CRUMB_UKERNEL_dequantize(name)                                      \
  TEST(Dequantize, name) {                                                  \
    for (uint32_t type : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {                  \
      std::vector<uint8_t> x(256);                                          \
      std::vector<int32_t> codes(256);                                      \
      for (int i = 0; i < 256; i++) {                                       \
        x[i] = (uint8_t)i;                                                  \
        codes[i] = type == CRUMB_ELEM_U8 ? i : (int32_t)(int8_t)i;          \
      }                                                                     \
      crumb_dequantize_params p{type, 5, 0.37f};                            \
      GuardedOutput out(1, 256 * 4, 256 * 4);                               \
      name(256, x.data(), reinterpret_cast<float*>(out.data()), &p);        \
      out.CheckGuards();                                                    \
      std::vector<float> want(256);                                         \
      ref::Dequantize(256, codes.data(), 5, 0.37f, want.data());            \
      for (size_t i = 0; i < 256; i++) ASSERT_EQ(out.Float(0, i), want[i]); \
    }                                                                       \
  }

#define CRUMB_UKERNEL_requantize(name)                                                     \
  TEST(Requantize, name) {                                                                 \
    std::mt19937 rng(51);                                                                  \
    for (uint32_t it : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {                                   \
      for (uint32_t ot : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {                                 \
        for (float scale : {0.1f, 0.5f, 1.0f, 1.5f, 3.7f}) {                               \
          int32_t lo, hi, olo, ohi;                                                        \
          Range(it, false, 8, &lo, &hi);                                                   \
          Range(ot, false, 4, &olo, &ohi);                                                 \
          std::vector<int32_t> x = Codes(rng, 77, lo, hi, Fill::kRandom);                  \
          std::vector<uint8_t> bytes(x.begin(), x.end());                                  \
          crumb_requant_params p{};                                                        \
          p.in_type = it, p.in_zero_point = lo + 100, p.scale = scale;                     \
          p.out.type = ot, p.out.zero_point = olo + 2, p.out.qmin = olo, p.out.qmax = ohi; \
          GuardedOutput out(1, 77, 77);                                                    \
          name(77, bytes.data(), out.data(), &p);                                          \
          out.CheckGuards();                                                               \
          ref::Output ro;                                                                  \
          ro.zero_point = p.out.zero_point, ro.qmin = olo, ro.qmax = ohi;                  \
          std::vector<int32_t> want(77);                                                   \
          ref::Requantize(77, x.data(), p.in_zero_point, scale, ro, want.data());          \
          for (size_t i = 0; i < 77; i++) ASSERT_EQ(out.Code(0, i, ot), want[i]) << i;     \
        }                                                                                  \
      }                                                                                    \
    }                                                                                      \
  }

// A two-input element-wise kernel (vadd, vmul) on 50 codes against the reference, for every mix
// of signed / unsigned inputs and output and random / all-max / all-min codes. setup(p, at, alo,
// bt, blo) sets the input types and parameters; reference(a, b, p, ro, want) computes the codes.
template <typename Params, typename Setup, typename Reference>
void CheckTwoInputKernel(void (*kernel)(size_t, const void*, const void*, void*, const Params*),
                         uint32_t seed, Setup setup, Reference reference) {
  std::mt19937 rng(seed);
  for (uint32_t at : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {
    for (uint32_t bt : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {
      for (uint32_t ot : {CRUMB_ELEM_S8, CRUMB_ELEM_U8}) {
        for (Fill f : {Fill::kRandom, Fill::kMax, Fill::kMin}) {
          int32_t alo, ahi, blo, bhi, olo, ohi;
          Range(at, false, 8, &alo, &ahi);
          Range(bt, false, 8, &blo, &bhi);
          Range(ot, false, 8, &olo, &ohi);
          std::vector<int32_t> a = Codes(rng, 50, alo, ahi, f), b = Codes(rng, 50, blo, bhi, f);
          std::vector<uint8_t> ab(a.begin(), a.end()), bb(b.begin(), b.end());
          Params p{};
          setup(p, at, alo, bt, blo);
          p.out.type = ot, p.out.zero_point = olo + 128, p.out.qmin = olo, p.out.qmax = ohi;
          GuardedOutput out(1, 50, 50);
          kernel(50, ab.data(), bb.data(), out.data(), &p);
          out.CheckGuards();
          ref::Output ro;
          ro.zero_point = p.out.zero_point, ro.qmin = olo, ro.qmax = ohi;
          std::vector<int32_t> want(50);
          reference(a, b, p, ro, want);
          for (size_t i = 0; i < 50; i++) ASSERT_EQ(out.Code(0, i, ot), want[i]) << i;
        }
      }
    }
  }
}

#define CRUMB_UKERNEL_vadd(name)                                                           \
  TEST(VAdd, name) {                                                                       \
    CheckTwoInputKernel(                                                                   \
        name, 61,                                                                          \
        [](crumb_add_params& p, uint32_t at, int32_t alo, uint32_t bt, int32_t blo) {      \
          p.a_type = at, p.a_zero_point = alo + 10, p.a_scale = 0.7f;                      \
          p.b_type = bt, p.b_zero_point = blo + 20, p.b_scale = 1.3f;                      \
        },                                                                                 \
        [](const std::vector<int32_t>& a, const std::vector<int32_t>& b,                   \
           const crumb_add_params& p, const ref::Output& ro, std::vector<int32_t>& want) { \
          ref::Add(50, a.data(), p.a_zero_point, 0.7f, b.data(), p.b_zero_point, 1.3f, ro, \
                   want.data());                                                           \
        });                                                                                \
  }

#define CRUMB_UKERNEL_vmul(name)                                                           \
  TEST(VMul, name) {                                                                       \
    CheckTwoInputKernel(                                                                   \
        name, 62,                                                                          \
        [](crumb_mul_params& p, uint32_t at, int32_t alo, uint32_t bt, int32_t blo) {      \
          p.a_type = at, p.a_zero_point = alo + 10;                                        \
          p.b_type = bt, p.b_zero_point = blo + 20, p.scale = 0.0037f;                     \
        },                                                                                 \
        [](const std::vector<int32_t>& a, const std::vector<int32_t>& b,                   \
           const crumb_mul_params& p, const ref::Output& ro, std::vector<int32_t>& want) { \
          ref::Mul(50, a.data(), p.a_zero_point, b.data(), p.b_zero_point, 0.0037f, ro,    \
                   want.data());                                                           \
        });                                                                                \
  }

// Table lookup: every byte maps through the table, guard bytes untouched, n = 0 writes nothing.
#define CRUMB_UKERNEL_x8lut(name)                                       \
  TEST(X8Lut, name) {                                                   \
    uint8_t table[256];                                                 \
    for (int i = 0; i < 256; i++) table[i] = (uint8_t)(i * 37 + 11);    \
    for (size_t n : {0, 1, 15, 16, 17, 63, 64, 65, 256, 1000}) {        \
      std::vector<uint8_t> x(n), y(n + 64, 0xA5);                       \
      for (size_t i = 0; i < n; i++) x[i] = (uint8_t)(i * 101 + n);     \
      name(n, x.data(), table, y.data());                               \
      for (size_t i = 0; i < n; i++) ASSERT_EQ(y[i], table[x[i]]) << n; \
      for (size_t i = n; i < n + 64; i++) ASSERT_EQ(y[i], 0xA5) << n;   \
    }                                                                   \
  }

#define CRUMB_UKERNEL(kind, name) CRUMB_UKERNEL_##kind(name)
#include "kernels/scalar/scalar.inc"

// The epilogue's rounding: half to even, clamp before rounding, NaN to the zero point.
TEST(Epilogue, RoundHalfToEvenAndClamp) {
  EXPECT_EQ(crumb_requantize_value(0.5f, 0, -128, 127), 0);
  EXPECT_EQ(crumb_requantize_value(1.5f, 0, -128, 127), 2);
  EXPECT_EQ(crumb_requantize_value(2.5f, 0, -128, 127), 2);
  EXPECT_EQ(crumb_requantize_value(-0.5f, 0, -128, 127), 0);
  EXPECT_EQ(crumb_requantize_value(-1.5f, 0, -128, 127), -2);
  EXPECT_EQ(crumb_requantize_value(1e9f, 3, 0, 15), 15);
  EXPECT_EQ(crumb_requantize_value(-1e9f, 3, 0, 15), 0);
  EXPECT_EQ(crumb_requantize_value(__builtin_nanf(""), 3, 0, 15), 3);
  EXPECT_EQ(crumb_requantize_value(__builtin_nanf(""), 20, 0, 15), 15);
  for (float y = -300.0f; y <= 300.0f; y += 0.125f) {
    ASSERT_EQ(crumb_requantize_value(y, 7, -100, 200), ref::Requantize(y, 7, -100, 200)) << y;
  }
}

}  // namespace
}  // namespace crumb_test
