// ISA detection and forcing. On every machine: each ISA the CPU lacks is refused with a message
// (never run into SIGILL), each it has is accepted, and auto picks the best one. Where the CPU is
// known — CRUMB_EXPECT_ISA (and CRUMB_EXPECT_I8MM) set by the ctest invocation, e.g. under
// `qemu-aarch64 -cpu cortex-a53` (neon, no dotprod) or `-cpu max` (neondot, i8mm) — the detected
// features must be exactly those.
#include <stdlib.h>

#include <string>

#include <gtest/gtest.h>

#include "crumb/crumb.h"
#include "dispatch.h"
#include "model_builder.h"

namespace crumb::rt {
namespace {

const crumb_isa kForced[] = {CRUMB_ISA_SCALAR, CRUMB_ISA_AVX2, CRUMB_ISA_AVX512, CRUMB_ISA_NEON,
                             CRUMB_ISA_NEONDOT};

// CRUMB_ISA from the caller's environment would change what auto means in these tests.
class Dispatch : public testing::Test {
 protected:
  void SetUp() override { unsetenv("CRUMB_ISA"); }
  void TearDown() override { unsetenv("CRUMB_ISA"); }
};

TEST_F(Dispatch, ReportsWhatTheCpuHas) {
  printf("[ cpu      ]");
  for (crumb_isa isa : kForced) printf(" %s=%d", IsaName(isa), CpuHasIsa(isa) ? 1 : 0);
  printf(" i8mm=%d best=%s\n", CpuHasArmI8mm() ? 1 : 0, IsaName(BestIsa()));
#if defined(__aarch64__)
  EXPECT_TRUE(CpuHasIsa(CRUMB_ISA_NEON)) << "Advanced SIMD is part of every AArch64 CPU";
#endif
#if defined(__aarch64__) || defined(__arm__)
  EXPECT_FALSE(CpuHasIsa(CRUMB_ISA_AVX2));
  EXPECT_FALSE(CpuHasIsa(CRUMB_ISA_AVX512));
#else
  EXPECT_FALSE(CpuHasIsa(CRUMB_ISA_NEON));
  EXPECT_FALSE(CpuHasIsa(CRUMB_ISA_NEONDOT));
  EXPECT_FALSE(CpuHasArmI8mm());
#endif
  // dotprod without Advanced SIMD does not exist; i8mm comes with dotprod on every real core.
  if (CpuHasIsa(CRUMB_ISA_NEONDOT)) {
    EXPECT_TRUE(CpuHasIsa(CRUMB_ISA_NEON));
  }
  if (CpuHasArmI8mm()) {
    EXPECT_TRUE(CpuHasIsa(CRUMB_ISA_NEONDOT));
  }
}

TEST_F(Dispatch, MatchesTheExpectedCpu) {
  const char* expect = getenv("CRUMB_EXPECT_ISA");
  if (!expect || !*expect) GTEST_SKIP() << "CRUMB_EXPECT_ISA is not set";
  EXPECT_STREQ(IsaName(BestIsa()), expect);
  KernelTable t;
  ASSERT_TRUE(SelectKernels(CRUMB_ISA_AUTO, &t).ok());
  EXPECT_STREQ(IsaName(t.isa), expect);
  const char* i8mm = getenv("CRUMB_EXPECT_I8MM");
  if (i8mm && *i8mm) {
    EXPECT_EQ(CpuHasArmI8mm(), atoi(i8mm) != 0);
  }
}

TEST_F(Dispatch, AutoPicksTheBest) {
  KernelTable t;
  ASSERT_TRUE(SelectKernels(CRUMB_ISA_AUTO, &t).ok());
  EXPECT_EQ(t.isa, BestIsa());
  EXPECT_TRUE(CpuHasIsa(t.isa));
#if defined(__aarch64__)
  EXPECT_EQ(t.isa, CpuHasIsa(CRUMB_ISA_NEONDOT) ? CRUMB_ISA_NEONDOT : CRUMB_ISA_NEON);
#endif
}

TEST_F(Dispatch, ForcedIsaRunsOrFailsCleanly) {
  for (crumb_isa isa : kForced) {
    KernelTable t;
    Status s = SelectKernels(isa, &t);
    if (CpuHasIsa(isa)) {
      EXPECT_TRUE(s.ok()) << IsaName(isa) << ": " << s.message();
      EXPECT_EQ(t.isa, isa);
      EXPECT_NE(t.gemm, nullptr);
    } else {
      EXPECT_EQ(s.code(), CRUMB_ERROR_UNSUPPORTED) << IsaName(isa);
      EXPECT_NE(s.message().find("lacks"), std::string::npos) << s.message();
    }
    // The same through the environment variable.
    setenv("CRUMB_ISA", IsaName(isa), 1);
    KernelTable e;
    Status se = SelectKernels(CRUMB_ISA_AUTO, &e);
    EXPECT_EQ(se.ok(), CpuHasIsa(isa)) << "CRUMB_ISA=" << IsaName(isa) << ": " << se.message();
    if (!se.ok()) {
      EXPECT_NE(se.message().find("CRUMB_ISA"), std::string::npos) << se.message();
    }
    unsetenv("CRUMB_ISA");
  }
}

// The whole path: an interpreter forced to each ISA runs a model (or is refused at creation).
TEST_F(Dispatch, InterpreterPerIsa) {
  crumb_test::ModelBuilder mb;
  const int32_t in = mb.AddFloat("input", {-1, 4});
  const int32_t x = mb.AddQuant("x", {-1, 4}, 8, crumb_test::kUnsigned, 0.1f, 0);
  const int32_t out = mb.AddFloat("output", {-1, 4});
  mb.AddOp(0, "quant", {in}, {x});
  mb.AddOp(1, "dequant", {x}, {out});
  mb.inputs = {in};
  mb.outputs = {out};
  const std::string bytes = mb.Finish();
  crumb_model* m = crumb_model_create_from_buffer(bytes.data(), bytes.size());
  ASSERT_NE(m, nullptr) << crumb_last_error();
  for (crumb_isa isa : kForced) {
    crumb_options* o = crumb_options_create();
    crumb_options_set_isa(o, isa);
    crumb_interpreter* it = crumb_interpreter_create(m, o);
    crumb_options_delete(o);
    if (!CpuHasIsa(isa)) {
      EXPECT_EQ(it, nullptr) << IsaName(isa);
      EXPECT_NE(std::string(crumb_last_error()).find(IsaName(isa)), std::string::npos);
      continue;
    }
    ASSERT_NE(it, nullptr) << IsaName(isa) << ": " << crumb_last_error();
    EXPECT_EQ(crumb_interpreter_isa(it), isa);
    const float x_in[4] = {0.1f, 0.2f, 0.3f, 25.6f};
    float y[4] = {};
    const int32_t shape[2] = {1, 4};
    ASSERT_EQ(crumb_interpreter_resize_input(it, 0, shape, 2), CRUMB_OK);
    ASSERT_EQ(crumb_interpreter_allocate(it), CRUMB_OK) << crumb_interpreter_last_error(it);
    ASSERT_EQ(crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), x_in, sizeof x_in),
              CRUMB_OK);
    ASSERT_EQ(crumb_interpreter_invoke(it), CRUMB_OK) << crumb_interpreter_last_error(it);
    ASSERT_EQ(crumb_tensor_copy_to_buffer(crumb_interpreter_output(it, 0), y, sizeof y), CRUMB_OK);
    EXPECT_FLOAT_EQ(y[0], 0.1f);
    EXPECT_FLOAT_EQ(y[3], 25.5f);  // clamped to the 8-bit range
    crumb_interpreter_delete(it);
  }
  crumb_model_delete(m);
}

}  // namespace
}  // namespace crumb::rt
