// The sparse family: SPARSE_B4 pack -> unpack round trips, the C4HW layout changes, and every
// kernel of kernels/sparse/sparse.inc that this CPU can run against kernels/reference (a dense
// fully connected layer = a 1x1 convolution over the pixels) bit for bit, at block sparsity
// 0 / 50 / 90 / 100 %, with empty rows, every weight width and encoding, u8 / s8 activations,
// u8 / s8 / f32 outputs in C4HW and NHWC, channel splits and guard bytes.
#include <gtest/gtest.h>
#include <string.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/pack.h"
#include "kernels/sparse/sparse.h"
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {
namespace {

struct SparseKernel {
  const char* name;
  crumb_spmm_ukernel_fn* fn;
  size_t mr;
  const char* isa;
};

const SparseKernel kKernels[] = {
#define CRUMB_SPARSE_UKERNEL(name, mr, isa) {#name, name, mr, #isa},
#include "kernels/sparse/sparse.inc"
};

bool CpuHas(const char* isa) {
  const std::string s = isa;
  if (s == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  if (s == "AVX2") return __builtin_cpu_supports("avx2");
  if (s == "AVX512VNNI") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  }
#endif
#if defined(__aarch64__)
  if (s == "NEON") return true;
  if (s == "NEONDOT") return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
  return false;
}

std::vector<std::pair<uint32_t, uint32_t>> Encodings() {
  std::vector<std::pair<uint32_t, uint32_t>> v;
  for (uint32_t b = 1; b <= 8; b++) {
    v.push_back({b, CRUMB_ENC_SIGNED});
    v.push_back({b, CRUMB_ENC_UNSIGNED});
  }
  v.push_back({2, CRUMB_ENC_TERNARY});
  v.push_back({1, CRUMB_ENC_BIPOLAR});
  return v;
}

int32_t CodeValue(int32_t code, uint32_t enc) {
  return enc == CRUMB_ENC_BIPOLAR ? 2 * code - 1 : code;
}

// Random weights of one layer: codes (stored values: two's complement for signed), zero points
// and the fraction `sparsity` of 1x4 blocks (and `empty_rows` of the channels) set to codes
// whose value is the channel's zero point, so that v = value - zw is 0 there.
struct Weights {
  std::vector<int32_t> codes, values, zw;
};
Weights MakeWeights(size_t n, size_t k, uint32_t bits, uint32_t enc, double sparsity,
                    double empty_rows, bool zero_zw, std::mt19937* rng) {
  int32_t lo, hi;
  WeightCodeRange(enc, bits, &lo, &hi);
  std::uniform_int_distribution<int32_t> code(lo, hi);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Weights w;
  w.codes.resize(n * k);
  w.zw.resize(n);
  std::vector<int32_t> zcode(n);
  for (size_t o = 0; o < n; o++) {
    int32_t c = code(*rng);
    if (bits == 8) c = std::uniform_int_distribution<int32_t>(-4, 4)(*rng) + (lo + hi + 1) / 2;
    if (zero_zw && enc != CRUMB_ENC_BIPOLAR && enc != CRUMB_ENC_UNSIGNED) c = 0;
    zcode[o] = c;
    w.zw[o] = CodeValue(c, enc);
  }
  const size_t groups = crumb_sparse_groups(k);
  for (size_t o = 0; o < n; o++) {
    const bool empty = u(*rng) < empty_rows;
    for (size_t g = 0; g < groups; g++) {
      const bool zero = empty || u(*rng) < sparsity;
      for (size_t c = 4 * g; c < std::min(k, 4 * g + 4); c++) {
        int32_t x = zero ? zcode[o] : code(*rng);
        if (bits == 8) {  // keep v = value - zw within int8
          x = std::min(std::max(x, CodeValue(zcode[o], enc) - 128), CodeValue(zcode[o], enc) + 127);
        }
        w.codes[o * k + c] = x;
      }
    }
  }
  w.values = WeightValues(w.codes, enc);
  return w;
}

class SparseTester {
 public:
  CRUMB_TESTER_SETTER(SparseTester, size_t, m)
  CRUMB_TESTER_SETTER(SparseTester, size_t, n)
  CRUMB_TESTER_SETTER(SparseTester, size_t, k)
  CRUMB_TESTER_SETTER(SparseTester, uint32_t, bits)
  CRUMB_TESTER_SETTER(SparseTester, uint32_t, encoding)
  CRUMB_TESTER_SETTER(SparseTester, bool, zero_zw)
  CRUMB_TESTER_SETTER(SparseTester, uint32_t, a_type)
  CRUMB_TESTER_SETTER(SparseTester, double, sparsity)
  CRUMB_TESTER_SETTER(SparseTester, double, empty_rows)
  CRUMB_TESTER_SETTER(SparseTester, uint32_t, out_type)
  CRUMB_TESTER_SETTER(SparseTester, bool, c4hw_out)
  CRUMB_TESTER_SETTER(SparseTester, size_t, a_stride_extra)
  CRUMB_TESTER_SETTER(SparseTester, size_t, out_stride_extra)
  CRUMB_TESTER_SETTER(SparseTester, size_t, n_split)   // channels per call (multiple of 4), 0: all
  CRUMB_TESTER_SETTER(SparseTester, size_t, m_split)   // pixels per call, 0: all
  CRUMB_TESTER_SETTER(SparseTester, float, mul_scale)  // mul[o] *= mul_scale: y beyond int32
  CRUMB_TESTER_SETTER(SparseTester, uint32_t, seed)

  void Test(const SparseKernel& kn) const {
    std::mt19937 rng(seed_);
    const Weights w = MakeWeights(n_, k_, bits_, encoding_, sparsity_, empty_rows_, zero_zw_, &rng);
    const size_t row_bytes = crumb_rows_lsb_row_bytes(k_, bits_);
    std::vector<uint8_t> rows(crumb_rows_lsb_size(n_, k_, bits_) + 1);
    crumb_pack_rows_lsb(w.codes.data(), n_, k_, bits_, rows.data());
    const size_t size = crumb_sparse_packed_size_rows_lsb(rows.data(), row_bytes, n_, k_, bits_,
                                                          encoding_, w.zw.data());
    ASSERT_NE(size, 0u);
    std::vector<uint8_t> packed(size);
    ASSERT_EQ(crumb_sparse_pack_rows_lsb(rows.data(), row_bytes, n_, k_, bits_, encoding_,
                                         w.zw.data(), packed.data()),
              0);

    // Activations: codes in NHWC, converted to C4HW with garbage in the padding lanes and in the
    // stride gaps.
    const bool s8 = a_type_ == CRUMB_ELEM_S8;
    std::uniform_int_distribution<int32_t> acode(s8 ? -128 : 0, s8 ? 127 : 255);
    std::vector<int32_t> a(m_ * k_);
    for (auto& x : a) x = acode(rng);
    const int32_t za = acode(rng);
    std::vector<uint8_t> nhwc(m_ * k_ + 1);
    for (size_t i = 0; i < m_ * k_; i++) nhwc[i] = (uint8_t)a[i];
    const size_t groups = crumb_sparse_groups(k_);
    const size_t a_gs = 4 * m_ + a_stride_extra_;
    std::vector<uint8_t> c4(groups * a_gs);
    for (auto& b : c4) b = (uint8_t)rng();
    crumb_sparse_nhwc_to_c4hw(nhwc.data(), m_, k_, k_, c4.data(), a_gs, (uint8_t)rng());

    // Scales that put most outputs inside the codes' range and some outside.
    std::vector<float> mul(n_), add(n_);
    std::uniform_real_distribution<float> uf(0.5f, 1.5f), ua(-20.0f, 20.0f);
    for (size_t o = 0; o < n_; o++) {
      int64_t amax = 1;
      for (size_t p = 0; p < m_; p++) {
        int64_t acc = 0;
        for (size_t c = 0; c < k_; c++)
          acc += (int64_t)(a[p * k_ + c] - za) * (w.values[o * k_ + c] - w.zw[o]);
        amax = std::max<int64_t>(amax, acc < 0 ? -acc : acc);
      }
      mul[o] = 150.0f / (float)amax * uf(rng) * mul_scale_;
      add[o] = ua(rng);
    }
    int32_t lo = out_type_ == CRUMB_ELEM_S8 ? -128 : 0, hi = lo + 255;
    crumb_output_params out =
        ClippedOutput(out_type_, lo, hi, out_type_ == CRUMB_ELEM_S8 ? -3 : 120, lo + 2, hi - 1);
    if (out_type_ == CRUMB_ELEM_F32) out.fmin = -100.0f, out.fmax = 100.0f;
    const RefOutputs want =
        Reference(m_, n_, k_, a, za, w.values, w.zw, mul.data(), add.data(), out);

    // Output: C4HW (pixel stride 4, group stride 4m + extra) or NHWC (pixel stride n + extra).
    const size_t esize = out_type_ == CRUMB_ELEM_F32 ? 4 : 1;
    const size_t ps = c4hw_out_ ? 4 : n_ + out_stride_extra_;
    const size_t gs = c4hw_out_ ? 4 * m_ + out_stride_extra_ : 4;
    const size_t elems = c4hw_out_ ? crumb_sparse_groups(n_) * gs : m_ * ps;
    GuardedRows buf(1, elems * esize, elems * esize);
    auto at = [&](size_t p, size_t o) { return p * ps + (o / 4) * gs + o % 4; };

    crumb_spmm_params params;
    params.a_type = a_type_;
    params.a_zero_point = za;
    params.out = out;
    const size_t nstep = n_split_ ? n_split_ : n_;
    const size_t mstep = m_split_ ? m_split_ : m_;
    for (size_t n0 = 0; n0 < n_; n0 += nstep) {
      for (size_t p0 = 0; p0 < m_; p0 += mstep) {
        params.mul = mul.data() + n0;
        params.add = add.data() + n0;
        kn.fn(std::min(mstep, m_ - p0), n0, std::min(nstep, n_ - n0), c4.data() + 4 * p0, a_gs,
              packed.data(), buf.data() + at(p0, n0) * esize, ps, gs, &params);
      }
    }
    for (size_t p = 0; p < m_; p++) {
      for (size_t o = 0; o < n_; o++) {
        const uint8_t* e = buf.data() + at(p, o) * esize;
        if (out_type_ == CRUMB_ELEM_F32) {
          float f;
          memcpy(&f, e, 4);
          ASSERT_EQ(f, want.f[p * n_ + o]) << "pixel " << p << " channel " << o;
        } else {
          const int32_t got = out_type_ == CRUMB_ELEM_U8 ? (int32_t)*e : (int32_t)(int8_t)*e;
          ASSERT_EQ(got, want.q[p * n_ + o]) << "pixel " << p << " channel " << o;
        }
      }
    }
    std::vector<bool> written(elems * esize, false);
    for (size_t p = 0; p < m_; p++) {
      for (size_t o = 0; o < n_; o++) {
        for (size_t b = 0; b < esize; b++) written[at(p, o) * esize + b] = true;
      }
    }
    buf.CheckGuards([&](size_t i) { return written[i]; });
  }

 private:
  size_t m_ = 1, n_ = 4, k_ = 4;
  uint32_t bits_ = 8, encoding_ = CRUMB_ENC_SIGNED;
  bool zero_zw_ = false;
  uint32_t a_type_ = CRUMB_ELEM_U8;
  double sparsity_ = 0.0, empty_rows_ = 0.0;
  uint32_t out_type_ = CRUMB_ELEM_U8;
  bool c4hw_out_ = true;
  size_t a_stride_extra_ = 0, out_stride_extra_ = 0, n_split_ = 0, m_split_ = 0;
  float mul_scale_ = 1.0f;
  uint32_t seed_ = 1;
};

// ------------------------------------------------------------------------------- packing
TEST(SparsePack, RoundTripAndSparsity) {
  std::mt19937 rng(3);
  for (auto [bits, enc] : Encodings()) {
    for (double sp : {0.0, 0.5, 0.9, 1.0}) {
      for (size_t k : {1, 3, 4, 7, 64, 145}) {
        const size_t n = 13;
        const Weights w = MakeWeights(n, k, bits, enc, sp, 0.2, false, &rng);
        std::vector<uint8_t> rows(crumb_rows_lsb_size(n, k, bits));
        crumb_pack_rows_lsb(w.codes.data(), n, k, bits, rows.data());
        const size_t rb = crumb_rows_lsb_row_bytes(k, bits);
        std::vector<int32_t> v(n * k);
        ASSERT_EQ(
            crumb_sparse_decode_rows_lsb(rows.data(), rb, n, k, bits, enc, w.zw.data(), v.data()),
            0);
        for (size_t i = 0; i < n * k; i++) ASSERT_EQ(v[i], w.values[i] - w.zw[i / k]);
        const size_t blocks = crumb_sparse_count_blocks(v.data(), n, k);
        const size_t size = crumb_sparse_packed_size(n, blocks);
        ASSERT_EQ(size,
                  crumb_sparse_packed_size_rows_lsb(rows.data(), rb, n, k, bits, enc, w.zw.data()));
        const double s = crumb_sparse_block_sparsity(rows.data(), rb, n, k, bits, enc, w.zw.data());
        ASSERT_DOUBLE_EQ(s, 1.0 - (double)blocks / (double)(n * crumb_sparse_groups(k)));
        if (sp == 1.0) {
          ASSERT_EQ(blocks, 0u);
        }
        std::vector<uint8_t> packed(size + 16, 0xEE);
        ASSERT_EQ(crumb_sparse_pack_rows_lsb(rows.data(), rb, n, k, bits, enc, w.zw.data(),
                                             packed.data()),
                  0);
        for (size_t i = size; i < size + 16; i++) ASSERT_EQ(packed[i], 0xEE);
        std::vector<int32_t> back(n * k, 99);
        ASSERT_EQ(crumb_sparse_unpack(packed.data(), size, back.data()), 0);
        ASSERT_EQ(back, v) << "bits " << bits << " enc " << enc << " k " << k;
        ASSERT_EQ(crumb_sparse_unpack(packed.data(), size - 1, back.data()), -1);
      }
    }
  }
}

TEST(SparsePack, RefusesWeightsOutsideInt8) {
  const size_t n = 2, k = 5;
  std::vector<int32_t> codes = {0, 255, 0, 0, 0, 1, 2, 3, 4, 5};
  std::vector<uint8_t> rows(crumb_rows_lsb_size(n, k, 8));
  crumb_pack_rows_lsb(codes.data(), n, k, 8, rows.data());
  const std::vector<int32_t> zw = {0, 0};
  EXPECT_EQ(
      crumb_sparse_packed_size_rows_lsb(rows.data(), k, n, k, 8, CRUMB_ENC_UNSIGNED, zw.data()),
      0u);
  EXPECT_EQ(crumb_sparse_block_sparsity(rows.data(), k, n, k, 8, CRUMB_ENC_UNSIGNED, zw.data()),
            -1.0);
  std::vector<int32_t> v = {0, 128, 0, 0};
  std::vector<uint8_t> dst(crumb_sparse_packed_size(1, 1));
  EXPECT_EQ(crumb_sparse_pack(v.data(), 1, 4, dst.data()), -1);
  v[1] = 127;
  EXPECT_EQ(crumb_sparse_pack(v.data(), 1, 4, dst.data()), 0);
  EXPECT_EQ(((const crumb_sparse_header*)dst.data())->flags, CRUMB_SPARSE_WIDE);
}

TEST(SparsePack, LayoutRoundTrip) {
  std::mt19937 rng(5);
  for (size_t c : {1, 3, 4, 5, 24, 143}) {
    for (size_t p : {1, 7, 49}) {
      const size_t sps = c + 3, gs = 4 * p + 8;
      std::vector<uint8_t> src(p * sps), c4(crumb_sparse_groups(c) * gs, 0x11), back(p * sps, 0x22);
      for (auto& b : src) b = (uint8_t)rng();
      crumb_sparse_nhwc_to_c4hw(src.data(), p, c, sps, c4.data(), gs, 0x77);
      for (size_t g = 0; g < crumb_sparse_groups(c); g++) {
        for (size_t i = 0; i < p; i++) {
          for (size_t j = 0; j < 4; j++) {
            ASSERT_EQ(c4[g * gs + 4 * i + j], 4 * g + j < c ? src[i * sps + 4 * g + j] : 0x77);
          }
        }
        for (size_t i = 4 * p; i < gs; i++) ASSERT_EQ(c4[g * gs + i], 0x11);
      }
      crumb_sparse_c4hw_to_nhwc(c4.data(), p, c, gs, back.data(), sps);
      for (size_t i = 0; i < p; i++) {
        for (size_t j = 0; j < sps; j++)
          ASSERT_EQ(back[i * sps + j], j < c ? src[i * sps + j] : 0x22);
      }
    }
  }
}

// ------------------------------------------------------------------------------- kernels
class SparseKernelTest : public testing::TestWithParam<SparseKernel> {
 protected:
  void SetUp() override {
    if (!CpuHas(GetParam().isa)) GTEST_SKIP() << "CPU lacks " << GetParam().isa;
  }
};

std::string KernelName(const testing::TestParamInfo<SparseKernel>& info) { return info.param.name; }

TEST_P(SparseKernelTest, Sparsities) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 100;
  for (double sp : {0.0, 0.5, 0.9, 1.0}) {
    for (size_t m : {(size_t)1, kn.mr - 1 + (kn.mr == 1), kn.mr, 2 * kn.mr + 3, (size_t)49}) {
      for (size_t k : {1, 4, 7, 24, 67}) {
        for (uint32_t at : {CRUMB_ELEM_U8, CRUMB_ELEM_S8}) {
          CRUMB_RETURN_ON_FATAL(
              SparseTester().m(m).n(13).k(k).sparsity(sp).a_type(at).out_type(at).seed(seed++).Test(
                  kn));
        }
      }
    }
  }
}

TEST_P(SparseKernelTest, EmptyRows) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 200;
  for (double er : {0.3, 1.0}) {
    for (size_t n : {1, 4, 9, 32}) {
      CRUMB_RETURN_ON_FATAL(
          SparseTester().m(kn.mr + 5).n(n).k(40).sparsity(0.5).empty_rows(er).seed(seed++).Test(
              kn));
    }
  }
}

TEST_P(SparseKernelTest, Encodings) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 300;
  for (auto [bits, enc] : Encodings()) {
    for (bool zz : {false, true}) {
      for (double sp : {0.0, 0.7}) {
        seed++;
        CRUMB_RETURN_ON_FATAL(SparseTester()
                                  .m(kn.mr + 2)
                                  .n(11)
                                  .k(37)
                                  .bits(bits)
                                  .encoding(enc)
                                  .zero_zw(zz)
                                  .sparsity(sp)
                                  .a_type(seed % 2 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
                                  .seed(seed)
                                  .Test(kn));
      }
    }
  }
}

TEST_P(SparseKernelTest, OutputsLayoutsAndSplits) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 400;
  for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
    for (bool c4 : {true, false}) {
      for (size_t extra : {0, 5}) {
        for (size_t ns : {0, 4, 8}) {
          CRUMB_RETURN_ON_FATAL(SparseTester()
                                    .m(2 * kn.mr + 1)
                                    .n(19)
                                    .k(30)
                                    .sparsity(0.5)
                                    .out_type(ot)
                                    .c4hw_out(c4)
                                    .out_stride_extra(extra)
                                    .a_stride_extra(extra * 4 + 3)
                                    .n_split(ns)
                                    .m_split(ns ? kn.mr + 1 : 0)
                                    .a_type(ns == 4 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
                                    .seed(seed++)
                                    .Test(kn));
        }
      }
    }
  }
}

// Pixel counts across the kernels' internal pixel blocks (the AVX-512 kernel walks 256 pixels per
// channel group) and their tiles, whole and split between calls at odd pixels.
TEST_P(SparseKernelTest, PixelBlocks) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 600;
  for (size_t m : {255, 256, 257, 511, 600}) {
    for (size_t ms : {0, 257}) {
      seed++;
      CRUMB_RETURN_ON_FATAL(SparseTester()
                                .m(m)
                                .n(21)
                                .k(27)
                                .sparsity(0.6)
                                .empty_rows(0.2)
                                .m_split(ms)
                                .a_type(seed % 2 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
                                .out_type(seed % 3 ? CRUMB_ELEM_U8 : CRUMB_ELEM_S8)
                                .seed(seed)
                                .Test(kn));
    }
  }
}

// y far outside the codes' range and beyond int32 (+-inf included): the clamps, not the float to
// int conversion, decide the code.
TEST_P(SparseKernelTest, HugeScales) {
  const SparseKernel& kn = GetParam();
  uint32_t seed = 700;
  for (float ms : {1e6f, 1e12f, 1e36f}) {
    for (uint32_t ot : {CRUMB_ELEM_U8, CRUMB_ELEM_S8, CRUMB_ELEM_F32}) {
      seed++;
      CRUMB_RETURN_ON_FATAL(SparseTester()
                                .m(kn.mr + 7)
                                .n(10)
                                .k(33)
                                .sparsity(0.5)
                                .mul_scale(ms)
                                .out_type(ot)
                                .a_type(seed % 2 ? CRUMB_ELEM_S8 : CRUMB_ELEM_U8)
                                .seed(seed)
                                .Test(kn));
    }
  }
}

TEST_P(SparseKernelTest, LargeLayer) {
  const SparseKernel& kn = GetParam();
  CRUMB_RETURN_ON_FATAL(SparseTester().m(56).n(144).k(24).sparsity(0.7).seed(500).Test(kn));
  CRUMB_RETURN_ON_FATAL(
      SparseTester().m(49).n(160).k(960).sparsity(0.9).bits(4).seed(501).Test(kn));
  // 75 groups of dense-ish rows: the AVX-512 kernel's aligned copy, 64 pixels at a time.
  CRUMB_RETURN_ON_FATAL(SparseTester()
                            .m(200)
                            .n(40)
                            .k(300)
                            .sparsity(0.3)
                            .a_type(CRUMB_ELEM_S8)
                            .a_stride_extra(4)
                            .seed(502)
                            .Test(kn));
}

INSTANTIATE_TEST_SUITE_P(Sparse, SparseKernelTest, testing::ValuesIn(kKernels), KernelName);

}  // namespace
}  // namespace crumb_test
