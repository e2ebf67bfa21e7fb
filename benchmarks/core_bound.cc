// What one core of this machine can do: the throughput of the instructions each kernel family's
// inner loop is built on, and the multiply-accumulate bounds they set (the "what a core can do"
// table of ../shared/ANCHORS.md, measured here rather than assumed: the project's VMs have been
// AMD Zen 4 and Intel Xeon cores, whose 512-bit pipes differ).
//
//   core_bound [--seconds 0.3]
//
// Each figure is 12 independent instructions per loop iteration (no dependency between them), the
// best of 5 timed runs. The clock is estimated from a chain of dependent 64-bit imul (3 cycles
// each on every x86 core since 2011), because rdtsc does not tick at the core clock in a VM.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>

#if defined(__x86_64__)

namespace {

double Now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Runs body(iterations) until `seconds` have passed; returns the best rate in iterations / s.
template <typename F>
double BestRate(double seconds, F body) {
  double best = 0;
  for (int run = 0; run < 5; run++) {
    long n = 1 << 16;
    double t0 = Now(), t1 = t0;
    while (t1 - t0 < seconds / 5) {
      n *= 2;
      t0 = Now();
      body(n);
      t1 = Now();
    }
    best = std::max(best, (double)n / (t1 - t0));
  }
  return best;
}

__attribute__((noinline)) void ImulChain(long n) {
  long x = 3;
  for (long i = 0; i < n; i++) {
    __asm__ volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
  }
}

// 12 independent zmm (or ymm) instructions per iteration.
#define CRUMB_X12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CRUMB_ZMM_LOOP(name, insn)                                                           \
  __attribute__((noinline, target("avx512f,avx512bw,avx512vnni,avx512vbmi,"                  \
                                  "avx512vpopcntdq"))) void                                  \
  name(long n) {                                                                             \
    __asm__ volatile("vpxord %%zmm0, %%zmm0, %%zmm0" ::: "xmm0");                            \
    for (long i = 0; i < n; i++) {                                                           \
      __asm__ volatile(CRUMB_X12(insn)::                                                     \
                           : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                             "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");            \
    }                                                                                        \
  }
#define VPDPBUSD_Z(k) "vpdpbusd %%zmm12, %%zmm13, %%zmm" #k "\n\t"
#define VPDPBUSD_Y(k) "vpdpbusd %%ymm12, %%ymm13, %%ymm" #k "\n\t"
#define VPMADDUBSW_Z(k) "vpmaddubsw %%zmm12, %%zmm13, %%zmm" #k "\n\t"
#define VPERMB_Z(k) "vpermb %%zmm12, %%zmm13, %%zmm" #k "\n\t"
#define VPSHUFB_Z(k) "vpshufb %%zmm12, %%zmm13, %%zmm" #k "\n\t"
#define VPOPCNTQ_Z(k) "vpopcntq %%zmm12, %%zmm" #k "\n\t"
CRUMB_ZMM_LOOP(Vpdpbusd512, VPDPBUSD_Z)
CRUMB_ZMM_LOOP(Vpdpbusd256, VPDPBUSD_Y)
CRUMB_ZMM_LOOP(Vpmaddubsw512, VPMADDUBSW_Z)
CRUMB_ZMM_LOOP(Vpermb512, VPERMB_Z)
CRUMB_ZMM_LOOP(Vpshufb512, VPSHUFB_Z)
CRUMB_ZMM_LOOP(Vpopcntq512, VPOPCNTQ_Z)

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.3;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
  }
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512vbmi") ||
      !__builtin_cpu_supports("avx512vpopcntdq")) {
    printf("core_bound: this CPU lacks AVX-512 VNNI / VBMI / VPOPCNTDQ; nothing to measure.\n");
    return 0;
  }
  const double ghz = 4 * BestRate(seconds, ImulChain) * 3 / 1e9;
  printf("core clock (imul chain): %.2f GHz\n\n", ghz);
  struct Row {
    const char* what;
    void (*loop)(long);
    double macs;  // multiply-accumulates (or lookups, bit-MACs) per instruction
    const char* unit;
  } rows[] = {
      {"vpdpbusd zmm (int8 dot, VNNI)", Vpdpbusd512, 64, "MAC"},
      {"vpdpbusd ymm", Vpdpbusd256, 32, "MAC"},
      {"vpmaddubsw zmm (u8 x s8 pairs)", Vpmaddubsw512, 64, "MAC"},
      {"vpermb zmm (64 table lookups)", Vpermb512, 64, "lookup"},
      {"vpshufb zmm (64 table lookups)", Vpshufb512, 64, "lookup"},
      {"vpopcntq zmm (512 bit-MACs after AND)", Vpopcntq512, 512, "bit-MAC"},
  };
  double per_cycle[6] = {};
  printf("%-40s %12s %12s %16s\n", "instruction", "G/s", "per cycle", "work per cycle");
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    const double rate = 12 * BestRate(seconds, rows[r].loop);
    per_cycle[r] = rate / (ghz * 1e9);
    printf("%-40s %12.2f %12.2f %10.0f %s\n", rows[r].what, rate / 1e9, per_cycle[r],
           per_cycle[r] * rows[r].macs, rows[r].unit);
  }
  // The families' bounds (instruction counts only; loads, table builds and epilogues come on top).
  const double int8 = per_cycle[0] * 64;
  const double pair_tables = per_cycle[3] * 64 * 2;  // W2 x A<=4: 2 MACs per lookup
  const double popcount_w1a1 = per_cycle[5] * 512;
  const double popcount_w2a2 = popcount_w1a1 / 4;  // 2 x 2 bit planes
  printf(
      "\nbounds, MAC per cycle: int8 VNNI %.0f; pair tables (W2A2-W2A4) %.0f = %.2fx int8; "
      "popcount W2A2 %.0f = %.2fx, W1A1 %.0f = %.2fx int8\n",
      int8, pair_tables, pair_tables / int8, popcount_w2a2, popcount_w2a2 / int8, popcount_w1a1,
      popcount_w1a1 / int8);
  return 0;
}

#else

int main() {
  printf("core_bound: x86-64 only.\n");
  return 0;
}

#endif
