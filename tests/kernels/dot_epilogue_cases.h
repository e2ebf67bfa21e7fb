// Cases for the SIMD epilogue tests (dot_epilogue_test-*.cc): random accumulators and
// multipliers, exact ties at .5, huge values that saturate the clamp, +-inf products, every
// output type, zero point and clamp range, every tail length. No intrinsics here.
#pragma once

#include <gtest/gtest.h>
#include <string.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "kernels/common/requant.h"

namespace crumb_test {

struct EpilogueCase {
  size_t nc = 0;
  std::vector<int32_t> acc;
  std::vector<float> mul, add;
  crumb_output_params out{};
  const char* what = "";
};

// Calls f for every case.
inline void ForEachEpilogueCase(const std::function<void(const EpilogueCase&)>& f) {
  std::mt19937 rng(42);
  struct Range {
    uint32_t type;
    int32_t z, qmin, qmax;
  };
  const Range ranges[] = {
      {CRUMB_ELEM_U8, 0, 0, 255},       {CRUMB_ELEM_U8, 128, 0, 255},
      {CRUMB_ELEM_U8, 7, 7, 15},        {CRUMB_ELEM_U8, 255, 0, 255},
      {CRUMB_ELEM_U8, 3, 0, 3},         {CRUMB_ELEM_S8, 0, -128, 127},
      {CRUMB_ELEM_S8, -128, -128, 127}, {CRUMB_ELEM_S8, 127, -128, 127},
      {CRUMB_ELEM_S8, -3, -3, 127},     {CRUMB_ELEM_S8, 0, -2, 1},
      {CRUMB_ELEM_F32, 0, 0, 0},
  };
  const char* kinds[] = {"random", "ties", "huge", "small", "inf"};
  for (const Range& r : ranges) {
    for (size_t nc : {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128}) {
      for (int kind = 0; kind < 5; kind++) {
        EpilogueCase c;
        c.nc = nc;
        c.what = kinds[kind];
        c.out.type = r.type;
        c.out.zero_point = r.z;
        c.out.qmin = r.qmin;
        c.out.qmax = r.qmax;
        c.out.fmin = kind == 2 ? -std::numeric_limits<float>::infinity() : -3.0f;
        c.out.fmax = kind == 2 ? std::numeric_limits<float>::infinity() : 5.5f;
        if (kind == 3) {  // a fused ReLU on a float output: -0.0 against the bound +0.0
          c.out.fmin = 0.0f;
          c.out.fmax = (nc % 2) ? -0.0f : 0.25f;
        }
        c.acc.resize(nc);
        c.mul.resize(nc);
        c.add.resize(nc);
        for (size_t i = 0; i < nc; i++) {
          switch (kind) {
            case 0:  // a scale that maps the accumulator range onto about +-300
              c.acc[i] = std::uniform_int_distribution<int32_t>(-100000, 100000)(rng);
              c.mul[i] = std::uniform_real_distribution<float>(1e-4f, 3e-3f)(rng);
              c.add[i] = std::uniform_real_distribution<float>(-50.0f, 50.0f)(rng);
              break;
            case 1:  // y exactly k + 0.5 (and k - 0.5): half to even must pick the even side
              c.acc[i] = std::uniform_int_distribution<int32_t>(-400, 400)(rng);
              c.mul[i] = (i % 3 == 0) ? 0.5f : 1.0f;
              c.add[i] = (i % 2 == 0) ? 0.5f : -0.5f;
              if (i % 5 == 0) c.add[i] = 0.0f;  // acc * 0.5 with odd acc: a tie too
              break;
            case 2:  // the int32 extremes with large multipliers: the clamp, not cvtps2dq, decides
              c.acc[i] = (i % 4 == 0)   ? std::numeric_limits<int32_t>::max()
                         : (i % 4 == 1) ? std::numeric_limits<int32_t>::min()
                                        : (int32_t)rng();
              c.mul[i] = (i % 2 == 0) ? 1e6f : -3.0e3f;
              c.add[i] = (i % 3 == 0) ? 1e30f : -7.25f;
              break;
            case 3:  // values around 0, -0.0 included
              c.acc[i] = std::uniform_int_distribution<int32_t>(-3, 3)(rng);
              c.mul[i] = (i % 2 == 0) ? -0.0f : 0.3f;
              c.add[i] = (i % 3 == 0) ? -0.0f : 0.2f;
              break;
            default:  // +-inf products: finite mul so large the product overflows
              c.acc[i] = (i % 2 == 0) ? 2147483000 : -2147483000;
              c.mul[i] = 3.0e38f;
              c.add[i] = 1.0f;
              break;
          }
        }
        f(c);
      }
    }
  }
}

// Runs `run` (which writes row elements 0..nc-1) on a guarded row and compares every element to
// crumb_store_output() byte for byte.
inline void CheckEpilogue(const EpilogueCase& c, void (*run)(const EpilogueCase&, uint8_t*),
                          const char* name) {
  const size_t elem = c.out.type == CRUMB_ELEM_F32 ? 4 : 1;
  const size_t guard = 64;
  std::vector<uint8_t> got(2 * guard + c.nc * elem, 0xCD), want(got);
  run(c, got.data() + guard);
  for (size_t i = 0; i < c.nc; i++) {
    const float y = (float)c.acc[i] * c.mul[i] + c.add[i];
    crumb_store_output(y, &c.out, want.data() + guard, i);
  }
  for (size_t i = 0; i < got.size(); i++) {
    ASSERT_EQ(got[i], want[i]) << name << " case " << c.what << " type " << c.out.type << " z "
                               << c.out.zero_point << " [" << c.out.qmin << ", " << c.out.qmax
                               << "] nc " << c.nc << " byte " << (long)i - (long)guard
                               << (i < guard || i >= guard + c.nc * elem ? " (guard)" : "");
  }
}

}  // namespace crumb_test
