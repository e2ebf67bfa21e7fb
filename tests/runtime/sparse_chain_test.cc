// Sparse regions: consecutive 1x1 convolutions on the sparse family pass their activations as
// C4HW (kernels/sparse/sparse.h) without converting back to NHWC in between; the bytes must be
// those of the same layers run dense (dot) on every ISA path, whatever the chain's length,
// channel counts (multiples of 4 or not) and the consumers around it.
#include <gtest/gtest.h>

#include <string.h>

#include <random>
#include <string>

#include "crumb/crumb.h"
#include "model_builder.h"
#include "test_util.h"

namespace crumb_test {
namespace {

enum { kOpConv = 2, kOpAdd = 4 };

// x -> 1x1 convs with `channels` outputs each (90 % zero 1x4 blocks); with `branch`, the second
// tensor is also read by an Add (so it must exist as NHWC).
std::string Chain(const std::vector<int>& channels, int cin, int h, int w, bool branch,
                  uint32_t seed) {
  std::mt19937 rng(seed);
  ModelBuilder mb;
  int32_t x = mb.AddQuant("x", {1, cin, h, w}, 8, kUnsigned, 0.1f, 3);
  mb.inputs = {x};
  int c = cin;
  std::vector<int32_t> outs;
  for (size_t l = 0; l < channels.size(); l++) {
    const int n = channels[l];
    std::vector<int32_t> codes((size_t)(n * c), 0);
    for (int o = 0; o < n; o++) {
      for (int g = 0; g < (c + 3) / 4; g++) {
        if (rng() % 10 != 0) continue;
        for (int j = 0; j < 4 && 4 * g + j < c; j++) {
          codes[(size_t)(o * c + 4 * g + j)] = (int32_t)(rng() % 15) - 7;
        }
      }
    }
    const std::string id = std::to_string(l);
    const int32_t wt =
        mb.AddWeights("w" + id, {n, c, 1, 1}, 4, kSigned, std::vector<float>((size_t)n, 0.05f),
                      std::vector<int32_t>((size_t)n, 0), codes);
    std::vector<float> mul((size_t)n), add((size_t)n);
    for (int i = 0; i < n; i++) {
      mul[(size_t)i] = std::uniform_real_distribution<float>(0.5f, 3.0f)(rng);
      add[(size_t)i] = std::uniform_real_distribution<float>(60.f, 190.f)(rng);
    }
    const int32_t y = mb.AddQuant("y" + id, {1, n, h, w}, 8, kUnsigned, 0.1f, 2);
    mb.AddOp(kOpConv, "conv" + id,
             {x, wt, mb.AddFloatConst("mul" + id, mul), mb.AddFloatConst("add" + id, add)}, {y});
    outs.push_back(y);
    x = y;
    c = n;
  }
  mb.outputs = {x};
  if (branch && outs.size() >= 3 && channels[1] == channels.back()) {
    const int32_t z = mb.AddQuant("z", {1, c, h, w}, 8, kUnsigned, 0.1f, 1);
    mb.AddOp(kOpAdd, "add", {outs[1], x}, {z});
    mb.outputs = {z};
  }
  return mb.Finish();
}

// RunWith, then: every layer on the sparse family when it is forced, and how many read C4HW.
bool RunFamily(const std::string& bytes, const std::string& input, crumb_isa isa,
               const char* family, std::string* out, std::string* error, bool* missing,
               int* chained) {
  RunResult r;
  *chained = 0;
  if (!RunWith(bytes, input, isa, family, 1, &r, error, missing)) return false;
  *out = r.output;
  for (size_t i = 0; i < r.families.size(); i++) {
    if (r.families[i].empty()) continue;
    if (std::string(family) == "sparse" && r.families[i] != "sparse") {
      *error = "op " + std::to_string(i) + " runs " + r.families[i] + ", not sparse";
      return false;
    }
    if (r.reasons[i].find("input C4HW") != std::string::npos) (*chained)++;
  }
  return true;
}

TEST(SparseChain, EqualsDenseOnEveryIsa) {
  uint32_t seed = 1;
  struct C {
    std::vector<int> channels;
    int cin, h, w;
    bool branch;
  };
  for (const C& c : {C{{32, 48}, 24, 5, 7, false}, C{{32, 48, 16}, 24, 4, 4, false},
                     C{{30, 22, 18, 30}, 13, 3, 9, false}, C{{64, 32, 32}, 16, 6, 6, true},
                     C{{8}, 8, 2, 2, false}, C{{40, 40, 40, 40, 40}, 40, 7, 7, true}}) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed + 100);
    const std::string model = Chain(c.channels, c.cin, c.h, c.w, c.branch, seed++);
    const std::string input = CodesToBytes(RandomCodes(rng, (size_t)(c.cin * c.h * c.w), 0, 255));
    std::string want, got, error;
    bool missing = false;
    int chained = 0;
    ASSERT_TRUE(RunFamily(model, input, CRUMB_ISA_SCALAR, "dot", &want, &error, &missing, &chained))
        << error;
    for (crumb_isa isa :
         {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON, CRUMB_ISA_NEONDOT}) {
      error.clear();
      if (!RunFamily(model, input, isa, "sparse", &got, &error, &missing, &chained)) {
        if (missing) continue;
        FAIL() << crumb_isa_name(isa) << ": " << error;
      }
      EXPECT_EQ(got, want) << crumb_isa_name(isa);
      // Every layer after the first reads C4HW, except the one after a tensor the Add reads.
      EXPECT_EQ(chained, (int)c.channels.size() - 1 - (c.branch ? 1 : 0)) << crumb_isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace crumb_test
