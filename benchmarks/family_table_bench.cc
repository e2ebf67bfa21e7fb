// The measurements behind kernels/common/family_table.h: single-layer models (one Conv or
// FullyConnected built with the tests' ModelBuilder) run through libcrumb with each kernel family
// forced (crumb_options_set_kernel_family), on each instruction-set path this CPU has, for every
// (weight bits / encoding, activation bits) pair with more than one candidate family and one
// layer of each shape class. Families are interleaved round by round; medians are reported.
//
//   bench_family_table [--rounds=7] [--ms=25] [--isa=avx2,avx512] [--quick]
//
// Each line: ISA, shape class and layer, bits, per-family median microseconds and GOPS (2 MACs
// counted as 2 ops), the winner and its ratio over the runner-up. The time covers what the op does
// in a model whose neighbours do not hand it packed activations (the input is packed inside the
// op), so lut / bitserial pay their input packing here.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "crumb/crumb.h"
#include "model_builder.h"

namespace {

using crumb_test::ModelBuilder;
using crumb_test::OpSpec;

struct Layer {
  const char* shape_class;  // "spatial", "pointwise", "gemv"
  const char* name;
  bool fc;
  int cin, cout, h, w, k;
};

struct Bits {
  int w_bits, w_enc, a_bits;
  const char* label;
};

std::string BuildModel(const Layer& l, const Bits& b, uint32_t seed) {
  std::mt19937 rng(seed);
  ModelBuilder mb;
  const int32_t ahi = (1 << b.a_bits) - 1;
  const int32_t xt =
      l.fc ? mb.AddQuant("x", {1, l.cin}, b.a_bits, crumb_test::kUnsigned, 0.05f, 0)
           : mb.AddQuant("x", {1, l.cin, l.h, l.w}, b.a_bits, crumb_test::kUnsigned, 0.05f, 0);
  int32_t wlo, whi;
  crumb_test::CodeRange(b.w_enc, b.w_bits, &wlo, &whi);
  const size_t kk = (size_t)l.cin * l.k * l.k;
  std::vector<int32_t> codes((size_t)l.cout * kk);
  for (auto& c : codes) c = std::uniform_int_distribution<int32_t>(wlo, whi)(rng);
  std::vector<float> scales(l.cout);
  for (auto& s : scales) s = std::uniform_real_distribution<float>(0.01f, 0.1f)(rng);
  const std::vector<int32_t> wshape =
      l.fc ? std::vector<int32_t>{l.cout, l.cin} : std::vector<int32_t>{l.cout, l.cin, l.k, l.k};
  const int32_t wt =
      mb.AddWeights("w", wshape, b.w_bits, b.w_enc, scales, std::vector<int32_t>(l.cout, 0), codes);
  std::vector<float> mul(l.cout), add(l.cout);
  for (int i = 0; i < l.cout; i++) {
    mul[i] = 255.0f / (float)(ahi * std::max(1, whi - wlo) * 16);
    add[i] = std::uniform_real_distribution<float>(0.0f, 100.0f)(rng);
  }
  const int32_t mt = mb.AddFloatConst("mul", mul);
  const int32_t at = mb.AddFloatConst("add", add);
  const int32_t yt =
      l.fc ? mb.AddQuant("y", {1, l.cout}, 8, crumb_test::kUnsigned, 0.1f, 0)
           : mb.AddQuant("y", {1, l.cout, l.h, l.w}, 8, crumb_test::kUnsigned, 0.1f, 0);
  OpSpec& op = mb.AddOp(l.fc ? 3 : 2, "layer", {xt, wt, mt, at}, {yt});
  op.kernel_h = op.kernel_w = l.k;
  op.pad_top = op.pad_left = op.pad_bottom = op.pad_right = l.k / 2;
  mb.inputs = {xt};
  mb.outputs = {yt};
  return mb.Finish();
}

struct Candidate {
  const char* family;
  crumb_model* model = nullptr;
  crumb_interpreter* interp = nullptr;
  int invokes = 1;
  std::vector<double> us;  // per round, per invoke
};

double Now() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  double ms = 25;
  bool quick = false;
  std::vector<crumb_isa> isas;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a.rfind("--rounds=", 0) == 0) {
      rounds = atoi(a.c_str() + 9);
    } else if (a.rfind("--ms=", 0) == 0) {
      ms = atof(a.c_str() + 5);
    } else if (a == "--quick") {
      quick = true;
    } else if (a.rfind("--isa=", 0) == 0) {
      std::string list = a.substr(6);
      size_t p = 0;
      while (p <= list.size()) {
        const size_t q = std::min(list.find(',', p), list.size());
        crumb_isa isa;
        if (!crumb_isa_parse(list.substr(p, q - p).c_str(), &isa)) {
          fprintf(stderr, "bench_family_table: unknown ISA in %s\n", a.c_str());
          return 2;
        }
        isas.push_back(isa);
        p = q + 1;
      }
    } else {
      fprintf(stderr, "usage: bench_family_table [--rounds=7] [--ms=25] [--isa=avx2,avx512]\n");
      return 2;
    }
  }
  if (isas.empty()) {
    for (crumb_isa isa : {CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON, CRUMB_ISA_NEONDOT}) {
      crumb_options* o = crumb_options_create();
      crumb_options_set_isa(o, isa);
      // An interpreter on a trivial model tells whether the CPU has the path.
      const std::string m = BuildModel({"gemv", "", true, 8, 8, 1, 1, 1}, {2, 0, 2, ""}, 1);
      crumb_model* model = crumb_model_create_from_buffer(m.data(), m.size());
      crumb_interpreter* it = model ? crumb_interpreter_create(model, o) : nullptr;
      if (it) isas.push_back(isa);
      crumb_interpreter_delete(it);
      crumb_model_delete(model);
      crumb_options_delete(o);
    }
  }
  const std::vector<Layer> layers = {
      {"spatial", "3x3 64->64 @56", false, 64, 64, 56, 56, 3},
      {"spatial", "3x3 256->256 @14", false, 256, 256, 14, 14, 3},
      {"pointwise", "1x1 256->256 @14", false, 256, 256, 14, 14, 1},
      {"pointwise", "1x1 64->256 @56", false, 64, 256, 56, 56, 1},
      {"gemv", "FC 1024->1024 M=1", true, 1024, 1024, 1, 1, 1},
  };
  const std::vector<Bits> bits = {
      {1, crumb_test::kBipolar, 1, "W1A1 bipolar"}, {1, crumb_test::kBipolar, 2, "W1A2 bipolar"},
      {2, crumb_test::kSigned, 1, "W2A1 signed"},   {2, crumb_test::kSigned, 2, "W2A2 signed"},
      {2, crumb_test::kTernary, 2, "W2A2 ternary"}, {2, crumb_test::kSigned, 3, "W2A3 signed"},
      {2, crumb_test::kSigned, 4, "W2A4 signed"},   {1, crumb_test::kBipolar, 4, "W1A4 bipolar"},
      {2, crumb_test::kSigned, 8, "W2A8 signed"},
  };
  const char* const families[] = {"lut", "bitserial", "dot"};
  printf(
      "| ISA | class | layer | bits | lut us (GOPS) | bitserial us (GOPS) | dot us (GOPS) | winner "
      "|\n");
  printf("|---|---|---|---|---|---|---|---|\n");
  for (crumb_isa isa : isas) {
    for (const Layer& l : layers) {
      if (quick && l.cin == 64 && l.cout == 256) continue;
      for (const Bits& b : bits) {
        const std::string bytes = BuildModel(l, b, 7);
        const double macs = (double)l.cout * l.cin * l.k * l.k * l.h * l.w;
        std::vector<Candidate> cands;
        for (const char* f : families) {
          Candidate c;
          c.family = f;
          crumb_options* o = crumb_options_create();
          crumb_options_set_isa(o, isa);
          crumb_options_set_kernel_family(o, f);
          c.model = crumb_model_create_from_buffer(bytes.data(), bytes.size());
          c.interp = c.model ? crumb_interpreter_create(c.model, o) : nullptr;
          crumb_options_delete(o);
          const char* got = "";
          if (!c.interp || crumb_interpreter_allocate(c.interp) != CRUMB_OK ||
              crumb_interpreter_op_family(c.interp, 0, &got, nullptr) != CRUMB_OK ||
              strcmp(got, f) != 0) {
            crumb_interpreter_delete(c.interp);
            crumb_model_delete(c.model);
            continue;  // the family cannot run this layer
          }
          crumb_tensor* x = crumb_interpreter_input(c.interp, 0);
          std::vector<uint8_t> in(crumb_tensor_byte_size(x));
          std::mt19937 rng(3);
          for (auto& v : in) v = (uint8_t)(rng() & ((1u << b.a_bits) - 1));
          crumb_tensor_copy_from_buffer(x, in.data(), in.size());
          // Calibrate the invokes per round to about `ms` milliseconds.
          crumb_interpreter_invoke(c.interp);
          const double t0 = Now();
          crumb_interpreter_invoke(c.interp);
          const double one = std::max(1.0, Now() - t0);
          c.invokes = std::max(1, (int)(ms * 1000 / one));
          cands.push_back(c);
        }
        if (cands.size() < 2) {
          for (Candidate& c : cands) {
            crumb_interpreter_delete(c.interp);
            crumb_model_delete(c.model);
          }
          continue;
        }
        for (int r = 0; r < rounds; r++) {
          for (Candidate& c : cands) {
            const double t0 = Now();
            for (int i = 0; i < c.invokes; i++) crumb_interpreter_invoke(c.interp);
            c.us.push_back((Now() - t0) / c.invokes);
          }
        }
        std::string cells[3];
        const Candidate* best = nullptr;
        const Candidate* second = nullptr;
        for (const Candidate& c : cands) {
          const double t = Median(c.us);
          char buf[64];
          snprintf(buf, sizeof(buf), "%.1f (%.0f)", t, 2 * macs / t / 1e3);
          for (int f = 0; f < 3; f++) {
            if (strcmp(c.family, families[f]) == 0) cells[f] = buf;
          }
          if (!best || t < Median(best->us)) {
            second = best;
            best = &c;
          } else if (!second || t < Median(second->us)) {
            second = &c;
          }
        }
        printf("| %s | %s | %s | %s | %s | %s | %s | %s %.2fx %s |\n", crumb_isa_name(isa),
               l.shape_class, l.name, b.label, cells[0].empty() ? "-" : cells[0].c_str(),
               cells[1].empty() ? "-" : cells[1].c_str(), cells[2].empty() ? "-" : cells[2].c_str(),
               best->family, Median(second->us) / Median(best->us), second->family);
        fflush(stdout);
        for (Candidate& c : cands) {
          crumb_interpreter_delete(c.interp);
          crumb_model_delete(c.model);
        }
      }
    }
  }
  return 0;
}
