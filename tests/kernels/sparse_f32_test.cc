// The sparse family's fp32 path (SPARSE_F32, kernels/sparse/sparse.h): pack -> unpack round trips
// and every CRUMB_SPARSE_F32_UKERNEL of kernels/sparse/sparse.inc this CPU can run, bit for bit
// against the scalar kernel and an in-test fmaf loop in packed order (the contract), and within a
// rounding bound of a double-precision reference, at sparsity 0 / 50 / 90 / 100 %, empty rows,
// pixel counts around the tiles, channel splits, strides, clamps, guard bytes after every output
// row and a PROT_NONE page right after the last input pixel (nothing past pixel mc is read).
#include <gtest/gtest.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/sparse/sparse.h"
#include "tests/kernels/kernel_test_util.h"

namespace crumb_test {
namespace {

struct F32Kernel {
  const char* name;
  crumb_spmm_f32_ukernel_fn* fn;
  size_t mr;
  const char* isa;
};

const F32Kernel kF32Kernels[] = {
#define CRUMB_SPARSE_F32_UKERNEL(name, mr, isa) {#name, name, mr, #isa},
#include "kernels/sparse/sparse.inc"
};

bool CpuHas(const char* isa) {
  const std::string s = isa;
  if (s == "SCALAR") return true;
#if defined(__x86_64__) || defined(__i386__)
  if (s == "AVX2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (s == "AVX512F") return __builtin_cpu_supports("avx512f");
#endif
#if defined(__aarch64__)
  if (s == "NEON") return true;
#endif
  return false;
}

// Floats that end right before an inaccessible page, so a read past the end faults.
class PageGuarded {
 public:
  explicit PageGuarded(size_t floats) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = std::max<size_t>(4 * floats, 1);
    map_bytes_ = (bytes + page - 1) / page * page + page;
    base_ = (uint8_t*)mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
    if (base_ == MAP_FAILED) abort();
    mprotect(base_ + map_bytes_ - page, page, PROT_NONE);
    data_ = (float*)(base_ + map_bytes_ - page - 4 * floats);
  }
  ~PageGuarded() { munmap(base_, map_bytes_); }
  PageGuarded(const PageGuarded&) = delete;
  PageGuarded& operator=(const PageGuarded&) = delete;
  float* data() { return data_; }

 private:
  uint8_t* base_;
  size_t map_bytes_;
  float* data_;
};

// n x k weights: a fraction `sparsity` of the entries (and whole rows with probability
// `empty_rows`) zero, the rest uniform in +-1 (never zero).
std::vector<float> MakeWeights(size_t n, size_t k, double sparsity, double empty_rows,
                               std::mt19937* rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_real_distribution<float> v(-1.0f, 1.0f);
  std::vector<float> w(n * k, 0.0f);
  for (size_t o = 0; o < n; o++) {
    if (u(*rng) < empty_rows) continue;
    for (size_t c = 0; c < k; c++) {
      if (u(*rng) < sparsity) continue;
      float x = 0.0f;
      while (x == 0.0f) x = v(*rng);
      w[o * k + c] = x;
    }
  }
  return w;
}

class SparseF32Tester {
 public:
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, m)
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, n)
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, k)
  CRUMB_TESTER_SETTER(SparseF32Tester, double, sparsity)
  CRUMB_TESTER_SETTER(SparseF32Tester, double, empty_rows)
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, x_stride_extra)    // floats
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, out_stride_extra)  // floats
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, n_split)           // channels per call, 0: all
  CRUMB_TESTER_SETTER(SparseF32Tester, size_t, m_split)           // pixels per call, 0: all
  CRUMB_TESTER_SETTER(SparseF32Tester, float, min)
  CRUMB_TESTER_SETTER(SparseF32Tester, float, max)
  CRUMB_TESTER_SETTER(SparseF32Tester, uint32_t, seed)

  void Test(const F32Kernel& kn) const {
    std::mt19937 rng(seed_);
    const std::vector<float> w = MakeWeights(n_, k_, sparsity_, empty_rows_, &rng);
    const size_t nnz = crumb_sparse_f32_count(w.data(), n_, k_);
    const size_t size = crumb_sparse_f32_packed_size(n_, nnz);
    std::vector<uint8_t> packed(size);
    crumb_sparse_f32_pack(w.data(), n_, k_, packed.data());
    std::vector<float> back(n_ * k_, 1.0f);
    ASSERT_EQ(crumb_sparse_f32_unpack(packed.data(), size, back.data()), 0);
    ASSERT_EQ(memcmp(back.data(), w.data(), 4 * n_ * k_), 0) << "pack/unpack round trip";

    // Input: CHW with a stride gap (garbage) and a PROT_NONE page after the last pixel.
    const size_t xs = m_ + x_stride_extra_;
    PageGuarded xbuf((k_ - 1) * xs + m_);
    float* x = xbuf.data();
    std::uniform_real_distribution<float> ux(-2.0f, 2.0f);
    for (size_t i = 0; i < (k_ - 1) * xs + m_; i++) x[i] = ux(rng);
    std::vector<float> bias(n_);
    for (auto& b : bias) b = ux(rng);

    // The contract's bits (fmaf in increasing k from the bias) and the exact sum in double.
    std::vector<float> want(n_ * m_);
    std::vector<double> exact(n_ * m_), bound(n_ * m_);
    for (size_t o = 0; o < n_; o++) {
      size_t count = 0;
      for (size_t c = 0; c < k_; c++) count += w[o * k_ + c] != 0.0f;
      for (size_t p = 0; p < m_; p++) {
        float acc = bias[o];
        double e = bias[o], mag = fabs(bias[o]);
        for (size_t c = 0; c < k_; c++) {
          const float wv = w[o * k_ + c];
          if (wv == 0.0f) continue;
          acc = fmaf(wv, x[c * xs + p], acc);
          e += (double)wv * x[c * xs + p];
          mag += fabs((double)wv * x[c * xs + p]);
        }
        acc = acc > min_ ? acc : min_;
        want[o * m_ + p] = acc < max_ ? acc : max_;
        exact[o * m_ + p] = std::min<double>(std::max<double>(e, min_), max_);
        bound[o * m_ + p] = (double)(count + 1) * std::ldexp(1.0, -24) * mag + 1e-30;
      }
    }

    const size_t os = m_ + out_stride_extra_;
    GuardedRows buf(n_, 4 * m_, 4 * os);
    crumb_spmm_f32_params params = {min_, max_};
    const size_t nstep = n_split_ ? n_split_ : n_;
    const size_t mstep = m_split_ ? m_split_ : m_;
    for (size_t n0 = 0; n0 < n_; n0 += nstep) {
      for (size_t p0 = 0; p0 < m_; p0 += mstep) {
        kn.fn(std::min(mstep, m_ - p0), n0, std::min(nstep, n_ - n0), x + p0, 4 * xs, packed.data(),
              bias.data() + n0, (float*)buf.data() + n0 * os + p0, 4 * os, &params);
      }
    }
    CRUMB_RETURN_ON_FATAL(buf.CheckGuards([&](size_t i) { return i % (4 * os) < 4 * m_; }));
    for (size_t o = 0; o < n_; o++) {
      for (size_t p = 0; p < m_; p++) {
        float got;
        memcpy(&got, buf.data() + 4 * (o * os + p), 4);
        uint32_t gb, wb;
        memcpy(&gb, &got, 4);
        memcpy(&wb, &want[o * m_ + p], 4);
        ASSERT_EQ(gb, wb) << kn.name << " channel " << o << " pixel " << p << ": " << got
                          << " vs fmaf order " << want[o * m_ + p] << " (m " << m_ << " n " << n_
                          << " k " << k_ << ")";
        ASSERT_LE(fabs((double)got - exact[o * m_ + p]), bound[o * m_ + p])
            << "channel " << o << " pixel " << p;
      }
    }
  }

 private:
  size_t m_ = 1, n_ = 1, k_ = 1;
  double sparsity_ = 0.5, empty_rows_ = 0.0;
  size_t x_stride_extra_ = 0, out_stride_extra_ = 0, n_split_ = 0, m_split_ = 0;
  float min_ = -INFINITY, max_ = INFINITY;
  uint32_t seed_ = 1;
};

// ------------------------------------------------------------------------------- packing
TEST(SparseF32Pack, RoundTrip) {
  std::mt19937 rng(7);
  for (size_t n : {1u, 3u, 24u, 144u}) {
    for (size_t k : {1u, 2u, 5u, 24u, 300u}) {
      for (double sp : {0.0, 0.5, 0.9, 1.0}) {
        std::vector<float> w = MakeWeights(n, k, sp, 0.1, &rng);
        const size_t nnz = crumb_sparse_f32_count(w.data(), n, k);
        std::vector<uint8_t> packed(crumb_sparse_f32_packed_size(n, nnz));
        crumb_sparse_f32_pack(w.data(), n, k, packed.data());
        const auto* h = (const crumb_sparse_header*)packed.data();
        ASSERT_EQ(h->n, n);
        ASSERT_EQ(h->k, k);
        ASSERT_EQ(h->blocks, nnz);
        ASSERT_EQ(h->flags, CRUMB_SPARSE_F32);
        std::vector<float> back(n * k, 3.0f);
        ASSERT_EQ(crumb_sparse_f32_unpack(packed.data(), packed.size(), back.data()), 0);
        ASSERT_EQ(memcmp(back.data(), w.data(), 4 * n * k), 0);
        if (sp == 1.0) {
          ASSERT_EQ(nnz, 0u);
        }
        // Corruptions are refused: a truncated tensor, a channel index past k.
        ASSERT_EQ(crumb_sparse_f32_unpack(packed.data(), packed.size() - 1, back.data()), -1);
        if (nnz) {
          std::vector<uint8_t> bad = packed;
          crumb_sparse_f32_nz e;
          const size_t at = crumb_sparse_f32_nz_offset(n) + sizeof e * (nnz - 1);
          memcpy(&e, bad.data() + at, sizeof e);
          e.delta += (int32_t)k;
          memcpy(bad.data() + at, &e, sizeof e);
          ASSERT_EQ(crumb_sparse_f32_unpack(bad.data(), bad.size(), back.data()), -1);
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------- kernels
class SparseF32KernelTest : public testing::TestWithParam<F32Kernel> {
 protected:
  void SetUp() override {
    if (!CpuHas(GetParam().isa)) GTEST_SKIP() << "CPU lacks " << GetParam().isa;
  }
};

std::string F32KernelName(const testing::TestParamInfo<F32Kernel>& info) { return info.param.name; }

std::vector<size_t> PixelCounts(size_t mr) {
  std::vector<size_t> v = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100};
  for (size_t t : {mr, 2 * mr, 3 * mr, 4 * mr}) {
    v.push_back(t);
    v.push_back(t + 1);
    if (t > 1) v.push_back(t - 1);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

TEST_P(SparseF32KernelTest, PixelCounts) {
  const F32Kernel& kn = GetParam();
  uint32_t seed = 1;
  for (size_t m : PixelCounts(kn.mr)) {
    CRUMB_RETURN_ON_FATAL(SparseF32Tester().m(m).n(7).k(13).sparsity(0.5).seed(seed++).Test(kn));
  }
}

TEST_P(SparseF32KernelTest, Sparsities) {
  const F32Kernel& kn = GetParam();
  uint32_t seed = 100;
  for (double sp : {0.0, 0.5, 0.9, 1.0}) {
    for (size_t m : {1u, 37u, 64u, 131u}) {
      CRUMB_RETURN_ON_FATAL(SparseF32Tester().m(m).n(24).k(40).sparsity(sp).seed(seed++).Test(kn));
    }
  }
}

TEST_P(SparseF32KernelTest, EmptyRows) {
  const F32Kernel& kn = GetParam();
  uint32_t seed = 200;
  for (double e : {0.3, 1.0}) {
    for (size_t m : {5u, 70u}) {
      CRUMB_RETURN_ON_FATAL(
          SparseF32Tester().m(m).n(19).k(33).sparsity(0.7).empty_rows(e).seed(seed++).Test(kn));
    }
  }
}

TEST_P(SparseF32KernelTest, ChannelCounts) {
  const F32Kernel& kn = GetParam();
  uint32_t seed = 300;
  for (size_t n : {1u, 2u, 3u, 5u, 17u, 64u, 300u}) {
    for (size_t k : {1u, 2u, 4u, 9u, 24u, 144u, 300u}) {
      CRUMB_RETURN_ON_FATAL(
          SparseF32Tester().m(kn.mr + 3).n(n).k(k).sparsity(0.8).seed(seed++).Test(kn));
    }
  }
}

TEST_P(SparseF32KernelTest, ClampsStridesAndSplits) {
  const F32Kernel& kn = GetParam();
  uint32_t seed = 400;
  const float clamps[][2] = {{0.0f, INFINITY}, {0.0f, 6.0f}, {-0.5f, 0.25f}};
  for (const auto& c : clamps) {
    for (size_t m : {9u, 77u, 130u}) {
      CRUMB_RETURN_ON_FATAL(SparseF32Tester()
                                .m(m)
                                .n(21)
                                .k(30)
                                .sparsity(0.5)
                                .min(c[0])
                                .max(c[1])
                                .x_stride_extra(3)
                                .out_stride_extra(5)
                                .seed(seed++)
                                .Test(kn));
      CRUMB_RETURN_ON_FATAL(SparseF32Tester()
                                .m(m)
                                .n(21)
                                .k(30)
                                .sparsity(0.9)
                                .min(c[0])
                                .max(c[1])
                                .n_split(5)
                                .m_split(kn.mr + 1)
                                .seed(seed++)
                                .Test(kn));
    }
  }
}

// MobileNetV2-like layers at 90 %: long non-zero walks, many tiles.
TEST_P(SparseF32KernelTest, LargeLayer) {
  const F32Kernel& kn = GetParam();
  CRUMB_RETURN_ON_FATAL(SparseF32Tester().m(196).n(256).k(256).sparsity(0.9).seed(500).Test(kn));
  CRUMB_RETURN_ON_FATAL(SparseF32Tester().m(300).n(24).k(144).sparsity(0.9).seed(501).Test(kn));
}

INSTANTIATE_TEST_SUITE_P(SparseF32, SparseF32KernelTest, testing::ValuesIn(kF32Kernels),
                         F32KernelName);

}  // namespace
}  // namespace crumb_test
